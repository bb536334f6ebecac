//! The `save`, `remove` and `list` step kinds and produced fixtures, through the runner,
//! against real daemons: the host's (Docker 20.10, Podman 4.3, containerd 1.6 here) and the
//! Debian suites' where the behaviour differs by version (Docker 26.1's OCI hybrid and its
//! containerd store, Podman 3.0's remove report). Every archive a save writes is read back by
//! `harness inspect`'s oracles inside the step; these tests check the layout class and names
//! each runtime and version writes, and that a format a driver does not offer is a skipped
//! step.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use harness::config::{Cell, RuntimeKind, load_scenario};
use harness::run::{self, CellResult, Fixtures, RunOptions, SnapshotMode, Status};
use harness::steps::Observation;
use harness::steps::remove::RemoveWord;
use harness::steps::save::{SaveObservation, SaveOutcome};

use crate::LiveTest;

const DEBIAN: &[&str] = &["mmdebstrap", "unshare", "nsenter", "chroot"];

pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_host_saves_a_docker_archive_and_offers_no_oci_archive,
        &["dockerd", "containerd"]
    ),
    live_test!(
        podman_host_saves_both_formats_and_refuses_a_multi_image_oci_archive,
        &["podman"]
    ),
    live_test!(containerd_save_is_a_skipped_step, &["containerd"]),
    live_test!(docker_26_1_from_trixie_saves_the_oci_hybrid, DEBIAN),
    live_test!(
        docker_26_1_containerd_store_saves_the_containerd_hybrid,
        DEBIAN
    ),
    live_test!(podman_3_0_from_bullseye_untags_and_deletes, DEBIAN),
    live_test!(
        a_produced_fixture_is_shared_by_scenarios_and_loads_everywhere,
        &["dockerd", "containerd", "podman"]
    ),
    live_test!(
        a_refused_build_skips_every_consuming_cell_with_the_reason,
        &["dockerd", "containerd"]
    ),
];

const SCENARIO: &str = r#"name: save-step
summary: save in both formats, list, remove
fixtures:
  base:
    layout: docker-archive
    names: [example.test/live-save:v1, example.test/live-save:v2]
    layers: [{ files: [{ path: etc/live, content: "live\n" }] }]
steps:
  - id: load
    load: base
  - id: save-docker
    save: { images: [example.test/live-save:v1], format: docker-archive }
  - id: save-oci
    save: { images: [example.test/live-save:v1], format: oci-archive }
  - id: save-oci-two
    save: { images: [example.test/live-save:v1, example.test/live-save:v2], format: oci-archive }
  - id: list
    list: example.test/live-save
    expect:
      - names: [example.test/live-save:v1, example.test/live-save:v2]
  - id: rm-v2
    remove: example.test/live-save:v2
    expect:
      - outcome: removed
        names_removed: [example.test/live-save:v2]
        image_gone: false
  - id: rm-v1
    remove: example.test/live-save:v1
    expect:
      - outcome: removed
        image_gone: true
  - id: rm-again
    remove: example.test/live-save:v1
    expect:
      - outcome: not-found
"#;

fn cell(runtime: RuntimeKind, version: &str, store: &str, suite: Option<&str>) -> Cell {
    let mut extra = BTreeMap::new();
    if let Some(suite) = suite {
        extra.insert("provider".to_string(), "debian".to_string());
        extra.insert("suite".to_string(), suite.to_string());
    }
    Cell {
        id: format!("{runtime}-{version}-{store}"),
        runtime,
        version: version.into(),
        store: store.into(),
        builder: None,
        api: None,
        extra,
    }
}

/// Runs the scenario files in `dir` on `cells` through the runner (as `harness run` does),
/// under CI rules: a runtime that is missing is an error, never a silent pass.
fn run_in(dir: &Path, files: &[(&str, &str)], cells: &[Cell]) -> Vec<(CellResult, Arc<Fixtures>)> {
    let mut prepared = Vec::new();
    for (name, yaml) in files {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let scenario = Arc::new(load_scenario(&path).unwrap());
        let fixtures = Arc::new(Fixtures::craft(&scenario).unwrap());
        prepared.push((scenario, fixtures));
    }
    let opts = RunOptions {
        snapshots: SnapshotMode::Ignore,
        snapshot_dir: dir.join("snapshots"),
        jobs: 3,
        ci: true,
        step_timeout: run::DEFAULT_STEP_TIMEOUT,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(run::run_all(&prepared, cells, &opts, Arc::new(|_| {})));
    results
        .into_iter()
        .map(|r| {
            let f = prepared
                .iter()
                .find(|(s, _)| s.name == r.scenario)
                .unwrap()
                .1
                .clone();
            (r, f)
        })
        .collect()
}

fn one(runtime: RuntimeKind, version: &str, store: &str, suite: Option<&str>) -> CellResult {
    let dir = tempfile::tempdir().unwrap();
    let mut results = run_in(
        dir.path(),
        &[("save-step", SCENARIO)],
        &[cell(runtime, version, store, suite)],
    );
    let (result, _) = results.remove(0);
    assert_eq!(
        result.status,
        Status::Pass,
        "{}\n{}",
        result.name(),
        result.snapshot_body
    );
    result
}

fn save<'a>(result: &'a CellResult, id: &str) -> Option<&'a SaveObservation> {
    match result.steps.iter().find(|s| s.id() == id)? {
        Observation::Save(s) => Some(s),
        Observation::Skipped(_) => None,
        other => panic!("{id}: {other:?}"),
    }
}

fn layout(result: &CellResult, id: &str) -> Option<String> {
    save(result, id).and_then(|s| s.archive.as_ref().map(|a| a.layout.clone()))
}

fn docker_host_saves_a_docker_archive_and_offers_no_oci_archive() {
    let r = one(RuntimeKind::Docker, "host", "vfs", None);
    // Docker 20.10 (the host here) writes the classic layout; >= 25 would be the hybrid.
    let version = &r.runtime.as_ref().unwrap().version;
    let want = if version.starts_with("20.") || version.starts_with("24.") {
        "docker-archive"
    } else {
        "docker-oci-hybrid"
    };
    assert_eq!(layout(&r, "save-docker").as_deref(), Some(want));
    let saved = save(&r, "save-docker").unwrap();
    assert_eq!(
        saved.archive.as_ref().unwrap().names,
        ["example.test/live-save:v1"]
    );
    assert!(save(&r, "save-oci").is_none(), "docker save has one format");
}

fn podman_host_saves_both_formats_and_refuses_a_multi_image_oci_archive() {
    let r = one(RuntimeKind::Podman, "host", "vfs", None);
    assert_eq!(layout(&r, "save-docker").as_deref(), Some("docker-archive"));
    assert_eq!(layout(&r, "save-oci").as_deref(), Some("oci-archive"));
    let oci = save(&r, "save-oci").unwrap();
    // An oci-archive carries the name only in ref.name, as podman writes it (the full name).
    let image = &oci.archive.as_ref().unwrap().images[0];
    assert_eq!(image.ref_names, ["example.test/live-save:v1"]);
    let two = save(&r, "save-oci-two").unwrap();
    assert_eq!(two.outcome, SaveOutcome::Error);
    assert!(
        two.error
            .as_ref()
            .unwrap()
            .message
            .contains("multi-image archives must use format of docker-archive"),
        "{two:?}"
    );
}

fn containerd_save_is_a_skipped_step() {
    let r = one(RuntimeKind::Containerd, "host", "overlayfs", None);
    for id in ["save-docker", "save-oci", "save-oci-two"] {
        let Some(Observation::Skipped(s)) = r.steps.iter().find(|s| s.id() == id) else {
            panic!("{id} must be skipped: {}", r.snapshot_body)
        };
        assert!(
            s.skipped.contains("not offered by the containerd driver"),
            "{s:?}"
        );
    }
}

fn docker_26_1_from_trixie_saves_the_oci_hybrid() {
    let r = one(RuntimeKind::Docker, "26.1", "overlay2", Some("trixie"));
    assert_eq!(
        layout(&r, "save-docker").as_deref(),
        Some("docker-oci-hybrid")
    );
    let codes: Vec<&str> = save(&r, "save-docker")
        .unwrap()
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    // R5: every layer in LayerSources, uncompressed; R1: the tag alone in ref.name.
    assert!(codes.contains(&"layer-sources-uncompressed"), "{codes:?}");
    assert!(codes.contains(&"ref-name-tag-only"), "{codes:?}");
}

fn docker_26_1_containerd_store_saves_the_containerd_hybrid() {
    let r = one(RuntimeKind::Docker, "26.1", "containerd", Some("trixie"));
    assert_eq!(
        layout(&r, "save-docker").as_deref(),
        Some("containerd-hybrid")
    );
}

fn podman_3_0_from_bullseye_untags_and_deletes() {
    let r = one(RuntimeKind::Podman, "3.0", "overlay", Some("bullseye"));
    let Some(Observation::Remove(untag)) = r.steps.iter().find(|s| s.id() == "rm-v2") else {
        panic!("{}", r.snapshot_body)
    };
    assert_eq!(untag.outcome, RemoveWord::Removed);
    // Podman 3.0 reports an untag with one empty `Deleted` entry (4.x reports none).
    assert_eq!(untag.deleted, [""], "{untag:?}");
    assert_eq!(layout(&r, "save-oci").as_deref(), Some("oci-archive"));
}

const PRODUCED: &str = r#"name: NAME
summary: a produced fixture loaded into every cell
fixtures:
  base:
    layout: docker-archive
    name: example.test/live-produced-base:v1
    layers: [{ files: [{ path: etc/live, content: "produced\n" }] }]
  by-podman:
    produced_by: { runtime: podman, store: vfs }
    load: base
    tag: example.test/live-produced:v1
    save: oci-archive
steps:
  - id: load
    load: by-podman
    expect:
      - outcome: loaded
"#;

fn a_produced_fixture_is_shared_by_scenarios_and_loads_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let a = PRODUCED.replace("NAME", "produced-a");
    let b = PRODUCED.replace("NAME", "produced-b");
    let cells = [
        cell(RuntimeKind::Docker, "host", "vfs", None),
        cell(RuntimeKind::Podman, "host", "vfs", None),
        cell(RuntimeKind::Containerd, "host", "native", None),
    ];
    let started = std::time::Instant::now();
    let results = run_in(
        dir.path(),
        &[("produced-a", &a), ("produced-b", &b)],
        &cells,
    );
    let took = started.elapsed();
    let mut artifacts = Vec::new();
    for (r, fixtures) in &results {
        let artifact = fixtures.produced_artifact("by-podman").expect("produced");
        artifacts.push(artifact);
        // Docker 20.10 refuses an oci-archive (no manifest.json); the others load it.
        let Some(Observation::Load(load)) = r.steps.first() else {
            panic!("{}", r.snapshot_body)
        };
        eprintln!(
            "{}: {:?} {:?}",
            r.name(),
            load.outcome,
            load.images.iter().map(|i| &i.names).collect::<Vec<_>>()
        );
        if r.cell.runtime != RuntimeKind::Docker {
            assert_eq!(r.status, Status::Pass, "{}\n{}", r.name(), r.snapshot_body);
        }
    }
    // Two scenarios, three cells each, one artifact: every cell got the same one.
    let first = &artifacts[0];
    assert!(artifacts.iter().all(|a| Arc::ptr_eq(a, first)));
    assert_eq!(first.facts.layout, harness::craft::LayoutKind::OciArchive);
    eprintln!(
        "produced in {} ms (cache hit: {}), six cells in {took:.1?}",
        first.produce_ms, first.cache_hit
    );
}

fn a_refused_build_skips_every_consuming_cell_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("contexts/refused");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nRUN [\"/no/such/binary\"]\n",
    )
    .unwrap();
    let yaml = r#"name: refused
summary: a producer whose build fails
fixtures:
  built:
    produced_by: { runtime: docker, store: vfs }
    build: refused
    tag: example.test/live-refused:v1
steps:
  - id: load
    load: built
"#;
    let cells = [
        cell(RuntimeKind::Docker, "host", "vfs", None),
        cell(RuntimeKind::Containerd, "host", "native", None),
    ];
    let results = run_in(dir.path(), &[("refused", yaml)], &cells);
    for (r, _) in &results {
        let Status::Skip { reason } = &r.status else {
            panic!("{}: {:?}", r.name(), r.status)
        };
        assert!(
            reason.starts_with(
                "produced fixture (by docker host vfs): the build of contexts/refused was refused"
            ),
            "{reason}"
        );
        assert!(r.steps.is_empty(), "nothing ran on a consuming cell");
    }
}
