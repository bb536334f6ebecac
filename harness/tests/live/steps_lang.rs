//! The scenario language's `repeat:`, `timeout:` and `applies_to:` keys through the runner,
//! against the host's real daemons: a repeated load counts each distinct outcome (a refused
//! archive is refused the same way three times: one outcome of three trials; an accepted one
//! loads once and then changes nothing twice: two outcomes), a step's own `timeout: 1s` on a
//! load that takes longer is the cell's `error` naming the step, a step's `applies_to` runs it
//! on one runtime and records it as skipped on the other, and a scenario's `applies_to` makes
//! a cell `skip` without starting a daemon (or, for a version range on a `host` cell, after the
//! daemon reported its version).

use std::path::Path;
use std::time::{Duration, Instant};

use harness::config::{Cell, RuntimeKind, Scenario, parse_scenario};
use harness::craft::{FileSpec, LayerSpec};
use harness::results::ResultsDoc;
use harness::run::{self, CellResult, ErrorKind, Fixtures, RunOptions, SnapshotMode, Status};
use harness::steps::Observation;

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_repeat_counts_outcomes_and_applies_to_skips_the_podman_step,
        &["dockerd", "containerd"]
    ),
    live_test!(
        podman_repeat_counts_outcomes_and_applies_to_runs_the_podman_step,
        &["podman"]
    ),
    live_test!(
        a_step_timeout_of_1s_on_a_slower_load_is_an_error_naming_the_step,
        &["podman"]
    ),
    // Needs no binary: nothing starts.
    live_test!(
        a_scenario_for_podman_skips_a_docker_cell_without_starting_dockerd,
        &[]
    ),
    live_test!(
        a_scenario_version_range_is_decided_on_the_version_dockerd_reports,
        &["dockerd", "containerd"]
    ),
];

const SCENARIO: &str = r#"name: steps-lang
summary: repeat, timeout and applies_to against a real daemon
fixtures:
  good:
    layout: docker-archive
    name: a.test/steps-lang:1
    layers: [{ files: [{ path: etc/steps-lang, content: "good\n" }] }]
  broken:
    layout: docker-archive
    name: a.test/steps-lang-broken:1
    layers: [{ files: [{ path: etc/steps-lang, content: "broken\n" }] }]
    defects: [blob-missing: config]
steps:
  - id: load-broken
    load: broken
    repeat: 3
    expect:
      - outcome: error
  - id: load-good
    load: good
    repeat: 3
    expect:
      - outcome: loaded
      # Only the first trial adds the image; the next two find it there.
      - { names: [a.test/steps-lang:1], trials: any }
  - id: inspect-on-podman
    inspect: a.test/steps-lang:1
    applies_to: { runtime: podman }
    expect:
      - outcome: found
  - id: inspect-on-docker
    inspect: a.test/steps-lang:1
    applies_to: [{ runtime: docker, store: overlay2 }, { runtime: docker, store: vfs }]
    expect:
      - outcome: found
"#;

fn cell(runtime: RuntimeKind, store: &str) -> Cell {
    crate::host_cell(runtime, store)
}

fn run_on(scenario: &Scenario, cell: &Cell) -> CellResult {
    crate::run_scenario_on(scenario, cell)
}

fn step<'a>(r: &'a CellResult, id: &str) -> &'a Observation {
    r.steps
        .iter()
        .find(|s| s.id() == id)
        .unwrap_or_else(|| panic!("no step {id}: {:?}", r.steps))
}

/// The `repeat` and step `applies_to` checks, the same on every runtime except which inspect
/// step runs.
fn repeat_and_applies_to(runtime: RuntimeKind, runs: &str, skipped: &str) {
    let scenario = parse_scenario(SCENARIO, Path::new("steps-lang.yaml")).unwrap();
    let r = run_on(&scenario, &cell(runtime, "vfs"));
    assert_eq!(
        r.status,
        Status::Pass,
        "{}\n{}",
        r.snapshot_body,
        harness::report::details(std::slice::from_ref(&r))
    );

    // Refused three times the same way (after redaction): one outcome, three trials.
    let Observation::Repeated(broken) = step(&r, "load-broken") else {
        panic!("{:?}", step(&r, "load-broken"))
    };
    assert_eq!(broken.repeat, 3);
    assert_eq!(broken.outcomes.len(), 1, "{broken:#?}");
    assert_eq!(broken.outcomes[0].count, 3);
    let Observation::Load(refused) = &broken.outcomes[0].observation else {
        panic!("{broken:?}")
    };
    assert_eq!(refused.outcome, harness::config::Outcome::Error);

    // Loaded once, then twice a load that changes nothing: two outcomes, 1 + 2 trials.
    let Observation::Repeated(good) = step(&r, "load-good") else {
        panic!("{:?}", step(&r, "load-good"))
    };
    let counts: Vec<u32> = good.outcomes.iter().map(|o| o.count).collect();
    assert_eq!(counts, [1, 2], "{good:#?}");
    let images = |i: usize| match &good.outcomes[i].observation {
        Observation::Load(l) => l.images.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(images(0)[0].names, ["a.test/steps-lang:1"]);
    assert!(images(1).is_empty(), "{:?}", images(1));

    // applies_to: one inspect ran, the other is recorded as skipped with the reason.
    assert!(
        matches!(step(&r, runs), Observation::Inspect(_)),
        "{:?}",
        step(&r, runs)
    );
    let Observation::Skipped(s) = step(&r, skipped) else {
        panic!("{:?}", step(&r, skipped))
    };
    assert_eq!(s.skipped, run::STEP_DOES_NOT_APPLY);

    // The snapshot has each outcome once and no counts; the JSON has the counts and reads
    // back; the text report shows them.
    assert_eq!(r.snapshot_body.matches("action: load broken").count(), 1);
    assert_eq!(r.snapshot_body.matches("action: load good").count(), 2);
    assert!(!r.snapshot_body.contains("count:"), "{}", r.snapshot_body);
    let json = harness::report::to_json(std::slice::from_ref(&r));
    assert!(json.contains("\"count\": 3"), "{json}");
    let back = ResultsDoc::from_json(&json).unwrap();
    assert_eq!(back.results[0].steps, r.steps);
    let details = harness::report::details(std::slice::from_ref(&r));
    assert!(
        details.contains("load-broken: 3 trials: 3 error")
            && details.contains(
                "load-good: 3 trials: 1 loaded (a.test/steps-lang:1), 2 loaded (no image changed)"
            ),
        "{details}"
    );
}

fn docker_repeat_counts_outcomes_and_applies_to_skips_the_podman_step() {
    repeat_and_applies_to(
        RuntimeKind::Docker,
        "inspect-on-docker",
        "inspect-on-podman",
    );
}

fn podman_repeat_counts_outcomes_and_applies_to_runs_the_podman_step() {
    repeat_and_applies_to(
        RuntimeKind::Podman,
        "inspect-on-podman",
        "inspect-on-docker",
    );
}

/// A load of a 128 MiB layer under `timeout: 1s`, while the run's default is ten minutes:
/// Podman 4.3 on vfs takes about 4 s for it here (spooling the upload, then copying it into
/// the store).
fn a_step_timeout_of_1s_on_a_slower_load_is_an_error_naming_the_step() {
    let src = r#"name: steps-lang
summary: a step timeout shorter than the load
fixtures:
  big:
    layout: docker-archive
    name: a.test/steps-lang-big:1
    layers: [{ files: [{ path: big, content: "" }] }]
steps:
  - id: load-big
    load: big
    timeout: 1s
"#;
    let mut scenario = parse_scenario(src, Path::new("steps-lang.yaml")).unwrap();
    let big = scenario.fixtures.get_mut("big").unwrap();
    big.layers = vec![LayerSpec {
        files: vec![FileSpec::new("big", "x".repeat(128 << 20))],
        ..Default::default()
    }];
    let fixtures = Fixtures::craft(&scenario).unwrap();
    let opts = RunOptions {
        snapshots: SnapshotMode::Ignore,
        snapshot_dir: std::env::temp_dir(),
        jobs: 1,
        ci: run::in_ci(),
        step_timeout: run::DEFAULT_STEP_TIMEOUT,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let r = rt.block_on(run::run_cell(
        &scenario,
        &fixtures,
        &cell(RuntimeKind::Podman, "vfs"),
        &opts,
    ));
    let Status::Error {
        error_kind,
        message,
    } = &r.status
    else {
        panic!("{:?}", r.status)
    };
    assert_eq!(*error_kind, ErrorKind::StepTimeout, "{message}");
    assert!(
        message.starts_with("load-big: load big did not finish within 1s"),
        "{message}"
    );
    assert!(r.steps.is_empty(), "{:?}", r.steps);
    // Well under the run's default: the step's own timeout cut it short.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

/// `applies_to: { runtime: podman }` on a Docker cell: `skip` before anything starts.
fn a_scenario_for_podman_skips_a_docker_cell_without_starting_dockerd() {
    let src = format!("{SCENARIO}applies_to: {{ runtime: podman }}\n");
    let scenario = parse_scenario(&src, Path::new("steps-lang.yaml")).unwrap();
    let started = Instant::now();
    let r = run_on(&scenario, &cell(RuntimeKind::Docker, "vfs"));
    assert_eq!(
        r.status,
        Status::Skip {
            reason: run::SCENARIO_DOES_NOT_APPLY.into()
        }
    );
    // No instance reported anything, and there was no time to start one (dockerd and
    // containerd take seconds here).
    assert_eq!(r.runtime, None);
    assert!(r.steps.is_empty());
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

/// A version range on a `host` cell can only be decided by the daemon: it starts, reports
/// 20.10.24 (or whatever is installed), and the cell is `skip` for a range that excludes it.
fn a_scenario_version_range_is_decided_on_the_version_dockerd_reports() {
    let src = format!("{SCENARIO}applies_to: {{ runtime: docker, version: '<1' }}\n");
    let scenario = parse_scenario(&src, Path::new("steps-lang.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Fixtures::craft(&scenario).unwrap();
    let opts = RunOptions {
        snapshots: SnapshotMode::Check,
        snapshot_dir: dir.path().to_path_buf(),
        jobs: 1,
        ci: run::in_ci(),
        step_timeout: run::DEFAULT_STEP_TIMEOUT,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(run::run_cell(
        &scenario,
        &fixtures,
        &cell(RuntimeKind::Docker, "vfs"),
        &opts,
    ));
    assert_eq!(
        r.status,
        Status::Skip {
            reason: run::SCENARIO_DOES_NOT_APPLY.into()
        }
    );
    let info = r.runtime.as_ref().expect("the daemon started and reported");
    assert_eq!(info.runtime, RuntimeKind::Docker);
    assert!(r.steps.is_empty(), "no step ran: {:?}", r.steps);
    // No snapshot is read or written for it, not even a .snap.new.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
