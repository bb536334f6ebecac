//! Scenario YAML -> [`Scenario`]: fixtures to craft, steps to run on each cell, what each step
//! should produce there, and the known upstream issues that explain a different result.
//!
//! `Raw*` types are the file as written, with positions on the values that semantic checks
//! look at; `resolve` turns them into the public types, which hold only valid scenarios (every
//! `load` names a fixture, step ids are unique, every version constraint parses, every
//! expectation checks something). Steps resolve in `step.rs`, claims in `claim.rs`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::claim::{ClaimFields, Site};
use super::error::{ConfigError, ConfigErrorKind, Position};
use super::matrix::Cell;
use super::selector::{RawSelector, Selector};
use super::step::{RawStep, Step, resolve_step};
use super::vars::{self, Values};
use super::yaml::{self, OrderedMap};
use crate::craft::{FixtureSpec, RootfsSpec};

/// One scenario file, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Equal to the file stem, or in a file of several scenarios the stem or `<stem>-...`;
    /// `[a-z0-9-]+`, unique in a run.
    pub name: String,
    /// Where in its file it is written, and what it needs to be resolved again per cell.
    pub(crate) doc: Doc,
    /// One line saying what the scenario shows.
    pub summary: String,
    /// The regression id this scenario guards (`R1`), if any.
    pub regression: Option<String>,
    /// Upstream issues and documents.
    pub links: Vec<String>,
    /// Crafted fixture name -> spec.
    pub fixtures: BTreeMap<String, FixtureSpec>,
    /// Rootfs tarball fixtures (`{ rootfs: ... }` entries of `fixtures:`), by name.
    pub rootfs: BTreeMap<String, RootfsSpec>,
    /// Produced fixture name -> what produces it (`config/produced.rs`). A fixture name is in
    /// exactly one of `fixtures`, `rootfs` and `produced`.
    pub produced: BTreeMap<String, super::produced::ProducedFixture>,
    /// Never empty; ids are unique.
    pub steps: Vec<Step>,
    pub known_issues: Vec<KnownIssue>,
    /// The cells it runs on (`applies_to:`); elsewhere its result is `skip`. Default: all.
    pub applies_to: super::selector::AppliesTo,
    /// The file it was loaded from.
    pub source: PathBuf,
}

/// Where a scenario is in its file (`---`-separated documents), and the file's text when the
/// scenario uses variables (to resolve it again with each cell's values).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Doc {
    /// Its document among the file's non-empty documents, from 0.
    pub(crate) index: usize,
    /// Where its `name` is written.
    pub(crate) name_at: Option<Position>,
    /// The whole file, when the scenario uses a variable.
    pub(crate) template: Option<Arc<str>>,
}

impl Scenario {
    /// Whether the scenario uses a variable (`${cell.runtime}` ...), so that each cell runs
    /// it with other values.
    pub fn uses_variables(&self) -> bool {
        self.doc.template.is_some()
    }

    /// The scenario as `cell` runs it: its variables substituted with the cell's values and
    /// the result resolved again, so what the values make of a step is checked like the
    /// file itself (an error names the file, line, column and field where the substituted
    /// value is written). Without variables, the scenario itself.
    pub fn for_cell(&self, cell: &Cell) -> Result<Cow<'_, Scenario>, ConfigError> {
        let Some(text) = &self.doc.template else {
            return Ok(Cow::Borrowed(self));
        };
        let path = &self.source;
        let names = document_names(text, path)?;
        let raw = vars::parse::<RawScenario>(
            text,
            path,
            &Values::for_cell(cell),
            names,
            Some(self.doc.index),
        )?
        .into_iter()
        .nth(self.doc.index)
        .flatten()
        .ok_or_else(|| ConfigError::new(path, ConfigErrorKind::NotOneScenario { count: 0 }))?;
        let mut scenario = resolve(raw, path)?;
        scenario.doc = self.doc.clone();
        Ok(Cow::Owned(scenario))
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The known issues declared for `step` that apply to `cell` at `observed_version`.
    pub fn known_issues_for<'a>(
        &'a self,
        step: &'a str,
        cell: &'a Cell,
        observed_version: &'a str,
    ) -> impl Iterator<Item = &'a KnownIssue> + 'a {
        self.known_issues
            .iter()
            .filter(move |k| k.step == step && k.when.matches(cell, observed_version))
    }
}

/// A declared upstream bug: on the cells `when` selects, `step` produces `claim` (the wrong
/// result) instead of what the expectations say. Reproducing it is status `known`; not
/// reproducing it is `fixed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownIssue {
    /// Unique within the scenario.
    pub id: String,
    pub summary: String,
    pub link: Option<String>,
    /// The id of an existing step.
    pub step: String,
    pub when: Selector,
    /// The wrong result it produces there, typed by the step's kind.
    pub claim: crate::steps::Claim,
    /// Where it is written, for reports about it after loading.
    #[serde(skip)]
    pub site: Site,
}

/// Reads and resolves a scenario file of one scenario.
pub fn load_scenario(path: &Path) -> Result<Scenario, ConfigError> {
    parse_scenario(&yaml::read(path)?, path)
}

/// Parses and resolves scenario YAML of one scenario; `path` names it in errors, and its stem
/// must equal `name`.
pub fn parse_scenario(src: &str, path: &Path) -> Result<Scenario, ConfigError> {
    let mut all = parse_scenarios(src, path)?;
    if all.len() != 1 {
        return Err(ConfigError::new(
            path,
            ConfigErrorKind::NotOneScenario { count: all.len() },
        ));
    }
    Ok(all.remove(0))
}

/// Reads and resolves a scenario file: every scenario in it, in order.
pub fn load_scenarios(path: &Path) -> Result<Vec<Scenario>, ConfigError> {
    parse_scenarios(&yaml::read(path)?, path)
}

/// Parses and resolves scenario YAML of one or several scenarios (YAML documents separated by
/// `---`); `path` names it in errors. One scenario's `name` is the file stem; with several,
/// each is the stem or starts with `<stem>-`, and no two are the same.
///
/// Variables are checked first (`vars::check`), then every document is resolved with sample
/// values ([`Values::sample`]); [`Scenario::for_cell`] resolves it again per cell.
pub fn parse_scenarios(src: &str, path: &Path) -> Result<Vec<Scenario>, ConfigError> {
    let docs = yaml::documents(src, path)?;
    let infos = vars::check(src, path, &docs)?;
    let names = infos.iter().map(|i| i.name.clone()).collect();
    let raws = vars::parse::<RawScenario>(src, path, &Values::sample(), names, None)?;
    if raws.is_empty() {
        // No document at all: the error a single-document parse gives ("unexpected end of
        // file" for an empty file).
        yaml::parse::<RawScenario>(src, path)?;
        return Err(ConfigError::new(
            path,
            ConfigErrorKind::NotOneScenario { count: 0 },
        ));
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let several = raws.len() > 1;
    let text: Arc<str> = Arc::from(src);
    let mut out: Vec<Scenario> = Vec::with_capacity(raws.len());
    for (index, raw) in raws.into_iter().enumerate() {
        let raw = raw.expect("every document is parsed");
        check_name(path, &raw.name, &stem, several, &out)?;
        let name_at = Position::from_location(raw.name.referenced);
        let uses_variables = infos.get(index).is_some_and(|i| i.uses_variables);
        let mut scenario = resolve(raw, path)?;
        scenario.doc = Doc {
            index,
            name_at,
            template: uses_variables.then(|| text.clone()),
        };
        out.push(scenario);
    }
    Ok(out)
}

/// Refuses a scenario name used twice among `scenarios` (of any files), naming both files.
pub fn check_unique_names(scenarios: &[Scenario]) -> Result<(), ConfigError> {
    for (i, s) in scenarios.iter().enumerate() {
        if let Some(first) = scenarios[..i].iter().find(|f| f.name == s.name) {
            return Err(ConfigError {
                path: s.source.clone(),
                position: s.doc.name_at,
                field: Some("name".into()),
                kind: ConfigErrorKind::DuplicateScenario {
                    name: s.name.clone(),
                    first: first.source.clone(),
                },
            });
        }
    }
    Ok(())
}

/// Each document's `name`, for `${scenario.name}`.
fn document_names(src: &str, path: &Path) -> Result<Vec<Option<String>>, ConfigError> {
    let docs = yaml::documents(src, path)?;
    Ok(vars::check(src, path, &docs)?
        .into_iter()
        .map(|i| i.name)
        .collect())
}

/// A scenario's name: `[a-z0-9-]+`; the file stem when it is the file's only scenario, else
/// the stem or `<stem>-...`, and not a name an earlier scenario of the file has.
fn check_name(
    path: &Path,
    name: &Spanned<String>,
    stem: &str,
    several: bool,
    earlier: &[Scenario],
) -> Result<(), ConfigError> {
    ident(path, name, "name", "scenario name")?;
    let err = |kind| Err(ConfigError::at(path, name.referenced, "name", kind));
    let value = &name.value;
    if !several && value != stem {
        return err(ConfigErrorKind::NameMismatch {
            name: value.clone(),
            stem: stem.to_owned(),
        });
    }
    let of_file = value == stem
        || value
            .strip_prefix(stem)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('-'));
    if several && !of_file {
        return err(ConfigErrorKind::NameNotOfFile {
            name: value.clone(),
            stem: stem.to_owned(),
        });
    }
    if earlier.iter().any(|s| &s.name == value) {
        return err(ConfigErrorKind::Duplicate {
            what: "scenario name",
            value: value.clone(),
        });
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    summary: String,
    #[serde(default)]
    regression: Option<String>,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    fixtures: OrderedMap<super::produced::RawFixture>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
    #[serde(default)]
    known_issues: Vec<Spanned<RawKnownIssue>>,
    #[serde(default)]
    applies_to: Option<Spanned<super::selector::RawAppliesTo>>,
}

/// A known issue as written: its own keys, and the claim keys for its step's kind to read.
#[derive(Debug)]
struct RawKnownIssue {
    id: Spanned<String>,
    summary: String,
    link: Option<String>,
    step: Spanned<String>,
    when: Option<RawSelector>,
    claims: ClaimFields,
}

impl<'de> Deserialize<'de> for RawKnownIssue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKnownIssue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a known issue (id, summary, link, step, when and claims)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut id, mut summary, mut link, mut step, mut when) =
                    (None, None, None, None, None);
                let mut claims = ClaimFields::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "id" => id = Some(map.next_value()?),
                        "summary" => summary = Some(map.next_value()?),
                        "link" => link = map.next_value()?,
                        "step" => step = Some(map.next_value()?),
                        "when" => when = Some(map.next_value()?),
                        _ => claims.0.push((key, map.next_value()?)),
                    }
                }
                Ok(RawKnownIssue {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    summary: summary.ok_or_else(|| de::Error::missing_field("summary"))?,
                    link,
                    step: step.ok_or_else(|| de::Error::missing_field("step"))?,
                    when,
                    claims,
                })
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The second pass: checks what the YAML means and builds the [`Scenario`] (its name is
/// checked by [`check_name`] before).
fn resolve(raw: RawScenario, path: &Path) -> Result<Scenario, ConfigError> {
    let err = |at: Location, field: &str, kind| ConfigError::at(path, at, field, kind);

    let mut fixtures = BTreeMap::new();
    let mut rootfs = BTreeMap::new();
    let mut raw_produced = Vec::new();
    for (name, decl) in raw.fixtures.0 {
        let field = format!("fixtures.{}", name.value);
        ident(path, &name, &field, "fixture name")?;
        // Everything crafting would refuse is refused now, before a run starts anything.
        let invalid = |e: crate::craft::CraftError| {
            err(
                name.referenced,
                &field,
                ConfigErrorKind::Fixture(crate::run::error_chain(&e)),
            )
        };
        match decl {
            super::produced::RawFixture::Crafted(spec) => {
                crate::craft::validate(&spec).map_err(invalid)?;
                fixtures.insert(name.value, spec);
            }
            super::produced::RawFixture::Rootfs(spec) => {
                crate::craft::validate_rootfs(&spec).map_err(invalid)?;
                rootfs.insert(name.value, spec);
            }
            super::produced::RawFixture::Produced(p) => raw_produced.push((name, field, p)),
        }
    }

    // Produced fixtures after crafted ones: a `load:` producer names a crafted fixture.
    let mut produced = BTreeMap::new();
    for (name, field, p) in raw_produced {
        produced.insert(name.value, p.resolve(path, &field, &fixtures, &rootfs)?);
    }
    let produced_names: std::collections::BTreeSet<String> = produced.keys().cloned().collect();

    if raw.steps.value.is_empty() {
        return Err(err(raw.steps.referenced, "steps", ConfigErrorKind::NoSteps));
    }
    let mut steps: Vec<Step> = Vec::with_capacity(raw.steps.value.len());
    for (i, step) in raw.steps.value.into_iter().enumerate() {
        let step = resolve_step(
            path,
            step,
            &format!("steps[{i}]"),
            &fixtures,
            &rootfs,
            &produced_names,
            &steps,
        )?;
        steps.push(step);
    }

    let mut known_issues: Vec<KnownIssue> = Vec::with_capacity(raw.known_issues.len());
    for (k, issue) in raw.known_issues.into_iter().enumerate() {
        let field = format!("known_issues[{k}]");
        let (at, issue) = (issue.referenced, issue.value);
        if issue.id.value.trim().is_empty() {
            return Err(err(
                issue.id.referenced,
                &format!("{field}.id"),
                ConfigErrorKind::Empty,
            ));
        }
        if known_issues.iter().any(|x| x.id == issue.id.value) {
            return Err(err(
                issue.id.referenced,
                &format!("{field}.id"),
                ConfigErrorKind::Duplicate {
                    what: "known issue id",
                    value: issue.id.value,
                },
            ));
        }
        let Some(step) = steps.iter().find(|s| s.id == issue.step.value) else {
            return Err(err(
                issue.step.referenced,
                &format!("{field}.step"),
                ConfigErrorKind::UnknownStep {
                    id: issue.step.value,
                    known: steps.iter().map(|s| s.id.clone()).collect(),
                },
            ));
        };
        let when = match issue.when {
            Some(when) => when.resolve(path, &format!("{field}.when"))?,
            None => Selector::default(),
        };
        let claim = step.action.resolve_claim(issue.claims, path, at, &field)?;
        known_issues.push(KnownIssue {
            when,
            claim,
            site: Site::new(at, field),
            id: issue.id.value,
            summary: issue.summary,
            link: issue.link,
            step: issue.step.value,
        });
    }

    let applies_to = match raw.applies_to {
        Some(a) => super::selector::RawAppliesTo::resolve(a, path, "applies_to")?,
        None => Default::default(),
    };
    Ok(Scenario {
        applies_to,
        name: raw.name.value,
        doc: Doc::default(),
        summary: raw.summary,
        regression: raw.regression,
        links: raw.links,
        fixtures,
        rootfs,
        produced,
        steps,
        known_issues,
        source: path.to_path_buf(),
    })
}

/// Checks that an identifier matches `[a-z0-9-]+`.
pub(crate) fn ident(
    path: &Path,
    value: &Spanned<String>,
    field: &str,
    what: &'static str,
) -> Result<(), ConfigError> {
    let ok = !value.value.is_empty()
        && value
            .value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(ConfigError::at(
        path,
        value.referenced,
        field,
        ConfigErrorKind::InvalidIdent {
            what,
            value: value.value.clone(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::config::{Expectation, IdRole, Outcome, RuntimeKind, VersionConstraint};
    use crate::steps::load::{LoadAction, LoadClaim};
    use crate::steps::{Action, Claim};

    fn load_claim(c: &Claim) -> &LoadClaim {
        match c {
            Claim::Load(c) => c,
            other => panic!("not a load claim: {other:?}"),
        }
    }

    const GOOD: &str = r#"name: podman3
summary: Podman 3.4 names BuildKit/Docker>=25 archives localhost/latest:latest
regression: R1
links: [https://github.com/containers/podman/issues/10809]
fixtures:
  hybrid:
    layout: docker-oci-hybrid
    name: dangerzone.rocks/dangerzone:latest
    layers:
      - files: [{ path: etc/fixture, content: "hybrid\n" }]
  tag-only-oci:
    layout: oci-archive
    ref_name: latest
    layers:
      - files: [{ path: etc/fixture, content: "tag-only\n" }]
steps:
  - id: load-hybrid
    load: hybrid
    expect:
      - names: [dangerzone.rocks/dangerzone:latest]
        id_is: config
  - id: load-tag-only
    load: tag-only-oci
    expect:
      - when: { runtime: podman, version: ">=4" }
        names: [localhost/latest:latest]
      - when: { runtime: docker, version: "<25" }
        outcome: error
known_issues:
  - id: R1-podman-3.4
    summary: Podman 3.4 takes the name from ref.name only
    link: https://github.com/containers/podman/issues/10809
    step: load-hybrid
    when: { runtime: podman, version: "3.4.*" }
    names: [localhost/latest:latest]
"#;

    fn parse(src: &str) -> Result<Scenario, ConfigError> {
        parse_scenario(src, Path::new("scenarios/podman3.yaml"))
    }

    fn cell(runtime: RuntimeKind) -> Cell {
        Cell {
            id: format!("{runtime}-host-vfs"),
            runtime,
            version: "host".into(),
            store: "vfs".into(),
            builder: None,
            api: None,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn resolves_the_example() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.name, "podman3");
        assert_eq!(s.regression.as_deref(), Some("R1"));
        assert_eq!(s.links.len(), 1);
        assert_eq!(
            s.fixtures.keys().collect::<Vec<_>>(),
            ["hybrid", "tag-only-oci"]
        );
        assert_eq!(
            s.fixtures["tag-only-oci"].ref_name.as_deref(),
            Some("latest")
        );
        assert_eq!(s.source, Path::new("scenarios/podman3.yaml"));

        let ids: Vec<_> = s.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["load-hybrid", "load-tag-only"]);
        assert_eq!(
            s.steps[1].action,
            Action::Load(LoadAction {
                fixture: "tag-only-oci".into()
            })
        );
        assert_eq!(
            s.steps[0].expect,
            [Expectation {
                when: Selector::default(),
                claim: Claim::Load(LoadClaim {
                    outcome: None,
                    names: Some(vec!["dangerzone.rocks/dangerzone:latest".into()]),
                    id_is: Some(IdRole::Config),
                    error_contains: None,
                }),
                trials: crate::config::Trials::All,
                site: Site {
                    position: Some(crate::config::Position {
                        line: 20,
                        column: 9
                    }),
                    field: "steps[0].expect[0]".into(),
                },
            }]
        );
        let when = &s.steps[1].expect[1].when;
        assert_eq!(when.runtime, Some(RuntimeKind::Docker));
        assert_eq!(
            when.version.as_ref().map(VersionConstraint::as_str),
            Some("<25")
        );
        assert_eq!(
            load_claim(&s.steps[1].expect[1].claim).outcome,
            Some(Outcome::Error)
        );

        let issue = &s.known_issues[0];
        assert_eq!(
            (issue.id.as_str(), issue.step.as_str()),
            ("R1-podman-3.4", "load-hybrid")
        );
        assert_eq!(
            load_claim(&issue.claim).names,
            Some(vec!["localhost/latest:latest".into()])
        );
    }

    #[test]
    fn picks_expectations_and_known_issues_per_cell() {
        let s = parse(GOOD).unwrap();
        let podman = cell(RuntimeKind::Podman);
        let docker = cell(RuntimeKind::Docker);
        let step = s.step("load-tag-only").unwrap();
        assert_eq!(step.expectations_for(&podman, "4.3.1").count(), 1);
        assert_eq!(step.expectations_for(&podman, "3.4.4").count(), 0);
        assert_eq!(step.expectations_for(&docker, "20.10.24+dfsg1").count(), 1);
        assert_eq!(step.expectations_for(&docker, "27.1.1").count(), 0);
        assert_eq!(
            s.known_issues_for("load-hybrid", &podman, "3.4.4").count(),
            1
        );
        assert_eq!(
            s.known_issues_for("load-hybrid", &podman, "4.3.1").count(),
            0
        );
        assert_eq!(
            s.known_issues_for("load-tag-only", &podman, "3.4.4")
                .count(),
            0
        );
    }

    #[test]
    fn names_are_sorted() {
        let src = GOOD.replace(
            "names: [dangerzone.rocks/dangerzone:latest]",
            "names: [z:latest, a:latest]",
        );
        let s = parse(&src).unwrap();
        assert_eq!(
            load_claim(&s.steps[0].expect[0].claim).names,
            Some(vec!["a:latest".into(), "z:latest".into()])
        );
    }

    #[rstest]
    #[case::unknown_fixture(
        "    load: tag-only-oci\n",
        "    load: hybird\n",
        r#"23:11: steps[1].load: unknown fixture "hybird" (known: hybrid, tag-only-oci)"#
    )]
    #[case::duplicate_step_id(
        "- id: load-tag-only\n",
        "- id: load-hybrid\n",
        r#"22:9: steps[1].id: duplicate step id "load-hybrid""#
    )]
    #[case::invalid_step_id(
        "- id: load-hybrid\n",
        "- id: Load_Hybrid\n",
        r#"17:9: steps[0].id: step id "Load_Hybrid" must match [a-z0-9-]+"#
    )]
    #[case::bad_version_constraint(
        r#"version: ">=4" }"#,
        r#"version: ">=four" }"#,
        r#"25:43: steps[1].expect[0].when.version: invalid version constraint ">=four": expected dot-separated numbers such as 4.3.1"#
    )]
    #[case::bad_version_in_known_issue(
        r#"version: "3.4.*" }"#,
        r#"version: "3.*.4" }"#,
        r#"34:39: known_issues[0].when.version: invalid version constraint "3.*.4": `*` is allowed only alone or as the last component (`3.4.*`)"#
    )]
    #[case::unknown_known_issue_step(
        "    step: load-hybrid\n",
        "    step: load-hybird\n",
        r#"33:11: known_issues[0].step: unknown step "load-hybird" (known: load-hybrid, load-tag-only)"#
    )]
    #[case::unknown_step_key(
        "    load: hybrid\n",
        "    lod: hybrid\n",
        "18:5: steps[0].lod: unknown field `lod`, expected one of id, load, tag, inspect, import, save, remove, list, push, pull, build, publish, expect, repeat, timeout, applies_to"
    )]
    #[case::step_without_action(
        "    load: hybrid\n",
        "",
        "17:5: steps[0]: step has no action (expected one of: load, tag, inspect, import, save, remove, list, push, pull, build, publish)"
    )]
    #[case::step_without_id(
        "  - id: load-hybrid\n    load: hybrid\n",
        "  - load: hybrid\n",
        "17:5: steps[0]: missing field `id`"
    )]
    #[case::wrong_type(
        "links: [https://github.com/containers/podman/issues/10809]",
        "links: https://github.com/containers/podman/issues/10809",
        "4:8: links: expected sequence start"
    )]
    #[case::unknown_enum_value(
        "id_is: config",
        "id_is: digest",
        "21:16: steps[0].expect[0].id_is: unknown variant `digest`, expected one of config, manifest, index"
    )]
    #[case::unknown_selector_key(
        "{ runtime: docker, version: \"<25\" }",
        "{ runtime: docker, versions: \"<25\" }",
        "27:34: steps[1].expect[1].when.versions: unknown field `versions`, expected one of runtime, version, store, builder, api"
    )]
    #[case::unknown_runtime_in_selector(
        "{ runtime: docker, version: \"<25\" }",
        "{ runtime: dockr, version: \"<25\" }",
        "27:26: steps[1].expect[1].when.runtime: unknown variant `dockr`, expected one of docker, podman, containerd"
    )]
    #[case::bad_fixture_spec(
        "layout: oci-archive",
        "layout: oci",
        "12:13: fixtures.tag-only-oci.layout: unknown variant `oci`, expected one of docker-archive, docker-oci-hybrid, containerd-hybrid, oci-archive"
    )]
    #[case::generate_bad_size(
        r#"content: "tag-only\n""#,
        "generate: { size: 1GB, seed: 1 }",
        r#"15:56: fixtures.tag-only-oci.layers[0].files[0].generate.size: invalid size "1GB": expected bytes as an integer or with a KiB, MiB or GiB suffix (64KiB)"#
    )]
    #[case::generate_and_content(
        r#"content: "tag-only\n""#,
        r#"content: "x", generate: { size: 1KiB, seed: 1 }"#,
        "15:17: fixtures.tag-only-oci.layers[0].files[0]: content and generate are exclusive; give one"
    )]
    #[case::generate_unknown_field(
        r#"content: "tag-only\n""#,
        "generate: { size: 1KiB, seeds: 1 }",
        "15:62: fixtures.tag-only-oci.layers[0].files[0].generate.seeds: unknown field `seeds`, expected one of size, seed"
    )]
    #[case::invalid_fixture_name(
        "  tag-only-oci:\n",
        "  Tag_Only:\n",
        r#"11:3: fixtures.Tag_Only: fixture name "Tag_Only" must match [a-z0-9-]+"#
    )]
    #[case::nothing_checked(
        "        outcome: error\n",
        "",
        "27:9: steps[1].expect[1]: checks nothing (set at least one of outcome, names, id_is, error_contains)"
    )]
    #[case::names_with_error_outcome(
        "        id_is: config\n",
        "        outcome: error\n",
        "20:9: steps[0].expect[0]: names and id_is describe a loaded image and cannot be combined with outcome: error"
    )]
    #[case::duplicate_names(
        "[localhost/latest:latest]\n      - when",
        "[a:1, b:1, a:1]\n      - when",
        r#"26:27: steps[1].expect[0].names[2]: duplicate name "a:1""#
    )]
    #[case::name_format(
        "name: podman3\n",
        "name: Podman3\n",
        r#"1:7: name: scenario name "Podman3" must match [a-z0-9-]+"#
    )]
    #[case::name_not_stem(
        "name: podman3\n",
        "name: podman4\n",
        r#"1:7: name: name "podman4" does not match the file stem "podman3""#
    )]
    #[case::unknown_top_level_key(
        "known_issues:\n",
        "tags: [x]\nknown_issues:\n",
        "29:1: tags: unknown field `tags`, expected one of name, summary, regression, links, fixtures, steps, known_issues, applies_to"
    )]
    #[case::duplicate_key(
        "regression: R1\n",
        "regression: R1\nregression: R2\n",
        "4:1: regression: duplicate mapping key `regression` is not allowed here"
    )]
    fn errors(#[case] from: &str, #[case] to: &str, #[case] expected: &str) {
        assert!(GOOD.contains(from), "{from:?} not in GOOD");
        let err = parse(&GOOD.replacen(from, to, 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("scenarios/podman3.yaml:{expected}")
        );
    }

    #[test]
    fn no_steps() {
        let src = "name: podman3\nsummary: s\nsteps: []\n";
        assert_eq!(
            parse(src).unwrap_err().to_string(),
            "scenarios/podman3.yaml:3:8: steps: scenario has no steps"
        );
    }

    #[test]
    fn duplicate_known_issue_id() {
        let issue = &GOOD[GOOD.find("  - id: R1-podman-3.4").unwrap()..];
        let src = format!("{GOOD}{issue}");
        assert_eq!(
            parse(&src).unwrap_err().to_string(),
            r#"scenarios/podman3.yaml:36:9: known_issues[1].id: duplicate known issue id "R1-podman-3.4""#
        );
    }

    fn doc(name: &str, load: &str) -> String {
        format!(
            "name: {name}\nsummary: s\nfixtures:\n  a: {{ layout: oci-archive, layers: [{{ files: [{{ path: x, content: x }}] }}] }}\nsteps:\n  - id: l\n    load: {load}\n"
        )
    }

    fn several(docs: &[String]) -> Result<Vec<Scenario>, ConfigError> {
        parse_scenarios(&docs.join("---\n"), Path::new("scenarios/multi.yaml"))
    }

    #[test]
    fn a_file_holds_several_scenarios_named_after_it() {
        let all = several(&[
            doc("multi", "a"),
            doc("multi-two", "a"),
            doc("multi-2-b", "a"),
        ])
        .unwrap();
        let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["multi", "multi-two", "multi-2-b"]);
        assert!(
            all.iter()
                .all(|s| s.source == Path::new("scenarios/multi.yaml"))
        );
        let at: Vec<_> = all
            .iter()
            .map(|s| (s.doc.index, s.doc.name_at.unwrap().line))
            .collect();
        assert_eq!(at, [(0, 1), (1, 9), (2, 17)]);
        // Each scenario keeps its own steps and fixtures.
        assert_eq!(all[1].steps[0].id, "l");
        // An empty document (a trailing `---`) is no scenario; a leading `---` starts the first.
        let src = format!("---\n{}---\n", doc("multi", "a"));
        let one = parse_scenario(&src, Path::new("scenarios/multi.yaml")).unwrap();
        assert_eq!(one.doc.name_at.unwrap().line, 2);
    }

    #[rstest]
    #[case::not_of_the_file(
        &["multi", "other"],
        r#"9:7: name: name "other" does not belong to the file: in a file of several scenarios every name is "multi" or starts with "multi-""#
    )]
    #[case::prefix_without_dash(
        &["multi", "multiple"],
        r#"9:7: name: name "multiple" does not belong to the file: in a file of several scenarios every name is "multi" or starts with "multi-""#
    )]
    #[case::duplicate_in_the_file(
        &["multi-a", "multi-b", "multi-a"],
        r#"17:7: name: duplicate scenario name "multi-a""#
    )]
    #[case::alone_must_be_the_stem(&["multi-a"], r#"1:7: name: name "multi-a" does not match the file stem "multi""#)]
    fn names_of_several(#[case] names: &[&str], #[case] expected: &str) {
        let docs: Vec<String> = names.iter().map(|n| doc(n, "a")).collect();
        assert_eq!(
            several(&docs).unwrap_err().to_string(),
            format!("scenarios/multi.yaml:{expected}")
        );
    }

    #[test]
    fn errors_in_a_later_document_point_into_it() {
        let second = |load: &str| several(&[doc("multi", "a"), doc("multi-b", load)]);
        assert_eq!(
            second("b").unwrap_err().to_string(),
            r#"scenarios/multi.yaml:15:11: steps[0].load: unknown fixture "b" (known: a)"#
        );
        assert!(
            second("\"${cell.runtim}\"")
                .unwrap_err()
                .to_string()
                .starts_with(
                    "scenarios/multi.yaml:15:12: steps[0].load: unknown variable ${cell.runtim}"
                ),
        );
        // A shape error: its field path is found in the document that has it.
        let bad = doc("multi-b", "a").replace("    load: a\n", "    lod: a\n");
        assert_eq!(
            several(&[doc("multi", "a"), bad]).unwrap_err().to_string(),
            "scenarios/multi.yaml:15:5: steps[0].lod: unknown field `lod`, expected one of id, load, tag, inspect, import, save, remove, list, push, pull, build, publish, expect, repeat, timeout, applies_to"
        );
        let bad = doc("multi-b", "a").replace("summary: s\n", "summary: [s\n");
        assert!(
            several(&[doc("multi", "a"), bad])
                .unwrap_err()
                .to_string()
                .starts_with("scenarios/multi.yaml:1"),
        );
    }

    #[test]
    fn one_scenario_is_demanded_where_one_is_expected() {
        let src = [doc("multi", "a"), doc("multi-b", "a")].join("---\n");
        assert_eq!(
            parse_scenario(&src, Path::new("scenarios/multi.yaml"))
                .unwrap_err()
                .to_string(),
            "scenarios/multi.yaml: the file holds 2 scenarios, where one is expected"
        );
        assert_eq!(
            parse_scenarios("", Path::new("scenarios/multi.yaml"))
                .unwrap_err()
                .to_string(),
            "scenarios/multi.yaml:1:1: unexpected end of file"
        );
    }

    #[test]
    fn a_name_in_two_files_names_both() {
        let mut all = parse_scenarios(&doc("multi-x", "a"), Path::new("x/multi-x.yaml")).unwrap();
        check_unique_names(&all).unwrap();
        let src = [doc("multi", "a"), doc("multi-x", "a")].join("---\n");
        all.extend(parse_scenarios(&src, Path::new("y/multi.yaml")).unwrap());
        let e = check_unique_names(&all).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"y/multi.yaml:9:7: name: duplicate scenario name "multi-x" (also in x/multi-x.yaml)"#
        );
    }

    #[test]
    fn load_reads_the_file_and_checks_the_stem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("podman3.yaml");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(load_scenario(&path).unwrap().source, path);
        let other = dir.path().join("other.yaml");
        std::fs::write(&other, GOOD).unwrap();
        let err = load_scenario(&other).unwrap_err();
        assert!(
            matches!(err.kind, ConfigErrorKind::NameMismatch { .. }),
            "{err}"
        );
    }
}
