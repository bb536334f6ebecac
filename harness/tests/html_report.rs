//! The HTML report in a real browser: headless Chromium (Debian's `chromium`) loads the page
//! rendered from committed results and the test reads back the DOM it built, with JavaScript
//! on and with JavaScript off, and checks the grid and a detail against the JSON.
//!
//! With JavaScript on, Chromium's own `--dump-dom` and `--screenshot` do the work. Chromium's
//! `--blink-settings=scriptEnabled=false` cannot be combined with them (headless then prints
//! nothing: it reads the DOM through script), so the JavaScript-off load goes through the
//! DevTools protocol over `--remote-debugging-pipe` instead: `Emulation.setScriptExecutionDisabled`
//! turns the page's scripts off, `DOM.getOuterHTML` reads the DOM without running any script
//! in the page, and `Page.captureScreenshot` takes its picture.
//!
//! Screenshots and pages are kept under `target/html-report/` (`report.png` is the real run's
//! report at 1600x1000); look at them after a change to the page.
//!
//! This binary is a libtest-mimic harness like `tests/live/main.rs`: without Chromium the
//! trials are listed as ignored with the reason (`[skipped: chromium not installed]`), and under
//! CI (`CI` set) they run and fail instead.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use harness::results::ResultsDoc;
use libtest_mimic::{Arguments, Failed, Trial};
use regex::Regex;
use serde_json::{Value, json};

/// A real run on this machine's host cells (`known` on Docker), made with
/// `cargo run -q -p harness -- run scenarios/podman3.yaml scenarios/reference-expand.yaml
/// --cell 'docker-host-*' --cell 'podman-host-*' --cell 'containerd-host-*'
/// --json harness/tests/data/results-sample.json`.
const SAMPLE: &str = include_str!("data/results-sample.json");
/// The schema's example: one result of every status, a snapshot diff, a repeated pair.
const EXAMPLE: &str = include_str!("data/results/example.json");

/// One check, given the Chromium binary.
type Check = fn(&Path) -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let chromium = chromium();
    let ci = harness::run::in_ci();
    let tests: [(&str, Check); 5] = [
        (
            "grid_and_detail_with_javascript",
            grid_and_detail_with_javascript,
        ),
        (
            "grid_and_detail_without_javascript",
            grid_and_detail_without_javascript,
        ),
        ("filter_from_the_query_string", filter_from_the_query_string),
        (
            "a_square_opens_its_detail_without_javascript",
            a_square_opens_its_detail_without_javascript,
        ),
        ("screenshot", screenshot),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let found = chromium.clone();
            let trial = Trial::test(name, move || match &found {
                Some(bin) => test(bin),
                None => Err(format!(
                    "chromium not installed{} (scripts/install-deps installs it; \
                     HARNESS_CHROMIUM names another binary)",
                    if harness::run::in_ci() {
                        ", and CI must have it"
                    } else {
                        ""
                    }
                )
                .into()),
            });
            if chromium.is_none() && !ci {
                trial
                    .with_ignored_flag(true)
                    .with_kind("skipped: chromium not installed")
            } else {
                trial
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// `$HARNESS_CHROMIUM`, or `chromium` on `PATH`, if it is there.
fn chromium() -> Option<PathBuf> {
    harness::runtime::provider::find_binary("chromium", "HARNESS_CHROMIUM")
        .ok()
        .filter(|p| p.is_file())
}

/// `target/html-report/`, where pages and screenshots are kept.
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("html-report");
    std::fs::create_dir_all(&dir).expect("create target/html-report");
    dir
}

/// Renders `json` to `target/html-report/<name>.html`; returns the document and the path.
fn page(json: &str, name: &str) -> (ResultsDoc, PathBuf) {
    let doc = ResultsDoc::from_json(json).expect("committed results read back");
    let path = out_dir().join(format!("{name}.html"));
    std::fs::write(&path, harness::report::html::render(&doc)).expect("write page");
    (doc, path)
}

fn url(path: &Path, suffix: &str) -> String {
    format!("file://{}{suffix}", path.display())
}

/// The common flags: headless, no sandbox (we run as root), a fresh profile per run so that
/// concurrent runs do not share one. `TMPDIR` is the profile too: Chromium leaves its
/// `org.chromium.Chromium.*` singleton directory there, removed with the profile.
fn base_command(bin: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("TMPDIR", profile);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// `chromium --dump-dom URL`: the DOM after the page's scripts ran.
fn dump_dom(bin: &Path, url: &str) -> Result<String, Failed> {
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = output_within(base_command(bin, profile.path()).args(["--dump-dom", url]))?;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || dom.is_empty() {
        return Err(format!(
            "chromium --dump-dom {url}: {}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(dom)
}

/// Runs `cmd` to the end and returns its output; a Chromium still running after 120 s is
/// killed (its output then fails the check that reads it) rather than hanging the test.
fn output_within(cmd: &mut Command) -> Result<std::process::Output, Failed> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run chromium: {e}"))?;
    let _watchdog = watchdog(&child);
    child
        .wait_with_output()
        .map_err(|e| format!("run chromium: {e}").into())
}

/// Kills `child` if it still runs 120 s from now, unless the returned sender is dropped first.
fn watchdog(child: &Child) -> std::sync::mpsc::Sender<()> {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            watch.recv_timeout(std::time::Duration::from_secs(120))
        {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    });
    done
}

/// One square of the grid as the DOM shows it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Square {
    scenario: String,
    cell: String,
    status: String,
    anchor: String,
    classes: String,
}

fn squares(dom: &str) -> Vec<Square> {
    let re = Regex::new(
        r#"<a class="(sq [^"]*)" href="\#([^"]*)" data-status="([^"]*)" data-scenario="([^"]*)" data-cell="([^"]*)""#,
    )
    .unwrap();
    re.captures_iter(dom)
        .map(|c| Square {
            classes: c[1].to_string(),
            anchor: c[2].to_string(),
            status: c[3].to_string(),
            scenario: c[4].to_string(),
            cell: c[5].to_string(),
        })
        .collect()
}

/// Escapes text as a DOM serializer writes element content (`&`, `<`, `>`; quotes stay).
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// The grid holds exactly one square per result, with the result's status, each linking to a
/// detail that exists; every scenario x cell position is present (as `–` when not run).
fn check_grid(doc: &ResultsDoc, dom: &str) -> Result<(), Failed> {
    let mut got: Vec<(String, String, String)> = squares(dom)
        .into_iter()
        .map(|s| (s.scenario, s.cell, s.status))
        .collect();
    let mut want: Vec<(String, String, String)> = doc
        .results
        .iter()
        .map(|r| {
            (
                r.scenario.clone(),
                r.cell.id.clone(),
                r.status.word().to_string(),
            )
        })
        .collect();
    got.sort();
    want.sort();
    if got != want {
        return Err(
            format!("grid squares differ from the JSON:\n got {got:?}\nwant {want:?}").into(),
        );
    }
    for s in squares(dom) {
        let id = format!("<details class=\"result\" id=\"{}\"", s.anchor);
        if !dom.contains(&id) {
            return Err(format!("square {s:?} links to no detail").into());
        }
        if !s.classes.split(' ').any(|c| c == format!("s-{}", s.status)) {
            return Err(format!("square {s:?} is not coloured as {}", s.status).into());
        }
        // The status word is the square's text, not only its colour.
        let word = Regex::new(&format!(
            r#"href="\#{}"[^>]*>{}</a>"#,
            regex::escape(&s.anchor),
            s.status
        ))
        .unwrap();
        if !word.is_match(dom) {
            return Err(format!("square {s:?} does not say {}", s.status).into());
        }
    }
    let scenarios: std::collections::BTreeSet<&str> =
        doc.results.iter().map(|r| r.scenario.as_str()).collect();
    let cells: std::collections::BTreeSet<&str> =
        doc.results.iter().map(|r| r.cell.id.as_str()).collect();
    let tds = dom.matches("<td ").count();
    if tds != scenarios.len() * cells.len() {
        return Err(format!(
            "{tds} grid positions for {} scenarios x {} cells",
            scenarios.len(),
            cells.len()
        )
        .into());
    }
    // Columns are grouped: a runtime's cells are adjacent.
    let header = &dom[..dom.find("<tbody>").ok_or("no tbody")?];
    let runtimes: Vec<&str> =
        Regex::new(r#"<th scope="col" class="cell[^"]*" data-runtime="([^"]*)""#)
            .unwrap()
            .captures_iter(header)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
    if runtimes.len() != cells.len() {
        return Err(format!("{} cell headers for {} cells", runtimes.len(), cells.len()).into());
    }
    let mut runs = runtimes.clone();
    runs.dedup();
    let distinct: std::collections::BTreeSet<&&str> = runs.iter().collect();
    if distinct.len() != runs.len() {
        return Err(format!("runtimes not grouped: {runtimes:?}").into());
    }
    Ok(())
}

/// The detail of the first result that did not pass (else the first): its status, every
/// step's id in order, its reasons, and its snapshot diff.
fn check_detail(doc: &ResultsDoc, dom: &str) -> Result<(), Failed> {
    let (i, r) = doc
        .results
        .iter()
        .enumerate()
        .find(|(_, r)| r.status.word() != "pass" && !r.steps.is_empty())
        .unwrap_or((0, &doc.results[0]));
    let square = squares(dom)
        .into_iter()
        .filter(|s| s.scenario == r.scenario && s.cell == r.cell.id)
        .nth(
            doc.results[..i]
                .iter()
                .filter(|o| o.scenario == r.scenario && o.cell.id == r.cell.id)
                .count(),
        )
        .ok_or("no square for the result")?;
    let start = dom
        .find(&format!(
            "<details class=\"result\" id=\"{}\"",
            square.anchor
        ))
        .ok_or("no detail")?;
    let rest = &dom[start + 1..];
    let end = rest
        .find("<details class=\"result\"")
        .or_else(|| rest.find("</section>"))
        .unwrap_or(rest.len());
    let detail = &dom[start..start + 1 + end];
    let word = r.status.word();
    if !detail.contains(&format!("<span class=\"badge s-{word}\">{word}</span>")) {
        return Err(format!("detail of {} does not say {word}", r.name()).into());
    }
    if word != "pass" && !detail.contains(" open=\"\"") {
        return Err(format!("detail of {} ({word}) does not start open", r.name()).into());
    }
    let mut at = 0;
    for step in &r.steps {
        let needle = format!("<code class=\"id\">{}</code>", text(step.id()));
        match detail[at..].find(&needle) {
            Some(p) => at += p + needle.len(),
            None => {
                return Err(
                    format!("detail of {} lacks step {} (in order)", r.name(), step.id()).into(),
                );
            }
        }
    }
    let lines: Vec<String> = match &r.status {
        harness::results::Status::Fail { reasons } => reasons.clone(),
        harness::results::Status::Known { issues, explained } => {
            let mut l = issues.clone();
            l.extend(explained.iter().cloned());
            l
        }
        _ => Vec::new(),
    };
    for line in lines {
        if !detail.contains(&text(&line)) {
            return Err(format!("detail of {} lacks {line:?}", r.name()).into());
        }
    }
    if let harness::results::SnapshotCheck::Mismatch { diff, .. } = &r.snapshot {
        for line in diff.lines() {
            if !detail.contains(&text(line)) {
                return Err(format!("detail of {} lacks diff line {line:?}", r.name()).into());
            }
        }
    }
    Ok(())
}

fn grid_and_detail_with_javascript(bin: &Path) -> Result<(), Failed> {
    for (json, name) in [(SAMPLE, "report"), (EXAMPLE, "all-statuses")] {
        let (doc, path) = page(json, name);
        let dom = dump_dom(bin, &url(&path, ""))?;
        std::fs::write(out_dir().join(format!("{name}.js-on.dom.html")), &dom).ok();
        if !dom.contains("<html lang=\"en\" data-js=\"on\">") {
            return Err("the page's script did not run".into());
        }
        if !dom.contains("<form id=\"filter\">") {
            return Err("the filter is not shown with JavaScript on".into());
        }
        let n = doc.results.len();
        if !dom.contains(&format!("{n} of {n} results shown")) {
            return Err(format!("the filter does not count {n} results").into());
        }
        check_grid(&doc, &dom)?;
        check_detail(&doc, &dom)?;
        // A square's link opens its detail: load the page at one (a pass, closed by default).
        let pass = squares(&dom)
            .into_iter()
            .find(|s| s.status == "pass")
            .ok_or("no pass square")?;
        let at = dump_dom(bin, &url(&path, &format!("#{}", pass.anchor)))?;
        let re = Regex::new(&format!(
            r#"<details class="result" id="{}"[^>]* open="""#,
            regex::escape(&pass.anchor)
        ))
        .unwrap();
        if !re.is_match(&at) {
            return Err(format!("#{} did not open its detail", pass.anchor).into());
        }
    }
    Ok(())
}

fn grid_and_detail_without_javascript(bin: &Path) -> Result<(), Failed> {
    for (json, name) in [(SAMPLE, "report"), (EXAMPLE, "all-statuses")] {
        let (doc, path) = page(json, name);
        let png = out_dir().join(format!("{name}-nojs.png"));
        let dom = no_script_load(bin, &url(&path, ""), &png)?;
        std::fs::write(out_dir().join(format!("{name}.js-off.dom.html")), &dom).ok();
        if dom.contains("data-js=") {
            return Err("the page's script ran with JavaScript off".into());
        }
        if !dom.contains("<form id=\"filter\" hidden=\"\">") {
            return Err("the filter, useless without JavaScript, is shown".into());
        }
        check_grid(&doc, &dom)?;
        check_detail(&doc, &dom)?;
        png_size(&png, 1600, 1000)?;
    }
    Ok(())
}

fn filter_from_the_query_string(bin: &Path) -> Result<(), Failed> {
    let (doc, path) = page(EXAMPLE, "all-statuses");
    let dom = dump_dom(bin, &url(&path, "?status=fail,known&runtime=podman"))?;
    let want = doc
        .results
        .iter()
        .filter(|r| {
            r.cell.runtime.as_str() == "podman" && ["fail", "known"].contains(&r.status.word())
        })
        .count();
    if !dom.contains(&format!("{want} of {} results shown", doc.results.len())) {
        return Err(format!("the filter does not count {want} results").into());
    }
    for s in squares(&dom) {
        let dim = s.classes.split(' ').any(|c| c == "dim");
        if dim == ["fail", "known"].contains(&s.status.as_str()) {
            return Err(format!("square {s:?}: dimmed {dim}").into());
        }
    }
    for cell in doc.results.iter().map(|r| &r.cell) {
        let td = Regex::new(&format!(
            r#"<td data-runtime="[^"]*" data-cell="{}"[^>]*>"#,
            regex::escape(&cell.id)
        ))
        .unwrap();
        let tag = td.find(&dom).ok_or("no td")?.as_str();
        let hidden = tag.contains(" hidden=\"\"");
        if hidden != (cell.runtime.as_str() != "podman") {
            return Err(format!("column {}: hidden {hidden}", cell.id).into());
        }
    }
    // The row of a scenario with nothing to show is hidden: reference-expand has no podman
    // fail or known.
    if !dom.contains("<tr data-scenario=\"reference-expand\" hidden=\"\">") {
        return Err("reference-expand's row is shown with nothing matching".into());
    }
    Ok(())
}

/// `chromium --screenshot`, as the brief's reader would take it: the real run's report at
/// 1600x1000, kept as `target/html-report/report.png`.
fn screenshot(bin: &Path) -> Result<(), Failed> {
    for (json, name) in [(SAMPLE, "report"), (EXAMPLE, "all-statuses")] {
        let (_, path) = page(json, name);
        let png = out_dir().join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = output_within(
            base_command(bin, profile.path())
                .arg(format!("--screenshot={}", png.display()))
                .arg("--window-size=1600,1000")
                .arg(url(&path, "")),
        )?;
        if !out.status.success() {
            return Err(format!(
                "chromium --screenshot: {}; {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        png_size(&png, 1600, 1000)?;
        eprintln!("screenshot: {}", png.display());
    }
    Ok(())
}

/// The PNG at `path` is `width` x `height` (read from its IHDR chunk).
fn png_size(path: &Path, width: u32, height: u32) -> Result<(), Failed> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return Err(format!("{} is not a PNG", path.display()).into());
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    if (w, h) != (width, height) {
        return Err(format!("{}: {w}x{h}, not {width}x{height}", path.display()).into());
    }
    Ok(())
}

/// A Chromium driven over the DevTools protocol on `--remote-debugging-pipe`: it reads
/// NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4.
struct Browser {
    child: Child,
    to: std::io::PipeWriter,
    from: BufReader<std::io::PipeReader>,
    next_id: u64,
    /// Dropped with the browser, which stops the watchdog.
    _done: std::sync::mpsc::Sender<()>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(bin: &Path) -> Result<Browser, Failed> {
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (their_in, to) = std::io::pipe().map_err(|e| e.to_string())?;
        let (from, their_out) = std::io::pipe().map_err(|e| e.to_string())?;
        // Above fd 4, so that dup2 onto 3 and 4 below always makes a new descriptor (one
        // without close-on-exec).
        let high = |fd: OwnedFd| -> Result<OwnedFd, Failed> {
            let raw = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))
                .map_err(|e| e.to_string())?;
            // SAFETY: fcntl just returned this new descriptor; nothing else owns it.
            Ok(unsafe { OwnedFd::from_raw_fd(raw) })
        };
        let their_in = high(their_in.into())?;
        let their_out = high(their_out.into())?;
        let (in_fd, out_fd) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        let mut cmd = base_command(bin, profile.path());
        cmd.arg("--remote-debugging-pipe")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec this only calls dup2, which is async-signal-safe, on
        // descriptors that stay open until the child is spawned.
        unsafe {
            cmd.pre_exec(move || {
                for (fd, target) in [(in_fd, 3), (out_fd, 4)] {
                    let owned = nix::unistd::dup2_raw(BorrowedFd::borrow_raw(fd), target)
                        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
                    std::mem::forget(owned);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("run chromium: {e}"))?;
        drop((their_in, their_out));
        // A Chromium that stops answering is killed, which closes its pipe and fails the read
        // that waits on it.
        let done = watchdog(&child);
        Ok(Browser {
            child,
            to,
            from: BufReader::new(from),
            next_id: 0,
            _done: done,
            _profile: profile,
        })
    }

    /// Sends `method` (to the page session, if given) and returns its result, keeping the
    /// events that arrive meanwhile in `events`.
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        events: &mut Vec<Value>,
    ) -> Result<Value, Failed> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .map_err(|e| format!("{method}: {e}"))?;
        loop {
            let reply = self.read()?;
            if reply.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = reply.get("error") {
                    return Err(format!("{method}: {err}").into());
                }
                return Ok(reply["result"].clone());
            }
            events.push(reply);
        }
    }

    fn read(&mut self) -> Result<Value, Failed> {
        let mut buf = Vec::new();
        self.from
            .read_until(0, &mut buf)
            .map_err(|e| format!("read from chromium: {e}"))?;
        if buf.pop() != Some(0) {
            return Err("chromium closed its pipe".into());
        }
        serde_json::from_slice(&buf).map_err(|e| format!("chromium wrote bad JSON: {e}").into())
    }

    /// Waits for the event `method` of `session` whose `params` satisfy `matches`, looking
    /// first at those already received (events read meanwhile are kept in `events`).
    fn wait_event(
        &mut self,
        session: &str,
        method: &str,
        matches: impl Fn(&Value) -> bool,
        events: &mut Vec<Value>,
    ) -> Result<(), Failed> {
        let is =
            |e: &Value| e["method"] == method && e["sessionId"] == session && matches(&e["params"]);
        if events.iter().any(is) {
            return Ok(());
        }
        loop {
            let e = self.read()?;
            if is(&e) {
                return Ok(());
            }
            events.push(e);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page loaded with its scripts disabled, in its own browser.
struct NoScriptPage {
    browser: Browser,
    session: String,
    events: Vec<Value>,
}

impl NoScriptPage {
    /// Opens `url` at 1600x1000 with script execution disabled and waits for the load event of
    /// its document.
    fn open(bin: &Path, url: &str) -> Result<NoScriptPage, Failed> {
        let mut browser = Browser::start(bin)?;
        let mut events = Vec::new();
        let target = browser.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            &mut events,
        )?;
        let attached = browser.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
            &mut events,
        )?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or("no session")?
            .to_string();
        let mut page = NoScriptPage {
            browser,
            session,
            events,
        };
        page.call("Page.enable", json!({}))?;
        page.call(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        )?;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        page.call("Page.setLifecycleEventsEnabled", json!({"enabled": true}))?;
        page.events.clear();
        let navigated = page.call("Page.navigate", json!({"url": url}))?;
        // The `load` of this navigation's document, by its loader: a plain `loadEventFired`
        // may be about:blank's, arriving late (CI once read an empty DOM that way).
        let loader = navigated["loaderId"].clone();
        page.browser.wait_event(
            &page.session,
            "Page.lifecycleEvent",
            |p| p["name"] == "load" && p["loaderId"] == loader,
            &mut page.events,
        )?;
        Ok(page)
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, Failed> {
        self.browser
            .call(Some(&self.session), method, params, &mut self.events)
    }

    /// The DOM as it is, read without running script in the page.
    fn dom(&mut self) -> Result<String, Failed> {
        let root = self.call("DOM.getDocument", json!({}))?;
        let html = self.call(
            "DOM.getOuterHTML",
            json!({"nodeId": root["root"]["nodeId"]}),
        )?;
        Ok(html["outerHTML"]
            .as_str()
            .ok_or("no outerHTML")?
            .to_string())
    }

    fn screenshot(&mut self, png: &Path) -> Result<(), Failed> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let data = shot["data"].as_str().ok_or("no screenshot data")?;
        std::fs::write(png, base64(data)?).map_err(|e| format!("{}: {e}", png.display()).into())
    }

    /// The height of the laid-out page, in CSS pixels.
    fn content_height(&mut self) -> Result<f64, Failed> {
        let metrics = self.call("Page.getLayoutMetrics", json!({}))?;
        metrics["cssContentSize"]["height"]
            .as_f64()
            .ok_or_else(|| "no cssContentSize".into())
    }
}

impl Drop for NoScriptPage {
    fn drop(&mut self) {
        let _ = self
            .browser
            .call(None, "Browser.close", json!({}), &mut self.events);
    }
}

/// Loads `url` with the page's scripts disabled; returns the DOM and writes a 1600x1000
/// screenshot to `png`.
fn no_script_load(bin: &Path, url: &str, png: &Path) -> Result<String, Failed> {
    let mut page = NoScriptPage::open(bin, url)?;
    let dom = page.dom()?;
    page.screenshot(png)?;
    Ok(dom)
}

/// Without JavaScript, following a square's link shows its detail even when the detail starts
/// closed (a pass): the page's CSS shows the content of the `<details>` that is the target, so
/// the page grows by that content.
fn a_square_opens_its_detail_without_javascript(bin: &Path) -> Result<(), Failed> {
    let (_, path) = page(SAMPLE, "report");
    let html = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let target = squares(&html)
        .into_iter()
        .find(|s| s.status == "pass")
        .ok_or("no pass square")?;
    let closed = NoScriptPage::open(bin, &url(&path, ""))?.content_height()?;
    let mut page = NoScriptPage::open(bin, &url(&path, &format!("#{}", target.anchor)))?;
    let open = page.content_height()?;
    let shot = page.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    )?;
    std::fs::write(
        out_dir().join("report-nojs-target.png"),
        base64(shot["data"].as_str().ok_or("no screenshot data")?)?,
    )
    .map_err(|e| e.to_string())?;
    // A detail's facts, reasons, steps and links are well over 100px.
    if open < closed + 100.0 {
        return Err(format!(
            "#{}: the page is {open}px with its detail targeted, {closed}px without: \
             the detail did not open",
            target.anchor
        )
        .into());
    }
    Ok(())
}

/// Decodes standard base64 (the protocol's screenshot encoding).
fn base64(text: &str) -> Result<Vec<u8>, Failed> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return Err(format!("bad base64 byte {c}").into()),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
