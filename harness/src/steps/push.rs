//! The `push` step: push an image in the store to the local registry
//! (`runtime/registry.rs`) through the runtime's API, and read back what landed there.
//!
//! The destination is `<registry host:port>/<to>`; snapshots show the host as `<registry>`
//! (the redactor's job). What the runtime reported (its digest, its status lines) is kept
//! apart from what the registry then serves for the tag: the digest of the bytes, the media
//! type, for an index each platform's manifest, and whether the pusher *rewrote* the image
//! (the landed digest is none of the fixtures' digests: Docker's classic store pushes a Docker
//! schema 2 manifest with gzip layers it built itself; Podman converts to OCI and compresses;
//! ctr 1.x with `--platform` pushes that platform's manifest in place of the index). A refusal
//! (R3's `content digest ... not found`, a registry's `manifest blob unknown`) is an outcome.
//!
//! ```yaml
//! - id: push
//!   push:
//!     image: example.test/pushpull:v1   # a name the image has in the store
//!     to: pushpull:v1                   # repository:tag in the registry
//!     # platform: linux/amd64           # push one platform of an index (ctr, Docker >= 27)
//!     # compression: zstd               # Podman's compressionFormat (gzip, zstd)
//!   expect:
//!     - outcome: pushed                 # pushed | refused
//!       landed_is: manifest             # which digest of a fixture landed: config | manifest | index
//!     - when: { runtime: docker, store: overlay2 }
//!       rewritten: true                 # the landed digest is none of the fixtures'
//! ```

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{DigestRole, ErrorObservation, Finding, Redactor};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, IdRole, require_something};
use crate::runtime::provider::ProviderError;
use crate::runtime::registry::{Landed, Registry};
use crate::runtime::{BoxFuture, PushOutcome, PushRequest, RuntimeError};

/// The `push` step kind.
pub struct Push;

/// `push:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPush {
    image: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    compression: Option<String>,
}

/// Push `image` to `<registry>/<to>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushAction {
    pub image: String,
    /// `repository:tag` in the registry (the tag is required).
    pub to: String,
    pub platform: Option<String>,
    pub compression: Option<String>,
}

/// What a push ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushResult {
    Pushed,
    Refused,
}

/// What an expectation or known issue can claim about a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushClaim {
    pub outcome: Option<PushResult>,
    pub error_contains: Option<String>,
    /// Which digest of a fixture the landed manifest or index is.
    pub landed_is: Option<IdRole>,
    /// Whether the landed digest is none of the fixtures' (the pusher built its own document).
    pub rewritten: Option<bool>,
}

/// One entry of a landed index, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandedManifest {
    pub digest: String,
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub present: bool,
}

/// What the registry serves for the pushed tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandedObservation {
    /// Symbolic where it is a fixture's digest (`index(multi)`).
    pub digest: String,
    pub media_type: String,
    /// Which digest of a fixture it is; `None`: the pusher rewrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_is: Option<DigestRole>,
    pub rewritten: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<LandedManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// What a push step observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushObservation {
    pub id: String,
    /// `push <image>`.
    pub action: String,
    /// `<registry>/<to>`.
    pub destination: String,
    pub outcome: PushResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// The digest the runtime reported pushing, where it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_digest: Option<String>,
    /// The runtime's status lines (progress removed), redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// What the registry serves for the tag afterwards; `None`: nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<LandedObservation>,
}

const CLAIMS: &[&str] = &["outcome", "error_contains", "landed_is", "rewritten"];

/// The registry of the step's cell (started on first use), or why there is none: a registry
/// binary that is not installed makes the step unsupported here (a skip with that reason),
/// except under CI, which must run every step it plans; anything else is a broken
/// precondition.
pub(super) async fn registry_of(
    cx: &StepContext<'_>,
    operation: &str,
) -> Result<std::sync::Arc<Registry>, StepError> {
    match cx.registry.get().await {
        Ok(r) => Ok(r),
        Err(e @ ProviderError::BinaryNotFound { .. }) if !crate::run::in_ci() => {
            Err(StepError::Runtime(RuntimeError::Unsupported {
                runtime: cx.info.runtime,
                operation: format!("{operation} without a local registry ({e})"),
            }))
        }
        Err(e) => Err(StepError::Precondition(format!(
            "the local registry did not start: {}",
            crate::run::error_chain(&e)
        ))),
    }
}

/// `repository` and `tag` of `repo:tag` (the tag after the last `:` past the last `/`).
pub(super) fn split_to(to: &str) -> Option<(&str, &str)> {
    let (repo, tag) = crate::runtime::split_repo_tag(to);
    (!repo.is_empty() && !tag.is_empty()).then_some((repo, tag))
}

/// `landed`, with digests as symbols.
pub(super) fn observe_landed(landed: &Landed, redact: &Redactor<'_>) -> LandedObservation {
    let book = redact.book;
    let digest_is = book.lookup(&landed.digest).map(|(role, _)| role);
    LandedObservation {
        digest: book.symbol(&landed.digest),
        media_type: landed.media_type.clone(),
        digest_is,
        rewritten: digest_is.is_none(),
        manifests: landed
            .manifests
            .iter()
            .map(|m| LandedManifest {
                digest: book.symbol(&m.digest),
                media_type: m.media_type.clone(),
                platform: m.platform.clone(),
                present: m.present,
            })
            .collect(),
        config: landed.config.as_deref().map(|c| book.symbol(c)),
        layers: landed.layers.clone(),
    }
}

/// `landed_is` of a push or publish: the message when what landed is not the `want` digest
/// of a fixture.
pub(super) fn landed_contradiction(
    id: &str,
    landed: Option<&LandedObservation>,
    want: IdRole,
) -> Option<String> {
    let want = DigestRole::from(want);
    let got = landed.and_then(|l| l.digest_is);
    (got != Some(want)).then(|| {
        format!(
            "{id}: expected the {} digest to land, got {}",
            want.as_str(),
            landed.map_or("nothing".to_string(), |l| l.digest.clone())
        )
    })
}

impl StepKind for Push {
    const KEY: &'static str = "push";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawPush;
    type Action = PushAction;
    type Claim = PushClaim;
    type Observation = PushObservation;

    fn resolve(raw: Spanned<RawPush>, cx: &ResolveContext<'_>) -> Result<PushAction, ConfigError> {
        let raw = raw.value;
        if raw.image.value.is_empty() {
            return Err(cx.error(raw.image.referenced, "push.image", ConfigErrorKind::Empty));
        }
        if split_to(&raw.to.value).is_none() {
            return Err(cx.error(
                raw.to.referenced,
                "push.to",
                ConfigErrorKind::Conflict("`to` must be repository:tag"),
            ));
        }
        Ok(PushAction {
            image: raw.image.value,
            to: raw.to.value,
            platform: raw.platform,
            compression: raw.compression,
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<PushClaim, ConfigError> {
        let outcome: Option<PushResult> = r.take_choice("outcome")?;
        let error_contains = r.take_string("error_contains")?.map(|s| s.value);
        let landed_is: Option<IdRole> = r.take_choice("landed_is")?;
        let rewritten = match r.take_string("rewritten")? {
            None => None,
            Some(v) => match v.value.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    return Err(r.error(
                        v.referenced,
                        "rewritten",
                        ConfigErrorKind::WrongType {
                            expected: "true or false",
                        },
                    ));
                }
            },
        };
        require_something(
            r,
            &[
                outcome.is_some(),
                error_contains.is_some(),
                landed_is.is_some(),
                rewritten.is_some(),
            ],
            CLAIMS,
        )?;
        Ok(PushClaim {
            outcome,
            error_contains,
            landed_is,
            rewritten,
        })
    }

    fn describe(action: &PushAction) -> String {
        let mut s = format!("push {} to <registry>/{}", action.image, action.to);
        if let Some(p) = &action.platform {
            s.push_str(&format!(" --platform {p}"));
        }
        if let Some(c) = &action.compression {
            s.push_str(&format!(" --compression-format {c}"));
        }
        s
    }

    fn run<'a>(
        id: &'a str,
        action: &'a PushAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<PushObservation, StepError>> {
        Box::pin(async move {
            let registry = registry_of(cx, "push").await?;
            // `<registry>/name:tag` is an image pulled from the cell's registry.
            let source = match action.image.strip_prefix("<registry>/") {
                Some(rest) => registry.reference(rest),
                None => action.image.clone(),
            };
            let request = PushRequest {
                source,
                destination: registry.reference(&action.to),
                platform: action.platform.clone(),
                all_platforms: false,
                compression: action.compression.clone(),
            };
            let outcome = cx.runtime.push_image(&request).await?;
            let (repo, tag) = split_to(&action.to).expect("resolved");
            let landed = registry.client().landed(repo, tag).await.map_err(|e| {
                StepError::Precondition(format!(
                    "reading back the push: {}",
                    crate::run::error_chain(&e)
                ))
            })?;
            let redact = cx.redact;
            let (result, error, reported_digest, messages) = match outcome {
                PushOutcome::Pushed { digest, messages } => (
                    PushResult::Pushed,
                    None,
                    digest.map(|d| redact.book.symbol(&d)),
                    messages.iter().map(|m| redact.text(m)).collect(),
                ),
                PushOutcome::Error(r) => (
                    PushResult::Refused,
                    Some(redact.rejection(&r)),
                    None,
                    Vec::new(),
                ),
            };
            Ok(PushObservation {
                id: id.to_string(),
                action: Self::describe(action),
                destination: redact.text(&request.destination),
                outcome: result,
                error,
                reported_digest,
                messages,
                landed: landed.as_ref().map(|l| observe_landed(l, redact)),
            })
        })
    }

    fn contradictions(claim: &PushClaim, obs: &PushObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let mut push = |claim, message| out.push(Contradiction::of(claim, message));
        if let Some(want) = claim.outcome
            && want != obs.outcome
        {
            push(
                "outcome",
                format!(
                    "{}: expected outcome {want:?}, got {:?}",
                    obs.id, obs.outcome
                ),
            );
        }
        if let Some(text) = &claim.error_contains {
            let got = obs.error.as_ref().map(|e| e.message.as_str());
            if !got.is_some_and(|m| m.contains(text.as_str())) {
                push(
                    "error_contains",
                    format!(
                        "{}: expected an error containing {text:?}, got {got:?}",
                        obs.id
                    ),
                );
            }
        }
        if let Some(message) = claim
            .landed_is
            .and_then(|want| landed_contradiction(&obs.id, obs.landed.as_ref(), want))
        {
            push("landed_is", message);
        }
        if let Some(want) = claim.rewritten {
            let got = obs.landed.as_ref().map(|l| l.rewritten);
            if got != Some(want) {
                push(
                    "rewritten",
                    format!("{}: expected rewritten: {want}, got {got:?}", obs.id),
                );
            }
        }
        out
    }

    fn id(obs: &PushObservation) -> &str {
        &obs.id
    }

    fn findings(_: &PushObservation) -> &[Finding] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_needs_a_repository_and_a_tag() {
        assert_eq!(split_to("pushpull:v1"), Some(("pushpull", "v1")));
        assert_eq!(split_to("a/b:c"), Some(("a/b", "c")));
        assert_eq!(split_to("pushpull"), None);
        assert_eq!(split_to(":v1"), None);
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let obs = PushObservation {
            id: "p".into(),
            action: "push x".into(),
            destination: "<registry>/x:1".into(),
            outcome: PushResult::Pushed,
            error: None,
            reported_digest: None,
            messages: vec![],
            landed: Some(LandedObservation {
                digest: "index(multi)".into(),
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                digest_is: Some(DigestRole::Index),
                rewritten: false,
                manifests: vec![],
                config: None,
                layers: vec![],
            }),
        };
        let claim = PushClaim {
            outcome: Some(PushResult::Pushed),
            landed_is: Some(IdRole::Index),
            rewritten: Some(false),
            ..Default::default()
        };
        assert!(Push::contradictions(&claim, &obs).is_empty());
        let wrong = PushClaim {
            outcome: Some(PushResult::Refused),
            landed_is: Some(IdRole::Manifest),
            rewritten: Some(true),
            error_contains: Some("not found".into()),
        };
        let keys: Vec<_> = Push::contradictions(&wrong, &obs)
            .iter()
            .map(|c| c.claim)
            .collect();
        assert_eq!(
            keys,
            ["outcome", "error_contains", "landed_is", "rewritten"]
        );
    }
}
