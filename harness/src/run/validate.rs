//! `harness validate`: loads matrix and scenario files exactly as a run would, and reports
//! every file's first problem as `file:line:column: field: message`.
//!
//! Validation is the loaders themselves ([`config::load_matrix`], [`config::load_scenarios`])
//! plus the matrix cross-check a run does ([`super::session`]'s selectors that select no
//! cell), not a second implementation that could drift from them. It goes on after a bad file
//! (one error per file, as a run stops at the first error of each), so one pass shows every
//! broken file. A problem without a place in the file (it cannot be read, the matrix expands
//! to nothing) is reported at `1:1`, so every line has the same shape for editors and CI.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{self, ConfigError, Matrix};

/// One file's problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file as given (or as found in a directory given).
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    /// The field path (`steps[1].load`); `null` for the document as a whole.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    fn of(e: &ConfigError) -> Problem {
        let at = e
            .position
            .unwrap_or(config::Position { line: 1, column: 1 });
        Problem {
            file: e.path.clone(),
            line: at.line,
            column: at.column,
            field: e.field.clone(),
            message: e.kind.to_string(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What `harness validate` found.
#[derive(Debug, Default)]
pub struct Validation {
    /// Every file checked, in order.
    pub files: Vec<PathBuf>,
    /// At most one per file.
    pub problems: Vec<Problem>,
    /// Problems that do not stop a run (a selector that selects no cell of the matrix).
    pub warnings: Vec<String>,
    /// Why scenarios were not checked against a matrix, when they were not.
    pub unchecked: Option<String>,
}

impl Validation {
    /// 0 when every file is valid, 2 otherwise (the exit code of a bad configuration).
    pub fn exit_code(&self) -> i32 {
        if self.problems.is_empty() { 0 } else { 2 }
    }
}

/// Which loader a file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Matrix,
    Scenario,
}

/// Whether a file name says matrix (`matrix.yaml`, `matrix.yml`).
fn named_matrix(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == "matrix.yaml" || n == "matrix.yml")
}

/// The files to check: files as given; for a directory, its `*.yaml` and `*.yml` files
/// (not its subdirectories, as scenario discovery), sorted.
fn expand(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect();
                found.sort();
                out.extend(found);
            }
            Err(e) => problems.push(Problem {
                file: path.clone(),
                line: 1,
                column: 1,
                field: None,
                message: format!("cannot read directory: {e}"),
            }),
        }
    }
    out
}

/// Validates `paths` (files or directories; none: `matrix.yaml` and `scenarios/`). A file is
/// a matrix when it is named `matrix.yaml` / `matrix.yml` or is `matrix`; every other file is
/// a scenario. Scenarios are checked against `matrix` when given, else against the first
/// valid matrix among the files, else against `matrix.yaml` when it exists.
pub fn validate(paths: &[PathBuf], matrix: Option<&Path>) -> Validation {
    let mut v = Validation::default();
    // No paths: the matrix (`--matrix`, else matrix.yaml) and, when there is one, scenarios/.
    let given: Vec<PathBuf> = if paths.is_empty() {
        let scenarios = Path::new("scenarios");
        let mut given = Vec::new();
        if matrix.is_none() {
            given.push(PathBuf::from("matrix.yaml"));
        }
        if scenarios.is_dir() {
            given.push(scenarios.to_path_buf());
        }
        given
    } else {
        paths.to_vec()
    };
    let mut files = expand(&given, &mut v.problems);
    if let Some(m) = matrix
        && !files.iter().any(|f| f == m)
    {
        files.insert(0, m.to_path_buf());
    }
    let kind = |f: &Path| {
        if matrix == Some(f) || named_matrix(f) {
            FileKind::Matrix
        } else {
            FileKind::Scenario
        }
    };

    let mut loaded_matrix: Option<Matrix> = None;
    let mut matrix_failed = false;
    for file in files.iter().filter(|f| kind(f) == FileKind::Matrix) {
        match config::load_matrix(file) {
            Ok(m) => {
                let preferred = matrix.is_none_or(|want| want == file.as_path());
                if loaded_matrix.is_none() && preferred {
                    loaded_matrix = Some(m);
                }
            }
            Err(e) => {
                matrix_failed |= matrix.is_none_or(|want| want == file.as_path());
                v.problems.push(Problem::of(&e));
            }
        }
    }
    if loaded_matrix.is_none() && !matrix_failed && matrix.is_none() {
        // `harness validate scenarios/x.yaml`: check against the matrix a run would use.
        let default = Path::new("matrix.yaml");
        if default.is_file() {
            loaded_matrix = config::load_matrix(default).ok();
        }
    }
    let scenarios = files.iter().any(|f| kind(f) == FileKind::Scenario);
    if loaded_matrix.is_none() && scenarios {
        v.unchecked = Some(if matrix_failed {
            "scenarios were not checked against the matrix: it is not valid".into()
        } else {
            "scenarios were not checked against a matrix: none given and no matrix.yaml here".into()
        });
    }

    let mut all = Vec::new();
    for file in files.iter().filter(|f| kind(f) == FileKind::Scenario) {
        match config::load_scenarios(file) {
            Ok(scenarios) => {
                for scenario in &scenarios {
                    if let Some(m) = &loaded_matrix {
                        v.warnings.extend(super::session::unselectable(scenario, m));
                        // What each cell's variables make of it, as a run would.
                        if let Some(e) = m
                            .cells
                            .iter()
                            .find_map(|cell| scenario.for_cell(cell).err())
                        {
                            v.problems.push(Problem::of(&e));
                        }
                    }
                }
                all.extend(scenarios);
            }
            Err(e) => v.problems.push(Problem::of(&e)),
        }
    }
    // A name used twice across the files.
    if let Err(e) = config::check_unique_names(&all) {
        v.problems.push(Problem::of(&e));
    }
    v.files = files;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIX: &str = "axes: { runtime: [docker], version: [host], store: [vfs] }\n";
    const SCENARIO: &str = "name: s\nsummary: s\nsteps:\n  - id: l\n    list: x\n    expect:\n      - when: { runtime: podman }\n        names: []\n";

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn every_bad_file_is_reported_once_and_good_ones_not() {
        let dir = tree(&[
            ("matrix.yaml", MATRIX),
            ("scenarios/s.yaml", SCENARIO),
            (
                "scenarios/bad.yaml",
                "name: bad\nsummary: s\nsteps:\n  - id: l\n    lod: x\n",
            ),
            ("scenarios/worse.yml", "name: worse\nsteps: 5\n"),
            ("scenarios/notes.txt", "not yaml: ["),
        ]);
        let d = dir.path();
        let v = validate(&[d.join("matrix.yaml"), d.join("scenarios")], None);
        assert_eq!(v.files.len(), 4, "{:?}", v.files);
        let lines: Vec<String> = v.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].ends_with("bad.yaml:5:5: steps[0].lod: unknown field `lod`, expected one of id, load, tag, inspect, import, save, remove, list, push, pull, build, publish, expect, repeat, timeout, applies_to"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with("worse.yml:2:8: steps: expected sequence start"),
            "{}",
            lines[1]
        );
        assert_eq!(v.exit_code(), 2);
        // The matrix cross-check: the selector selects no cell of this matrix.
        assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
        assert!(v.warnings[0].contains("s.yaml:7:"), "{}", v.warnings[0]);
        assert_eq!(v.unchecked, None);
    }

    #[test]
    fn a_matrix_flag_names_the_matrix_whatever_its_name() {
        let dir = tree(&[("cells.yaml", MATRIX), ("s.yaml", SCENARIO)]);
        let d = dir.path();
        let v = validate(&[d.join("s.yaml")], Some(&d.join("cells.yaml")));
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.files[0], d.join("cells.yaml"));
        assert_eq!(v.warnings.len(), 1);
        assert_eq!(v.exit_code(), 0);
        // A bad matrix is a problem, and scenarios are then not cross-checked.
        std::fs::write(
            d.join("cells.yaml"),
            "axes: { runtime: [dockr], version: [host], store: [vfs] }\n",
        )
        .unwrap();
        let v = validate(&[d.join("s.yaml")], Some(&d.join("cells.yaml")));
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert_eq!(v.problems[0].field.as_deref(), Some("axes.runtime[0]"));
        assert!(v.unchecked.is_some());
    }

    #[test]
    fn a_missing_file_is_a_problem_at_the_start_of_the_file() {
        let v = validate(&[PathBuf::from("/nonexistent/x.yaml")], None);
        assert_eq!(v.problems.len(), 1);
        let p = &v.problems[0];
        assert_eq!((p.line, p.column, p.field.as_deref()), (1, 1, None));
        assert!(p.message.starts_with("cannot read file"), "{}", p.message);
        assert_eq!(v.exit_code(), 2);
    }
}
