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

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
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
