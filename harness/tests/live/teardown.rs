//! Nothing is left behind: after a run, after Ctrl-C, and after a daemon crashes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::runtime::teardown::mounts_under;
use harness::runtime::{RuntimeKind, start_instance};
use nix::sys::signal::Signal;

use crate::{
    LiveTest, assert_clean, harness_cmd, interrupt, processes_mentioning, wait_for_instance,
};

/// A private, short TMPDIR (unix socket paths must stay under 108 bytes).
fn short_tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hxt-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// Writes a one-cell matrix and a one-step scenario into `dir`.
fn write_project(dir: &Path, runtime: &str, store: &str) {
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(
        dir.join("matrix.yaml"),
        format!("axes:\n  runtime: [{runtime}]\n  version: [host]\n  store: [{store}]\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("scenarios/teardown.yaml"),
        "name: teardown\nsummary: loads one archive\nfixtures:\n  one:\n    layout: docker-oci-hybrid\n    \
         name: example.test/one:v1\n    layers:\n      - files: [{ path: etc/one, content: \"one\\n\" }]\n\
         steps:\n  - id: load-one\n    load: one\n",
    )
    .unwrap();
}

fn a_finished_run_leaves_nothing_behind() {
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), "podman", "overlay");
    let out = harness_cmd(project.path(), tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("teardown::podman-host-overlay") || stdout.contains("podman-host-overlay"),
        "{stdout}"
    );
    assert_clean(tmp.path());
}

/// Starts `harness run` on `runtime`, waits until its daemon is serving, sends `signal`, and
/// checks the exit code (128 + signal) and that nothing survives.
fn interrupt_mid_run(runtime: &str, store: &str, socket: &str, signal: Signal) {
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), runtime, store);
    let mut child = harness_cmd(project.path(), tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the daemon is serving *and* has mounted something under its root (dockerd
    // makes its data root a mount; Podman's overlay driver bind-mounts its home), so the
    // interrupt proves that teardown unmounts, not just that it kills.
    let up = wait_for_instance(
        &mut child,
        tmp.path(),
        socket,
        Duration::from_secs(60),
        || {
            !mounts_under(tmp.path()).unwrap().is_empty()
                || !mounts_in_any_namespace_under(tmp.path()).is_empty()
        },
    );
    assert!(up, "the daemon never came up with a mount under its root");
    interrupt(child, signal);
    assert_clean(tmp.path());
}

/// When, during a two-cell run (`--jobs 1`), a signal arrives.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// The first cell has started its instance.
    FirstStarting,
    /// The first cell just finished; the second is about to start.
    BetweenCells,
    /// The second cell's daemon is serving.
    SecondServing,
}

/// Issue 13, item 8: a signal at `moment` of a two-cell run tears everything down, starts no
/// new cell, and writes the results of the cells that finished (`interrupted` says so).
fn signal_at(moment: Moment, signal: Signal) {
    use std::io::BufRead;
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), "podman", "vfs");
    std::fs::write(
        project.path().join("matrix.yaml"),
        "axes:\n  runtime: [podman]\n  version: [host]\n  store: [vfs, overlay]\n",
    )
    .unwrap();
    let json = project.path().join("results.json");
    let mut child = harness_cmd(project.path(), tmp.path())
        .args(["--jobs", "1", "--json"])
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let wait_line = |needle: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_secs(1))
                && line.contains(needle)
            {
                return;
            }
        }
        panic!("no stderr line with {needle:?}");
    };
    let finished_before = match moment {
        Moment::FirstStarting => {
            wait_line("starting");
            0
        }
        Moment::BetweenCells => {
            wait_line("[1/2]");
            1
        }
        Moment::SecondServing => {
            wait_line("[1/2]");
            assert!(
                wait_for_instance(
                    &mut child,
                    tmp.path(),
                    "podman.sock",
                    Duration::from_secs(60),
                    || true
                ),
                "the second daemon never came up"
            );
            1
        }
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + signal as i32),
        "{moment:?}:\n{stderr}"
    );
    assert_clean(tmp.path());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("partial results written"))
            .unwrap();
    assert_eq!(doc["interrupted"]["signal"], signal as i32, "{doc}");
    assert_eq!(doc["interrupted"]["planned"], 2, "{doc}");
    let results = doc["results"].as_array().unwrap();
    // The run may finish the second cell's start before the signal lands, never more.
    assert!(
        results.len() == finished_before
            || (matches!(moment, Moment::BetweenCells) && results.len() == 2),
        "{moment:?}: {} results:\n{stderr}",
        results.len()
    );
    assert!(
        results.iter().all(|r| r["status"] == "pass"),
        "only cells that finished on their own: {doc}"
    );
}

/// Issue 13, item 9: a daemon that stops answering (SIGSTOP) makes its cell an `error`
/// (`step-timeout`, with the daemon's log tail) within the step timeout; the other cell
/// finishes, and nothing is left behind.
fn a_stopped_daemon_times_out_its_cell_and_the_other_finishes() {
    let project = tempfile::tempdir().unwrap();
    let tmp = short_tmp();
    write_project(project.path(), "podman", "vfs");
    // Many loads, so the first cell is still running when its daemon is stopped.
    let steps: String = (0..400)
        .map(|i| format!("  - id: load-{i}\n    load: one\n"))
        .collect();
    std::fs::write(
        project.path().join("scenarios/teardown.yaml"),
        format!(
            "name: teardown\nsummary: loads one archive many times\nfixtures:\n  one:\n    layout: docker-oci-hybrid\n    \
             name: example.test/one:v1\n    layers:\n      - files: [{{ path: etc/one, content: \"one\\n\" }}]\n\
             steps:\n{steps}"
        ),
    )
    .unwrap();
    std::fs::write(
        project.path().join("matrix.yaml"),
        "axes:\n  runtime: [podman, docker]\n  version: [host]\n  store: [vfs]\n",
    )
    .unwrap();
    let json = project.path().join("results.json");
    let started = std::time::Instant::now();
    let mut child = harness_cmd(project.path(), tmp.path())
        .args(["--jobs", "2", "--step-timeout", "5", "--json"])
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_instance(
            &mut child,
            tmp.path(),
            "podman.sock",
            Duration::from_secs(60),
            || true
        ),
        "podman never came up"
    );
    // Past the readiness probe and into the steps: the first load has written the store's
    // image list, well before 400 loads are done.
    let loading = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .any(|e| e.path().join("storage/vfs-images/images.json").exists())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !loading() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(loading(), "podman never loaded anything");
    // The service itself, not the `unshare` that starts it in its own mount namespace.
    let stopped: Vec<i32> = processes_mentioning(tmp.path())
        .iter()
        .filter(|p| p.contains("system service"))
        .filter_map(|p| p.split(':').next()?.parse().ok())
        .filter(|pid: &i32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "podman")
        })
        .collect();
    assert_eq!(stopped.len(), 1, "one podman service");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(stopped[0]), Signal::SIGSTOP).unwrap();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "an infrastructure error:\n{stderr}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let by_cell = |id: &str| {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["cell"]["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {doc}"))
    };
    let podman = by_cell("podman-host-vfs");
    assert_eq!(podman["status"], "error", "{podman}");
    assert_eq!(podman["error_kind"], "step-timeout", "{podman}");
    assert!(
        podman["message"]
            .as_str()
            .unwrap()
            .contains("podman's last log lines"),
        "{podman}"
    );
    assert_eq!(by_cell("docker-host-vfs")["status"], "pass");
    // Not a speed target: a bound that only a hang crosses (the other cell's 400 loads take
    // 30-100 s on a loaded 2-core machine; the stopped cell gives up after 5 s).
    assert!(took < Duration::from_secs(300), "took {took:?}");
    assert_clean(tmp.path());
}

fn sigint_while_the_first_cell_starts_writes_no_results_and_leaves_nothing() {
    signal_at(Moment::FirstStarting, Signal::SIGINT);
}

fn sighup_between_cells_keeps_the_finished_cell_and_starts_no_other() {
    signal_at(Moment::BetweenCells, Signal::SIGHUP);
}

fn sigterm_while_the_second_cell_runs_keeps_the_first_result() {
    signal_at(Moment::SecondServing, Signal::SIGTERM);
}

/// Mounts under `dir` in any process's mount namespace: the host's Podman runs in a private
/// one (its host paths, see `provider/host.rs`), so its overlay mounts never reach ours.
fn mounts_in_any_namespace_under(dir: &std::path::Path) -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let dir = dir.display().to_string();
    procs
        .flatten()
        .filter_map(|p| std::fs::read_to_string(p.path().join("mountinfo")).ok())
        .flat_map(|info| {
            info.lines()
                .filter_map(|l| l.split(' ').nth(4).map(String::from))
                .filter(|m| m.starts_with(&dir))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ctrl_c_during_a_podman_run_leaves_nothing_behind() {
    interrupt_mid_run("podman", "overlay", "podman.sock", Signal::SIGINT);
}

fn ctrl_c_during_a_docker_run_leaves_nothing_behind() {
    interrupt_mid_run("docker", "overlay2", "docker.sock", Signal::SIGINT);
}

fn a_crashed_daemon_is_an_error_and_is_still_cleaned_up() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instance = start_instance(RuntimeKind::Docker, "vfs").await.unwrap();
        let root = instance.root_path().to_path_buf();
        let pid: i32 = std::fs::read_to_string(root.join("docker.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            instance.runtime.list_images().await.is_err(),
            "a dead daemon is a RuntimeError"
        );
        let dead = instance.dead_daemon();
        assert!(dead.is_some(), "the dead daemon is detected");
        let report = instance.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(!root.exists());
        assert!(processes_mentioning(&root).is_empty());
    });
}

fn sigterm_during_a_podman_run_leaves_nothing_behind() {
    interrupt_mid_run("podman", "overlay", "podman.sock", Signal::SIGTERM);
}

fn a_panic_with_a_live_instance_still_tears_it_down() {
    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let instance = start_instance(RuntimeKind::Podman, "overlay")
                .await
                .unwrap();
            let root = instance.root_path().to_path_buf();
            // In Podman's own mount namespace (see `mounts_in_any_namespace_under`).
            assert!(
                !mounts_in_any_namespace_under(&root).is_empty(),
                "podman's overlay home is mounted"
            );
            tx.send(root).unwrap();
            panic!("a step blew up with the instance live");
        })
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    let root = rx.recv().unwrap();
    assert!(!root.exists(), "{} survived the panic", root.display());
    assert!(mounts_under(&root).unwrap().is_empty());
    assert!(mounts_in_any_namespace_under(&root).is_empty());
    assert!(processes_mentioning(&root).is_empty());
}

fn roots_of_a_killed_harness_are_swept_on_the_next_run() {
    let tmp = short_tmp();
    // A root as a SIGKILLed harness leaves it: owner gone, a mount still in place.
    let stale = tmp.path().join("harness-stale01");
    let mnt = stale.join("storage/overlay");
    std::fs::create_dir_all(&mnt).unwrap();
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    std::fs::write(stale.join("owner.pid"), dead_pid.to_string()).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    // A root of a live process (this one) must be left alone.
    let live = tmp.path().join("harness-live01");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join("owner.pid"), std::process::id().to_string()).unwrap();

    let project = tempfile::tempdir().unwrap();
    write_project(project.path(), "podman", "vfs");
    let out = harness_cmd(project.path(), tmp.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("removed stale instance root"), "{stderr}");
    assert!(!stale.exists(), "the stale root was not removed");
    assert!(mounts_under(&stale).unwrap().is_empty());
    assert!(live.exists(), "a live process's root was touched");
    std::fs::remove_dir_all(&live).unwrap();
    assert_clean(tmp.path());
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(
        a_stopped_daemon_times_out_its_cell_and_the_other_finishes,
        &["podman", "dockerd", "containerd"]
    ),
    live_test!(
        sigint_while_the_first_cell_starts_writes_no_results_and_leaves_nothing,
        &["podman"]
    ),
    live_test!(
        sighup_between_cells_keeps_the_finished_cell_and_starts_no_other,
        &["podman"]
    ),
    live_test!(
        sigterm_while_the_second_cell_runs_keeps_the_first_result,
        &["podman"]
    ),
    live_test!(a_finished_run_leaves_nothing_behind, &["podman"]),
    live_test!(
        ctrl_c_during_a_podman_run_leaves_nothing_behind,
        &["podman"]
    ),
    live_test!(
        ctrl_c_during_a_docker_run_leaves_nothing_behind,
        &["dockerd", "containerd"]
    ),
    live_test!(
        a_crashed_daemon_is_an_error_and_is_still_cleaned_up,
        &["dockerd", "containerd"]
    ),
    live_test!(
        sigterm_during_a_podman_run_leaves_nothing_behind,
        &["podman"]
    ),
    live_test!(
        a_panic_with_a_live_instance_still_tears_it_down,
        &["podman"]
    ),
    live_test!(
        roots_of_a_killed_harness_are_swept_on_the_next_run,
        &["podman"]
    ),
];
