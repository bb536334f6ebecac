//! [`Session`]: the one orchestration both front doors use (`harness run` and the nextest
//! target), so they find the same scenarios, validate the same way and run the same runner.
//!
//! Loading validates everything (the matrix, every scenario, every fixture spec, with file,
//! line, column and field) before anything has a side effect: no signal handler is installed,
//! no stale root swept and no fixture crafted for input that is going to be refused. The side
//! effects come after, in [`Session::begin`] and [`Session::craft`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CellResult, Event, Fixtures, RunOptions};
use crate::config::{self, Cell, ConfigError, Matrix, Scenario, Selector, Site};
use crate::steps::fixtures::FixtureError;

/// The cell key [`Session::resolve_sources`] sets when no source has the cell's version.
pub const SOURCE_ERROR: &str = "source_error";

/// Scenarios with their crafted fixtures, ready to run.
pub type Prepared = Vec<(Arc<Scenario>, Arc<Fixtures>)>;

/// A validated run: the matrix, the cells selected from it, and the scenarios.
pub struct Session {
    pub matrix: Matrix,
    /// The cells to run, in matrix order.
    pub cells: Vec<Cell>,
    /// In path order, and in each file in document order.
    pub scenarios: Vec<Scenario>,
    /// Problems that do not stop a run, formatted like errors: an expectation or known issue
    /// whose `when` selects no cell of the loaded matrix (it can never be checked).
    pub warnings: Vec<String>,
}

/// Why a session cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no scenario given and cannot read {}: {source}", dir.display())]
    ScenarioDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no scenario given and no *.yaml or *.yml in {}", dir.display())]
    NoScenarios { dir: PathBuf },
    #[error(transparent)]
    Fixture(#[from] FixtureError),
}

/// Every `*.yaml` and `*.yml` file in `dir`, sorted by path.
pub fn discover_scenarios(dir: &Path) -> Result<Vec<PathBuf>, SessionError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| SessionError::ScenarioDir {
            dir: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(SessionError::NoScenarios {
            dir: dir.to_path_buf(),
        });
    }
    Ok(out)
}

/// The default number of cells run at once: one per CPU.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Session {
    /// Loads and validates the matrix at `matrix`, the scenarios at `scenarios` (or, when none
    /// is given, every one in `scenario_dir`), and selects the cells matching `cell_filters`
    /// (ids or globs; none = all). Has no side effects.
    pub fn load(
        matrix: &Path,
        scenarios: &[PathBuf],
        scenario_dir: &Path,
        cell_filters: &[String],
    ) -> Result<Session, SessionError> {
        let paths = if scenarios.is_empty() {
            discover_scenarios(scenario_dir)?
        } else {
            scenarios.to_vec()
        };
        let matrix = config::load_matrix(matrix)?;
        let cells = matrix.select(cell_filters)?.into_iter().cloned().collect();
        // Every scenario of every file (a file may hold several, `---`-separated); names
        // are unique in the run (a duplicate names both files).
        let mut scenarios = Vec::new();
        for path in &paths {
            scenarios.extend(config::load_scenarios(path)?);
        }
        config::check_unique_names(&scenarios)?;
        let warnings = scenarios
            .iter()
            .flat_map(|s| unselectable(s, &matrix))
            .collect();
        Ok(Session {
            matrix,
            cells,
            scenarios,
            warnings,
        })
    }

    /// Decides where each selected cell's runtime comes from, for cells that name a version
    /// but no provider: the host binary when it has that version, else the Debian suite
    /// whose package index carries it ([`crate::runtime::sources`]). A Debian source is
    /// written into the cell as its provider and options (`provider: debian`, `suite`,
    /// `package_version`), so the results record where the runtime came from; a version no
    /// source has is recorded as `source_error`, which the runner makes a `skip` (outside CI)
    /// or an `error` (under CI). Reads package indexes (cached for a day), so it is a side
    /// effect of its own, after loading.
    pub fn resolve_sources(&mut self) {
        resolve_cell_sources(&mut self.cells);
    }

    /// The process-wide side effects of running: signal handlers that tear instances down, and
    /// the sweep of instance roots a SIGKILLed run left. Returns the roots removed.
    pub fn begin() -> Vec<PathBuf> {
        crate::runtime::install_signal_handlers();
        crate::runtime::sweep_stale_roots()
    }

    /// Crafts every scenario's fixtures.
    pub fn craft(&self) -> Result<Prepared, SessionError> {
        self.scenarios
            .iter()
            .map(|s| Ok((Arc::new(s.clone()), Arc::new(Fixtures::craft(s)?))))
            .collect()
    }

    /// Runs every scenario on every selected cell on a runtime of its own.
    pub fn run(
        &self,
        prepared: &[(Arc<Scenario>, Arc<Fixtures>)],
        opts: &RunOptions,
        on_event: Arc<dyn Fn(Event) + Send + Sync>,
    ) -> Vec<CellResult> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(super::run_all(prepared, &self.cells, opts, on_event))
    }
}

/// [`Session::resolve_sources`] for any cells.
pub fn resolve_cell_sources(cells: &mut [Cell]) {
    use crate::runtime::provider::HOST_VERSION;
    use crate::runtime::sources::{Resolver, Source};
    let resolver = Resolver::from_env();
    for cell in cells.iter_mut() {
        if cell.version == HOST_VERSION || cell.extra.contains_key("provider") {
            continue;
        }
        match resolver.resolve(cell.runtime, &cell.version) {
            Ok(Source::Host { .. }) => {}
            Ok(Source::Debian {
                suite,
                package_version,
                ..
            }) => {
                cell.extra.insert("provider".into(), "debian".into());
                cell.extra.insert("suite".into(), suite);
                cell.extra.insert("package_version".into(), package_version);
            }
            Err(e) => {
                cell.extra
                    .insert(SOURCE_ERROR.into(), super::error_chain(&e));
            }
        }
    }
}

/// Warnings for every expectation and known issue of `scenario` whose `when` can match no
/// cell of `matrix`.
pub(crate) fn unselectable(scenario: &Scenario, matrix: &Matrix) -> Vec<String> {
    let dead = |when: &Selector| !when.is_all() && !matrix.cells.iter().any(|c| when.may_match(c));
    let expectations = scenario
        .steps
        .iter()
        .flat_map(|s| s.expect.iter().map(|e| (&e.when, &e.site)));
    let known = scenario.known_issues.iter().map(|k| (&k.when, &k.site));
    expectations
        .chain(known)
        .filter(|(when, _)| dead(when))
        .map(|(_, site)| warning(&scenario.source, site, matrix))
        .collect()
}

fn warning(path: &Path, site: &Site, matrix: &Matrix) -> String {
    let at = site.position.map(|p| format!(":{p}")).unwrap_or_default();
    let cells: Vec<&str> = matrix.cells.iter().map(|c| c.id.as_str()).collect();
    format!(
        "{}{at}: {}.when: selects no cell of {} (cells: {}), so it is never checked",
        path.display(),
        site.field,
        matrix.source.display(),
        cells.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIX: &str = "axes: { runtime: [docker], version: [host], store: [vfs] }\n";

    fn scenario(when: &str) -> String {
        format!(
            "name: s\nsummary: s\nfixtures:\n  a: {{ layout: oci-archive, layers: [{{ files: [{{ path: x, content: x }}] }}] }}\nsteps:\n  - id: l\n    load: a\n    expect:\n      - when: {when}\n        outcome: loaded\n"
        )
    }

    fn load(matrix: &str, scenario: &str) -> Result<Session, SessionError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("matrix.yaml"), matrix).unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        std::fs::write(dir.path().join("scenarios/s.yaml"), scenario).unwrap();
        Session::load(
            &dir.path().join("matrix.yaml"),
            &[],
            &dir.path().join("scenarios"),
            &[],
        )
    }

    // Issue 7, bug 3: `when: { store: vsf }` selected no cell and the cell passed.
    #[test]
    fn a_store_no_runtime_accepts_is_refused_where_it_is_written() {
        let Err(SessionError::Config(e)) = load(MATRIX, &scenario("{ store: vsf }")) else {
            panic!("a typo in a selector must be refused")
        };
        let text = e.to_string();
        assert!(
            text.contains(
                "s.yaml:9:24: steps[0].expect[0].when.store: unknown store \"vsf\" (known: aufs,"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_store_of_another_runtime_is_refused_for_that_runtime() {
        let Err(SessionError::Config(e)) = load(
            MATRIX,
            &scenario("{ runtime: containerd, store: overlay2 }"),
        ) else {
            panic!("overlay2 is not a containerd snapshotter")
        };
        assert!(
            e.to_string()
                .contains("unknown store \"overlay2\" for containerd"),
            "{e}"
        );
    }

    #[test]
    fn a_builder_typo_is_refused() {
        assert!(matches!(
            load(MATRIX, &scenario("{ builder: biuldkit }")),
            Err(SessionError::Config(_))
        ));
    }

    #[test]
    fn a_selector_matching_no_cell_of_the_matrix_is_reported() {
        let s = load(MATRIX, &scenario("{ runtime: podman }")).unwrap();
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains("steps[0].expect[0].when: selects no cell of"),
            "{}",
            s.warnings[0]
        );
        let s = load(MATRIX, &scenario("{ runtime: docker, store: vfs }")).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn a_matrix_store_typo_is_refused() {
        let Err(SessionError::Config(e)) = load(
            "axes: { runtime: [docker], version: [host], store: [overlay3] }\n",
            &scenario("{ runtime: docker }"),
        ) else {
            panic!("overlay3 is no docker storage driver")
        };
        assert!(
            e.to_string()
                .contains("unknown store \"overlay3\" for docker"),
            "{e}"
        );
    }

    #[test]
    fn a_fixture_that_cannot_be_crafted_is_refused_at_load_with_its_position() {
        let bad = "name: s\nsummary: s\nfixtures:\n  a: { layout: oci-archive, layers: [] }\nsteps:\n  - id: l\n    load: a\n";
        let Err(SessionError::Config(e)) = load(MATRIX, bad) else {
            panic!("a fixture without layers cannot be crafted")
        };
        assert!(
            e.to_string()
                .contains("s.yaml:4:3: fixtures.a: invalid fixture: no layers"),
            "{e}"
        );
    }

    fn load_files(files: &[(&str, &str)]) -> Result<Session, SessionError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("matrix.yaml"), MATRIX).unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("scenarios").join(name), text).unwrap();
        }
        Session::load(
            &dir.path().join("matrix.yaml"),
            &[],
            &dir.path().join("scenarios"),
            &[],
        )
    }

    fn named(name: &str) -> String {
        scenario("{ runtime: docker }").replacen("name: s\n", &format!("name: {name}\n"), 1)
    }

    #[test]
    fn every_scenario_of_every_file_is_loaded_and_names_are_unique() {
        let multi = [named("m"), named("m-two")].join("---\n");
        let s = load_files(&[("m.yaml", &multi), ("s.yaml", &named("s"))]).unwrap();
        let names: Vec<_> = s.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["m", "m-two", "s"]);
        let Err(SessionError::Config(e)) =
            load_files(&[("m.yaml", &multi), ("m-two.yml", &named("m-two"))])
        else {
            panic!("m-two is in both files")
        };
        let text = e.to_string();
        assert!(
            // Discovery sorts m-two.yml before m.yaml.
            text.contains("m.yaml:12:7: name: duplicate scenario name \"m-two\" (also in ")
                && text.ends_with("scenarios/m-two.yml)"),
            "{text}"
        );
    }

    fn never(
        _: &crate::runtime::InstanceSpec,
    ) -> Result<&'static dyn crate::runtime::Provider, crate::runtime::ProviderError> {
        panic!("a scenario invalid on the cell must start nothing")
    }

    #[test]
    fn a_cell_whose_values_make_the_scenario_invalid_is_that_cell_s_error() {
        let src = scenario("{ runtime: docker }")
            .replace("  a: {", "  docker: {")
            .replace("load: a", "load: \"${cell.runtime}\"");
        let s = load_files(&[("s.yaml", &src)]).unwrap();
        let scenario = &s.scenarios[0];
        let fixtures = Fixtures::craft(scenario).unwrap();
        let mut cell = s.cells[0].clone();
        cell.runtime = crate::config::RuntimeKind::Podman;
        let opts = RunOptions {
            snapshots: super::super::SnapshotMode::Ignore,
            snapshot_dir: std::env::temp_dir(),
            jobs: 1,
            ci: false,
            step_timeout: super::super::DEFAULT_STEP_TIMEOUT,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(super::super::run_cell_with(
            scenario, &fixtures, &cell, &opts, never,
        ));
        let super::super::Status::Error {
            error_kind,
            message,
        } = &result.status
        else {
            panic!("{:?}", result.status)
        };
        assert_eq!(*error_kind, super::super::ErrorKind::Scenario);
        assert!(
            message.starts_with("invalid with this cell's values for its variables: ")
                && message.ends_with(
                    "s.yaml:7:11: steps[0].load: unknown fixture \"podman\" (known: docker)"
                ),
            "{message}"
        );
        assert!(result.steps.is_empty());
    }

    #[test]
    fn discovery_takes_yaml_and_yml_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.yml", "a.yaml", "c.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let found: Vec<_> = discover_scenarios(dir.path())
            .unwrap()
            .into_iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["a.yaml", "b.yml"]);
    }
}
