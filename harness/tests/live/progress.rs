//! The live progress display on a real run, through the binary on the host's Docker, on a
//! terminal (`script` gives it one): a running cell's line shows the step it is on as the
//! runner reports it (`Event::StepStarted`), the finished cell is printed above the bars as
//! the plain line, and the bars are gone before the results table. The display modes without
//! a daemon are `tests/progress.rs`.

use std::process::{Command, Stdio};

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[live_test!(
    a_running_cell_shows_its_current_step_on_a_terminal,
    &["dockerd", "containerd", "script"]
)];

fn a_running_cell_shows_its_current_step_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("matrix.yaml"),
        "axes: { runtime: [docker], version: [host], store: [vfs] }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    // Enough loads that the display draws while the cell is on one of them.
    let steps: String = (0..40)
        .map(|i| format!("  - id: load-{i}\n    load: img\n"))
        .collect();
    std::fs::write(
        dir.path().join("scenarios/loads.yaml"),
        format!(
            "name: loads\nsummary: loads one archive many times\nfixtures:\n  img:\n    layout: docker-archive\n    \
             name: example.test/loads:1\n    layers:\n      - files: [{{ path: etc/l, content: \"l\\n\" }}]\n\
             steps:\n{steps}"
        ),
    )
    .unwrap();
    let cmd = format!("{} run --snapshots ignore", env!("CARGO_BIN_EXE_harness"));
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("TMPDIR", dir.path().join("tmp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Open until the run ends: script ends its session when its input does.
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let all = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{all:?}");
    let on_step = regex::Regex::new(r"loads::docker-host-vfs load-(\d+)").unwrap();
    let shown: Vec<u32> = on_step
        .captures_iter(&all)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(
        shown.iter().any(|&n| n > 0),
        "the running cell's line follows its steps: {all:?}"
    );
    assert!(
        shown.windows(2).all(|w| w[0] <= w[1]),
        "in order: {shown:?}"
    );
    assert!(all.contains("\r\x1b[2K"), "{all:?}");
    assert!(
        all.contains("[1/1] loads::docker-host-vfs pass ("),
        "{all:?}"
    );
    assert!(all.contains("\r\x1b[2KSCENARIO"), "{all:?}");
    assert!(
        !all.contains("loads::docker-host-vfs starting\r\n"),
        "{all:?}"
    );
}
