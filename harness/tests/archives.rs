//! Craft and inspect against each other, no daemon needed: every layout crafted and read back
//! must report exactly the crafted facts, and every deliberate defect must be found by the
//! oracle whose code it names (and a clean archive must have no error finding).

use harness::config::parse_scenario;
use harness::craft::{CraftedArchive, FixtureSpec, write_archive};
use harness::oci::archive::{ArchiveReport, Compression, read_archive};
use harness::verify::Severity;

/// Parses one fixture spec from YAML through the scenario loader's own spec type.
fn spec(yaml: &str) -> FixtureSpec {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn craft_and_read(spec: &FixtureSpec) -> (CraftedArchive, ArchiveReport) {
    let mut bytes = Vec::new();
    let facts = write_archive(spec, &mut bytes).unwrap();
    let report = read_archive(bytes.as_slice()).unwrap();
    (facts, report)
}

const ROUND_TRIPS: &[(&str, &str)] = &[
    (
        "docker-archive",
        "layout: docker-archive\nname: a.test/x:1\nlayers:\n  - files: [{ path: etc/a, content: \"a\\n\" }]\n  - files: [{ path: etc/b, content: \"b\\n\" }]\n",
    ),
    (
        "docker-oci-hybrid",
        "layout: docker-oci-hybrid\nname: a.test/x:1\nlayers:\n  - files: [{ path: etc/a, content: \"a\\n\" }]\n",
    ),
    (
        "containerd-hybrid",
        "layout: containerd-hybrid\nname: a.test/x:1\nlayers:\n  - files: [{ path: etc/a, content: \"a\\n\" }]\n    compression: gzip\n",
    ),
    (
        "oci-archive",
        "layout: oci-archive\nref_name: latest\nlayers:\n  - files: [{ path: etc/a, content: \"a\\n\" }]\n    compression: zstd\n",
    ),
    (
        "oci-archive",
        "layout: oci-archive\nname: a.test/multi:1\nplatforms: [linux/amd64, linux/arm64]\nattestations: true\nlayers:\n  - files: [{ path: etc/a, content: \"a\\n\" }]\n    compression: gzip\n",
    ),
    (
        "containerd-hybrid",
        "layout: containerd-hybrid\nname: a.test/partial:1\nplatforms: [linux/amd64, linux/arm64]\nomit_platforms: [linux/arm64]\nattestations: true\nlayers:\n  - files: [{ path: etc/a, content: \"a\\n\" }]\n    compression: xz\n    media_type: application/vnd.oci.image.layer.v1.tar\n",
    ),
];

#[test]
fn every_layout_reads_back_as_crafted() {
    for (layout, yaml) in ROUND_TRIPS {
        let (facts, report) = craft_and_read(&spec(yaml));
        let label = format!("{layout}: {yaml}");
        assert_eq!(
            serde_json::to_value(report.layout).unwrap(),
            *layout,
            "{label}"
        );
        let errors: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        // An xz layer under the plain tar media type is a deliberate mismatch in one case.
        let expected_errors: Vec<&str> = if yaml.contains("xz") {
            vec!["media-type-compression-mismatch"]
        } else {
            vec![]
        };
        let codes: Vec<&str> = errors.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, expected_errors, "{label}: {errors:#?}");

        let [image] = report.images.as_slice() else {
            panic!("{label}: one image")
        };
        assert_eq!(image.names.repo_tags, facts.names.repo_tags, "{label}");
        assert_eq!(
            image.names.ref_names,
            Vec::from_iter(facts.names.ref_name.clone()),
            "{label}"
        );
        assert_eq!(
            image.index_digest.as_ref(),
            facts.index.as_ref().map(|i| &i.digest),
            "{label}"
        );
        for platform in facts.platforms.iter().filter(|p| p.present) {
            let m = image
                .manifests
                .iter()
                .find(|m| {
                    m.config.as_ref().and_then(|c| c.digest.as_ref())
                        == Some(&platform.config.digest)
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{label}: no manifest with the config of {}",
                        platform.platform
                    )
                });
            if let Some(manifest) = &platform.manifest {
                assert_eq!(m.digest.as_ref(), Some(&manifest.digest), "{label}");
            }
            assert_eq!(m.layers.len(), platform.layers.len(), "{label}");
            for (l, f) in m.layers.iter().zip(&platform.layers) {
                assert_eq!(l.diff_id.as_ref(), Some(&f.diff_id), "{label}");
                let blob = l.blob.as_ref().expect("present layer blob");
                assert_eq!((&blob.digest, blob.size), (&f.digest, f.size), "{label}");
                assert_eq!(
                    blob.uncompressed_digest.as_ref(),
                    Some(&f.diff_id),
                    "{label}"
                );
                let want = serde_json::to_value(f.compression).unwrap();
                assert_eq!(
                    serde_json::to_value(blob.compression).unwrap(),
                    want,
                    "{label}"
                );
                assert!(
                    blob.compression != Compression::None || f.digest == f.diff_id,
                    "{label}"
                );
            }
        }
        let omitted = facts.platforms.iter().filter(|p| !p.present).count();
        let missing = report
            .findings
            .iter()
            .filter(|f| f.code.as_str() == "blob-missing")
            .count();
        assert!(
            missing >= omitted,
            "{label}: omitted platforms are reported missing"
        );
    }
}

/// One spec per defect kind, with a layout that can hold it.
const DEFECTS: &[(&str, &str)] = &[
    (
        "blob-missing",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ blob-missing: config }]\n",
    ),
    (
        "digest-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ digest-mismatch: layer 0 }]\n",
    ),
    (
        "size-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ size-mismatch: manifest }]\n",
    ),
    (
        "diffid-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }], compression: zstd }]\ndefects: [{ diffid-mismatch: layer 0 }]\n",
    ),
    (
        "layer-count-mismatch",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }, { files: [{ path: b, content: b }] }]\ndefects: [layer-count-mismatch]\n",
    ),
    (
        "index-manifests-null",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [index-manifests-null]\n",
    ),
    (
        "manifest-json-index-disagree",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [manifest-json-index-disagree]\n",
    ),
    (
        "media-type-compression-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }], compression: gzip }]\ndefects: [{ media-type-compression-mismatch: layer 0 }]\n",
    ),
    (
        "unsafe-path",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ unsafe-path: { layer: 0, path: ../escape } }]\n",
    ),
    (
        "duplicate-entry",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ duplicate-entry: manifest.json }]\n",
    ),
    (
        "invalid-json",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ invalid-json: index.json }]\n",
    ),
];

#[test]
fn every_crafted_defect_is_found_by_its_oracle() {
    for (code, yaml) in DEFECTS {
        let spec = spec(yaml);
        let (facts, report) = craft_and_read(&spec);
        assert!(
            facts.defects.iter().any(|d| d.code.code() == *code),
            "{code}: the defect was applied"
        );
        let found: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
        assert!(
            found.contains(code),
            "{code}: not found; findings {found:?}"
        );
        // The same spec without the defect is clean of that code.
        let mut clean = spec.clone();
        clean.defects.clear();
        let (_, report) = craft_and_read(&clean);
        assert!(
            report.findings.iter().all(|f| f.code.as_str() != *code),
            "{code}: found without the defect"
        );
    }
}

#[test]
fn scenario_fixtures_and_craft_specs_are_one_language() {
    let s = parse_scenario(
        "name: one\nsummary: s\nfixtures:\n  f:\n    layout: containerd-hybrid\n    name: a.test/x:1\n    platforms: [linux/amd64]\n    layers: [{ files: [{ path: a, content: a }], compression: gzip }]\nsteps:\n  - { id: l, load: f }\n",
        std::path::Path::new("one.yaml"),
    )
    .unwrap();
    let (facts, _) = craft_and_read(&s.fixtures["f"]);
    assert!(facts.index.is_some());
}
