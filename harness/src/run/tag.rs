//! The `tag` step: what each runtime stores when an image is tagged with a reference, which
//! lookups then find it, and how invalid references are refused, judged against the reference
//! model for the runtime's style (R4 in REGRESSIONS.md).
//!
//! References are applied one at a time. After each, the names that appeared in the store are
//! recorded as what was *stored*, the lookups run, and the added names are removed again, so
//! that references normalizing to the same name (`foo`, `library/foo`, `docker.io/foo` on
//! Docker) are each observed from the same starting state rather than masking each other.

use std::collections::BTreeSet;

use serde::Serialize;

use super::observe::{ErrorObservation, Finding, Redactor};
use crate::config::{RuntimeKind, TagRef};
use crate::reference::{ReferenceError, Style};
use crate::runtime::facts::{Version, reference_model};
use crate::runtime::{ApiRejection, InstanceFacts, Lookup, Runtime, RuntimeError, TagOutcome};

/// What tagging with one reference did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagObservation {
    /// The reference as written in the scenario and sent to the runtime.
    pub input: String,
    /// `tagged` or `error`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupObservation {
    pub name: String,
    pub found: bool,
    /// Set when the runtime refused the name itself rather than not finding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
}

/// The reference style a runtime follows for names in its local store.
pub fn style_of(runtime: RuntimeKind) -> Style {
    match runtime {
        RuntimeKind::Docker => Style::Docker,
        RuntimeKind::Podman => Style::Podman,
        RuntimeKind::Containerd => Style::Containerd,
    }
}

/// What the reference model predicts `runtime`, reporting `version`, stores for `input` (see
/// [`reference_model`]; the runner reads [`InstanceFacts::reference`] instead).
pub fn model_stored(
    runtime: RuntimeKind,
    version: &str,
    input: &str,
) -> Result<String, ReferenceError> {
    reference_model(runtime, &Version::parse(version)).stored(input)
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
        (
            "cannot specify 64-byte hexadecimal strings",
            "hex-identifier",
        ),
        (
            "refusing to create a tag with a digest reference",
            "refuse-digest-tag",
        ),
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
pub async fn run_tag(
    rt: &dyn Runtime,
    facts: &InstanceFacts,
    image: &str,
    refs: &[TagRef],
    redact: &Redactor<'_>,
) -> Result<(Vec<TagObservation>, Vec<Finding>), String> {
    let broke = |e: RuntimeError| super::error_chain(&e);
    let style = facts.reference.style;
    let source = rt
        .inspect_image(image)
        .await
        .map_err(broke)?
        .ok_or_else(|| {
            format!("tag: image {image:?} is not in the store (load it in an earlier step)")
        })?;
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for r in refs {
        let before = names_of(&rt.list_images().await.map_err(broke)?);
        let outcome = rt
            .tag_image(&source.id, &r.reference)
            .await
            .map_err(broke)?;
        let after = names_of(&rt.list_images().await.map_err(broke)?);
        let stored: Vec<String> = after.difference(&before).cloned().collect();
        let mut lookups = Vec::new();
        for name in &r.lookup {
            let (found, error) = match rt.lookup_image(name).await.map_err(broke)? {
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
            if let TagOutcome::Error(e) = rt.untag_image(&source.id, name).await.map_err(broke)? {
                return Err(format!(
                    "tag: failed to remove {name:?} again: {}",
                    e.message
                ));
            }
        }
        let model = facts.reference.stored(&r.reference);
        let (outcome_word, error) = match &outcome {
            TagOutcome::Tagged => ("tagged", None),
            TagOutcome::Error(e) => ("error", Some(rejection(e, redact))),
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
            outcome: outcome_word.into(),
            error,
            stored,
            model: model_text,
            agrees,
            lookups,
        });
    }
    Ok((observations, findings))
}

#[cfg(test)]
mod tests {
    use super::classify;

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
            ("something else entirely", "other"),
        ] {
            assert_eq!(classify(message), class, "{message}");
        }
    }
}

#[cfg(test)]
mod model_tests {
    use super::model_stored;
    use crate::config::RuntimeKind::{Containerd, Docker, Podman};

    #[test]
    fn docker_before_25_uses_the_legacy_grammar() {
        // docker/distribution v2.8 reads `Foo` as a Docker Hub path component (uppercase:
        // refused); distribution/reference reads it as a registry domain.
        assert!(model_stored(Docker, "20.10.24+dfsg1", "Foo/bar").is_err());
        assert_eq!(
            model_stored(Docker, "28.2.2", "Foo/bar").unwrap(),
            "Foo/bar:latest"
        );
        assert_eq!(
            model_stored(Docker, "20.10.24", "foo").unwrap(),
            "foo:latest"
        );
        assert_eq!(
            model_stored(Podman, "4.3.1", "foo").unwrap(),
            "localhost/foo:latest"
        );
        assert_eq!(
            model_stored(Containerd, "1.6.20~ds1", "FOO").unwrap(),
            "FOO"
        );
    }
}
