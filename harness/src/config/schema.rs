//! JSON Schemas (draft 2020-12) for `matrix.yaml` and scenario files, for editors and CI
//! (`harness schema matrix|scenario`).
//!
//! The schemas are hand-written JSON under `harness/schema/`, embedded here, rather than
//! generated from the `Raw*` types: those have custom deserializers (a step's one action key,
//! claims read by the step's kind, fixtures told apart by their first key) that a derive-based
//! generator cannot see through, and the schema is documentation as much as a check, so its
//! descriptions are written for someone editing a scenario. What keeps them true is the tests
//! at the bottom: every file of the repository validates against them, and drift guards compare
//! their step keys, claim keys, runtimes, stores, builders and APIs with the code's own lists,
//! so adding a step kind or a store without updating the schema fails a test.
//!
//! A schema says less than the loader checks (which fixture names exist, unique step ids, which
//! claims fit a known issue's step, the matrix's expansion): `harness validate` is the full
//! check; the schema gives an editor completion and early squiggles.

/// Which file a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// `matrix.yaml`.
    Matrix,
    /// One document of a scenario file (`scenarios/*.yaml`).
    Scenario,
}

/// The schema of `matrix.yaml`.
pub const MATRIX_SCHEMA: &str = include_str!("../../schema/matrix.schema.json");

/// The schema of one scenario document.
pub const SCENARIO_SCHEMA: &str = include_str!("../../schema/scenario.schema.json");

impl SchemaKind {
    /// The schema text (JSON, ending with a newline).
    pub fn text(self) -> &'static str {
        match self {
            SchemaKind::Matrix => MATRIX_SCHEMA,
            SchemaKind::Scenario => SCENARIO_SCHEMA,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::*;
    use crate::runtime::RuntimeKind;
    use crate::steps::{self, StepKind};

    fn schema(kind: SchemaKind) -> Value {
        serde_json::from_str(kind.text()).expect("the schema is JSON")
    }

    fn validator(kind: SchemaKind) -> jsonschema::Validator {
        jsonschema::draft202012::new(&schema(kind)).expect("the schema is a valid 2020-12 schema")
    }

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The YAML documents of a file, as JSON values (a multi-document file has several).
    fn documents(src: &str) -> Vec<Value> {
        serde_saphyr::from_multiple(src).expect("the file is YAML")
    }

    fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
        v.iter_errors(doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    fn strings(v: &Value) -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("not an object: {v}"))
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn the_repositorys_scenarios_and_matrix_validate() {
        let scenario = validator(SchemaKind::Scenario);
        let mut checked = 0;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("scenarios"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        assert!(!paths.is_empty());
        for path in &paths {
            let src = std::fs::read_to_string(path).unwrap();
            for (i, doc) in documents(&src).iter().enumerate() {
                let errs = errors(&scenario, doc);
                assert!(
                    errs.is_empty(),
                    "{} document {i}:\n{}",
                    path.display(),
                    errs.join("\n")
                );
                checked += 1;
            }
        }
        assert!(checked >= paths.len());
        let matrix = validator(SchemaKind::Matrix);
        let src = std::fs::read_to_string(repo().join("matrix.yaml")).unwrap();
        let doc: Value = serde_saphyr::from_str(&src).unwrap();
        let errs = errors(&matrix, &doc);
        assert!(errs.is_empty(), "matrix.yaml:\n{}", errs.join("\n"));
    }

    /// The contract's new keys (`repeat`, `timeout`, `applies_to`, `trials`) and
    /// several documents per file validate; their out-of-range values do not.
    #[test]
    fn the_language_contracts_keys_validate() {
        let v = validator(SchemaKind::Scenario);
        let src = r#"
name: multi
summary: first
applies_to: [{ runtime: docker }, { runtime: podman, version: ">=4" }]
steps:
  - id: l
    load: f-${cell.runtime}
    repeat: 10
    timeout: 90s
    applies_to: { store: overlay2 }
    expect:
      - outcome: loaded
        trials: any
        names: ["x/${cell.id}:1"]
---
name: multi-second
summary: second
steps:
  - id: t
    list: null
    timeout: 30
    expect:
      - when: { version: 4.3 }
        names: []
"#;
        for doc in documents(src) {
            assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{doc}");
        }
    }

    #[rstest::rstest]
    #[case::empty("{}")]
    #[case::unknown_top_level_key("{name: a, summary: s, steps: [{id: l, list: x}], tags: []}")]
    #[case::no_steps("{name: a, summary: s, steps: []}")]
    #[case::step_without_action("{name: a, summary: s, steps: [{id: l}]}")]
    #[case::two_actions("{name: a, summary: s, steps: [{id: l, load: f, remove: x}]}")]
    #[case::unknown_step_key("{name: a, summary: s, steps: [{id: l, lod: f}]}")]
    #[case::bad_name("{name: A_b, summary: s, steps: [{id: l, list: x}]}")]
    #[case::claim_of_another_kind(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{found: [x]}]}]}"
    )]
    #[case::bad_outcome(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{outcome: ok}]}]}"
    )]
    #[case::repeat_zero("{name: a, summary: s, steps: [{id: l, list: x, repeat: 0}]}")]
    #[case::repeat_too_many("{name: a, summary: s, steps: [{id: l, list: x, repeat: 1001}]}")]
    #[case::timeout_unit("{name: a, summary: s, steps: [{id: l, list: x, timeout: 5d}]}")]
    #[case::timeout_zero("{name: a, summary: s, steps: [{id: l, list: x, timeout: 0}]}")]
    #[case::trials_word(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{outcome: loaded, trials: most}]}]}"
    )]
    #[case::trials_without_repeat(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{outcome: loaded, trials: any}]}]}"
    )]
    #[case::trials_with_repeat_one(
        "{name: a, summary: s, steps: [{id: l, load: f, repeat: 1, expect: [{outcome: loaded, trials: all}]}]}"
    )]
    #[case::empty_applies_to_list(
        "{name: a, summary: s, applies_to: [], steps: [{id: l, list: x}]}"
    )]
    #[case::unknown_runtime(
        "{name: a, summary: s, applies_to: {runtime: dockr}, steps: [{id: l, list: x}]}"
    )]
    #[case::negative_version(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{when: {version: -4}, outcome: loaded}]}]}"
    )]
    #[case::bad_version_range(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{when: {version: '>=four'}, outcome: loaded}]}]}"
    )]
    #[case::store_of_another_runtime(
        "{name: a, summary: s, steps: [{id: l, load: f, expect: [{when: {runtime: containerd, store: overlay2}, outcome: loaded}]}]}"
    )]
    #[case::fixture_without_layout(
        "{name: a, summary: s, fixtures: {f: {layers: []}}, steps: [{id: l, load: f}]}"
    )]
    #[case::produced_without_source(
        "{name: a, summary: s, fixtures: {f: {produced_by: {runtime: docker, store: vfs}, tag: 'x:1'}}, steps: [{id: l, load: f}]}"
    )]
    fn invalid_scenarios_are_rejected(#[case] src: &str) {
        let doc: Value = serde_saphyr::from_str(src).unwrap();
        assert!(
            !validator(SchemaKind::Scenario).is_valid(&doc),
            "accepted: {src}"
        );
    }

    #[rstest::rstest]
    #[case::unknown_key("{axes: {runtime: [docker]}, matrix: {}}")]
    #[case::unknown_runtime("{include: [{runtime: dockr, version: host, store: vfs}]}")]
    #[case::store_of_another_runtime(
        "{include: [{runtime: podman, version: host, store: overlay2}]}"
    )]
    #[case::axis_not_a_list("{axes: {runtime: docker}}")]
    #[case::api_of_another_runtime(
        "{include: [{runtime: docker, version: host, store: vfs, api: ctr}]}"
    )]
    fn invalid_matrices_are_rejected(#[case] src: &str) {
        let doc: Value = serde_saphyr::from_str(src).unwrap();
        assert!(
            !validator(SchemaKind::Matrix).is_valid(&doc),
            "accepted: {src}"
        );
    }

    /// Each step kind, its claims; the list is checked against [`steps::KEYS`] so a new kind
    /// must be added here (and to the schema).
    fn claims_by_kind() -> Vec<(&'static str, &'static [&'static str])> {
        fn kind<K: StepKind>() -> (&'static str, &'static [&'static str]) {
            (K::KEY, K::CLAIMS)
        }
        vec![
            kind::<steps::load::Load>(),
            kind::<steps::tag::Tag>(),
            kind::<steps::inspect::Inspect>(),
            kind::<steps::import::Import>(),
            kind::<steps::save::Save>(),
            kind::<steps::remove::Remove>(),
            kind::<steps::list::List>(),
            kind::<steps::push::Push>(),
            kind::<steps::pull::Pull>(),
            kind::<steps::build::Build>(),
            kind::<steps::publish::Publish>(),
        ]
    }

    /// The keys of a step beside its action that the language contract defines.
    const STEP_KEYS: &[&str] = &["id", "expect", "repeat", "timeout", "applies_to"];
    /// The keys of an `expect:` entry beside the claims.
    const EXPECT_KEYS: &[&str] = &["when", "trials"];

    #[test]
    fn step_action_keys_are_the_step_kinds() {
        let s = schema(SchemaKind::Scenario);
        let step = &s["$defs"]["step"];
        let mut expected = set(steps::KEYS);
        expected.extend(set(STEP_KEYS));
        assert_eq!(keys(&step["properties"]), expected);
        // One `oneOf` branch per action key, in registry order, typing its expectations.
        let branches: Vec<String> = step["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["required"][0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(branches, steps::KEYS);
        // Every key an unknown-field error lists is in the schema.
        for key in steps::STEP_FIELDS {
            assert!(step["properties"].get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn each_step_kinds_claims_are_its_expectation_keys() {
        let s = schema(SchemaKind::Scenario);
        let kinds = claims_by_kind();
        let listed: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
        assert_eq!(listed, steps::KEYS, "claims_by_kind lists every step kind");
        assert_eq!(
            keys(&s["$defs"]["expect_common"]["properties"]),
            set(EXPECT_KEYS)
        );
        let mut every_claim = BTreeSet::new();
        for (key, claims) in kinds {
            let def = &s["$defs"][format!("expect_{key}")];
            assert_eq!(keys(&def["properties"]), set(claims), "expect_{key}");
            assert_eq!(def["unevaluatedProperties"], false, "expect_{key}");
            every_claim.extend(set(claims));
        }
        // A known issue may make any claim (its step's kind is checked by the loader).
        let issue = keys(&s["$defs"]["known_issue"]["properties"]);
        let own = set(&["id", "summary", "link", "step", "when"]);
        assert_eq!(
            issue.difference(&own).cloned().collect::<BTreeSet<_>>(),
            every_claim
        );
    }

    /// The variants serde accepts for `T`, read from its error for an unknown one.
    fn variants<T: serde::de::DeserializeOwned>() -> BTreeSet<String> {
        let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new("\u{1}");
        let err = T::deserialize(de).err().expect("not a variant").to_string();
        // "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, `c`".
        let listed = err.rsplit("expected ").next().unwrap();
        listed
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn each_step_kinds_outcomes_and_digest_roles_are_the_codes() {
        use crate::steps::{build, import, inspect, pull, push, remove, save};
        let s = schema(SchemaKind::Scenario);
        let defs = &s["$defs"];
        let outcomes = [
            ("load", variants::<crate::config::Outcome>()),
            ("inspect", variants::<inspect::InspectOutcome>()),
            ("import", variants::<import::ImportOutcomeKind>()),
            ("save", variants::<save::SaveOutcome>()),
            ("remove", variants::<remove::RemoveWord>()),
            ("push", variants::<push::PushResult>()),
            ("pull", variants::<pull::PullResult>()),
            ("build", variants::<build::BuildOutcome>()),
        ];
        let mut all = BTreeSet::new();
        for (kind, expected) in outcomes {
            let def = &defs[format!("expect_{kind}")]["properties"]["outcome"]["enum"];
            assert_eq!(strings(def), expected, "expect_{kind}.outcome");
            all.extend(expected);
        }
        assert_eq!(
            strings(&defs["known_issue"]["properties"]["outcome"]["enum"]),
            all
        );
        assert_eq!(
            strings(&defs["id_role"]["enum"]),
            variants::<crate::config::IdRole>()
        );
        assert_eq!(
            strings(&defs["compression"]["enum"]),
            variants::<crate::oci::Compression>()
        );
        assert_eq!(
            strings(&defs["save_format"]["enum"]),
            variants::<crate::runtime::SaveFormat>()
        );
        assert_eq!(
            strings(&defs["crafted_fixture"]["properties"]["layout"]["enum"]),
            variants::<crate::craft::LayoutKind>()
        );
        // Defects: the unit ones as strings, the others as one-key mappings.
        let defect = defs["defect"]["oneOf"].as_array().unwrap();
        let mut written = strings(&defect[0]["enum"]);
        written.extend(keys(&defect[1]["properties"]));
        assert_eq!(written, variants::<crate::craft::DefectSpec>());
    }

    #[test]
    fn runtimes_stores_builders_and_apis_are_the_codes() {
        let runtimes: BTreeSet<String> = RuntimeKind::ALL
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        let stores = set(&crate::runtime::accepts::all_stores());
        let builders = set(crate::runtime::accepts::BUILDERS);
        let apis = set(&crate::runtime::api::all_apis());
        let providers: BTreeSet<String> = crate::runtime::provider::PROVIDERS
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        for kind in [SchemaKind::Matrix, SchemaKind::Scenario] {
            let s = schema(kind);
            let defs = &s["$defs"];
            assert_eq!(strings(&defs["runtime"]["enum"]), runtimes, "{kind:?}");
            assert_eq!(strings(&defs["store"]["enum"]), stores, "{kind:?}");
            assert_eq!(strings(&defs["builder"]["enum"]), builders, "{kind:?}");
            assert_eq!(strings(&defs["api"]["enum"]), apis, "{kind:?}");
            // Per runtime: its own stores and APIs.
            let per: Vec<&Value> = defs["per_runtime"]["allOf"]
                .as_array()
                .unwrap()
                .iter()
                .collect();
            assert_eq!(per.len(), RuntimeKind::ALL.len());
            for rule in per {
                let runtime: RuntimeKind = rule["if"]["properties"]["runtime"]["const"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let then = &rule["then"]["properties"];
                assert_eq!(
                    strings(&then["store"]["enum"]),
                    set(crate::runtime::accepts::stores(runtime)),
                    "{kind:?} {runtime}"
                );
                assert_eq!(
                    strings(&then["api"]["enum"]),
                    set(crate::runtime::api::apis(runtime)),
                    "{kind:?} {runtime}"
                );
            }
        }
        let m = schema(SchemaKind::Matrix);
        assert_eq!(strings(&m["$defs"]["provider"]["enum"]), providers);
    }

    #[test]
    fn fixture_and_selector_keys_are_the_loaders() {
        let s = schema(SchemaKind::Scenario);
        let defs = &s["$defs"];
        // Selector keys: what `when:` accepts (its unknown-field error lists them).
        let err = crate::config::parse_scenario(
            "name: s\nsummary: s\nsteps:\n  - id: l\n    list: x\n    expect:\n      - when: { nope: 1 }\n        names: []\n",
            Path::new("s.yaml"),
        )
        .unwrap_err()
        .to_string();
        let listed = |err: &str| -> BTreeSet<String> {
            err.rsplit("expected one of ")
                .next()
                .unwrap()
                .split(", ")
                .map(|s| s.trim().to_owned())
                .collect()
        };
        assert_eq!(keys(&defs["selector"]["properties"]), listed(&err), "{err}");
        // Top-level keys: the scenario's unknown-field error lists them (plus the contract's
        // `applies_to`, which another branch adds to the loader).
        let err = crate::config::parse_scenario("nope: 1\n", Path::new("s.yaml"))
            .unwrap_err()
            .to_string();
        let mut top = listed(&err);
        top.insert("applies_to".into());
        assert_eq!(keys(&s["properties"]), top, "{err}");
        // Produced fixture keys.
        let produced = keys(&defs["produced_fixture"]["properties"]);
        assert_eq!(produced, set(crate::config::produced::PRODUCED_KEYS));
        // Crafted fixture keys: a spec with an unknown key lists them.
        let err = serde_saphyr::from_str::<crate::craft::FixtureSpec>("nope: 1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            keys(&defs["crafted_fixture"]["properties"]),
            listed(&err),
            "{err}"
        );
    }

    /// A file's keys and `generate`'s are the loader's, and the schema accepts and refuses
    /// what it does.
    #[test]
    fn file_spec_keys_are_the_loaders_and_generate_validates() {
        let s = schema(SchemaKind::Scenario);
        let listed = |yaml: &str| -> BTreeSet<String> {
            let err = serde_saphyr::from_str::<crate::craft::FixtureSpec>(yaml)
                .unwrap_err()
                .to_string();
            err.rsplit("expected one of ")
                .next()
                .unwrap_or_else(|| panic!("{err}"))
                .split(", ")
                .map(|s| s.trim().to_owned())
                .collect()
        };
        let file = &s["$defs"]["file"];
        assert_eq!(
            keys(&file["properties"]),
            listed("layout: oci-archive\nlayers: [{ files: [{ path: a, nope: 1 }] }]\n")
        );
        assert_eq!(
            keys(&file["properties"]["generate"]["properties"]),
            listed(
                "layout: oci-archive\nlayers: [{ files: [{ path: a, generate: { size: 1, seed: 1, nope: 1 } }] }]\n"
            )
        );
        let v = validator(SchemaKind::Scenario);
        let doc = |file: &str| -> Value {
            serde_saphyr::from_str(&format!(
                "name: g\nsummary: s\nfixtures:\n  f: {{ layout: oci-archive, layers: [{{ files: [{file}] }}] }}\nsteps:\n  - {{ id: l, load: f }}\n"
            ))
            .unwrap()
        };
        for good in [
            "{ path: a, generate: { size: 1GiB, seed: 7 } }",
            "{ path: a, generate: { size: 4096, seed: 0 }, mode: 0o600 }",
            "{ path: a, generate: { size: \"64KiB\", seed: 18446744073709551615 } }",
        ] {
            let errs = errors(&v, &doc(good));
            assert!(errs.is_empty(), "{good}: {errs:?}");
        }
        for bad in [
            "{ path: a, content: x, generate: { size: 1, seed: 1 } }",
            "{ path: a, generate: { size: 1GB, seed: 1 } }",
            "{ path: a, generate: { size: 8589934592, seed: 1 } }",
            "{ path: a, generate: { size: 1 } }",
            "{ path: a, generate: { size: 1, seed: -1 } }",
        ] {
            assert!(!errors(&v, &doc(bad)).is_empty(), "{bad} validates");
        }
    }

    #[test]
    fn matrix_keys_are_the_loaders() {
        let m = schema(SchemaKind::Matrix);
        let err = crate::config::parse_matrix("nope: 1\n", Path::new("m.yaml"))
            .unwrap_err()
            .to_string();
        let listed: BTreeSet<String> = err
            .rsplit("expected one of ")
            .next()
            .unwrap()
            .split(", ")
            .map(|s| s.trim().to_owned())
            .collect();
        assert_eq!(keys(&m["properties"]), listed, "{err}");
    }
}
