//! Verdicts: expectations, known issues and the snapshot check folded into one [`Status`].
//!
//! Precedence follows DESIGN.md: a harness or daemon failure is `error`, never `fail`; a
//! declared known issue that reproduces turns the expectation failures it explains into
//! `known`; one that no longer reproduces is `fixed` (time to update the declaration); a
//! snapshot mismatch is always `fail`.

use serde::Serialize;

use super::observe::{DigestRole, StepObservation};

/// The status of one scenario x cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail { reasons: Vec<String> },
    Known { issues: Vec<String> },
    Fixed { issues: Vec<String> },
    Skip { reason: String },
    Error { message: String },
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
}

/// What an expectation or a known issue claims about one step.
#[derive(Debug, Clone, Default)]
pub struct Claim<'a> {
    pub outcome: Option<&'a str>,
    pub names: Option<&'a [String]>,
    pub id_is: Option<DigestRole>,
    pub error_contains: Option<&'a str>,
    pub found: Option<&'a [String]>,
    pub not_found: Option<&'a [String]>,
}

/// The ways `obs` contradicts `claim`, as sentences; empty when the claim holds.
pub fn contradictions(claim: &Claim<'_>, obs: &StepObservation) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(want) = claim.outcome
        && want != obs.outcome
    {
        let why = obs
            .error
            .as_ref()
            .map(|e| format!(": {}", e.message))
            .unwrap_or_default();
        out.push(format!(
            "{}: expected outcome {want}, got {}{why}",
            obs.id, obs.outcome
        ));
    }
    if let Some(want) = claim.names {
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        want.sort_unstable();
        let mut got: Vec<&str> = obs
            .images
            .iter()
            .flatten()
            .flat_map(|i| i.names.iter().map(String::as_str))
            .collect();
        got.sort_unstable();
        if want != got {
            out.push(format!("{}: expected names {want:?}, got {got:?}", obs.id));
        }
    }
    if let Some(want) = claim.id_is {
        let images = obs.images.as_deref().unwrap_or_default();
        if images.is_empty() {
            out.push(format!(
                "{}: expected the ID to be the {} digest, but no image resulted",
                obs.id,
                want.as_str()
            ));
        }
        for image in images.iter().filter(|i| i.id_is != Some(want)) {
            let got = image
                .id_is
                .map(DigestRole::as_str)
                .unwrap_or("no known digest");
            out.push(format!(
                "{}: expected the ID to be the {} digest, got {} ({})",
                obs.id,
                want.as_str(),
                got,
                image.id
            ));
        }
    }
    if let Some(want) = claim.error_contains {
        match &obs.error {
            Some(e) if e.message.contains(want) => {}
            Some(e) => out.push(format!(
                "{}: expected an error containing {want:?}, got {:?}",
                obs.id, e.message
            )),
            None => out.push(format!(
                "{}: expected an error containing {want:?}, but it succeeded",
                obs.id
            )),
        }
    }
    let lookups: Vec<_> = obs.tags.iter().flat_map(|t| t.lookups.iter()).collect();
    for (names, want_found) in [(claim.found, true), (claim.not_found, false)] {
        for name in names.unwrap_or_default() {
            let seen: Vec<bool> = lookups
                .iter()
                .filter(|l| &l.name == name)
                .map(|l| l.found)
                .collect();
            if seen.is_empty() {
                out.push(format!("{}: {name:?} was never looked up", obs.id));
            } else if seen.iter().any(|f| *f != want_found) {
                let verb = if want_found { "find" } else { "not find" };
                out.push(format!(
                    "{}: a lookup of {name:?} was expected to {verb} the image",
                    obs.id
                ));
            }
        }
    }
    out
}

/// A known issue that applies to the cell, with whether it reproduced.
#[derive(Debug, Clone)]
pub struct KnownIssueCheck {
    pub id: String,
    pub step: String,
    pub reproduced: bool,
}

/// Folds expectation failures (each tagged with its step id), applicable known issues and the
/// snapshot result into a status.
pub fn decide(
    failures: Vec<(String, String)>,
    known: &[KnownIssueCheck],
    snapshot_problem: Option<String>,
) -> Status {
    let reproduced: Vec<&KnownIssueCheck> = known.iter().filter(|k| k.reproduced).collect();
    let mut reasons: Vec<String> = failures
        .into_iter()
        .filter(|(step, _)| !reproduced.iter().any(|k| &k.step == step))
        .map(|(_, why)| why)
        .collect();
    reasons.extend(snapshot_problem);
    if !reasons.is_empty() {
        return Status::Fail { reasons };
    }
    let fixed: Vec<String> = known
        .iter()
        .filter(|k| !k.reproduced)
        .map(|k| k.id.clone())
        .collect();
    if !fixed.is_empty() {
        return Status::Fixed { issues: fixed };
    }
    if !reproduced.is_empty() {
        return Status::Known {
            issues: reproduced.iter().map(|k| k.id.clone()).collect(),
        };
    }
    Status::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::observe::ImageObservation;

    fn obs(outcome: &str, names: &[&str], id_is: Option<DigestRole>) -> StepObservation {
        StepObservation {
            id: "s".into(),
            action: "load f".into(),
            outcome: outcome.into(),
            messages: vec![],
            error: None,
            tags: vec![],
            findings: vec![],
            images: if names.is_empty() {
                Some(vec![])
            } else {
                Some(vec![ImageObservation {
                    names: names.iter().map(|s| s.to_string()).collect(),
                    id: "config(f)".into(),
                    id_is,
                    digest: None,
                    repo_digests: vec![],
                }])
            },
        }
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let names = vec!["b:1".to_string(), "a:1".to_string()];
        let claim = Claim {
            outcome: Some("loaded"),
            names: Some(&names),
            id_is: Some(DigestRole::Config),
            ..Default::default()
        };
        assert!(
            contradictions(
                &claim,
                &obs("loaded", &["a:1", "b:1"], Some(DigestRole::Config))
            )
            .is_empty()
        );
        let bad = contradictions(
            &claim,
            &obs(
                "loaded",
                &["localhost/latest:latest"],
                Some(DigestRole::Manifest),
            ),
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains("localhost/latest:latest"));
        assert!(bad[1].contains("manifest"));
        let err = contradictions(
            &Claim {
                error_contains: Some("nope"),
                ..Default::default()
            },
            &obs("loaded", &[], None),
        );
        assert_eq!(err.len(), 1);
    }

    #[test]
    fn precedence_of_statuses() {
        let f = || vec![("s".to_string(), "s: broke".to_string())];
        let known = |reproduced| {
            vec![KnownIssueCheck {
                id: "K".into(),
                step: "s".into(),
                reproduced,
            }]
        };
        assert_eq!(decide(vec![], &[], None), Status::Pass);
        assert_eq!(decide(f(), &[], None).word(), "fail");
        assert_eq!(
            decide(f(), &known(true), None),
            Status::Known {
                issues: vec!["K".into()]
            }
        );
        assert_eq!(
            decide(vec![], &known(false), None),
            Status::Fixed {
                issues: vec!["K".into()]
            }
        );
        assert_eq!(
            decide(vec![], &known(true), Some("snapshot differs".into())).word(),
            "fail"
        );
        assert!(Status::Fixed { issues: vec![] }.is_failure());
        assert!(
            !Status::Error {
                message: String::new()
            }
            .is_failure()
        );
    }
}
