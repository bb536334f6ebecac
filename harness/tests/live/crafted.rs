//! Crafted archives of every layout, loaded into real Docker, Podman and containerd: each
//! runtime must do exactly what the prediction model says for its family (load or refuse, and
//! under which names), with the prediction made from harness's own reading of the archive.

use harness::config::RuntimeKind;
use harness::craft::{LayoutKind, write_archive_to_path};
use harness::oci::archive::read_path;
use harness::runtime::{LoadOutcome, start_instance};
use harness::verify::predict::{ArchiveNaming, predict_one};

use crate::{LiveTest, fixture, names};

const LAYOUTS: [(LayoutKind, &str); 4] = [
    (LayoutKind::DockerArchive, "docker-archive"),
    (LayoutKind::DockerOciHybrid, "docker-oci-hybrid"),
    (LayoutKind::ContainerdHybrid, "containerd-hybrid"),
    (LayoutKind::OciArchive, "oci-archive"),
];

fn load_every_layout(runtime: RuntimeKind, store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instance = start_instance(runtime, store).await.unwrap();
        let family = instance.facts.family;
        let rt = instance.runtime.as_ref();
        let mut wrong = Vec::new();
        for (layout, label) in LAYOUTS {
            let name = format!("example.test/crafted-{label}:v1");
            let spec = fixture(layout, Some(&name), None, &format!("{label}\n"));
            let archive = dir.path().join(format!("{label}.tar"));
            write_archive_to_path(&spec, &archive).unwrap();
            let predicted = predict_one(
                family,
                &ArchiveNaming::of_report(&read_path(&archive).unwrap()),
            );

            let before = names(rt).await;
            let outcome = rt.load_image(&archive).await.unwrap();
            let added: Vec<String> = names(rt).await.difference(&before).cloned().collect();
            let agrees = match (&outcome, predicted.outcome) {
                (LoadOutcome::Loaded { .. }, "loads") => added == predicted.names,
                (LoadOutcome::Error(_), "error") => true,
                _ => false,
            };
            if !agrees {
                wrong.push(format!(
                    "{label}: {outcome:?}, added {added:?}; predicted {predicted:?}"
                ));
            }
        }
        assert!(instance.shutdown().problems.is_empty());
        assert!(
            wrong.is_empty(),
            "{} differs from the {} model:\n{}",
            runtime.as_str(),
            family.as_str(),
            wrong.join("\n")
        );
    });
}

fn docker_loads_crafted_archives_as_predicted() {
    load_every_layout(RuntimeKind::Docker, "vfs");
}

fn podman_loads_crafted_archives_as_predicted() {
    load_every_layout(RuntimeKind::Podman, "vfs");
}

fn containerd_loads_crafted_archives_as_predicted() {
    load_every_layout(RuntimeKind::Containerd, "native");
}

/// Issue 13, item 10: a full disk while crafting is the machine's failure, exit 3 with the
/// cause named (it was exit 2, a "bad spec"), and leaves no file behind.
fn craft_onto_a_full_disk_exits_3_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a 64 KiB tmpfs");
    let spec = dir.path().join("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "layout: docker-archive\nname: a.test/x:1\nlayers:\n  - files:\n      - {{ path: big, content: \"{}\" }}\n",
            "x".repeat(200_000)
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("craft")
        .arg(&spec)
        .arg("-o")
        .arg(full.join("out.tar"))
        .output()
        .unwrap();
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().collect();
    let unmounted = std::process::Command::new("umount").arg(&full).status();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(unmounted.unwrap().success());
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(
        craft_onto_a_full_disk_exits_3_and_leaves_nothing,
        &["mount", "umount"]
    ),
    live_test!(
        docker_loads_crafted_archives_as_predicted,
        &["dockerd", "containerd"]
    ),
    live_test!(podman_loads_crafted_archives_as_predicted, &["podman"]),
    live_test!(
        containerd_loads_crafted_archives_as_predicted,
        &["containerd"]
    ),
];
