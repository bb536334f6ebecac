//! The nextest front door: one trial per scenario x matrix cell, named `<scenario>::<cell>`.
//!
//! Each trial starts its own hermetic daemon, runs the scenario through the same runner as
//! `harness run`, asserts the outcome snapshot with insta (`snapshots/<scenario>__<cell>.snap`;
//! review with `cargo insta review`), and fails unless the cell's status is `pass` or `known`.
//! A cell whose runtime is not installed is listed as ignored, with the reason as its kind,
//! except under CI (`CI` set), where it runs and fails: CI must exercise every runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harness::config::{self, Cell, Scenario};
use harness::run::{self, Fixtures, RunOptions, SnapshotMode, Status};
use libtest_mimic::{Arguments, Failed, Trial};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate is in the workspace")
        .to_path_buf()
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Why `cell` cannot run here, if its provider says it cannot give it (a runtime's binaries
/// missing, no such socket). Other problems are left for the trial to report.
fn missing_runtime(cell: &Cell) -> Option<String> {
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
    let matrix = config::load_matrix(&root.join("matrix.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("scenarios"))
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    let mut trials = Vec::new();
    for path in paths {
        let scenario = Arc::new(config::load_scenario(&path).unwrap_or_else(|e| panic!("{e}")));
        for cell in &matrix.cells {
            let name = format!("{}::{}", scenario.name, cell.id);
            let skip = if in_ci() { None } else { missing_runtime(cell) };
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
    harness::runtime::install_signal_handlers();
    let fixtures = Fixtures::craft(scenario).map_err(|e| run::error_chain(&e))?;
    let opts = RunOptions {
        // insta checks the snapshot below; the runner must not write files of its own.
        snapshots: SnapshotMode::Ignore,
        snapshot_dir: workspace().join("snapshots"),
        jobs: 1,
        ci: in_ci(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(run::run_cell(scenario, &fixtures, cell, &opts));

    if let Status::Error { message } | Status::Skip { reason: message } = &result.status {
        return Err(format!("{} [{}]: {message}", result.name(), result.status.word()).into());
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(workspace().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    if let Some(runtime) = &result.runtime {
        settings.set_info(&run::snapshot::SnapshotInfo {
            runtime,
            builder: &result.builder,
        });
    }
    let name = run::snapshot::snapshot_name(&scenario.name, &cell.id);
    settings.bind(|| insta::assert_snapshot!(name, result.snapshot_body));
    match &result.status {
        Status::Pass | Status::Known { .. } => Ok(()),
        _ => Err(harness::report::details(std::slice::from_ref(&result)).into()),
    }
}
