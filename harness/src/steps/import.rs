//! The `import` step: import a rootfs tarball fixture as a one-layer image (`docker import`
//! through `POST /images/create?fromSrc=-`, libpod `POST /libpod/images/import`), streamed,
//! then check what the runtime *stored* with the stored-image oracle ([`stored_oracle`],
//! `verify/stored.rs`): the image is saved back through the driver and read with the
//! streaming archive reader, and its config's DiffIDs are compared with the sha256 of the
//! decompressed tarball the harness crafted (R2).
//!
//! ```yaml
//! fixtures:
//!   rootfs-xz: { rootfs: { compression: xz, files: [{ path: etc/hello, content: "hi\n" }] } }
//! steps:
//!   - id: import-xz
//!     import:
//!       fixture: rootfs-xz
//!       reference: example.test/imported:xz   # optional; sent as written
//!       message: imported by harness          # optional
//!       changes: ['CMD ["/bin/sh"]']          # optional Dockerfile instructions
//!     expect:
//!       - outcome: imported                   # imported | error
//!         names: [example.test/imported:xz]
//!         diffid_matches: true                # the stored DiffID is the decompressed content's
//!       - when: { runtime: podman, version: "5.4.0" }
//!         error_contains: does not match config's DiffID
//! ```
//!
//! The ID of an imported image is new on every run (its config records the time of the
//! import), so the observation says which digest of the *stored* image it is
//! (`config(imported)`, `manifest(imported)`), not its hex. containerd's API has no rootfs
//! import; there the step is skipped with the driver's reason.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{ErrorObservation, Finding, Redactor};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, require_something};
use crate::oci::Digest;
use crate::runtime::{BoxFuture, ImportOutcome, ImportRequest, Runtime, RuntimeError, SaveFormat};
use crate::verify::stored::{self, StoredFinding};

/// The `import` step kind.
pub struct Import;

/// `import: { fixture, reference, message, changes }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImport {
    fixture: Spanned<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    changes: Vec<String>,
}

/// The resolved action: the rootfs fixture exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportAction {
    pub fixture: String,
    pub reference: Option<String>,
    pub message: Option<String>,
    pub changes: Vec<String>,
}

/// Whether the runtime created an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportOutcomeKind {
    Imported,
    Error,
}

/// `true` / `false` as a claim choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Flag {
    #[serde(rename = "true")]
    True,
    #[serde(rename = "false")]
    False,
}

/// What an expectation or known issue can claim about an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportClaim {
    pub outcome: Option<ImportOutcomeKind>,
    /// The exact names of the imported image, sorted.
    pub names: Option<Vec<String>>,
    /// A substring of the runtime's error; implies `outcome: error`.
    pub error_contains: Option<String>,
    /// Whether the stored config's DiffIDs are those of the decompressed content.
    pub diffid_matches: Option<bool>,
}

/// The imported image as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedImage {
    /// Names (RepoTags), sorted.
    pub names: Vec<String>,
    /// Which digest of the stored image the ID is: `config(imported)`, `manifest(imported)`,
    /// or `<id>` when it is neither (or the stored image could not be read).
    pub id: String,
}

/// What the runtime stored, read back by saving the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredObservation {
    /// How it was read back (`save oci-archive`, `save docker-archive`).
    pub read_by: String,
    /// The stored config's `rootfs.diff_ids`, symbolic (`layer(rootfs-xz)` is the decompressed
    /// content, `rootfs(rootfs-xz)` the compressed file as imported).
    pub diff_ids: Vec<String>,
    /// The saved layers: media type, and the compression their bytes have.
    pub layers: Vec<StoredLayerObservation>,
    /// Every stored DiffID is the sha256 of the decompressed content the harness gave, and the
    /// layer count agrees. `None` when nothing could be read.
    pub diffid_matches: Option<bool>,
    /// Why nothing could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One saved layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredLayerObservation {
    pub media_type: Option<String>,
    pub compression: Option<String>,
    /// The sha256 of its decompressed bytes, symbolic.
    pub content: Option<String>,
}

/// What an import observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportObservation {
    pub id: String,
    /// `import <fixture> [as <reference>]`.
    pub action: String,
    pub outcome: ImportOutcomeKind,
    /// The runtime's progress messages, redacted (the ID becomes `<id>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// The imported image; `null` on an error (always written, which also keeps an import's
    /// observation apart from a load's when results are read back).
    pub image: Option<ImportedImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredObservation>,
    /// The stored-image oracle's findings (`stored-diffid-mismatch`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

const CLAIMS: &[&str] = &["outcome", "names", "error_contains", "diffid_matches"];

impl StepKind for Import {
    const KEY: &'static str = "import";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawImport;
    type Action = ImportAction;
    type Claim = ImportClaim;
    type Observation = ImportObservation;

    fn resolve(
        raw: Spanned<RawImport>,
        cx: &ResolveContext<'_>,
    ) -> Result<ImportAction, ConfigError> {
        let raw = raw.value;
        if !cx.rootfs.contains_key(&raw.fixture.value) {
            return Err(cx.error(
                raw.fixture.referenced,
                "import.fixture",
                ConfigErrorKind::UnknownFixture {
                    name: raw.fixture.value,
                    known: cx.rootfs.keys().cloned().collect(),
                },
            ));
        }
        Ok(ImportAction {
            fixture: raw.fixture.value,
            reference: raw.reference,
            message: raw.message,
            changes: raw.changes,
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<ImportClaim, ConfigError> {
        let outcome: Option<ImportOutcomeKind> = r.take_choice("outcome")?;
        let names = r.take_strings("names")?;
        let error_contains = r.take_string("error_contains")?;
        let diffid_matches: Option<Flag> = r.take_choice("diffid_matches")?;
        require_something(
            r,
            &[
                outcome.is_some(),
                names.is_some(),
                error_contains.is_some(),
                diffid_matches.is_some(),
            ],
            CLAIMS,
        )?;
        if outcome == Some(ImportOutcomeKind::Imported) && error_contains.is_some() {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "error_contains cannot be combined with outcome: imported",
            )));
        }
        if (outcome == Some(ImportOutcomeKind::Error) || error_contains.is_some())
            && (names.is_some() || diffid_matches.is_some())
        {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "names and diffid_matches describe an imported image and cannot be combined with a refusal",
            )));
        }
        if let Some(text) = &error_contains
            && text.value.is_empty()
        {
            return Err(r.error(text.referenced, "error_contains", ConfigErrorKind::Empty));
        }
        let names = names.map(|n| {
            let mut v: Vec<String> = n.into_iter().map(|s| s.value).collect();
            v.sort();
            v.dedup();
            v
        });
        Ok(ImportClaim {
            outcome,
            names,
            error_contains: error_contains.map(|e| e.value),
            diffid_matches: diffid_matches.map(|f| f == Flag::True),
        })
    }

    fn describe(action: &ImportAction) -> String {
        match &action.reference {
            Some(r) => format!("import {} as {r}", action.fixture),
            None => format!("import {}", action.fixture),
        }
    }

    fn run<'a>(
        id: &'a str,
        action: &'a ImportAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<ImportObservation, StepError>> {
        Box::pin(async move {
            let rt = cx.runtime;
            let request = ImportRequest {
                archive: cx.fixtures.rootfs_path(&action.fixture),
                reference: action.reference.as_deref(),
                message: action.message.as_deref(),
                changes: &action.changes,
            };
            let outcome = rt.import_image(&request).await?;
            let mut obs = ImportObservation {
                id: id.to_string(),
                action: Self::describe(action),
                outcome: ImportOutcomeKind::Error,
                messages: Vec::new(),
                error: None,
                image: None,
                stored: None,
                findings: Vec::new(),
            };
            let (image_id, messages) = match outcome {
                ImportOutcome::Error(r) => {
                    obs.error = Some(cx.redact.rejection(&r));
                    return Ok(obs);
                }
                ImportOutcome::Imported { id, messages } => (id, messages),
            };
            obs.outcome = ImportOutcomeKind::Imported;
            let hex = image_id.rsplit(':').next().unwrap_or(&image_id).to_string();
            obs.messages = messages
                .iter()
                .map(|m| {
                    cx.redact
                        .text(&m.replace(&hex, "<id>"))
                        .replace("sha256:<id>", "<id>")
                })
                .collect();
            let record = rt.inspect_image(&image_id).await?.ok_or_else(|| {
                StepError::Precondition(format!(
                    "the runtime reported importing {image_id} but does not find it"
                ))
            })?;
            let facts = cx.fixtures.rootfs_facts(&action.fixture);
            let read = stored_oracle(rt, &image_id, std::slice::from_ref(&facts.diff_id)).await?;
            obs.image = Some(ImportedImage {
                names: record.names.clone(),
                id: read.id_symbol.clone(),
            });
            obs.findings = read.findings(cx.redact);
            obs.stored = Some(read.observation(cx.redact));
            Ok(obs)
        })
    }

    fn contradictions(claim: &ImportClaim, obs: &ImportObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let mut push = |claim, message| out.push(Contradiction::of(claim, message));
        let word = |o: ImportOutcomeKind| match o {
            ImportOutcomeKind::Imported => "imported",
            ImportOutcomeKind::Error => "error",
        };
        let want_outcome = claim.outcome.or(claim
            .error_contains
            .as_ref()
            .map(|_| ImportOutcomeKind::Error));
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
                    "{}: expected outcome {}, got {}{why}",
                    obs.id,
                    word(want),
                    word(obs.outcome)
                ),
            );
        }
        if let Some(want) = &claim.names {
            let got = obs
                .image
                .as_ref()
                .map(|i| i.names.clone())
                .unwrap_or_default();
            if *want != got {
                push(
                    "names",
                    format!("{}: expected names {want:?}, got {got:?}", obs.id),
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
                        "{}: expected an error containing {want:?}, but it succeeded",
                        obs.id
                    ),
                ),
            }
        }
        if let Some(want) = claim.diffid_matches {
            let got = obs.stored.as_ref().and_then(|s| s.diffid_matches);
            if got != Some(want) {
                let got = match got {
                    Some(g) => g.to_string(),
                    None => "nothing stored to compare".into(),
                };
                push(
                    "diffid_matches",
                    format!("{}: expected diffid_matches {want}, got {got}", obs.id),
                );
            }
        }
        out
    }

    /// A known issue that claims a refusal also explains the facts of an imported image.
    fn explains(known: &ImportClaim, c: &Contradiction) -> bool {
        let claims_refusal =
            known.outcome == Some(ImportOutcomeKind::Error) || known.error_contains.is_some();
        Self::asserted(known).contains(&c.claim)
            || (claims_refusal && matches!(c.claim, "outcome" | "names" | "diffid_matches"))
    }

    fn id(obs: &ImportObservation) -> &str {
        &obs.id
    }

    fn findings(obs: &ImportObservation) -> &[Finding] {
        &obs.findings
    }
}

/// What the stored-image oracle read and found for one image.
#[derive(Debug, Clone)]
pub struct StoredRead {
    /// `save oci-archive` / `save docker-archive`.
    pub read_by: String,
    /// What was read, `None` when the image could not be saved or read back.
    pub image: Option<stored::StoredImage>,
    /// Why nothing could be read.
    pub error: Option<String>,
    /// Which digest of the stored image the ID is (`config(imported)`), or `<id>`.
    pub id_symbol: String,
    /// The oracle's findings, digests in full.
    pub findings: Vec<StoredFinding>,
    /// The driver cannot save at all (containerd's gRPC driver): nothing could be read, and
    /// that says nothing about what the runtime stored.
    pub unsupported: bool,
}

impl StoredRead {
    /// The findings as step findings, digests symbolic.
    pub fn findings(&self, redact: &Redactor<'_>) -> Vec<Finding> {
        self.findings
            .iter()
            .map(|f| Finding {
                code: f.code.as_str().to_string(),
                message: redact.text(&f.message),
            })
            .collect()
    }

    /// The observation of what was stored, digests symbolic.
    pub fn observation(&self, redact: &Redactor<'_>) -> StoredObservation {
        let sym = |d: &Digest| redact.book.symbol(d.as_str());
        match &self.image {
            Some(image) => StoredObservation {
                read_by: self.read_by.clone(),
                diff_ids: image.diff_ids.iter().map(sym).collect(),
                layers: image
                    .layers
                    .iter()
                    .map(|l| StoredLayerObservation {
                        media_type: l.media_type.clone(),
                        compression: l.compression.map(|c| c.as_str().to_string()),
                        content: l.uncompressed.as_ref().map(sym),
                    })
                    .collect(),
                diffid_matches: Some(!self.findings.iter().any(|f| {
                    matches!(
                        f.code,
                        stored::StoredFindingCode::StoredDiffidMismatch
                            | stored::StoredFindingCode::StoredLayerCountMismatch
                    )
                })),
                error: None,
            },
            None => StoredObservation {
                read_by: self.read_by.clone(),
                diff_ids: Vec::new(),
                layers: Vec::new(),
                diffid_matches: None,
                error: self.error.as_ref().map(|e| redact.text(e)),
            },
        }
    }
}

/// The stored-image oracle: saves `image` (a name or ID) back through the driver's
/// `save_image` (OCI archive where the driver offers it, for the media types; else
/// docker-archive), reads the archive with the streaming reader, and checks the stored config
/// against `expected`, the DiffIDs of the content the harness gave (bottom first). The load
/// step can call it with a fixture's layer DiffIDs. `Err` only when the harness or the daemon
/// broke; a refused save is an `stored-image-unreadable` finding.
pub async fn stored_oracle(
    rt: &dyn Runtime,
    image: &str,
    expected: &[Digest],
) -> Result<StoredRead, RuntimeError> {
    let dir =
        crate::runtime::teardown::InstanceRoot::create_named("stored-").map_err(|source| {
            RuntimeError::Archive {
                path: "a temp dir for the saved image".into(),
                source,
            }
        })?;
    let out = dir.path().join("saved.tar");
    let names = [image.to_string()];
    let mut format = SaveFormat::OciArchive;
    let saved = match rt.save_image(&names, format, &out).await {
        Err(e) if e.unsupported().is_some() => {
            format = SaveFormat::DockerArchive;
            rt.save_image(&names, format, &out).await
        }
        other => other,
    };
    let read_by = format!("save {}", format.as_str());
    let unreadable = |why: String| StoredRead {
        read_by: read_by.clone(),
        image: None,
        findings: vec![stored::unreadable(why.clone())],
        error: Some(why),
        id_symbol: "<id>".into(),
        unsupported: false,
    };
    match saved {
        Err(e) if e.unsupported().is_some() => {
            return Ok(StoredRead {
                unsupported: true,
                ..unreadable(format!("the driver cannot save: {e}"))
            });
        }
        Err(e) => return Err(e),
        Ok(Err(r)) => {
            return Ok(unreadable(format!(
                "the runtime refused to save the image: {}",
                r.message
            )));
        }
        Ok(Ok(())) => {}
    }
    let path = out.clone();
    let report = tokio::task::spawn_blocking(move || crate::oci::archive::read_path(&path))
        .await
        .expect("the reader does not panic");
    drop(dir);
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            return Ok(unreadable(format!(
                "the saved archive cannot be read: {}",
                crate::run::error_chain(&e)
            )));
        }
    };
    let Some(found) = stored::stored_image(&report) else {
        return Ok(unreadable("the saved archive holds no image config".into()));
    };
    let hex = image.rsplit(':').next().unwrap_or(image);
    let id_symbol = if found.config.as_ref().is_some_and(|d| d.hex() == hex) {
        "config(imported)"
    } else if found.manifest.as_ref().is_some_and(|d| d.hex() == hex) {
        "manifest(imported)"
    } else {
        "<id>"
    };
    Ok(StoredRead {
        read_by,
        findings: stored::check_stored(expected, &found),
        image: Some(found),
        error: None,
        id_symbol: id_symbol.into(),
        unsupported: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(outcome: ImportOutcomeKind, names: &[&str], matches: Option<bool>) -> ImportObservation {
        ImportObservation {
            id: "i".into(),
            action: "import r".into(),
            outcome,
            messages: vec![],
            error: None,
            image: (outcome == ImportOutcomeKind::Imported).then(|| ImportedImage {
                names: names.iter().map(|s| s.to_string()).collect(),
                id: "config(imported)".into(),
            }),
            stored: matches.map(|m| StoredObservation {
                read_by: "save oci-archive".into(),
                diff_ids: vec![],
                layers: vec![],
                diffid_matches: Some(m),
                error: None,
            }),
            findings: vec![],
        }
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let claim = ImportClaim {
            outcome: Some(ImportOutcomeKind::Imported),
            names: Some(vec!["a:1".into()]),
            diffid_matches: Some(true),
            ..Default::default()
        };
        assert!(
            Import::contradictions(
                &claim,
                &obs(ImportOutcomeKind::Imported, &["a:1"], Some(true))
            )
            .is_empty()
        );
        let bad = Import::contradictions(
            &claim,
            &obs(ImportOutcomeKind::Imported, &["b:1"], Some(false)),
        );
        let keys: Vec<&str> = bad.iter().map(|c| c.claim).collect();
        assert_eq!(keys, ["names", "diffid_matches"]);
        let refused = Import::contradictions(&claim, &obs(ImportOutcomeKind::Error, &[], None));
        assert_eq!(refused[0].claim, "outcome");
    }

    /// Rootfs fixtures are declared among `fixtures:`; an import names one, a load cannot,
    /// and an import of an image fixture is an unknown fixture with the rootfs names listed.
    #[test]
    fn scenarios_declare_rootfs_fixtures_and_import_steps_name_them() {
        let parse = |steps: &str| {
            crate::config::parse_scenario(
                &format!(
                    "name: s\nsummary: s\nfixtures:\n  img: {{ layout: oci-archive, layers: [{{ files: [{{ path: a }}] }}] }}\n  tar: {{ rootfs: {{ compression: xz, files: [{{ path: a }}] }} }}\nsteps:\n{steps}"
                ),
                std::path::Path::new("s.yaml"),
            )
        };
        let s = parse("  - id: i\n    import: { fixture: tar, reference: a.test/x:1 }\n    expect:\n      - { outcome: imported, diffid_matches: true }\n").unwrap();
        assert_eq!(s.rootfs["tar"].compression, crate::craft::Compression::Xz);
        assert!(s.fixtures.contains_key("img") && !s.fixtures.contains_key("tar"));
        let err = parse("  - id: i\n    import: { fixture: img }\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"unknown fixture "img" (known: tar)"#),
            "{err}"
        );
        let err = parse("  - id: l\n    load: tar\n").unwrap_err().to_string();
        assert!(err.contains(r#"unknown fixture "tar""#), "{err}");
        let err = parse("  - id: i\n    import: { fixture: tar }\n    expect:\n      - { outcome: error, diffid_matches: true }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be combined"), "{err}");
        let err = parse("  - id: i\n    import: { fixture: tar }\n    expect:\n      - { diffid_matches: maybe }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("diffid_matches"), "{err}");
    }

    /// An import observation never reads back as a load observation (untagged enum).
    #[test]
    fn an_import_observation_reads_back_as_itself() {
        for o in [
            obs(ImportOutcomeKind::Error, &[], None),
            obs(ImportOutcomeKind::Imported, &["a:1"], Some(false)),
        ] {
            let o = super::super::Observation::Import(o);
            let json = serde_json::to_string(&o).unwrap();
            let back: super::super::Observation = serde_json::from_str(&json).unwrap();
            assert_eq!(back, o);
        }
    }
}
