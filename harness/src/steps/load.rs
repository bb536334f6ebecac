//! The `load` step: load a fixture archive (`docker load`, libpod `images/load`, containerd
//! import) and observe the images that appeared or changed: names, ID and which digest it is,
//! Digest and RepoDigests, the load messages or the refusal. Every load is also checked against
//! the harness's own load-name model for the instance's loader family ([`prediction`]).
//!
//! ```yaml
//! - id: load-hybrid
//!   load: hybrid                 # a fixture name
//!   expect:
//!     - names: [dangerzone.rocks/dangerzone:latest]   # exact set of resulting names
//!       id_is: config            # config | manifest | index
//!     - when: { runtime: docker, version: "<25" }
//!       outcome: error           # loaded | error; also error_contains: "..."
//! ```

pub mod prediction;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{self, DigestRole, ErrorObservation, Finding, ImageObservation};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{
    ClaimReader, ConfigError, ConfigErrorKind, IdRole, Outcome, require_something,
};
use crate::runtime::{BoxFuture, LoadOutcome};

/// The `load` step kind.
pub struct Load;

/// `load: <fixture>`, resolved: the fixture exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadAction {
    pub fixture: String,
}

/// What an expectation or known issue can claim about a load. At least one is set, and they
/// do not contradict each other (`names` and `id_is` describe a loaded image, `error_contains`
/// a refusal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadClaim {
    pub outcome: Option<Outcome>,
    /// The exact set of names the images end up with, sorted.
    pub names: Option<Vec<String>>,
    /// Which digest of the loaded fixture every resulting image's ID is.
    pub id_is: Option<IdRole>,
    /// A substring of the runtime's error message; implies `outcome: error`.
    pub error_contains: Option<String>,
}

/// What a load observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadObservation {
    pub id: String,
    /// `load <fixture>`.
    pub action: String,
    pub outcome: Outcome,
    /// The runtime's load messages, redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// Images that appeared or whose names changed, sorted by names then ID.
    pub images: Vec<ImageObservation>,
    /// Divergences from the load-name model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

const CLAIMS: &[&str] = &["outcome", "names", "id_is", "error_contains"];

impl StepKind for Load {
    const KEY: &'static str = "load";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = String;
    type Action = LoadAction;
    type Claim = LoadClaim;
    type Observation = LoadObservation;

    fn resolve(raw: Spanned<String>, cx: &ResolveContext<'_>) -> Result<LoadAction, ConfigError> {
        if !cx.has_fixture(&raw.value) {
            return Err(cx.error(
                raw.referenced,
                "load",
                ConfigErrorKind::UnknownFixture {
                    name: raw.value,
                    known: cx.fixture_names(),
                },
            ));
        }
        Ok(LoadAction { fixture: raw.value })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<LoadClaim, ConfigError> {
        let outcome: Option<Outcome> = r.take_choice("outcome")?;
        let names = r.take_strings("names")?;
        let id_is: Option<IdRole> = r.take_choice("id_is")?;
        let error_contains = r.take_string("error_contains")?;
        require_something(
            r,
            &[
                outcome.is_some(),
                names.is_some(),
                id_is.is_some(),
                error_contains.is_some(),
            ],
            CLAIMS,
        )?;
        if outcome == Some(Outcome::Loaded) && error_contains.is_some() {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "error_contains cannot be combined with outcome: loaded",
            )));
        }
        if outcome == Some(Outcome::Error) && (names.is_some() || id_is.is_some()) {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "names and id_is describe a loaded image and cannot be combined with outcome: error",
            )));
        }
        if let Some(text) = &error_contains
            && text.value.is_empty()
        {
            return Err(r.error(text.referenced, "error_contains", ConfigErrorKind::Empty));
        }
        let names = names
            .map(|names| {
                let mut seen = BTreeSet::new();
                for (i, name) in names.iter().enumerate() {
                    if !seen.insert(name.value.as_str()) {
                        return Err(r.error(
                            name.referenced,
                            &format!("names[{i}]"),
                            ConfigErrorKind::Duplicate {
                                what: "name",
                                value: name.value.clone(),
                            },
                        ));
                    }
                }
                Ok(seen.into_iter().map(str::to_owned).collect())
            })
            .transpose()?;
        Ok(LoadClaim {
            outcome,
            names,
            id_is,
            error_contains: error_contains.map(|e| e.value),
        })
    }

    fn describe(action: &LoadAction) -> String {
        format!("load {}", action.fixture)
    }

    fn run<'a>(
        id: &'a str,
        action: &'a LoadAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<LoadObservation, StepError>> {
        Box::pin(async move {
            let rt = cx.runtime;
            let fixture = &action.fixture;
            let before = rt.list_images().await?;
            let outcome = rt.load_image(cx.fixtures.path(fixture)).await?;
            let after = rt.list_images().await?;
            let mut images = Vec::new();
            for changed in observe::changed_images(&before, &after) {
                // Inspect for the fields a list does not carry (Podman's Digest). By name
                // where a record has exactly one (containerd keeps one record per name, all
                // with the same target: an ID lookup finds the first record for each of them).
                let by = match changed.names.as_slice() {
                    [name] => name,
                    _ => &changed.id,
                };
                let record = rt.inspect_image(by).await?;
                images.push(record.unwrap_or_else(|| changed.clone()));
            }
            let mut obs = observe_load(id, fixture, &outcome, &images, cx.redact);
            let naming = prediction::naming_of(cx.fixtures.facts(fixture));
            obs.findings
                .extend(prediction::check_load(cx.facts.family, &naming, &obs));
            Ok(obs)
        })
    }

    fn contradictions(claim: &LoadClaim, obs: &LoadObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let mut push = |claim, message| out.push(Contradiction::of(claim, message));
        if let Some(want) = claim.outcome
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
                    outcome_word(want),
                    outcome_word(obs.outcome)
                ),
            );
        }
        if let Some(want) = &claim.names {
            let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
            want.sort_unstable();
            let mut got: Vec<&str> = obs
                .images
                .iter()
                .flat_map(|i| i.names.iter().map(String::as_str))
                .collect();
            got.sort_unstable();
            if want != got {
                push(
                    "names",
                    format!("{}: expected names {want:?}, got {got:?}", obs.id),
                );
            }
        }
        if let Some(want) = claim.id_is {
            let want = role_of(want);
            if obs.images.is_empty() {
                push(
                    "id_is",
                    format!(
                        "{}: expected the ID to be the {} digest, but no image resulted",
                        obs.id,
                        want.as_str()
                    ),
                );
            }
            for image in obs.images.iter().filter(|i| i.id_is != Some(want)) {
                let got = image
                    .id_is
                    .map(DigestRole::as_str)
                    .unwrap_or("no known digest");
                push(
                    "id_is",
                    format!(
                        "{}: expected the ID to be the {} digest, got {} ({})",
                        obs.id,
                        want.as_str(),
                        got,
                        image.id
                    ),
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
        out
    }

    /// A known issue that claims the load fails (`outcome: error` or `error_contains`) also
    /// explains why the facts of a loaded image (`names`, `id_is`) do not hold; otherwise it
    /// explains only the keys it claims itself.
    fn explains(known: &LoadClaim, c: &Contradiction) -> bool {
        let claims_refusal =
            known.outcome == Some(Outcome::Error) || known.error_contains.is_some();
        Self::asserted(known).contains(&c.claim)
            || (claims_refusal && matches!(c.claim, "outcome" | "names" | "id_is"))
    }

    fn id(obs: &LoadObservation) -> &str {
        &obs.id
    }

    fn findings(obs: &LoadObservation) -> &[Finding] {
        &obs.findings
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Loaded => "loaded",
        Outcome::Error => "error",
    }
}

fn role_of(r: IdRole) -> DigestRole {
    r.into()
}

/// Builds the observation of a load from the runtime's answer and the changed images.
pub fn observe_load(
    id: &str,
    fixture: &str,
    outcome: &LoadOutcome,
    images: &[crate::runtime::ImageRecord],
    redact: &observe::Redactor<'_>,
) -> LoadObservation {
    let book = redact.book;
    let (outcome, messages, error) = match outcome {
        LoadOutcome::Loaded { messages } => (
            Outcome::Loaded,
            // A volatile (built) fixture's digests that the book cannot explain, such as
            // the manifest containerd makes for a built Docker archive, are `unexplained`.
            messages
                .iter()
                .map(|m| book.symbolize_in(&redact.text(m), fixture))
                .collect(),
            None,
        ),
        LoadOutcome::Error(r) => (Outcome::Error, Vec::new(), Some(redact.rejection(r))),
    };
    let mut images: Vec<ImageObservation> = images
        .iter()
        .map(|i| ImageObservation {
            // Redacted like every text: ctr's default `import-<date>` base name.
            names: i.names.iter().map(|n| redact.text(n)).collect(),
            id: book.symbolize_in(&i.id, fixture),
            id_is: book.role_in(&i.id, fixture),
            digest: i.digest.as_deref().map(|d| book.symbolize_in(d, fixture)),
            repo_digests: i
                .repo_digests
                .iter()
                .map(|d| book.symbolize_in(&redact.text(d), fixture))
                .collect(),
        })
        .collect();
    images.sort_by(|a, b| (&a.names, &a.id).cmp(&(&b.names, &b.id)));
    LoadObservation {
        id: id.to_string(),
        action: format!("load {fixture}"),
        outcome,
        messages,
        error,
        images,
        findings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn obs(
        outcome: Outcome,
        names: &[&str],
        id_is: Option<DigestRole>,
    ) -> LoadObservation {
        LoadObservation {
            id: "s".into(),
            action: "load f".into(),
            outcome,
            messages: vec![],
            error: None,
            findings: vec![],
            images: if names.is_empty() {
                vec![]
            } else {
                vec![ImageObservation {
                    names: names.iter().map(|s| s.to_string()).collect(),
                    id: "config(f)".into(),
                    id_is,
                    digest: None,
                    repo_digests: vec![],
                }]
            },
        }
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let claim = LoadClaim {
            outcome: Some(Outcome::Loaded),
            names: Some(vec!["b:1".to_string(), "a:1".to_string()]),
            id_is: Some(IdRole::Config),
            ..Default::default()
        };
        assert!(
            Load::contradictions(
                &claim,
                &obs(Outcome::Loaded, &["a:1", "b:1"], Some(DigestRole::Config))
            )
            .is_empty()
        );
        let bad = Load::contradictions(
            &claim,
            &obs(
                Outcome::Loaded,
                &["localhost/latest:latest"],
                Some(DigestRole::Manifest),
            ),
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(bad[0].claim, "names");
        assert!(bad[0].message.contains("localhost/latest:latest"));
        assert_eq!(bad[1].claim, "id_is");
        assert!(bad[1].message.contains("manifest"));
        let err = Load::contradictions(
            &LoadClaim {
                error_contains: Some("nope".into()),
                ..Default::default()
            },
            &obs(Outcome::Loaded, &[], None),
        );
        assert_eq!(err.len(), 1);
    }

    #[test]
    fn a_refusal_claim_explains_image_facts_but_a_loaded_claim_does_not_explain_names() {
        let refusal = LoadClaim {
            outcome: Some(Outcome::Error),
            ..Default::default()
        };
        let about = |claim| Contradiction {
            claim,
            subject: None,
            message: String::new(),
        };
        assert!(Load::explains(&refusal, &about("names")));
        assert!(Load::explains(&refusal, &about("id_is")));
        assert!(!Load::explains(&refusal, &about("error_contains")));
        let loaded = LoadClaim {
            outcome: Some(Outcome::Loaded),
            ..Default::default()
        };
        assert!(Load::explains(&loaded, &about("outcome")));
        assert!(!Load::explains(&loaded, &about("names")));
    }
}
