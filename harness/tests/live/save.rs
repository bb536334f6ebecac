//! Real builds and saves: images built FROM scratch (busybox-static gives a real binary) by
//! each runtime's own builder, saved in each format the runtime offers, and cross-checked with
//! skopeo, an independent reader: it must accept every archive and report the config digest
//! that the runtime gives as the image ID.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::runtime::{SaveFormat, start_instance};

use crate::have;

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

/// Builds, saves in `formats`, and checks each archive with skopeo and with `check`, which
/// gets the format's transport name and the archive while it exists.
fn build_save_check(
    runtime: &str,
    store: &str,
    formats: &[(SaveFormat, &str)],
    check: impl Fn(&str, &Path),
) {
    let dir = tempfile::tempdir().unwrap();
    let context = busybox_context(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instance = start_instance(runtime, store).await.unwrap();
        let rt = instance.runtime.as_ref();
        let id = rt
            .build_image(&context, "example.test/built:v1")
            .await
            .unwrap()
            .expect("the build succeeds");
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
            check(transport, &out);
        }
        assert!(instance.shutdown().problems.is_empty());
    });
}

#[test]
fn docker_builds_from_scratch_and_saves_a_docker_archive_skopeo_reads() {
    if have(&["dockerd", "containerd", "skopeo"]) {
        build_save_check(
            "docker",
            "vfs",
            &[(SaveFormat::DockerArchive, "docker-archive")],
            |_, _| {},
        );
    }
}

#[test]
fn podman_builds_from_scratch_and_saves_both_formats_skopeo_reads() {
    if have(&["podman", "skopeo"]) {
        build_save_check(
            "podman",
            "vfs",
            &[
                (SaveFormat::DockerArchive, "docker-archive"),
                (SaveFormat::OciArchive, "oci-archive"),
            ],
            |_, _| {},
        );
    }
}
