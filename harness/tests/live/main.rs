//! Integration tests against real daemons: one test binary, one module per concern, each test
//! with its own hermetic instance and temp dirs.
//!
//! These need root and the runtimes' binaries. This binary is a libtest-mimic harness
//! (`harness = false`), like `tests/scenarios.rs`, so that a test that cannot run here says so:
//! outside CI, a test whose binaries are missing is listed as ignored, with the reason as its
//! kind (`[skipped: podman not installed] teardown::...`), and nextest counts it as skipped
//! rather than passed. Under CI (`CI` set) it runs and fails instead, because CI must exercise
//! every runtime.
//!
//! Each module lists its tests in a `TESTS` table with the binaries each needs
//! ([`live_test!`]); a new module adds one line to [`MODULES`]. A plain `#[test]` function
//! would never run in this binary, so `every_live_test_is_registered` fails on any.

use std::path::Path;

use harness::craft::{FileSpec, FixtureSpec, LayerSpec, LayoutKind};
use libtest_mimic::{Arguments, Failed, Trial};

/// One live test: a function named as libtest named it, and the binaries it needs on `PATH`.
pub struct LiveTest {
    pub name: &'static str,
    pub needs: &'static [&'static str],
    pub run: fn(),
}

/// `live_test!(function, &["binary", ...])`: a [`LiveTest`] named after its function.
macro_rules! live_test {
    ($test:ident, $needs:expr) => {
        $crate::LiveTest {
            name: stringify!($test),
            needs: $needs,
            run: $test,
        }
    };
}

#[path = "../common/mod.rs"]
mod common;

mod build;
mod container;
mod containerd;
mod crafted;
mod ctr_conformance;
mod debian;
mod drivers;
mod host_state;
mod import;
mod inspect_step;
mod progress;
mod providers;
mod registry;
mod reports;
mod review;
mod save;
mod save_step;
mod sources;
mod steps_lang;
mod styles;
mod teardown;
mod vars;

/// Every module's tests; trials are named `<module>::<function>`, as libtest named them.
const MODULES: &[(&str, &[LiveTest])] = &[
    ("build", build::TESTS),
    ("container", container::TESTS),
    ("containerd", containerd::TESTS),
    ("crafted", crafted::TESTS),
    ("ctr_conformance", ctr_conformance::TESTS),
    ("debian", debian::TESTS),
    ("drivers", drivers::TESTS),
    ("host_state", host_state::TESTS),
    ("import", import::TESTS),
    ("inspect_step", inspect_step::TESTS),
    ("progress", progress::TESTS),
    ("providers", providers::TESTS),
    ("registry", registry::TESTS),
    ("reports", reports::TESTS),
    ("review", review::TESTS),
    ("save", save::TESTS),
    ("save_step", save_step::TESTS),
    ("sources", sources::TESTS),
    ("steps_lang", steps_lang::TESTS),
    ("styles", styles::TESTS),
    ("teardown", teardown::TESTS),
    ("vars", vars::TESTS),
];

/// The binaries of `needs` that are not installed here.
fn missing(needs: &[&str]) -> Vec<String> {
    needs
        .iter()
        .filter(|b| harness::runtime::provider::find_binary(b, "HARNESS_UNUSED_ENV").is_err())
        .map(|b| b.to_string())
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let ci = harness::run::in_ci();
    let mut trials = vec![Trial::test(
        "every_live_test_is_registered",
        every_live_test_is_registered,
    )];
    for (module, tests) in MODULES {
        for test in *tests {
            let name = format!("{module}::{}", test.name);
            let missing = missing(test.needs);
            let reason = format!("skipped: {} not installed", missing.join(", "));
            let (run, needs) = (test.run, test.needs);
            let mut trial = Trial::test(name, move || {
                let missing = self::missing(needs);
                if !missing.is_empty() {
                    // Under CI, or when an ignored trial is run on purpose (`--run-ignored`).
                    return Err(format!(
                        "{missing:?} not installed{} (scripts/install-deps installs them)",
                        if harness::run::in_ci() {
                            ", and CI must have them"
                        } else {
                            ""
                        }
                    )
                    .into());
                }
                run();
                Ok(())
            });
            if !missing.is_empty() && !ci {
                trial = trial.with_ignored_flag(true).with_kind(reason);
            }
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// No live module holds a `#[test]` function: this binary has no libtest harness, so one
/// would compile and never run. Register it in the module's `TESTS` instead.
fn every_live_test_is_registered() -> Result<(), Failed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live");
    let mut stray = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let tests = source
            .lines()
            .filter(|l| l.trim_start().starts_with("#[test]"))
            .count();
        if tests > 0 {
            stray.push(format!("{}: {tests}", path.display()));
        }
    }
    if stray.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "#[test] functions never run in this harness = false binary; list them in the \
             module's TESTS with live_test! and the module in MODULES: {stray:?}"
        )
        .into())
    }
}

/// A one-layer fixture spec.
pub fn fixture(
    layout: LayoutKind,
    name: Option<&str>,
    ref_name: Option<&str>,
    content: &str,
) -> FixtureSpec {
    let layers = vec![LayerSpec {
        files: vec![FileSpec::new("etc/fixture", content)],
        ..Default::default()
    }];
    FixtureSpec {
        name: name.map(String::from),
        ref_name: ref_name.map(String::from),
        ..FixtureSpec::new(layout, layers)
    }
}

/// Every name in the runtime's store.
pub async fn names(rt: &dyn harness::runtime::Runtime) -> std::collections::BTreeSet<String> {
    rt.list_images()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.names)
        .collect()
}

/// Asserts that nothing under `tmp` survives: no processes mention it, nothing is mounted
/// below it, and it holds no instance root.
pub fn assert_clean(tmp: &Path) {
    // A process killed by teardown a moment ago (a `mount` a signal caught mid-start) may take
    // a moment to be gone; one still there after two seconds was left behind.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !processes_mentioning(tmp).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let procs = processes_mentioning(tmp);
    assert!(procs.is_empty(), "processes left running: {procs:#?}");
    let mounts = harness::runtime::teardown::mounts_under(tmp).unwrap();
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// `harness run --snapshots ignore` in `project`, with `tmp` as its TMPDIR and no colour.
pub fn harness_cmd(project: &Path, tmp: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.current_dir(project)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .args(["run", "--snapshots", "ignore"])
        .stdin(std::process::Stdio::null());
    cmd
}

/// Waits until an instance root under `tmp` holds `socket` and `ready()` holds; `false` when
/// `child` exits first or `timeout` passes.
pub fn wait_for_instance(
    child: &mut std::process::Child,
    tmp: &Path,
    socket: &str,
    timeout: std::time::Duration,
    ready: impl Fn() -> bool,
) -> bool {
    let started = std::time::Instant::now();
    loop {
        let serving = std::fs::read_dir(tmp).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("harness-")
                && e.path().join(socket).exists()
        });
        if serving && ready() {
            return true;
        }
        if started.elapsed() > timeout || child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends `signal` to a `harness run` child and asserts it exits with 128 + the signal's number,
/// as it does after tearing every instance down.
pub fn interrupt(child: std::process::Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(128 + signal as i32),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SIGKILLs `child`, so no teardown runs, then waits (40 s at most) until no process mentions
/// `tmp`, and checks that no mount is left under it. Returns how long the processes took to go.
pub fn kill_and_wait_until_nothing_runs(
    mut child: std::process::Child,
    tmp: &Path,
) -> std::time::Duration {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed, not finished: {status}");
    let killed = std::time::Instant::now();
    while !processes_mentioning(tmp).is_empty() {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(40),
            "processes outlived the harness: {:#?}",
            processes_mentioning(tmp)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        harness::runtime::teardown::mounts_under(tmp)
            .unwrap()
            .is_empty()
    );
    killed.elapsed()
}

/// After a killed run: its instance root `root` is still there, and the next run of `project`
/// (TMPDIR `tmp`) sweeps it, succeeds, and leaves `tmp` clean. Returns that run's stderr.
pub fn the_next_run_sweeps(project: &Path, tmp: &Path, root: &Path) -> String {
    assert!(
        root.exists(),
        "the killed run's root is left for the next run to sweep"
    );
    let out = harness_cmd(project, tmp).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("removed stale instance root"), "{stderr}");
    assert_clean(tmp);
    stderr
}

/// Processes whose command line mentions `needle` (other than this test process).
pub fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.display().to_string();
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) {
                out.push(format!("{name}: {cmd}"));
            }
        }
    }
    out
}

/// A host cell of `runtime` on `store` (`<runtime>-host-<store>`), as the matrix would give it.
pub fn host_cell(runtime: harness::runtime::RuntimeKind, store: &str) -> harness::config::Cell {
    harness::config::Cell {
        id: format!("{runtime}-host-{store}"),
        runtime,
        version: "host".into(),
        store: store.into(),
        builder: None,
        api: None,
        extra: Default::default(),
    }
}

/// Runs `scenario` on `cell` as `harness run --snapshots ignore` would (its fixtures crafted
/// first), on a runtime of its own.
pub fn run_scenario_on(
    scenario: &harness::config::Scenario,
    cell: &harness::config::Cell,
) -> harness::results::CellResult {
    use harness::run;
    let fixtures = harness::steps::fixtures::Fixtures::craft(scenario).unwrap();
    let opts = run::RunOptions {
        snapshots: run::snapshot::SnapshotMode::Ignore,
        snapshot_dir: std::env::temp_dir(),
        jobs: 1,
        ci: run::in_ci(),
        step_timeout: run::DEFAULT_STEP_TIMEOUT,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run::run_cell(scenario, &fixtures, cell, &opts))
}
