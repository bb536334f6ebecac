//! Reports: the terminal table, failure details, the JSON results document, exit codes.
//!
//! Reporters only read [`CellResult`]s; they never reach into the runner.

use serde::Serialize;

use crate::run::{CellResult, SnapshotCheck, Status};

/// Version of the JSON results document; bumped on any incompatible change.
pub const RESULTS_SCHEMA: u32 = 1;

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

/// The JSON results document.
#[derive(Serialize)]
pub struct ResultsDoc<'a> {
    pub schema: u32,
    pub harness_version: &'a str,
    pub summary: Summary,
    pub results: &'a [CellResult],
}

/// Counts per status.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub known: usize,
    pub fixed: usize,
    pub skip: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(results: &[CellResult]) -> Summary {
        let mut s = Summary {
            total: results.len(),
            ..Summary::default()
        };
        for r in results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail { .. } => s.fail += 1,
                Status::Known { .. } => s.known += 1,
                Status::Fixed { .. } => s.fixed += 1,
                Status::Skip { .. } => s.skip += 1,
                Status::Error { .. } => s.error += 1,
            }
        }
        s
    }

    /// `4 cells: 3 pass, 1 known`, listing only non-zero counts.
    pub fn line(&self) -> String {
        let parts: Vec<String> = [
            ("pass", self.pass),
            ("fail", self.fail),
            ("known", self.known),
            ("fixed", self.fixed),
            ("skip", self.skip),
            ("error", self.error),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| format!("{n} {w}"))
        .collect();
        format!("{} cells: {}", self.total, parts.join(", "))
    }
}

/// The results document as pretty JSON.
pub fn to_json(results: &[CellResult]) -> String {
    let doc = ResultsDoc {
        schema: RESULTS_SCHEMA,
        harness_version: env!("CARGO_PKG_VERSION"),
        summary: Summary::of(results),
        results,
    };
    serde_json::to_string_pretty(&doc).expect("results serialize")
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
            let ran = match &r.runtime {
                Some(i) => format!(
                    "{} {} (api {}, {})",
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

/// Why each non-passing result is what it is, with snapshot diffs.
pub fn details(results: &[CellResult]) -> String {
    let mut out = String::new();
    for r in results {
        let lines: Vec<String> = match &r.status {
            Status::Pass => continue,
            Status::Fail { reasons } => reasons.clone(),
            Status::Known { issues } => {
                vec![format!("known issue reproduced: {}", issues.join(", "))]
            }
            Status::Fixed { issues } => vec![format!(
                "known issue no longer reproduces (update its declaration): {}",
                issues.join(", ")
            )],
            Status::Skip { reason } => vec![reason.clone()],
            Status::Error { message } => vec![message.clone()],
        };
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
