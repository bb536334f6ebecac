//! The `pull` step: pull `<registry>/<from>` from the local registry into the store through
//! the runtime's API (optionally one platform), then look the image up by that reference and
//! observe what was stored: its names, its ID and which digest that ID is, Digest and
//! RepoDigests (the registry's host redacted as `<registry>`). A refusal is an outcome.
//!
//! With `stored: <fixture>` (the fixture the registry's image came from, crafted or
//! produced), the stored-image oracle (`import::stored_oracle`) then saves the pulled image
//! back and checks the stored config's DiffIDs and layer count against the fixture's layers:
//! a runtime that reports a pull but stored something incomplete or wrong gets a finding in
//! the snapshot (a save it refuses is `stored-image-unreadable`). Drivers that cannot save
//! (containerd's gRPC driver) record that and nothing else.
//!
//! ```yaml
//! - id: pull
//!   pull:
//!     from: pushpull:v1             # repository:tag in the registry
//!     # platform: linux/arm64       # default: the runtime's (the host's)
//!     # stored: pushed-by-docker    # check what was stored against this fixture's layers
//!   expect:
//!     - outcome: pulled             # pulled | refused
//!       names: [<registry>/pushpull:v1]
//!       id_is: manifest             # config | manifest | index
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{ErrorObservation, Finding, ImageObservation};
use super::push::{registry_of, split_to};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, IdRole, require_something};
use crate::runtime::{BoxFuture, ImageRecord, PullOutcome, PullRequest};

/// The `pull` step kind.
pub struct Pull;

/// `pull:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPull {
    from: Spanned<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    stored: Option<Spanned<String>>,
}

/// Pull `<registry>/<from>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullAction {
    /// `repository:tag` in the registry.
    pub from: String,
    pub platform: Option<String>,
    /// Check what was stored against this fixture's layers.
    pub stored: Option<String>,
}

/// What a pull ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullResult {
    Pulled,
    Refused,
}

/// What an expectation or known issue can claim about a pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullClaim {
    pub outcome: Option<PullResult>,
    pub error_contains: Option<String>,
    /// The exact names of the pulled image (with `<registry>` for the registry's host).
    pub names: Option<Vec<String>>,
    pub id_is: Option<IdRole>,
}

/// What a pull step observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullObservation {
    pub id: String,
    /// `pull <registry>/<from>`.
    pub action: String,
    /// `<registry>/<from>`.
    pub reference: String,
    pub outcome: PullResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// The image the reference names afterwards, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageObservation>,
    /// With `stored:`, what the runtime stored, read back by saving the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<super::import::StoredObservation>,
    /// The stored-image oracle's findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

const CLAIMS: &[&str] = &["outcome", "error_contains", "names", "id_is"];

impl StepKind for Pull {
    const KEY: &'static str = "pull";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawPull;
    type Action = PullAction;
    type Claim = PullClaim;
    type Observation = PullObservation;

    fn resolve(raw: Spanned<RawPull>, cx: &ResolveContext<'_>) -> Result<PullAction, ConfigError> {
        let raw = raw.value;
        if split_to(&raw.from.value).is_none() {
            return Err(cx.error(
                raw.from.referenced,
                "pull.from",
                ConfigErrorKind::Conflict("`from` must be repository:tag"),
            ));
        }
        if let Some(f) = &raw.stored
            && !cx.has_fixture(&f.value)
        {
            return Err(cx.error(
                f.referenced,
                "pull.stored",
                ConfigErrorKind::UnknownFixture {
                    name: f.value.clone(),
                    known: cx.fixture_names(),
                },
            ));
        }
        Ok(PullAction {
            from: raw.from.value,
            platform: raw.platform,
            stored: raw.stored.map(|f| f.value),
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<PullClaim, ConfigError> {
        let outcome: Option<PullResult> = r.take_choice("outcome")?;
        let error_contains = r.take_string("error_contains")?.map(|s| s.value);
        let names = r.take_strings("names")?;
        let id_is: Option<IdRole> = r.take_choice("id_is")?;
        require_something(
            r,
            &[
                outcome.is_some(),
                error_contains.is_some(),
                names.is_some(),
                id_is.is_some(),
            ],
            CLAIMS,
        )?;
        let names = names.map(|n| {
            n.into_iter()
                .map(|n| n.value)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        });
        Ok(PullClaim {
            outcome,
            error_contains,
            names,
            id_is,
        })
    }

    fn describe(action: &PullAction) -> String {
        match &action.platform {
            Some(p) => format!("pull <registry>/{} --platform {p}", action.from),
            None => format!("pull <registry>/{}", action.from),
        }
    }

    fn run<'a>(
        id: &'a str,
        action: &'a PullAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<PullObservation, StepError>> {
        Box::pin(async move {
            let registry = registry_of(cx, "pull").await?;
            let request = PullRequest {
                reference: registry.reference(&action.from),
                platform: action.platform.clone(),
                all_platforms: false,
            };
            let outcome = cx.runtime.pull_image(&request).await?;
            let redact = cx.redact;
            let (result, error, messages) = match outcome {
                PullOutcome::Pulled { messages } => (
                    PullResult::Pulled,
                    None,
                    messages.iter().map(|m| redact.text(m)).collect(),
                ),
                PullOutcome::Error(r) => (PullResult::Refused, Some(redact.rejection(&r)), vec![]),
            };
            let image = cx
                .runtime
                .inspect_image(&request.reference)
                .await?
                .map(|r| observe(&r, cx));
            let (mut stored, mut findings) = (None, Vec::new());
            if let (Some(fixture), Some(_)) = (&action.stored, &image) {
                let expected: Vec<_> = cx
                    .fixtures
                    .facts(fixture)
                    .layers
                    .iter()
                    .map(|l| l.diff_id.clone())
                    .collect();
                let read =
                    super::import::stored_oracle(cx.runtime, &request.reference, &expected).await?;
                if !read.unsupported {
                    findings = read.findings(redact);
                }
                stored = Some(read.observation(redact));
            }
            Ok(PullObservation {
                id: id.to_string(),
                action: Self::describe(action),
                reference: redact.text(&request.reference),
                outcome: result,
                error,
                messages,
                image,
                stored,
                findings,
            })
        })
    }

    fn contradictions(claim: &PullClaim, obs: &PullObservation) -> Vec<Contradiction> {
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
        for (key, message) in super::observe::image_contradictions(
            &obs.id,
            obs.image.as_ref(),
            claim.names.as_deref(),
            claim.id_is,
        ) {
            push(key, message);
        }
        out
    }

    fn id(obs: &PullObservation) -> &str {
        &obs.id
    }

    fn findings(obs: &PullObservation) -> &[Finding] {
        &obs.findings
    }
}

/// The image as observed (see [`super::observe::observe_image`]).
fn observe(record: &ImageRecord, cx: &StepContext<'_>) -> ImageObservation {
    super::observe::observe_image(record, cx.redact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::Observation;
    use crate::steps::observe::DigestRole;
    use crate::steps::push::{PushObservation, PushResult};

    fn pulled() -> PullObservation {
        PullObservation {
            id: "pull".into(),
            action: "pull <registry>/a:1".into(),
            reference: "<registry>/a:1".into(),
            outcome: PullResult::Refused,
            error: Some(ErrorObservation {
                status: Some(2),
                message: "no".into(),
                class: None,
            }),
            messages: vec![],
            image: None,
            stored: None,
            findings: vec![],
        }
    }

    /// The JSON results read back into the right kind: observations are untagged, so a
    /// push or pull must not parse as an earlier kind's (a load or inspect with an error).
    #[test]
    fn push_and_pull_observations_read_back_as_themselves() {
        let pull = Observation::Pull(pulled());
        let json = serde_json::to_string(&pull).unwrap();
        let back: Observation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pull, "{json}");
        let push = Observation::Push(PushObservation {
            id: "push".into(),
            action: "push a:1 to <registry>/a:1".into(),
            destination: "<registry>/a:1".into(),
            outcome: PushResult::Refused,
            error: Some(ErrorObservation {
                status: None,
                class: None,
                message: "content digest sha256:00: not found".into(),
            }),
            reported_digest: None,
            messages: vec![],
            landed: None,
        });
        let json = serde_json::to_string(&push).unwrap();
        let back: Observation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, push, "{json}");
    }

    #[test]
    fn names_claims_compare_sorted_sets() {
        let mut obs = pulled();
        obs.outcome = PullResult::Pulled;
        obs.error = None;
        obs.image = Some(ImageObservation {
            names: vec!["<registry>/a:1".into(), "b:1".into()],
            id: "config(f)".into(),
            id_is: Some(DigestRole::Config),
            digest: None,
            repo_digests: vec![],
        });
        let claim = PullClaim {
            outcome: Some(PullResult::Pulled),
            names: Some(vec!["<registry>/a:1".into(), "b:1".into()]),
            id_is: Some(IdRole::Config),
            ..Default::default()
        };
        assert!(Pull::contradictions(&claim, &obs).is_empty());
        let wrong = PullClaim {
            id_is: Some(IdRole::Manifest),
            names: Some(vec!["<registry>/a:1".into()]),
            ..Default::default()
        };
        let keys: Vec<_> = Pull::contradictions(&wrong, &obs)
            .iter()
            .map(|c| c.claim)
            .collect();
        assert_eq!(keys, ["names", "id_is"]);
    }
}
