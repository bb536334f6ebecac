//! Reports: the terminal table, failure details, the JSON results document, exit codes; and
//! the files `harness report` writes from a results document alone ([`ReportFormat`]): JUnit
//! XML ([`junit`]), a Markdown summary ([`markdown`]), an HTML page ([`html`]), and the
//! document itself. [`merge`] joins the documents of several shards into one.
//!
//! Reporters only read [`CellResult`]s (the owned types of [`crate::results`]); they never
//! reach into the runner.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod progress;

use std::path::{Path, PathBuf};

use crate::results::{CellResult, ResultsDoc, SnapshotCheck, Status};
pub use crate::results::{RESULTS_SCHEMA, Summary};

/// A file `harness report` writes into its output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum ReportFormat {
    /// `junit.xml`: one test case per scenario x cell ([`junit`]).
    Junit,
    /// `summary.md`: the grid and the failures, for `$GITHUB_STEP_SUMMARY` ([`markdown`]).
    Markdown,
    /// `report.html`: one self-contained page ([`html`]).
    Html,
    /// `results.json`: the results document itself (after a merge: the merged one).
    Json,
}

impl ReportFormat {
    /// Every format, in the order they are written.
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Junit,
        ReportFormat::Markdown,
        ReportFormat::Html,
        ReportFormat::Json,
    ];

    /// The file it is written to, inside the output directory.
    pub fn file_name(self) -> &'static str {
        match self {
            ReportFormat::Junit => "junit.xml",
            ReportFormat::Markdown => "summary.md",
            ReportFormat::Html => "report.html",
            ReportFormat::Json => "results.json",
        }
    }

    /// Renders `doc` in this format. Every renderer reads only the document, and the same
    /// document gives the same bytes (no clock, no host name).
    pub fn render(self, doc: &ResultsDoc) -> String {
        match self {
            ReportFormat::Junit => junit::render(doc),
            ReportFormat::Markdown => markdown::render(doc),
            ReportFormat::Html => html::render(doc),
            ReportFormat::Json => format!("{}\n", doc.to_json()),
        }
    }
}

/// Renders `doc` in each of `formats` into `dir` (created if missing), each file through a
/// temporary file and a rename; returns the paths written, in order.
pub fn write_reports(
    doc: &ResultsDoc,
    dir: &Path,
    formats: &[ReportFormat],
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for format in formats {
        let path = dir.join(format.file_name());
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::fs::write(tmp.path(), format.render(doc))?;
        tmp.persist(&path).map_err(|e| e.error)?;
        written.push(path);
    }
    Ok(written)
}

/// One line per step of `r`, in order: `load-it: load hybrid: loaded (localhost/x:1) [12 ms]`,
/// with its findings' codes, a repeated step's counts, a skipped step's reason.
pub fn step_lines(r: &CellResult) -> Vec<String> {
    r.steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let value = serde_json::to_value(step).unwrap_or_default();
            let action = match step {
                crate::steps::Observation::Repeated(rep) => rep
                    .outcomes
                    .first()
                    .and_then(|o| serde_json::to_value(&o.observation).ok())
                    .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_owned)),
                _ => value
                    .get("action")
                    .and_then(|a| a.as_str())
                    .map(str::to_owned),
            }
            .unwrap_or_default();
            let outcome = match step {
                crate::steps::Observation::Repeated(rep) => {
                    rep.outcomes
                        .iter()
                        .map(|o| format!("{} {}", o.count, outcome_label(&o.observation)))
                        .collect::<Vec<_>>()
                        .join(", ")
                        + &format!(" (of {} trials)", rep.repeat)
                }
                other => outcome_label(other),
            };
            let mut line = format!("{}: {action}: {outcome}", step.id());
            let codes: Vec<String> = step.findings().iter().map(|f| f.code.clone()).collect();
            if !codes.is_empty() {
                line.push_str(&format!("; findings: {}", codes.join(", ")));
            }
            if let Some(ms) = r.step_durations_ms.get(i) {
                line.push_str(&format!(" [{ms} ms]"));
            }
            line
        })
        .collect()
}

/// What `r` ran against in a few words: `docker 20.10.24+dfsg1 (api 1.41, vfs, docker-engine)`
/// and the provider when it is not `host`; the cell's wish when no instance started.
pub fn ran_against(r: &CellResult) -> String {
    let mut s = match &r.runtime {
        Some(i) => format!(
            "{} {} (api {}, {}, {})",
            i.runtime, i.version, i.api_version, i.store, i.api
        ),
        None => format!(
            "{} {} ({}; not started)",
            r.cell.runtime, r.cell.version, r.cell.store
        ),
    };
    if r.provider != crate::runtime::provider::DEFAULT_PROVIDER || r.source.is_some() {
        s.push_str(&format!(
            " from {}",
            r.source.clone().unwrap_or_else(|| r.provider.clone())
        ));
    }
    s
}

/// Exit codes (DESIGN.md): 0 nothing failed; 1 a `fail` or `fixed`; 2 bad usage or
/// configuration (decided by the front door before running); 3 infrastructure error and
/// nothing failed.
pub fn exit_code(results: &[CellResult]) -> i32 {
    if results.iter().any(|r| r.status.is_failure()) {
        1
    } else if results
        .iter()
        .any(|r| matches!(r.status, Status::Error { .. }))
    {
        3
    } else {
        0
    }
}

/// The results document as pretty JSON.
pub fn to_json(results: &[CellResult]) -> String {
    ResultsDoc::new(results.to_vec()).to_json()
}

/// Colours a status word for a terminal, or leaves it plain.
pub fn paint(status: &Status, color: bool) -> String {
    let word = status.word();
    if !color {
        return word.to_string();
    }
    let code = match status {
        Status::Pass => "32",
        Status::Fail { .. } | Status::Fixed { .. } => "31",
        Status::Known { .. } => "33",
        Status::Skip { .. } => "90",
        Status::Error { .. } => "35",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

/// One row per result: scenario, cell, what it ran against, status.
pub fn table(results: &[CellResult], color: bool) -> String {
    let header = ["SCENARIO", "CELL", "RAN AGAINST", "STATUS"];
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            // Where the runtime came from, when not this machine's binaries: the suite.
            let from = r
                .cell
                .extra
                .get("suite")
                .map(|s| format!(", {s}"))
                .unwrap_or_default();
            let ran = match &r.runtime {
                Some(i) => format!(
                    "{} {} (api {}, {}{from})",
                    i.runtime, i.version, i.api_version, i.store
                ),
                None => "-".to_string(),
            };
            [
                r.scenario.clone(),
                r.cell.id.clone(),
                ran,
                paint(&r.status, color),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(3) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |cols: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            cols[0],
            cols[1],
            cols[2],
            cols[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    out.push_str(&line(header));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    out
}

/// Why each non-passing result is what it is, with snapshot diffs; and, for every result with
/// repeated steps (`repeat: N`), how many trials produced each outcome.
pub fn details(results: &[CellResult]) -> String {
    let mut out = String::new();
    for r in results {
        let counts = trial_counts(r);
        if matches!(r.status, Status::Pass) && counts.is_empty() {
            continue;
        }
        let mut lines = status_lines(&r.status);
        lines.extend(counts);
        out.push_str(&format!("\n{} [{}]\n", r.name(), r.status.word()));
        for l in lines {
            for (i, part) in l.lines().enumerate() {
                out.push_str(if i == 0 { "  - " } else { "    " });
                out.push_str(part);
                out.push('\n');
            }
        }
        if let SnapshotCheck::Mismatch { diff, .. } = &r.snapshot {
            for l in diff.lines() {
                out.push_str("    ");
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// Why a result has its status, one entry per reason (an entry may span lines): a `fail`'s
/// reasons, the known issues and what they explain, a skip's reason, an error's kind and
/// message; nothing for a `pass`.
pub fn status_lines(status: &Status) -> Vec<String> {
    match status {
        Status::Pass => Vec::new(),
        Status::Fail { reasons } => reasons.clone(),
        Status::Known { issues, explained } => {
            let mut lines = vec![format!("known issue reproduced: {}", issues.join(", "))];
            lines.extend(explained.iter().map(|e| format!("explained: {e}")));
            lines
        }
        Status::Fixed { issues } => vec![format!(
            "known issue no longer reproduces (update its declaration): {}",
            issues.join(", ")
        )],
        Status::Skip { reason } => vec![reason.clone()],
        Status::Error {
            error_kind,
            message,
        } => vec![format!(
            "{}: {message}",
            serde_json::to_value(error_kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        )],
    }
}

/// One line per repeated step of `r`: `push-a: 10 trials: 7 pushed, 3 error (500: ...)`, the
/// outcomes in the order first seen.
pub fn trial_counts(r: &CellResult) -> Vec<String> {
    r.steps
        .iter()
        .filter_map(|step| match step {
            crate::steps::Observation::Repeated(rep) => Some(rep),
            _ => None,
        })
        .map(|rep| {
            let labels: Vec<String> = rep
                .outcomes
                .iter()
                .map(|o| outcome_label(&o.observation))
                .collect();
            let parts: Vec<String> = rep
                .outcomes
                .iter()
                .zip(&labels)
                .enumerate()
                .map(|(i, (o, label))| {
                    // Outcomes that differ below the outcome word (other names, other
                    // findings) are told apart by their position.
                    if labels.iter().filter(|l| *l == label).count() > 1 {
                        format!("{} {label} #{}", o.count, i + 1)
                    } else {
                        format!("{} {label}", o.count)
                    }
                })
                .collect();
            let ran = rep.trials();
            let of = if ran == rep.repeat {
                format!("{ran} trials")
            } else {
                format!("{ran} of {} trials ran", rep.repeat)
            };
            format!(
                "{}: {of}: {} (repeat)",
                rep.outcomes.first().map_or("", |o| o.observation.id()),
                parts.join(", ")
            )
        })
        .collect()
}

/// A short name for one outcome: its `outcome` word (`loaded`, `error`) and, for a refusal, the
/// runtime's status and first line; `skipped` with the reason for a skipped trial.
fn outcome_label(obs: &crate::steps::Observation) -> String {
    let value = serde_json::to_value(obs).unwrap_or_default();
    if let Some(why) = value.get("skipped").and_then(|v| v.as_str()) {
        return format!("skipped ({why})");
    }
    let mut word = value
        .get("outcome")
        .and_then(|v| v.as_str())
        .unwrap_or("observed")
        .to_string();
    let error = value.get("error").filter(|e| !e.is_null());
    // The images a load or import changed: a repeated load changes nothing after the first.
    if let Some(images) = value.get("images").and_then(|v| v.as_array())
        && error.is_none()
    {
        let names: Vec<&str> = images
            .iter()
            .filter_map(|i| i.get("names").and_then(|n| n.as_array()))
            .flatten()
            .filter_map(|n| n.as_str())
            .collect();
        match (images.is_empty(), names.is_empty()) {
            (true, _) => word.push_str(" (no image changed)"),
            (false, true) => word.push_str(&format!(" ({} unnamed)", images.len())),
            (false, false) => word.push_str(&format!(" ({})", names.join(", "))),
        }
    }
    let Some(error) = error else {
        return word;
    };
    let status = error.get("status").and_then(|v| v.as_u64());
    let what = error
        .get("class")
        .and_then(|v| v.as_str())
        .or_else(|| error.get("message").and_then(|v| v.as_str()))
        .and_then(|m| m.lines().next())
        .unwrap_or_default();
    let mut detail: String = what.chars().take(80).collect();
    if let Some(status) = status {
        detail = format!("{status}: {detail}");
    }
    format!("{word} ({detail})")
}
