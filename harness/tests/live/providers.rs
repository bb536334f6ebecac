//! The `socket` provider against real daemons: a hermetic host instance is started, and a
//! second instance connects to its socket through the socket provider. Running a scenario on
//! that second instance must observe exactly what the committed snapshot of the host cell says
//! (the provider changes where the daemon comes from, not what it does), its teardown must
//! leave the daemon running, and a version or store the daemon does not have is "unavailable".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use harness::config::{self, Cell};
use harness::run::{self, Fixtures, RunOptions, SnapshotMode, Status};
use harness::runtime::provider::{self, InstanceSpec, ProviderError};
use harness::runtime::{RuntimeKind, start_instance};

use crate::{LiveTest, host_cell, names};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where the host provider puts each runtime's API socket inside an instance root.
fn socket_in(root: &Path, runtime: RuntimeKind) -> PathBuf {
    match runtime {
        RuntimeKind::Docker => root.join("docker.sock"),
        RuntimeKind::Podman => root.join("podman.sock"),
        RuntimeKind::Containerd => root.join("containerd/containerd.sock"),
    }
}

/// The matrix options of a cell that reaches the daemon rooted at `root` through its socket.
fn socket_options(root: &Path, runtime: RuntimeKind) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("provider".to_string(), "socket".to_string()),
        (
            "socket".to_string(),
            socket_in(root, runtime).display().to_string(),
        ),
        ("root".to_string(), root.display().to_string()),
    ])
}

/// Runs `scenario` on the host cell `runtime-host-store` twice removed: a host instance is
/// started, and the runner reaches it through the socket provider. The observation must be the
/// committed snapshot of the host cell, byte for byte.
fn scenario_through_the_socket_provider(scenario: &str, runtime: RuntimeKind, store: &str) {
    let scenario =
        Arc::new(config::load_scenario(&workspace().join("scenarios").join(scenario)).unwrap());
    let fixtures = Fixtures::craft(&scenario).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let host = start_instance(runtime, store).await.unwrap();
        let cell = Cell {
            extra: socket_options(host.root_path(), runtime),
            ..host_cell(runtime, store)
        };
        let opts = RunOptions {
            snapshots: SnapshotMode::Ignore,
            snapshot_dir: workspace().join("snapshots"),
            jobs: 1,
            ci: false,
            step_timeout: run::DEFAULT_STEP_TIMEOUT,
        };
        let result = run::run_cell(&scenario, &fixtures, &cell, &opts).await;
        assert!(
            matches!(result.status, Status::Pass | Status::Known { .. }),
            "{}: {:?}",
            result.name(),
            result.status
        );
        assert_eq!(result.runtime.as_ref(), Some(&host.info));
        // The results say the cell was not hermetic.
        assert!(!result.hermetic);
        assert!(
            harness::report::to_json(std::slice::from_ref(&result)).contains("\"hermetic\": false")
        );
        let name = run::snapshot::snapshot_name(&scenario.name, &cell.id);
        let stored =
            std::fs::read_to_string(workspace().join("snapshots").join(format!("{name}.snap")))
                .unwrap();
        assert_eq!(
            run::snapshot::read_snap_content(&stored),
            Some(result.snapshot_body.as_str()),
            "{name}: the socket provider must observe what the host cell's snapshot says"
        );
        // The socket instance is gone (run_cell shut it down); the daemon it used is not.
        let left = names(host.runtime.as_ref()).await;
        assert!(!left.is_empty(), "the scenario's images stay in the daemon");
        assert!(host.dead_daemon().is_none());
        let report = host.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    });
}

pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_through_the_socket_provider_matches_the_host_snapshots,
        &["dockerd", "containerd"]
    ),
    live_test!(
        podman_through_the_socket_provider_matches_the_host_snapshots,
        &["podman"]
    ),
    live_test!(
        containerd_through_the_socket_provider_matches_the_host_snapshots,
        &["containerd"]
    ),
    live_test!(
        the_socket_provider_gives_what_the_daemon_is_and_leaves_it_running,
        &["dockerd", "containerd"]
    ),
];

fn docker_through_the_socket_provider_matches_the_host_snapshots() {
    scenario_through_the_socket_provider("podman3.yaml", RuntimeKind::Docker, "vfs");
    scenario_through_the_socket_provider("reference-expand.yaml", RuntimeKind::Docker, "vfs");
}

fn podman_through_the_socket_provider_matches_the_host_snapshots() {
    scenario_through_the_socket_provider("podman3.yaml", RuntimeKind::Podman, "vfs");
    scenario_through_the_socket_provider("reference-expand.yaml", RuntimeKind::Podman, "vfs");
}

fn containerd_through_the_socket_provider_matches_the_host_snapshots() {
    scenario_through_the_socket_provider("podman3.yaml", RuntimeKind::Containerd, "native");
    scenario_through_the_socket_provider(
        "reference-expand.yaml",
        RuntimeKind::Containerd,
        "native",
    );
}

fn the_socket_provider_gives_what_the_daemon_is_and_leaves_it_running() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let runtime = RuntimeKind::Docker;
        let host = start_instance(runtime, "vfs").await.unwrap();
        let spec = InstanceSpec {
            provider: "socket".into(),
            options: socket_options(host.root_path(), runtime),
            ..InstanceSpec::new(runtime, "vfs")
        };
        let socket = provider::for_spec(&spec).unwrap();
        socket.available(&spec).unwrap();
        let second = socket.start(&spec).await.unwrap();
        assert_eq!(second.info, host.info);
        assert_eq!(second.facts, host.facts);
        assert_eq!(
            second.root_path(),
            host.root_path(),
            "redacted as the host's root"
        );
        assert!(second.dead_daemon().is_none());
        let report = second.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(
            host.root_path().exists(),
            "the daemon's root is not the socket's to remove"
        );
        host.runtime
            .list_images()
            .await
            .expect("the daemon still answers");

        // What the daemon is not: another version, another store.
        let other_version = InstanceSpec {
            version: "0.0.1".into(),
            ..spec.clone()
        };
        match socket.start(&other_version).await {
            Err(e @ ProviderError::VersionUnavailable { .. }) => assert!(e.is_unavailable()),
            other => panic!("another version: {:?}", other.map(|i| i.info.clone())),
        }
        // dockerd has one storage driver, fixed when it started.
        let other_store = InstanceSpec {
            store: "overlay2".into(),
            ..spec.clone()
        };
        match socket.start(&other_store).await {
            Err(e @ ProviderError::StoreUnavailable { .. }) => assert!(e.is_unavailable()),
            other => panic!("another store: {:?}", other.map(|i| i.info.clone())),
        }
        let report = host.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    });
}
