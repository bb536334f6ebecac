// The HTML report's script (harness/src/report/html.rs includes it): the filter and the
// opening of a linked detail. The page works without it.
(function () {
  "use strict";
  var form = document.getElementById("filter");
  document.documentElement.setAttribute("data-js", "on");
  function boxes(name) {
    return Array.prototype.slice.call(form.querySelectorAll("input[name=" + name + "]"));
  }
  function chosen(name) {
    var set = {};
    boxes(name).forEach(function (b) { if (b.checked) { set[b.value] = true; } });
    return set;
  }
  var params = new URLSearchParams(location.search);
  ["runtime", "status"].forEach(function (name) {
    var want = params.get(name);
    if (want === null) { return; }
    var list = want.split(",");
    boxes(name).forEach(function (b) { b.checked = list.indexOf(b.value) >= 0; });
  });
  function apply() {
    var rts = chosen("runtime"), sts = chosen("status"), shown = 0, total = 0;
    document.querySelectorAll(".grid [data-runtime]").forEach(function (el) {
      el.hidden = !rts[el.dataset.runtime];
    });
    function visible(a) { return rts[a.parentNode.dataset.runtime] && sts[a.dataset.status]; }
    document.querySelectorAll(".grid a.sq").forEach(function (a) {
      total += 1;
      a.classList.toggle("dim", !sts[a.dataset.status]);
      if (visible(a)) { shown += 1; }
    });
    document.querySelectorAll(".grid tbody tr").forEach(function (tr) {
      tr.hidden = !Array.prototype.some.call(tr.querySelectorAll("a.sq"), visible);
    });
    document.querySelectorAll("details.result").forEach(function (d) {
      d.hidden = !(rts[d.dataset.runtime] && sts[d.dataset.status]);
    });
    document.getElementById("shown").textContent = shown + " of " + total + " results shown";
    var query = [];
    ["runtime", "status"].forEach(function (name) {
      var on = boxes(name).filter(function (b) { return b.checked; });
      if (on.length !== boxes(name).length) {
        query.push(name + "=" + on.map(function (b) { return b.value; }).join(","));
      }
    });
    try {
      history.replaceState(null, "", (query.length ? "?" + query.join("&") : location.pathname) + location.hash);
    } catch (e) { /* file: URLs may refuse; the filter still works */ }
  }
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.hidden = false; el.open = true; }
  }
  form.hidden = false;
  form.addEventListener("change", apply);
  document.getElementById("all").addEventListener("click", function () {
    boxes("runtime").concat(boxes("status")).forEach(function (b) { b.checked = true; });
    apply();
  });
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
})();
