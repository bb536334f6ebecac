//! The `inspect` step kind against the real runtimes: after a load, an inspect by name finds
//! the image with its names and tells which digest its ID is (R1's ID semantics: the config
//! digest on Docker's classic store and on Podman, the manifest digest on containerd), and an
//! inspect of a name that is not there is `not-found`. The kind was added as one module plus
//! its registry line; this is its test against real daemons.

use std::path::Path;

use harness::config::{RuntimeKind, parse_scenario};
use harness::run::Status;
use harness::steps::Observation;
use harness::steps::inspect::InspectOutcome;
use harness::steps::observe::DigestRole;

use crate::LiveTest;

pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_inspect_reports_the_config_digest_as_id,
        &["dockerd", "containerd"]
    ),
    live_test!(podman_inspect_reports_the_config_digest_as_id, &["podman"]),
    live_test!(
        containerd_inspect_reports_the_manifest_digest_as_id,
        &["containerd"]
    ),
];

const SCENARIO: &str = r#"name: inspect-step
summary: inspect after load
fixtures:
  hybrid:
    layout: docker-oci-hybrid
    name: a.test/inspect:1
    layers: [{ files: [{ path: etc/inspect, content: "inspect\n" }] }]
steps:
  - id: load
    load: hybrid
  - id: inspect
    inspect: a.test/inspect:1
    expect:
      - outcome: found
        names: [a.test/inspect:1]
      - { when: { runtime: docker }, id_is: config }
      - { when: { runtime: podman }, id_is: config }
      - { when: { runtime: containerd }, id_is: manifest }
  - id: inspect-missing
    inspect: a.test/not-there:1
    expect:
      - outcome: not-found
"#;

fn inspect_on(runtime: RuntimeKind, store: &str, want: DigestRole) {
    let scenario = parse_scenario(SCENARIO, Path::new("inspect-step.yaml")).unwrap();
    let cell = crate::host_cell(runtime, store);
    let result = crate::run_scenario_on(&scenario, &cell);
    assert_eq!(result.status, Status::Pass, "{}", result.snapshot_body);
    let Observation::Inspect(found) = &result.steps[1] else {
        panic!("{:?}", result.steps[1])
    };
    assert_eq!(found.outcome, InspectOutcome::Found);
    let image = found.image.as_ref().unwrap();
    assert_eq!(image.id_is, Some(want), "{image:?}");
    assert_eq!(image.id, format!("{}(hybrid)", want.as_str()));
    let Observation::Inspect(missing) = &result.steps[2] else {
        panic!("{:?}", result.steps[2])
    };
    assert_eq!(missing.outcome, InspectOutcome::NotFound);
}

fn docker_inspect_reports_the_config_digest_as_id() {
    inspect_on(RuntimeKind::Docker, "vfs", DigestRole::Config);
}

fn podman_inspect_reports_the_config_digest_as_id() {
    inspect_on(RuntimeKind::Podman, "vfs", DigestRole::Config);
}

fn containerd_inspect_reports_the_manifest_digest_as_id() {
    inspect_on(RuntimeKind::Containerd, "native", DigestRole::Manifest);
}
