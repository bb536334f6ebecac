//! The `save` step: save images from the store as one archive through the driver's
//! `save_image` (`docker save`, libpod `GET /images/export`), keep the archive as an artifact,
//! and run it through `harness inspect`'s oracles ([`crate::verify::inspect_path`]): the layout
//! class, the names from every source (RepoTags, `io.containerd.image.name`,
//! `org.opencontainers.image.ref.name`), the digests (symbolic where they equal a fixture's)
//! and the findings go into the observation and the snapshot.
//!
//! ```yaml
//! - id: save-docker
//!   save:
//!     images: [example.test/save:v1]   # one or more names or IDs: one archive
//!     format: docker-archive           # docker-archive (default) | oci-archive
//!   expect:
//!     - layout: docker-archive         # the class `harness inspect` reports
//!       names: [example.test/save:v1]  # exact set of RepoTags and io.containerd.image.name
//!       no_findings: [diffid-mismatch] # codes that must not be found
//!     - when: { runtime: docker, version: ">=25" }
//!       layout: docker-oci-hybrid
//!       findings: [ref-name-tag-only]  # codes that must be found
//! ```
//!
//! One step saves one format, so a scenario saves "every format the runtime offers" with one
//! step per format: a format the driver does not offer (Docker has one format per version, the
//! containerd gRPC driver has no export) is a skipped step with the driver's reason, never a
//! refusal in the runtime's name.
//!
//! **The artifact** is written under the instance's temp root (`<root>/artifacts/<step>.<format>.tar`)
//! and lives as long as the instance: it is removed with the instance's teardown (on success,
//! error, panic and signals alike). Where an instance has no root of its own (a `socket`
//! cell), it goes to a temp dir that lives for the step.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{ErrorObservation, Finding, Redactor};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, require_something};
use crate::runtime::{BoxFuture, SaveFormat};
use crate::verify::Inspection;

/// The `save` step kind.
pub struct Save;

/// `save: { images, format }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSave {
    images: Vec<Spanned<String>>,
    #[serde(default)]
    format: Option<SaveFormat>,
}

/// A save, resolved: at least one non-empty name, and a format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaveAction {
    pub images: Vec<String>,
    pub format: SaveFormat,
}

/// Whether the runtime wrote the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaveOutcome {
    Saved,
    Error,
}

/// What an expectation or known issue can claim about a save.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SaveClaim {
    pub outcome: Option<SaveOutcome>,
    /// The layout class `harness inspect` reports (`docker-archive`, `docker-oci-hybrid`, ...).
    pub layout: Option<String>,
    /// The exact set of names the archive carries (RepoTags and `io.containerd.image.name`).
    pub names: Option<Vec<String>>,
    /// Finding codes that must be among the archive's findings.
    pub findings: Option<Vec<String>>,
    /// Finding codes that must not be.
    pub no_findings: Option<Vec<String>>,
    /// A substring of the runtime's refusal; implies `outcome: error`.
    pub error_contains: Option<String>,
}

/// What a save observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveObservation {
    pub id: String,
    /// `save docker-archive a:1 b:2`.
    pub action: String,
    pub outcome: SaveOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// What `harness inspect` read in the archive, when one was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveObservation>,
    /// The oracles' findings on the archive, as `code` and `[severity] subject: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// An archive as `harness inspect` read it, with digests as symbols where the harness can
/// explain them. Shared with produced fixtures (`run/produce.rs`), whose snapshots show the
/// same facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveObservation {
    /// The layout class.
    pub layout: String,
    /// Whole-archive compression (`none` for what runtimes write today).
    pub compression: String,
    /// Every RepoTag and `io.containerd.image.name`, sorted and deduplicated.
    pub names: Vec<String>,
    pub images: Vec<SavedImage>,
    /// The readable problem, when the archive could not be read at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// One image of a saved archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedImage {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ref_names: Vec<String>,
    /// The `index.json` target (what Docker's containerd store reports as the ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub manifests: Vec<SavedManifest>,
}

/// One manifest of a saved image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedManifest {
    /// `null` for a `manifest.json`-only image (no manifest blob).
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attestation: bool,
    pub config: Option<String>,
    pub layers: Vec<SavedLayer>,
}

/// One layer of a saved manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedLayer {
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The compression the stored bytes have (`none`, `gzip`, ...); `null` when missing.
    pub compression: Option<String>,
    pub diff_id: Option<String>,
}

const CLAIMS: &[&str] = &[
    "outcome",
    "layout",
    "names",
    "findings",
    "no_findings",
    "error_contains",
];

/// The layout classes `harness inspect` reports, for claims.
const LAYOUTS: &[&str] = &[
    "docker-archive",
    "docker-oci-hybrid",
    "containerd-hybrid",
    "oci-archive",
    "oci-layout-dir",
    "unknown",
];

impl StepKind for Save {
    const KEY: &'static str = "save";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawSave;
    type Action = SaveAction;
    type Claim = SaveClaim;
    type Observation = SaveObservation;

    fn resolve(raw: Spanned<RawSave>, cx: &ResolveContext<'_>) -> Result<SaveAction, ConfigError> {
        let (at, raw) = (raw.referenced, raw.value);
        if raw.images.is_empty() {
            return Err(cx.error(at, "save.images", ConfigErrorKind::Empty));
        }
        let mut images = Vec::with_capacity(raw.images.len());
        for (i, name) in raw.images.into_iter().enumerate() {
            if name.value.is_empty() {
                return Err(cx.error(
                    name.referenced,
                    &format!("save.images[{i}]"),
                    ConfigErrorKind::Empty,
                ));
            }
            images.push(name.value);
        }
        Ok(SaveAction {
            images,
            format: raw.format.unwrap_or(SaveFormat::DockerArchive),
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<SaveClaim, ConfigError> {
        let outcome: Option<SaveOutcome> = r.take_choice("outcome")?;
        let layout = r.take_string("layout")?;
        let names = r.take_strings("names")?;
        let findings = r.take_strings("findings")?;
        let no_findings = r.take_strings("no_findings")?;
        let error_contains = r.take_string("error_contains")?;
        require_something(
            r,
            &[
                outcome.is_some(),
                layout.is_some(),
                names.is_some(),
                findings.is_some(),
                no_findings.is_some(),
                error_contains.is_some(),
            ],
            CLAIMS,
        )?;
        if let Some(l) = &layout
            && !LAYOUTS.contains(&l.value.as_str())
        {
            return Err(r.error(
                l.referenced,
                "layout",
                ConfigErrorKind::Yaml(format!(
                    "unknown layout {:?}, expected one of {}",
                    l.value,
                    LAYOUTS.join(", ")
                )),
            ));
        }
        let codes = |list: Option<Vec<Spanned<String>>>, key: &str| {
            list.map(|list| {
                list.into_iter()
                    .map(|c| {
                        if crate::verify::FindingCode::ALL
                            .iter()
                            .any(|k| k.as_str() == c.value)
                        {
                            Ok(c.value)
                        } else {
                            Err(r.error(
                                c.referenced,
                                key,
                                ConfigErrorKind::Yaml(format!(
                                    "unknown finding code {:?} (see harness/src/verify/mod.rs)",
                                    c.value
                                )),
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
        };
        let findings = codes(findings, "findings")?;
        let no_findings = codes(no_findings, "no_findings")?;
        let refusal = outcome == Some(SaveOutcome::Error) || error_contains.is_some();
        if refusal && (layout.is_some() || names.is_some() || findings.is_some()) {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "layout, names and findings describe a saved archive and cannot be combined with a refusal",
            )));
        }
        if outcome == Some(SaveOutcome::Saved) && error_contains.is_some() {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "error_contains cannot be combined with outcome: saved",
            )));
        }
        Ok(SaveClaim {
            outcome,
            layout: layout.map(|l| l.value),
            names: names.map(|n| {
                n.into_iter()
                    .map(|n| n.value)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            }),
            findings,
            no_findings,
            error_contains: error_contains.map(|e| e.value),
        })
    }

    fn describe(action: &SaveAction) -> String {
        format!(
            "save {} {}",
            action.format.as_str(),
            action.images.join(" ")
        )
    }

    fn run<'a>(
        id: &'a str,
        action: &'a SaveAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<SaveObservation, StepError>> {
        Box::pin(async move {
            // The artifact dir: the instance's root (torn down with it), or a temp dir for the
            // step where the instance has none of its own.
            let root = cx.redact.root;
            let (_scratch, dir) = if root.as_os_str().is_empty() || !root.is_dir() {
                let t = tempfile::Builder::new()
                    .prefix("harness-save-")
                    .tempdir()
                    .map_err(|e| StepError::Precondition(format!("no temp dir for save: {e}")))?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            } else {
                (None, root.join("artifacts"))
            };
            std::fs::create_dir_all(&dir).map_err(|e| {
                StepError::Precondition(format!("cannot create {}: {e}", dir.display()))
            })?;
            let out = dir.join(format!("{id}.{}.tar", action.format.as_str()));
            let saved = cx
                .runtime
                .save_image(&action.images, action.format, &out)
                .await?;
            let mut obs = SaveObservation {
                id: id.to_string(),
                action: Self::describe(action),
                outcome: SaveOutcome::Saved,
                error: None,
                archive: None,
                findings: Vec::new(),
            };
            match saved {
                Err(r) => {
                    obs.outcome = SaveOutcome::Error;
                    obs.error = Some(cx.redact.rejection(&r));
                }
                Ok(()) => {
                    let (archive, findings) = inspect_artifact(out, cx.redact).await?;
                    obs.archive = Some(archive);
                    obs.findings = findings;
                }
            }
            Ok(obs)
        })
    }

    fn contradictions(claim: &SaveClaim, obs: &SaveObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let mut push = |claim, message| out.push(Contradiction::of(claim, message));
        let want_outcome = claim
            .outcome
            .or(claim.error_contains.as_ref().map(|_| SaveOutcome::Error));
        if let Some(want) = want_outcome
            && want != obs.outcome
        {
            let why = obs
                .error
                .as_ref()
                .map(|e| format!(": {}", e.message))
                .unwrap_or_default();
            push(
                "outcome",
                format!(
                    "{}: expected outcome {want:?}, got {:?}{why}",
                    obs.id, obs.outcome
                ),
            );
        }
        let layout = obs.archive.as_ref().map(|a| a.layout.as_str());
        if let Some(want) = &claim.layout
            && layout != Some(want.as_str())
        {
            push(
                "layout",
                format!(
                    "{}: expected layout {want}, got {}",
                    obs.id,
                    layout.unwrap_or("no archive")
                ),
            );
        }
        if let Some(want) = &claim.names {
            let got: Vec<String> = obs
                .archive
                .as_ref()
                .map(|a| a.names.clone())
                .unwrap_or_default();
            if *want != got {
                push(
                    "names",
                    format!("{}: expected names {want:?}, got {got:?}", obs.id),
                );
            }
        }
        let codes: BTreeSet<&str> = obs.findings.iter().map(|f| f.code.as_str()).collect();
        for code in claim.findings.iter().flatten() {
            if !codes.contains(code.as_str()) {
                push(
                    "findings",
                    format!("{}: expected finding {code}, got {codes:?}", obs.id),
                );
            }
        }
        for code in claim.no_findings.iter().flatten() {
            if codes.contains(code.as_str()) {
                push(
                    "no_findings",
                    format!("{}: expected no finding {code}, but it is there", obs.id),
                );
            }
        }
        if let Some(want) = &claim.error_contains {
            match &obs.error {
                Some(e) if e.message.contains(want.as_str()) => {}
                Some(e) => push(
                    "error_contains",
                    format!(
                        "{}: expected an error containing {want:?}, got {:?}",
                        obs.id, e.message
                    ),
                ),
                None => push(
                    "error_contains",
                    format!(
                        "{}: expected an error containing {want:?}, but it saved",
                        obs.id
                    ),
                ),
            }
        }
        out
    }

    fn id(obs: &SaveObservation) -> &str {
        &obs.id
    }

    fn findings(obs: &SaveObservation) -> &[Finding] {
        &obs.findings
    }
}

/// Inspects a written archive off the async workers and turns the inspection into an
/// observation and findings. An archive the reader cannot read at all is an observation too
/// (`unreadable`), not a harness error: the runtime wrote it.
pub async fn inspect_artifact(
    path: PathBuf,
    redact: &Redactor<'_>,
) -> Result<(ArchiveObservation, Vec<Finding>), StepError> {
    let inspected = tokio::task::spawn_blocking(move || crate::verify::inspect_path(&path))
        .await
        .map_err(|e| StepError::Precondition(format!("inspecting the saved archive: {e}")))?;
    Ok(match inspected {
        Ok(inspection) => observe_inspection(&inspection, redact),
        Err(e) => (
            ArchiveObservation {
                layout: "unknown".into(),
                compression: "none".into(),
                names: Vec::new(),
                images: Vec::new(),
                unreadable: Some(redact.text(&crate::run::error_chain(&e))),
            },
            Vec::new(),
        ),
    })
}

/// The observation of an inspection: digests through the redactor's book, texts redacted.
pub fn observe_inspection(
    inspection: &Inspection,
    redact: &Redactor<'_>,
) -> (ArchiveObservation, Vec<Finding>) {
    let sym = |d: &crate::oci::Digest| redact.book.symbol(d.as_str());
    let report = &inspection.report;
    let mut names = BTreeSet::new();
    let images = report
        .images
        .iter()
        .map(|image| {
            names.extend(image.names.repo_tags.iter().cloned());
            names.extend(image.names.image_names.iter().cloned());
            SavedImage {
                repo_tags: image.names.repo_tags.clone(),
                image_names: image.names.image_names.clone(),
                ref_names: image.names.ref_names.clone(),
                target: image.target.as_ref().map(|t| sym(&t.digest)),
                manifests: image
                    .manifests
                    .iter()
                    .map(|m| SavedManifest {
                        digest: m.digest.as_ref().map(sym),
                        media_type: m.media_type.clone(),
                        platform: m.platform.as_ref().map(|p| p.to_string()),
                        attestation: m.attestation,
                        config: m.config.as_ref().and_then(|c| c.digest.as_ref()).map(sym),
                        layers: m
                            .layers
                            .iter()
                            .map(|l| SavedLayer {
                                digest: l.digest.as_ref().map(sym),
                                media_type: l.media_type.clone(),
                                compression: l.blob.as_ref().map(|b| b.compression.to_string()),
                                diff_id: l.diff_id.as_ref().map(sym),
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let findings = inspection
        .findings
        .iter()
        .map(|f| Finding {
            code: f.code.as_str().to_string(),
            message: redact.text(&format!(
                "[{}] {}: {}",
                f.severity.as_str(),
                f.subject,
                f.message
            )),
        })
        .collect();
    (
        ArchiveObservation {
            layout: report.layout.as_str().to_string(),
            compression: report.compression.to_string(),
            names: names.into_iter().collect(),
            images,
            unreadable: None,
        },
        findings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeError;

    fn obs(layout: &str, names: &[&str], codes: &[&str]) -> SaveObservation {
        SaveObservation {
            id: "s".into(),
            action: "save docker-archive x".into(),
            outcome: SaveOutcome::Saved,
            error: None,
            archive: Some(ArchiveObservation {
                layout: layout.into(),
                compression: "none".into(),
                names: names.iter().map(|s| s.to_string()).collect(),
                images: vec![],
                unreadable: None,
            }),
            findings: codes
                .iter()
                .map(|c| Finding {
                    code: c.to_string(),
                    message: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let claim = SaveClaim {
            layout: Some("docker-oci-hybrid".into()),
            names: Some(vec!["a:1".into()]),
            findings: Some(vec!["ref-name-tag-only".into()]),
            no_findings: Some(vec!["diffid-mismatch".into()]),
            ..Default::default()
        };
        let good = obs("docker-oci-hybrid", &["a:1"], &["ref-name-tag-only"]);
        assert!(Save::contradictions(&claim, &good).is_empty());
        let bad = obs("docker-archive", &["b:1"], &["diffid-mismatch"]);
        let keys: Vec<_> = Save::contradictions(&claim, &bad)
            .iter()
            .map(|c| c.claim)
            .collect();
        assert_eq!(keys, ["layout", "names", "findings", "no_findings"]);
    }

    #[test]
    fn a_refusal_contradicts_layout_claims_and_satisfies_error_claims() {
        let refused = SaveObservation {
            outcome: SaveOutcome::Error,
            error: Some(ErrorObservation {
                status: Some(500),
                class: None,
                message: "multi-image archives are only supported in docker-archive".into(),
            }),
            archive: None,
            findings: vec![],
            ..obs("x", &[], &[])
        };
        let claim = SaveClaim {
            error_contains: Some("multi-image".into()),
            ..Default::default()
        };
        assert!(Save::contradictions(&claim, &refused).is_empty());
        let layout = SaveClaim {
            layout: Some("oci-archive".into()),
            ..Default::default()
        };
        assert_eq!(Save::contradictions(&layout, &refused).len(), 1);
    }

    /// The JSON results read back (`ResultsDoc::from_json`) through the untagged
    /// `Observation`: each new kind must come back as itself, a refusal included.
    #[test]
    fn save_remove_and_list_observations_read_back_as_their_own_kind() {
        use crate::steps::Observation;
        let refused = SaveObservation {
            outcome: SaveOutcome::Error,
            error: Some(ErrorObservation {
                status: Some(500),
                class: None,
                message: "no".into(),
            }),
            archive: None,
            findings: vec![],
            ..obs("x", &[], &[])
        };
        let remove = crate::steps::remove::RemoveObservation {
            id: "r".into(),
            action: "remove a".into(),
            outcome: crate::steps::remove::RemoveWord::Error,
            error: None,
            untagged: vec![],
            deleted: vec![],
            names_removed: vec![],
            images_gone: vec![],
        };
        let list = crate::steps::list::ListObservation {
            id: "l".into(),
            action: "list".into(),
            images: vec![],
        };
        for o in [
            Observation::Save(obs("docker-archive", &["a:1"], &["ref-name-tag-only"])),
            Observation::Save(refused),
            Observation::Remove(remove),
            Observation::List(list),
        ] {
            let json = serde_json::to_string(&o).unwrap();
            let back: Observation = serde_json::from_str(&json).unwrap();
            assert_eq!(back, o, "{json}");
        }
    }

    #[test]
    fn unsupported_formats_are_the_driver_saying_so() {
        // The runner turns this error into a skipped step (run/mod.rs run_steps).
        let e = RuntimeError::Unsupported {
            runtime: crate::runtime::RuntimeKind::Containerd,
            operation: "save as docker-archive".into(),
        };
        assert!(e.unsupported().is_some());
    }
}
