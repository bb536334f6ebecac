//! The live progress display on a real run, through the binary on the host's Docker, on a
//! terminal (`script` gives it one): a running cell's line shows the step it is on as the
//! runner reports it (`Event::StepStarted`), the finished cell is printed above the bars as
//! the plain line, and the bars are gone before the results table; Ctrl-C clears them before
//! the signal handler's first word (`teardown::on_signal_caught`). The display modes without
//! a daemon are `tests/progress.rs`.

use std::process::{Command, Stdio};

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        a_running_cell_shows_its_current_step_on_a_terminal,
        &["dockerd", "containerd", "script"]
    ),
    live_test!(
        ctrl_c_clears_the_live_display_before_the_interrupted_message,
        &["dockerd", "containerd", "script"]
    ),
];

/// A project of one Docker cell and one scenario of `loads` loads of one small archive.
fn project(loads: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("matrix.yaml"),
        "axes: { runtime: [docker], version: [host], store: [vfs] }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let steps: String = (0..loads)
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
    dir
}

/// `script` running `harness run --snapshots ignore` in `dir` on a pseudo-terminal (the
/// harness exec'd, so it is script's child), with its output piped.
fn on_terminal(dir: &std::path::Path) -> std::process::Child {
    let cmd = format!(
        "exec {} run --snapshots ignore",
        env!("CARGO_BIN_EXE_harness")
    );
    Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(dir)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("TMPDIR", dir.join("tmp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn a_running_cell_shows_its_current_step_on_a_terminal() {
    // Enough loads that the display draws while the cell is on one of them.
    let dir = project(40);
    let mut child = on_terminal(dir.path());
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

/// Ctrl-C in the middle of a live run: the bars are cleared before the signal handler says
/// anything, nothing is drawn after, and the run exits 130 having torn its daemon down.
fn ctrl_c_clears_the_live_display_before_the_interrupted_message() {
    use std::io::Read;
    let dir = project(400);
    let mut child = on_terminal(dir.path());
    let stdin = child.stdin.take();
    let mut stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("loads::docker-host-vfs load-3")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no step drawn: {:?}",
            String::from_utf8_lossy(&seen.lock().unwrap())
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The harness is script's only child (exec'd by its shell).
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
    let harness: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(harness),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let all = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert_eq!(status.code(), Some(130), "{all:?}");
    let at = all
        .find("harness: caught signal 2")
        .unwrap_or_else(|| panic!("no signal message: {all:?}"));
    assert!(
        all[..at].ends_with("\r\x1b[2K"),
        "the message starts on a cleared line: {:?}",
        &all[at.saturating_sub(200)..]
    );
    let after = &all[at..];
    assert!(
        !after.contains('\x1b'),
        "nothing drawn after the signal: {after:?}"
    );
    assert!(
        after.contains("harness: interrupted after 0 of 1 results"),
        "{after:?}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "instance roots left: {left:?}");
}
