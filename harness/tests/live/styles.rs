//! The reference styles against the real runtimes: tag an image with each input, list the
//! store, and demand exactly what `harness::reference::stored` predicts for that runtime's
//! style: the stored name, or a refusal. Divergences fail here; the reference-expand
//! scenario reports the same comparison as findings.

use harness::config::RuntimeKind;
use harness::craft::{LayoutKind, write_archive_to_path};
use harness::runtime::{LoadOutcome, TagOutcome, start_instance};

use crate::{LiveTest, fixture, names};

/// Inputs covering every rule R4 names: domains with dots, ports and localhost, bare and
/// two-component names, docker.io and its legacy index name, uppercase in names and tags,
/// tag plus digest, a 64-hex ID and plain garbage.
const INPUTS: &[&str] = &[
    "bastion.io/foo:local",
    "localhost:5000/foo",
    "localhost/foo",
    "foo",
    "library/foo",
    "user/foo",
    "docker.io/foo",
    "index.docker.io/foo",
    "docker.io/bastion.io/foo:local",
    "Foo/bar",
    "FOO",
    "foo:Tag",
    "foo:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "foo@@bar",
];

/// Tags a loaded image with every input on `runtime` and compares with the model of its style
/// for the version the daemon reports.
fn check_style(runtime: RuntimeKind, store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("base.tar");
    let spec = fixture(
        LayoutKind::DockerOciHybrid,
        Some("example.test/style-base:v1"),
        None,
        "style\n",
    );
    write_archive_to_path(&spec, &archive).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let instance = start_instance(runtime, store).await.unwrap();
        let rt = instance.runtime.as_ref();
        assert!(matches!(
            rt.load_image(&archive).await.unwrap(),
            LoadOutcome::Loaded { .. }
        ));
        let source = rt
            .inspect_image("example.test/style-base:v1")
            .await
            .unwrap()
            .expect("loaded")
            .id;
        let mut wrong = Vec::new();
        for input in INPUTS {
            let before = names(rt).await;
            let outcome = rt.tag_image(&source, input).await.unwrap();
            let added: Vec<String> = names(rt).await.difference(&before).cloned().collect();
            let model = instance.facts.reference.stored(input);
            let agrees = match (&outcome, &model) {
                (TagOutcome::Tagged, Ok(name)) => added == [name.clone()],
                (TagOutcome::Error(_), Err(_)) => true,
                _ => false,
            };
            if !agrees {
                wrong.push(format!(
                    "{input:?}: runtime {outcome:?} added {added:?}; model {model:?}"
                ));
            }
            for name in &added {
                assert_eq!(
                    rt.untag_image(&source, name).await.unwrap(),
                    TagOutcome::Tagged,
                    "untag {name}"
                );
            }
        }
        let instance_version = instance.info.version.clone();
        assert!(instance.shutdown().problems.is_empty());
        assert!(
            wrong.is_empty(),
            "{runtime} {} differs from the model of its style:\n{}",
            instance_version,
            wrong.join("\n")
        );
    });
}

fn podman_stores_what_the_podman_style_predicts() {
    check_style(RuntimeKind::Podman, "vfs");
}

fn docker_stores_what_the_docker_style_predicts() {
    check_style(RuntimeKind::Docker, "vfs");
}

fn containerd_stores_what_the_containerd_style_predicts() {
    check_style(RuntimeKind::Containerd, "overlayfs");
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(podman_stores_what_the_podman_style_predicts, &["podman"]),
    live_test!(
        docker_stores_what_the_docker_style_predicts,
        &["dockerd", "containerd"]
    ),
    live_test!(
        containerd_stores_what_the_containerd_style_predicts,
        &["containerd"]
    ),
];
