//! `harness validate` on a corpus of bad inputs, through the binary: every file is refused with
//! exit 2 and a `file:line:column: field: message` line, and nothing panics, whatever the input.
//!
//! The corpus is `tests/validate-corpus/` (one file per way of being wrong, named after it),
//! plus what is generated here rather than committed: a file that is not UTF-8, a 10 MB file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate-corpus")
}

fn harness(args: &[&std::ffi::OsStr], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .output()
        .expect("the harness binary runs")
}

const GOOD_MATRIX: &str = "axes: { runtime: [docker], version: [host], store: [vfs] }\n";

/// Checks one output: exit 2, no panic, and exactly one line for `file` that starts with
/// `file:line:column: field: ` (no field: `file:line:column: `) and contains `message`.
fn assert_refused(out: &Output, file: &Path, at: (u32, u32), field: Option<&str>, message: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        file.display()
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "{text}"
        );
    }
    let prefix = match field {
        Some(f) => format!("{}:{}:{}: {f}: ", file.display(), at.0, at.1),
        None => format!("{}:{}:{}: ", file.display(), at.0, at.1),
    };
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with(&format!("{}:", file.display())))
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let line = lines[0];
    assert!(
        line.starts_with(&prefix),
        "expected {prefix:?}..., got {line:?}"
    );
    if field.is_none() {
        // No field: the message follows the position directly.
        let rest = &line[prefix.len()..];
        assert!(!rest.contains(": ") || rest.contains(message), "{line}");
    }
    assert!(line.contains(message), "expected {message:?} in {line:?}");
}

/// (file, line, column, field, a part of the message)
const SCENARIOS: &[(&str, u32, u32, Option<&str>, &str)] = &[
    ("empty.yaml", 1, 1, None, "unexpected end of file"),
    ("only-comment.yaml", 2, 1, None, "unexpected end of file"),
    ("tabs.yaml", 4, 9, Some("steps[0]"), "found a tab"),
    (
        "duplicate-key.yaml",
        3,
        1,
        Some("summary"),
        "duplicate mapping key `summary`",
    ),
    (
        "unknown-field.yaml",
        3,
        1,
        Some("tags"),
        "unknown field `tags`",
    ),
    (
        "wrong-type.yaml",
        3,
        8,
        Some("links"),
        "expected sequence start",
    ),
    (
        "unknown-step-key.yaml",
        10,
        5,
        Some("steps[0].lod"),
        "unknown field `lod`, expected one of id, load,",
    ),
    (
        "two-actions.yaml",
        9,
        5,
        Some("steps[0]"),
        "step has more than one action (load, remove)",
    ),
    (
        "claim-of-another-kind.yaml",
        12,
        9,
        Some("steps[0].expect[0].found"),
        "\"found\" is not a claim of a load step",
    ),
    (
        "unknown-runtime.yaml",
        12,
        26,
        Some("steps[0].expect[0].when.runtime"),
        "unknown variant `dockr`",
    ),
    (
        "unknown-builder.yaml",
        12,
        26,
        Some("steps[0].expect[0].when.builder"),
        "unknown builder \"biuldkit\"",
    ),
    (
        "unknown-store.yaml",
        12,
        45,
        Some("steps[0].expect[0].when.store"),
        "unknown store \"overlay2\" for containerd",
    ),
    (
        "unknown-fixture.yaml",
        10,
        11,
        Some("steps[0].load"),
        "unknown fixture \"imgg\" (known: img)",
    ),
    (
        "bad-version-range.yaml",
        12,
        26,
        Some("steps[0].expect[0].when.version"),
        "invalid version constraint \">=four\"",
    ),
    (
        "bad-fixture.yaml",
        5,
        13,
        Some("fixtures.img.layout"),
        "unknown variant `oci`",
    ),
    (
        "name-mismatch.yaml",
        1,
        7,
        Some("name"),
        "does not match the file stem \"name-mismatch\"",
    ),
    (
        "deep-nesting.yaml",
        5,
        // Where the parser's recursion limit is reached, inside the nesting.
        266,
        Some("steps[0]"),
        "recursion limit exceeded",
    ),
    // Reading the documents' names expands the aliases first, up to the parser's node budget.
    (
        "alias-bomb.yaml",
        8,
        16,
        Some("e[8][8][8][8]"),
        "too large or too complex",
    ),
    (
        "alias-bomb-in-value.yaml",
        12,
        28,
        Some("steps[0].expect[4].names[8][8][8][8]"),
        "too large or too complex",
    ),
];

/// (file, line, column, field, a part of the message), each passed with `--matrix`.
const MATRICES: &[(&str, u32, u32, Option<&str>, &str)] = &[
    (
        "matrix-unknown-runtime.yaml",
        2,
        21,
        Some("axes.runtime[1]"),
        "unknown runtime \"dockr\"",
    ),
    (
        "matrix-unknown-store.yaml",
        4,
        11,
        Some("axes.store[0]"),
        "unknown store \"overlay2\" for podman",
    ),
    (
        "matrix-unknown-key.yaml",
        5,
        1,
        Some("cells"),
        "unknown field `cells`, expected one of axes, exclude, include",
    ),
    (
        "matrix-missing-version.yaml",
        2,
        5,
        Some("include[0]"),
        "cell has no \"version\" value",
    ),
    (
        "matrix-empty.yaml",
        1,
        1,
        None,
        "the matrix expands to no cells",
    ),
];

#[test]
fn every_bad_scenario_is_refused_with_its_position_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("matrix.yaml"), GOOD_MATRIX).unwrap();
    for (name, line, column, field, message) in SCENARIOS {
        let file = corpus().join(name);
        let out = harness(&["validate".as_ref(), file.as_os_str()], dir.path());
        assert_refused(&out, &file, (*line, *column), *field, message);
    }
}

#[test]
fn every_bad_matrix_is_refused_with_its_position_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (name, line, column, field, message) in MATRICES {
        let file = corpus().join(name);
        let out = harness(
            &["validate".as_ref(), "--matrix".as_ref(), file.as_os_str()],
            dir.path(),
        );
        assert_refused(&out, &file, (*line, *column), *field, message);
    }
}

#[test]
fn the_whole_corpus_at_once_reports_every_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("matrix.yaml"), GOOD_MATRIX).unwrap();
    let out = harness(
        &[
            "validate".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            corpus().as_os_str(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let problems: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("a JSON list");
    // Every scenario once; the matrix-* files are scenarios here (their names are not
    // matrix.yaml), refused as such.
    let files: Vec<String> = problems
        .iter()
        .map(|p| {
            Path::new(p["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut expected: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    assert_eq!(files, expected);
    for p in &problems {
        assert!(p["line"].as_u64().unwrap() >= 1, "{p}");
        assert!(p["column"].as_u64().unwrap() >= 1, "{p}");
        assert!(p["field"].is_string() || p["field"].is_null(), "{p}");
        assert!(!p["message"].as_str().unwrap().is_empty(), "{p}");
    }
    let unknown_fixture = problems
        .iter()
        .find(|p| {
            p["file"]
                .as_str()
                .unwrap()
                .ends_with("unknown-fixture.yaml")
        })
        .unwrap();
    assert_eq!(unknown_fixture["line"], 10);
    assert_eq!(unknown_fixture["column"], 11);
    assert_eq!(unknown_fixture["field"], "steps[0].load");
    assert_eq!(
        unknown_fixture["message"],
        "unknown fixture \"imgg\" (known: img)"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-utf8.yaml");
    std::fs::write(&file, b"name: not-utf8\nsummary: caf\xe9\nsteps: []\n").unwrap();
    let out = harness(&["validate".as_ref(), file.as_os_str()], dir.path());
    assert_refused(&out, &file, (2, 13), Some("summary"), "not UTF-8");
}

#[test]
fn a_10_mb_file_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    std::fs::write(&file, line.repeat(10 * 1024 * 1024 / line.len())).unwrap();
    let started = std::time::Instant::now();
    let out = harness(&["validate".as_ref(), file.as_os_str()], dir.path());
    // 1 MiB is where reading stops: that line and column.
    let at = (
        1024 * 1024 / line.len() as u32 + 1,
        1024 * 1024 % line.len() as u32 + 1,
    );
    assert_refused(&out, &file, at, None, "larger than 1048576 bytes");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_directory_and_a_fifo_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = harness(&["validate".as_ref(), fifo.as_os_str()], dir.path());
    assert_refused(&out, &fifo, (1, 1), None, "not a regular file");
    let missing = dir.path().join("missing.yaml");
    let out = harness(&["validate".as_ref(), missing.as_os_str()], dir.path());
    assert_refused(&out, &missing, (1, 1), None, "cannot read file");
}

#[test]
fn the_repositorys_own_files_are_valid() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = harness(&["validate".as_ref()], &repo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("files checked, 0 invalid"), "{stderr}");
    let out = harness(
        &["validate".as_ref(), "--format".as_ref(), "json".as_ref()],
        &repo,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn schema_prints_each_schema_and_refuses_an_unknown_kind() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["matrix", "scenario"] {
        let out = harness(&["schema".as_ref(), kind.as_ref()], dir.path());
        assert_eq!(out.status.code(), Some(0));
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
    let out = harness(&["schema".as_ref(), "matrixx".as_ref()], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_matrix_alone_is_checked_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cells.yaml"), GOOD_MATRIX).unwrap();
    let out = harness(
        &[
            "validate".as_ref(),
            "--matrix".as_ref(),
            "cells.yaml".as_ref(),
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 files checked, 0 invalid"), "{stderr}");
    // With no matrix.yaml and no argument, the missing matrix.yaml is the problem.
    let out = harness(&["validate".as_ref()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("matrix.yaml:1:1: cannot read file"));
}
