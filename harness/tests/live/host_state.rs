//! The host's runtime state, before and after a run (issue 13, item 7): a `harness run` of the
//! scenarios that exercise every operation (load, import, save, build, push, pull, publish),
//! on every host cell and on a Debian-provided Docker and Podman, leaves the host's runtime
//! paths as they were; and a hostile host configuration (a reject-all signature policy,
//! registries.conf drop-ins that block the loopback registry, a broken daemon.json and
//! containerd config) changes no verdict, because no daemon reads it.
//!
//! Both run `harness run` as a child with `--snapshots check`: every cell must pass (or be
//! `known`) against the committed snapshots. Both are exclusive in nextest
//! (`.config/nextest.toml`: `threads-required = "num-test-threads"`), so no other test's
//! tools (skopeo in `save.rs`) write the host paths while they watch them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        a_run_leaves_the_hosts_runtime_paths_as_they_were,
        &[
            "dockerd",
            "containerd",
            "podman",
            "ctr",
            "docker-registry",
            "mmdebstrap"
        ]
    ),
    live_test!(
        a_hostile_host_configuration_changes_no_verdict,
        &[
            "dockerd",
            "containerd",
            "podman",
            "ctr",
            "docker-registry",
            "unshare"
        ]
    ),
];

/// Walked recursively: everything a runtime keeps state or configuration in.
const TREES: &[&str] = &[
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/containerd",
    "/var/cache/containers",
    "/etc/docker",
    "/etc/containers",
    "/etc/containerd",
    "/etc/cni",
    "/var/tmp",
    "/run/docker",
    "/run/containerd",
    "/run/containers",
    "/run/libpod",
    "/run/podman",
    "/run/crun",
    "/run/runc",
    "/run/netns",
];

/// One path's kind, size (files) and, under `/etc`, mtime: configuration nobody else
/// rewrites during a test, while caches and `/var/tmp` may be touched in place by others.
type State = BTreeMap<PathBuf, (char, u64, i64)>;

fn host_state() -> State {
    fn walk(p: &Path, depth: usize, out: &mut State) {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        let kind = if meta.is_dir() {
            'd'
        } else if meta.is_symlink() {
            'l'
        } else {
            'f'
        };
        let size = if kind == 'f' { meta.len() } else { 0 };
        let mtime = if p.starts_with("/etc") && kind == 'f' {
            meta.mtime()
        } else {
            0
        };
        out.insert(p.to_path_buf(), (kind, size, mtime));
        if kind == 'd'
            && depth > 0
            && let Ok(entries) = std::fs::read_dir(p)
        {
            for e in entries.flatten() {
                walk(&e.path(), depth - 1, out);
            }
        }
    }
    let mut out = State::new();
    for root in TREES {
        walk(Path::new(root), usize::MAX, &mut out);
    }
    // `/run` itself one level deep: a new socket or directory of any daemon shows.
    walk(Path::new("/run"), 1, &mut out);
    out
}

fn diff(before: &State, after: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (p, b) in before {
        match after.get(p) {
            None => out.push(format!("removed {}", p.display())),
            Some(a) if a != b => out.push(format!("changed {} ({b:?} -> {a:?})", p.display())),
            _ => {}
        }
    }
    for p in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("created {}", p.display()));
    }
    out
}

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The cells and scenarios both tests run.
const HOST_CELLS: &[&str] = &["docker-host-*", "podman-host-*", "containerd-host-*"];
const SCENARIOS: &[&str] = &[
    "scenarios/podman3.yaml",
    "scenarios/import-compression.yaml",
    "scenarios/roundtrip.yaml",
    "scenarios/reduced-platform-push.yaml",
];

/// `harness run --snapshots check` of `SCENARIOS` on `cells`, as `program` (with `prefix`
/// arguments) runs it; panics unless it exits 0, with its output.
fn run_harness(program: &str, prefix: &[String], cells: &[&str], tmp: &Path) {
    let mut cmd = Command::new(program);
    cmd.args(prefix)
        .arg(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--snapshots", "check", "--jobs", "2"])
        .current_dir(project())
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    for c in cells {
        cmd.args(["--cell", c]);
    }
    cmd.args(SCENARIOS);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "harness run exited {:?}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every host cell and a Debian-provided Docker 26.1 and Podman 5.8, through every operation:
/// nothing under the host's runtime paths is created, removed or resized, and no file under
/// `/etc` is rewritten (dockerd <= 24 used to create `/etc/docker/key.json`; Podman's service
/// `/etc/cni/net.d/cni.lock`, `/var/lib/containers/cache/blob-info-cache-v1.boltdb`,
/// `/var/cache/containers/*.lock` and `/var/tmp` spools).
fn a_run_leaves_the_hosts_runtime_paths_as_they_were() {
    let tmp = tempfile::tempdir().unwrap();
    let before = host_state();
    let mut cells = HOST_CELLS.to_vec();
    cells.extend(["docker-26.1-overlay2", "podman-5.8-overlay"]);
    run_harness("env", &[], &cells, tmp.path());
    let after = host_state();
    let changes = diff(&before, &after);
    eprintln!("{} host paths watched", after.len());
    assert!(changes.is_empty(), "the run touched the host: {changes:#?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

/// The run again, in a private mount namespace whose host configuration is hostile: a
/// reject-all `/etc/containers/policy.json` (Podman would refuse every load), a
/// registries.conf drop-in that blocks `127.0.0.1` and enforces short names, a
/// `/etc/docker/daemon.json` naming a storage driver that does not exist, and a
/// `/etc/containerd/config.toml` that does not parse. Every verdict and snapshot stays as
/// committed. The hostile files exist only inside the namespace.
fn a_hostile_host_configuration_changes_no_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let hostile = tempfile::tempdir().unwrap();
    let h = hostile.path();
    std::fs::write(h.join("policy.json"), r#"{"default":[{"type":"reject"}]}"#).unwrap();
    std::fs::create_dir_all(h.join("registries.conf.d")).unwrap();
    std::fs::write(
        h.join("registries.conf.d/99-hostile.conf"),
        "short-name-mode = \"enforcing\"\nunqualified-search-registries = [\"hostile.invalid\"]\n\n[[registry]]\nlocation = \"127.0.0.1\"\nblocked = true\n",
    )
    .unwrap();
    std::fs::create_dir_all(h.join("docker")).unwrap();
    std::fs::write(
        h.join("docker/daemon.json"),
        r#"{"storage-driver":"no-such-driver","insecure-registries":[],"data-root":"/nonexistent"}"#,
    )
    .unwrap();
    std::fs::create_dir_all(h.join("containerd")).unwrap();
    std::fs::write(h.join("containerd/config.toml"), "this is [not toml\n").unwrap();
    // Bind each over the host's path where the host has one (a file over a file, a directory
    // over a directory); where it has none the runtime would not read one either.
    let q = |p: &Path| format!("'{}'", p.display());
    let mut script = String::from("set -e\n");
    let mut bound = Vec::new();
    for (ours, host) in [
        ("policy.json", "/etc/containers/policy.json"),
        ("registries.conf.d", "/etc/containers/registries.conf.d"),
        ("docker", "/etc/docker"),
        ("containerd", "/etc/containerd"),
    ] {
        if Path::new(host).exists() {
            script.push_str(&format!(
                "mount --bind {} {}\n",
                q(&h.join(ours)),
                q(Path::new(host))
            ));
            bound.push(host);
        }
    }
    eprintln!("hostile over: {bound:?}");
    assert!(
        bound.contains(&"/etc/containers/policy.json"),
        "the host has no /etc/containers/policy.json to make hostile (containers-common)"
    );
    script.push_str("exec \"$@\"\n");
    let prefix: Vec<String> = ["--mount", "--propagation", "private", "/bin/sh", "-c"]
        .iter()
        .map(|s| s.to_string())
        .chain([script, "sh".to_string()])
        .collect();
    run_harness("unshare", &prefix, HOST_CELLS, tmp.path());
}
