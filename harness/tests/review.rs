//! Snapshot review and unreferenced snapshots, through the binary: `harness review`, `harness
//! run --review` refused under CI and without a terminal. Their end-to-end runs on the host's
//! Docker are live tests (`tests/live/review.rs`).

mod common;

use common::text;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn harness() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.env_remove("CI").env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

fn snap(body: &str) -> String {
    format!("---\nsource: harness/src/run/snapshot.rs\ninfo:\n  version: x\n---\n{body}\n")
}

#[test]
fn review_lists_accepts_and_rejects_pending_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a__c.snap"), snap("a: 1")).unwrap();
    std::fs::write(d.join("a__c.snap.new"), snap("a: 2")).unwrap();
    std::fs::write(d.join("b__c.snap.new"), snap("b: 1")).unwrap();

    // Listing: the diffs, exit 1 while anything is pending.
    let out = harness().arg("review").arg(d).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-a: 1\n+a: 2\n"), "{}", text(&out));
    assert!(stdout.contains("+b: 1\n"), "{}", text(&out));
    assert!(!stdout.contains('\x1b'), "NO_COLOR is respected");

    let out = harness()
        .args(["review", "--accept"])
        .arg(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(d.join("a__c.snap")).unwrap(),
        snap("a: 2")
    );
    assert!(d.join("b__c.snap").exists() && !d.join("b__c.snap.new").exists());

    std::fs::write(d.join("a__c.snap.new"), snap("a: 3")).unwrap();
    let out = harness()
        .args(["review", "--reject"])
        .arg(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!d.join("a__c.snap.new").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("a__c.snap")).unwrap(),
        snap("a: 2")
    );

    // Nothing pending: 0.
    let out = harness().arg("review").arg(d).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = harness()
        .args(["review", "--accept", "--reject"])
        .arg(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
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

#[test]
fn run_review_is_refused_under_ci_and_without_a_terminal_before_anything_runs() {
    let p = Project::new(&["one"]);
    let started = std::time::Instant::now();
    let out = harness()
        .args(["run", "--review", "--snapshot-dir", "snaps"])
        .env("CI", "true")
        .current_dir(p.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CI never accepts snapshots"),
        "{}",
        text(&out)
    );
    let out = p.run(&["--review"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stdin is not one"),
        "{}",
        text(&out)
    );
    // Refused before any cell started: nothing ran, nothing was written.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("starting"));
    assert!(std::fs::read_dir(p.path("snaps")).unwrap().next().is_none());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
