//! The local registry and the push / pull operations against real daemons: the registry starts
//! on loopback and leaves nothing behind; dockerd of every version treats it as insecure with
//! no configuration; each driver (Docker Engine API, libpod, containerd's Transfer service,
//! the `ctr` CLI) pushes a crafted image and pulls it back; a multi-platform index is pushed and
//! pulled by Docker's containerd store (26.1, 28.5) and by containerd (Transfer on 1.7 and 2.1,
//! ctr on every version), with what landed in the registry read back; and R3 (a push after a
//! single-platform pull, containerd/nerdctl#3425) is tried with every ctr version.
//!
//! What each test saw is printed (`--nocapture`), because what landed per version is the result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use harness::craft::{FileSpec, FixtureSpec, LayerSpec, LayoutKind, write_archive_to_path};
use harness::runtime::ctr::{CtrDriver, CtrOptions};
use harness::runtime::docker::DockerDriver;
use harness::runtime::provider::{self, InstanceSpec};
use harness::runtime::registry::{Landed, Registry};
use harness::runtime::{
    Instance, LoadOutcome, PullOutcome, PullRequest, PushOutcome, PushRequest, Runtime, RuntimeKind,
};

use crate::LiveTest;

const REGISTRY: &[&str] = &["docker-registry"];
const DEBIAN: &[&str] = &[
    "docker-registry",
    "mmdebstrap",
    "unshare",
    "nsenter",
    "chroot",
];

pub const TESTS: &[LiveTest] = &[
    live_test!(registry_starts_on_loopback_and_leaves_nothing, REGISTRY),
    live_test!(an_export_is_what_landed_byte_for_byte, REGISTRY),
    live_test!(a_panic_with_a_registry_up_leaves_nothing, REGISTRY),
    live_test!(
        ctrl_c_while_a_cells_registry_is_up_leaves_nothing,
        &["docker-registry", "podman"]
    ),
    live_test!(
        docker_host_pushes_and_pulls_a_single_manifest,
        &["docker-registry", "dockerd", "containerd"]
    ),
    live_test!(
        podman_host_pushes_with_each_compression_and_pulls,
        &["docker-registry", "podman"]
    ),
    live_test!(
        containerd_grpc_push_without_transfer_service_is_unsupported,
        &["docker-registry", "containerd"]
    ),
    live_test!(
        ctr_host_imports_pushes_and_pulls,
        &["docker-registry", "containerd", "ctr"]
    ),
    live_test!(dockerd_treats_loopback_as_insecure_on_every_version, DEBIAN),
    live_test!(podman_push_compression_per_version, DEBIAN),
    live_test!(multi_platform_index_push_and_pull_per_version, DEBIAN),
    live_test!(r3_push_after_single_platform_pull_per_ctr_version, DEBIAN),
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A fixture named `name`: one shared layer, plus one layer of its own for every platform but
/// the first (so a platform that was never pulled has content of its own to miss); an index
/// when `platforms` has entries.
fn spec(layout: LayoutKind, name: &str, platforms: &[&str]) -> FixtureSpec {
    let layer = |path: &str, content: String, platform: Option<&str>| LayerSpec {
        files: vec![FileSpec::new(path, content)],
        platform: platform.map(String::from),
        ..Default::default()
    };
    let mut layers = vec![layer("etc/registry", format!("{name}\n"), None)];
    for p in platforms.iter().skip(1) {
        layers.push(layer("etc/platform", format!("{p}\n"), Some(p)));
    }
    FixtureSpec {
        name: Some(name.into()),
        platforms: (!platforms.is_empty())
            .then(|| platforms.iter().map(|p| p.to_string()).collect()),
        ..FixtureSpec::new(layout, layers)
    }
}

/// Crafts `spec` into `dir` and returns the archive's path.
fn craft(dir: &Path, spec: &FixtureSpec) -> PathBuf {
    let path = dir.join("fixture.tar");
    write_archive_to_path(spec, &path).unwrap();
    path
}

async fn load(rt: &dyn Runtime, archive: &Path) {
    match rt.load_image(archive).await.unwrap() {
        LoadOutcome::Loaded { .. } => {}
        LoadOutcome::Error(e) => panic!("load refused: {e:?}"),
    }
}

/// Pushes `source` to `<registry>/<repo_tag>` and reads back what landed.
async fn push(
    rt: &dyn Runtime,
    registry: &Registry,
    source: &str,
    repo_tag: &str,
    platform: Option<&str>,
    compression: Option<&str>,
) -> (PushOutcome, Option<Landed>) {
    let request = PushRequest {
        source: source.into(),
        destination: registry.reference(repo_tag),
        platform: platform.map(String::from),
        all_platforms: false,
        compression: compression.map(String::from),
    };
    let outcome = rt.push_image(&request).await.unwrap();
    let (repo, tag) = repo_tag.split_once(':').unwrap();
    let landed = registry.client().landed(repo, tag).await.unwrap();
    (outcome, landed)
}

async fn pull(
    rt: &dyn Runtime,
    registry: &Registry,
    repo_tag: &str,
    platform: Option<&str>,
) -> PullOutcome {
    let request = PullRequest {
        reference: registry.reference(repo_tag),
        platform: platform.map(String::from),
        all_platforms: false,
    };
    rt.pull_image(&request).await.unwrap()
}

fn show(what: &str, landed: &Option<Landed>) {
    match landed {
        None => eprintln!("{what}: nothing landed"),
        Some(l) => {
            eprintln!("{what}: landed {} {}", l.media_type, l.digest);
            for m in &l.manifests {
                eprintln!(
                    "    {} {} {:?} present={}",
                    m.media_type, m.digest, m.platform, m.present
                );
            }
            if !l.layers.is_empty() {
                eprintln!("    layers {:?}", l.layers);
            }
        }
    }
}

fn host(runtime: RuntimeKind, store: &str) -> InstanceSpec {
    InstanceSpec::new(runtime, store)
}

fn debian(runtime: RuntimeKind, version: &str, store: &str, suite: &str) -> InstanceSpec {
    InstanceSpec {
        provider: "debian".into(),
        version: version.into(),
        options: [
            ("provider".to_string(), "debian".to_string()),
            ("suite".to_string(), suite.to_string()),
        ]
        .into(),
        ..InstanceSpec::new(runtime, store)
    }
}

async fn start(spec: &InstanceSpec) -> Instance {
    provider::for_spec(spec)
        .unwrap()
        .start(spec)
        .await
        .unwrap_or_else(|e| panic!("{spec:?}: {}", harness::run::error_chain(&e)))
}

fn registry_starts_on_loopback_and_leaves_nothing() {
    let rt = runtime();
    let host_storage = Path::new("/var/lib/docker-registry");
    let before = host_storage.exists();
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let registry = rt.block_on(Registry::start()).unwrap();
        times.push(started.elapsed());
        assert!(registry.addr().ip().is_loopback());
        assert!(rt.block_on(registry.client().ping()));
        assert!(registry.root().join("storage").is_dir());
        let root = registry.root().to_path_buf();
        let report = registry.shutdown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(!root.exists(), "the registry's root is removed");
        assert!(
            crate::processes_mentioning(&root).is_empty(),
            "no registry process survives"
        );
    }
    assert_eq!(
        host_storage.exists(),
        before,
        "the package's storage is never created"
    );
    eprintln!("registry ready in {times:?}");
}

/// The members `blobs/sha256/*` and `index.json` of an OCI layout archive.
fn layout_members(path: &Path) -> (Vec<u8>, std::collections::BTreeMap<String, Vec<u8>>) {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    let (mut index, mut blobs) = (Vec::new(), std::collections::BTreeMap::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        match name.strip_prefix("blobs/sha256/") {
            Some(hex) => {
                blobs.insert(format!("sha256:{hex}"), bytes);
            }
            None if name == "index.json" => index = bytes,
            None => {}
        }
    }
    (index, blobs)
}

/// `registry::export` writes what a tag points at, byte for byte: a crafted two-platform
/// index is put into the registry through its API (blobs, then the child manifests by digest,
/// then the index by tag), exported, and the export holds exactly the crafted archive's blobs
/// with the index as its one `index.json` entry; `harness inspect`'s oracles find nothing
/// wrong in it, and the same landed bytes give the same archive twice.
fn an_export_is_what_landed_byte_for_byte() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let crafted = craft(
        dir.path(),
        &spec(
            LayoutKind::OciArchive,
            "example.test/export:v1",
            &["linux/amd64", "linux/arm64"],
        ),
    );
    let (index, blobs) = layout_members(&crafted);
    let top: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let top = &top["manifests"][0];
    let top_digest = top["digest"].as_str().unwrap().to_string();
    let top_type = top["mediaType"].as_str().unwrap().to_string();
    let children: Vec<String> = serde_json::from_slice::<serde_json::Value>(&blobs[&top_digest])
        .unwrap()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(children.len(), 2, "an index of two platforms");
    let registry = rt.block_on(Registry::start()).unwrap();
    let client = registry.client();
    let exported = rt.block_on(async {
        for (digest, bytes) in &blobs {
            if *digest != top_digest && !children.contains(digest) {
                client
                    .put_blob("export", digest, bytes.clone().into())
                    .await
                    .unwrap();
            }
        }
        for child in &children {
            client
                .put_manifest(
                    "export",
                    child,
                    "application/vnd.oci.image.manifest.v1+json",
                    blobs[child].clone().into(),
                )
                .await
                .unwrap();
        }
        client
            .put_manifest("export", "v1", &top_type, blobs[&top_digest].clone().into())
            .await
            .unwrap();
        let mut out = Vec::new();
        for n in ["a.tar", "b.tar"] {
            let path = dir.path().join(n);
            let e = harness::runtime::registry::export::export_layout(
                &client,
                "export",
                "v1",
                "example.test/export:v1",
                &path,
            )
            .await
            .unwrap();
            assert_eq!(e.digest, top_digest);
            assert_eq!(e.media_type, top_type);
            out.push(path);
        }
        out
    });
    let _ = registry.shutdown();
    let (got_index, got_blobs) = layout_members(&exported[0]);
    assert_eq!(
        got_blobs, blobs,
        "the export holds every blob the crafted index has, byte for byte"
    );
    let got: serde_json::Value = serde_json::from_slice(&got_index).unwrap();
    assert_eq!(got["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(got["manifests"][0]["digest"], top_digest.as_str());
    assert_eq!(
        got["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "example.test/export:v1"
    );
    assert_eq!(
        std::fs::read(&exported[0]).unwrap(),
        std::fs::read(&exported[1]).unwrap(),
        "deterministic"
    );
    let inspection = harness::verify::inspect_path(&exported[0]).unwrap();
    let errors: Vec<_> = inspection
        .findings
        .iter()
        .filter(|f| f.severity == harness::verify::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

fn a_panic_with_a_registry_up_leaves_nothing() {
    let tmp = tempfile::Builder::new()
        .prefix("hxr-")
        .tempdir_in("/tmp")
        .unwrap();
    // SAFETY: this test binary runs each test in its own process under nextest.
    unsafe { std::env::set_var("TMPDIR", tmp.path()) };
    let result = std::panic::catch_unwind(|| {
        let rt = runtime();
        let registry = rt.block_on(Registry::start()).unwrap();
        assert!(registry.root().starts_with(tmp.path()));
        panic!("a step panicked with the registry up");
    });
    assert!(result.is_err());
    crate::assert_clean(tmp.path());
}

/// `harness run` of a push followed by many pulls (each refused quickly), interrupted once the
/// cell's registry is up: the signal handler tears the registry down with the instance.
fn ctrl_c_while_a_cells_registry_is_up_leaves_nothing() {
    let project = tempfile::tempdir().unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("hxr-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::create_dir_all(project.path().join("scenarios")).unwrap();
    std::fs::write(
        project.path().join("matrix.yaml"),
        "axes:\n  runtime: [podman]\n  version: [host]\n  store: [overlay]\n",
    )
    .unwrap();
    let mut yaml = String::from(
        "name: interrupt\nsummary: push, then pull a tag that is not there, many times\n\
         fixtures:\n  one:\n    layout: docker-oci-hybrid\n    name: example.test/one:v1\n    \
         layers:\n      - files: [{ path: etc/one, content: \"one\\n\" }]\n\
         steps:\n  - id: load\n    load: one\n  - id: push\n    push: { image: example.test/one:v1, to: one:v1 }\n",
    );
    for i in 0..300 {
        yaml.push_str(&format!(
            "  - id: pull-{i}\n    pull: {{ from: one:missing }}\n"
        ));
    }
    std::fs::write(project.path().join("scenarios/interrupt.yaml"), yaml).unwrap();
    let mut child = crate::harness_cmd(project.path(), tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let up = crate::wait_for_instance(
        &mut child,
        tmp.path(),
        "registry.log",
        std::time::Duration::from_secs(60),
        || true,
    );
    assert!(up, "the cell's registry never came up");
    crate::interrupt(child, nix::sys::signal::Signal::SIGINT);
    crate::assert_clean(tmp.path());
}

fn docker_host_pushes_and_pulls_a_single_manifest() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let archive = craft(
        tmp.path(),
        &spec(LayoutKind::DockerOciHybrid, "example.test/push:v1", &[]),
    );
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        let instance = start(&host(RuntimeKind::Docker, "overlay2")).await;
        let d = instance.runtime.as_ref();
        load(d, &archive).await;
        let (outcome, landed) =
            push(d, &registry, "example.test/push:v1", "push:v1", None, None).await;
        eprintln!("docker {}: {outcome:?}", instance.info.version);
        show("docker push", &landed);
        let PushOutcome::Pushed { digest, .. } = &outcome else {
            panic!("{outcome:?}")
        };
        let landed = landed.expect("the push landed");
        assert_eq!(
            digest.as_deref(),
            Some(landed.digest.as_str()),
            "the reported digest is what landed"
        );
        // Pull it back under its registry name, which the push did not leave behind.
        let name = registry.reference("push:v1");
        assert!(
            d.inspect_image(&name).await.unwrap().is_none(),
            "push leaves no name"
        );
        let pulled = pull(d, &registry, "push:v1", None).await;
        eprintln!("docker pull: {pulled:?}");
        assert!(matches!(pulled, PullOutcome::Pulled { .. }), "{pulled:?}");
        let image = d.inspect_image(&name).await.unwrap().expect("pulled");
        eprintln!("pulled image: {image:?}");
        // A pull of a tag that is not there is a refusal, not a broken daemon.
        let missing = pull(d, &registry, "push:nope", None).await;
        assert!(matches!(missing, PullOutcome::Error(_)), "{missing:?}");
        eprintln!("missing tag: {missing:?}");
        drop(instance);
        registry.shutdown();
    });
}

fn podman_host_pushes_with_each_compression_and_pulls() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let archive = craft(
        tmp.path(),
        &spec(LayoutKind::DockerOciHybrid, "example.test/push:v1", &[]),
    );
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        let instance = start(&host(RuntimeKind::Podman, "overlay")).await;
        let p = instance.runtime.as_ref();
        load(p, &archive).await;
        for (tag, compression) in [
            ("default", None),
            ("gzip", Some("gzip")),
            ("zstd", Some("zstd")),
        ] {
            let (outcome, landed) = push(
                p,
                &registry,
                "example.test/push:v1",
                &format!("push-{tag}:v1"),
                None,
                compression,
            )
            .await;
            eprintln!("podman {} push {tag}: {outcome:?}", instance.info.version);
            show("podman push", &landed);
            assert!(matches!(outcome, PushOutcome::Pushed { .. }), "{outcome:?}");
            assert!(landed.is_some());
        }
        let pulled = pull(p, &registry, "push-default:v1", None).await;
        eprintln!("podman pull: {pulled:?}");
        assert!(matches!(pulled, PullOutcome::Pulled { .. }), "{pulled:?}");
        let image = p
            .inspect_image(&registry.reference("push-default:v1"))
            .await
            .unwrap()
            .expect("pulled");
        eprintln!("pulled image: {image:?}");
        drop(instance);
        registry.shutdown();
    });
}

fn containerd_grpc_push_without_transfer_service_is_unsupported() {
    let rt = runtime();
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        let instance = start(&host(RuntimeKind::Containerd, "native")).await;
        let c = instance.runtime.as_ref();
        let request = PushRequest {
            source: "example.test/none:v1".into(),
            destination: registry.reference("none:v1"),
            platform: None,
            all_platforms: false,
            compression: None,
        };
        match c.push_image(&request).await {
            // containerd 1.6 (the host's here) has no Transfer service.
            Err(e) if e.unsupported().is_some() => {
                eprintln!("{}: {}", instance.info.version, e.unsupported().unwrap());
                assert!(
                    instance.info.version.starts_with("1."),
                    "{}",
                    instance.info.version
                );
            }
            // A containerd with it refuses the push of an image that is not there.
            Ok(PushOutcome::Error(e)) => eprintln!("{}: refused {e:?}", instance.info.version),
            other => panic!("{other:?}"),
        }
        drop(instance);
        registry.shutdown();
    });
}

fn ctr_host_imports_pushes_and_pulls() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let archive = craft(
        tmp.path(),
        &spec(LayoutKind::DockerOciHybrid, "example.test/ctr:v1", &[]),
    );
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        let instance = start(&host(RuntimeKind::Containerd, "overlayfs")).await;
        for no_unpack in [false, true] {
            let ctr = CtrDriver::for_instance(
                &instance,
                CtrOptions {
                    no_unpack,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let info = ctr.info().await.unwrap();
            assert_eq!(info.api, "ctr");
            assert_eq!(info.version, instance.info.version, "the daemon's version");
            let loaded = ctr.load_image(&archive).await.unwrap();
            eprintln!("ctr import (no_unpack={no_unpack}): {loaded:?}");
            assert!(matches!(loaded, LoadOutcome::Loaded { .. }), "{loaded:?}");
        }
        let ctr = CtrDriver::for_instance(&instance, CtrOptions::default())
            .await
            .unwrap();
        let names = crate::names(&ctr).await;
        assert!(names.contains("example.test/ctr:v1"), "{names:?}");
        let (outcome, landed) =
            push(&ctr, &registry, "example.test/ctr:v1", "ctr:v1", None, None).await;
        eprintln!("ctr push: {outcome:?}");
        show("ctr push", &landed);
        assert!(matches!(outcome, PushOutcome::Pushed { .. }), "{outcome:?}");
        let landed = landed.unwrap();
        let pulled = pull(&ctr, &registry, "ctr:v1", None).await;
        eprintln!("ctr pull: {pulled:?}");
        assert!(matches!(pulled, PullOutcome::Pulled { .. }), "{pulled:?}");
        let image = ctr
            .inspect_image(&registry.reference("ctr:v1"))
            .await
            .unwrap()
            .expect("pulled");
        assert_eq!(image.id, landed.digest, "ctr records the digest it pulled");
        let out = tmp.path().join("export.tar");
        let saved = ctr
            .save_image(
                &["example.test/ctr:v1".into()],
                harness::runtime::SaveFormat::OciArchive,
                &out,
            )
            .await
            .unwrap();
        assert!(saved.is_ok() && out.exists(), "{saved:?}");
        drop(instance);
        registry.shutdown();
    });
}

/// Docker versions of the matrix, each from its suite.
const DOCKERS: &[(&str, &str)] = &[("20.10.5", "bullseye"), ("26.1", "trixie"), ("28.5", "sid")];

fn dockerd_treats_loopback_as_insecure_on_every_version() {
    let rt = runtime();
    rt.block_on(async {
        let mut specs = vec![host(RuntimeKind::Docker, "overlay2")];
        specs.extend(
            DOCKERS
                .iter()
                .map(|(v, s)| debian(RuntimeKind::Docker, v, "overlay2", s)),
        );
        for spec in specs {
            let instance = start(&spec).await;
            let d = DockerDriver::connect(&instance.root_path().join("docker.sock"))
                .await
                .unwrap();
            let cidrs = d.insecure_registry_cidrs().await.unwrap();
            eprintln!("docker {}: insecure {cidrs:?}", instance.info.version);
            assert!(cidrs.iter().any(|c| c == "127.0.0.0/8"), "{cidrs:?}");
        }
    });
}

/// Podman's `compressionFormat` per version. Every push is of a layer no push has seen
/// before (its content names the run, the version and the compression): containers/image
/// remembers which compressed blobs a layer has in its blob-info cache and reuses one that
/// the registry already has in place of compressing again, and rootful Podman keeps that
/// cache in the host's `/var/lib/containers/cache` (not yet hermetic, issue 9 item 3).
fn podman_push_compression_per_version() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let run = format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    );
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        let specs = [
            host(RuntimeKind::Podman, "overlay"),
            debian(RuntimeKind::Podman, "3.0", "overlay", "bullseye"),
            debian(RuntimeKind::Podman, "5.4", "overlay", "trixie"),
            debian(RuntimeKind::Podman, "5.8", "overlay", "sid"),
        ];
        for (n, spec) in specs.iter().enumerate() {
            let instance = start(spec).await;
            let p = instance.runtime.as_ref();
            let who = format!("podman {}", instance.info.version);
            for compression in ["gzip", "zstd"] {
                let name = format!("example.test/compress-{compression}:v1");
                let mut fixture = spec_with(LayoutKind::DockerOciHybrid, &name);
                fixture.layers[0].files[0].content = format!("{run} {n} {compression}\n");
                let archive = tmp.path().join(format!("{n}-{compression}.tar"));
                write_archive_to_path(&fixture, &archive).unwrap();
                load(p, &archive).await;
                let (outcome, landed) = push(
                    p,
                    &registry,
                    &name,
                    &format!("compress{n}-{compression}:v1"),
                    None,
                    Some(compression),
                )
                .await;
                let layers = landed.as_ref().map(|l| l.layers.clone());
                eprintln!("{who} --compression-format {compression}: {outcome:?} -> {layers:?}");
                assert!(
                    matches!(outcome, PushOutcome::Pushed { .. }),
                    "{who}: {outcome:?}"
                );
                let layers = layers.expect("landed");
                // gzip is every version's default; zstd needs a containers/image that has it
                // (Podman 3.0's libpod has no compressionFormat and ignores it).
                if compression == "gzip" || !instance.info.version.starts_with("3.") {
                    assert!(
                        layers.iter().all(|m| m.ends_with(compression)),
                        "{who}: {compression} asked, {layers:?} landed"
                    );
                }
            }
        }
        registry.shutdown();
    });
}

fn spec_with(layout: LayoutKind, name: &str) -> FixtureSpec {
    spec(layout, name, &[])
}

const PLATFORMS: &[&str] = &["linux/amd64", "linux/arm64"];
/// How many fresh instances each ctr version imports and pushes the index from.
const MULTI_ATTEMPTS: usize = 5;
const MULTI: &str = "example.test/multi:v1";

/// The multi-platform index (containerd-hybrid: what Docker's containerd store saves), loaded,
/// pushed and pulled back, per runtime and version; what landed is printed.
fn multi_platform_index_push_and_pull_per_version() {
    /// What a pusher is expected to do with the index: land it unchanged, or be refused with
    /// these words (and land nothing).
    #[derive(Debug)]
    enum Expect {
        Index,
        Refused(&'static str),
        /// Either, as the garbage collector's timing decides (content of a platform the
        /// load did not keep).
        IndexOrNotFound,
    }
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let fixture = spec(LayoutKind::ContainerdHybrid, MULTI, PLATFORMS);
    let archive = craft(tmp.path(), &fixture);
    let crafted = harness::craft::write_archive(&fixture, std::io::sink()).unwrap();
    let index = crafted.index.as_ref().unwrap().digest.to_string();
    eprintln!("crafted index {index}");
    let check =
        |who: &str, expect: &Expect, outcome: &PushOutcome, landed: &Option<Landed>| match expect {
            Expect::Index => {
                assert!(
                    matches!(outcome, PushOutcome::Pushed { .. }),
                    "{who}: {outcome:?}"
                );
                let l = landed.as_ref().expect("landed");
                assert_eq!(l.digest, index, "{who}: the crafted index lands unchanged");
                assert_eq!(l.manifests.len(), 2);
                assert!(l.manifests.iter().all(|m| m.present), "{who}: {l:?}");
            }
            Expect::IndexOrNotFound => match outcome {
                PushOutcome::Pushed { .. } => {
                    assert_eq!(
                        landed.as_ref().map(|l| l.digest.as_str()),
                        Some(index.as_str())
                    )
                }
                PushOutcome::Error(e) => assert!(e.message.contains("not found"), "{who}: {e:?}"),
            },
            // The collector may also take the other platform's content before the service
            // reaches the registry (`content digest ...: not found`): refused either way.
            Expect::Refused(words) => {
                match outcome {
                    PushOutcome::Error(e) => assert!(
                        e.message.contains(words) || e.message.contains("not found"),
                        "{who}: {e:?}"
                    ),
                    other => panic!("{who}: expected a refusal, got {other:?}"),
                }
                assert!(landed.is_none(), "{who}: nothing lands");
            }
        };
    const HTTPS: &str = "server gave HTTP response to HTTPS client";
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        let cells = [
            (
                debian(RuntimeKind::Docker, "26.1", "containerd", "trixie"),
                Expect::Index,
            ),
            (
                debian(RuntimeKind::Docker, "28.5", "containerd", "sid"),
                Expect::Index,
            ),
            (
                debian(RuntimeKind::Containerd, "1.7", "overlayfs", "trixie"),
                Expect::Refused(HTTPS),
            ),
            // The gRPC driver's load labels only the host's platform for the GC, as ctr does,
            // so the Transfer push races the collector too.
            (
                debian(RuntimeKind::Containerd, "2.1", "overlayfs", "sid"),
                Expect::IndexOrNotFound,
            ),
        ];
        for (n, (spec, expect)) in cells.iter().enumerate() {
            let instance = start(spec).await;
            let who = format!(
                "{} {} ({})",
                spec.runtime, instance.info.version, instance.info.api
            );
            let r = instance.runtime.as_ref();
            load(r, &archive).await;
            let repo_tag = format!("multi{n}:v1");
            let (outcome, landed) = push(r, &registry, MULTI, &repo_tag, None, None).await;
            eprintln!("{who}: push {outcome:?}");
            show(&who, &landed);
            check(&who, expect, &outcome, &landed);
            let pulled = pull(r, &registry, &repo_tag, Some("linux/arm64")).await;
            let image = r
                .inspect_image(&registry.reference(&repo_tag))
                .await
                .unwrap();
            eprintln!("{who}: pull linux/arm64 {pulled:?} -> {image:?}");
            if landed.is_some() {
                assert!(
                    matches!(pulled, PullOutcome::Pulled { .. }),
                    "{who}: {pulled:?}"
                );
                assert_eq!(
                    image.map(|i| i.id),
                    Some(index.clone()),
                    "{who}: the index is the ID"
                );
            } else {
                assert!(matches!(pulled, PullOutcome::Error(_)), "{pulled:?}");
            }
            // One platform of the index, where the driver offers it (Docker's platform push
            // parameter is API 1.46, Docker 27; 26.1 ignores it).
            if spec.runtime == RuntimeKind::Docker {
                let (outcome, landed) = push(
                    r,
                    &registry,
                    MULTI,
                    &format!("multi{n}-amd64:v1"),
                    Some("linux/amd64"),
                    None,
                )
                .await;
                eprintln!("{who}: push --platform linux/amd64 {outcome:?}");
                show(&who, &landed);
            }
        }
        // ctr of every containerd version (1.6 on the host, 1.4, 1.7, 2.1), importing as ctr
        // does by default: unpacked, the host's platform only. The other platform's content
        // is then unreferenced, and whether the push still finds it depends on when the
        // garbage collector runs: R3's race. Each version is tried MULTI_ATTEMPTS times on a
        // fresh instance, and every outcome must be one of the two.
        let ctrs = [
            host(RuntimeKind::Containerd, "overlayfs"),
            debian(RuntimeKind::Containerd, "1.4", "overlayfs", "bullseye"),
            debian(RuntimeKind::Containerd, "1.7", "overlayfs", "trixie"),
            debian(RuntimeKind::Containerd, "2.1", "overlayfs", "sid"),
        ];
        for (n, spec) in ctrs.iter().enumerate() {
            let (mut pushed, mut refused, mut double_upload, mut ctr_panicked) = (0, 0, 0, 0);
            let mut who = String::new();
            for attempt in 0..MULTI_ATTEMPTS {
                let instance = start(spec).await;
                let ctr = CtrDriver::for_instance(&instance, CtrOptions::default())
                    .await
                    .unwrap();
                who = format!("ctr {}", instance.info.version);
                load(&ctr, &archive).await;
                let repo_tag = format!("ctrmulti{n}-{attempt}:v1");
                let (outcome, landed) = push(&ctr, &registry, MULTI, &repo_tag, None, None).await;
                if matches!(outcome, PushOutcome::Pushed { .. }) {
                    check(&who, &Expect::Index, &outcome, &landed);
                    pushed += 1;
                    let pulled = pull(&ctr, &registry, &repo_tag, Some("linux/arm64")).await;
                    assert!(
                        matches!(pulled, PullOutcome::Pulled { .. }),
                        "{who}: {pulled:?}"
                    );
                } else if let PushOutcome::Error(e) = &outcome
                    && (e.message.contains("unexpected size")
                        || e.message.contains("with Body length 0"))
                {
                    // ctr 1.4 pushes the layer both platforms share twice at once into one
                    // upload, now and then: either both writers' bytes land (`failed commit on
                    // ref "layer-sha256:...": unexpected size 5120, expected 2560`) or the
                    // second finds the pipe already drained (`http: ContentLength=2560 with
                    // Body length 0`).
                    assert!(instance.info.version.starts_with("1.4."), "{who}: {e:?}");
                    assert!(landed.is_none());
                    double_upload += 1;
                } else if let PushOutcome::Error(e) = &outcome
                    && e.message.contains("panic: send on closed channel")
                {
                    // ctr 1.6's pusher panics now and then (remotes/docker/pusher.go
                    // `pushWriter.setPipe`, a race between the request and the writer's close).
                    assert!(landed.is_none(), "{who}: {e:?}");
                    ctr_panicked += 1;
                } else {
                    check(&who, &Expect::Refused("not found"), &outcome, &landed);
                    refused += 1;
                }
            }
            eprintln!(
                "{who}: {pushed}/{MULTI_ATTEMPTS} pushed the index, {refused} refused \
                 (content not found), {double_upload} refused (shared layer uploaded twice), {ctr_panicked} \
                 ctr panics"
            );
        }
        registry.shutdown();
    });
}

/// How many times R3's push is tried per version (it is intermittent in nerdctl; ctr's
/// client-side walk is deterministic, which the repetitions show).
const R3_ATTEMPTS: usize = 3;

/// R3's client side: an index pulled for one platform, then pushed as `ctr push` does by
/// default (every platform the index lists) under another name. The other platform's content
/// was never fetched.
fn r3_push_after_single_platform_pull_per_ctr_version() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let fixture = spec(LayoutKind::ContainerdHybrid, MULTI, PLATFORMS);
    let archive = craft(tmp.path(), &fixture);
    rt.block_on(async {
        let registry = Registry::start().await.unwrap();
        // The complete index, pushed once from an all-platform import by the host's ctr.
        let seed = start(&host(RuntimeKind::Containerd, "overlayfs")).await;
        let options = CtrOptions {
            no_unpack: true,
            all_platforms: true,
            ..Default::default()
        };
        let ctr = CtrDriver::for_instance(&seed, options).await.unwrap();
        load(&ctr, &archive).await;
        let (outcome, landed) = push(&ctr, &registry, MULTI, "r3:v1", None, None).await;
        assert!(matches!(outcome, PushOutcome::Pushed { .. }), "{outcome:?}");
        let seeded = landed.expect("the index landed");
        assert!(seeded.is_index(), "{seeded:?}");
        drop(seed);
        let ctrs = [
            host(RuntimeKind::Containerd, "overlayfs"),
            debian(RuntimeKind::Containerd, "1.4", "overlayfs", "bullseye"),
            debian(RuntimeKind::Containerd, "1.7", "overlayfs", "trixie"),
            debian(RuntimeKind::Containerd, "2.1", "overlayfs", "sid"),
        ];
        for (n, spec) in ctrs.iter().enumerate() {
            let instance = start(spec).await;
            let ctr = CtrDriver::for_instance(&instance, CtrOptions::default())
                .await
                .unwrap();
            let who = format!("ctr {}", instance.info.version);
            let pulled = pull(&ctr, &registry, "r3:v1", Some("linux/amd64")).await;
            assert!(
                matches!(pulled, PullOutcome::Pulled { .. }),
                "{who}: {pulled:?}"
            );
            let source = registry.reference("r3:v1");
            let mut failures = 0;
            for attempt in 0..R3_ATTEMPTS {
                let (outcome, landed) = push(
                    &ctr,
                    &registry,
                    &source,
                    &format!("r3-{n}-{attempt}:v1"),
                    None,
                    None,
                )
                .await;
                eprintln!("{who}: push of all platforms, attempt {attempt}: {outcome:?}");
                show(&who, &landed);
                if let PushOutcome::Error(e) = &outcome {
                    failures += 1;
                    assert!(
                        e.message.contains("not found"),
                        "{who}: R3's error class is content not found: {e:?}"
                    );
                    assert!(landed.is_none(), "nothing lands from a failed push");
                }
            }
            eprintln!("{who}: {failures}/{R3_ATTEMPTS} pushes failed");
            // ctr 1.x walks the index in its own process and needs every child's content:
            // the failure is deterministic there, not intermittent as in nerdctl.
            if instance.info.version.starts_with("1.") {
                assert_eq!(
                    failures, R3_ATTEMPTS,
                    "{who}: R3 reproduces on every attempt"
                );
            }
            // With the platform named: 1.x pushes that platform's manifest alone (the pusher
            // rewrites the index away); 2.x pushes the index with only that platform's
            // content, which the registry refuses.
            let (outcome, landed) = push(
                &ctr,
                &registry,
                &source,
                &format!("r3-{n}-amd64:v1"),
                Some("linux/amd64"),
                None,
            )
            .await;
            eprintln!("{who}: push --platform linux/amd64: {outcome:?}");
            show(&who, &landed);
            match (&outcome, &landed) {
                (PushOutcome::Pushed { .. }, Some(l)) => eprintln!(
                    "{who}: the platform-reduced push landed {} ({})",
                    if l.digest == seeded.digest {
                        "the original index"
                    } else {
                        "a rewritten document"
                    },
                    l.media_type
                ),
                (PushOutcome::Error(e), None) => eprintln!("{who}: refused: {}", e.message),
                other => panic!("{who}: a push outcome and what landed disagree: {other:?}"),
            }
        }
        registry.shutdown();
    });
}
