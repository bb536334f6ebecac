//! The `inspect` step: look an image up by a name (or ID) as a user would type it and observe
//! what the runtime reports for it: its names, its ID and which digest that ID is, Podman's
//! Digest and the RepoDigests (R1: the ID is the config digest on Docker's classic store and
//! on Podman, the manifest or index digest on containerd stores).
//!
//! ```yaml
//! - id: inspect-hybrid
//!   inspect: dangerzone.rocks/dangerzone:latest
//!   expect:
//!     - outcome: found             # found | not-found | refused
//!       names: [dangerzone.rocks/dangerzone:latest]
//!       id_is: config              # config | manifest | index
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{ErrorObservation, Finding, ImageObservation};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, IdRole, require_something};
use crate::runtime::{BoxFuture, ImageRecord, Lookup};

/// The `inspect` step kind.
pub struct Inspect;

/// `inspect: <name>`, resolved: the name is not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectAction {
    pub name: String,
}

/// What the lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InspectOutcome {
    Found,
    NotFound,
    /// The runtime refused the name itself (Docker answers 400 for an invalid reference).
    Refused,
}

/// What an expectation or known issue can claim about an inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InspectClaim {
    pub outcome: Option<InspectOutcome>,
    /// The exact set of names the image has, sorted.
    pub names: Option<Vec<String>>,
    /// Which digest of a fixture the image's ID is.
    pub id_is: Option<IdRole>,
}

/// What an inspect observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectObservation {
    pub id: String,
    /// `inspect <name>`.
    pub action: String,
    pub outcome: InspectOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// The image, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageObservation>,
}

const CLAIMS: &[&str] = &["outcome", "names", "id_is"];

impl StepKind for Inspect {
    const KEY: &'static str = "inspect";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = String;
    type Action = InspectAction;
    type Claim = InspectClaim;
    type Observation = InspectObservation;

    fn resolve(
        raw: Spanned<String>,
        cx: &ResolveContext<'_>,
    ) -> Result<InspectAction, ConfigError> {
        if raw.value.is_empty() {
            return Err(cx.error(raw.referenced, "inspect", ConfigErrorKind::Empty));
        }
        Ok(InspectAction { name: raw.value })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<InspectClaim, ConfigError> {
        let outcome: Option<InspectOutcome> = r.take_choice("outcome")?;
        let names = r.take_strings("names")?;
        let id_is: Option<IdRole> = r.take_choice("id_is")?;
        require_something(
            r,
            &[outcome.is_some(), names.is_some(), id_is.is_some()],
            CLAIMS,
        )?;
        if matches!(
            outcome,
            Some(InspectOutcome::NotFound | InspectOutcome::Refused)
        ) && (names.is_some() || id_is.is_some())
        {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "names and id_is describe a found image and cannot be combined with outcome: not-found or refused",
            )));
        }
        let names = names.map(|n| {
            n.into_iter()
                .map(|n| n.value)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        });
        Ok(InspectClaim {
            outcome,
            names,
            id_is,
        })
    }

    fn describe(action: &InspectAction) -> String {
        format!("inspect {}", action.name)
    }

    fn run<'a>(
        id: &'a str,
        action: &'a InspectAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<InspectObservation, StepError>> {
        Box::pin(async move {
            let (outcome, error, image) = match cx.runtime.lookup_image(&action.name).await? {
                Lookup::Found(record) => (InspectOutcome::Found, None, Some(observe(&record, cx))),
                Lookup::NotFound => (InspectOutcome::NotFound, None, None),
                Lookup::Refused(r) => {
                    (InspectOutcome::Refused, Some(cx.redact.rejection(&r)), None)
                }
            };
            Ok(InspectObservation {
                id: id.to_string(),
                action: Self::describe(action),
                outcome,
                error,
                image,
            })
        })
    }

    fn contradictions(claim: &InspectClaim, obs: &InspectObservation) -> Vec<Contradiction> {
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

    fn id(obs: &InspectObservation) -> &str {
        &obs.id
    }

    fn findings(_: &InspectObservation) -> &[Finding] {
        &[]
    }
}

/// The image as observed (see [`super::observe::observe_image`]).
fn observe(record: &ImageRecord, cx: &StepContext<'_>) -> ImageObservation {
    super::observe::observe_image(record, cx.redact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::observe::DigestRole;

    fn found(names: &[&str], id_is: Option<DigestRole>) -> InspectObservation {
        InspectObservation {
            id: "i".into(),
            action: "inspect x".into(),
            outcome: InspectOutcome::Found,
            error: None,
            image: Some(ImageObservation {
                names: names.iter().map(|s| s.to_string()).collect(),
                id: "config(a)".into(),
                id_is,
                digest: None,
                repo_digests: vec![],
            }),
        }
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let claim = InspectClaim {
            outcome: Some(InspectOutcome::Found),
            names: Some(vec!["a:1".into()]),
            id_is: Some(IdRole::Config),
        };
        assert!(
            Inspect::contradictions(&claim, &found(&["a:1"], Some(DigestRole::Config))).is_empty()
        );
        let bad = Inspect::contradictions(&claim, &found(&["b:1"], Some(DigestRole::Manifest)));
        let keys: Vec<_> = bad.iter().map(|c| c.claim).collect();
        assert_eq!(keys, ["names", "id_is"], "{bad:?}");
        let missing = InspectObservation {
            outcome: InspectOutcome::NotFound,
            image: None,
            ..found(&[], None)
        };
        let bad = Inspect::contradictions(&claim, &missing);
        assert_eq!(bad.len(), 3, "{bad:?}");
    }
}
