//! [`Step`]: one action on the runtime and what it should produce, and its resolution from
//! YAML.
//!
//! A step is written as a mapping with exactly one action key (`load: hybrid`) beside `id` and
//! `expect`, rather than as a tagged enum (`action: load`), because the action's argument reads
//! best as that key's value. Which keys are actions, what their values look like and which
//! claims an expectation may make all belong to the step kinds (`crate::steps`): this file only
//! demands exactly one action and resolves the expectations against its kind.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::claim::{Expectation, RawExpectation};
use super::error::{ConfigError, ConfigErrorKind};
use super::matrix::Cell;
use super::scenario::ident;
use crate::craft::FixtureSpec;
use crate::steps::{self, Action, RawAction, ResolveContext};

/// One action on the runtime, and what it should produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Unique within the scenario; `[a-z0-9-]+`.
    pub id: String,
    pub action: Action,
    /// Checked in order; each applies only to the cells its `when` selects.
    pub expect: Vec<Expectation>,
}

impl Step {
    /// The expectations that apply to `cell` at `observed_version`.
    pub fn expectations_for<'a>(
        &'a self,
        cell: &'a Cell,
        observed_version: &'a str,
    ) -> impl Iterator<Item = &'a Expectation> + 'a {
        self.expect
            .iter()
            .filter(move |e| e.when.matches(cell, observed_version))
    }
}

/// A step as written: its id, every action key present (resolution demands exactly one), and
/// its expectations.
#[derive(Debug)]
pub(crate) struct RawStep {
    id: Option<Spanned<String>>,
    actions: Vec<RawAction>,
    expect: Vec<Spanned<RawExpectation>>,
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStep;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step (a mapping with id, one action and expect)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut step = RawStep {
                    id: None,
                    actions: Vec::new(),
                    expect: Vec::new(),
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "id" => step.id = Some(map.next_value()?),
                        "expect" => step.expect = map.next_value()?,
                        other => match RawAction::next_value(other, &mut map) {
                            Some(action) => step.actions.push(action?),
                            None => {
                                return Err(de::Error::unknown_field(other, steps::STEP_FIELDS));
                            }
                        },
                    }
                }
                if step.id.is_none() {
                    return Err(de::Error::missing_field("id"));
                }
                Ok(step)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Resolves the step at `field` (`steps[1]`), given the scenario's fixtures and the steps
/// before it.
pub(crate) fn resolve_step(
    path: &Path,
    step: Spanned<RawStep>,
    field: &str,
    fixtures: &BTreeMap<String, FixtureSpec>,
    rootfs: &BTreeMap<String, crate::craft::RootfsSpec>,
    produced: &std::collections::BTreeSet<String>,
    earlier: &[Step],
) -> Result<Step, ConfigError> {
    let err = |at: Location, field: &str, kind| ConfigError::at(path, at, field, kind);
    let at = step.referenced;
    let mut step = step.value;
    let id = step.id.take().expect("the first pass demands an id");
    ident(path, &id, &format!("{field}.id"), "step id")?;
    if earlier.iter().any(|s| s.id == id.value) {
        return Err(err(
            id.referenced,
            &format!("{field}.id"),
            ConfigErrorKind::Duplicate {
                what: "step id",
                value: id.value,
            },
        ));
    }
    let raw = match step.actions.len() {
        1 => step.actions.remove(0),
        0 => {
            return Err(err(
                at,
                field,
                ConfigErrorKind::MissingAction {
                    expected: steps::KEYS,
                },
            ));
        }
        _ => {
            return Err(err(
                at,
                field,
                ConfigErrorKind::MultipleActions {
                    found: step.actions.iter().map(RawAction::key).collect(),
                },
            ));
        }
    };
    let cx = ResolveContext {
        path,
        field,
        fixtures,
        rootfs,
        produced,
    };
    let action = raw.resolve(&cx)?;
    let expect = step
        .expect
        .into_iter()
        .enumerate()
        .map(|(j, e)| RawExpectation::resolve(e, path, &format!("{field}.expect[{j}]"), &action))
        .collect::<Result<_, ConfigError>>()?;
    Ok(Step {
        id: id.value,
        action,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::load::LoadAction;
    use crate::steps::tag::TagAction;

    fn resolve(yaml: &str, fixtures: &[&str]) -> Result<Step, ConfigError> {
        let raw: Spanned<RawStep> = serde_saphyr::from_str(yaml).unwrap();
        let fixtures = fixtures
            .iter()
            .map(|name| {
                let spec: FixtureSpec =
                    serde_saphyr::from_str("{ layout: oci-archive, layers: [] }").unwrap();
                (name.to_string(), spec)
            })
            .collect();
        resolve_step(
            Path::new("s.yaml"),
            raw,
            "steps[0]",
            &fixtures,
            &BTreeMap::new(),
            &Default::default(),
            &[],
        )
    }

    #[test]
    fn load_step_with_expectations() {
        let step = resolve(
            "id: load-a\nload: a\nexpect:\n  - outcome: loaded\n  - { when: { store: vfs }, error_contains: x, outcome: error }\n",
            &["a"],
        )
        .unwrap();
        assert_eq!(
            step.action,
            Action::Load(LoadAction {
                fixture: "a".into()
            })
        );
        assert_eq!(step.action.key(), "load");
        assert_eq!(step.expect.len(), 2);
        assert_eq!(step.expect[1].when.store.as_deref(), Some("vfs"));
    }

    #[test]
    fn every_action_key_is_listed() {
        let actions = [
            Action::Load(LoadAction {
                fixture: String::new(),
            }),
            Action::Tag(TagAction {
                image: String::new(),
                refs: Vec::new(),
            }),
        ];
        for action in actions {
            assert!(steps::KEYS.contains(&action.key()));
            assert!(steps::STEP_FIELDS.contains(&action.key()));
        }
    }

    #[test]
    fn a_claim_of_another_step_kind_is_refused_where_it_is_written() {
        let err = resolve("id: a\nload: a\nexpect:\n  - found: [x]\n", &["a"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"s.yaml:4:5: steps[0].expect[0].found: "found" is not a claim of a load step (it claims: outcome, names, id_is, error_contains)"#
        );
        let err = resolve(
            "id: t\ntag: { image: x, refs: [{ ref: y }] }\nexpect:\n  - outcome: loaded\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"s.yaml:4:5: steps[0].expect[0].outcome: "outcome" is not a claim of a tag step (it claims: found, not_found)"#
        );
    }

    #[test]
    fn tag_step_defaults_each_lookup_to_the_reference_itself() {
        let step = resolve(
            "id: t\ntag:\n  image: x:1\n  refs:\n    - ref: foo\n    - { ref: bastion.io/foo:local, lookup: [a, b] }\nexpect:\n  - { found: [a], not_found: [b] }\n",
            &[],
        )
        .unwrap();
        let Action::Tag(TagAction { image, refs }) = &step.action else {
            panic!("{:?}", step.action)
        };
        assert_eq!(image, "x:1");
        assert_eq!(refs[0].lookup, ["foo"]);
        assert_eq!(refs[1].lookup, ["a", "b"]);
        let steps::Claim::Tag(claim) = &step.expect[0].claim else {
            panic!("{:?}", step.expect[0].claim)
        };
        assert_eq!(claim.found.as_deref(), Some(&["a".to_string()][..]));
    }

    #[test]
    fn tag_step_needs_refs() {
        let err = resolve("id: t\ntag: { image: x, refs: [] }\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.yaml:2:6: steps[0].tag.refs: must not be empty"
        );
    }

    #[test]
    fn unknown_fixture_without_fixtures() {
        let err = resolve("id: a\nload: x\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"s.yaml:2:7: steps[0].load: unknown fixture "x" (known: none)"#
        );
    }

    #[test]
    fn contradictory_expectation() {
        let err = resolve(
            "id: a\nload: a\nexpect:\n  - { outcome: loaded, error_contains: x }\n",
            &["a"],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.yaml:4:5: steps[0].expect[0]: error_contains cannot be combined with outcome: loaded"
        );
    }
}
