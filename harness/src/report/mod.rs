//! Reports: the terminal table, failure details, the JSON results document, exit codes.
//!
//! Reporters only read [`CellResult`]s (the owned types of [`crate::results`]); they never
//! reach into the runner.

pub mod html;

use crate::results::{CellResult, ResultsDoc, SnapshotCheck, Status};
pub use crate::results::{RESULTS_SCHEMA, Summary};

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
        let mut lines: Vec<String> = match &r.status {
            Status::Pass if counts.is_empty() => continue,
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
        };
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
