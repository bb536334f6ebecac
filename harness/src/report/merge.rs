//! Merging the results documents of several shards (`harness report merge`) into one.
//!
//! The merged document holds every shard's results, its summary is counted again, and its
//! results are in the canonical order ([`canonical_order`]): scenarios in the order the files
//! first name them, then cells by id. A shard cannot know where its cells stood in the
//! unsharded run's order (that is the matrix's), so the merged order is this one, and merging
//! the shards of a run gives the unsharded run's document once that is put in the same order.
//!
//! Refused (exit 2 from the front door), naming both files: documents of different `schema`
//! versions, and a scenario x cell that two documents (or one, twice) both hold.

use std::path::{Path, PathBuf};

use crate::results::{Interrupted, RESULTS_SCHEMA, ReadError, ResultsDoc, Summary};

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: no results files given")]
    Empty,
    #[error("{}: cannot be read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {}", path.display(), crate::run::error_chain(source))]
    Parse { path: PathBuf, source: ReadError },
    #[error(
        "{} has results schema {first_schema} but {} has schema {second_schema}: documents of different schema versions cannot be merged",
        first.display(),
        second.display()
    )]
    MixedSchema {
        first: PathBuf,
        first_schema: u32,
        second: PathBuf,
        second_schema: u32,
    },
    #[error(
        "{name} is in both {} and {}: shards must not overlap{}",
        first.display(),
        second.display(),
        if first == second { " (the same file given twice, or a scenario x cell twice in it)" } else { "" }
    )]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// Reads every file and merges them ([`merge`]). Schema versions are compared before either
/// document is read further, so a mix names both files.
pub fn merge_files(paths: &[PathBuf]) -> Result<ResultsDoc, MergeError> {
    #[derive(serde::Deserialize)]
    struct Version {
        schema: u32,
    }
    let mut texts = Vec::with_capacity(paths.len());
    let mut first: Option<(&Path, u32)> = None;
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
            path: path.clone(),
            source,
        })?;
        let schema = serde_json::from_str::<Version>(&text)
            .map_err(|e| MergeError::Parse {
                path: path.clone(),
                source: ReadError::Json(e),
            })?
            .schema;
        match first {
            None => first = Some((path, schema)),
            Some((p, s)) if s != schema => {
                return Err(MergeError::MixedSchema {
                    first: p.to_path_buf(),
                    first_schema: s,
                    second: path.clone(),
                    second_schema: schema,
                });
            }
            Some(_) => {}
        }
        texts.push(text);
    }
    let mut docs = Vec::with_capacity(paths.len());
    for (path, text) in paths.iter().zip(&texts) {
        let doc = ResultsDoc::from_json(text).map_err(|source| MergeError::Parse {
            path: path.clone(),
            source,
        })?;
        docs.push((path.clone(), doc));
    }
    merge(docs)
}

/// Merges documents already read, each with the file it came from (for errors).
pub fn merge(docs: Vec<(PathBuf, ResultsDoc)>) -> Result<ResultsDoc, MergeError> {
    let Some((_, head)) = docs.first() else {
        return Err(MergeError::Empty);
    };
    let harness_version = head.harness_version.clone();
    let mut seen: std::collections::HashMap<(String, String), PathBuf> = Default::default();
    let mut results = Vec::new();
    let mut interrupted: Option<Interrupted> = None;
    let mut planned = 0;
    for (path, doc) in docs {
        if doc.schema != RESULTS_SCHEMA {
            return Err(MergeError::MixedSchema {
                first: PathBuf::from("this harness"),
                first_schema: RESULTS_SCHEMA,
                second: path,
                second_schema: doc.schema,
            });
        }
        planned += doc
            .interrupted
            .as_ref()
            .map_or(doc.results.len(), |i| i.planned);
        if let (None, Some(i)) = (&interrupted, &doc.interrupted) {
            interrupted = Some(i.clone());
        }
        for r in doc.results {
            let key = (r.scenario.clone(), r.cell.id.clone());
            if let Some(first) = seen.get(&key) {
                return Err(MergeError::Duplicate {
                    name: r.name(),
                    first: first.clone(),
                    second: path,
                });
            }
            seen.insert(key, path.clone());
            results.push(r);
        }
    }
    let mut merged = ResultsDoc::new(results);
    merged.harness_version = harness_version;
    // One interrupted shard makes the merged run interrupted; it planned what every shard
    // planned (a shard that finished planned what it holds).
    merged.interrupted = interrupted.map(|i| Interrupted {
        signal: i.signal,
        planned,
    });
    canonical_order(&mut merged);
    Ok(merged)
}

/// Puts `doc`'s results in the canonical order (scenarios in the order first named, then
/// cells by id; the sort is stable) and counts its summary again.
pub fn canonical_order(doc: &mut ResultsDoc) {
    let mut scenarios: Vec<String> = Vec::new();
    for r in &doc.results {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario.clone());
        }
    }
    doc.results.sort_by_key(|r| {
        (
            scenarios.iter().position(|s| *s == r.scenario),
            r.cell.id.clone(),
        )
    });
    doc.summary = Summary::of(&doc.results);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportFormat;

    const EXAMPLE: &str = include_str!("../../tests/data/results/example.json");

    /// A real run on this machine: `harness run scenarios/podman3.yaml --cell 'docker-host-*'
    /// --cell 'podman-host-*' --json podman3-host.json` (five cells, every result `pass`, with
    /// per-step durations).
    const REAL_RUN: &str = include_str!("../../tests/data/results/podman3-host.json");

    /// Merging the shards of a run gives the same report as the unsharded run: the real run's
    /// document split by cells into two files (alternate cells, so neither shard is a prefix
    /// of the run's order), merged from the files, rendered in every format; the unsharded
    /// document put in the canonical order renders the same bytes in every format. The only
    /// normalisation is that order (durations are the run's own, in both).
    #[test]
    fn merging_two_shards_gives_the_unsharded_report() {
        let full = ResultsDoc::from_json(REAL_RUN).unwrap();
        assert!(full.results.len() >= 4, "the run has cells to split");
        assert!(full.results.iter().all(|r| !r.step_durations_ms.is_empty()));
        let cells: Vec<&str> = full.results.iter().map(|r| r.cell.id.as_str()).collect();
        let shard = |k: usize| {
            let results: Vec<_> = full
                .results
                .iter()
                .filter(|r| cells.iter().position(|c| *c == r.cell.id).unwrap() % 2 == k)
                .cloned()
                .collect();
            ResultsDoc::new(results)
        };
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "shard-1.json", &shard(0).to_json());
        let b = write(dir.path(), "shard-2.json", &shard(1).to_json());
        // The shards are shards: together they hold every result once.
        assert_eq!(
            shard(0).results.len() + shard(1).results.len(),
            full.results.len()
        );
        assert!(!shard(0).results.is_empty() && !shard(1).results.is_empty());
        // In the file order 2, 1 too: the merged order does not depend on it.
        for files in [[a.clone(), b.clone()], [b, a]] {
            let merged = merge_files(&files).unwrap();
            let mut unsharded = full.clone();
            canonical_order(&mut unsharded);
            assert_eq!(merged, unsharded);
            assert_eq!(merged.summary, full.summary);
            let (m, u) = (dir.path().join("merged"), dir.path().join("unsharded"));
            let written = crate::report::write_reports(&merged, &m, &ReportFormat::ALL).unwrap();
            crate::report::write_reports(&unsharded, &u, &ReportFormat::ALL).unwrap();
            assert_eq!(written.len(), ReportFormat::ALL.len());
            for format in ReportFormat::ALL {
                let name = format.file_name();
                let merged_text = std::fs::read_to_string(m.join(name)).unwrap();
                let unsharded_text = std::fs::read_to_string(u.join(name)).unwrap();
                assert!(!merged_text.is_empty(), "{name}");
                assert_eq!(merged_text, unsharded_text, "{name} differs");
            }
            // The merged results.json reads back as the merged document.
            let back = std::fs::read_to_string(m.join("results.json")).unwrap();
            assert_eq!(ResultsDoc::from_json(&back).unwrap(), merged);
        }
        // Without the canonical order the run's own order differs from the merge's, so the
        // normalisation is needed (and the test would catch a merge that kept file order).
        let merged = merge_files(&[
            dir.path().join("shard-1.json"),
            dir.path().join("shard-2.json"),
        ])
        .unwrap();
        assert_ne!(
            merged
                .results
                .iter()
                .map(|r| &r.cell.id)
                .collect::<Vec<_>>(),
            full.results.iter().map(|r| &r.cell.id).collect::<Vec<_>>()
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn mixed_schema_and_duplicates_are_refused_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let one = ResultsDoc::new(doc.results[..1].to_vec());
        let a = write(dir.path(), "a.json", &one.to_json());
        let newer = one.to_json().replacen("\"schema\": 1", "\"schema\": 2", 1);
        let b = write(dir.path(), "b.json", &newer);
        let e = merge_files(&[a.clone(), b.clone()]).unwrap_err();
        assert!(matches!(e, MergeError::MixedSchema { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("a.json") && msg.contains("b.json"), "{msg}");
        let c = write(dir.path(), "c.json", &one.to_json());
        let e = merge_files(&[a.clone(), c]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{} is in both ", doc.results[0].name()))
                && msg.contains("a.json")
                && msg.contains("c.json"),
            "{msg}"
        );
        let bad = write(dir.path(), "bad.json", "{\"schema\": 1}");
        let msg = merge_files(&[a, bad]).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}", dir.path().join("bad.json").display())),
            "{msg}"
        );
        assert!(matches!(merge_files(&[]), Err(MergeError::Empty)));
    }

    #[test]
    fn an_interrupted_shard_makes_the_merge_interrupted() {
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let mut a = ResultsDoc::new(doc.results[..1].to_vec());
        a.interrupted = Some(Interrupted {
            signal: 15,
            planned: 3,
        });
        let b = ResultsDoc::new(doc.results[1..2].to_vec());
        let merged = merge(vec![("a".into(), a), ("b".into(), b)]).unwrap();
        assert_eq!(
            merged.interrupted,
            Some(Interrupted {
                signal: 15,
                planned: 4
            })
        );
        assert_eq!(merged.summary.total, 2);
    }
}
