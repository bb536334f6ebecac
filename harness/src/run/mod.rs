//! The runner: scenario x cell -> start an instance, run the steps, observe, decide.
//!
//! With the step kinds ([`crate::steps`]) this is the only module that knows both scenarios and
//! runtimes. It hands front doors a [`CellResult`] per scenario x cell and reports progress
//! through [`Event`]s; it never prints. A runtime refusing something is an observation; only the
//! harness or a daemon breaking makes a cell `error`, with an [`ErrorKind`] saying what broke.
//! Every step runs under a timeout (its own `timeout:` or the run's), and a cell whose task
//! panics becomes an `error` of its own while the other cells finish. [`session`] is the one
//! entry point both front doors use.
//!
//! `applies_to:` is decided here, against the version the daemon reports: a scenario that does
//! not apply to a cell is that cell's `skip` (before anything starts when
//! [`crate::config::AppliesTo::may_match`] already says no), and a step that does not apply is
//! recorded as skipped. A step with `repeat: N` runs N times in a row on the same instance, and
//! its observation counts each distinct outcome ([`crate::steps::RepeatedStep`]).

pub mod produce;
pub mod provision;
#[cfg(test)]
mod replay_tests;
pub mod review;
pub mod session;
pub mod shard;
pub mod snapshot;
pub mod validate;
pub mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Cell, Scenario};
pub use crate::results::{CellResult, ErrorKind, SnapshotCheck, Status};
use crate::runtime::{self, Instance, InstanceSpec, Provider, ProviderError};
pub use crate::steps::Fixtures;
use crate::steps::{Observation, Redactor, RepeatedStep, SkippedStep, StepContext, StepError};
pub use session::{Session, SessionError};
pub use snapshot::SnapshotMode;

/// The reason of a cell's `skip` when the scenario's `applies_to` does not select it.
pub const SCENARIO_DOES_NOT_APPLY: &str = "scenario does not apply to this cell (applies_to)";

/// The `skipped` reason of a step whose `applies_to` does not select the cell.
pub const STEP_DOES_NOT_APPLY: &str = "does not apply here (applies_to)";

/// How long one step may take by default before the cell is an `error` (ten minutes: loads of
/// large archives stream for a while).
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// Options for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How snapshots are treated.
    pub snapshots: SnapshotMode,
    /// Where snapshot files live.
    pub snapshot_dir: std::path::PathBuf,
    /// Cells run at once.
    pub jobs: usize,
    /// Running under CI (`CI` set): a missing runtime is an error there, not a skip.
    pub ci: bool,
    /// How long one step may take; default [`DEFAULT_STEP_TIMEOUT`].
    pub step_timeout: Duration,
}

/// Whether `CI` is set to something other than empty or `false`, as CI services do.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Progress events for front doors.
#[derive(Debug, Clone)]
pub enum Event {
    CellStarted {
        scenario: String,
        cell: String,
    },
    /// A step of a running cell begins (its `id`); a repeated step is reported once.
    StepStarted {
        scenario: String,
        cell: String,
        step: String,
    },
    CellFinished(Box<CellResult>),
}

tokio::task_local! {
    /// Told the id of each step as it begins, within one cell's task (set by [`run_all_with`]).
    /// A task-local rather than a parameter: the steps run several calls deep, behind
    /// [`run_cell_with`], which the other front doors call without any events.
    static STEP_STARTED: Arc<dyn Fn(&str) + Send + Sync>;
}

/// Runs every scenario on every cell, `opts.jobs` cells at a time, calling `on_event` as cells
/// start and finish. Results come back in scenario, then cell order.
pub async fn run_all(
    scenarios: &[(Arc<Scenario>, Arc<Fixtures>)],
    cells: &[Cell],
    opts: &RunOptions,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
) -> Vec<CellResult> {
    run_all_with(
        scenarios,
        cells,
        opts,
        on_event,
        runtime::provider::for_spec,
    )
    .await
}

/// How the runner finds the provider for a cell's [`InstanceSpec`]: the registry
/// ([`runtime::provider::for_spec`]) everywhere except in tests of the runner itself, which
/// hand it a provider of replaying fakes.
pub type ProviderLookup = fn(&InstanceSpec) -> Result<&'static dyn Provider, ProviderError>;

/// [`run_all`] with the providers `lookup` gives.
pub async fn run_all_with(
    scenarios: &[(Arc<Scenario>, Arc<Fixtures>)],
    cells: &[Cell],
    opts: &RunOptions,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
    lookup: ProviderLookup,
) -> Vec<CellResult> {
    let limit = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
    // Each provider the cells name may keep shared infrastructure for the run (dropped at
    // the end of this function, after every cell).
    let mut providers: Vec<&'static dyn Provider> = Vec::new();
    for cell in cells {
        if let Ok(p) = lookup(&instance_spec(cell))
            && !providers.iter().any(|q| q.name() == p.name())
        {
            providers.push(p);
        }
    }
    let _sessions: Vec<_> = providers.iter().filter_map(|p| p.session()).collect();
    let mut tasks = Vec::new();
    for (scenario, fixtures) in scenarios {
        for cell in cells {
            let (scenario, fixtures, cell, opts, limit, on_event) = (
                scenario.clone(),
                fixtures.clone(),
                cell.clone(),
                opts.clone(),
                limit.clone(),
                on_event.clone(),
            );
            let blank = blank_result(&scenario, &fixtures, &cell);
            let report = on_event.clone();
            let task = tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore never closes");
                on_event(Event::CellStarted {
                    scenario: scenario.name.clone(),
                    cell: cell.id.clone(),
                });
                let step_started: Arc<dyn Fn(&str) + Send + Sync> = {
                    let (on_event, scenario, cell) =
                        (on_event.clone(), scenario.name.clone(), cell.id.clone());
                    Arc::new(move |step| {
                        on_event(Event::StepStarted {
                            scenario: scenario.clone(),
                            cell: cell.clone(),
                            step: step.to_string(),
                        })
                    })
                };
                let result = STEP_STARTED
                    .scope(
                        step_started,
                        run_cell_with(&scenario, &fixtures, &cell, &opts, lookup),
                    )
                    .await;
                on_event(Event::CellFinished(Box::new(result.clone())));
                result
            });
            tasks.push((blank, task, report));
        }
    }
    let mut results = Vec::with_capacity(tasks.len());
    for (blank, task, on_event) in tasks {
        results.push(match task.await {
            Ok(result) => result,
            // A panic is a harness bug in one cell; the instance it owned was torn down by its
            // drop guard while unwinding. The other cells still finish.
            Err(e) => {
                let why = panic_message(e);
                let result = CellResult {
                    status: Status::error(ErrorKind::Panic, format!("the cell panicked: {why}")),
                    ..blank
                };
                on_event(Event::CellFinished(Box::new(result.clone())));
                result
            }
        });
    }
    results
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into()),
        Err(e) => e.to_string(),
    }
}

/// A result with nothing observed yet.
fn blank_result(scenario: &Scenario, fixtures: &Fixtures, cell: &Cell) -> CellResult {
    let (provider, source) = crate::results::provenance(cell);
    CellResult {
        scenario: scenario.name.clone(),
        cell: cell.clone(),
        runtime: None,
        hermetic: true,
        provider,
        source,
        builder: cell.builder.clone().unwrap_or_else(|| "craft".to_string()),
        fixtures: fixtures.all_facts(),
        status: Status::Pass,
        steps: Vec::new(),
        step_durations_ms: Vec::new(),
        snapshot: SnapshotCheck::Skipped,
        snapshot_body: String::new(),
        duration_ms: 0,
    }
}

/// Runs one scenario on one cell, always returning a result (never an `Err`).
pub async fn run_cell(
    scenario: &Scenario,
    fixtures: &Fixtures,
    cell: &Cell,
    opts: &RunOptions,
) -> CellResult {
    run_cell_with(scenario, fixtures, cell, opts, runtime::provider::for_spec).await
}

/// [`run_cell`] with the providers `lookup` gives.
pub async fn run_cell_with(
    scenario: &Scenario,
    fixtures: &Fixtures,
    cell: &Cell,
    opts: &RunOptions,
    lookup: ProviderLookup,
) -> CellResult {
    let started = Instant::now();
    // A scenario that applies to this cell at no version starts nothing, not even producers.
    if !scenario.applies_to.may_match(cell) {
        let skip = Status::Skip {
            reason: SCENARIO_DOES_NOT_APPLY.into(),
        };
        return finish(blank_result(scenario, fixtures, cell), skip, started);
    }
    // The scenario with this cell's values for its variables (config/vars.rs), checked again.
    let scenario = match scenario.for_cell(cell) {
        Ok(s) => s,
        Err(e) => {
            let why = format!("invalid with this cell's values for its variables: {e}");
            let status = Status::error(ErrorKind::Scenario, why);
            return finish(blank_result(scenario, fixtures, cell), status, started);
        }
    };
    let scenario: &Scenario = &scenario;
    // Produced fixtures first (once per run and key, run/produce.rs): a producer that cannot
    // run here is this cell's skip (or error), with the producer's reason.
    let env = produce::ProduceEnv {
        opts: opts.clone(),
        lookup,
        cache_dir: produce::default_cache_dir(),
    };
    let produced_problems = match fixtures.produce(&env).await {
        Ok(problems) => problems,
        Err(status) => return finish(blank_result(scenario, fixtures, cell), status, started),
    };
    match start(cell, opts, lookup).await {
        Ok((instance, hermetic)) => {
            let mut result = run_on(scenario, fixtures, cell, instance, opts, started).await;
            // A produced fixture whose own snapshot is missing or differs fails the cell.
            match &mut result.status {
                Status::Fail { reasons } => reasons.extend(produced_problems),
                Status::Pass | Status::Known { .. } if !produced_problems.is_empty() => {
                    result.status = Status::Fail {
                        reasons: produced_problems,
                    };
                }
                _ => {}
            }
            result.hermetic = hermetic;
            result
        }
        Err(status) => finish(blank_result(scenario, fixtures, cell), status, started),
    }
}

async fn run_on(
    scenario: &Scenario,
    fixtures: &Fixtures,
    cell: &Cell,
    instance: Instance,
    opts: &RunOptions,
    started: Instant,
) -> CellResult {
    let mut result = blank_result(scenario, fixtures, cell);
    result.runtime = Some(instance.info.clone());
    // Decided on the version the daemon reports; no snapshot is read or written for it.
    if !scenario.applies_to.matches(cell, &instance.info.version) {
        let teardown = instance.shutdown();
        let status = if teardown.problems.is_empty() {
            Status::Skip {
                reason: SCENARIO_DOES_NOT_APPLY.into(),
            }
        } else {
            let message = format!(
                "teardown left something behind: {}",
                teardown.problems.join("; ")
            );
            Status::error(ErrorKind::Teardown, message)
        };
        return finish(result, status, started);
    }
    let builder = cell
        .builder
        .as_deref()
        .and_then(crate::build::BuilderKind::parse);
    let outcome = run_steps(
        scenario,
        fixtures,
        cell,
        &instance,
        builder,
        opts,
        &mut result.steps,
        &mut result.step_durations_ms,
    )
    .await;
    // Teardown runs off the async workers (Instance::shutdown sees to that).
    let teardown = instance.shutdown();
    if let Err(status) = outcome {
        return finish(result, status, started);
    }
    if !teardown.problems.is_empty() {
        let message = format!(
            "teardown left something behind: {}",
            teardown.problems.join("; ")
        );
        return finish(result, Status::error(ErrorKind::Teardown, message), started);
    }
    let info = result.runtime.clone().expect("set above");
    let (failures, known) = verdict::evaluate(scenario, cell, &info.version, &result.steps);
    let doc = snapshot::SnapshotDoc {
        scenario: &scenario.name,
        cell: &cell.id,
        steps: &result.steps,
    };
    result.snapshot_body = snapshot::render(&doc);
    let name = snapshot::snapshot_name(&scenario.name, &cell.id);
    result.snapshot = match snapshot::check(
        &opts.snapshot_dir,
        &name,
        &result.snapshot_body,
        &snapshot::SnapshotInfo {
            runtime: &info,
            builder: &result.builder,
        },
        opts.snapshots,
    ) {
        Ok(c) => c,
        Err(e) => {
            let message = format!(
                "failed to check snapshot {name} in {}: {e}",
                opts.snapshot_dir.display()
            );
            return finish(result, Status::error(ErrorKind::Snapshot, message), started);
        }
    };
    let snapshot_problem = match &result.snapshot {
        SnapshotCheck::Mismatch { new_file, .. } => Some(format!(
            "snapshot {name} differs (observed written to {})",
            new_file.display()
        )),
        SnapshotCheck::Missing { new_file } => Some(format!(
            "no snapshot {name} yet (observed written to {}; review it)",
            new_file.display()
        )),
        _ => None,
    };
    let status = verdict::decide(failures, &known, snapshot_problem);
    finish(result, status, started)
}

fn finish(mut result: CellResult, status: Status, started: Instant) -> CellResult {
    result.status = status;
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result
}

/// What a cell asks to start: its provider is the matrix's `provider` key (default `host`),
/// and the cell's other keys are the provider's options.
pub fn instance_spec(cell: &Cell) -> InstanceSpec {
    InstanceSpec {
        provider: cell
            .extra
            .get("provider")
            .cloned()
            .unwrap_or_else(|| runtime::provider::DEFAULT_PROVIDER.into()),
        runtime: cell.runtime,
        version: cell.version.clone(),
        store: cell.store.clone(),
        options: cell.extra.clone(),
    }
}

/// Starts the cell's instance through its provider, turning "this provider cannot give that
/// here" into a skip (outside CI; another version is a skip everywhere, since no provider of
/// this machine has it). Also says whether the provider's instances are hermetic.
async fn start(
    cell: &Cell,
    opts: &RunOptions,
    lookup: ProviderLookup,
) -> Result<(Instance, bool), Status> {
    // No source has the version the cell wants (see Session::resolve_sources): a skip here,
    // an error under CI, which must run every cell it plans.
    if let Some(why) = cell.extra.get(session::SOURCE_ERROR) {
        return Err(if opts.ci {
            Status::error(ErrorKind::Start, why.clone())
        } else {
            Status::Skip {
                reason: why.clone(),
            }
        });
    }
    let spec = instance_spec(cell);
    let (started, hermetic) = match lookup(&spec) {
        Ok(provider) => (provider.start(&spec).await, provider.hermetic()),
        Err(e) => (Err(e), true),
    };
    // A cell on another API than the runtime's default drives the same daemon through that
    // API's driver (runtime/api.rs); an instance that cannot is torn down by its drop.
    let started = match (started, &cell.api) {
        (Ok(mut instance), Some(api)) => runtime::api::connect(&mut instance, api)
            .await
            .map(|()| instance),
        (started, _) => started,
    };
    match started {
        Ok(i) => Ok((i, hermetic)),
        Err(ProviderError::BinaryNotFound { binary, env }) if !opts.ci => Err(Status::Skip {
            reason: format!("{binary} is not installed here (set {env} or install it)"),
        }),
        Err(ProviderError::VersionUnavailable {
            runtime,
            wanted,
            found,
            ..
        }) => Err(Status::Skip {
            reason: format!("cell wants {runtime} {wanted} but this machine has {found}"),
        }),
        Err(e) if e.is_unavailable() && !opts.ci => Err(Status::Skip {
            reason: error_chain(&e),
        }),
        Err(e) => Err(Status::error(ErrorKind::Start, error_chain(&e))),
    }
}

/// Runs the steps in order, recording an observation per step and, in `durations`, how long
/// each recorded one took (never in the observation: snapshots render those); `Err` is the
/// cell's `error` status.
#[allow(clippy::too_many_arguments)] // the cell's context, and the two lists it fills
async fn run_steps(
    scenario: &Scenario,
    fixtures: &Fixtures,
    cell: &Cell,
    instance: &Instance,
    builder: Option<crate::build::BuilderKind>,
    opts: &RunOptions,
    steps: &mut Vec<Observation>,
    durations: &mut Vec<u64>,
) -> Result<(), Status> {
    let book = fixtures.cell_book();
    // The cell's own registry, started only if a step pushes or pulls, and stopped with the
    // cell. (A run-scoped one is `RegistrySlot::shared`.)
    let registry = crate::runtime::registry::RegistrySlot::lazy();
    let redact = Redactor {
        root: instance.root_path(),
        book: &book,
        registry: Some(&registry),
    };
    let cx = StepContext {
        runtime: instance.runtime.as_ref(),
        info: &instance.info,
        facts: &instance.facts,
        builder,
        fixtures,
        redact: &redact,
        registry: &registry,
    };
    let broke = |kind: ErrorKind, mut msg: String| -> Status {
        let mut kind = kind;
        if let Some((daemon, tail)) = instance.dead_daemon() {
            kind = ErrorKind::DaemonDied;
            msg.push_str(&format!("\n{daemon} died; last log lines:\n{tail}"));
        } else if kind == ErrorKind::StepTimeout {
            // A daemon that stopped answering is alive: its log may say why.
            for (daemon, tail) in instance.log_tails(20) {
                msg.push_str(&format!("\n{daemon}'s last log lines:\n{tail}"));
            }
        }
        Status::error(kind, msg)
    };
    for step in &scenario.steps {
        let began = Instant::now();
        // Every observation recorded so far that has no duration yet is this step's.
        let timed = |steps: &Vec<Observation>, durations: &mut Vec<u64>| {
            let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            durations.resize(steps.len(), ms);
        };
        if !step.applies_to.matches(cell, &instance.info.version) {
            steps.push(Observation::Skipped(SkippedStep {
                id: step.id.clone(),
                action: step.action.describe(),
                skipped: STEP_DOES_NOT_APPLY.into(),
            }));
            timed(steps, durations);
            continue;
        }
        let _ = STEP_STARTED.try_with(|told| told(&step.id));
        let limit = step.timeout.unwrap_or(opts.step_timeout);
        // The trials observed so far are kept when one breaks the cell.
        let keep =
            |steps: &mut Vec<Observation>, durations: &mut Vec<u64>, repeated: RepeatedStep| {
                if !repeated.outcomes.is_empty() {
                    steps.push(Observation::Repeated(repeated));
                }
                timed(steps, durations);
            };
        let mut repeated = RepeatedStep::new(step.repeat);
        for trial in 1..=step.repeat {
            // Errors name the step, and on a repeated step the trial that broke.
            let who = if step.is_repeated() {
                format!("{} (trial {trial} of {})", step.id, step.repeat)
            } else {
                step.id.clone()
            };
            let ran = tokio::time::timeout(limit, step.action.run(&step.id, &cx)).await;
            let obs = match ran {
                Ok(Ok(obs)) => obs,
                // An operation the instance's driver does not offer is the step's `skip`, with
                // the driver's reason, never a refusal in the runtime's name. Refused on the
                // first trial, the step is not repeated; on a later trial it is one outcome.
                Ok(Err(StepError::Runtime(e))) if e.unsupported().is_some() => {
                    let skipped = Observation::Skipped(SkippedStep {
                        id: step.id.clone(),
                        action: step.action.describe(),
                        skipped: e.unsupported().unwrap_or_default(),
                    });
                    if trial == 1 {
                        steps.push(skipped);
                        break;
                    }
                    skipped
                }
                Ok(Err(StepError::Runtime(e))) => {
                    keep(steps, durations, repeated);
                    return Err(broke(
                        ErrorKind::Runtime,
                        format!("{who}: {}", error_chain(&e)),
                    ));
                }
                Ok(Err(StepError::Precondition(why))) => {
                    keep(steps, durations, repeated);
                    return Err(broke(ErrorKind::Precondition, format!("{who}: {why}")));
                }
                Err(_) => {
                    keep(steps, durations, repeated);
                    return Err(broke(
                        ErrorKind::StepTimeout,
                        format!(
                            "{who}: {} did not finish within {limit:?}",
                            step.action.describe(),
                        ),
                    ));
                }
            };
            let full = out_of_space(&obs);
            if step.is_repeated() {
                repeated.record(obs);
            } else {
                steps.push(obs);
            }
            if let Some(said) = full {
                keep(steps, durations, repeated);
                return Err(broke(
                    ErrorKind::NoSpace,
                    format!(
                        "{who}: the disk is full (the runtime answered ENOSPC), so its answer is not its behaviour: {said}",
                    ),
                ));
            }
        }
        keep(steps, durations, repeated);
    }
    Ok(())
}

/// The first text in `obs` that reports ENOSPC (Go's and libc's `no space left on device`),
/// if any. A runtime that could not write its store or spool answers with a refusal, which
/// must not become the runtime's observed behaviour (issue 13, item 10).
fn out_of_space(obs: &Observation) -> Option<String> {
    fn find(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => s
                .lines()
                .find(|l| l.to_ascii_lowercase().contains("no space left on device"))
                .map(|l| l.trim().to_string()),
            serde_json::Value::Array(a) => a.iter().find_map(find),
            serde_json::Value::Object(o) => o.values().find_map(find),
            _ => None,
        }
    }
    find(&serde_json::to_value(obs).ok()?)
}

/// An error and its sources, joined with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}
