//! The results of a run as a versioned document of owned types that serialize *and*
//! deserialize: [`ResultsDoc`] holds one [`CellResult`] per scenario x cell.
//!
//! A report job reads shards' JSON files back into these types to merge them and render JUnit
//! or HTML, so nothing here borrows from the runner or is serialize-only. The JSON shape is the
//! one documented in the README (and pinned by a committed example in
//! `harness/tests/data/results/`); [`RESULTS_SCHEMA`] is bumped on any incompatible change,
//! while added fields are compatible.
//!
//! `status` and `snapshot` are flattened internally tagged enums (`"status": "fail",
//! "reasons": [...]`); their variant fields are disjoint from each other and from the result's
//! own fields, which a test checks, so reading back never confuses them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Cell;
use crate::craft::CraftedArchive;
use crate::runtime::RuntimeInfo;
use crate::steps::Observation;

/// Version of the JSON results document; bumped on any incompatible change.
pub const RESULTS_SCHEMA: u32 = 1;

/// The results of one scenario on one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub scenario: String,
    pub cell: Cell,
    /// What the cell actually ran against; `None` when no instance started.
    pub runtime: Option<RuntimeInfo>,
    /// `false` when the instance was not hermetic (the `socket` provider: a daemon and store
    /// someone else runs). Written only then.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub hermetic: bool,
    /// The provider that gave the instance (`host`, `debian`, `socket`): the matrix's
    /// `provider` key, or `host`. Added in schema 1 (read as `host` when absent).
    #[serde(default = "host_provider")]
    pub provider: String,
    /// Where that provider took the runtime from, when it is not this machine's installed
    /// binaries: `debian trixie 26.1.5+dfsg1-9` (suite and package version),
    /// `socket /run/docker.sock`. `None` for the host provider.
    #[serde(default)]
    pub source: Option<String>,
    /// How the scenario's images were made: the cell's builder, or `craft` for archives the
    /// harness wrote itself.
    pub builder: String,
    /// The crafted fixtures' facts (digests, layers, names), which resolve the symbols
    /// (`config(hybrid)`) used in `steps`.
    pub fixtures: BTreeMap<String, CraftedArchive>,
    #[serde(flatten)]
    pub status: Status,
    /// One observation per step that ran, in order.
    pub steps: Vec<Observation>,
    /// How long each entry of `steps` took, in milliseconds, in the same order (a repeated
    /// step: all its trials). Kept beside `steps`, not in them, because observations are what
    /// snapshots render and a duration must never enter a snapshot. Empty when no step ran
    /// (and in documents written before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_durations_ms: Vec<u64>,
    #[serde(flatten)]
    pub snapshot: SnapshotCheck,
    /// The rendered snapshot body (what the snapshot file holds after its header). Not part of
    /// the document: the snapshot file is.
    #[serde(skip)]
    pub snapshot_body: String,
    pub duration_ms: u64,
}

fn yes() -> bool {
    true
}

fn host_provider() -> String {
    crate::runtime::provider::DEFAULT_PROVIDER.to_string()
}

/// The provider a cell names (its `provider` key, default `host`) and, for providers that take
/// the runtime from elsewhere, that source in words (see [`CellResult::source`]).
pub fn provenance(cell: &Cell) -> (String, Option<String>) {
    let provider = cell
        .extra
        .get("provider")
        .cloned()
        .unwrap_or_else(host_provider);
    let get = |k: &str| cell.extra.get(k).map(String::as_str);
    let source = match provider.as_str() {
        "debian" => Some(
            ["debian", get("suite").unwrap_or("?")]
                .into_iter()
                .chain(get("package_version"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "socket" => get("socket").map(|s| format!("socket {s}")),
        crate::runtime::provider::container::NAME => Some(match (get("image"), get("suite")) {
            (Some(image), _) => format!("container {image}"),
            (None, Some(suite)) => format!("container of debian {suite}"),
            (None, None) => "container".to_string(),
        }),
        crate::runtime::provider::DEFAULT_PROVIDER => None,
        other => Some(other.to_string()),
    };
    (provider, source)
}

fn is_true(b: &bool) -> bool {
    *b
}

impl CellResult {
    /// `<scenario>::<cell>`, the name used by nextest and in reports.
    pub fn name(&self) -> String {
        format!("{}::{}", self.scenario, self.cell.id)
    }
}

/// The status of one scenario x cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail {
        reasons: Vec<String>,
    },
    /// Declared known issues reproduced; `explained` lists the expectation failures they
    /// account for (each names its step).
    Known {
        issues: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        explained: Vec<String>,
    },
    Fixed {
        issues: Vec<String>,
    },
    Skip {
        reason: String,
    },
    Error {
        /// What broke, as a stable class.
        error_kind: ErrorKind,
        message: String,
    },
}

/// What kind of thing broke when a cell is `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The instance could not be started (or its runtime is missing under CI).
    Start,
    /// A daemon of the instance died while the steps ran.
    DaemonDied,
    /// A step did not finish within its timeout.
    StepTimeout,
    /// The harness or the daemon broke during a step (connection lost, bad reply).
    Runtime,
    /// A step's preconditions did not hold, or undoing its effect failed.
    Precondition,
    /// Teardown left something behind (a process, a mount, a directory).
    Teardown,
    /// The snapshot file could not be read or written.
    Snapshot,
    /// The cell's task panicked: a harness bug.
    Panic,
    /// The scenario is invalid on this cell: a variable's value for the cell makes a step
    /// invalid (the scenario was valid with the sample values it was loaded with).
    Scenario,
    /// The disk the instance writes to is full (ENOSPC in the runtime's answer): what the
    /// runtime said is about the machine, not its behaviour.
    NoSpace,
}

impl Status {
    /// The one-word name used in tables and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail { .. } => "fail",
            Status::Known { .. } => "known",
            Status::Fixed { .. } => "fixed",
            Status::Skip { .. } => "skip",
            Status::Error { .. } => "error",
        }
    }

    /// Whether this status makes a run fail (exit code 1).
    pub fn is_failure(&self) -> bool {
        match self {
            Status::Fail { .. } | Status::Fixed { .. } => true,
            Status::Pass | Status::Known { .. } | Status::Skip { .. } | Status::Error { .. } => {
                false
            }
        }
    }

    /// An `error` of `kind`.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Status {
        Status::Error {
            error_kind: kind,
            message: message.into(),
        }
    }
}

/// The result of checking one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "snapshot", rename_all = "kebab-case")]
pub enum SnapshotCheck {
    /// Stored and observed agree.
    Matched,
    /// They differ; `diff` is a unified diff stored -> observed; `.snap.new` was written.
    Mismatch { diff: String, new_file: PathBuf },
    /// There is no stored snapshot; `.snap.new` was written for review.
    Missing { new_file: PathBuf },
    /// The stored snapshot was (re)written.
    Updated { file: PathBuf },
    /// Snapshots were not checked.
    Skipped,
}

impl SnapshotCheck {
    /// Whether the check lets the cell pass.
    pub fn holds(&self) -> bool {
        matches!(
            self,
            SnapshotCheck::Matched | SnapshotCheck::Updated { .. } | SnapshotCheck::Skipped
        )
    }
}

/// Counts per status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
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

/// The JSON results document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsDoc {
    pub schema: u32,
    pub harness_version: String,
    pub summary: Summary,
    /// Set when a signal stopped the run: `results` then holds only the cells that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interrupted>,
    pub results: Vec<CellResult>,
}

/// How a run was cut short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interrupted {
    /// The signal number (2 SIGINT, 15 SIGTERM, 1 SIGHUP).
    pub signal: i32,
    /// How many scenario x cell results the run had planned.
    pub planned: usize,
}

/// Why a results document cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a harness results document")]
    Json(#[from] serde_json::Error),
    #[error("results schema {found} is not supported (this harness reads schema {RESULTS_SCHEMA})")]
    Schema { found: u32 },
}

impl ResultsDoc {
    /// The document for `results`, made by this build of the harness.
    pub fn new(results: Vec<CellResult>) -> ResultsDoc {
        ResultsDoc {
            schema: RESULTS_SCHEMA,
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            summary: Summary::of(&results),
            interrupted: None,
            results,
        }
    }

    /// Pretty JSON, as `--format json` and `--json FILE` write it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialize")
    }

    /// Reads a document written by [`ResultsDoc::to_json`], refusing other schema versions.
    pub fn from_json(text: &str) -> Result<ResultsDoc, ReadError> {
        #[derive(Deserialize)]
        struct Version {
            schema: u32,
        }
        let found = serde_json::from_str::<Version>(text)?.schema;
        if found != RESULTS_SCHEMA {
            return Err(ReadError::Schema { found });
        }
        Ok(serde_json::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/results/example.json");

    /// The committed example pins the schema: it reads back into these types and writes the
    /// same bytes, so a renamed, retyped or reordered field fails here. It holds real results
    /// of `harness run` on this machine plus one of each other status.
    #[test]
    fn the_committed_example_reads_back_and_writes_the_same_bytes() {
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        assert_eq!(doc.to_json(), EXAMPLE);
        assert_eq!(doc.schema, RESULTS_SCHEMA);
        assert_eq!(doc.summary, Summary::of(&doc.results));
        let words: std::collections::BTreeSet<&str> =
            doc.results.iter().map(|r| r.status.word()).collect();
        assert_eq!(words.len(), 6, "every status is in the example: {words:?}");
    }

    /// `results.schema.json` (at the repository root, beside the matrix and scenario schemas)
    /// accepts the committed example and a real run's document, and refuses a document that
    /// breaks the shape (an unknown status, a `fail` without reasons, an unknown key).
    #[test]
    fn the_json_schema_accepts_real_documents_and_refuses_broken_ones() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../results.schema.json")).unwrap();
        let v = jsonschema::draft202012::new(&schema).expect("a valid 2020-12 schema");
        let real = include_str!("../../tests/data/results/podman3-host.json");
        for text in [EXAMPLE, real] {
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:#?}");
        }
        let doc: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        let fail = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .position(|r| r["status"] == "fail")
            .unwrap();
        let broken: [fn(&mut serde_json::Value, usize); 4] = [
            |d, _| d["results"][0]["status"] = "bogus".into(),
            |d, i| {
                d["results"][i].as_object_mut().unwrap().remove("reasons");
            },
            |d, _| d["results"][0]["durations"] = 1.into(),
            |d, _| d["schema"] = 2.into(),
        ];
        for (n, breaks) in broken.iter().enumerate() {
            let mut d = doc.clone();
            breaks(&mut d, fail);
            assert!(!v.is_valid(&d), "breakage {n} was accepted");
        }
    }

    #[test]
    fn provenance_names_the_provider_and_its_source() {
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let mut cell = doc.results[0].cell.clone();
        assert_eq!(provenance(&cell), ("host".to_string(), None));
        for (k, v) in [
            ("provider", "debian"),
            ("suite", "trixie"),
            ("package_version", "26.1.5+dfsg1-9"),
        ] {
            cell.extra.insert(k.into(), v.into());
        }
        assert_eq!(
            provenance(&cell),
            (
                "debian".to_string(),
                Some("debian trixie 26.1.5+dfsg1-9".to_string())
            )
        );
        cell.extra.clear();
        cell.extra.insert("provider".into(), "socket".into());
        cell.extra
            .insert("socket".into(), "/run/docker.sock".into());
        assert_eq!(
            provenance(&cell).1.as_deref(),
            Some("socket /run/docker.sock")
        );
        cell.extra.clear();
        cell.extra.insert("provider".into(), "container".into());
        cell.extra.insert("suite".into(), "bullseye".into());
        assert_eq!(
            provenance(&cell).1.as_deref(),
            Some("container of debian bullseye")
        );
        cell.extra
            .insert("image".into(), "docker:25.0.0-dind".into());
        assert_eq!(
            provenance(&cell).1.as_deref(),
            Some("container docker:25.0.0-dind")
        );
    }

    #[test]
    fn other_schema_versions_are_refused() {
        let newer = EXAMPLE.replacen("\"schema\": 1", "\"schema\": 2", 1);
        assert!(matches!(
            ResultsDoc::from_json(&newer),
            Err(ReadError::Schema { found: 2 })
        ));
        assert!(matches!(
            ResultsDoc::from_json("{}"),
            Err(ReadError::Json(_))
        ));
    }

    /// The flattened `status` and `snapshot` enums share one JSON object with the result's own
    /// fields; reading back is only unambiguous while no two of them use the same key.
    #[test]
    fn flattened_fields_do_not_collide() {
        let keys = |v: serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let statuses = [
            Status::Pass,
            Status::Fail { reasons: vec![] },
            Status::Known {
                issues: vec![],
                explained: vec!["x".into()],
            },
            Status::Fixed { issues: vec![] },
            Status::Skip {
                reason: String::new(),
            },
            Status::error(ErrorKind::Panic, ""),
        ];
        let snapshots = [
            SnapshotCheck::Matched,
            SnapshotCheck::Mismatch {
                diff: String::new(),
                new_file: PathBuf::new(),
            },
            SnapshotCheck::Missing {
                new_file: PathBuf::new(),
            },
            SnapshotCheck::Updated {
                file: PathBuf::new(),
            },
            SnapshotCheck::Skipped,
        ];
        let status_keys: std::collections::BTreeSet<String> = statuses
            .iter()
            .flat_map(|s| keys(serde_json::to_value(s).unwrap()))
            .collect();
        let snapshot_keys: std::collections::BTreeSet<String> = snapshots
            .iter()
            .flat_map(|s| keys(serde_json::to_value(s).unwrap()))
            .collect();
        let own = [
            "scenario",
            "cell",
            "runtime",
            "hermetic",
            "provider",
            "source",
            "builder",
            "fixtures",
            "steps",
            "step_durations_ms",
            "duration_ms",
        ];
        assert!(status_keys.is_disjoint(&snapshot_keys));
        for k in own {
            assert!(
                !status_keys.contains(k) && !snapshot_keys.contains(k),
                "{k}"
            );
        }
        // And each variant survives a round trip inside a result.
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let template = doc.results[0].clone();
        for status in &statuses {
            for snapshot in &snapshots {
                let r = CellResult {
                    status: status.clone(),
                    snapshot: snapshot.clone(),
                    ..template.clone()
                };
                let back: CellResult =
                    serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
                assert_eq!(back, r);
            }
        }
    }
}
