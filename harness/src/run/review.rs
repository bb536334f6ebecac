//! Snapshot review: the `.snap.new` files a run wrote beside the stored `.snap` files, shown as
//! diffs and accepted (renamed over the `.snap`) or rejected (removed).
//!
//! The files are insta's format ([`super::snapshot`] writes them), so `cargo insta review`
//! works on them as well; this module is the same review without cargo-insta installed, for
//! `harness run --review` (interactive, after a run) and `harness review` (non-interactive, on
//! whatever is pending). Accepting is a rename, so the reviewed file is byte for byte the one
//! the run wrote, header included.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::snapshot::read_snap_content;

/// A snapshot waiting for review: `<name>.snap.new` beside (maybe) `<name>.snap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// `podman3__docker-host-overlay2`, `produced__docker26-build`.
    pub name: String,
    pub new_file: PathBuf,
    /// The stored snapshot it would replace (which may not exist yet).
    pub snap_file: PathBuf,
}

/// Every `.snap.new` in `dir`, sorted by name. A directory that does not exist has none.
pub fn pending(dir: &Path) -> std::io::Result<Vec<Pending>> {
    Ok(super::snapshot::files_with_suffix(dir, ".snap.new")?
        .into_iter()
        .map(|(name, new_file)| Pending {
            snap_file: dir.join(format!("{name}.snap")),
            name,
            new_file,
        })
        .collect())
}

/// The `.snap.new` files in `dir` modified at or after `since`: those a run that started then
/// wrote (cells' and produced fixtures' alike).
pub fn written_since(dir: &Path, since: std::time::SystemTime) -> std::io::Result<Vec<Pending>> {
    Ok(pending(dir)?
        .into_iter()
        .filter(|p| {
            std::fs::metadata(&p.new_file)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .collect())
}

/// What to do with one pending snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Replace the stored snapshot with the new one.
    Accept,
    /// Remove the new one; the stored one stays.
    Reject,
    /// Leave both for later.
    Skip,
}

impl Pending {
    /// A unified diff stored -> new of the snapshot contents (headers left out: their `info`
    /// is not compared), coloured with ANSI escapes when `color`.
    pub fn diff(&self, color: bool) -> std::io::Result<String> {
        let new_text = std::fs::read_to_string(&self.new_file)?;
        let new = read_snap_content(&new_text).unwrap_or(&new_text);
        let old_text = match std::fs::read_to_string(&self.snap_file) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let old = old_text
            .as_deref()
            .map(|t| read_snap_content(t).unwrap_or(t))
            .unwrap_or("");
        let (from, to) = match old_text {
            Some(_) => (
                self.snap_file.display().to_string(),
                self.new_file.display().to_string(),
            ),
            None => (
                "(no stored snapshot)".to_owned(),
                self.new_file.display().to_string(),
            ),
        };
        Ok(unified_diff(old, new, &from, &to, color))
    }

    /// Carries out `decision`.
    pub fn apply(&self, decision: Decision) -> std::io::Result<()> {
        match decision {
            Decision::Accept => std::fs::rename(&self.new_file, &self.snap_file),
            Decision::Reject => std::fs::remove_file(&self.new_file),
            Decision::Skip => Ok(()),
        }
    }
}

/// A unified diff of `old` -> `new` (three lines of context), red `-` and green `+` lines and
/// cyan hunk headers when `color`.
pub fn unified_diff(old: &str, new: &str, from: &str, to: &str, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    out.push_str(&paint("1", &format!("--- {from}\n+++ {to}\n")));
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&paint("36", &hunk.header().to_string()));
        out.push('\n');
        for change in hunk.iter_changes() {
            let mut line = change.value().to_owned();
            if !line.ends_with('\n') {
                line.push('\n');
            }
            let (sign, code) = match change.tag() {
                similar::ChangeTag::Delete => ("-", "31"),
                similar::ChangeTag::Insert => ("+", "32"),
                similar::ChangeTag::Equal => (" ", ""),
            };
            let text = format!("{sign}{}", line.trim_end_matches('\n'));
            if code.is_empty() {
                out.push_str(&text);
            } else {
                out.push_str(&paint(code, &text));
            }
            out.push('\n');
        }
    }
    out
}

/// How a review went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReviewSummary {
    pub accepted: usize,
    pub rejected: usize,
    pub skipped: usize,
}

impl ReviewSummary {
    /// `2 accepted, 1 rejected, 0 skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} accepted, {} rejected, {} skipped",
            self.accepted, self.rejected, self.skipped
        )
    }

    fn count(&mut self, d: Decision) {
        match d {
            Decision::Accept => self.accepted += 1,
            Decision::Reject => self.rejected += 1,
            Decision::Skip => self.skipped += 1,
        }
    }
}

/// Applies one decision to every pending snapshot (`harness review --accept|--reject`).
pub fn apply_all(pending: &[Pending], decision: Decision) -> std::io::Result<ReviewSummary> {
    let mut summary = ReviewSummary::default();
    for p in pending {
        p.apply(decision)?;
        summary.count(decision);
    }
    Ok(summary)
}

/// Shows each pending snapshot's diff on `output` and asks `[a]ccept, [r]eject, [s]kip` on
/// `input` (a terminal, for `harness run --review`). An answer other than those asks again;
/// the end of input skips the rest.
pub fn interactive(
    pending: &[Pending],
    mut input: impl BufRead,
    mut output: impl Write,
    color: bool,
) -> std::io::Result<ReviewSummary> {
    let mut summary = ReviewSummary::default();
    for (i, p) in pending.iter().enumerate() {
        write!(
            output,
            "\n[{}/{}] {}\n{}",
            i + 1,
            pending.len(),
            p.name,
            p.diff(color)?
        )?;
        let decision = loop {
            write!(output, "{}: [a]ccept, [r]eject, [s]kip? ", p.name)?;
            output.flush()?;
            let mut answer = String::new();
            if input.read_line(&mut answer)? == 0 {
                writeln!(output)?;
                break None;
            }
            match answer.trim() {
                "a" | "accept" => break Some(Decision::Accept),
                "r" | "reject" => break Some(Decision::Reject),
                "s" | "skip" | "" => break Some(Decision::Skip),
                _ => writeln!(output, "answer a, r or s")?,
            }
        };
        let Some(decision) = decision else {
            summary.skipped += pending.len() - i;
            return Ok(summary);
        };
        p.apply(decision)?;
        summary.count(decision);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(body: &str) -> String {
        format!("---\nsource: harness/src/run/snapshot.rs\ninfo:\n  version: x\n---\n{body}\n")
    }

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn pending_lists_only_snap_new_files_sorted() {
        let dir = dir_with(&[
            ("b__c.snap.new", &snap("b: 2")),
            ("a__c.snap.new", &snap("a: 2")),
            ("a__c.snap", &snap("a: 1")),
            ("z.txt", "x"),
        ]);
        let names: Vec<String> = pending(dir.path())
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["a__c", "b__c"]);
        assert!(pending(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn diff_compares_contents_not_headers_and_colours_on_request() {
        let dir = dir_with(&[
            ("a__c.snap", &snap("a: 1\nkeep: yes")),
            (
                "a__c.snap.new",
                &snap("a: 2\nkeep: yes").replace("version: x", "version: y"),
            ),
        ]);
        let p = &pending(dir.path()).unwrap()[0];
        let plain = p.diff(false).unwrap();
        assert!(plain.contains("\n-a: 1\n+a: 2\n keep: yes\n"), "{plain}");
        assert!(!plain.contains("version"), "{plain}");
        assert!(!plain.contains('\x1b'));
        let colored = p.diff(true).unwrap();
        assert!(colored.contains("\x1b[31m-a: 1\x1b[0m"), "{colored:?}");
        assert!(colored.contains("\x1b[32m+a: 2\x1b[0m"), "{colored:?}");
        // A new snapshot is all additions.
        std::fs::remove_file(dir.path().join("a__c.snap")).unwrap();
        let new = p.diff(false).unwrap();
        assert!(new.starts_with("--- (no stored snapshot)\n"), "{new}");
        assert!(new.contains("+a: 2\n+keep: yes\n"), "{new}");
    }

    #[test]
    fn interactive_review_accepts_rejects_and_skips() {
        let dir = dir_with(&[
            ("a__c.snap", &snap("a: 1")),
            ("a__c.snap.new", &snap("a: 2")),
            ("b__c.snap.new", &snap("b: 2")),
            ("c__c.snap.new", &snap("c: 2")),
            ("d__c.snap.new", &snap("d: 2")),
        ]);
        let d = dir.path();
        let all = pending(d).unwrap();
        let mut out = Vec::new();
        let summary = interactive(&all, "x\na\nr\ns\n".as_bytes(), &mut out, false).unwrap();
        assert_eq!(
            summary,
            ReviewSummary {
                accepted: 1,
                rejected: 1,
                skipped: 2
            }
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("answer a, r or s"), "{out}");
        assert!(out.contains("[1/4] a__c"), "{out}");
        // Accepted: the new file became the stored one, byte for byte.
        assert_eq!(
            std::fs::read_to_string(d.join("a__c.snap")).unwrap(),
            snap("a: 2")
        );
        assert!(!d.join("a__c.snap.new").exists());
        // Rejected: removed, nothing stored.
        assert!(!d.join("b__c.snap.new").exists() && !d.join("b__c.snap").exists());
        // Skipped (by answer, then by the end of input): left alone.
        assert!(d.join("c__c.snap.new").exists() && d.join("d__c.snap.new").exists());
    }

    #[test]
    fn apply_all_accepts_or_rejects_everything() {
        let dir = dir_with(&[("a__c.snap.new", &snap("a")), ("b__c.snap.new", &snap("b"))]);
        let d = dir.path();
        let s = apply_all(&pending(d).unwrap(), Decision::Accept).unwrap();
        assert_eq!(s.accepted, 2);
        assert!(d.join("a__c.snap").exists() && d.join("b__c.snap").exists());
        assert!(pending(d).unwrap().is_empty());
        std::fs::write(d.join("a__c.snap.new"), snap("a2")).unwrap();
        let s = apply_all(&pending(d).unwrap(), Decision::Reject).unwrap();
        assert_eq!(s.rejected, 1);
        assert_eq!(
            std::fs::read_to_string(d.join("a__c.snap")).unwrap(),
            snap("a")
        );
    }
}
