//! Outcome snapshots: one reviewed file per scenario x cell, in insta's `.snap` format.
//!
//! This is the one snapshot writer, used by both front doors (`harness run` and the nextest
//! target), so both write the same header. It reads the stored content after insta's `---`
//! header and compares it with the rendered observation, writing a `.snap.new` beside it on a
//! mismatch, which `cargo insta review` picks up. Runtime versions go into the header's `info`,
//! which is not compared, so a version bump alone never fails a snapshot; and `update` leaves a
//! file whose content is unchanged alone, so a version bump alone never rewrites one either.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::results::SnapshotCheck;
use crate::runtime::RuntimeInfo;
use crate::steps::Observation;

/// The content of one snapshot, rendered as YAML.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotDoc<'a> {
    pub scenario: &'a str,
    pub cell: &'a str,
    /// A repeated step is rendered by [`snapshot_steps`].
    #[serde(serialize_with = "snapshot_steps")]
    pub steps: &'a [Observation],
}

/// The steps as the snapshot shows them: a step that ran once as its observation; a repeated
/// step as `repeat: N` and its distinct observations, each once and sorted, without counts.
/// So a deterministic repeated step snapshots the same on every run, and an outcome class that
/// is new (or gone) is a diff, while how often each class came up, which varies with an
/// intermittent bug, is in the JSON results and the text report only.
fn snapshot_steps<S: serde::Serializer>(steps: &&[Observation], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Shown<'a> {
        Once(&'a Observation),
        Repeated {
            repeat: u32,
            outcomes: Vec<&'a Observation>,
        },
    }
    let shown: Vec<Shown<'_>> = steps
        .iter()
        .map(|step| match step {
            Observation::Repeated(r) => {
                let mut outcomes: Vec<(String, &Observation)> = r
                    .outcomes
                    .iter()
                    .map(|o| {
                        let text = serde_saphyr::to_string(&o.observation).unwrap_or_default();
                        (text, &o.observation)
                    })
                    .collect();
                outcomes.sort_by(|a, b| a.0.cmp(&b.0));
                Shown::Repeated {
                    repeat: r.repeat,
                    outcomes: outcomes.into_iter().map(|(_, o)| o).collect(),
                }
            }
            once => Shown::Once(once),
        })
        .collect();
    shown.serialize(s)
}

/// The snapshot header's `info`: what the cell ran against. insta does not compare it, so a
/// version bump alone never fails a snapshot, but the file records what it was taken on.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo<'a> {
    #[serde(flatten)]
    pub runtime: &'a RuntimeInfo,
    pub builder: &'a str,
}

/// The file stem of the snapshot for a scenario x cell: `podman3__docker-host-overlay2`.
pub fn snapshot_name(scenario: &str, cell: &str) -> String {
    format!("{scenario}__{cell}")
}

/// Renders the snapshot body, exactly as insta stores it for `assert_snapshot!(name, body)`.
pub fn render(doc: &SnapshotDoc<'_>) -> String {
    // serde-saphyr's YAML output is deterministic for a given value: struct fields in
    // declaration order, sequences in order.
    let mut s = serde_saphyr::to_string(doc).expect("observations serialize to YAML");
    while s.ends_with('\n') {
        s.pop();
    }
    s
}

/// How `harness run` treats snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SnapshotMode {
    /// Compare with the stored snapshot; write `.snap.new` on a mismatch (default).
    #[default]
    Check,
    /// Write the observed snapshot as the stored one (review the diff before committing).
    Update,
    /// Do not read or write snapshots.
    Ignore,
}

/// What `harness run --unreferenced` does with stored snapshots that nothing the loaded
/// matrix and scenarios can produce refers to (a scenario, step or cell that was renamed or
/// removed), like `cargo insta test --unreferenced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Unreferenced {
    /// Do not look (default).
    #[default]
    Ignore,
    /// List them on stderr.
    Warn,
    /// List them and exit 1.
    Reject,
    /// Remove them (and say which).
    Delete,
}

/// The snapshot names (file stems) a run of every scenario on every cell can write: one per
/// scenario x cell, and `produced__<fixture>` for each produced fixture a scenario declares.
pub fn referenced_names<'a>(
    scenarios: impl IntoIterator<Item = &'a crate::config::Scenario>,
    cells: &[crate::config::Cell],
) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for scenario in scenarios {
        // A scenario whose `applies_to` can select the cell at no version writes no snapshot
        // there (a `skip`), so one left from before is unreferenced.
        for cell in cells.iter().filter(|c| scenario.applies_to.may_match(c)) {
            names.insert(snapshot_name(&scenario.name, &cell.id));
        }
        for fixture in scenario.produced.keys() {
            names.insert(format!("produced__{fixture}"));
        }
    }
    names
}

/// The regular files in `dir` whose name ends in `suffix`, as (name without the suffix, path),
/// sorted by name. A directory that does not exist has none.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> std::io::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(suffix))
            .map(str::to_owned);
        if let Some(stem) = stem
            && path.is_file()
        {
            out.push((stem, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The `.snap` files in `dir` whose name is not in `referenced`, sorted. A directory that does
/// not exist has none.
pub fn unreferenced(
    dir: &Path,
    referenced: &std::collections::BTreeSet<String>,
) -> std::io::Result<Vec<PathBuf>> {
    Ok(files_with_suffix(dir, ".snap")?
        .into_iter()
        .filter(|(stem, _)| !referenced.contains(stem))
        .map(|(_, path)| path)
        .collect())
}

/// Reads the content part of an insta `.snap` file (after the `---` header).
pub fn read_snap_content(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(rest[end + "\n---\n".len()..].trim_end_matches('\n'))
}

/// Writes a `.snap` file in insta's format.
fn write_snap(path: &Path, body: &str, info: &SnapshotInfo<'_>) -> std::io::Result<()> {
    let info_yaml = serde_saphyr::to_string(info).unwrap_or_default();
    let info_block: String = info_yaml.lines().map(|l| format!("  {l}\n")).collect();
    let text =
        format!("---\nsource: harness/src/run/snapshot.rs\ninfo:\n{info_block}---\n{body}\n");
    std::fs::write(path, text)
}

/// Checks (or updates) the snapshot `name` in `dir` against `body`.
pub fn check(
    dir: &Path,
    name: &str,
    body: &str,
    info: &SnapshotInfo<'_>,
    mode: SnapshotMode,
) -> std::io::Result<SnapshotCheck> {
    let file = dir.join(format!("{name}.snap"));
    let new_file = dir.join(format!("{name}.snap.new"));
    match mode {
        SnapshotMode::Ignore => Ok(SnapshotCheck::Skipped),
        SnapshotMode::Update => {
            let _ = std::fs::remove_file(&new_file);
            if let Ok(stored) = std::fs::read_to_string(&file)
                && read_snap_content(&stored) == Some(body)
            {
                return Ok(SnapshotCheck::Matched);
            }
            std::fs::create_dir_all(dir)?;
            write_snap(&file, body, info)?;
            Ok(SnapshotCheck::Updated { file })
        }
        SnapshotMode::Check => {
            let stored = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(dir)?;
                    write_snap(&new_file, body, info)?;
                    return Ok(SnapshotCheck::Missing { new_file });
                }
                Err(e) => return Err(e),
            };
            let stored = read_snap_content(&stored).unwrap_or("");
            if stored == body {
                let _ = std::fs::remove_file(&new_file);
                return Ok(SnapshotCheck::Matched);
            }
            write_snap(&new_file, body, info)?;
            let diff = similar::TextDiff::from_lines(stored, body)
                .unified_diff()
                .header("stored", "observed")
                .to_string();
            Ok(SnapshotCheck::Mismatch { diff, new_file })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> RuntimeInfo {
        RuntimeInfo {
            runtime: crate::runtime::RuntimeKind::Podman,
            version: "4.3.1".into(),
            api_version: "4.3.1".into(),
            store: "overlay".into(),
            api: "libpod".into(),
        }
    }

    #[test]
    fn unreferenced_snapshots_are_those_no_scenario_and_cell_produces() {
        let matrix = crate::config::parse_matrix(
            "axes: { runtime: [docker], version: [host], store: [vfs, overlay2] }\n",
            Path::new("matrix.yaml"),
        )
        .unwrap();
        let scenario = crate::config::parse_scenario(
            "name: s\nsummary: s\nfixtures:\n  made:\n    produced_by: { runtime: docker, store: vfs }\n    load: base\n    tag: x/y:1\n  base: { layout: oci-archive, layers: [{ files: [{ path: a }] }] }\nsteps:\n  - id: l\n    load: made\n",
            Path::new("scenarios/s.yaml"),
        )
        .unwrap();
        let names = referenced_names([&scenario], &matrix.cells);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "produced__made",
                "s__docker-host-overlay2",
                "s__docker-host-vfs"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "s__docker-host-vfs.snap",
            "s__docker-host-overlay2.snap",
            "produced__made.snap",
            "produced__gone.snap",
            "old__docker-host-vfs.snap",
            "s__docker-host-zfs.snap.new",
            "README.md",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let referenced = referenced_names([&scenario], &matrix.cells);
        let found: Vec<String> = unreferenced(dir.path(), &referenced)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["old__docker-host-vfs.snap", "produced__gone.snap"]);
        assert!(
            unreferenced(&dir.path().join("none"), &referenced)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn insta_header_is_skipped() {
        let text = "---\nsource: x.rs\nexpression: y\n---\nscenario: a\ncell: b\n";
        assert_eq!(read_snap_content(text), Some("scenario: a\ncell: b"));
        assert_eq!(read_snap_content("no header"), None);
    }

    #[test]
    fn check_cycle_missing_update_match_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let runtime = runtime();
        let info = || SnapshotInfo {
            runtime: &runtime,
            builder: "craft",
        };
        let r = check(d, "s__c", "a: 1", &info(), SnapshotMode::Check).unwrap();
        assert!(matches!(r, SnapshotCheck::Missing { .. }));
        assert!(!r.holds());
        assert!(d.join("s__c.snap.new").exists());
        assert!(matches!(
            check(d, "s__c", "a: 1", &info(), SnapshotMode::Update).unwrap(),
            SnapshotCheck::Updated { .. }
        ));
        assert!(!d.join("s__c.snap.new").exists());
        // An unchanged body is not rewritten, even when the header's info would differ.
        let before = std::fs::metadata(d.join("s__c.snap"))
            .unwrap()
            .modified()
            .unwrap();
        let other = RuntimeInfo {
            version: "9.9.9".into(),
            ..runtime.clone()
        };
        let other_info = SnapshotInfo {
            runtime: &other,
            builder: "craft",
        };
        assert_eq!(
            check(d, "s__c", "a: 1", &other_info, SnapshotMode::Update).unwrap(),
            SnapshotCheck::Matched
        );
        let after = std::fs::metadata(d.join("s__c.snap"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);
        assert!(
            !std::fs::read_to_string(d.join("s__c.snap"))
                .unwrap()
                .contains("9.9.9")
        );
        assert_eq!(
            check(d, "s__c", "a: 1", &info(), SnapshotMode::Check).unwrap(),
            SnapshotCheck::Matched
        );
        match check(d, "s__c", "a: 2", &info(), SnapshotMode::Check).unwrap() {
            SnapshotCheck::Mismatch { diff, .. } => {
                assert!(diff.contains("-a: 1") && diff.contains("+a: 2"), "{diff}")
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let written = std::fs::read_to_string(d.join("s__c.snap")).unwrap();
        assert!(
            written.contains("version: \"4.3.1\"") && written.contains("builder: craft"),
            "{written}"
        );
    }
}
