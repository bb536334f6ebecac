//! Verdicts: expectations, known issues and the snapshot check folded into one [`Status`].
//!
//! Precedence follows DESIGN.md: a harness or daemon failure is `error`, never `fail`; a
//! declared known issue that reproduces explains the expectation failures its own claim covers
//! (and only those: a known issue that claims `outcome: loaded` does not excuse wrong names);
//! every other failure stays `fail`; a known issue that no longer reproduces is `fixed` (time to
//! update the declaration); a snapshot mismatch is always `fail`.
//!
//! Which failures a claim covers is the step kind's rule ([`crate::steps::StepKind::explains`]):
//! by default the claim keys it sets; a load known issue claiming a refusal also covers the
//! facts of a loaded image.

use crate::config::{Cell, Scenario};
use crate::results::Status;
use crate::steps::{Claim, Contradiction, Observation};

/// One expectation that does not hold on a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The step it is about.
    pub step: String,
    /// What does not hold, which decides whether a known issue explains it.
    pub contradiction: Contradiction,
}

/// A known issue that applies to the cell, with whether it reproduced.
#[derive(Debug, Clone)]
pub struct KnownIssueCheck {
    pub id: String,
    pub step: String,
    pub reproduced: bool,
    /// What it claims, which decides which failures it explains.
    pub claim: Claim,
}

/// Checks each expectation and known issue that applies to `cell` (whose runtime reported
/// `version`) against the observations. A step the driver did not offer (skipped) is checked
/// by nothing.
pub fn evaluate(
    scenario: &Scenario,
    cell: &Cell,
    version: &str,
    steps: &[Observation],
) -> (Vec<Failure>, Vec<KnownIssueCheck>) {
    let observed = |id: &str| {
        steps
            .iter()
            .find(|o| o.id() == id)
            .filter(|o| !matches!(o, Observation::Skipped(_)))
    };
    let mut failures = Vec::new();
    for step in &scenario.steps {
        let Some(obs) = observed(&step.id) else {
            continue;
        };
        for exp in step.expectations_for(cell, version) {
            for contradiction in exp.claim.contradictions(obs) {
                failures.push(Failure {
                    step: step.id.clone(),
                    contradiction,
                });
            }
        }
    }
    let known = scenario
        .known_issues
        .iter()
        .filter(|k| k.when.matches(cell, version))
        .filter_map(|k| {
            let obs = observed(&k.step)?;
            Some(KnownIssueCheck {
                id: k.id.clone(),
                step: k.step.clone(),
                reproduced: k.claim.contradictions(obs).is_empty(),
                claim: k.claim.clone(),
            })
        })
        .collect();
    (failures, known)
}

/// Folds expectation failures, applicable known issues and the snapshot result into a status.
pub fn decide(
    failures: Vec<Failure>,
    known: &[KnownIssueCheck],
    snapshot_problem: Option<String>,
) -> Status {
    let reproduced: Vec<&KnownIssueCheck> = known.iter().filter(|k| k.reproduced).collect();
    let mut reasons = Vec::new();
    let mut explained = Vec::new();
    for f in failures {
        match reproduced
            .iter()
            .find(|k| k.step == f.step && k.claim.explains(&f.contradiction))
        {
            Some(k) => explained.push(format!(
                "{} (explained by {})",
                f.contradiction.message, k.id
            )),
            None => reasons.push(f.contradiction.message),
        }
    }
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
            explained,
        };
    }
    Status::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Outcome, parse_scenario};
    use crate::steps::load::{LoadClaim, LoadObservation};
    use crate::steps::{ImageObservation, Observation};

    fn loaded(names: &[&str]) -> Observation {
        Observation::Load(LoadObservation {
            id: "load-a".into(),
            action: "load a".into(),
            outcome: Outcome::Loaded,
            messages: vec![],
            error: None,
            images: vec![ImageObservation {
                names: names.iter().map(|s| s.to_string()).collect(),
                id: "config(a)".into(),
                id_is: None,
                digest: None,
                repo_digests: vec![],
            }],
            findings: vec![],
        })
    }

    fn scenario(known: &str) -> Scenario {
        let src = format!(
            "name: s\nsummary: s\nfixtures:\n  a: {{ layout: oci-archive, layers: [{{ files: [{{ path: x, content: x }}] }}] }}\nsteps:\n  - id: load-a\n    load: a\n    expect:\n      - names: [this-is-wrong:1]\nknown_issues:\n  - id: K\n    summary: k\n    step: load-a\n{known}"
        );
        parse_scenario(&src, std::path::Path::new("s.yaml")).unwrap()
    }

    fn cell() -> Cell {
        Cell {
            id: "podman-host-vfs".into(),
            runtime: crate::config::RuntimeKind::Podman,
            version: "host".into(),
            store: "vfs".into(),
            builder: None,
            api: None,
            extra: Default::default(),
        }
    }

    // Issue 7, bug 1: a reproduced known issue that claims only `outcome: loaded` made the
    // whole step `known`, hiding that the names were wrong.
    #[test]
    fn a_known_issue_explains_only_what_it_claims() {
        let s = scenario("    outcome: loaded\n");
        let obs = [loaded(&["x:1"])];
        let (failures, known) = evaluate(&s, &cell(), "4.3.1", &obs);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(known[0].reproduced);
        match decide(failures, &known, None) {
            Status::Fail { reasons } => {
                assert_eq!(reasons.len(), 1);
                assert!(reasons[0].contains("this-is-wrong:1"), "{reasons:?}");
            }
            other => panic!("expected fail, got {other:?}"),
        }
    }

    #[test]
    fn a_known_issue_claiming_the_wrong_names_explains_the_names_failure() {
        let s = scenario("    names: [x:1]\n");
        let obs = [loaded(&["x:1"])];
        let (failures, known) = evaluate(&s, &cell(), "4.3.1", &obs);
        match decide(failures, &known, None) {
            Status::Known { issues, explained } => {
                assert_eq!(issues, ["K"]);
                assert_eq!(explained.len(), 1);
                assert!(
                    explained[0].contains("this-is-wrong:1") && explained[0].contains("by K"),
                    "{explained:?}"
                );
            }
            other => panic!("expected known, got {other:?}"),
        }
    }

    #[test]
    fn precedence_of_statuses() {
        let f = || {
            vec![Failure {
                step: "s".into(),
                contradiction: Contradiction {
                    claim: "names",
                    subject: None,
                    message: "s: broke".into(),
                },
            }]
        };
        let known = |reproduced| {
            vec![KnownIssueCheck {
                id: "K".into(),
                step: "s".into(),
                reproduced,
                claim: Claim::Load(LoadClaim {
                    names: Some(vec![]),
                    ..Default::default()
                }),
            }]
        };
        assert_eq!(decide(vec![], &[], None), Status::Pass);
        assert_eq!(decide(f(), &[], None).word(), "fail");
        assert_eq!(decide(f(), &known(true), None).word(), "known");
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
        assert!(!Status::error(crate::results::ErrorKind::Panic, "").is_failure());
    }
}
