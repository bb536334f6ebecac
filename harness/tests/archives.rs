//! Craft and inspect against each other, no daemon needed: every layout crafted and read back
//! must report exactly the crafted facts, and every deliberate defect must be found by the
//! oracle whose code it names (and a clean archive must have no error finding).

use harness::config::parse_scenario;
use harness::craft::{CraftedArchive, FixtureSpec, write_archive, write_archive_to_path};
use harness::oci::archive::{Compression, read_path};
use harness::verify::{Inspection, Severity, inspect_archive, inspect_path};

/// Parses one fixture spec from YAML through the scenario loader's own spec type.
fn spec(yaml: &str) -> FixtureSpec {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Asserts the layer the reader reports is the one crafted: its DiffID, its blob's digest and
/// size, and what the blob decompresses to. Returns the blob.
fn assert_layer_is<'a>(
    l: &'a harness::oci::archive::LayerReport,
    f: &harness::craft::LayerFacts,
    label: &str,
) -> &'a harness::oci::archive::StoredBlob {
    assert_eq!(l.diff_id.as_ref(), Some(&f.diff_id), "{label}");
    let blob = l.blob.as_ref().expect("present layer blob");
    assert_eq!((&blob.digest, blob.size), (&f.digest, f.size), "{label}");
    assert_eq!(
        blob.uncompressed_digest.as_ref(),
        Some(&f.diff_id),
        "{label}"
    );
    blob
}

/// Crafts `spec` in memory and inspects the bytes: the reader's facts and the oracles' findings.
fn craft_and_read(spec: &FixtureSpec) -> (CraftedArchive, Inspection) {
    let mut bytes = Vec::new();
    let facts = write_archive(spec, &mut bytes).unwrap();
    let inspection = inspect_archive(bytes.as_slice()).unwrap();
    (facts, inspection)
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
        let (facts, inspection) = craft_and_read(&spec(yaml));
        let report = &inspection.report;
        let label = format!("{layout}: {yaml}");
        assert_eq!(
            serde_json::to_value(report.layout).unwrap(),
            *layout,
            "{label}"
        );
        let errors: Vec<_> = inspection
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
                let blob = assert_layer_is(l, f, &label);
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
        let missing = inspection
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

/// Layers with generated files (`generate:`), in every layout and the compressions that stream
/// differently: crafted to a file (the streaming path), read back by the archive reader, whose
/// DiffIDs, blob digests and sizes must be what craft reported; the generated bytes in the layer
/// are the stream of the seed.
#[test]
fn generated_content_is_crafted_and_reads_back() {
    let layouts = [
        "docker-archive",
        "docker-oci-hybrid",
        "containerd-hybrid",
        "oci-archive",
    ];
    let dir = tempfile::tempdir().unwrap();
    for layout in layouts {
        for compression in ["none", "gzip", "zstd"] {
            let yaml = format!(
                "layout: {layout}\nname: a.test/big:1\nlayers:\n  - files:\n      - {{ path: data/blob, generate: {{ size: 1MiB, seed: 7 }} }}\n      - {{ path: data/small, generate: {{ size: 1000, seed: 8 }}, mode: 0o600 }}\n      - {{ path: etc/a, content: \"a\\n\" }}\n    compression: {compression}\n  - files: [{{ path: etc/b, content: \"b\\n\" }}]\n"
            );
            let label = format!("{layout} {compression}");
            let spec = spec(&yaml);
            let path = dir.path().join("big.tar");
            let facts = write_archive_to_path(&spec, &path).unwrap();
            // The same bytes as crafting in memory, and as crafting again.
            let mut bytes = Vec::new();
            assert_eq!(write_archive(&spec, &mut bytes).unwrap(), facts, "{label}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{label}");

            let report = read_path(&path).unwrap();
            let [image] = report.images.as_slice() else {
                panic!("{label}: one image")
            };
            let [m] = image.manifests.as_slice() else {
                panic!("{label}: one manifest")
            };
            assert_eq!(m.layers.len(), 2, "{label}");
            for (l, f) in m.layers.iter().zip(&facts.layers) {
                assert_layer_is(l, f, &label);
            }
            assert!(facts.layers[0].size > 1 << 20, "{label}");
            let inspection = inspect_path(&path).unwrap();
            let errors: Vec<_> = inspection
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.code.as_str())
                .collect();
            assert!(errors.is_empty(), "{label}: {errors:?}");
        }
    }
    // Another seed, other bytes: another DiffID.
    let one = |seed: u64| {
        let yaml = format!(
            "layout: oci-archive\nlayers: [{{ files: [{{ path: a, generate: {{ size: 100KiB, seed: {seed} }} }}] }}]\n"
        );
        let mut bytes = Vec::new();
        let facts = write_archive(&spec(&yaml), &mut bytes).unwrap();
        (bytes, facts.layers[0].diff_id.clone())
    };
    let (a, a_id) = one(1);
    assert_eq!(one(1), (a, a_id.clone()));
    assert_ne!(one(2).1, a_id);
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
    // The blob defects on a layer whose bytes are generated, made again when written.
    (
        "digest-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, generate: { size: 64KiB, seed: 1 } }] }]\ndefects: [{ digest-mismatch: layer 0 }]\n",
    ),
    (
        "size-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, generate: { size: 64KiB, seed: 1 } }] }]\ndefects: [{ size-mismatch: layer 0 }]\n",
    ),
    (
        "diffid-mismatch",
        "layout: oci-archive\nname: a.test/d:1\nlayers: [{ files: [{ path: a, generate: { size: 64KiB, seed: 1 } }], compression: zstd }]\ndefects: [{ diffid-mismatch: layer 0 }]\n",
    ),
    (
        "blob-missing",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, generate: { size: 64KiB, seed: 1 } }] }]\ndefects: [{ blob-missing: layer 0 }]\n",
    ),
    (
        "layer-count-mismatch",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }, { files: [{ path: b, content: b }] }]\ndefects: [layer-count-mismatch]\n",
    ),
    (
        "index-manifests-null",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [index-manifests-null]\n",
    ),
    // Docker 25.0.0's reordered manifest (moby#47150) and the pre-release's empty one
    // (moby#47065), named after what Docker did, found as the codes they provoke.
    (
        "diffid-mismatch",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }, { files: [{ path: b, content: b }] }]\ndefects: [manifest-layers-reordered]\n",
    ),
    (
        "layer-count-mismatch",
        "layout: docker-oci-hybrid\nname: a.test/d:1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [manifest-layers-empty]\n",
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

/// `harness inspect` prints exactly the committed examples for the crafted specs in
/// `tests/data/inspect/` (`<name>.yaml` -> `<name>.json` for `--format json`, `<name>.txt`
/// for the table), byte for byte, and exits 1 exactly when a finding is an error. The
/// examples were written by the binary before the inspect document became a library type, so
/// this proves the document kept its bytes and field order; the library's
/// `Inspection::to_json` must print the same.
///
/// When a deliberate change alters the output (a new prediction rule, a new finding), rewrite
/// the examples with `HARNESS_UPDATE_INSPECT_EXAMPLES=1 cargo nextest run -E
/// 'test(inspect_prints_the_committed_examples)'` and review `git diff harness/tests/data/`.
#[test]
fn inspect_prints_the_committed_examples() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inspect");
    let bin = env!("CARGO_BIN_EXE_harness");
    let update = std::env::var_os("HARNESS_UPDATE_INSPECT_EXAMPLES").is_some();
    let dir = tempfile::tempdir().unwrap();
    let mut specs: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 4, "examples in {}", data.display());
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    for spec in specs {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let archive = dir.path().join(format!("{name}.tar"));
        let crafted = run(&[
            "craft".as_ref(),
            spec.as_os_str(),
            "-o".as_ref(),
            archive.as_os_str(),
        ]);
        assert!(crafted.status.success(), "{name}: craft failed");
        let json = run(&[
            "inspect".as_ref(),
            archive.as_os_str(),
            "--format=json".as_ref(),
        ]);
        let table = run(&["inspect".as_ref(), archive.as_os_str()]);
        let (json_file, text_file) = (
            data.join(format!("{name}.json")),
            data.join(format!("{name}.txt")),
        );
        if update {
            std::fs::write(&json_file, &json.stdout).unwrap();
            std::fs::write(&text_file, &table.stdout).unwrap();
        }
        let want_json = std::fs::read_to_string(&json_file).unwrap();
        let want_text = std::fs::read_to_string(&text_file).unwrap();
        let got_json = String::from_utf8(json.stdout.clone()).unwrap();
        assert!(
            got_json == want_json,
            "{name}: --format json differs from {}:\n{}",
            json_file.display(),
            similar::TextDiff::from_lines(&want_json, &got_json).unified_diff()
        );
        let got_text = String::from_utf8(table.stdout.clone()).unwrap();
        assert!(
            got_text == want_text,
            "{name}: the table differs from {}:\n{}",
            text_file.display(),
            similar::TextDiff::from_lines(&want_text, &got_text).unified_diff()
        );

        let library = harness::verify::inspect_path(&archive).unwrap();
        assert_eq!(format!("{}\n", library.to_json()), want_json, "{name}");
        assert_eq!(harness::verify::render_text(&library), want_text, "{name}");
        let doc: serde_json::Value = serde_json::from_str(&want_json).unwrap();
        let errors = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "error");
        for out in [&json, &table] {
            assert_eq!(
                out.status.code(),
                Some(i32::from(errors)),
                "{name}: exit code"
            );
        }
    }
}

/// Issue 13, item 5: `inspect /dev/zero` never ended. A path that is not a regular file or a
/// directory is refused at once (exit 2, saying why); `--special` reads it as one stream,
/// which is how a FIFO carrying a real archive is inspected.
#[test]
fn special_files_are_refused_unless_asked() {
    let bin = env!("CARGO_BIN_EXE_harness");
    let out = std::process::Command::new(bin)
        .args(["inspect", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/zero is not a regular file"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a.tar");
    harness::craft::write_archive_to_path(
        &spec("layout: oci-archive\nname: a.test/fifo:1\nlayers: [{ files: [{ path: f, content: x }] }]\n"),
        &archive,
    )
    .unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let writer = {
        let (fifo, archive) = (fifo.clone(), archive.clone());
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            std::io::copy(&mut std::fs::File::open(archive).unwrap(), &mut out).unwrap();
        })
    };
    let out = std::process::Command::new(bin)
        .args(["inspect", "--special", "--format", "json"])
        .arg(&fifo)
        .output()
        .unwrap();
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["layout"], "oci-archive");
}

/// Issue 13, item 12: a closed stdout pipe (`| head`) panicked `ref` and `inspect` with exit
/// 101. They now end as `cat` does, by SIGPIPE, without a panic message.
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let bin = env!("CARGO_BIN_EXE_harness");
    let refs: Vec<String> = (0..2000).map(|i| format!("a.test/r{i}:v1")).collect();
    let mut child = std::process::Command::new(bin)
        .arg("ref")
        .args(&refs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert_eq!(out.status.signal(), Some(13), "ended by SIGPIPE, as cat is");
}
