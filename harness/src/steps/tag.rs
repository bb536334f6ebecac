//! The `tag` step: what each runtime stores when an image is tagged with a reference, which
//! lookups then find it, and how invalid references are refused, judged against the reference
//! model for the runtime's style (R4 in REGRESSIONS.md).
//!
//! References are applied one at a time. After each, the names that appeared in the store are
//! recorded as what was *stored*, the lookups run, and the added names are removed again, so
//! that references normalizing to the same name (`foo`, `library/foo`, `docker.io/foo` on
//! Docker) are each observed from the same starting state rather than masking each other.
//!
//! ```yaml
//! - id: tag-table
//!   tag:
//!     image: dangerzone.rocks/dangerzone:latest   # a name it has, or an ID
//!     refs:
//!       - ref: bastion.io/foo:local                # sent to the runtime as written
//!         lookup: [bastion.io/foo:local, docker.io/bastion.io/foo:local]   # default: [ref]
//!   expect:
//!     - found: [bastion.io/foo:local]              # every lookup of these finds the image
//!       not_found: [docker.io/bastion.io/foo:local]
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{ErrorObservation, Finding, Redactor};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, require_something};
use crate::runtime::{ApiRejection, BoxFuture, InstanceFacts, Lookup, Runtime, TagOutcome};

/// The `tag` step kind.
pub struct Tag;

/// `tag:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    /// The image to tag: a name it already has, or an ID.
    image: Spanned<String>,
    refs: Vec<Spanned<RawTagRef>>,
}

/// One `refs:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTagRef {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    lookup: Option<Vec<String>>,
}

/// Tag `image` with each reference in turn, observing what the store records and which lookups
/// find the image, then remove what the tag added before the next reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagAction {
    pub image: String,
    /// Never empty.
    pub refs: Vec<TagRef>,
}

/// One reference of a `tag` step, and the names to look up while it is in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagRef {
    /// The reference string, sent to the runtime as written (invalid ones included).
    #[serde(rename = "ref")]
    pub reference: String,
    /// Names looked up after tagging; default: the reference itself.
    pub lookup: Vec<String>,
}

/// What an expectation or known issue can claim about a tag step's lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TagClaim {
    /// Names every lookup of which finds the image.
    pub found: Option<Vec<String>>,
    /// Names no lookup of which finds the image.
    pub not_found: Option<Vec<String>>,
}

/// A tag step as a whole always completes (`done`); each reference has its own result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagStepOutcome {
    Done,
}

/// What a tag step observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagStepObservation {
    pub id: String,
    /// `tag <image>`.
    pub action: String,
    pub outcome: TagStepOutcome,
    /// One entry per reference.
    pub tags: Vec<TagObservation>,
    /// Divergences from the reference model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// The runtime's answer to one tag call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagResult {
    Tagged,
    Error,
}

/// What tagging with one reference did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagObservation {
    /// The reference as written in the scenario and sent to the runtime.
    pub input: String,
    pub outcome: TagResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// Names that appeared in the store, sorted.
    pub stored: Vec<String>,
    /// What the reference model for this runtime's style predicts: the stored name, or
    /// `error: <code>`.
    pub model: String,
    /// Whether the runtime did what the model predicts (stored that name, or refused).
    pub agrees: bool,
    pub lookups: Vec<LookupObservation>,
}

/// Whether looking up a name found the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupObservation {
    pub name: String,
    pub found: bool,
    /// Set when the runtime refused the name itself rather than not finding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
}

/// Classifies a runtime's refusal of a reference by the distribution/reference error text it
/// carries (moby and containers/image return those strings verbatim), so snapshots compare a
/// class while keeping the words.
pub fn classify(message: &str) -> &'static str {
    const CLASSES: &[(&str, &str)] = &[
        (
            "repository name must be lowercase",
            "name-contains-uppercase",
        ),
        // Docker >= 25 (distribution/reference): "repository name (library/FOO) must be
        // lowercase".
        ("must be lowercase", "name-contains-uppercase"),
        (
            "cannot specify 64-byte hexadecimal strings",
            "hex-identifier",
        ),
        (
            "refusing to create a tag with a digest reference",
            "refuse-digest-tag",
        ),
        // Docker >= 25's tag endpoint (moby `postImagesTag`).
        ("cannot import digest reference", "refuse-digest-tag"),
        ("must not be more than 255 characters", "name-too-long"),
        (
            "repository name must have at least one component",
            "name-empty",
        ),
        ("invalid tag format", "tag-invalid-format"),
        ("invalid digest format", "digest-invalid-format"),
        ("invalid reference format", "invalid-format"),
        ("not a named reference", "not-named"),
        ("no such image", "not-found"),
        ("image not known", "not-found"),
        ("not found", "not-found"),
    ];
    let lower = message.to_lowercase();
    CLASSES
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map_or("other", |(_, class)| class)
}

fn names_of(images: &[crate::runtime::ImageRecord]) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|i| i.names.iter().cloned())
        .collect()
}

fn rejection(r: &ApiRejection, redact: &Redactor<'_>) -> ErrorObservation {
    let mut e = redact.rejection(r);
    e.class = Some(classify(&r.message).to_string());
    e
}

/// Runs a tag step. `Err` means the harness or daemon broke (including failing to undo a tag,
/// which would leave later observations polluted).
async fn run_tag(
    rt: &dyn Runtime,
    facts: &InstanceFacts,
    image: &str,
    refs: &[TagRef],
    redact: &Redactor<'_>,
) -> Result<(Vec<TagObservation>, Vec<Finding>), StepError> {
    let style = facts.reference.style;
    let source = rt.inspect_image(image).await?.ok_or_else(|| {
        StepError::Precondition(format!(
            "tag: image {image:?} is not in the store (load it in an earlier step)"
        ))
    })?;
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for r in refs {
        let before = names_of(&rt.list_images().await?);
        let outcome = rt.tag_image(&source.id, &r.reference).await?;
        let after = names_of(&rt.list_images().await?);
        let stored: Vec<String> = after.difference(&before).cloned().collect();
        let mut lookups = Vec::new();
        for name in &r.lookup {
            let (found, error) = match rt.lookup_image(name).await? {
                Lookup::Found(_) => (true, None),
                Lookup::NotFound => (false, None),
                Lookup::Refused(e) => (false, Some(rejection(&e, redact))),
            };
            lookups.push(LookupObservation {
                name: name.clone(),
                found,
                error,
            });
        }
        for name in &stored {
            if let TagOutcome::Error(e) = rt.untag_image(&source.id, name).await? {
                return Err(StepError::Precondition(format!(
                    "tag: failed to remove {name:?} again: {}",
                    e.message
                )));
            }
        }
        let model = facts.reference.stored(&r.reference);
        let (outcome_word, error) = match &outcome {
            TagOutcome::Tagged => (TagResult::Tagged, None),
            TagOutcome::Error(e) => (TagResult::Error, Some(rejection(e, redact))),
        };
        // A tag that names what the image already has adds nothing; it agrees if the model's
        // name is one the image carries.
        let agrees = match (&outcome, &model) {
            (TagOutcome::Tagged, Ok(name)) => {
                stored == [name.clone()] || (stored.is_empty() && before.contains(name))
            }
            (TagOutcome::Error(_), Err(_)) => true,
            _ => false,
        };
        let model_text = match &model {
            Ok(name) => name.clone(),
            Err(e) => format!("error: {}", e.kind.code()),
        };
        if !agrees {
            let did = match &outcome {
                TagOutcome::Tagged if stored.is_empty() => "stored nothing new".to_string(),
                TagOutcome::Tagged => format!("stored {}", stored.join(", ")),
                TagOutcome::Error(e) => format!("refused it ({})", classify(&e.message)),
            };
            findings.push(Finding {
                code: "reference-model-divergence".into(),
                message: format!(
                    "{:?}: {} {did}; the {} model predicts {model_text}",
                    r.reference,
                    facts.runtime.as_str(),
                    style.as_str()
                ),
            });
        }
        observations.push(TagObservation {
            input: r.reference.clone(),
            outcome: outcome_word,
            error,
            stored,
            model: model_text,
            agrees,
            lookups,
        });
    }
    Ok((observations, findings))
}

const CLAIMS: &[&str] = &["found", "not_found"];

impl StepKind for Tag {
    const KEY: &'static str = "tag";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawTag;
    type Action = TagAction;
    type Claim = TagClaim;
    type Observation = TagStepObservation;

    fn resolve(raw: Spanned<RawTag>, cx: &ResolveContext<'_>) -> Result<TagAction, ConfigError> {
        let (at, tag) = (raw.referenced, raw.value);
        if tag.image.value.is_empty() {
            return Err(cx.error(tag.image.referenced, "tag.image", ConfigErrorKind::Empty));
        }
        if tag.refs.is_empty() {
            return Err(cx.error(at, "tag.refs", ConfigErrorKind::Empty));
        }
        let refs = tag
            .refs
            .into_iter()
            .map(|r| {
                let r = r.value;
                let lookup = r.lookup.unwrap_or_else(|| vec![r.reference.clone()]);
                TagRef {
                    reference: r.reference,
                    lookup,
                }
            })
            .collect();
        Ok(TagAction {
            image: tag.image.value,
            refs,
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<TagClaim, ConfigError> {
        let plain = |v: Option<Vec<Spanned<String>>>| {
            v.map(|names| names.into_iter().map(|n| n.value).collect::<Vec<_>>())
        };
        let found = plain(r.take_strings("found")?);
        let not_found = plain(r.take_strings("not_found")?);
        require_something(r, &[found.is_some(), not_found.is_some()], CLAIMS)?;
        Ok(TagClaim { found, not_found })
    }

    fn describe(action: &TagAction) -> String {
        format!("tag {}", action.image)
    }

    fn run<'a>(
        id: &'a str,
        action: &'a TagAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<TagStepObservation, StepError>> {
        Box::pin(async move {
            let (tags, findings) =
                run_tag(cx.runtime, cx.facts, &action.image, &action.refs, cx.redact).await?;
            Ok(TagStepObservation {
                id: id.to_string(),
                action: Self::describe(action),
                outcome: TagStepOutcome::Done,
                tags,
                findings,
            })
        })
    }

    fn contradictions(claim: &TagClaim, obs: &TagStepObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let lookups: Vec<_> = obs.tags.iter().flat_map(|t| t.lookups.iter()).collect();
        for (key, names, want_found) in [
            ("found", &claim.found, true),
            ("not_found", &claim.not_found, false),
        ] {
            for name in names.iter().flatten() {
                let seen: Vec<bool> = lookups
                    .iter()
                    .filter(|l| &l.name == name)
                    .map(|l| l.found)
                    .collect();
                let message = if seen.is_empty() {
                    format!("{}: {name:?} was never looked up", obs.id)
                } else if seen.iter().any(|f| *f != want_found) {
                    let verb = if want_found { "find" } else { "not find" };
                    format!(
                        "{}: a lookup of {name:?} was expected to {verb} the image",
                        obs.id
                    )
                } else {
                    continue;
                };
                out.push(Contradiction {
                    claim: key,
                    subject: Some(name.clone()),
                    message,
                });
            }
        }
        out
    }

    /// A known issue explains a contradiction about the lookups of a name it makes a claim
    /// about itself (`found: [x]` explains an expectation's `not_found: [x]` failing), and
    /// nothing about other names.
    fn explains(known: &TagClaim, c: &Contradiction) -> bool {
        let Some(name) = &c.subject else {
            return false;
        };
        [&known.found, &known.not_found]
            .into_iter()
            .flatten()
            .any(|names| names.contains(name))
    }

    fn id(obs: &TagStepObservation) -> &str {
        &obs.id
    }

    fn findings(obs: &TagStepObservation) -> &[Finding] {
        &obs.findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str, found: bool) -> TagObservation {
        TagObservation {
            input: name.into(),
            outcome: TagResult::Tagged,
            error: None,
            stored: vec![],
            model: String::new(),
            agrees: true,
            lookups: vec![LookupObservation {
                name: name.into(),
                found,
                error: None,
            }],
        }
    }

    #[test]
    fn a_known_issue_explains_lookups_of_the_names_it_claims_only() {
        let obs = TagStepObservation {
            id: "t".into(),
            action: "tag x".into(),
            outcome: TagStepOutcome::Done,
            tags: vec![lookup("a", true), lookup("b", true)],
            findings: vec![],
        };
        let expect = TagClaim {
            found: None,
            not_found: Some(vec!["a".into(), "b".into()]),
        };
        let bad = Tag::contradictions(&expect, &obs);
        assert_eq!(bad.len(), 2, "{bad:?}");
        let known = TagClaim {
            found: Some(vec!["a".into()]),
            not_found: None,
        };
        assert!(Tag::contradictions(&known, &obs).is_empty());
        assert!(Tag::explains(&known, &bad[0]));
        assert!(
            !Tag::explains(&known, &bad[1]),
            "b is not claimed by the known issue"
        );
    }

    #[test]
    fn refusals_are_classified_by_their_upstream_error_text() {
        for (message, class) in [
            (
                "invalid reference format: repository name must be lowercase",
                "name-contains-uppercase",
            ),
            ("invalid reference format", "invalid-format"),
            (
                "refusing to create a tag with a digest reference",
                "refuse-digest-tag",
            ),
            (
                "normalizing name for compat API: invalid reference format",
                "invalid-format",
            ),
            ("No such image: foo:latest", "not-found"),
            (
                "invalid reference format: repository name (library/FOO) must be lowercase",
                "name-contains-uppercase",
            ),
            ("cannot import digest reference", "refuse-digest-tag"),
            ("something else entirely", "other"),
        ] {
            assert_eq!(classify(message), class, "{message}");
        }
    }
}
