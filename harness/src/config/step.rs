//! [`Step`]: one action on the runtime and what it should produce, and its resolution from
//! YAML.
//!
//! A step is written as a mapping with exactly one action key (`load: hybrid`) beside `id` and
//! `expect`, rather than as a tagged enum (`action: load`), because the action's argument reads
//! best as that key's value. Which keys are actions, what their values look like and which
//! claims an expectation may make all belong to the step kinds (`crate::steps`): this file only
//! demands exactly one action and resolves the expectations against its kind.
//!
//! Beside the action, three keys say how and where the step runs, the same for every kind:
//! `repeat: N` (the action runs N times in a row, for intermittent behaviour), `timeout:`
//! (overrides the run's `--step-timeout` for each of those runs) and `applies_to:` (the cells
//! it runs on). They are resolved here rather than by the kinds because the runner, not the
//! kind, acts on them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::claim::{Expectation, RawExpectation};
use super::error::{ConfigError, ConfigErrorKind};
use super::matrix::Cell;
use super::scenario::ident;
use super::selector::{AppliesTo, RawAppliesTo};
use super::yaml::Node;
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
    /// How many times the action runs in a row on the same instance: 1 to [`MAX_REPEAT`],
    /// default 1.
    pub repeat: u32,
    /// How long each run of the action may take; `None`: the run's `--step-timeout`.
    pub timeout: Option<Duration>,
    /// The cells the step runs on; on the others it is recorded as skipped. Default: all.
    pub applies_to: AppliesTo,
}

/// The largest `repeat:`.
pub const MAX_REPEAT: u32 = 1000;

/// The longest `timeout:`, a day; the shortest is one second.
pub const MAX_STEP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Step {
    /// Whether the action runs more than once.
    pub fn is_repeated(&self) -> bool {
        self.repeat > 1
    }

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

/// A step as written: its id, every action key present (resolution demands exactly one), its
/// expectations, and `repeat`, `timeout` and `applies_to` as positioned nodes.
#[derive(Debug)]
pub(crate) struct RawStep {
    id: Option<Spanned<String>>,
    actions: Vec<RawAction>,
    expect: Vec<Spanned<RawExpectation>>,
    repeat: Option<Spanned<Node>>,
    timeout: Option<Spanned<Node>>,
    applies_to: Option<Spanned<RawAppliesTo>>,
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
                    repeat: None,
                    timeout: None,
                    applies_to: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "id" => step.id = Some(map.next_value()?),
                        "expect" => step.expect = map.next_value()?,
                        "repeat" => step.repeat = Some(map.next_value()?),
                        "timeout" => step.timeout = Some(map.next_value()?),
                        "applies_to" => step.applies_to = Some(map.next_value()?),
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
    let repeat = match step.repeat {
        Some(node) => resolve_repeat(path, &format!("{field}.repeat"), node)?,
        None => 1,
    };
    let timeout = step
        .timeout
        .map(|node| resolve_timeout(path, &format!("{field}.timeout"), node))
        .transpose()?;
    let applies_to = match step.applies_to {
        Some(raw) => RawAppliesTo::resolve(raw, path, &format!("{field}.applies_to"))?,
        None => AppliesTo::default(),
    };
    let expect = step
        .expect
        .into_iter()
        .enumerate()
        .map(|(j, e)| {
            let field = format!("{field}.expect[{j}]");
            RawExpectation::resolve(e, path, &field, &action, repeat > 1)
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(Step {
        id: id.value,
        action,
        expect,
        repeat,
        timeout,
        applies_to,
    })
}

/// `repeat:`: an integer from 1 to [`MAX_REPEAT`].
fn resolve_repeat(path: &Path, field: &str, node: Spanned<Node>) -> Result<u32, ConfigError> {
    let text = match &node.value {
        Node::Scalar(s) => s.clone(),
        _ => {
            return Err(ConfigError::at(
                path,
                node.referenced,
                field,
                ConfigErrorKind::WrongType {
                    expected: "an integer",
                },
            ));
        }
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_REPEAT).contains(&n) && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ConfigError::at(
            path,
            node.referenced,
            field,
            ConfigErrorKind::InvalidRepeat {
                value: text,
                max: MAX_REPEAT,
            },
        )),
    }
}

/// `timeout:`: `<int>s`, `<int>m`, `<int>h` or an integer number of seconds, from 1s to
/// [`MAX_STEP_TIMEOUT`].
fn resolve_timeout(path: &Path, field: &str, node: Spanned<Node>) -> Result<Duration, ConfigError> {
    let fail = |value: String, reason| {
        ConfigError::at(
            path,
            node.referenced,
            field,
            ConfigErrorKind::InvalidDuration { value, reason },
        )
    };
    let Node::Scalar(text) = &node.value else {
        return Err(ConfigError::at(
            path,
            node.referenced,
            field,
            ConfigErrorKind::WrongType {
                expected: "a duration such as 90s, 5m or 1h",
            },
        ));
    };
    parse_duration(text).map_err(|reason| fail(text.clone(), reason))
}

/// Parses a step timeout as written (`90s`, `5m`, `1h`, `90`).
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    const SHAPE: &str = "expected <int>s, <int>m, <int>h or an integer number of seconds";
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(SHAPE),
    };
    if digits.is_empty() {
        return Err(SHAPE);
    }
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|s| *s >= 1 && *s <= MAX_STEP_TIMEOUT.as_secs())
        .ok_or("must be from 1s to 24h")?;
    Ok(Duration::from_secs(secs))
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

    /// A scenario with fixture `a` and this text after `steps:\n` (and any top-level keys
    /// after it), parsed through the loader so shape errors carry their field path.
    fn scenario(rest: &str) -> Result<crate::config::Scenario, ConfigError> {
        let src = format!(
            "name: s\nsummary: s\nfixtures:\n  a: {{ layout: oci-archive, layers: [{{ files: [{{ path: x, content: x }}] }}] }}\nsteps:\n{rest}"
        );
        crate::config::parse_scenario(&src, Path::new("s.yaml"))
    }

    #[test]
    fn repeat_timeout_and_applies_to_default_to_once_the_run_s_timeout_and_everywhere() {
        let step = resolve("id: a\nload: a\n", &["a"]).unwrap();
        assert_eq!(
            (step.repeat, step.timeout, step.is_repeated()),
            (1, None, false)
        );
        assert!(step.applies_to.is_all());
    }

    #[test]
    fn repeat_timeout_applies_to_and_trials_resolve() {
        let step = resolve(
            "id: a\nload: a\nrepeat: 10\ntimeout: 90s\napplies_to: [{ runtime: podman }, { store: vfs }]\nexpect:\n  - { outcome: loaded, trials: any }\n  - outcome: loaded\n",
            &["a"],
        )
        .unwrap();
        assert_eq!(step.repeat, 10);
        assert!(step.is_repeated());
        assert_eq!(step.timeout, Some(Duration::from_secs(90)));
        assert_eq!(step.applies_to.0.len(), 2);
        assert_eq!(
            step.applies_to.0[0].runtime,
            Some(crate::config::RuntimeKind::Podman)
        );
        assert_eq!(step.applies_to.0[1].store.as_deref(), Some("vfs"));
        assert_eq!(step.expect[0].trials, crate::config::Trials::Any);
        assert_eq!(step.expect[1].trials, crate::config::Trials::All);
        let one = resolve("id: a\nload: a\napplies_to: { runtime: docker }\n", &["a"]).unwrap();
        assert_eq!(one.applies_to.0.len(), 1);
    }

    #[rstest::rstest]
    #[case("90", 90)]
    #[case("90s", 90)]
    #[case("1s", 1)]
    #[case("5m", 300)]
    #[case("2h", 7200)]
    #[case("24h", 86400)]
    #[case("86400", 86400)]
    fn durations(#[case] text: &str, #[case] secs: u64) {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }

    #[rstest::rstest]
    #[case("", "expected <int>s, <int>m, <int>h or an integer number of seconds")]
    #[case("s", "expected <int>s, <int>m, <int>h or an integer number of seconds")]
    #[case(
        "90x",
        "expected <int>s, <int>m, <int>h or an integer number of seconds"
    )]
    #[case(
        "1.5m",
        "expected <int>s, <int>m, <int>h or an integer number of seconds"
    )]
    #[case(
        "-1s",
        "expected <int>s, <int>m, <int>h or an integer number of seconds"
    )]
    #[case(
        "1 m",
        "expected <int>s, <int>m, <int>h or an integer number of seconds"
    )]
    #[case(
        "500ms",
        "expected <int>s, <int>m, <int>h or an integer number of seconds"
    )]
    #[case("0s", "must be from 1s to 24h")]
    #[case("0", "must be from 1s to 24h")]
    #[case("25h", "must be from 1s to 24h")]
    #[case("86401", "must be from 1s to 24h")]
    #[case("99999999999999999999h", "must be from 1s to 24h")]
    fn bad_durations(#[case] text: &str, #[case] reason: &str) {
        assert_eq!(parse_duration(text), Err(reason), "{text:?}");
    }

    #[rstest::rstest]
    #[case::repeat_zero(
        "    repeat: 0\n",
        r#"s.yaml:8:13: steps[0].repeat: expected an integer from 1 to 1000, found "0""#
    )]
    #[case::repeat_too_many(
        "    repeat: 1001\n",
        r#"s.yaml:8:13: steps[0].repeat: expected an integer from 1 to 1000, found "1001""#
    )]
    #[case::repeat_negative(
        "    repeat: -3\n",
        r#"s.yaml:8:13: steps[0].repeat: expected an integer from 1 to 1000, found "-3""#
    )]
    #[case::repeat_not_a_number(
        "    repeat: often\n",
        r#"s.yaml:8:13: steps[0].repeat: expected an integer from 1 to 1000, found "often""#
    )]
    #[case::repeat_a_list(
        "    repeat: [3]\n",
        "s.yaml:8:13: steps[0].repeat: expected an integer"
    )]
    #[case::bad_duration(
        "    timeout: 90x\n",
        r#"s.yaml:8:14: steps[0].timeout: invalid duration "90x": expected <int>s, <int>m, <int>h or an integer number of seconds"#
    )]
    #[case::zero_duration(
        "    timeout: 0s\n",
        r#"s.yaml:8:14: steps[0].timeout: invalid duration "0s": must be from 1s to 24h"#
    )]
    #[case::long_duration(
        "    timeout: 25h\n",
        r#"s.yaml:8:14: steps[0].timeout: invalid duration "25h": must be from 1s to 24h"#
    )]
    #[case::unknown_selector_key(
        "    applies_to: { runtime: docker, versions: '<25' }\n",
        "s.yaml:8:36: steps[0].applies_to.versions: unknown field `versions`, expected one of runtime, version, store, builder, api"
    )]
    #[case::unknown_selector_key_in_a_list(
        "    applies_to: [{ runtime: docker }, { stor: vfs }]\n",
        "s.yaml:8:41: steps[0].applies_to[1].stor: unknown field `stor`, expected one of runtime, version, store, builder, api"
    )]
    #[case::bad_version_in_a_list(
        "    applies_to: [{ runtime: docker }, { version: '>=x' }]\n",
        r#"s.yaml:8:50: steps[0].applies_to[1].version: invalid version constraint ">=x": expected dot-separated numbers such as 4.3.1"#
    )]
    #[case::unknown_store(
        "    applies_to: { runtime: podman, store: overlay2 }\n",
        r#"s.yaml:8:43: steps[0].applies_to.store: unknown store "overlay2" for podman (known: overlay, vfs, btrfs, zfs, devmapper, aufs)"#
    )]
    #[case::empty_list(
        "    applies_to: []\n",
        "s.yaml:8:17: steps[0].applies_to: must not be empty"
    )]
    #[case::not_a_selector(
        "    applies_to: docker\n",
        "s.yaml:8:5: steps[0].applies_to: invalid type: string \"docker\", expected a selector (runtime, version, store, builder, api) or a list of them"
    )]
    #[case::trials_without_repeat(
        "    expect:\n      - { outcome: loaded, trials: any }\n",
        "s.yaml:9:36: steps[0].expect[0].trials: trials applies only to a step with repeat: 2 or more (this step runs once)"
    )]
    #[case::trials_with_repeat_one(
        "    repeat: 1\n    expect:\n      - { outcome: loaded, trials: any }\n",
        "s.yaml:10:36: steps[0].expect[0].trials: trials applies only to a step with repeat: 2 or more (this step runs once)"
    )]
    #[case::unknown_trials(
        "    repeat: 2\n    expect:\n      - { outcome: loaded, trials: most }\n",
        "s.yaml:10:36: steps[0].expect[0].trials: unknown variant `most`, expected one of all, any"
    )]
    fn step_key_errors(#[case] keys: &str, #[case] expected: &str) {
        let err = scenario(&format!("  - id: l\n    load: a\n{keys}")).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn trials_is_not_a_known_issue_key() {
        let err = scenario(
            "  - { id: l, load: a, repeat: 3 }\nknown_issues:\n  - { id: k, summary: k, step: l, outcome: error, trials: any }\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"s.yaml:8:51: known_issues[0].trials: "trials" is not a claim of a load step (it claims: outcome, names, id_is, error_contains)"#
        );
    }

    #[test]
    fn scenario_applies_to() {
        let all = scenario("  - { id: l, load: a }\n").unwrap();
        assert!(all.applies_to.is_all());
        let s = scenario(
            "  - { id: l, load: a }\napplies_to: [{ runtime: podman, version: '>=4' }, { runtime: containerd }]\n",
        )
        .unwrap();
        assert_eq!(s.applies_to.0.len(), 2);
        let cell = |runtime, version: &str| Cell {
            id: "c".into(),
            runtime,
            version: version.into(),
            store: "vfs".into(),
            builder: None,
            api: None,
            extra: Default::default(),
        };
        use crate::config::RuntimeKind::{Containerd, Docker, Podman};
        assert!(!s.applies_to.may_match(&cell(Docker, "host")));
        assert!(s.applies_to.may_match(&cell(Podman, "host")));
        assert!(!s.applies_to.may_match(&cell(Podman, "3.0")));
        assert!(s.applies_to.may_match(&cell(Containerd, "host")));
        assert!(!s.applies_to.matches(&cell(Podman, "host"), "3.4.4"));
        assert!(s.applies_to.matches(&cell(Podman, "host"), "4.3.1"));
        let err = scenario("  - { id: l, load: a }\napplies_to: { runtim: podman }\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.yaml:7:15: applies_to.runtim: unknown field `runtim`, expected one of runtime, version, store, builder, api"
        );
    }
}
