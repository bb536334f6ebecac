//! The runner: scenario x cell -> start an instance, run the steps, observe, decide.
//!
//! This is the only module that knows both scenarios and runtimes. It hands front doors a
//! [`CellResult`] per scenario x cell and reports progress through [`Event`]s; it never prints.
//! A runtime refusing something is an observation; only the harness or a daemon breaking makes
//! a cell `error`.

pub mod observe;
pub mod prediction;
pub mod snapshot;
pub mod tag;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Cell, Scenario, StepAction};
use crate::craft::{CraftError, CraftedArchive};
use crate::runtime::{self, Instance, InstanceSpec, ProviderError, RuntimeError, RuntimeInfo};
use observe::{DigestBook, Redactor, StepObservation};
pub use snapshot::{SnapshotCheck, SnapshotMode};
pub use verdict::Status;
use verdict::{Claim, KnownIssueCheck};

/// Options for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How snapshots are treated.
    pub snapshots: SnapshotMode,
    /// Where snapshot files live.
    pub snapshot_dir: PathBuf,
    /// Cells run at once.
    pub jobs: usize,
    /// Running under CI (`CI` set): a missing runtime is an error there, not a skip.
    pub ci: bool,
}

/// The fixtures of one scenario, crafted once into a private temp dir and shared by its cells.
pub struct Fixtures {
    /// Registered for teardown, so a signal removes it too (a `TempDir` would survive `exit`).
    _dir: runtime::teardown::InstanceRoot,
    archives: BTreeMap<String, (PathBuf, CraftedArchive)>,
    book: DigestBook,
}

/// Failure to craft a scenario's fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("failed to create a temp dir for fixtures")]
    TempDir(#[source] std::io::Error),
    #[error("failed to craft fixture {name:?} of {}", scenario.display())]
    Craft {
        scenario: PathBuf,
        name: String,
        #[source]
        source: CraftError,
    },
}

impl Fixtures {
    /// Crafts every fixture of `scenario`.
    pub fn craft(scenario: &Scenario) -> Result<Fixtures, FixtureError> {
        let dir = runtime::teardown::InstanceRoot::create_named("fixtures-")
            .map_err(FixtureError::TempDir)?;
        let mut archives = BTreeMap::new();
        let mut book = DigestBook::default();
        for (name, spec) in &scenario.fixtures {
            let path = dir.path().join(format!("{name}.tar"));
            let facts = crate::craft::write_archive_to_path(spec, &path).map_err(|source| {
                FixtureError::Craft {
                    scenario: scenario.source.clone(),
                    name: name.clone(),
                    source,
                }
            })?;
            book.add(name, &facts);
            archives.insert(name.clone(), (path, facts));
        }
        Ok(Fixtures {
            _dir: dir,
            archives,
            book,
        })
    }

    /// The archive path of fixture `name`.
    fn path(&self, name: &str) -> &Path {
        &self.archives[name].0
    }
}

/// The result of one scenario on one cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub scenario: String,
    pub cell: Cell,
    /// What the cell actually ran against; `None` when no instance started.
    pub runtime: Option<RuntimeInfo>,
    /// How the scenario's images were made: the cell's builder, or `craft` for archives the
    /// harness wrote itself.
    pub builder: String,
    /// The crafted fixtures' facts (digests, layers, names), which resolve the symbols
    /// (`config(hybrid)`) used in `steps`.
    pub fixtures: BTreeMap<String, CraftedArchive>,
    #[serde(flatten)]
    pub status: Status,
    pub steps: Vec<StepObservation>,
    #[serde(flatten)]
    pub snapshot: SnapshotCheck,
    /// The rendered snapshot body (what the snapshot file holds after its header).
    #[serde(skip)]
    pub snapshot_body: String,
    pub duration_ms: u64,
}

impl CellResult {
    /// `<scenario>::<cell>`, the name used by nextest and in reports.
    pub fn name(&self) -> String {
        format!("{}::{}", self.scenario, self.cell.id)
    }
}

/// Progress events for front doors.
#[derive(Debug, Clone)]
pub enum Event {
    CellStarted { scenario: String, cell: String },
    CellFinished(Box<CellResult>),
}

/// Runs every scenario on every cell, `opts.jobs` cells at a time, calling `on_event` as cells
/// start and finish. Results come back in scenario, then cell order.
pub async fn run_all(
    scenarios: &[(Arc<Scenario>, Arc<Fixtures>)],
    cells: &[Cell],
    opts: &RunOptions,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
) -> Vec<CellResult> {
    let limit = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
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
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore never closes");
                on_event(Event::CellStarted {
                    scenario: scenario.name.clone(),
                    cell: cell.id.clone(),
                });
                let result = run_cell(&scenario, &fixtures, &cell, &opts).await;
                on_event(Event::CellFinished(Box::new(result.clone())));
                result
            }));
        }
    }
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.expect("a cell task panicked"));
    }
    results
}

/// Why a cell stopped early.
enum Abort {
    Skip(String),
    Error(String),
}

/// Runs one scenario on one cell, always returning a result (never an `Err`).
pub async fn run_cell(
    scenario: &Scenario,
    fixtures: &Fixtures,
    cell: &Cell,
    opts: &RunOptions,
) -> CellResult {
    let started = Instant::now();
    let mut result = CellResult {
        scenario: scenario.name.clone(),
        cell: cell.clone(),
        runtime: None,
        builder: cell.builder.clone().unwrap_or_else(|| "craft".to_string()),
        fixtures: fixtures
            .archives
            .iter()
            .map(|(name, (_, facts))| (name.clone(), facts.clone()))
            .collect(),
        status: Status::Pass,
        steps: Vec::new(),
        snapshot: SnapshotCheck::Skipped,
        snapshot_body: String::new(),
        duration_ms: 0,
    };
    let instance = match start(cell, opts).await {
        Ok(i) => i,
        Err(Abort::Skip(reason)) => return finish(result, Status::Skip { reason }, started),
        Err(Abort::Error(message)) => return finish(result, Status::Error { message }, started),
    };
    result.runtime = Some(instance.info.clone());
    let outcome = run_steps(scenario, fixtures, &instance, &mut result.steps).await;
    let teardown = instance.shutdown();
    if let Err(message) = outcome {
        return finish(result, Status::Error { message }, started);
    }
    if !teardown.problems.is_empty() {
        let message = format!(
            "teardown left something behind: {}",
            teardown.problems.join("; ")
        );
        return finish(result, Status::Error { message }, started);
    }
    let info = result.runtime.clone().expect("set above");
    let (failures, known) = evaluate(scenario, cell, &info, &result.steps);
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
            return finish(result, Status::Error { message }, started);
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

/// Starts the cell's instance, turning "this cell cannot run here" into a skip.
async fn start(cell: &Cell, opts: &RunOptions) -> Result<Instance, Abort> {
    let spec = instance_spec(cell);
    let started = match runtime::provider::for_spec(&spec) {
        Ok(provider) => provider.start(&spec).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(i) => Ok(i),
        Err(ProviderError::BinaryNotFound { binary, env }) if !opts.ci => Err(Abort::Skip(
            format!("{binary} is not installed here (set {env} or install it)"),
        )),
        Err(ProviderError::VersionUnavailable {
            runtime,
            wanted,
            found,
            ..
        }) => Err(Abort::Skip(format!(
            "cell wants {runtime} {wanted} but this machine has {found}"
        ))),
        Err(e) if e.is_unavailable() && !opts.ci => Err(Abort::Skip(error_chain(&e))),
        Err(e) => Err(Abort::Error(error_chain(&e))),
    }
}

/// Runs the steps in order, recording an observation per step.
async fn run_steps(
    scenario: &Scenario,
    fixtures: &Fixtures,
    instance: &Instance,
    steps: &mut Vec<StepObservation>,
) -> Result<(), String> {
    let rt = instance.runtime.as_ref();
    let redact = Redactor {
        root: instance.root_path(),
        book: &fixtures.book,
    };
    let broke = |e: RuntimeError| -> String {
        let mut msg = error_chain(&e);
        if let Some((daemon, tail)) = instance.dead_daemon() {
            msg.push_str(&format!("\n{daemon} died; last log lines:\n{tail}"));
        }
        msg
    };
    for step in &scenario.steps {
        match &step.action {
            StepAction::Load { fixture } => {
                let before = rt.list_images().await.map_err(broke)?;
                let outcome =
                    tokio::time::timeout(STEP_TIMEOUT, rt.load_image(fixtures.path(fixture)))
                        .await
                        .map_err(|_| {
                            format!("{}: load did not finish within {STEP_TIMEOUT:?}", step.id)
                        })?
                        .map_err(broke)?;
                let after = rt.list_images().await.map_err(broke)?;
                let mut images = Vec::new();
                for changed in observe::changed_images(&before, &after) {
                    // Inspect for the fields a list does not carry (Podman's Digest).
                    let record = rt.inspect_image(&changed.id).await.map_err(broke)?;
                    images.push(record.unwrap_or_else(|| changed.clone()));
                }
                let mut obs = observe::observe_load(&step.id, fixture, &outcome, &images, &redact);
                let naming = prediction::naming_of(&fixtures.archives[fixture].1);
                obs.findings
                    .extend(prediction::check_load(instance.facts.family, &naming, &obs));
                steps.push(obs);
            }
            StepAction::Tag { image, refs } => {
                let (tags, findings) =
                    tag::run_tag(rt, &instance.facts, image, refs, &redact).await?;
                steps.push(StepObservation {
                    id: step.id.clone(),
                    action: format!("tag {image}"),
                    outcome: "done".into(),
                    messages: Vec::new(),
                    error: None,
                    images: None,
                    tags,
                    findings,
                });
            }
        }
    }
    Ok(())
}

/// How long one step may take before the cell is an `error`.
const STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// Checks each applicable expectation and known issue against the observations.
fn evaluate(
    scenario: &Scenario,
    cell: &Cell,
    info: &RuntimeInfo,
    steps: &[StepObservation],
) -> (Vec<(String, String)>, Vec<KnownIssueCheck>) {
    let mut failures = Vec::new();
    for (step, obs) in scenario.steps.iter().zip(steps) {
        for exp in step
            .expect
            .iter()
            .filter(|e| e.when.matches(cell, &info.version))
        {
            for why in verdict::contradictions(&claim_of(&exp.claim), obs) {
                failures.push((step.id.clone(), why));
            }
        }
    }
    let known = scenario
        .known_issues
        .iter()
        .filter(|k| k.when.matches(cell, &info.version))
        .filter_map(|k| {
            let obs = steps.iter().find(|o| o.id == k.step)?;
            let reproduced = verdict::contradictions(&claim_of(&k.claim), obs).is_empty();
            Some(KnownIssueCheck {
                id: k.id.clone(),
                step: k.step.clone(),
                reproduced,
            })
        })
        .collect();
    (failures, known)
}

fn claim_of(c: &crate::config::Claim) -> Claim<'_> {
    use crate::config::{IdRole, Outcome};
    Claim {
        outcome: c.outcome.map(|o| match o {
            Outcome::Loaded => "loaded",
            Outcome::Error => "error",
        }),
        names: c.names.as_deref(),
        id_is: c.id_is.map(|r| match r {
            IdRole::Config => observe::DigestRole::Config,
            IdRole::Manifest => observe::DigestRole::Manifest,
            IdRole::Index => observe::DigestRole::Index,
        }),
        error_contains: c.error_contains.as_deref(),
        found: c.found.as_deref(),
        not_found: c.not_found.as_deref(),
    }
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
