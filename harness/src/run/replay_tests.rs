//! The runner's logic driven through a replaying fake runtime ([`Replay`]): statuses, error
//! kinds, timeouts, skips, panics, snapshots and reports, without a daemon. Real daemons stay
//! the test of runtime behaviour (`tests/scenarios.rs`, `tests/live/`); these only check what
//! the runner makes of answers the test scripted.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::config::{Cell, RuntimeKind, Scenario, parse_scenario};
use crate::results::ResultsDoc;
use crate::runtime::replay::{Answer, Replay};
use crate::runtime::{
    ApiRejection, BoxFuture, ImageRecord, LoadOutcome, Lookup, Provider, RuntimeInfo, TagOutcome,
};

const SCENARIO: &str = r#"name: s
summary: a load and a tag, for the runner's logic
fixtures:
  a:
    layout: docker-oci-hybrid
    name: a.test/x:1
    layers: [{ files: [{ path: etc/a, content: "a\n" }] }]
steps:
  - id: load-a
    load: a
    expect:
      - names: [a.test/x:1]
        id_is: config
  - id: tag-a
    tag:
      image: a.test/x:1
      refs: [{ ref: a.test/y:1 }]
    expect:
      - found: [a.test/y:1]
"#;

fn scenario(src: &str) -> Scenario {
    parse_scenario(src, Path::new("s.yaml")).unwrap()
}

fn info() -> RuntimeInfo {
    RuntimeInfo {
        runtime: RuntimeKind::Podman,
        version: "4.3.1".into(),
        api_version: "4.3.1".into(),
        store: "vfs".into(),
        api: "libpod".into(),
    }
}

/// The scripts a test hands the fake provider, by the cell's store.
type Scripts = Vec<(&'static str, Vec<Answer>)>;
static SCRIPTS: Mutex<Scripts> = Mutex::new(Vec::new());
/// Serializes the tests that use [`SCRIPTS`].
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A provider whose instances replay the script registered for the cell's store, each with a
/// scratch root and no daemon.
struct FakeProvider;

impl Provider for FakeProvider {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn available(&self, _: &InstanceSpec) -> Result<(), ProviderError> {
        Ok(())
    }
    fn start<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Instance, ProviderError>> {
        Box::pin(async move {
            let script = {
                let mut scripts = SCRIPTS.lock().unwrap();
                let i = scripts
                    .iter()
                    .position(|(store, _)| *store == spec.store)
                    .unwrap_or_else(|| panic!("no script for store {}", spec.store));
                scripts.remove(i).1
            };
            Instance::with_scratch_root(Box::new(Replay::new(info(), script))).await
        })
    }
}

fn fake(_: &InstanceSpec) -> Result<&'static dyn Provider, ProviderError> {
    Ok(&FakeProvider)
}

fn cell(store: &str) -> Cell {
    Cell {
        id: format!("podman-host-{store}"),
        runtime: RuntimeKind::Podman,
        version: "host".into(),
        store: store.into(),
        builder: None,
        api: None,
        extra: Default::default(),
    }
}

fn opts(snapshots: SnapshotMode, dir: &Path) -> RunOptions {
    RunOptions {
        snapshots,
        snapshot_dir: dir.to_path_buf(),
        jobs: 2,
        ci: false,
        step_timeout: Duration::from_secs(5),
    }
}

fn image(id: &str, names: &[&str]) -> ImageRecord {
    ImageRecord {
        id: id.into(),
        names: names.iter().map(|s| s.to_string()).collect(),
        digest: None,
        repo_digests: vec![],
    }
}

/// What a runtime that does everything the scenario expects answers, for the load step and
/// the tag step, with `config` as the image ID.
fn happy(config: &str) -> Vec<Answer> {
    let loaded = image(config, &["a.test/x:1"]);
    let tagged = image(config, &["a.test/x:1", "a.test/y:1"]);
    vec![
        // load: list before, load, list after, inspect the new image
        Answer::List(vec![]),
        Answer::Load(LoadOutcome::Loaded {
            messages: vec!["Loaded image: a.test/x:1".into()],
        }),
        Answer::List(vec![loaded.clone()]),
        Answer::Lookup(Lookup::Found(loaded.clone())),
        // tag: find the source, list, tag, list, look up, untag
        Answer::Lookup(Lookup::Found(loaded.clone())),
        Answer::List(vec![loaded.clone()]),
        Answer::Tag(TagOutcome::Tagged),
        Answer::List(vec![tagged.clone()]),
        Answer::Lookup(Lookup::Found(tagged)),
        Answer::Tag(TagOutcome::Tagged),
    ]
}

async fn run_one(s: &Scenario, store: &str, script: Vec<Answer>, opts: &RunOptions) -> CellResult {
    SCRIPTS.lock().unwrap().push((leak(store), script));
    let fixtures = Fixtures::craft(s).unwrap();
    run_cell_with(s, &fixtures, &cell(store), opts, fake).await
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn config_of(s: &Scenario) -> String {
    Fixtures::craft(s)
        .unwrap()
        .facts("a")
        .config
        .digest
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_doing_what_is_expected_passes_and_snapshots_symbols() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let r = run_one(
        &s,
        "vfs",
        happy(&config_of(&s)),
        &opts(SnapshotMode::Ignore, dir.path()),
    )
    .await;
    assert_eq!(r.status, Status::Pass, "{:?}", r.status);
    assert_eq!(r.steps.len(), 2);
    let Observation::Load(load) = &r.steps[0] else {
        panic!("{:?}", r.steps[0])
    };
    assert_eq!(load.images[0].id, "config(a)");
    assert!(
        r.snapshot_body.contains("id: config(a)"),
        "{}",
        r.snapshot_body
    );
    assert_eq!(r.runtime, Some(info()));
}

// Issue 7, bug 1, through the whole runner: a known issue claiming only `outcome: loaded`
// does not hide wrong names.
#[tokio::test(flavor = "multi_thread")]
async fn a_known_issue_does_not_hide_other_failures_of_its_step() {
    let _serial = SERIAL.lock().await;
    let src = format!(
        "{}known_issues:\n  - id: K\n    summary: k\n    step: load-a\n    outcome: loaded\n",
        SCENARIO.replace("names: [a.test/x:1]", "names: [this-is-wrong:1]")
    );
    let s = scenario(&src);
    let dir = tempfile::tempdir().unwrap();
    let r = run_one(
        &s,
        "vfs",
        happy(&config_of(&s)),
        &opts(SnapshotMode::Ignore, dir.path()),
    )
    .await;
    match &r.status {
        Status::Fail { reasons } => {
            assert!(
                reasons.iter().any(|x| x.contains("this-is-wrong:1")),
                "{reasons:?}"
            );
        }
        other => panic!("expected fail, got {other:?}"),
    }
    let details = crate::report::details(std::slice::from_ref(&r));
    assert!(details.contains("this-is-wrong:1"), "{details}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_daemon_is_an_error_never_a_fail() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let script = vec![Answer::List(vec![]), Answer::Broken("images/load")];
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Ignore, dir.path())).await;
    match &r.status {
        Status::Error {
            error_kind,
            message,
        } => {
            assert_eq!(*error_kind, ErrorKind::Runtime);
            assert!(message.starts_with("load-a: "), "{message}");
        }
        other => panic!("expected error, got {other:?}"),
    }
    assert_eq!(crate::report::exit_code(std::slice::from_ref(&r)), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_that_never_answers_is_a_step_timeout() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(SnapshotMode::Ignore, dir.path());
    o.step_timeout = Duration::from_millis(200);
    let r = run_one(&s, "vfs", vec![Answer::List(vec![]), Answer::Hang], &o).await;
    assert!(
        matches!(&r.status, Status::Error { error_kind: ErrorKind::StepTimeout, message } if message.contains("load a did not finish within 200ms")),
        "{:?}",
        r.status
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tagging_an_image_that_is_not_there_is_a_precondition_error() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let mut script = happy(&config_of(&s));
    script.truncate(4);
    script.push(Answer::Lookup(Lookup::NotFound));
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Ignore, dir.path())).await;
    assert!(
        matches!(&r.status, Status::Error { error_kind: ErrorKind::Precondition, message } if message.contains("not in the store")),
        "{:?}",
        r.status
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_the_driver_does_not_offer_skips_the_step() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let mut script = vec![Answer::List(vec![]), Answer::Unsupported];
    script.extend(happy(&config_of(&s)).into_iter().skip(4));
    // The tag step still needs the image: the script answers as if it was there.
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Ignore, dir.path())).await;
    let Observation::Skipped(skipped) = &r.steps[0] else {
        panic!("{:?}", r.steps[0])
    };
    assert_eq!(skipped.action, "load a");
    assert!(
        skipped.skipped.contains("not offered by the podman driver"),
        "{skipped:?}"
    );
    // The skipped step's expectations are not checked; the tag step's are.
    assert_eq!(r.status, Status::Pass, "{:?}", r.status);
    assert!(
        r.snapshot_body
            .contains("skipped: load_image a.tar is not offered"),
        "{}",
        r.snapshot_body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_go_missing_then_updated_then_matched_then_mismatched() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let config = config_of(&s);
    let r = run_one(
        &s,
        "vfs",
        happy(&config),
        &opts(SnapshotMode::Check, dir.path()),
    )
    .await;
    assert!(
        matches!(r.snapshot, SnapshotCheck::Missing { .. }),
        "{:?}",
        r.snapshot
    );
    assert_eq!(r.status.word(), "fail");
    let r = run_one(
        &s,
        "vfs",
        happy(&config),
        &opts(SnapshotMode::Update, dir.path()),
    )
    .await;
    assert!(
        matches!(r.snapshot, SnapshotCheck::Updated { .. }),
        "{:?}",
        r.snapshot
    );
    let r = run_one(
        &s,
        "vfs",
        happy(&config),
        &opts(SnapshotMode::Check, dir.path()),
    )
    .await;
    assert_eq!(r.snapshot, SnapshotCheck::Matched);
    assert_eq!(r.status, Status::Pass);
    // The runtime now names the image differently: the snapshot shows it.
    let mut other = happy(&config);
    other[2] = Answer::List(vec![image(&config, &["a.test/x:1", "localhost/x:1"])]);
    other[3] = Answer::Lookup(Lookup::Found(image(
        &config,
        &["a.test/x:1", "localhost/x:1"],
    )));
    let r = run_one(&s, "vfs", other, &opts(SnapshotMode::Check, dir.path())).await;
    match &r.snapshot {
        SnapshotCheck::Mismatch { diff, .. } => {
            assert!(
                diff.contains("+    - localhost/x:1")
                    && diff.contains("+  - code: load-prediction-divergence"),
                "{diff}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_cell_is_an_error_and_the_other_cells_finish() {
    let _serial = SERIAL.lock().await;
    let s = Arc::new(scenario(SCENARIO));
    let fixtures = Arc::new(Fixtures::craft(&s).unwrap());
    let config = config_of(&s);
    SCRIPTS.lock().unwrap().extend([
        ("overlay", vec![Answer::Panic("a harness bug")]),
        ("vfs", happy(&config)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let on_event: Arc<dyn Fn(Event) + Send + Sync> = Arc::new(move |e| {
        if let Event::CellFinished(r) = e {
            seen.lock().unwrap().push(r.cell.id.clone());
        }
    });
    let results = run_all_with(
        &[(s.clone(), fixtures)],
        &[cell("overlay"), cell("vfs")],
        &opts(SnapshotMode::Ignore, dir.path()),
        on_event,
        fake,
    )
    .await;
    assert!(
        matches!(&results[0].status, Status::Error { error_kind: ErrorKind::Panic, message } if message.contains("a harness bug")),
        "{:?}",
        results[0].status
    );
    assert_eq!(results[1].status, Status::Pass);
    let mut finished = events.lock().unwrap().clone();
    finished.sort();
    assert_eq!(finished, ["podman-host-overlay", "podman-host-vfs"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn results_render_and_read_back() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let pass = run_one(
        &s,
        "vfs",
        happy(&config_of(&s)),
        &opts(SnapshotMode::Ignore, dir.path()),
    )
    .await;
    let broken = run_one(
        &s,
        "overlay",
        vec![
            Answer::List(vec![]),
            Answer::Load(LoadOutcome::Error(ApiRejection {
                status: Some(500),
                message: "no".into(),
            })),
        ]
        .into_iter()
        .chain([Answer::List(vec![]), Answer::Broken("images")])
        .collect(),
        &opts(SnapshotMode::Ignore, dir.path()),
    )
    .await;
    let results = vec![pass, broken];
    // Every recorded step has its duration, also on the cell a broken daemon stopped.
    for r in &results {
        assert_eq!(r.step_durations_ms.len(), r.steps.len(), "{}", r.name());
    }
    assert!(!results[1].steps.is_empty());
    let table = crate::report::table(&results, false);
    assert!(
        table.contains("podman 4.3.1 (api 4.3.1, vfs)") && table.contains("error"),
        "{table}"
    );
    let json = crate::report::to_json(&results);
    let back = ResultsDoc::from_json(&json).unwrap();
    assert_eq!(
        back.results,
        results
            .iter()
            .map(|r| CellResult {
                snapshot_body: String::new(),
                ..r.clone()
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(back.summary.error, 1);
    assert_eq!(back.summary.pass, 1);
}

// Issue 13, item 10: a runtime whose disk is full refuses the load with ENOSPC. That is the
// machine's problem: the cell is an `error` (no-space) naming it, no snapshot is written,
// and the observation is kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_in_the_runtime_s_answer_is_an_error_not_a_refusal() {
    let _serial = SERIAL.lock().await;
    let s = scenario(SCENARIO);
    let dir = tempfile::tempdir().unwrap();
    let script = vec![
        Answer::List(vec![]),
        Answer::Load(LoadOutcome::Error(ApiRejection {
            status: Some(500),
            message: "unable to load image: payload does not match any of the supported image formats:\n * oci-archive: committing the finished image: write /x/.tmp-images.json1: no space left on device".into(),
        })),
        Answer::List(vec![]),
    ];
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Check, dir.path())).await;
    let Status::Error {
        error_kind: kind,
        message,
    } = &r.status
    else {
        panic!("{:?}", r.status)
    };
    assert_eq!(*kind, ErrorKind::NoSpace);
    assert!(
        message.starts_with("load-a: the disk is full")
            && message.ends_with("write /x/.tmp-images.json1: no space left on device"),
        "{message}"
    );
    assert_eq!(r.steps.len(), 1, "the observation is kept");
    assert_eq!(r.snapshot, SnapshotCheck::Skipped);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no .snap.new"
    );
}

/// A scenario of one load step of fixture `a` with these keys and `expect` items added.
fn one_load(keys: &str) -> Scenario {
    let head = &SCENARIO[..SCENARIO.find("steps:").unwrap()];
    scenario(&format!(
        "{head}steps:\n  - id: load-a\n    load: a\n{keys}"
    ))
}

/// The answers of one load of `a` into a store holding `before`, which leaves `after`;
/// `inspected` are the images that changed (looked up after the load).
fn load_answers(
    before: &[ImageRecord],
    after: &[ImageRecord],
    inspected: &[ImageRecord],
) -> Vec<Answer> {
    let mut script = vec![
        Answer::List(before.to_vec()),
        Answer::Load(LoadOutcome::Loaded {
            messages: vec!["Loaded image: a.test/x:1".into()],
        }),
        Answer::List(after.to_vec()),
    ];
    script.extend(
        inspected
            .iter()
            .map(|i| Answer::Lookup(Lookup::Found(i.clone()))),
    );
    script
}

fn refused_load() -> Vec<Answer> {
    vec![
        Answer::List(vec![]),
        Answer::Load(LoadOutcome::Error(ApiRejection {
            status: Some(500),
            message: "payload does not match any of the supported image formats".into(),
        })),
        Answer::List(vec![]),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_step_counts_each_distinct_outcome_and_snapshots_each_once() {
    let _serial = SERIAL.lock().await;
    let s = one_load("    repeat: 3\n    expect:\n      - outcome: loaded\n");
    let config = config_of(&s);
    let img = image(&config, &["a.test/x:1"]);
    // The first load adds the image; the next two find it there and change nothing.
    let mut script = load_answers(&[], std::slice::from_ref(&img), std::slice::from_ref(&img));
    for _ in 0..2 {
        script.extend(load_answers(
            std::slice::from_ref(&img),
            std::slice::from_ref(&img),
            &[],
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Ignore, dir.path())).await;
    assert_eq!(r.status, Status::Pass, "{:?}", r.status);
    assert_eq!(r.steps.len(), 1);
    let Observation::Repeated(rep) = &r.steps[0] else {
        panic!("{:?}", r.steps[0])
    };
    assert_eq!(rep.repeat, 3);
    let counts: Vec<u32> = rep.outcomes.iter().map(|o| o.count).collect();
    assert_eq!(counts, [1, 2]);
    let Observation::Load(first) = &rep.outcomes[0].observation else {
        panic!()
    };
    assert_eq!(first.images.len(), 1);
    assert_eq!(r.steps[0].id(), "load-a");
    // The snapshot shows each outcome once, sorted by their text, with no counts.
    let body = &r.snapshot_body;
    assert!(
        body.contains("- repeat: 3\n  outcomes:\n  - id: load-a\n"),
        "{body}"
    );
    assert!(!body.contains("count"), "{body}");
    assert_eq!(body.matches("action: load a").count(), 2, "{body}");
    assert!(
        body.find("id: config(a)").unwrap() < body.find("images: []").unwrap(),
        "{body}"
    );
    // The JSON has the counts, in first-seen order, and reads back.
    let json = crate::report::to_json(std::slice::from_ref(&r));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let step = &value["results"][0]["steps"][0];
    assert_eq!(step["repeat"], 3);
    assert_eq!(step["outcomes"][0]["count"], 1);
    assert_eq!(step["outcomes"][1]["count"], 2);
    assert_eq!(
        step["outcomes"][1]["observation"]["images"],
        serde_json::json!([])
    );
    let back = ResultsDoc::from_json(&json).unwrap();
    assert_eq!(back.results[0].steps, r.steps);
    // The text report counts the trials.
    let details = crate::report::details(std::slice::from_ref(&r));
    assert!(
        details.contains(
            "load-a: 3 trials: 1 loaded (a.test/x:1), 2 loaded (no image changed) (repeat)"
        ),
        "{details}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_trials_are_one_outcome_and_an_expectation_holds_for_each() {
    let _serial = SERIAL.lock().await;
    let s = one_load(
        "    repeat: 3\n    expect:\n      - outcome: error\n      - { outcome: loaded, trials: any }\n",
    );
    let script: Vec<Answer> = (0..3).flat_map(|_| refused_load()).collect();
    let dir = tempfile::tempdir().unwrap();
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Ignore, dir.path())).await;
    let Observation::Repeated(rep) = &r.steps[0] else {
        panic!("{:?}", r.steps[0])
    };
    assert_eq!(rep.outcomes.len(), 1);
    assert_eq!(rep.outcomes[0].count, 3);
    // `outcome: error` holds for every trial; `outcome: loaded, trials: any` for none.
    match &r.status {
        Status::Fail { reasons } => {
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert!(
                reasons[0].starts_with("load-a: ")
                    && reasons[0].ends_with("(3 of 3 trials, and no trial holds it: trials: any)"),
                "{reasons:?}"
            );
        }
        other => panic!("expected fail, got {other:?}"),
    }
    let details = crate::report::details(std::slice::from_ref(&r));
    assert!(
        details.contains("load-a: 3 trials: 3 error (500: payload does not match any of the supported image formats) (repeat)"),
        "{details}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_s_own_timeout_overrides_the_run_s() {
    let _serial = SERIAL.lock().await;
    let s = one_load("    timeout: 1s\n");
    let dir = tempfile::tempdir().unwrap();
    let o = opts(SnapshotMode::Ignore, dir.path());
    assert_eq!(o.step_timeout, Duration::from_secs(5));
    let started = std::time::Instant::now();
    let r = run_one(&s, "vfs", vec![Answer::List(vec![]), Answer::Hang], &o).await;
    assert!(
        matches!(&r.status, Status::Error { error_kind: ErrorKind::StepTimeout, message } if message.starts_with("load-a: load a did not finish within 1s")),
        "{:?}",
        r.status
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trial_that_breaks_names_its_trial_and_keeps_the_ones_before() {
    let _serial = SERIAL.lock().await;
    let s = one_load("    repeat: 3\n    timeout: 1s\n");
    let mut script = refused_load();
    script.extend([Answer::List(vec![]), Answer::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let r = run_one(&s, "vfs", script, &opts(SnapshotMode::Ignore, dir.path())).await;
    assert!(
        matches!(&r.status, Status::Error { error_kind: ErrorKind::StepTimeout, message } if message.starts_with("load-a (trial 2 of 3): load a did not finish within 1s")),
        "{:?}",
        r.status
    );
    let Observation::Repeated(rep) = &r.steps[0] else {
        panic!("{:?}", r.steps)
    };
    assert_eq!((rep.repeat, rep.trials()), (3, 1));
    let details = crate::report::details(std::slice::from_ref(&r));
    assert!(
        details.contains("load-a: 1 of 3 trials ran: 1 error"),
        "{details}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_runs_only_on_the_cells_its_applies_to_selects() {
    let _serial = SERIAL.lock().await;
    let s = one_load(
        "    applies_to: [{ store: overlay }, { runtime: docker }]\n    expect:\n      - outcome: error\n",
    );
    let dir = tempfile::tempdir().unwrap();
    // On vfs the step is skipped: no call, its expectation is not checked.
    let r = run_one(&s, "vfs", vec![], &opts(SnapshotMode::Ignore, dir.path())).await;
    assert_eq!(r.status, Status::Pass, "{:?}", r.status);
    let Observation::Skipped(skipped) = &r.steps[0] else {
        panic!("{:?}", r.steps[0])
    };
    assert_eq!(skipped.skipped, "does not apply here (applies_to)");
    assert!(
        r.snapshot_body
            .contains("action: load a\n  skipped: does not apply here (applies_to)"),
        "{}",
        r.snapshot_body
    );
    // On overlay it runs, and its expectation is checked.
    let r = run_one(
        &s,
        "overlay",
        refused_load(),
        &opts(SnapshotMode::Ignore, dir.path()),
    )
    .await;
    assert_eq!(r.status, Status::Pass, "{:?}", r.status);
    assert!(matches!(&r.steps[0], Observation::Load(_)), "{:?}", r.steps);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_that_does_not_apply_starts_nothing_and_writes_no_snapshot() {
    let _serial = SERIAL.lock().await;
    let s = scenario(&format!("{SCENARIO}applies_to: {{ runtime: docker }}\n"));
    let dir = tempfile::tempdir().unwrap();
    // No script is registered: starting an instance would panic.
    let fixtures = Fixtures::craft(&s).unwrap();
    let r = run_cell_with(
        &s,
        &fixtures,
        &cell("vfs"),
        &opts(SnapshotMode::Check, dir.path()),
        fake,
    )
    .await;
    assert_eq!(
        r.status,
        Status::Skip {
            reason: "scenario does not apply to this cell (applies_to)".into()
        }
    );
    assert_eq!(r.runtime, None, "nothing started");
    assert_eq!(r.snapshot, SnapshotCheck::Skipped);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_s_version_range_is_matched_against_the_daemon_s_version() {
    let _serial = SERIAL.lock().await;
    // The cell is `host`, so only the started daemon (4.3.1) can say.
    let s = scenario(&format!(
        "{SCENARIO}applies_to: {{ runtime: podman, version: '>=5' }}\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let r = run_one(&s, "vfs", vec![], &opts(SnapshotMode::Check, dir.path())).await;
    assert_eq!(
        r.status,
        Status::Skip {
            reason: "scenario does not apply to this cell (applies_to)".into()
        }
    );
    assert_eq!(r.runtime, Some(info()));
    assert!(r.steps.is_empty());
    assert_eq!(r.snapshot, SnapshotCheck::Skipped);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no .snap.new"
    );
    // And on a range that holds, it runs.
    let s = scenario(&format!(
        "{SCENARIO}applies_to: [{{ runtime: docker }}, {{ runtime: podman, version: '4.3.*' }}]\n"
    ));
    let r = run_one(
        &s,
        "vfs",
        happy(&config_of(&s)),
        &opts(SnapshotMode::Ignore, dir.path()),
    )
    .await;
    assert_eq!(r.status, Status::Pass, "{:?}", r.status);
}
