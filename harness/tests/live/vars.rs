//! Scenario variables against the real runtimes: one scenario whose `tag` step writes
//! `example.test/${cell.runtime}:v1`, run on the host Docker and Podman cells through
//! `run::run_cell` (the runner both front doors use), tags each runtime's image with its own
//! name, and each cell's expectation (`found:` with the same variable) holds for that name.

use std::path::Path;

use harness::config::{RuntimeKind, parse_scenario};
use harness::run::Status;
use harness::steps::Observation;

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[live_test!(
    a_tag_step_with_variables_tags_each_cell_with_its_own_name,
    &["dockerd", "containerd", "podman"]
)];

const SCENARIO: &str = r#"name: vars
summary: a tag step whose references are made from the cell's variables
fixtures:
  img:
    layout: docker-archive
    name: example.test/vars-base:v1
    layers: [{ files: [{ path: etc/vars, content: "vars\n" }] }]
steps:
  - id: load
    load: img
  - id: tag
    tag:
      image: example.test/vars-base:v1
      refs:
        - ref: example.test/${cell.runtime}:v1
        - ref: "example.test/${scenario.name}:${cell.store}-${cell.version}"
    expect:
      - found: ["example.test/${cell.runtime}:v1", "example.test/vars:${cell.store}-${cell.version}"]
"#;

/// The names the tag step stored, per reference.
fn tagged_on(runtime: RuntimeKind, store: &str) -> Vec<(String, Vec<String>)> {
    let scenario = parse_scenario(SCENARIO, Path::new("vars.yaml")).unwrap();
    assert!(scenario.uses_variables());
    let cell = crate::host_cell(runtime, store);
    let result = crate::run_scenario_on(&scenario, &cell);
    assert_eq!(result.status, Status::Pass, "{}", result.snapshot_body);
    let Observation::Tag(tag) = &result.steps[1] else {
        panic!("{:?}", result.steps[1])
    };
    tag.tags
        .iter()
        .map(|t| (t.input.clone(), t.stored.clone()))
        .collect()
}

fn a_tag_step_with_variables_tags_each_cell_with_its_own_name() {
    let docker = tagged_on(RuntimeKind::Docker, "vfs");
    let podman = tagged_on(RuntimeKind::Podman, "vfs");
    eprintln!("docker tagged {docker:?}\npodman tagged {podman:?}");
    let inputs = |t: &[(String, Vec<String>)]| t.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>();
    assert_eq!(
        inputs(&docker),
        ["example.test/docker:v1", "example.test/vars:vfs-host"]
    );
    assert_eq!(
        inputs(&podman),
        ["example.test/podman:v1", "example.test/vars:vfs-host"]
    );
    // What each runtime stored is the name made for it.
    for (tagged, runtime) in [(&docker, "docker"), (&podman, "podman")] {
        let own = format!("example.test/{runtime}:v1");
        assert!(tagged[0].1.contains(&own), "{runtime}: {tagged:?}");
    }
    assert!(!docker[0].1.contains(&"example.test/podman:v1".to_string()));
}
