//! The containerd driver's load against containerd's own import: every crafted layout and
//! naming shape is loaded into one hermetic containerd through the harness's gRPC
//! `load_image`, and into another through the real `ctr images import --no-unpack` (containerd
//! 1.6's `Client.Import` + `images/archive.ImportIndex`, running in ctr), and both must end
//! with the same image names, the same targets and the same outcome.
//!
//! The one deliberate difference is ctr's name for a tag-only `org.opencontainers.image.ref.name`:
//! ctr passes `archive.AddRefPrefix("import-<yyyy-MM-dd>")` as the ref translator, so `latest`
//! becomes `import-2026-01-31:latest`; the harness uses `Client.Import`'s default (no
//! translator, the name verbatim), since a date in a name would make every snapshot volatile.
//! The test maps ctr's prefix away, after checking it is exactly that prefix.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use harness::craft::{
    ArchiveFile, BlobKind, Compression, DefectSpec, FileSpec, FixtureSpec, LayerSpec, LayoutKind,
    Target, write_archive_to_path,
};
use harness::runtime::provider::find_binary;
use harness::runtime::{Instance, LoadOutcome, start_instance};

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        containerd_loads_agree_with_ctr_images_import,
        &["containerd", "ctr"]
    ),
    live_test!(ctr_prefixes_are_recognized_exactly, &[]),
];

fn layer(content: &str, compression: Compression) -> LayerSpec {
    LayerSpec {
        files: vec![FileSpec::new("etc/conformance", content)],
        compression,
        ..Default::default()
    }
}

/// One case: a label and its spec. Every case has its own layer content, so no two cases
/// share a blob and a case cannot pass on content an earlier one left behind.
fn cases() -> Vec<(&'static str, FixtureSpec)> {
    let spec = |label: &str, layout: LayoutKind, compression: Compression| FixtureSpec {
        ..FixtureSpec::new(layout, vec![layer(&format!("{label}\n"), compression)])
    };
    let named = |label: &'static str, layout: LayoutKind, name: &str| {
        let mut s = spec(label, layout, Compression::None);
        s.name = Some(name.into());
        (label, s)
    };
    let mut out = vec![
        // The case: ctr loads it as dangerzone.rocks/dangerzone:latest.
        named(
            "docker-archive-one-tag",
            LayoutKind::DockerArchive,
            "dangerzone.rocks/dangerzone:latest",
        ),
        // A familiar name, normalized by ParseDockerRef.
        named(
            "docker-archive-short-name",
            LayoutKind::DockerArchive,
            "foo",
        ),
        named(
            "docker-oci-hybrid",
            LayoutKind::DockerOciHybrid,
            "dangerzone.rocks/dangerzone:latest",
        ),
        named(
            "containerd-hybrid",
            LayoutKind::ContainerdHybrid,
            "example.test/ctd-hybrid:v1",
        ),
    ];
    // An OCI archive named by io.containerd.image.name, and one whose ref.name is a full name
    // (ctr's translator leaves a name with `/`, `:` or `@` as it is).
    let mut s = spec(
        "oci-archive-full-name",
        LayoutKind::OciArchive,
        Compression::None,
    );
    s.image_name = Some("example.test/oci:v1".into());
    s.ref_name = Some("v1".into());
    out.push(("oci-archive-full-name", s));
    let mut s = spec(
        "oci-archive-full-ref-name",
        LayoutKind::OciArchive,
        Compression::None,
    );
    s.ref_name = Some("example.test/oci-ref:v1".into());
    out.push(("oci-archive-full-ref-name", s));
    for layout in [LayoutKind::DockerArchive, LayoutKind::DockerOciHybrid] {
        let label = match layout {
            LayoutKind::DockerArchive => "docker-archive-two-tags",
            _ => "docker-oci-hybrid-two-tags",
        };
        let mut s = spec(label, layout, Compression::None);
        s.names = vec!["example.test/two:1".into(), "two:2".into()];
        if layout != LayoutKind::DockerArchive {
            s.ref_name = Some(String::new());
            s.image_name = Some(String::new());
        }
        out.push((label, s));
    }
    let mut s = spec(
        "docker-archive-no-name",
        LayoutKind::DockerArchive,
        Compression::None,
    );
    s.name = None;
    out.push(("docker-archive-no-name", s));
    // Two identical layers: the second is a symlink to the first (moby's diffIDPaths).
    let mut s = spec(
        "docker-archive-repeated-layer",
        LayoutKind::DockerArchive,
        Compression::None,
    );
    s.name = Some("example.test/repeated:v1".into());
    s.layers.push(s.layers[0].clone());
    out.push(("docker-archive-repeated-layer", s));
    for (label, compression) in [
        ("docker-archive-gzip", Compression::Gzip),
        ("docker-archive-zstd", Compression::Zstd),
        ("oci-archive-gzip", Compression::Gzip),
        ("oci-archive-zstd", Compression::Zstd),
    ] {
        let layout = if label.starts_with("oci") {
            LayoutKind::OciArchive
        } else {
            LayoutKind::DockerArchive
        };
        let mut s = spec(label, layout, compression);
        s.name = Some(format!("example.test/{label}:v1"));
        if layout == LayoutKind::OciArchive {
            s.image_name = Some(format!("example.test/{label}:v1"));
        }
        out.push((label, s));
    }
    // A Docker archive of another platform: `ImportIndex` gives its index entry the config's
    // platform, so ctr's platform filter drops the only entry and `WalkNotEmpty` refuses it.
    let mut s = spec(
        "docker-archive-arm64",
        LayoutKind::DockerArchive,
        Compression::None,
    );
    s.name = Some("example.test/arm64:v1".into());
    s.platform = Some("linux/arm64".into());
    out.push(("docker-archive-arm64", s));
    let mut s = spec(
        "oci-archive-tag-only",
        LayoutKind::OciArchive,
        Compression::None,
    );
    s.ref_name = Some("latest".into());
    out.push(("oci-archive-tag-only", s));
    out.push((
        "oci-archive-no-name",
        spec(
            "oci-archive-no-name",
            LayoutKind::OciArchive,
            Compression::None,
        ),
    ));
    // Multi-platform images, with one platform listed but left out (as Docker's containerd
    // store saves platforms it never pulled). ctr imports for the host platform only.
    for (label, omit) in [
        ("containerd-hybrid-multi-platform", None),
        ("containerd-hybrid-omitted-arm64", Some("linux/arm64")),
        ("containerd-hybrid-omitted-amd64", Some("linux/amd64")),
    ] {
        let mut s = spec(label, LayoutKind::ContainerdHybrid, Compression::Gzip);
        s.name = Some(format!("example.test/{label}:v1"));
        s.platforms = Some(vec!["linux/amd64".into(), "linux/arm64".into()]);
        s.omit_platforms = omit.into_iter().map(String::from).collect();
        s.attestations = true;
        out.push((label, s));
    }
    let mut s = spec(
        "oci-archive-multi-platform",
        LayoutKind::OciArchive,
        Compression::None,
    );
    s.image_name = Some("example.test/oci-multi:v1".into());
    s.platforms = Some(vec!["linux/arm64".into(), "linux/amd64".into()]);
    out.push(("oci-archive-multi-platform", s));
    // Defects whose outcome depends on what the importer reads: a layer whose bytes do not
    // match its name, a missing layer, a missing config, `"manifests": null`.
    let defect = |label: &'static str, layout: LayoutKind, d: DefectSpec| {
        let mut s = spec(label, layout, Compression::None);
        s.name = Some(format!("example.test/{label}:v1"));
        s.defects = vec![d];
        (label, s)
    };
    let blob = |kind| Target::Blob {
        platform: None,
        kind,
    };
    out.extend([
        defect(
            "docker-oci-hybrid-layer-digest-mismatch",
            LayoutKind::DockerOciHybrid,
            DefectSpec::DigestMismatch(blob(BlobKind::Layer(0))),
        ),
        defect(
            "oci-archive-layer-missing",
            LayoutKind::OciArchive,
            DefectSpec::BlobMissing(blob(BlobKind::Layer(0))),
        ),
        defect(
            "docker-archive-config-missing",
            LayoutKind::DockerArchive,
            DefectSpec::BlobMissing(blob(BlobKind::Config)),
        ),
        defect(
            "docker-archive-layer-missing",
            LayoutKind::DockerArchive,
            DefectSpec::BlobMissing(blob(BlobKind::Layer(0))),
        ),
        defect(
            "oci-archive-manifests-null",
            LayoutKind::OciArchive,
            DefectSpec::IndexManifestsNull,
        ),
        defect(
            "oci-archive-layer-size-mismatch",
            LayoutKind::OciArchive,
            DefectSpec::SizeMismatch(blob(BlobKind::Layer(0))),
        ),
        defect(
            "oci-archive-invalid-index-json",
            LayoutKind::OciArchive,
            DefectSpec::InvalidJson(Target::File(ArchiveFile::IndexJson)),
        ),
        defect(
            "oci-archive-invalid-manifest",
            LayoutKind::OciArchive,
            DefectSpec::InvalidJson(blob(BlobKind::Manifest)),
        ),
        defect(
            "docker-archive-invalid-manifest-json",
            LayoutKind::DockerArchive,
            DefectSpec::InvalidJson(Target::File(ArchiveFile::ManifestJson)),
        ),
        defect(
            "docker-archive-invalid-config",
            LayoutKind::DockerArchive,
            DefectSpec::InvalidJson(blob(BlobKind::Config)),
        ),
        defect(
            "docker-archive-duplicate-manifest-json",
            LayoutKind::DockerArchive,
            DefectSpec::DuplicateEntry(Target::File(ArchiveFile::ManifestJson)),
        ),
        defect(
            "docker-archive-duplicate-layer",
            LayoutKind::DockerArchive,
            DefectSpec::DuplicateEntry(blob(BlobKind::Layer(0))),
        ),
        defect(
            "docker-oci-hybrid-invalid-oci-layout",
            LayoutKind::DockerOciHybrid,
            DefectSpec::InvalidJson(Target::File(ArchiveFile::OciLayout)),
        ),
        defect(
            "docker-oci-hybrid-manifest-json-disagrees",
            LayoutKind::DockerOciHybrid,
            DefectSpec::ManifestJsonIndexDisagree,
        ),
    ]);
    out
}

/// What a load left: refused or loaded, name -> target digest, and name -> what
/// `ctr images check` says of the image after a synchronous garbage collection (so the GC
/// labels the import set must keep the same content alive).
#[derive(Debug, PartialEq)]
struct Result {
    loaded: bool,
    images: BTreeMap<String, String>,
    check: BTreeMap<String, String>,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn socket(instance: &Instance) -> std::path::PathBuf {
    instance.root_path().join("containerd/containerd.sock")
}

/// Runs ctr against the instance in the harness namespace.
fn ctr(ctr: &Path, instance: &Instance, args: &[&str]) -> std::process::Output {
    Command::new(ctr)
        .arg("--address")
        .arg(socket(instance))
        .args(["--namespace", harness::runtime::containerd::NAMESPACE])
        .args(args)
        .output()
        .unwrap()
}

/// name -> target digest of every record in the instance.
async fn records(instance: &Instance) -> BTreeMap<String, String> {
    instance
        .runtime
        .list_images()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| {
            let digest = i.digest.unwrap_or_default();
            i.names.into_iter().map(move |n| (n, digest.clone()))
        })
        .collect()
}

/// Collects garbage synchronously (deleting a lease with `--sync` runs the collector), then
/// name -> `complete (2/2)` from `ctr images check`.
fn check_after_gc(ctr_bin: &Path, instance: &Instance) -> BTreeMap<String, String> {
    for args in [
        &["leases", "create", "--id", "gc-trigger"][..],
        &["leases", "rm", "--sync", "gc-trigger"],
    ] {
        let out = ctr(ctr_bin, instance, args);
        assert!(out.status.success(), "ctr {args:?}: {out:?}");
    }
    let out = ctr(ctr_bin, instance, &["images", "check"]);
    assert!(out.status.success(), "ctr images check: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.len() >= 5).then(|| (without_ctr_prefix(cols[0]), cols[3..5].join(" ")))
        })
        .collect()
}

/// Removes every record, so the next case starts from an empty image store.
async fn clear(instance: &Instance) {
    for name in records(instance).await.into_keys() {
        instance.runtime.untag_image(&name, &name).await.unwrap();
    }
}

/// ctr's `import-<yyyy-MM-dd>:` prefix of tag-only ref names, removed; any other name as is.
fn without_ctr_prefix(name: &str) -> String {
    let b = name.as_bytes();
    let date = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let prefixed = b.len() > 18
        && name.starts_with("import-")
        && date(7..11)
        && b[11] == b'-'
        && date(12..14)
        && b[14] == b'-'
        && date(15..17)
        && b[17] == b':';
    if prefixed {
        name[18..].to_string()
    } else {
        name.to_string()
    }
}

fn containerd_loads_agree_with_ctr_images_import() {
    let ctr_bin = find_binary("ctr", "HARNESS_CTR").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, std::path::PathBuf)> = cases()
        .into_iter()
        .map(|(label, spec)| {
            let path = dir.path().join(format!("{label}.tar"));
            write_archive_to_path(&spec, &path).unwrap_or_else(|e| panic!("{label}: {e}"));
            (label, path)
        })
        .collect();
    let started = Instant::now();
    let mut report = Vec::new();
    let mut differ = Vec::new();
    rt().block_on(async {
        let grpc = start_instance(harness::runtime::RuntimeKind::Containerd, "native")
            .await
            .unwrap();
        let real = start_instance(harness::runtime::RuntimeKind::Containerd, "native")
            .await
            .unwrap();
        for (label, path) in &cases {
            let outcome = grpc.runtime.load_image(path).await.unwrap();
            let harness = Result {
                loaded: matches!(outcome, LoadOutcome::Loaded { .. }),
                images: records(&grpc).await,
                check: check_after_gc(&ctr_bin, &grpc),
            };
            let out = ctr(
                &ctr_bin,
                &real,
                &["images", "import", "--no-unpack", path.to_str().unwrap()],
            );
            let containerd = Result {
                loaded: out.status.success(),
                images: records(&real)
                    .await
                    .into_iter()
                    .map(|(n, d)| (without_ctr_prefix(&n), d))
                    .collect(),
                check: check_after_gc(&ctr_bin, &real),
            };
            let line = format!(
                "{label}: harness {harness:?} ({outcome:?}); ctr {containerd:?} ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            if harness != containerd {
                differ.push(line.clone());
            }
            report.push(line);
            clear(&grpc).await;
            clear(&real).await;
        }
        for instance in [grpc, real] {
            let problems = instance.shutdown().problems;
            assert!(problems.is_empty(), "{problems:?}");
        }
    });
    eprintln!(
        "{} cases in {:.1?}:\n{}",
        cases.len(),
        started.elapsed(),
        report.join("\n")
    );
    assert!(
        differ.is_empty(),
        "the harness's import and ctr's differ:\n{}",
        differ.join("\n")
    );
}

fn ctr_prefixes_are_recognized_exactly() {
    assert_eq!(without_ctr_prefix("import-2026-12-01:latest"), "latest");
    assert_eq!(
        without_ctr_prefix("import-2026-12-01:x:y"),
        "x:y",
        "only the first colon ends the prefix"
    );
    for kept in [
        "import-2026-12-01",
        "import-2026-1-01:latest",
        "example.test/import-2026-12-01:v1",
        "docker.io/library/foo:latest",
    ] {
        assert_eq!(without_ctr_prefix(kept), kept);
    }
}
