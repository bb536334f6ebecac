//! The `debian` provider against real daemons from Debian suites' root filesystems: each
//! runtime's version from a suite loads a crafted hybrid archive through the runner, Docker's
//! containerd image store is confirmed from the daemon, a version or store a suite cannot give
//! is unavailable, and nothing is left behind (no process, no mount, on the host's mount table
//! at any time) while the cached root filesystem stays exactly as it was.
//!
//! The first test to need a suite builds its root filesystem (about a minute here, once; the
//! other test processes wait on the cache's lock and reuse it).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::config::{self, Cell};
use harness::run::{self, Fixtures, RunOptions, SnapshotMode, Status};
use harness::runtime::RuntimeKind;
use harness::runtime::provider::debian::{self, rootfs::Entry};
use harness::runtime::provider::{self, InstanceSpec, ProviderError};
use harness::runtime::teardown::mounts_under;
use nix::sys::signal::Signal;

use crate::{
    LiveTest, assert_clean, harness_cmd, interrupt, kill_and_wait_until_nothing_runs,
    processes_mentioning, the_next_run_sweeps, wait_for_instance,
};

const NEEDS: &[&str] = &["mmdebstrap", "unshare", "nsenter", "chroot"];

/// The hybrid fixture every test loads.
const NAME: &str = "example.test/debian:v1";

/// A one-step scenario: load the Docker >= 25 hybrid archive `NAME`, expecting its name and
/// the ID to be the digest `id_is` (`config` on a classic store and on Podman, `manifest` on
/// containerd and Docker's containerd store).
fn scenario_yaml(id_is: &str) -> String {
    format!(
        "name: debian\nsummary: loads one hybrid archive\nfixtures:\n  hybrid:\n    \
         layout: docker-oci-hybrid\n    name: {NAME}\n    layers:\n      \
         - files: [{{ path: etc/debian, content: \"debian\\n\" }}]\n\
         steps:\n  - id: load-hybrid\n    load: hybrid\n    expect:\n      \
         - names: [{NAME}]\n        id_is: {id_is}\n"
    )
}

/// `{provider: debian, suite: <suite>}`.
fn debian_options(suite: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("provider".to_string(), "debian".to_string()),
        ("suite".to_string(), suite.to_string()),
    ])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The cached root filesystem of `suite` (built now if need be), timing a build.
fn provisioned(suite: &str) -> Entry {
    let started = Instant::now();
    let cold = debian::cached(suite).is_none();
    let entry = debian::provision(suite).unwrap();
    if cold {
        eprintln!(
            "built the {suite} root filesystem in {:.1?}",
            started.elapsed()
        );
    }
    entry
}

/// Every path of the tree with its type, size, mtime and mode: what a run must not change.
fn manifest(tree: &Path) -> BTreeMap<PathBuf, (u32, u64, i64, i64)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u32, u64, i64, i64)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            out.insert(
                path.clone(),
                (m.mode(), m.size(), m.mtime(), m.mtime_nsec()),
            );
            if m.is_dir() {
                walk(&path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(tree, &mut out);
    out
}

fn assert_unchanged(entry: &Entry, before: &BTreeMap<PathBuf, (u32, u64, i64, i64)>) {
    let after = manifest(&entry.tree());
    if &after != before {
        let changed: Vec<_> = after
            .iter()
            .filter(|(p, m)| before.get(*p) != Some(m))
            .map(|(p, _)| p.clone())
            .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
            .take(20)
            .collect();
        panic!("the cached root filesystem changed: {changed:#?}");
    }
}

/// Runs the one-step scenario on `runtime` `version` with `store` from `suite` through the
/// runner, and checks it passed on that version, with nothing left behind and the cached tree
/// unchanged. Returns the version the daemon reported.
fn hybrid_through_the_runner(
    runtime_kind: RuntimeKind,
    version: &str,
    store: &str,
    suite: &str,
    id_is: &str,
) -> harness::runtime::RuntimeInfo {
    let entry = provisioned(suite);
    let before = manifest(&entry.tree());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debian.yaml");
    std::fs::write(&path, scenario_yaml(id_is)).unwrap();
    let scenario = config::load_scenario(&path).unwrap();
    let fixtures = Fixtures::craft(&scenario).unwrap();
    let cell = Cell {
        id: format!("{runtime_kind}-{version}-{store}-debian"),
        runtime: runtime_kind,
        version: version.into(),
        store: store.into(),
        builder: None,
        api: None,
        extra: debian_options(suite),
    };
    let opts = RunOptions {
        snapshots: SnapshotMode::Ignore,
        snapshot_dir: dir.path().join("snapshots"),
        jobs: 1,
        ci: true,
        step_timeout: run::DEFAULT_STEP_TIMEOUT,
    };
    let result = runtime().block_on(run::run_cell(&scenario, &fixtures, &cell, &opts));
    assert!(
        matches!(result.status, Status::Pass),
        "{}: {:?}\n{}",
        result.name(),
        result.status,
        result.snapshot_body
    );
    let info = result.runtime.clone().expect("an instance ran");
    assert_eq!(info.runtime, runtime_kind);
    assert!(
        provider::version_matches(version, &info.version),
        "{} from {suite}",
        info.version
    );
    eprintln!(
        "{runtime_kind} {} ({store}) from {suite}: {} ms for the cell",
        info.version, result.duration_ms
    );
    assert_unchanged(&entry, &before);
    info
}

fn docker_26_1_from_trixie_loads_the_hybrid() {
    let info =
        hybrid_through_the_runner(RuntimeKind::Docker, "26.1", "overlay2", "trixie", "config");
    assert_eq!(info.store, "overlay2");
}

fn docker_26_1_from_trixie_loads_the_hybrid_on_vfs() {
    let info = hybrid_through_the_runner(RuntimeKind::Docker, "26.1", "vfs", "trixie", "config");
    assert_eq!(info.store, "vfs");
}

fn docker_26_1_from_trixie_runs_the_containerd_image_store() {
    // The ID is the manifest digest: the containerd store is really in use (a classic store
    // would give the config digest and fail the expectation).
    let info = hybrid_through_the_runner(
        RuntimeKind::Docker,
        "26.1",
        "containerd",
        "trixie",
        "manifest",
    );
    assert_eq!(
        info.store, "overlayfs",
        "the snapshotter, as docker info reports it"
    );
}

fn podman_5_from_trixie_loads_the_hybrid() {
    hybrid_through_the_runner(RuntimeKind::Podman, "5.4", "overlay", "trixie", "config");
}

fn containerd_1_7_from_trixie_loads_the_hybrid() {
    hybrid_through_the_runner(
        RuntimeKind::Containerd,
        "1.7",
        "overlayfs",
        "trixie",
        "manifest",
    );
}

fn docker_20_10_from_bullseye_loads_the_hybrid() {
    hybrid_through_the_runner(
        RuntimeKind::Docker,
        "20.10.5",
        "overlay2",
        "bullseye",
        "config",
    );
}

fn podman_3_0_from_bullseye_loads_the_hybrid() {
    hybrid_through_the_runner(RuntimeKind::Podman, "3.0", "overlay", "bullseye", "config");
}

fn containerd_1_4_from_bullseye_loads_the_hybrid() {
    hybrid_through_the_runner(
        RuntimeKind::Containerd,
        "1.4",
        "overlayfs",
        "bullseye",
        "manifest",
    );
}

fn docker_28_from_sid_loads_the_hybrid() {
    hybrid_through_the_runner(RuntimeKind::Docker, "28", "overlay2", "sid", "config");
}

fn docker_28_from_sid_runs_the_containerd_image_store() {
    let info =
        hybrid_through_the_runner(RuntimeKind::Docker, "28", "containerd", "sid", "manifest");
    assert_eq!(info.store, "overlayfs");
}

fn podman_5_from_sid_loads_the_hybrid() {
    hybrid_through_the_runner(RuntimeKind::Podman, "5", "overlay", "sid", "config");
}

fn containerd_2_from_sid_loads_the_hybrid() {
    hybrid_through_the_runner(RuntimeKind::Containerd, "2", "overlayfs", "sid", "manifest");
}

/// Starts `spec` straight from the provider, timing the start.
fn start_timed(
    spec: &InstanceSpec,
) -> Result<(harness::runtime::Instance, Duration), ProviderError> {
    let rt = runtime();
    let started = Instant::now();
    let instance = rt.block_on(provider::for_spec(spec).unwrap().start(spec))?;
    Ok((instance, started.elapsed()))
}

fn spec(runtime: RuntimeKind, version: &str, store: &str, suite: &str) -> InstanceSpec {
    InstanceSpec {
        provider: "debian".into(),
        version: version.into(),
        options: debian_options(suite),
        ..InstanceSpec::new(runtime, store)
    }
}

fn what_a_suite_cannot_give_is_unavailable() {
    provisioned("trixie");
    // trixie has Docker 26.1, not 20.10.
    match start_timed(&spec(RuntimeKind::Docker, "20.10", "vfs", "trixie")) {
        Err(e @ ProviderError::VersionUnavailable { .. }) => {
            assert!(e.is_unavailable());
            assert!(
                e.to_string()
                    .contains("the debian provider has docker 26.1"),
                "{e}"
            );
        }
        other => panic!("another version: {:?}", other.map(|i| i.0.info.clone())),
    }
    // A Docker store name dockerd refuses fails the start, with dockerd's words.
    match start_timed(&spec(RuntimeKind::Docker, "26.1", "zfs", "trixie")) {
        Err(e) => assert!(!e.is_unavailable(), "{e}"),
        Ok((i, _)) => panic!("zfs here: {:?}", i.info),
    }
    // No suite of that name: mmdebstrap cannot build it, so it is unavailable here.
    match start_timed(&spec(RuntimeKind::Podman, "host", "vfs", "no-such-suite")) {
        Err(e) => assert!(e.is_unavailable(), "{e}"),
        Ok((i, _)) => panic!("no-such-suite: {:?}", i.info),
    }
    assert!(debian::cached("no-such-suite").is_none());
    // Only its lock file is left; no other process builds this suite, so it can go.
    let cache = debian::rootfs::Cache::default_location().unwrap();
    let key = debian::rootfs::RootfsSpec::new("no-such-suite").key();
    let _ = std::fs::remove_file(cache.dir.join(format!("{key}.lock")));
}

fn the_containerd_store_on_docker_20_10_is_unavailable() {
    provisioned("bullseye");
    match start_timed(&spec(
        RuntimeKind::Docker,
        "20.10",
        "containerd",
        "bullseye",
    )) {
        Err(e @ ProviderError::StoreUnavailable { .. }) => {
            assert!(e.is_unavailable());
            assert!(e.to_string().contains("Docker >= 24"), "{e}");
        }
        other => panic!(
            "containerd store on 20.10: {:?}",
            other.map(|i| i.0.info.clone())
        ),
    }
}

/// The host provider checks Docker's store the same way: its Docker (20.10 on Debian 12) has
/// no containerd image store, which is a skip; a Docker >= 24 must confirm it from the daemon.
fn the_host_provider_checks_the_containerd_store_too() {
    let spec = InstanceSpec::new(RuntimeKind::Docker, "containerd");
    match start_timed(&spec) {
        Err(e @ ProviderError::StoreUnavailable { .. }) => {
            assert!(e.is_unavailable());
            assert!(e.to_string().contains("Docker >= 24"), "{e}");
        }
        Ok((instance, _)) => {
            assert!(
                instance.facts.version.major().is_some_and(|m| m >= 24),
                "{:?}",
                instance.info
            );
            assert_eq!(
                instance.facts.family,
                harness::verify::predict::Family::DockerContainerd
            );
            let report = instance.shutdown();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
        }
        Err(e) => panic!("{e}"),
    }
}

/// Starts each `(runtime, version, store)` from `suite` straight from the provider, timing the
/// start, and checks that no mount ever reaches the host's table, that teardown leaves nothing,
/// and that the cached tree is unchanged.
fn instances_start_with_nothing_on_the_host_mount_table(
    suite: &str,
    cells: &[(RuntimeKind, &str, &str)],
) {
    let entry = provisioned(suite);
    let before = manifest(&entry.tree());
    for &(runtime, version, store) in cells {
        let (instance, took) = start_timed(&spec(runtime, version, store, suite)).unwrap();
        let root = instance.root_path().to_path_buf();
        eprintln!(
            "{runtime} {} ({store}) from {suite} started in {took:.2?}",
            instance.info.version
        );
        // Every mount (the overlay root, /proc, the instance's own bind, the daemons' own
        // mounts) lives in the daemons' namespace: the host's table has none of them.
        assert!(mounts_under(&root).unwrap().is_empty());
        assert!(mounts_under(&entry.tree()).unwrap().is_empty());
        assert!(!processes_mentioning(&root).is_empty(), "the daemons run");
        let report = instance.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(!root.exists());
        assert!(processes_mentioning(&root).is_empty());
    }
    assert_unchanged(&entry, &before);
}

fn instances_start_from_trixie_with_nothing_on_the_host_mount_table() {
    instances_start_with_nothing_on_the_host_mount_table(
        "trixie",
        &[
            (RuntimeKind::Docker, "26.1", "overlay2"),
            (RuntimeKind::Docker, "26.1", "containerd"),
            (RuntimeKind::Podman, "5.4", "overlay"),
            (RuntimeKind::Containerd, "1.7", "overlayfs"),
        ],
    );
}

fn instances_start_from_bullseye_with_nothing_on_the_host_mount_table() {
    instances_start_with_nothing_on_the_host_mount_table(
        "bullseye",
        &[
            (RuntimeKind::Docker, "20.10", "overlay2"),
            (RuntimeKind::Podman, "3.0", "overlay"),
            (RuntimeKind::Containerd, "1.4", "overlayfs"),
        ],
    );
}

fn instances_start_from_bookworm_with_nothing_on_the_host_mount_table() {
    instances_start_with_nothing_on_the_host_mount_table(
        "bookworm",
        &[
            (RuntimeKind::Docker, "20.10.24", "overlay2"),
            (RuntimeKind::Podman, "4.3", "overlay"),
            (RuntimeKind::Containerd, "1.6", "overlayfs"),
        ],
    );
}

fn instances_start_from_sid_with_nothing_on_the_host_mount_table() {
    instances_start_with_nothing_on_the_host_mount_table(
        "sid",
        &[
            (RuntimeKind::Docker, "28", "overlay2"),
            (RuntimeKind::Docker, "28", "containerd"),
            (RuntimeKind::Podman, "5", "overlay"),
            (RuntimeKind::Containerd, "2", "overlayfs"),
        ],
    );
}

fn a_crashed_debian_daemon_is_detected_and_cleaned_up() {
    let entry = provisioned("trixie");
    let before = manifest(&entry.tree());
    let (instance, _) =
        start_timed(&spec(RuntimeKind::Docker, "26.1", "overlay2", "trixie")).unwrap();
    let root = instance.root_path().to_path_buf();
    // dockerd writes its pid file inside its namespace, through the bind: the same file, and
    // the same pid (no pid namespace).
    let pid: i32 = std::fs::read_to_string(root.join("docker.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let dead = instance.dead_daemon();
    assert_eq!(dead.map(|d| d.0).as_deref(), Some("dockerd"));
    let report = instance.shutdown();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(!root.exists());
    assert!(processes_mentioning(&root).is_empty());
    assert_unchanged(&entry, &before);
}

/// A private, short TMPDIR (unix socket paths must stay under 108 bytes).
fn short_tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hxd-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// A project whose matrix is one cell of `runtime` from trixie.
fn write_project(dir: &Path, runtime: &str, version: &str, store: &str) {
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(
        dir.join("matrix.yaml"),
        format!(
            "axes:\n  runtime: [{runtime}]\n  version: [\"{version}\"]\n  store: [{store}]\n  \
             provider: [debian]\n  suite: [trixie]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("scenarios/debian.yaml"), scenario_yaml("config")).unwrap();
}

fn a_finished_debian_run_leaves_nothing_behind() {
    let entry = provisioned("trixie");
    let before = manifest(&entry.tree());
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), "docker", "26.1", "overlay2");
    let out = harness_cmd(project.path(), tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("docker 26.1"), "{stdout}");
    assert!(stdout.contains("pass"), "{stdout}");
    assert_clean(tmp.path());
    assert_unchanged(&entry, &before);
}

fn ctrl_c_during_a_debian_run_leaves_nothing_behind() {
    let entry = provisioned("trixie");
    let before = manifest(&entry.tree());
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), "docker", "26.1", "overlay2");
    let mut child = harness_cmd(project.path(), tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = wait_for_instance(
        &mut child,
        tmp.path(),
        "docker.sock",
        Duration::from_secs(120),
        || true,
    );
    assert!(up, "dockerd never came up");
    // Serving, with its data root and overlay mounted in its namespace, none on the host's.
    assert!(mounts_under(tmp.path()).unwrap().is_empty());
    interrupt(child, Signal::SIGINT);
    assert_clean(tmp.path());
    assert_unchanged(&entry, &before);
}

fn a_sigkilled_debian_run_stops_its_daemons_and_is_swept() {
    let entry = provisioned("trixie");
    let before = manifest(&entry.tree());
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), "docker", "26.1", "overlay2");
    // Forty loads, so the run is still going when it is killed.
    let mut yaml = scenario_yaml("config");
    for i in 0..40 {
        yaml.push_str(&format!("  - id: again-{i}\n    load: hybrid\n"));
    }
    std::fs::write(project.path().join("scenarios/debian.yaml"), yaml).unwrap();
    let mut child = harness_cmd(project.path(), tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until dockerd answers, not just until its socket exists: a dockerd that gets
    // SIGTERM while still starting, with its containerd gone at the same moment, waits for
    // that containerd for ever (seen with Docker 26.1; the host provider's dockerd would do the
    // same), and PR_SET_PDEATHSIG sends SIGTERM.
    let rt = runtime();
    let started = Instant::now();
    let root = loop {
        let serving = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let sock = p.join("docker.sock");
                sock.exists()
                    && rt.block_on(async {
                        match harness::runtime::docker::DockerDriver::connect(&sock).await {
                            Ok(d) => d.ping().await,
                            Err(_) => false,
                        }
                    })
            });
        if let Some(root) = serving {
            break root;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none(),
            "dockerd never came up"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // No teardown runs: only PR_SET_PDEATHSIG stops the daemons, whose namespace (and every
    // mount in it) goes with them.
    kill_and_wait_until_nothing_runs(child, tmp.path());
    the_next_run_sweeps(project.path(), tmp.path(), &root);
    assert_unchanged(&entry, &before);
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(docker_26_1_from_trixie_loads_the_hybrid, NEEDS),
    live_test!(docker_26_1_from_trixie_loads_the_hybrid_on_vfs, NEEDS),
    live_test!(
        docker_26_1_from_trixie_runs_the_containerd_image_store,
        NEEDS
    ),
    live_test!(podman_5_from_trixie_loads_the_hybrid, NEEDS),
    live_test!(containerd_1_7_from_trixie_loads_the_hybrid, NEEDS),
    live_test!(docker_20_10_from_bullseye_loads_the_hybrid, NEEDS),
    live_test!(podman_3_0_from_bullseye_loads_the_hybrid, NEEDS),
    live_test!(containerd_1_4_from_bullseye_loads_the_hybrid, NEEDS),
    live_test!(docker_28_from_sid_loads_the_hybrid, NEEDS),
    live_test!(docker_28_from_sid_runs_the_containerd_image_store, NEEDS),
    live_test!(podman_5_from_sid_loads_the_hybrid, NEEDS),
    live_test!(containerd_2_from_sid_loads_the_hybrid, NEEDS),
    live_test!(what_a_suite_cannot_give_is_unavailable, NEEDS),
    live_test!(the_containerd_store_on_docker_20_10_is_unavailable, NEEDS),
    live_test!(
        the_host_provider_checks_the_containerd_store_too,
        &["dockerd", "containerd"]
    ),
    live_test!(
        instances_start_from_trixie_with_nothing_on_the_host_mount_table,
        NEEDS
    ),
    live_test!(
        instances_start_from_bullseye_with_nothing_on_the_host_mount_table,
        NEEDS
    ),
    live_test!(
        instances_start_from_bookworm_with_nothing_on_the_host_mount_table,
        NEEDS
    ),
    live_test!(
        instances_start_from_sid_with_nothing_on_the_host_mount_table,
        NEEDS
    ),
    live_test!(a_finished_debian_run_leaves_nothing_behind, NEEDS),
    live_test!(a_crashed_debian_daemon_is_detected_and_cleaned_up, NEEDS),
    live_test!(ctrl_c_during_a_debian_run_leaves_nothing_behind, NEEDS),
    live_test!(a_sigkilled_debian_run_stops_its_daemons_and_is_swept, NEEDS),
];
