//! [`Step`]: one action on the runtime and what it should produce, and its resolution from
//! YAML.
//!
//! A step is written as a mapping with exactly one action key (`load: hybrid`) beside `id` and
//! `expect`, rather than as a tagged enum (`action: load`), because the action's argument reads
//! best as that key's value. In `RawStep` every action is an optional field; resolution demands
//! exactly one and builds the [`StepAction`] variant, so new actions (`import`, `tag`, `save`,
//! `push`) are a field, a variant and a branch in `resolve_step`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::claim::{Expectation, RawExpectation};
use super::error::{ConfigError, ConfigErrorKind};
use super::matrix::Cell;
use super::scenario::ident;
use crate::craft::FixtureSpec;

/// One action on the runtime, and what it should produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Unique within the scenario; `[a-z0-9-]+`.
    pub id: String,
    pub action: StepAction,
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

/// What a step does. Written as exactly one action key on the step (`load: hybrid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Load the named fixture's archive (`docker load`, libpod `images/load`, containerd
    /// import).
    Load { fixture: String },
    /// Tag `image` with each reference in turn, observing what the store records and which
    /// lookups find the image, then remove what the tag added before the next reference.
    Tag { image: String, refs: Vec<TagRef> },
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

impl StepAction {
    /// Every action key a step may use, for error messages.
    pub const KEYS: &'static [&'static str] = &["load", "tag"];

    /// The action key, as written in YAML.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Load { .. } => "load",
            Self::Tag { .. } => "tag",
        }
    }
}

/// A step as written. Each action is an optional key; resolution demands exactly one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    id: Spanned<String>,
    #[serde(default)]
    load: Option<Spanned<String>>,
    #[serde(default)]
    tag: Option<Spanned<RawTag>>,
    #[serde(default)]
    expect: Vec<Spanned<RawExpectation>>,
}

/// `tag:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTag {
    /// The image to tag: a name it already has, or an ID.
    image: Spanned<String>,
    refs: Vec<Spanned<RawTagRef>>,
}

/// One `refs:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTagRef {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    lookup: Option<Vec<String>>,
}

/// Resolves the step at `field` (`steps[1]`), given the scenario's fixtures and the steps
/// before it.
pub(crate) fn resolve_step(
    path: &Path,
    step: Spanned<RawStep>,
    field: &str,
    fixtures: &BTreeMap<String, FixtureSpec>,
    earlier: &[Step],
) -> Result<Step, ConfigError> {
    let err = |at: Location, field: &str, kind| ConfigError::at(path, at, field, kind);
    let at = step.referenced;
    let step = step.value;
    ident(path, &step.id, &format!("{field}.id"), "step id")?;
    if earlier.iter().any(|s| s.id == step.id.value) {
        return Err(err(
            step.id.referenced,
            &format!("{field}.id"),
            ConfigErrorKind::Duplicate {
                what: "step id",
                value: step.id.value,
            },
        ));
    }

    // One branch per action key; a new action adds a key to `RawStep`, a variant to
    // `StepAction` and a branch here.
    let mut actions = Vec::new();
    if let Some(load) = step.load {
        if !fixtures.contains_key(&load.value) {
            return Err(err(
                load.referenced,
                &format!("{field}.load"),
                ConfigErrorKind::UnknownFixture {
                    name: load.value,
                    known: fixtures.keys().cloned().collect(),
                },
            ));
        }
        actions.push(StepAction::Load {
            fixture: load.value,
        });
    }
    if let Some(tag) = step.tag {
        let (at, tag) = (tag.referenced, tag.value);
        if tag.image.value.is_empty() {
            return Err(err(
                tag.image.referenced,
                &format!("{field}.tag.image"),
                ConfigErrorKind::Empty,
            ));
        }
        if tag.refs.is_empty() {
            return Err(err(
                at,
                &format!("{field}.tag.refs"),
                ConfigErrorKind::Empty,
            ));
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
        actions.push(StepAction::Tag {
            image: tag.image.value,
            refs,
        });
    }
    let action = match actions.len() {
        1 => actions.remove(0),
        0 => {
            return Err(err(
                at,
                field,
                ConfigErrorKind::MissingAction {
                    expected: StepAction::KEYS,
                },
            ));
        }
        _ => {
            return Err(err(
                at,
                field,
                ConfigErrorKind::MultipleActions {
                    found: actions.iter().map(StepAction::key).collect(),
                },
            ));
        }
    };

    let expect = step
        .expect
        .into_iter()
        .enumerate()
        .map(|(j, e)| RawExpectation::resolve(e, path, &format!("{field}.expect[{j}]")))
        .collect::<Result<_, ConfigError>>()?;
    Ok(Step {
        id: step.id.value,
        action,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        resolve_step(Path::new("s.yaml"), raw, "steps[0]", &fixtures, &[])
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
            StepAction::Load {
                fixture: "a".into()
            }
        );
        assert_eq!(step.action.key(), "load");
        assert_eq!(step.expect.len(), 2);
        assert_eq!(step.expect[1].when.store.as_deref(), Some("vfs"));
    }

    #[test]
    fn every_action_key_is_listed() {
        let actions = [
            StepAction::Load {
                fixture: String::new(),
            },
            StepAction::Tag {
                image: String::new(),
                refs: Vec::new(),
            },
        ];
        for action in actions {
            assert!(StepAction::KEYS.contains(&action.key()));
        }
    }

    #[test]
    fn tag_step_defaults_each_lookup_to_the_reference_itself() {
        let step = resolve(
            "id: t\ntag:\n  image: x:1\n  refs:\n    - ref: foo\n    - { ref: bastion.io/foo:local, lookup: [a, b] }\nexpect:\n  - { found: [a], not_found: [b] }\n",
            &[],
        )
        .unwrap();
        let StepAction::Tag { image, refs } = &step.action else {
            panic!("{:?}", step.action)
        };
        assert_eq!(image, "x:1");
        assert_eq!(refs[0].lookup, ["foo"]);
        assert_eq!(refs[1].lookup, ["a", "b"]);
        assert_eq!(
            step.expect[0].claim.found.as_deref(),
            Some(&["a".to_string()][..])
        );
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
