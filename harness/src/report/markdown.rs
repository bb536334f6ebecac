//! A Markdown summary of a results document (`summary.md`), fit for `$GITHUB_STEP_SUMMARY`
//! (GitHub-flavoured Markdown: pipe tables, fenced `diff` blocks).
//!
//! In order: a heading with the counts; the grid, one row per scenario and one column per
//! cell (both in the order the document first names them), each square a status word
//! (`pass`, **`FAIL`**, `known`, **`FIXED`**, `skip`, `error`, `-` for a scenario the cell
//! did not run); a table of what each cell ran against; then every `fail`, `fixed` and
//! `error` with its reasons and the snapshot diff; then the `known` and `skip` results, one
//! line each. Words, not colours or emoji: the grid reads the same in a terminal, a mail and a
//! screen reader. Diffs longer than [`MAX_DIFF_LINES`] are cut (the JSON and JUnit keep them
//! whole), since GitHub refuses a step summary above 1 MiB.

use super::ran_against;
use crate::results::{CellResult, ResultsDoc, SnapshotCheck, Status};

/// Lines of one snapshot diff shown before the rest is cut.
pub const MAX_DIFF_LINES: usize = 200;

/// `doc` as Markdown.
pub fn render(doc: &ResultsDoc) -> String {
    let mut out = format!("## harness: {}\n\n", doc.summary.line());
    if let Some(i) = &doc.interrupted {
        out.push_str(&format!(
            "Interrupted by signal {}: {} of {} planned results.\n\n",
            i.signal,
            doc.results.len(),
            i.planned
        ));
    }
    if doc.results.is_empty() {
        out.push_str("No results.\n");
        return out;
    }
    let scenarios = first_seen(doc.results.iter().map(|r| r.scenario.as_str()));
    let cells = first_seen(doc.results.iter().map(|r| r.cell.id.as_str()));
    // The grid.
    out.push_str("| scenario |");
    for c in &cells {
        out.push_str(&format!(" `{}` |", escape(c)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(cells.len()));
    out.push('\n');
    for s in &scenarios {
        out.push_str(&format!("| {} |", escape(s)));
        for c in &cells {
            let word = doc
                .results
                .iter()
                .find(|r| r.scenario == *s && r.cell.id == *c)
                .map_or("-", |r| square(&r.status));
            out.push_str(&format!(" {word} |"));
        }
        out.push('\n');
    }
    // What each cell ran against (the first result of the cell that started an instance).
    out.push_str("\n| cell | ran against | builder |\n|---|---|---|\n");
    for c in &cells {
        let of_cell = || doc.results.iter().filter(|r| r.cell.id == *c);
        let r = of_cell()
            .find(|r| r.runtime.is_some())
            .or_else(|| of_cell().next())
            .expect("the cell has a result");
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            escape(c),
            escape(&ran_against(r)),
            escape(&r.builder)
        ));
    }
    // The failures, with their reasons.
    let failures: Vec<&CellResult> = doc
        .results
        .iter()
        .filter(|r| r.status.is_failure() || matches!(r.status, Status::Error { .. }))
        .collect();
    if !failures.is_empty() {
        out.push_str("\n### Failures\n");
        for r in failures {
            out.push_str(&format!("\n#### `{}`: {}\n\n", r.name(), r.status.word()));
            for reason in super::status_lines(&r.status) {
                out.push_str(&item(&reason));
            }
            if let SnapshotCheck::Mismatch { diff, .. } = &r.snapshot {
                out.push_str("\nSnapshot diff (stored -> observed):\n\n");
                out.push_str(&fenced("diff", &cut(diff)));
            }
        }
    }
    let rest: Vec<&CellResult> = doc
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Known { .. } | Status::Skip { .. }))
        .collect();
    if !rest.is_empty() {
        out.push_str("\n### Known issues and skips\n\n");
        for r in rest {
            let why = super::status_lines(&r.status).join("; ");
            out.push_str(&item(&format!(
                "`{}` {}: {}",
                r.name(),
                r.status.word(),
                why
            )));
        }
    }
    out
}

/// The word in a grid square; the statuses that fail a run stand out.
fn square(status: &Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail { .. } => "**FAIL**",
        Status::Known { .. } => "known",
        Status::Fixed { .. } => "**FIXED**",
        Status::Skip { .. } => "skip",
        Status::Error { .. } => "error",
    }
}

fn first_seen<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for i in items {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen
}

/// Text safe inside a table cell: no `|`, no line break.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A list item; a multi-line reason keeps its lines in a code block under it.
fn item(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.collect();
    let mut out = format!("- {first}\n");
    if !rest.is_empty() {
        out.push('\n');
        for l in fenced("", &rest.join("\n")).lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out
}

/// A fenced code block whose fence is longer than any backtick run inside.
fn fenced(lang: &str, body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let body = body.trim_end_matches('\n');
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

fn cut(diff: &str) -> String {
    let lines: Vec<&str> = diff.lines().collect();
    if lines.len() <= MAX_DIFF_LINES {
        return diff.to_string();
    }
    format!(
        "{}\n... {} more lines (see results.json or junit.xml)",
        lines[..MAX_DIFF_LINES].join("\n"),
        lines.len() - MAX_DIFF_LINES
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/results/example.json");

    /// The grid has a row per scenario and a column per cell, each square the status of that
    /// scenario x cell; every failure follows with its reasons and snapshot diff.
    #[test]
    fn the_example_renders_the_grid_then_the_failures() {
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let md = render(&doc);
        assert!(
            md.starts_with(&format!("## harness: {}\n", doc.summary.line())),
            "{md}"
        );
        let grid: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| scenario |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        let header: Vec<&str> = grid[0].split(" | ").collect();
        // `| scenario`, then one column per distinct cell.
        let cells = first_seen(doc.results.iter().map(|r| r.cell.id.as_str()));
        assert_eq!(header.len(), 1 + cells.len(), "{}", grid[0]);
        assert_eq!(grid[1], format!("|---|{}", "---|".repeat(cells.len())));
        let scenarios = first_seen(doc.results.iter().map(|r| r.scenario.as_str()));
        assert_eq!(grid.len(), 2 + scenarios.len());
        for (row, s) in grid[2..].iter().zip(&scenarios) {
            let squares: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(squares[0], *s);
            for (square_text, c) in squares[1..].iter().zip(&cells) {
                // The example holds several results per scenario x cell (one per status); the
                // square is the first one's.
                let first = doc
                    .results
                    .iter()
                    .find(|r| r.scenario == *s && r.cell.id == *c)
                    .map_or("-", |r| square(&r.status));
                assert_eq!(*square_text, first, "{s} x {c}");
            }
        }
        // Every failure and error is listed with each of its reasons' first lines.
        for r in doc
            .results
            .iter()
            .filter(|r| r.status.is_failure() || matches!(r.status, Status::Error { .. }))
        {
            let head = format!("#### `{}`: {}", r.name(), r.status.word());
            assert!(md.contains(&head), "{head} missing:\n{md}");
            for reason in super::super::status_lines(&r.status) {
                let first = reason.lines().next().unwrap();
                assert!(md.contains(&format!("- {first}")), "{first} missing");
            }
        }
        let diff = doc
            .results
            .iter()
            .find_map(|r| match &r.snapshot {
                SnapshotCheck::Mismatch { diff, .. } => Some(diff),
                _ => None,
            })
            .unwrap();
        assert!(
            md.contains(&format!("```diff\n{}\n```", diff.trim_end())),
            "{md}"
        );
        assert!(md.contains("### Known issues and skips"));
        // No pipe escapes the table: every grid line has the same number of columns.
        assert!(
            grid.iter()
                .all(|l| l.matches(" |").count() == cells.len() + 1 || l.starts_with("|---"))
        );
    }

    #[test]
    fn pipes_and_backticks_cannot_break_the_layout() {
        assert_eq!(escape("a|b\nc"), "a\\|b c");
        assert_eq!(fenced("", "x ``` y"), "````\nx ``` y\n````\n");
        let long: String = (0..MAX_DIFF_LINES + 5).map(|i| format!("+{i}\n")).collect();
        let cut_text = cut(&long);
        assert_eq!(cut_text.lines().count(), MAX_DIFF_LINES + 1);
        assert!(cut_text.ends_with("5 more lines (see results.json or junit.xml)"));
    }
}
