//! Real builds and saves: images built FROM scratch (busybox-static gives a real binary) by
//! each runtime's own builder, saved in each format the runtime offers, and cross-checked with
//! skopeo, an independent reader: it must accept every archive and report the config digest
//! that the runtime gives as the image ID.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::build::default_builder;
use harness::oci::archive::LayoutKind;
use harness::runtime::{BuildRequest, SaveFormat, start_instance};
use harness::verify::{Severity, inspect_path};

use crate::LiveTest;

/// A build context: a Dockerfile copying busybox into an empty image.
pub fn busybox_context(dir: &Path) -> PathBuf {
    let path = dir.join("context.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let dockerfile = b"FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"true\"]\n";
    let mut header = tar::Header::new_ustar();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", &dockerfile[..])
        .unwrap();
    tar.append_path_with_name("/bin/busybox", "busybox")
        .unwrap();
    tar.finish().unwrap();
    path
}

/// skopeo's config digest for `transport:path`.
fn skopeo_config_digest(transport: &str, path: &Path) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("{transport}:{}", path.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo refused {transport}:{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    manifest["config"]["digest"]
        .as_str()
        .expect("a single-image manifest")
        .to_string()
}

/// Reads a real archive with harness's reader: the layout class must be `want`, nothing may be
/// an error, and the one image's config digest must be the one skopeo and the runtime report.
fn inspect_real(path: &Path, want: LayoutKind, config: &str) {
    let inspection = inspect_path(path).unwrap();
    let report = &inspection.report;
    assert_eq!(report.layout, want, "{}", path.display());
    let errors: Vec<_> = inspection
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    let [image] = report.images.as_slice() else {
        panic!("one image in {}", path.display())
    };
    let configs: Vec<String> = image
        .manifests
        .iter()
        .filter_map(|m| m.config.as_ref()?.digest.as_ref().map(|d| d.to_string()))
        .collect();
    assert_eq!(configs, [config], "{}", path.display());
}

/// Has skopeo rewrite a docker-archive as an oci-archive and as a docker-archive of its own
/// (with its symlinked layer files), and reads both: harness must agree with the config digest
/// skopeo reports for each copy. Converting to OCI rewrites the config (its media type and
/// bytes), so the image ID changes there; a docker-archive copy keeps it.
fn skopeo_copies(path: &Path, config: &str) {
    for (transport, layout) in [
        ("oci-archive", LayoutKind::OciArchive),
        ("docker-archive", LayoutKind::DockerArchive),
    ] {
        let out = path.with_extension(format!("skopeo-{transport}.tar"));
        let status = Command::new("skopeo")
            .args([
                "copy",
                "-q",
                &format!("docker-archive:{}", path.display()),
                &format!("{transport}:{}", out.display()),
            ])
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy to {transport}");
        let copied = skopeo_config_digest(transport, &out);
        assert_eq!(
            copied == config,
            transport == "docker-archive",
            "{transport}: config kept only without conversion"
        );
        inspect_real(&out, layout, &copied);
    }
}

/// Builds, saves in `formats`, and checks each archive with skopeo and with `check`, which
/// gets the format's transport name and the archive while it exists.
fn build_save_check(
    runtime: &str,
    store: &str,
    formats: &[(SaveFormat, &str)],
    check: impl Fn(&str, &Path, &str),
) {
    let dir = tempfile::tempdir().unwrap();
    let context = busybox_context(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instance = start_instance(runtime.parse().unwrap(), store)
            .await
            .unwrap();
        let rt = instance.runtime.as_ref();
        let request = BuildRequest {
            context: context.clone(),
            tag: "example.test/built:v1".into(),
            builder: default_builder(instance.facts.runtime, &instance.facts.version)
                .expect("docker and podman have a builder"),
            build_args: Default::default(),
            source_date_epoch: None,
            no_cache: false,
        };
        let id = rt
            .build_image(&request)
            .await
            .unwrap()
            .expect("the build succeeds")
            .id;
        let config = format!("sha256:{}", id.trim_start_matches("sha256:"));
        for (format, transport) in formats {
            let out = dir.path().join(format!("{transport}.tar"));
            rt.save_image(&["example.test/built:v1".to_string()], *format, &out)
                .await
                .unwrap()
                .expect("save succeeds");
            assert_eq!(
                skopeo_config_digest(transport, &out),
                config,
                "{runtime} {transport}: the ID is the config digest"
            );
            check(transport, &out, &config);
        }
        assert!(instance.shutdown().problems.is_empty());
    });
}

fn docker_builds_from_scratch_and_saves_a_docker_archive_skopeo_reads() {
    // Docker 20.10 writes the <= 24 layout: manifest.json and <v1id>/layer.tar, no index.json.
    let formats = [(SaveFormat::DockerArchive, "docker-archive")];
    build_save_check("docker", "vfs", &formats, |_, path, config| {
        inspect_real(path, LayoutKind::DockerArchive, config);
        skopeo_copies(path, config);
    });
}

fn podman_builds_from_scratch_and_saves_both_formats_skopeo_reads() {
    let formats = [
        (SaveFormat::DockerArchive, "docker-archive"),
        (SaveFormat::OciArchive, "oci-archive"),
    ];
    build_save_check("podman", "vfs", &formats, |transport, path, config| {
        let want = if transport == "oci-archive" {
            LayoutKind::OciArchive
        } else {
            LayoutKind::DockerArchive
        };
        inspect_real(path, want, config)
    });
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_builds_from_scratch_and_saves_a_docker_archive_skopeo_reads,
        &["dockerd", "containerd", "skopeo"]
    ),
    live_test!(
        podman_builds_from_scratch_and_saves_both_formats_skopeo_reads,
        &["podman", "skopeo"]
    ),
];
