//! `harness run --progress` through the binary, on scenarios that need no runtime (each one's
//! `applies_to` excludes the matrix's only cell, so every cell is a `skip` decided before
//! anything starts): on a terminal (`script` gives it one) the live display draws with cursor
//! controls and colour, `NO_COLOR` takes the colour away, and CI or `TERM=dumb` make it plain;
//! without a terminal the lines are exactly the plain ones, with no escape code at all. The run
//! of a real cell under the live display is a live test (`tests/live/progress.rs`).

mod common;

use common::text;
use std::process::{Command, Stdio};

/// A project: one Docker cell, and `n` scenarios that apply only to Podman.
fn project(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("matrix.yaml"),
        "axes: { runtime: [docker], version: [host], store: [vfs] }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    // Its own TMPDIR: a run sweeps the stale instance roots of its TMPDIR, and says so.
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.path().join(format!("scenarios/s{i}.yaml")),
            format!(
                "name: s{i}\nsummary: applies to Podman only\napplies_to: {{ runtime: podman }}\n\
                 fixtures:\n  img:\n    layout: docker-archive\n    name: example.test/s{i}:1\n    \
                 layers:\n      - files: [{{ path: etc/s{i}, content: \"s{i}\\n\" }}]\n\
                 steps:\n  - id: load\n    load: img\n"
            ),
        )
        .unwrap();
    }
    dir
}

/// `harness run ARGS` in `dir`, with `env` set (and CI, NO_COLOR, TERM unset unless given).
fn harness(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.arg("run")
        .args(["--snapshots", "ignore"])
        .args(args)
        .current_dir(dir);
    with_env(&mut c, dir, env);
    c
}

fn with_env(c: &mut Command, dir: &std::path::Path, env: &[(&str, &str)]) {
    c.env_remove("CI")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .env("TMPDIR", dir.join("tmp"));
    for (k, v) in env {
        c.env(k, v);
    }
}

/// `harness run ARGS` on a pseudo-terminal (`script`): everything it wrote there, and its
/// exit code.
fn on_terminal(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let cmd = format!(
        "{} run --snapshots ignore {}",
        env!("CARGO_BIN_EXE_harness"),
        args.join(" ")
    );
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    with_env(&mut c, dir, env);
    let mut child = c.spawn().expect("script (bsdutils) runs");
    // Open until the run ends: script ends its session when its input does.
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        out.status.code().unwrap_or(-1),
    )
}

/// indicatif's line clearing (`\r` + erase line), which only the live display writes.
const CLEAR_LINE: &str = "\r\x1b[2K";

/// Any SGR colour sequence (`ESC [ ... m`).
fn has_colour(s: &str) -> bool {
    regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().is_match(s)
}

#[test]
fn live_progress_draws_on_a_terminal_with_colour() {
    let p = project(2);
    let (all, code) = on_terminal(p.path(), &[], &[]);
    assert_eq!(code, 0, "{all:?}");
    assert!(all.contains(CLEAR_LINE), "no cursor control: {all:?}");
    assert!(all.contains("[0/2]"), "the overall bar: {all:?}");
    // Finished cells are printed above the bars as the plain line, coloured.
    assert!(
        all.contains("[1/2] s0::docker-host-vfs \x1b[90mskip\x1b[0m (")
            || all.contains("[1/2] s1::docker-host-vfs \x1b[90mskip\x1b[0m ("),
        "{all:?}"
    );
    assert!(all.contains("[2/2] s"), "{all:?}");
    // The live display replaces the plain `starting` lines.
    assert!(
        !all.contains("       s0::docker-host-vfs starting"),
        "{all:?}"
    );
    // And it is gone before the results table: the table's header starts on a cleared line.
    assert!(all.contains(&format!("{CLEAR_LINE}SCENARIO")), "{all:?}");
}

#[test]
fn no_color_on_a_terminal_draws_without_colour() {
    let p = project(2);
    let (all, code) = on_terminal(p.path(), &[], &[("NO_COLOR", "1")]);
    assert_eq!(code, 0, "{all:?}");
    assert!(all.contains(CLEAR_LINE), "still live: {all:?}");
    assert!(!has_colour(&all), "NO_COLOR is respected: {all:?}");
    assert!(all.contains("[2/2] s"), "{all:?}");
}

#[test]
fn ci_or_a_dumb_terminal_or_plain_gives_plain_lines_on_a_terminal() {
    let p = project(1);
    for (args, env) in [
        (&[][..], &[("CI", "true")][..]),
        (&[], &[("TERM", "dumb")]),
        (&["--progress", "plain"], &[]),
    ] {
        let (all, code) = on_terminal(p.path(), args, env);
        assert_eq!(code, 0, "{args:?} {env:?}: {all:?}");
        assert!(!all.contains(CLEAR_LINE), "{args:?} {env:?}: {all:?}");
        assert!(
            all.contains("       s0::docker-host-vfs starting\r\n"),
            "{args:?} {env:?}: {all:?}"
        );
        assert!(
            all.contains("[1/1] s0::docker-host-vfs "),
            "{args:?} {env:?}: {all:?}"
        );
    }
}

#[test]
fn without_a_terminal_the_lines_are_plain_and_escape_free() {
    let p = project(2);
    let out = harness(p.path(), &["--jobs", "1"], &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\x1b'), "{}", text(&out));
    let lines: Vec<&str> = stderr.lines().collect();
    // One job: each cell starts and ends before the next starts. Which of the two goes first
    // is the scheduler's (the runner promises results in order, not start order).
    let re = regex::Regex::new(r"^\[(\d)/2\] (s\d)::docker-host-vfs skip \(\d+\.\ds\)$").unwrap();
    let started = regex::Regex::new(r"^       (s\d)::docker-host-vfs starting$").unwrap();
    assert_eq!(lines.len(), 4, "{}", text(&out));
    let mut seen = Vec::new();
    for (pair, n) in lines.chunks(2).zip(["1", "2"]) {
        let cell = &started.captures(pair[0]).expect("a starting line")[1];
        let finished = re.captures(pair[1]).expect("a finished line");
        assert_eq!((&finished[1], &finished[2]), (n, cell), "{}", text(&out));
        seen.push(cell.to_string());
    }
    seen.sort();
    assert_eq!(seen, ["s0", "s1"], "{}", text(&out));
}

#[test]
fn progress_live_draws_without_a_terminal_and_none_prints_nothing() {
    let p = project(1);
    let out = harness(p.path(), &["--progress", "live"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(CLEAR_LINE), "{}", text(&out));
    // No terminal, so no colour, even live.
    assert!(!has_colour(&stderr), "{}", text(&out));
    assert!(
        stderr.contains("[1/1] s0::docker-host-vfs skip ("),
        "{}",
        text(&out)
    );

    let out = harness(p.path(), &["--progress", "none"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{}", text(&out));
    // The results still come.
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 cells: 1 skip"));
}

/// A stand-in for mmdebstrap (`HARNESS_MMDEBSTRAP`): no archive can be reached here, and what
/// is under test is how provisioning measures and shows a build, not what mmdebstrap installs.
/// It writes its phases to its log as mmdebstrap does (`I: ...`), 20 MB of packages into the
/// tree's apt cache over two seconds, then 20 MB of files, removes the packages as
/// mmdebstrap's cleanup does, and leaves an empty dpkg status for `dpkg-query`.
const FAKE_MMDEBSTRAP: &str = r#"#!/bin/sh
for last; do :; done
target="$last"
echo "I: downloading packages with apt..."
mkdir -p "$target/var/cache/apt/archives" "$target/var/lib/dpkg" "$target/usr/bin"
for i in 1 2 3 4; do
  head -c 5000000 /dev/zero > "$target/var/cache/apt/archives/p$i.deb"; sleep 0.5
done
echo "I: extracting archives..."
for i in 1 2 3 4; do head -c 5000000 /dev/zero > "$target/usr/bin/f$i"; sleep 0.3; done
rm -f "$target"/var/cache/apt/archives/*.deb
: > "$target/var/lib/dpkg/status"
echo "I: success"
"#;

/// A project whose one cell needs the Debian suite `fakesuite`, built by the stand-in into
/// its own cache.
fn provision_project() -> (tempfile::TempDir, Vec<(&'static str, String)>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("matrix.yaml"),
        "axes: { runtime: [docker], version: [\"26.1\"], store: [overlay2], provider: [debian], suite: [fakesuite] }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let fake = dir.path().join("mmdebstrap");
    std::fs::write(&fake, FAKE_MMDEBSTRAP).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = vec![
        ("HARNESS_MMDEBSTRAP", fake.display().to_string()),
        (
            "XDG_CACHE_HOME",
            dir.path().join("cache").display().to_string(),
        ),
    ];
    (dir, env)
}

#[test]
fn provisioning_shows_each_suite_and_the_bytes_its_build_writes() {
    // Plain: a line when the suite starts, one when it is built with its size, time and rate.
    let (p, env) = provision_project();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.arg("provision").current_dir(p.path());
    with_env(&mut c, p.path(), &env);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\x1b'), "{}", text(&out));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("[suite 1/1] fakesuite: building with mmdebstrap (a minute or two) ..."),
        "{}",
        text(&out)
    );
    // 20,000,000 bytes of files, the recipe and the log: the packages are gone by the end.
    let built = regex::Regex::new(
        r"^\[suite 1/1\] fakesuite: built, 19\.07 MiB in \d+\.\ds \(\d+\.\d\d [KM]iB/s\)$",
    )
    .unwrap();
    assert!(
        lines.len() == 2 && built.is_match(lines[1]),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(", 19.07 MiB)\n"),
        "{}",
        text(&out)
    );

    // Live, on a terminal: the bytes the build holds so far, with mmdebstrap's phase.
    let (p, env) = provision_project();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cmd = format!("{} provision", env!("CARGO_BIN_EXE_harness"));
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(p.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    with_env(&mut c, p.path(), &env);
    let mut child = c.spawn().unwrap();
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let all = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{all:?}");
    assert!(all.contains(CLEAR_LINE), "{all:?}");
    let measured = regex::Regex::new(
        r"\[suite 1/1\] fakesuite: (\d+(\.\d+)?) MiB \([^)]*\), \d+s: downloading packages",
    )
    .unwrap();
    let sizes: Vec<f64> = measured
        .captures_iter(&all)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(
        sizes.iter().any(|&mib| mib >= 4.0),
        "the packages being downloaded are counted: {all:?}"
    );
    assert!(
        regex::Regex::new(r"fakesuite: [^:]*: extracting archives")
            .unwrap()
            .is_match(&all),
        "the phase follows the log: {all:?}"
    );
    assert!(
        all.contains("[suite 1/1] fakesuite: built, 19.07 MiB in "),
        "{all:?}"
    );
}

/// A run whose cell needs a suite the cache lacks builds it, with provisioning's lines, before
/// the first cell starts; a run whose scenarios apply to none of its cells builds nothing.
#[test]
fn a_run_builds_a_missing_root_filesystem_before_its_first_cell() {
    let scenario = |applies: &str| {
        format!(
            "name: one\nsummary: one load\n{applies}fixtures:\n  img:\n    layout: docker-archive\n    \
             name: example.test/one:1\n    layers:\n      - files: [{{ path: etc/one, content: \"one\\n\" }}]\n\
             steps:\n  - id: load\n    load: img\n"
        )
    };
    let (p, env) = provision_project();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    std::fs::create_dir(p.path().join("scenarios")).unwrap();
    std::fs::write(
        p.path().join("scenarios/one.yaml"),
        scenario("applies_to: { runtime: podman }\n"),
    )
    .unwrap();
    let out = harness(p.path(), &[], &env).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("[suite"),
        "{}",
        text(&out)
    );
    assert!(!p.path().join("cache/harness/rootfs").exists());

    std::fs::write(p.path().join("scenarios/one.yaml"), scenario("")).unwrap();
    let out = harness(p.path(), &[], &env).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 4, "{}", text(&out));
    assert_eq!(
        lines[0],
        "[suite 1/1] fakesuite: building with mmdebstrap (a minute or two) ...",
        "{}",
        text(&out)
    );
    assert!(
        lines[1].starts_with("[suite 1/1] fakesuite: built, 19.07 MiB in "),
        "{}",
        text(&out)
    );
    assert_eq!(
        lines[2],
        "       one::docker-26.1-overlay2-debian starting",
        "{}",
        text(&out)
    );
    // The stand-in's tree has no daemons: the cell says so, and the build (over 2.5 s) is
    // not in its time.
    assert!(
        regex::Regex::new(r"^\[1/1\] one::docker-26.1-overlay2-debian skip \([01]\.\ds\)$")
            .unwrap()
            .is_match(lines[3]),
        "{}",
        text(&out)
    );
}
