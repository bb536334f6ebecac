//! The `container` provider against real daemons: runtime images built here from Debian
//! bullseye's cached root filesystem, imported into a hermetic outer dockerd (one for the whole
//! run), run the `podman3` scenario and must observe exactly what the committed snapshots of the
//! same versions from the `debian` provider say (the provider changes where the runtime comes
//! from, not what it does).
//! An interrupted run tears everything down; a harness killed with SIGKILL mid-run leaves no
//! process and no mount (the container's keeper ends with the harness), and the next run sweeps
//! its roots.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::{
    LiveTest, assert_clean, harness_cmd, interrupt, kill_and_wait_until_nothing_runs,
    processes_mentioning, the_next_run_sweeps,
};

const NEEDS: &[&str] = &["dockerd", "containerd", "nsenter", "mmdebstrap"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A private, short TMPDIR (unix socket paths must stay under 108 bytes).
fn short_tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hxc-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// `path`'s text with its `cell:` line (the one place a cell's id appears) blanked.
fn without_cell_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| if l.starts_with("cell: ") { "cell:" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn container_cells_from_debian_images_match_the_debian_snapshots() {
    let tmp = short_tmp();
    let work = tempfile::tempdir().unwrap();
    let snaps = work.path().join("snapshots");
    let json = work.path().join("results.json");
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(workspace())
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .args([
            "run",
            "scenarios/podman3.yaml",
            "--matrix",
            "matrices/containers.yaml",
            "--snapshots",
            "update",
            // One cell at a time: the second must still find the run's outer daemon.
            "--jobs",
            "1",
        ])
        .arg("--snapshot-dir")
        .arg(&snaps)
        .arg("--json")
        .arg(&json)
        .spawn()
        .unwrap();
    // Every outer daemon root the run creates, seen while it runs.
    let mut outer_roots = std::collections::BTreeSet::new();
    while child.try_wait().unwrap().is_none() {
        for e in std::fs::read_dir(tmp.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("harness-outer-") {
                outer_roots.insert(name);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("podman3 on two container cells: {:.1?}", started.elapsed());
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        outer_roots.len(),
        1,
        "both cells run in the run's one outer daemon: {outer_roots:?}"
    );

    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{doc:#}");
    for (cell, debian_cell, version) in [
        (
            "docker-20.10.5-overlay2-container",
            "docker-20.10.5-overlay2",
            "20.10.5",
        ),
        (
            "podman-3.0-overlay-container",
            "podman-3.0-overlay",
            "3.0.1",
        ),
    ] {
        let r = results
            .iter()
            .find(|r| r["cell"]["id"] == cell)
            .unwrap_or_else(|| panic!("no result for {cell}: {doc:#}"));
        assert_eq!(r["status"], "pass", "{r:#}");
        assert_eq!(r["provider"], "container", "{r:#}");
        assert_eq!(r["source"], "container of debian bullseye", "{r:#}");
        // `hermetic` is written only when false.
        assert!(r.get("hermetic").is_none(), "{r:#}");
        let ran = r["runtime"]["version"].as_str().unwrap();
        assert!(ran.starts_with(version), "{cell} ran {ran}");
        let observed = without_cell_line(&snaps.join(format!("podman3__{cell}.snap")));
        let committed = without_cell_line(
            &workspace()
                .join("snapshots")
                .join(format!("podman3__{debian_cell}.snap")),
        );
        assert_eq!(
            observed, committed,
            "{cell} must observe what the debian provider's {debian_cell} snapshot says"
        );
    }
    assert_clean(tmp.path());
}

/// A project whose matrix is the container provider's Docker cell and whose one scenario
/// loads a crafted archive.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("matrix.yaml"),
        "include:\n  - { runtime: docker, version: \"20.10.5\", store: overlay2, \
         provider: container, suite: bullseye }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    std::fs::write(
        dir.path().join("scenarios/one.yaml"),
        "name: one\nsummary: loads one archive\nfixtures:\n  a:\n    layout: docker-archive\n    \
         name: example.test/container:v1\n    layers:\n      \
         - files: [{ path: etc/a, content: \"a\\n\" }]\n\
         steps:\n  - id: load\n    load: a\n    expect:\n      \
         - names: [example.test/container:v1]\n",
    )
    .unwrap();
    dir
}

/// The inner instance root (`harness-container-*`) under `tmp` once its dockerd serves.
fn serving_inner_root(tmp: &Path) -> Option<PathBuf> {
    std::fs::read_dir(tmp)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("harness-container-"))
                && p.join("docker.sock").exists()
        })
}

/// Starts a run of `project` and waits until its container's dockerd serves; returns the
/// child and the inner instance root.
fn run_until_serving(project: &Path, tmp: &Path) -> (std::process::Child, PathBuf) {
    let mut child = harness_cmd(project, tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(root) = serving_inner_root(tmp) {
            return (child, root);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its container's dockerd served"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no container dockerd after 300 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn an_interrupted_run_tears_the_container_down() {
    let tmp = short_tmp();
    let project = project();
    let (child, _root) = run_until_serving(project.path(), tmp.path());
    interrupt(child, Signal::SIGINT);
    assert_clean(tmp.path());
}

fn a_killed_run_leaves_no_container_behind() {
    let tmp = short_tmp();
    let project = project();
    let (child, root) = run_until_serving(project.path(), tmp.path());
    let keeper = processes_mentioning(&root.join("keeper.fifo"));
    assert!(!keeper.is_empty(), "the container's keeper runs");
    // No teardown runs: PR_SET_PDEATHSIG stops the outer daemons and the nsenter of each
    // runtime daemon; the kernel closes the FIFO, so the keeper exits and its pid namespace,
    // the runtime's daemons included, goes with it.
    let took = kill_and_wait_until_nothing_runs(child, tmp.path());
    eprintln!("everything gone {took:.1?} after the SIGKILL");
    let stderr = the_next_run_sweeps(project.path(), tmp.path(), &root);
    assert!(stderr.contains("pass"), "{stderr}");
}

pub const TESTS: &[LiveTest] = &[
    live_test!(
        container_cells_from_debian_images_match_the_debian_snapshots,
        NEEDS
    ),
    live_test!(an_interrupted_run_tears_the_container_down, NEEDS),
    live_test!(a_killed_run_leaves_no_container_behind, NEEDS),
];
