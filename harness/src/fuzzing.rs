//! The entry points of the `cargo fuzz` targets (`fuzz/fuzz_targets/*.rs`), here so that the
//! regression test replaying every kept input (`harness/tests/fuzz_regressions.rs`) runs exactly
//! what the fuzzer ran, on stable, in every CI run.
//!
//! Each takes arbitrary bytes, must not panic, and checks what must hold for any input besides
//! "no panic" (a property failure is a panic too, so the fuzzer keeps the input):
//!
//! - [`archive`]: the streaming reader and every oracle, as `harness inspect` runs them, text and
//!   JSON rendering included, within the reader's documented limits.
//! - [`reference`]: every parser of the distribution/reference port and the Podman and
//!   containerd styles; what a parser accepts, printed, parses back to the same reference.
//! - [`scenario`] and [`matrix`]: the config loaders, with their error messages rendered (an
//!   error is the expected answer to most inputs, never a panic).

use std::path::Path;

use crate::reference::{self, Style};

/// `harness inspect` on `data` as an archive stream.
pub fn archive(data: &[u8]) {
    if let Ok(inspection) = crate::verify::inspect_archive(data) {
        let _ = crate::verify::render_text(&inspection);
        let mut json = Vec::new();
        inspection
            .write_json(&mut json)
            .expect("writing JSON into memory cannot fail");
    }
}

/// Every reference parser on `data` (as UTF-8, lossily), with the round-trip properties.
pub fn reference(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Ok(r) = reference::parse(s) {
        assert_eq!(
            reference::parse(&r.to_string()).as_ref(),
            Ok(&r),
            "parse({s:?}) prints as {r}, which does not parse back to it"
        );
    }
    if let Ok(r) = reference::parse_normalized_named(s) {
        assert_eq!(
            reference::parse_normalized_named(&r.to_string()).as_ref(),
            Ok(&r),
            "parse_normalized_named({s:?}) prints as {r}, which does not parse back to it"
        );
        // Not checked: that the familiar form parses back. It does not, upstream either, and
        // the fuzzer found both ways within minutes: `docker.io/<64 hex>` is familiar as a bare
        // 64-hex name, which ParseNormalizedNamed refuses by design (`anchoredIdentifierRegexp`),
        // and `docker.io/a.io/b` is familiar as `a.io/b`, whose first component then reads as a
        // domain (`splitDockerDomain`). Both inputs are kept as regression inputs.
        let _ = r.familiar_string();
    }
    let _ = reference::parse_named(s);
    let _ = reference::parse_docker_ref(s);
    let _ = reference::parse_any_reference(s);
    let _ = reference::normalize_name(s);
    let _ = reference::normalize_tagged_digested_string(s);
    for style in [Style::Docker, Style::Podman, Style::Containerd] {
        let _ = reference::stored(style, s);
        let _ = reference::render_text(&[reference::report(s, style)], style);
    }
}

/// The scenario loader on `data` as a scenario file (several documents allowed).
pub fn scenario(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match crate::config::parse_scenarios(src, Path::new("fuzz.yaml")) {
        Ok(scenarios) => {
            let _ = crate::config::check_unique_names(&scenarios);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// The matrix loader on `data` as a matrix file, and the selection of its cells.
pub fn matrix(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match crate::config::parse_matrix(src, Path::new("matrix.yaml")) {
        Ok(m) => {
            let _ = m.select(&["*".to_string()]);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// The entry point of target `name` (`archive`, `reference`, `scenario`, `matrix`).
pub fn target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "archive" => archive,
        "reference" => reference,
        "scenario" => scenario,
        "matrix" => matrix,
        _ => return None,
    })
}

/// Every target, by name.
pub const TARGETS: &[&str] = &["archive", "reference", "scenario", "matrix"];
