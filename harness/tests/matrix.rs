//! `harness matrix` through the binary on the repository's matrix.yaml: each format, the
//! shards (`--shard K/N`, the same selection `harness run --shard` makes) against the plan
//! (`--format github`), and the workflow's plan job calling exactly that command.
//!
//! Cells with a version are placed by the Debian package indexes (cached for a day in
//! `$XDG_CACHE_HOME/harness/index`, read with mmdebstrap otherwise), as a run places them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Runs the binary in the repository's root; returns stdout, asserting exit 0.
fn harness(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("the harness binary runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "harness {args:?}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The ids of matrix.yaml's cells, in matrix order, from the library.
fn all_ids() -> Vec<String> {
    harness::config::load_matrix(&repo().join("matrix.yaml"))
        .expect("matrix.yaml loads")
        .cells
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn json_ids(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).expect("JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_string())
        .collect()
}

fn github(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["matrix", "--format", "github"];
    full.extend_from_slice(args);
    let text = harness(&full);
    assert_eq!(
        text.lines().count(),
        1,
        "one line, for $GITHUB_OUTPUT: {text}"
    );
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let object = v.as_object().expect("an object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["include"]);
    v["include"].as_array().expect("include is a list").clone()
}

fn split(cells: &Value) -> Vec<String> {
    cells
        .as_str()
        .expect("cells is a string")
        .split(',')
        .map(str::to_string)
        .collect()
}

#[test]
fn table_lists_every_cell_with_its_root_and_shard() {
    let text = harness(&["matrix"]);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["CELL", "ROOT", "SHARD"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let ids: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(ids, all_ids());
    for r in &rows {
        assert_eq!(r.len(), 3, "{r:?}");
        // Host cells start from the runner's binaries; every other cell from a suite.
        assert_eq!(r[0].contains("-host-"), r[1] == "host", "{r:?}");
        assert!(r[2].contains('/'), "{r:?}");
    }
    // `cells` is the old name, kept.
    assert_eq!(harness(&["cells"]), text);
}

#[test]
fn json_is_the_cells_with_root_and_shard() {
    let text = harness(&["matrix", "--format", "json"]);
    assert_eq!(json_ids(&text), all_ids());
    let v: Value = serde_json::from_str(&text).unwrap();
    for c in v.as_array().unwrap() {
        for key in ["runtime", "version", "store", "root", "shard"] {
            assert!(c[key].is_string(), "{key} in {c}");
        }
    }
    let filtered = harness(&["matrix", "--format", "json", "--cell", "podman-*,*-ctr"]);
    let want: Vec<String> = all_ids()
        .into_iter()
        .filter(|id| id.starts_with("podman-") || id.ends_with("-ctr"))
        .collect();
    assert_eq!(json_ids(&filtered), want);
}

/// One job per root filesystem: every cell in exactly one job, each job's shard is its
/// position, the cells of a job share their root, and `suites` names the Debian ones.
#[test]
fn github_plans_one_job_per_root_filesystem() {
    let jobs = github(&[]);
    let roots: Vec<(String, String)> = {
        let v: Value = serde_json::from_str(&harness(&["matrix", "--format", "json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().into(),
                    c["root"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let root_of = |id: &str| roots.iter().find(|(i, _)| i == id).unwrap().1.clone();
    let mut seen = BTreeSet::new();
    let mut job_roots = BTreeSet::new();
    for (k, job) in jobs.iter().enumerate() {
        assert_eq!(job["shard"], format!("{}/{}", k + 1, jobs.len()));
        let cells = split(&job["cells"]);
        let root = root_of(&cells[0]);
        assert!(cells.iter().all(|c| root_of(c) == root), "{job}");
        assert!(job_roots.insert(root.clone()), "{root} in two jobs");
        assert_eq!(job["name"], format!("{}-{root}", k + 1));
        let suites: Vec<&str> = job["suites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        if root == "host" {
            assert!(suites.is_empty());
        } else {
            assert_eq!(suites, [root.as_str()]);
        }
        for c in cells {
            assert!(seen.insert(c.clone()), "{c} in two jobs");
        }
    }
    assert_eq!(seen, all_ids().into_iter().collect::<BTreeSet<_>>());
    assert!(job_roots.contains("host"));
    assert!(jobs.len() >= 2, "{jobs:?}");

    let capped = github(&["--max-jobs", "2"]);
    assert_eq!(capped.len(), 2);
    let union: BTreeSet<String> = capped.iter().flat_map(|j| split(&j["cells"])).collect();
    assert_eq!(union, seen);
}

/// `--shard K/N` over every K is a partition of the selection (after `--cell` filters), and
/// with N the plan's job count, shard K is the plan's job K.
#[test]
fn shards_partition_the_selection_and_match_the_plan() {
    for filter in [None, Some("docker-*")] {
        let mut base = vec!["matrix", "--format", "json"];
        if let Some(f) = filter {
            base.extend(["--cell", f]);
        }
        let selection: BTreeSet<String> = json_ids(&harness(&base)).into_iter().collect();
        for n in 1..=5 {
            let mut union = BTreeSet::new();
            for k in 1..=n {
                let shard = format!("{k}/{n}");
                let mut args = base.clone();
                args.extend(["--shard", &shard]);
                for id in json_ids(&harness(&args)) {
                    assert!(union.insert(id.clone()), "{id} in two shards of {n}");
                }
            }
            assert_eq!(union, selection, "filter {filter:?}, N={n}");
        }
        let mut plan_args = vec![];
        if let Some(f) = filter {
            plan_args.extend(["--cell", f]);
        }
        for job in github(&plan_args) {
            let shard = job["shard"].as_str().unwrap().to_string();
            let mut args = base.clone();
            args.extend(["--shard", &shard]);
            assert_eq!(json_ids(&harness(&args)), split(&job["cells"]), "{shard}");
        }
    }
}

/// The plan job of `.github/workflows/compat.yml` runs `harness matrix --format github`
/// verbatim into its `matrix` output, and the matrix job takes its strategy from it.
#[test]
fn the_workflow_plans_with_harness_matrix() {
    let workflow = std::fs::read_to_string(repo().join(".github/workflows/compat.yml"))
        .expect("the workflow exists");
    let command = "harness matrix --matrix matrix.yaml --format github";
    let line = workflow
        .lines()
        .find(|l| l.contains(command))
        .unwrap_or_else(|| panic!("no {command:?} in the workflow"));
    assert!(
        line.contains(">> \"$GITHUB_OUTPUT\"") && line.contains("matrix="),
        "{line}"
    );
    assert!(workflow.contains("matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}"));
    assert!(workflow.contains("--shard \"$SHARD\""));
    // The same command, here, prints a plan.
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    assert!(!harness(&args).is_empty());
}

/// Runs the binary with `CI` unset; returns (exit code, the --json document, stderr).
fn run_shard(cells: &str, shard: &str) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            "scenarios/podman3.yaml",
            "--cell",
            cells,
            "--shard",
            shard,
        ])
        .arg("--json")
        .arg(&json)
        .current_dir(repo())
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .output()
        .expect("the harness binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = std::fs::read_to_string(&json)
        .map(|t| serde_json::from_str(&t).expect("results JSON"))
        .unwrap_or(Value::Null);
    (out.status.code(), doc, stderr)
}

fn result_cells(doc: &Value) -> Vec<String> {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["cell"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// `harness run --shard` runs what `harness matrix --shard` lists, after the `--cell`
/// filters: of a host cell and a bullseye cell, shard 2/2 is the bullseye one (a real
/// daemon, Docker 20.10.5 from bullseye's root filesystem); of the host cell alone, shard 2/2
/// is empty, and an empty shard runs nothing and passes.
#[test]
fn run_takes_the_shard_after_the_cell_filters() {
    let cells = "docker-host-vfs,docker-20*";
    let listed = json_ids(&harness(&[
        "matrix", "--format", "json", "--cell", cells, "--shard", "2/2",
    ]));
    assert_eq!(listed, ["docker-20.10.5-overlay2"]);
    let (code, doc, stderr) = run_shard(cells, "2/2");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(result_cells(&doc), listed, "{stderr}");
    assert!(
        stderr.contains("shard 2/2: 1 of 2 cells: docker-20.10.5-overlay2"),
        "{stderr}"
    );

    let (code, doc, stderr) = run_shard("docker-host-vfs", "2/2");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(result_cells(&doc).is_empty(), "{doc}");
    assert!(stderr.contains("shard 2/2: 0 of 1 cells: none"), "{stderr}");

    let (code, _, stderr) = run_shard("docker-host-vfs", "3/2");
    assert_eq!(code, Some(2), "{stderr}");
}
