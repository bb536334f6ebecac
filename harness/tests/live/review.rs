//! `harness run --review` and `harness run --unreferenced` end to end, through the binary, on
//! the host's Docker: a run writes `.snap.new` for a new snapshot, `--review` on a terminal
//! (`script` gives it one) accepts it and the next run passes against it; `--unreferenced`
//! judges the whole matrix x every scenario whatever `--cell` selects, only when every scenario
//! of the directory loaded. The non-daemon half is `tests/review.rs`.

use crate::common::text;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        run_review_on_a_terminal_accepts_what_the_run_wrote,
        &["dockerd", "containerd", "script"]
    ),
    live_test!(
        unreferenced_snapshots_are_warned_about_rejected_or_deleted,
        &["dockerd", "containerd"]
    ),
];

fn harness() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.env_remove("CI").env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

fn snap(body: &str) -> String {
    format!("---\nsource: harness/src/run/snapshot.rs\ninfo:\n  version: x\n---\n{body}\n")
}

/// A project directory: a one-cell matrix on the host's Docker, scenarios, a snapshot dir.
struct Project {
    dir: tempfile::TempDir,
}

const MATRIX: &str = "axes: { runtime: [docker], version: [host], store: [vfs] }\n";

fn scenario(name: &str) -> String {
    format!(
        "name: {name}\nsummary: load one small image\nfixtures:\n  img:\n    layout: docker-archive\n    name: example.test/{name}:1\n    layers:\n      - files: [{{ path: etc/{name}, content: \"{name}\\n\" }}]\nsteps:\n  - id: load\n    load: img\n    expect:\n      - outcome: loaded\n"
    )
}

impl Project {
    fn new(scenarios: &[&str]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("matrix.yaml"), MATRIX).unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        std::fs::create_dir(dir.path().join("snaps")).unwrap();
        for s in scenarios {
            std::fs::write(dir.path().join(format!("scenarios/{s}.yaml")), scenario(s)).unwrap();
        }
        Project { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, extra: &[&str]) -> Output {
        harness()
            .args(["run", "--snapshot-dir", "snaps"])
            .args(extra)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
}

/// End to end on the host's Docker: a run writes `.snap.new` for a new snapshot, `--review`
/// on a terminal (`script` gives it one) accepts it, and the next run passes against it.
fn run_review_on_a_terminal_accepts_what_the_run_wrote() {
    let p = Project::new(&["one"]);
    let cmd = format!(
        "{} run --review --snapshot-dir snaps --format json",
        env!("CARGO_BIN_EXE_harness")
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(p.dir.path())
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"a\n").unwrap();
        // Keep stdin open until the run has asked: script ends its session on EOF.
        std::thread::sleep(std::time::Duration::from_secs(1));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
        while !p.path("snaps/one__docker-host-vfs.snap").exists()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert!(all.contains("[a]ccept, [r]eject, [s]kip?"), "{all}");
    assert!(all.contains("+scenario: one"), "{all}");
    assert!(all.contains("1 accepted, 0 rejected, 0 skipped"), "{all}");
    // The run itself failed (its snapshot was missing) and says so in its exit code.
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(p.path("snaps/one__docker-host-vfs.snap").exists(), "{all}");
    assert!(
        !p.path("snaps/one__docker-host-vfs.snap.new").exists(),
        "{all}"
    );
    // The accepted snapshot is what the next run compares with, and it passes.
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// End to end on the host's Docker: `--unreferenced` looks at the whole matrix x every
/// scenario, whatever `--cell` selects, and only when every scenario of the directory loaded.
fn unreferenced_snapshots_are_warned_about_rejected_or_deleted() {
    let p = Project::new(&["one", "two"]);
    // Stored snapshots of both scenarios on the matrix's cell, of a cell the matrix no longer
    // has, and of a scenario that is gone.
    let out = p.run(&["--snapshots", "update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(p.path("snaps/one__docker-host-vfs.snap").exists());
    assert!(p.path("snaps/two__docker-host-vfs.snap").exists());
    for stale in ["gone__docker-host-vfs.snap", "one__podman-host-vfs.snap"] {
        std::fs::write(p.path(&format!("snaps/{stale}")), snap("x: 1")).unwrap();
    }
    std::fs::write(
        p.path("snaps/one__docker-host-vfs.snap.new"),
        snap("pending"),
    )
    .unwrap();

    // Default: ignored.
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unreferenced"));

    // Only one scenario given: the other's snapshots are not judged.
    let out = p.run(&["--unreferenced", "reject", "scenarios/one.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unreferenced snapshots not checked"),
        "{}",
        text(&out)
    );

    // reject: listed, exit 1, nothing removed.
    let out = p.run(&["--unreferenced", "reject"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unreferenced snapshot snaps/gone__docker-host-vfs.snap"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unreferenced snapshot snaps/one__podman-host-vfs.snap"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("snaps/one__docker-host-vfs.snap "),
        "{stderr}"
    );
    assert!(!stderr.contains("two__docker-host-vfs"), "{stderr}");
    assert!(p.path("snaps/gone__docker-host-vfs.snap").exists());

    // warn: listed, the run's own exit code.
    let out = p.run(&["--unreferenced", "warn", "--cell", "docker-*"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gone__docker-host-vfs.snap"));

    // delete: removed; the referenced ones stay.
    let out = p.run(&["--unreferenced", "delete"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!p.path("snaps/gone__docker-host-vfs.snap").exists());
    assert!(!p.path("snaps/one__podman-host-vfs.snap").exists());
    assert!(p.path("snaps/one__docker-host-vfs.snap").exists());
    assert!(p.path("snaps/two__docker-host-vfs.snap").exists());
}
