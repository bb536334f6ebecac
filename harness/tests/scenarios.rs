//! The nextest front door: one trial per scenario x matrix cell, named `<scenario>::<cell>`.
//! Every scenario of every file is listed (a file may hold several, `---`-separated), and each
//! trial runs its scenario with that cell's values for its variables (`${cell.runtime}` ...).
//!
//! Each trial starts its own hermetic daemon, runs the scenario through the same session and
//! runner as `harness run` (the same scenario discovery, validation and snapshot writer:
//! `snapshots/<scenario>__<cell>.snap`, with a `.snap.new` to review with `cargo insta review`
//! on a difference), and fails unless the cell's status is `pass` or `known`.
//! A cell whose runtime is not installed is listed as ignored, with the reason as its kind,
//! except under CI (`CI` set), where it runs and fails: CI must exercise every runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harness::config::{Cell, Scenario};
use harness::run::{self, Fixtures, RunOptions, Session, SnapshotMode, Status};
use libtest_mimic::{Arguments, Failed, Trial};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate is in the workspace")
        .to_path_buf()
}

/// Why `cell` cannot run here, if its provider says it cannot give it (a runtime's binaries
/// missing, no such socket). Other problems are left for the trial to report.
fn missing_runtime(cell: &Cell) -> Option<String> {
    if let Some(why) = cell.extra.get(run::session::SOURCE_ERROR) {
        return Some(format!("skipped: {why}"));
    }
    let spec = run::instance_spec(cell);
    harness::runtime::provider::for_spec(&spec)
        .ok()?
        .available(&spec)
        .err()
        .filter(|e| e.is_unavailable())
        .map(|e| format!("skipped: {e}"))
}

fn main() {
    let args = Arguments::from_args();
    let root = workspace();
    // The same loading and validation as `harness run`: a bad matrix, scenario or fixture spec
    // fails here, before any trial starts anything.
    let mut session = Session::load(&root.join("matrix.yaml"), &[], &root.join("scenarios"), &[])
        .unwrap_or_else(|e| panic!("{}", run::error_chain(&e)));
    // Where each versioned cell's runtime comes from (package indexes, cached for a day).
    session.resolve_sources();
    for w in &session.warnings {
        eprintln!("warning: {w}");
    }
    let mut trials = Vec::new();
    for scenario in &session.scenarios {
        let scenario = Arc::new(scenario.clone());
        for cell in &session.cells {
            let name = format!("{}::{}", scenario.name, cell.id);
            let skip = if !scenario.applies_to.may_match(cell) {
                // Decided without starting anything, under CI too (run/mod.rs run_cell_with).
                Some(format!("skipped: {}", run::SCENARIO_DOES_NOT_APPLY))
            } else if run::in_ci() {
                None
            } else {
                missing_runtime(cell)
            };
            let (scenario, cell) = (scenario.clone(), cell.clone());
            let mut trial = Trial::test(name, move || run_trial(&scenario, &cell));
            if let Some(reason) = skip {
                trial = trial.with_ignored_flag(true).with_kind(reason);
            }
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run_trial(scenario: &Scenario, cell: &Cell) -> Result<(), Failed> {
    Session::begin();
    let fixtures = Fixtures::craft(scenario).map_err(|e| run::error_chain(&e))?;
    let opts = RunOptions {
        // The one snapshot writer, as `harness run` uses it: compare, and on a difference
        // write `.snap.new` for `cargo insta review`; never accept.
        snapshots: SnapshotMode::Check,
        snapshot_dir: workspace().join("snapshots"),
        jobs: 1,
        ci: run::in_ci(),
        step_timeout: run::DEFAULT_STEP_TIMEOUT,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(run::run_cell(scenario, &fixtures, cell, &opts));
    match &result.status {
        Status::Pass | Status::Known { .. } => Ok(()),
        // `applies_to` decided on the version the daemon reported.
        Status::Skip { reason } if reason == run::SCENARIO_DOES_NOT_APPLY => Ok(()),
        _ => Err(format!(
            "{} [{}]{}",
            result.name(),
            result.status.word(),
            harness::report::details(std::slice::from_ref(&result))
        )
        .into()),
    }
}
