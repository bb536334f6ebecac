//! `harness report merge` on shards that really ran apart: `podman3` on two host cells in one
//! run, and each cell in a run of its own (a shard, as a CI matrix job runs it); merging the
//! two shards' documents gives the unsharded run's report. Runs are timed, so durations are
//! the one thing two runs cannot share: they are set to zero before comparing (the README's
//! "Merging shards"); the Markdown summary and the HTML page hold none and are compared as
//! written. The whole run also writes its reports itself (`run --report DIR`), which must be
//! what `report render` writes from its `--json` file. The test on one run's results split in
//! two is `report::merge::tests`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use harness::report::ReportFormat;
use harness::results::ResultsDoc;

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[live_test!(
    merged_shards_of_separate_runs_give_the_unsharded_report,
    &["dockerd", "containerd", "podman"]
)];

const CELLS: [&str; 2] = ["docker-host-vfs", "podman-host-overlay"];

fn harness(tmp: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .env("TMPDIR", tmp)
        .stdin(Stdio::null());
    c
}

fn ok(out: Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(tmp: &Path, cells: &[&str], json: &Path, report: Option<&Path>) {
    let mut c = harness(tmp);
    c.args([
        "run",
        "scenarios/podman3.yaml",
        "--snapshots",
        "ignore",
        "--json",
    ])
    .arg(json);
    if let Some(dir) = report {
        c.arg("--report").arg(dir);
    }
    for cell in cells {
        c.args(["--cell", cell]);
    }
    ok(c.output().unwrap());
}

fn without_durations(mut doc: ResultsDoc) -> ResultsDoc {
    for r in &mut doc.results {
        r.duration_ms = 0;
        r.step_durations_ms.iter_mut().for_each(|d| *d = 0);
    }
    doc
}

fn read(path: &Path) -> ResultsDoc {
    ResultsDoc::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn merged_shards_of_separate_runs_give_the_unsharded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let at = |name: &str| work.path().join(name);
    run(
        tmp.path(),
        &CELLS,
        &at("full.json"),
        Some(&at("run-report")),
    );
    run(tmp.path(), &CELLS[..1], &at("shard-1.json"), None);
    run(tmp.path(), &CELLS[1..], &at("shard-2.json"), None);
    ok(harness(tmp.path())
        .args(["report", "merge"])
        .args([at("shard-2.json"), at("shard-1.json")])
        .arg("--out")
        .arg(at("merged"))
        .output()
        .unwrap());
    ok(harness(tmp.path())
        .args(["report", "render"])
        .arg(at("full.json"))
        .arg("--out")
        .arg(at("unsharded"))
        .args(["--format", "junit,markdown,html,json"])
        .output()
        .unwrap());
    // `run --report DIR` writes what `report render` writes from the run's --json file.
    for format in ReportFormat::ALL {
        let name = format.file_name();
        let by_run = std::fs::read_to_string(at("run-report").join(name)).unwrap();
        let rendered = std::fs::read_to_string(at("unsharded").join(name)).unwrap();
        assert_eq!(by_run, rendered, "run --report: {name}");
    }
    let mut unsharded = read(&at("unsharded/results.json"));
    harness::report::merge::canonical_order(&mut unsharded);
    let merged = read(&at("merged/results.json"));
    assert_eq!(merged.results.len(), CELLS.len());
    assert!(merged.results.iter().all(|r| r.status.word() == "pass"));
    let (merged, unsharded) = (without_durations(merged), without_durations(unsharded));
    assert_eq!(merged, unsharded);
    for format in ReportFormat::ALL {
        assert_eq!(
            format.render(&merged),
            format.render(&unsharded),
            "{}",
            format.file_name()
        );
    }
    // The Markdown has no durations, so it is the same file as written (the HTML report shows
    // each cell's duration: compared above with durations zeroed).
    let m = std::fs::read_to_string(at("merged").join("summary.md")).unwrap();
    let u = std::fs::read_to_string(at("unsharded").join("summary.md")).unwrap();
    assert_eq!(m, u, "summary.md");
    crate::assert_clean(tmp.path());
}
