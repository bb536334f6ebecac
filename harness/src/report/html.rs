//! The HTML report: one self-contained page (inline CSS, a few lines of inline JavaScript, no
//! network) rendered from a [`ResultsDoc`].
//!
//! The page is a grid, scenarios down and cells across, the cells grouped under a three-row
//! header by runtime, then the version the matrix asked for, then the store; a fourth row names
//! each cell. Every square is a link to its result's detail (steps, findings, reasons, the
//! snapshot diff) further down the page, a `<details>` element with an `id`, so the grid and
//! the details work with JavaScript off: a square is coloured by its status and also says the
//! status word, because colour alone reads badly in print and for colour-blind readers.
//! Details of results that did not pass start open, so a page read without JavaScript (or
//! printed) shows what went wrong without a click.
//!
//! JavaScript only adds niceties: the runtime / status filter (hidden without it; its state is
//! also read from the query string, `report.html?runtime=docker&status=fail,known`, so a
//! filtered view can be linked to), and opening the detail a square links to.
//!
//! Everything taken from the document is HTML-escaped ([`esc`]); the page has no `src` or
//! `href` that leaves it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::config::Cell;
use crate::results::{CellResult, ResultsDoc, SnapshotCheck, Status};
use crate::runtime::RuntimeKind;
use crate::steps::Observation;

/// Every status word, in the order the legend and the filter list them.
const STATUS_WORDS: [&str; 6] = ["pass", "known", "fixed", "fail", "error", "skip"];

/// Renders `doc` as one self-contained HTML page.
pub fn render(doc: &ResultsDoc) -> String {
    let grid = Grid::of(&doc.results);
    let anchors = anchors(&doc.results);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>harness compatibility report: {}</title>",
        esc(&doc.summary.line())
    );
    let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>");
    header(&mut out, doc);
    filter(&mut out, &doc.results);
    grid.render(&mut out, &anchors);
    out.push_str("<section id=\"details\">\n<h2>Details</h2>\n");
    for i in grid.result_order() {
        detail(&mut out, &doc.results[i], &anchors[i]);
    }
    out.push_str("</section>\n");
    let _ = writeln!(out, "<script>{JS}</script>\n</body>\n</html>");
    out
}

/// Escapes text for HTML element content and (double-quoted) attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The fragment id of each result: `<scenario>--<cell>`, restricted to `[A-Za-z0-9._-]`, with
/// `-2`, `-3`... appended when a document holds the same pair more than once (a merged report
/// of overlapping shards).
fn anchors(results: &[CellResult]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    results
        .iter()
        .map(|r| {
            let base: String = format!("r-{}--{}", r.scenario, r.cell.id)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            let mut id = base.clone();
            let mut n = 1;
            while !seen.insert(id.clone()) {
                n += 1;
                id = format!("{base}-{n}");
            }
            id
        })
        .collect()
}

/// The page's title block: what made the document and the counts per status.
fn header(out: &mut String, doc: &ResultsDoc) {
    out.push_str("<header>\n<h1>harness compatibility report</h1>\n<p class=\"meta\">");
    let _ = write!(
        out,
        "harness {} · results schema {} · {} results",
        esc(&doc.harness_version),
        doc.schema,
        doc.summary.total
    );
    out.push_str("</p>\n<p class=\"counts\">");
    let s = &doc.summary;
    for (word, n) in [
        ("pass", s.pass),
        ("known", s.known),
        ("fixed", s.fixed),
        ("fail", s.fail),
        ("error", s.error),
        ("skip", s.skip),
    ] {
        let _ = write!(
            out,
            "<span class=\"badge s-{word}{}\" title=\"{}\">{n} {word}</span> ",
            if n == 0 { " zero" } else { "" },
            meaning(word)
        );
    }
    out.push_str("</p>\n");
    if let Some(i) = &doc.interrupted {
        let _ = writeln!(
            out,
            "<p class=\"interrupted\">Interrupted by signal {}: {} of {} planned results \
             finished; the grid shows only those.</p>",
            i.signal,
            doc.results.len(),
            i.planned
        );
    }
    out.push_str("</header>\n");
}

/// What a status word means, for the legend's tooltips.
fn meaning(word: &str) -> &'static str {
    match word {
        "pass" => "every expectation held and the snapshot matched",
        "known" => "a declared known issue reproduced",
        "fixed" => "a declared known issue no longer reproduces: update its declaration",
        "fail" => "an expectation or the snapshot did not hold",
        "error" => "the harness or the runtime's infrastructure broke",
        "skip" => "the cell could not run here",
        _ => "",
    }
}

/// The filter form: hidden until the script shows it, since it does nothing without one.
fn filter(out: &mut String, results: &[CellResult]) {
    let runtimes: Vec<&str> = RuntimeKind::ALL
        .iter()
        .filter(|k| results.iter().any(|r| r.cell.runtime == **k))
        .map(|k| k.as_str())
        .collect();
    let statuses: Vec<&str> = STATUS_WORDS
        .iter()
        .copied()
        .filter(|w| results.iter().any(|r| r.status.word() == *w))
        .collect();
    out.push_str("<form id=\"filter\" hidden>\n<fieldset><legend>Runtime</legend>");
    for rt in runtimes {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" name=\"runtime\" value=\"{rt}\" checked> {rt}</label>"
        );
    }
    out.push_str("</fieldset>\n<fieldset><legend>Status</legend>");
    for st in statuses {
        let _ = write!(
            out,
            "<label class=\"badge s-{st}\"><input type=\"checkbox\" name=\"status\" \
             value=\"{st}\" checked> {st}</label>"
        );
    }
    out.push_str(
        "</fieldset>\n<output id=\"shown\"></output>\n\
         <button type=\"button\" id=\"all\">show all</button>\n</form>\n",
    );
}

/// Where a column sorts: its runtime's place in [`RuntimeKind::ALL`], then the first column
/// of its version, of its store, and its own.
type ColumnKey = (usize, usize, usize, usize);

/// The grid's layout: scenario rows in the order they first appear, cell columns grouped by
/// runtime ([`RuntimeKind::ALL`] order), then version, then store, each group in the order it
/// first appears.
struct Grid<'a> {
    results: &'a [CellResult],
    scenarios: Vec<&'a str>,
    cells: Vec<&'a Cell>,
}

impl<'a> Grid<'a> {
    fn of(results: &'a [CellResult]) -> Grid<'a> {
        let mut scenarios: Vec<&str> = Vec::new();
        let mut cells: Vec<&Cell> = Vec::new();
        for r in results {
            if !scenarios.contains(&r.scenario.as_str()) {
                scenarios.push(&r.scenario);
            }
            if !cells.iter().any(|c| c.id == r.cell.id) {
                cells.push(&r.cell);
            }
        }
        let first = |f: &dyn Fn(&Cell) -> bool| cells.iter().position(|c| f(c)).unwrap_or(0);
        let mut keyed: Vec<(ColumnKey, &Cell)> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let rt = RuntimeKind::ALL
                    .iter()
                    .position(|k| *k == c.runtime)
                    .unwrap_or(usize::MAX);
                let version = first(&|o| o.runtime == c.runtime && o.version == c.version);
                let store = first(&|o| {
                    o.runtime == c.runtime && o.version == c.version && o.store == c.store
                });
                ((rt, version, store, i), *c)
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        Grid {
            results,
            scenarios,
            cells: keyed.into_iter().map(|(_, c)| c).collect(),
        }
    }

    /// Indices of `results` on the square of `scenario` x `cell`, in document order (more than
    /// one only when a document repeats a pair).
    fn at(&self, scenario: &str, cell: &Cell) -> Vec<usize> {
        (0..self.results.len())
            .filter(|&i| self.results[i].scenario == scenario && self.results[i].cell.id == cell.id)
            .collect()
    }

    /// ` rt-start` when column `i` is the first of its runtime (a thick rule on its left).
    fn starts_runtime(&self, i: usize) -> &'static str {
        if i == 0 || self.cells[i - 1].runtime != self.cells[i].runtime {
            " rt-start"
        } else {
            ""
        }
    }

    /// Indices of the results in grid order: row by row, column by column.
    fn result_order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.results.len());
        for scenario in &self.scenarios {
            for cell in &self.cells {
                order.extend(self.at(scenario, cell));
            }
        }
        order
    }

    fn render(&self, out: &mut String, anchors: &[String]) {
        let results = self.results;
        out.push_str("<main id=\"grid\">\n<table class=\"grid\">\n<thead>\n");
        // Three grouping rows: runtime, version, store. A group spans the run of adjacent
        // columns that share its key and every key above it.
        let keys: [&dyn Fn(&Cell) -> String; 3] = [
            &|c| c.runtime.to_string(),
            &|c| format!("{}\u{0}{}", c.runtime, c.version),
            &|c| format!("{}\u{0}{}\u{0}{}", c.runtime, c.version, c.store),
        ];
        for (level, key) in keys.iter().enumerate() {
            out.push_str("<tr class=\"group\">");
            if level == 0 {
                out.push_str(
                    "<th class=\"corner\" rowspan=\"4\" scope=\"col\">scenario \\ cell</th>",
                );
            }
            let mut i = 0;
            while i < self.cells.len() {
                let k = key(self.cells[i]);
                let span = self.cells[i..].iter().take_while(|c| key(c) == k).count();
                let group = &self.cells[i..i + span];
                let c = self.cells[i];
                let text = match level {
                    0 => format!("<b>{}</b>", esc(c.runtime.as_str())),
                    1 => version_label(c, group, results),
                    _ => esc(&c.store),
                };
                let _ = write!(
                    out,
                    "<th scope=\"colgroup\" colspan=\"{span}\" class=\"l{level}{}\" \
                     data-runtime=\"{}\">{text}</th>",
                    self.starts_runtime(i),
                    esc(c.runtime.as_str()),
                );
                i += span;
            }
            out.push_str("</tr>\n");
        }
        out.push_str("<tr class=\"ids\">");
        for (i, c) in self.cells.iter().enumerate() {
            let _ = write!(
                out,
                "<th scope=\"col\" class=\"cell{}\" data-runtime=\"{}\" title=\"{}\">\
                 <code>{}</code>{}</th>",
                self.starts_runtime(i),
                esc(c.runtime.as_str()),
                esc(&cell_title(c)),
                esc(&c.id),
                extra_label(c, results)
            );
        }
        out.push_str("</tr>\n</thead>\n<tbody>\n");
        for scenario in &self.scenarios {
            let _ = write!(
                out,
                "<tr data-scenario=\"{0}\"><th scope=\"row\">{0}</th>",
                esc(scenario)
            );
            for (i, c) in self.cells.iter().enumerate() {
                let _ = write!(
                    out,
                    "<td data-runtime=\"{}\" data-cell=\"{}\"{}>",
                    esc(c.runtime.as_str()),
                    esc(&c.id),
                    match self.starts_runtime(i) {
                        "" => "",
                        _ => " class=\"rt-start\"",
                    }
                );
                let here = self.at(scenario, c);
                for &i in &here {
                    let r = &results[i];
                    let word = r.status.word();
                    let _ = write!(
                        out,
                        "<a class=\"sq s-{word}\" href=\"#{}\" data-status=\"{word}\" \
                         data-scenario=\"{}\" data-cell=\"{}\" title=\"{}\">{word}</a>",
                        anchors[i],
                        esc(&r.scenario),
                        esc(&r.cell.id),
                        esc(&format!("{} on {}: {}", r.scenario, r.cell.id, one_line(r)))
                    );
                }
                if here.is_empty() {
                    out.push_str(
                        "<span class=\"sq none\" data-status=\"none\" \
                         title=\"not run on this cell\">–</span>",
                    );
                }
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n</main>\n");
    }
}

/// The version header of a group of cells: the version the matrix asked for and, below it,
/// the versions the cells' runtimes reported (`host` / `20.10.24+dfsg1`).
fn version_label(c: &Cell, group: &[&Cell], results: &[CellResult]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for r in results {
        if !group.iter().any(|g| g.id == r.cell.id) {
            continue;
        }
        if let Some(info) = &r.runtime
            && !seen.contains(&info.version)
        {
            seen.push(info.version.clone());
        }
    }
    let mut out = esc(&c.version);
    for label in seen {
        let _ = write!(out, "<br><small>{}</small>", esc(&label));
    }
    out
}

/// What tells a cell apart from the others of its store: builder, API, provider and the other
/// keys the matrix gave it.
fn cell_facts(c: &Cell) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    if let Some(b) = &c.builder {
        facts.push(("builder".to_string(), b.clone()));
    }
    if let Some(a) = &c.api {
        facts.push(("api".to_string(), a.clone()));
    }
    for (k, v) in &c.extra {
        facts.push((k.clone(), v.clone()));
    }
    facts
}

/// A cell's column tooltip: its id, runtime, version, store and the rest.
fn cell_title(c: &Cell) -> String {
    let mut t = format!("{}: {} {}, {}", c.id, c.runtime, c.version, c.store);
    for (k, v) in cell_facts(c) {
        let _ = write!(t, ", {k} {v}");
    }
    t
}

/// Under a cell's id in the header: the API version its runtime reported (which differs between
/// cells of one runtime version, `compat` against `libpod`) and the cell's other facts.
fn extra_label(c: &Cell, results: &[CellResult]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for r in results.iter().filter(|r| r.cell.id == c.id) {
        if let Some(info) = &r.runtime {
            let api = match &c.api {
                Some(name) => format!("{name} api {}", info.api_version),
                None => format!("api {}", info.api_version),
            };
            if !parts.contains(&api) {
                parts.push(api);
            }
        }
    }
    parts.extend(
        cell_facts(c)
            .into_iter()
            .filter(|(k, _)| k != "api")
            .map(|(k, v)| format!("{k} {v}")),
    );
    if parts.is_empty() {
        return String::new();
    }
    format!("<br><small>{}</small>", esc(&parts.join(", ")))
}

/// A one-line account of a result's status, for a square's tooltip.
fn one_line(r: &CellResult) -> String {
    match &r.status {
        Status::Pass => "pass".to_string(),
        Status::Fail { reasons } => format!(
            "fail: {}",
            reasons
                .first()
                .and_then(|l| l.lines().next())
                .unwrap_or_default()
        ),
        Status::Known { issues, .. } => format!("known: {}", issues.join(", ")),
        Status::Fixed { issues } => format!("fixed: {}", issues.join(", ")),
        Status::Skip { reason } => format!("skip: {reason}"),
        Status::Error { message, .. } => {
            format!("error: {}", message.lines().next().unwrap_or_default())
        }
    }
}

/// One result's detail: what it ran against, why it has its status, the snapshot check and
/// every step's observation.
fn detail(out: &mut String, r: &CellResult, anchor: &str) {
    let word = r.status.word();
    let ran = match &r.runtime {
        Some(i) => format!(
            "{} {} (api {}, {}, {})",
            i.runtime, i.version, i.api_version, i.store, i.api
        ),
        None => "no instance started".to_string(),
    };
    let _ = writeln!(
        out,
        "<details class=\"result\" id=\"{anchor}\" data-status=\"{word}\" data-runtime=\"{}\" \
         data-scenario=\"{}\" data-cell=\"{}\"{}>",
        esc(r.cell.runtime.as_str()),
        esc(&r.scenario),
        esc(&r.cell.id),
        if matches!(r.status, Status::Pass) {
            ""
        } else {
            " open"
        }
    );
    let _ = writeln!(
        out,
        "<summary><span class=\"badge s-{word}\">{word}</span> <b>{}</b> on <code>{}</code> \
         <span class=\"ran\">{}</span></summary>",
        esc(&r.scenario),
        esc(&r.cell.id),
        esc(&ran)
    );
    out.push_str("<div class=\"body\">\n<dl class=\"facts\">");
    let mut fact = |k: &str, v: &str| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    };
    fact("cell", &cell_title(&r.cell));
    fact("ran against", &ran);
    if !r.hermetic {
        fact("hermetic", "no (a daemon and store someone else runs)");
    }
    fact("images made by", &r.builder);
    fact("duration", &format!("{} ms", r.duration_ms));
    out.push_str("</dl>\n");
    status_section(out, &r.status);
    snapshot_section(out, &r.snapshot);
    let _ = writeln!(
        out,
        "<h4>Steps ({})</h4>\n<ol class=\"steps\">",
        r.steps.len()
    );
    for step in &r.steps {
        out.push_str("<li class=\"step\">");
        step_item(out, step);
        out.push_str("</li>\n");
    }
    out.push_str("</ol>\n");
    if !r.fixtures.is_empty() {
        let names: Vec<&str> = r.fixtures.keys().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "<details class=\"raw\"><summary>fixtures: {}</summary><pre>{}</pre></details>",
            esc(&names.join(", ")),
            esc(&serde_json::to_string_pretty(&r.fixtures).unwrap_or_default())
        );
    }
    out.push_str("<p><a href=\"#grid\">back to the grid</a></p>\n</div>\n</details>\n");
}

/// Why the result has its status: a failure's reasons, the known issues and what they explain,
/// a skip's reason, an error's kind and message.
fn status_section(out: &mut String, status: &Status) {
    let (title, lines): (&str, Vec<String>) = match status {
        Status::Pass => return,
        Status::Fail { reasons } => ("Why it failed", reasons.clone()),
        Status::Known { issues, explained } => {
            let mut lines = vec![format!("known issue reproduced: {}", issues.join(", "))];
            lines.extend(explained.iter().map(|e| format!("explained: {e}")));
            ("Known issues", lines)
        }
        Status::Fixed { issues } => (
            "Fixed",
            vec![format!(
                "known issue no longer reproduces (update its declaration): {}",
                issues.join(", ")
            )],
        ),
        Status::Skip { reason } => ("Why it was skipped", vec![reason.clone()]),
        Status::Error {
            error_kind,
            message,
        } => (
            "What broke",
            vec![format!(
                "{}: {message}",
                serde_json::to_value(error_kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )],
        ),
    };
    let _ = writeln!(out, "<h4>{title}</h4>\n<ul class=\"reasons\">");
    for line in lines {
        let _ = writeln!(out, "<li><pre>{}</pre></li>", diff_lines(&line));
    }
    out.push_str("</ul>\n");
}

/// The snapshot check, with the diff stored -> observed when they differ.
fn snapshot_section(out: &mut String, snapshot: &SnapshotCheck) {
    out.push_str("<h4>Snapshot</h4>\n<p class=\"snapshot\">");
    match snapshot {
        SnapshotCheck::Matched => out.push_str("matched the stored snapshot"),
        SnapshotCheck::Mismatch { diff, new_file } => {
            let _ = write!(
                out,
                "differs from the stored snapshot (observed written to <code>{}</code>)</p>\n\
                 <pre class=\"diff\">{}</pre>\n<p>",
                esc(&new_file.display().to_string()),
                diff_lines(diff)
            );
        }
        SnapshotCheck::Missing { new_file } => {
            let _ = write!(
                out,
                "no stored snapshot; observed written to <code>{}</code> for review",
                esc(&new_file.display().to_string())
            );
        }
        SnapshotCheck::Updated { file } => {
            let _ = write!(
                out,
                "stored snapshot (re)written: <code>{}</code>",
                esc(&file.display().to_string())
            );
        }
        SnapshotCheck::Skipped => out.push_str("not checked"),
    }
    out.push_str("</p>\n");
}

/// Escaped text whose unified-diff lines (`+`, `-`, `@@`) are marked for colour; other lines
/// are left as they are.
fn diff_lines(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let class = if line.starts_with("+++") || line.starts_with("---") {
            Some("file")
        } else if line.starts_with('+') {
            Some("add")
        } else if line.starts_with('-') {
            Some("del")
        } else if line.starts_with("@@") {
            Some("hunk")
        } else {
            None
        };
        match class {
            Some(c) => {
                let _ = write!(out, "<span class=\"{c}\">{}</span>", esc(line));
            }
            None => out.push_str(&esc(line)),
        }
    }
    out
}

/// One step: its id, action and outcome, a refusal's words, the harness's findings, and the
/// whole observation as JSON (closed). A repeated step lists each distinct outcome with its
/// count of trials.
fn step_item(out: &mut String, step: &Observation) {
    let value = serde_json::to_value(step).unwrap_or_default();
    if let Observation::Repeated(rep) = step {
        let _ = write!(
            out,
            "<code class=\"id\">{}</code> <span class=\"outcome\">repeat {}: {} trials ran</span>\
             <ul class=\"trials\">",
            esc(step.id()),
            rep.repeat,
            rep.trials()
        );
        for o in &rep.outcomes {
            let _ = write!(out, "<li><span class=\"count\">{} ×</span> ", o.count);
            step_line(out, &o.observation);
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    } else {
        step_line(out, step);
    }
    let _ = write!(
        out,
        "<details class=\"raw\"><summary>observation</summary><pre>{}</pre></details>",
        esc(&serde_json::to_string_pretty(&value).unwrap_or_default())
    );
}

/// The summary line of one (not repeated) observation.
fn step_line(out: &mut String, obs: &Observation) {
    let value = serde_json::to_value(obs).unwrap_or_default();
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let _ = write!(
        out,
        "<code class=\"id\">{}</code> <span class=\"action\">{}</span> ",
        esc(obs.id()),
        esc(field("action"))
    );
    if let Some(why) = value.get("skipped").and_then(|v| v.as_str()) {
        let _ = write!(
            out,
            "<span class=\"outcome skipped\">skipped: {}</span>",
            esc(why)
        );
    } else {
        let outcome = field("outcome");
        let _ = write!(
            out,
            "<span class=\"outcome o-{0}\">{0}</span>",
            esc(if outcome.is_empty() {
                "observed"
            } else {
                outcome
            })
        );
    }
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let status = error
            .get("status")
            .and_then(|v| v.as_u64())
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        let class = error
            .get("class")
            .and_then(|v| v.as_str())
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let message = error
            .get("message")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<pre class=\"error\">{}</pre>",
            esc(&format!("{status}{message}{class}"))
        );
    }
    let findings = obs.findings();
    if !findings.is_empty() {
        out.push_str("<ul class=\"findings\">");
        for f in findings {
            let _ = write!(
                out,
                "<li><code>{}</code> {}</li>",
                esc(&f.code),
                esc(&f.message)
            );
        }
        out.push_str("</ul>");
    }
}

/// The page's style (`html.css`). Status colours pair a light or dark fill with a border and
/// text of the same hue, so that each also reads in greyscale, and every square says its word.
const CSS: &str = include_str!("html.css");

/// The filter and the opening of a linked detail (`html.js`); the page works without it.
const JS: &str = include_str!("html.js");

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/results/example.json");

    #[test]
    fn text_from_the_document_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let mut doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        doc.results[0].scenario = "<script>alert(1)</script>".into();
        let html = render(&doc);
        assert!(!html.contains("<script>alert"), "unescaped scenario name");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(
            html.matches("<script>").count(),
            1,
            "only the page's own script"
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&ResultsDoc::from_json(EXAMPLE).unwrap());
        for needle in ["<link", "src=", "@import", "url(", "http://", "https://"] {
            assert!(!html.contains(needle), "{needle} in the page");
        }
        for href in html.split("href=\"").skip(1) {
            assert!(
                href.starts_with('#'),
                "a link leaves the page: {}",
                &href[..40.min(href.len())]
            );
        }
    }

    #[test]
    fn columns_group_by_runtime_then_version_then_store() {
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let mut results = doc.results.clone();
        let template = results[0].clone();
        let mut cell = |id: &str, runtime: RuntimeKind, version: &str, store: &str| {
            let mut r = template.clone();
            r.cell.id = id.into();
            r.cell.runtime = runtime;
            r.cell.version = version.into();
            r.cell.store = store.into();
            results.push(r);
        };
        cell("podman-4-a", RuntimeKind::Podman, "4", "a");
        cell("docker-25-b", RuntimeKind::Docker, "25", "b");
        cell("docker-20-b", RuntimeKind::Docker, "20", "b");
        cell("docker-25-a", RuntimeKind::Docker, "25", "a");
        cell("docker-20-a", RuntimeKind::Docker, "20", "a");
        cell("containerd-1-a", RuntimeKind::Containerd, "1", "a");
        let grid = Grid::of(&results);
        let ids: Vec<&str> = grid.cells.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "docker-host-vfs",
                "docker-25-b",
                "docker-25-a",
                "docker-20-b",
                "docker-20-a",
                "podman-host-overlay",
                "podman-4-a",
                "containerd-1-a"
            ]
        );
        // Every result is in the details exactly once.
        let mut order = grid.result_order();
        order.sort();
        assert_eq!(order, (0..results.len()).collect::<Vec<_>>());
    }
}
