//! The drivers against real daemons: info, load (streamed), list, inspect, refusals.

use harness::craft::{LayoutKind, write_archive_to_path};
use harness::runtime::{LoadOutcome, RuntimeKind, start_instance};

use crate::{LiveTest, fixture};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Loads a hybrid archive and checks every driver call on `runtime` with `store`.
fn load_hybrid_and_inspect(runtime: &str, store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("hybrid.tar");
    let spec = fixture(
        LayoutKind::DockerOciHybrid,
        Some("example.test/driver:v1"),
        None,
        "driver\n",
    );
    let facts = write_archive_to_path(&spec, &archive).unwrap();
    rt().block_on(async {
        let instance = start_instance(runtime.parse().unwrap(), store)
            .await
            .unwrap();
        assert_eq!(instance.info.runtime.as_str(), runtime);
        assert_eq!(
            instance.info.store, store,
            "the instance must use the store the cell names"
        );
        assert!(!instance.info.version.is_empty() && !instance.info.api_version.is_empty());
        let rt = instance.runtime.as_ref();
        assert!(
            rt.list_images().await.unwrap().is_empty(),
            "a hermetic instance starts empty"
        );

        let outcome = rt.load_image(&archive).await.unwrap();
        assert!(matches!(outcome, LoadOutcome::Loaded { .. }), "{outcome:?}");
        let images = rt.list_images().await.unwrap();
        assert_eq!(images.len(), 1, "{images:?}");
        let image = rt
            .inspect_image("example.test/driver:v1")
            .await
            .unwrap()
            .expect("loaded image is found by name");
        // Both the classic Docker store and Podman use the config digest as the image ID.
        assert_eq!(
            image.id.trim_start_matches("sha256:"),
            facts.config.digest.hex()
        );
        assert_eq!(image.names, vec!["example.test/driver:v1".to_string()]);
        assert!(
            rt.inspect_image("example.test/absent:v1")
                .await
                .unwrap()
                .is_none()
        );

        let report = instance.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    });
}

fn docker_overlay2_loads_and_inspects() {
    load_hybrid_and_inspect("docker", "overlay2");
}

fn podman_overlay_loads_and_inspects() {
    load_hybrid_and_inspect("podman", "overlay");
}

fn docker_refusal_is_an_outcome_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("junk.tar");
    std::fs::write(&archive, b"this is not a tar archive").unwrap();
    rt().block_on(async {
        let instance = start_instance(RuntimeKind::Docker, "vfs").await.unwrap();
        let outcome = instance
            .runtime
            .load_image(&archive)
            .await
            .expect("a refusal is not a RuntimeError");
        match outcome {
            LoadOutcome::Error(r) => assert!(!r.message.is_empty()),
            other => panic!("junk must be refused, got {other:?}"),
        }
        assert!(instance.shutdown().problems.is_empty());
    });
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_overlay2_loads_and_inspects,
        &["dockerd", "containerd"]
    ),
    live_test!(podman_overlay_loads_and_inspects, &["podman"]),
    live_test!(
        docker_refusal_is_an_outcome_not_an_error,
        &["dockerd", "containerd"]
    ),
];
