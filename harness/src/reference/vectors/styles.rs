//! Runtime-style tables replayed from `tests/data/reference/`: the R4 style table, libimage's
//! `TestTag`, moby's tag tests, the dialect differences, and a no-panic sweep standing in for
//! distribution/reference's fuzz target.

use serde::Deserialize;

use super::{ErrSpec, load};
use crate::reference::*;

/// A stored name or a refusal, as written in the data files.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Outcome {
    Stored { stored: String },
    Error { error: ErrSpec },
}

impl Outcome {
    fn of(result: Result<String, ReferenceError>) -> Self {
        match result {
            Ok(stored) => Outcome::Stored { stored },
            Err(e) => Outcome::Error {
                error: ErrSpec::of(&e),
            },
        }
    }
}

#[derive(Deserialize)]
struct StyleCase {
    input: String,
    docker: Outcome,
    podman: Outcome,
    containerd: Outcome,
}

#[test]
fn styles_table() {
    let mut failures = Vec::new();
    for (i, c) in load::<StyleCase>(data!("styles.json"), 18)
        .iter()
        .enumerate()
    {
        for (style, want) in [
            (Style::Docker, &c.docker),
            (Style::Podman, &c.podman),
            (Style::Containerd, &c.containerd),
        ] {
            let got = Outcome::of(stored(style, &c.input));
            if &got != want {
                failures.push(format!(
                    "row {i} ({:?}) {style}: got {got:?}, expected {want:?}",
                    c.input
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[derive(Deserialize)]
struct LibimageTag {
    tag: String,
    resolves_to: String,
    expect_error: bool,
    #[serde(default)]
    tag_by_digest: bool,
}

#[test]
fn libimage_tag_table() {
    for (i, c) in load::<LibimageTag>(data!("libimage_tag.json"), 8)
        .iter()
        .enumerate()
    {
        let got = stored(Style::Podman, &c.tag);
        if c.expect_error {
            let e = got.expect_err(&format!("row {i} ({:?}) must fail", c.tag));
            if c.tag_by_digest {
                assert_eq!(
                    e.kind,
                    ReferenceErrorKind::TagByDigestUnsupported,
                    "row {i}"
                );
            }
        } else {
            assert_eq!(got.as_ref(), Ok(&c.resolves_to), "row {i} ({:?})", c.tag);
        }
    }
}

#[derive(Deserialize)]
struct MobyTag {
    target: String,
    repo: Option<String>,
    tag: Option<String>,
    error_is: Option<String>,
    error_contains: Option<String>,
    #[serde(default)]
    ok: bool,
    stored: Option<String>,
}

#[test]
fn moby_image_tag_table() {
    for (i, c) in load::<MobyTag>(data!("moby_image_tag.json"), 46)
        .iter()
        .enumerate()
    {
        let row = format!("row {i} ({:?})", c.target);
        let got = stored(Style::Docker, &c.target);
        if let (Some(repo), Some(tag)) = (&c.repo, &c.tag) {
            // The query client.ImageTag sends: Name() and Tag() after TagNameOnly.
            let r = parse_normalized_named(&c.target).unwrap().tag_name_only();
            assert_eq!(
                (r.name(), r.tag()),
                (repo.clone(), Some(tag.as_str())),
                "{row}"
            );
            assert!(got.is_ok(), "{row}: {got:?}");
        }
        if let Some(message) = &c.error_is {
            assert_eq!(
                got.as_ref().map_err(ToString::to_string),
                Err(message.clone()),
                "{row}"
            );
        }
        if let Some(part) = &c.error_contains {
            let message = got.as_ref().map_err(ToString::to_string).unwrap_err();
            assert!(message.contains(part.as_str()), "{row}: {message}");
        }
        if c.ok {
            assert!(got.is_ok(), "{row}: {got:?}");
        }
        if let Some(name) = &c.stored {
            assert_eq!(got.as_ref(), Ok(name), "{row}");
        }
    }
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Parsed {
    Named {
        string: String,
        domain: String,
        path: String,
    },
    Error {
        error: ErrSpec,
    },
}

impl Parsed {
    fn of(result: Result<Reference, ReferenceError>) -> Self {
        match result {
            Ok(r) => Parsed::Named {
                string: r.to_string(),
                domain: r.domain().to_string(),
                path: r.path().to_string(),
            },
            Err(e) => Parsed::Error {
                error: ErrSpec::of(&e),
            },
        }
    }
}

#[derive(Deserialize)]
struct DialectCase {
    function: String,
    input: String,
    distribution: Parsed,
    legacy: Parsed,
}

#[test]
fn dialect_differences() {
    for (i, c) in load::<DialectCase>(data!("dialect_differences.json"), 8)
        .iter()
        .enumerate()
    {
        for (dialect, want) in [
            (Dialect::Distribution, &c.distribution),
            (Dialect::Legacy, &c.legacy),
        ] {
            let got = match c.function.as_str() {
                "parse" => dialect.parse(&c.input),
                "with_name" => dialect.with_name(&c.input),
                "parse_normalized_named" => dialect.parse_normalized_named(&c.input),
                other => panic!("row {i}: unknown function {other}"),
            };
            assert_eq!(
                &Parsed::of(got),
                want,
                "row {i} ({:?}) {dialect:?}",
                c.input
            );
        }
    }
}

/// Every input in every data file, with its truncations and one-character insertions.
fn sweep_inputs() -> std::collections::BTreeSet<String> {
    let files = [
        data!("reference_parse.json"),
        data!("legacy_reference_parse.json"),
        data!("validate_reference_name.json"),
        data!("validate_remote_name.json"),
        data!("full_name_regexp.json"),
        data!("reference_regexp.json"),
        data!("domain_regexp.json"),
        data!("styles.json"),
        data!("moby_image_tag.json"),
        data!("libimage_normalize_tagged_digested.json"),
    ];
    let mut seeds = Vec::new();
    for file in files {
        let value: serde_json::Value = serde_json::from_str(file).unwrap();
        for case in value["cases"].as_array().unwrap() {
            for key in ["input", "target"] {
                if let Some(s) = case[key].as_str() {
                    seeds.push(s.to_string());
                }
            }
        }
    }
    let mut inputs = std::collections::BTreeSet::new();
    for seed in &seeds {
        inputs.insert(seed.clone());
        // Long seeds (the 255-byte limit cases) add nothing but time when edited everywhere.
        if seed.len() > 64 {
            continue;
        }
        for (i, _) in seed.char_indices() {
            inputs.insert(seed[..i].to_string());
            for c in ['/', ':', '@', 'A', '\u{130}'] {
                let mut edited = seed.clone();
                edited.insert(i, c);
                inputs.insert(edited);
            }
        }
    }
    inputs
}

#[test]
fn fuzz_parse_normalized_named_sweep() {
    let notes = load::<serde_json::Value>(data!("fuzz_parse_normalized_named.json"), 0);
    assert!(notes.is_empty());
    let inputs = sweep_inputs();
    assert!(inputs.len() > 1000, "{} inputs", inputs.len());
    for input in inputs {
        for dialect in [Dialect::Distribution, Dialect::Legacy] {
            let _ = dialect.parse(&input);
            let _ = dialect.parse_named(&input);
            let _ = dialect.parse_docker_ref(&input);
            let _ = dialect.parse_any_reference(&input);
            let _ = dialect.with_name(&input);
            if let Ok(r) = dialect.parse_normalized_named(&input) {
                // Whatever parses must print as something Parse accepts again.
                assert!(dialect.parse(&r.to_string()).is_ok(), "{input:?} -> {r}");
                let _ = r.familiar_string();
            }
        }
        for style in Style::ALL {
            let _ = stored(style, &input);
        }
        let _ = path_match(&input, &input);
    }
}
