//! Builds through each builder's own API, on the host and on the Debian versions where the
//! builders differ: Docker 20.10.24 (host; classic, and BuildKit over bollard's session),
//! 26.1 and 28.5 (BuildKit and classic, on the classic store and the containerd image store),
//! Podman 4.3.1 (host), 3.0, 5.4 and 5.8 (buildah), containerd (no builder).
//!
//! Every build is of `scenarios/contexts/busybox` (FROM scratch, two COPYs, a RUN through
//! busybox). Each test reads what was built back: the image is saved and read with the
//! harness's archive reader (no error finding), the ID is checked against the digests of the
//! saved bytes (the config digest on classic stores and Podman, the manifest digest on
//! Docker's containerd image store), the RUN's output `/etc/built` must be in a layer with the
//! content the RUN wrote, and the builder recorded must be the one asked for.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use harness::build::{BuildRequest, BuilderKind, pack_context};
use harness::runtime::provider::{self, InstanceSpec};
use harness::runtime::{ApiRejection, Instance, RuntimeKind, SaveFormat};
use harness::verify::{Severity, inspect_path};

use crate::LiveTest;

const NEEDS_DEBIAN: &[&str] = &["mmdebstrap", "unshare", "nsenter", "chroot"];
const EPOCH: i64 = 1_700_000_000;

/// What one build gave, read back from the store.
#[derive(Debug)]
struct ReadBack {
    id: String,
    config: String,
    /// The manifest digest in the saved archive, if it has one.
    manifest: Option<String>,
    diff_ids: Vec<String>,
    /// The content of `etc/built` in the layers, if any layer has it.
    built_file: Option<String>,
}

fn context(dir: &Path) -> PathBuf {
    let ctx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/contexts/busybox");
    let out = dir.join("context.tar");
    pack_context(&ctx, &out).unwrap();
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn debian(runtime: RuntimeKind, version: &str, store: &str, suite: &str) -> InstanceSpec {
    InstanceSpec {
        provider: "debian".into(),
        version: version.into(),
        options: BTreeMap::from([
            ("provider".to_string(), "debian".to_string()),
            ("suite".to_string(), suite.to_string()),
        ]),
        ..InstanceSpec::new(runtime, store)
    }
}

async fn start(spec: &InstanceSpec) -> Instance {
    provider::for_spec(spec).unwrap().start(spec).await.unwrap()
}

/// Builds with `builder`, tagged per builder, and reads the result back. `Err`: the builder
/// refused, in its words.
async fn build(
    instance: &Instance,
    dir: &Path,
    builder: BuilderKind,
    epoch: Option<i64>,
    no_cache: bool,
) -> Result<ReadBack, ApiRejection> {
    let rt = instance.runtime.as_ref();
    let tag = format!("example.test/built-{}:v1", builder.as_str());
    let request = BuildRequest {
        context: context(dir),
        tag: tag.clone(),
        builder,
        build_args: BTreeMap::from([("UNUSED".to_string(), "x".to_string())]),
        source_date_epoch: epoch,
        no_cache,
    };
    let started = Instant::now();
    let built = rt.build_image(&request).await.unwrap()?;
    eprintln!(
        "{} {}: {} built in {:.1?}",
        instance.info.runtime.as_str(),
        instance.info.version,
        builder.as_str(),
        started.elapsed()
    );
    assert_eq!(
        built.builder, builder,
        "the builder that ran is the one asked for"
    );
    let record = rt.inspect_image(&tag).await.unwrap().expect("tagged");
    assert_eq!(record.id, built.id, "the tag names the built image");
    let out = dir.join(format!("{}-{}.tar", builder.as_str(), no_cache));
    rt.save_image(std::slice::from_ref(&tag), SaveFormat::DockerArchive, &out)
        .await
        .unwrap()
        .expect("saved");
    Ok(read_back(&out, built.id))
}

/// Reads a saved docker-archive with the harness's reader (no error findings), and finds
/// `etc/built` in its layers.
fn read_back(archive: &Path, id: String) -> ReadBack {
    let inspection = inspect_path(archive).unwrap();
    let errors: Vec<_> = inspection
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", archive.display());
    let report = &inspection.report;
    assert_eq!(report.images.len(), 1);
    let m = &report.images[0].manifests[0];
    let config = m.config.as_ref().unwrap();
    let config_digest = config.digest.as_ref().unwrap().to_string();
    let blob = config.blob.as_ref().expect("the config is in the archive");
    assert_eq!(
        blob.digest.to_string(),
        config_digest,
        "config bytes hash to their digest"
    );
    let diff_ids: Vec<String> = m
        .layers
        .iter()
        .map(|l| l.diff_id.as_ref().unwrap().to_string())
        .collect();
    let layer_paths = report.manifest_json.as_ref().unwrap()[0].layers.clone();
    ReadBack {
        id,
        config: config_digest,
        manifest: m.digest.as_ref().map(|d| d.to_string()),
        diff_ids,
        built_file: find_in_layers(archive, &layer_paths, "etc/built"),
    }
}

fn find_in_layers(archive: &Path, layers: &[String], want: &str) -> Option<String> {
    for layer in layers {
        let mut outer = tar::Archive::new(std::fs::File::open(archive).unwrap());
        for member in outer.entries().unwrap() {
            let member = member.unwrap();
            if member.path().unwrap().to_string_lossy() != *layer {
                continue;
            }
            // The containerd image store saves its layers as stored: gzip-compressed.
            let mut member = std::io::BufReader::new(member);
            let gzip = std::io::BufRead::fill_buf(&mut member)
                .unwrap()
                .starts_with(&[0x1f, 0x8b]);
            let layer: Box<dyn Read> = if gzip {
                Box::new(flate2::read::GzDecoder::new(member))
            } else {
                Box::new(member)
            };
            let mut inner = tar::Archive::new(layer);
            for e in inner.entries().unwrap() {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                if path.trim_start_matches("./") == want {
                    let mut s = String::new();
                    e.read_to_string(&mut s).unwrap();
                    return Some(s);
                }
            }
        }
    }
    None
}

fn hex(id: &str) -> &str {
    id.rsplit(':').next().unwrap()
}

/// The facts every successful busybox build must have, and which digest the ID is.
fn assert_busybox(read: &ReadBack, id_is: &str) {
    assert_eq!(read.diff_ids.len(), 3, "COPY, COPY, RUN: {read:?}");
    assert_eq!(
        read.built_file.as_deref(),
        Some("built\n"),
        "the RUN's output is in a layer"
    );
    match id_is {
        "config" => assert_eq!(hex(&read.id), hex(&read.config), "{read:?}"),
        "manifest" => assert_eq!(
            Some(hex(&read.id)),
            read.manifest.as_deref().map(hex),
            "{read:?}"
        ),
        other => unreachable!("{other}"),
    }
}

/// Builds twice from the same inputs (the second without cache, a second later) and says
/// whether the config digest repeated.
async fn reproducible(instance: &Instance, dir: &Path, builder: BuilderKind) -> bool {
    let first = build(instance, dir, builder, Some(EPOCH), false)
        .await
        .expect("built");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = build(instance, dir, builder, Some(EPOCH), true)
        .await
        .expect("rebuilt");
    first.config == again.config
}

fn docker_host_builds_with_classic_and_buildkit() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let instance = start(&InstanceSpec::new(RuntimeKind::Docker, "vfs")).await;
        let rt = instance.runtime.as_ref();
        let classic = build(&instance, dir.path(), BuilderKind::Classic, None, false)
            .await
            .expect("classic builds");
        assert_busybox(&classic, "config");
        assert_eq!(
            rt.builder_version(BuilderKind::Classic).await.unwrap(),
            Some(instance.info.version.clone()),
            "the classic builder is the daemon's"
        );
        // Docker 20.10 has BuildKit 0.8 inside, and its session API builds through bollard.
        let buildkit = build(&instance, dir.path(), BuilderKind::Buildkit, None, false)
            .await
            .expect("BuildKit builds on 20.10 through the session API");
        assert_busybox(&buildkit, "config");
        // BuildKit 0.8 has no Info call: its version is unknown.
        assert_eq!(
            rt.builder_version(BuilderKind::Buildkit).await.unwrap(),
            None
        );
        assert!(!reproducible(&instance, dir.path(), BuilderKind::Classic).await);
        let err = rt
            .build_image(&BuildRequest {
                context: context(dir.path()),
                tag: "x.test/y:1".into(),
                builder: BuilderKind::Buildah,
                build_args: BTreeMap::new(),
                source_date_epoch: None,
                no_cache: false,
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.unsupported().as_deref(),
            Some("build with buildah is not offered by the docker driver")
        );
        assert!(instance.shutdown().problems.is_empty());
    });
}

fn podman_host_buildah_is_reproducible_with_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let instance = start(&InstanceSpec::new(RuntimeKind::Podman, "vfs")).await;
        let rt = instance.runtime.as_ref();
        let read = build(&instance, dir.path(), BuilderKind::Buildah, None, false)
            .await
            .expect("buildah builds");
        assert_busybox(&read, "config");
        assert_eq!(
            rt.builder_version(BuilderKind::Buildah)
                .await
                .unwrap()
                .as_deref(),
            Some("1.28.2"),
            "Podman 4.3.1 vendors buildah 1.28.2"
        );
        assert!(reproducible(&instance, dir.path(), BuilderKind::Buildah).await);
        for other in [BuilderKind::Buildkit, BuilderKind::Classic] {
            let err = rt.builder_version(other).await.unwrap_err();
            assert!(err.unsupported().is_some(), "{err}");
        }
        assert!(instance.shutdown().problems.is_empty());
    });
}

fn containerd_has_no_builder() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let instance = start(&InstanceSpec::new(RuntimeKind::Containerd, "native")).await;
        for builder in BuilderKind::ALL {
            let err = instance
                .runtime
                .build_image(&BuildRequest {
                    context: context(dir.path()),
                    tag: "x.test/y:1".into(),
                    builder,
                    build_args: BTreeMap::new(),
                    source_date_epoch: None,
                    no_cache: false,
                })
                .await
                .unwrap_err();
            assert_eq!(
                err.unsupported(),
                Some(format!(
                    "build with {} is not offered by the containerd driver",
                    builder.as_str()
                ))
            );
        }
        assert!(instance.shutdown().problems.is_empty());
    });
}

/// Docker 26.1 and 28.5: both builders on the classic store give an ID that is the config
/// digest; on the containerd image store BuildKit's ID is the manifest digest, and 26.1's
/// BuildKit cannot read an uploaded tar context there (moby#47717).
fn docker_builders_on(version: &str, suite: &str) {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let instance = start(&debian(RuntimeKind::Docker, version, "overlay2", suite)).await;
        for builder in [BuilderKind::Classic, BuilderKind::Buildkit] {
            let read = build(&instance, dir.path(), builder, None, false)
                .await
                .unwrap_or_else(|r| panic!("{version} {}: {r:?}", builder.as_str()));
            assert_busybox(&read, "config");
        }
        // BuildKit >= 0.11 answers Info; Debian's build says v0.0.0+unknown.
        let v = instance
            .runtime
            .builder_version(BuilderKind::Buildkit)
            .await
            .unwrap();
        assert!(v.is_some(), "{version}: BuildKit answers Info");
        assert!(!reproducible(&instance, dir.path(), BuilderKind::Buildkit).await);
        assert!(instance.shutdown().problems.is_empty());

        let instance = start(&debian(RuntimeKind::Docker, version, "containerd", suite)).await;
        let buildkit = build(&instance, dir.path(), BuilderKind::Buildkit, None, false).await;
        if version == "26.1" {
            // https://github.com/moby/moby/issues/47717
            let r = buildkit.expect_err("26.1's containerd worker cannot read the upload");
            assert!(
                r.message.contains("failed to read downloaded context"),
                "{r:?}"
            );
        } else {
            assert_busybox(&buildkit.expect("28.5 builds"), "manifest");
        }
        let classic = build(&instance, dir.path(), BuilderKind::Classic, None, false)
            .await
            .unwrap_or_else(|r| panic!("{version} classic on containerd: {r:?}"));
        assert_busybox(&classic, "manifest");
        assert!(instance.shutdown().problems.is_empty());
    });
}

fn docker_26_1_builds_with_both_builders_on_both_stores() {
    docker_builders_on("26.1", "trixie");
}

fn docker_28_5_builds_with_both_builders_on_both_stores() {
    docker_builders_on("28.5", "sid");
}

/// Podman's buildah from three suites: 3.0's libpod API has no `timestamp`, so its rebuild
/// differs; 5.4 (`timestamp`) and 5.8 (`sourcedateepoch` + `rewritetimestamp`) repeat.
fn podman_buildah_across_versions() {
    for (version, suite, repeats) in [
        ("3.0", "bullseye", false),
        ("5.4", "trixie", true),
        ("5.8", "sid", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let instance = start(&debian(RuntimeKind::Podman, version, "overlay", suite)).await;
            let read = build(&instance, dir.path(), BuilderKind::Buildah, None, false)
                .await
                .unwrap_or_else(|r| panic!("podman {version}: {r:?}"));
            assert_busybox(&read, "config");
            assert_eq!(
                reproducible(&instance, dir.path(), BuilderKind::Buildah).await,
                repeats,
                "podman {version}"
            );
            assert!(instance.shutdown().problems.is_empty());
        });
    }
}

/// A sessionless BuildKit build through a raw `POST /build?version=2`, with `outputs` naming
/// the `moby` exporter and its `rewrite-timestamp` attribute: the request bollard 0.21's typed
/// options cannot express (its `outputs` knows only the tar and local exporters). moby hands
/// the first output's type and attributes to BuildKit's exporter (`builder/builder-next/
/// builder.go`, `Build`). Returns the daemon's status and its reply (a JSON stream).
async fn raw_buildkit_build(socket: &Path, context: &Path, tag: &str) -> (u16, String) {
    // `unpack: false` too: the containerd store's exporter would otherwise refuse
    // rewrite-timestamp for conflicting with its unpack (it refuses it anyway, see below).
    use http_body_util::BodyExt;
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let uri = format!(
        "/build?version=2&t={}&networkmode=none&nocache=1&buildargs={}&outputs={}",
        enc(tag),
        enc(&format!(r#"{{"SOURCE_DATE_EPOCH":"{EPOCH}"}}"#)),
        enc(r#"[{"Type":"moby","Attrs":{"rewrite-timestamp":"true","unpack":"false"}}]"#)
    );
    let request = hyper::Request::post(uri)
        .header("Host", "docker")
        .header("Content-Type", "application/x-tar")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            std::fs::read(context).unwrap(),
        )))
        .unwrap();
    let reply = sender.send_request(request).await.unwrap();
    let status = reply.status().as_u16();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// What BuildKit's `rewrite-timestamp` does through the Engine API, where it can be sent:
/// Docker 28.5's classic store builds and ignores it (moby's own exporter: the rebuild's
/// digests differ); its containerd image store refuses it, because moby's exporter there
/// always unpacks (`exporter option "rewrite-timestamp" conflicts with "unpack"`), even when
/// the request asks for `unpack: false`. So no store here makes BuildKit's output
/// reproducible through `/build`, and the step does not send it.
fn buildkit_rewrite_timestamp_is_ignored_or_refused() {
    for store in ["overlay2", "containerd"] {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let instance = start(&debian(RuntimeKind::Docker, "28.5", store, "sid")).await;
            let socket = instance.root_path().join("docker.sock");
            let ctx = context(dir.path());
            let mut reads = Vec::new();
            for n in 0..2 {
                let (status, reply) = raw_buildkit_build(&socket, &ctx, "x.test/rt:1").await;
                assert_eq!(status, 200, "{reply}");
                let error = reply
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find_map(|v| {
                        v.pointer("/errorDetail/message")?
                            .as_str()
                            .map(String::from)
                    });
                if store == "containerd" {
                    let error = error.expect("the containerd store refuses rewrite-timestamp");
                    assert!(
                        error.contains(r#""rewrite-timestamp" conflicts with "unpack""#),
                        "{error}"
                    );
                    break;
                }
                assert_eq!(error, None, "{reply}");
                let record = instance.runtime.inspect_image("x.test/rt:1").await.unwrap();
                let out = dir.path().join(format!("{n}.tar"));
                instance
                    .runtime
                    .save_image(
                        &["x.test/rt:1".to_string()],
                        SaveFormat::DockerArchive,
                        &out,
                    )
                    .await
                    .unwrap()
                    .expect("saved");
                let read = read_back(&out, record.expect("built").id);
                assert_eq!(read.built_file.as_deref(), Some("built\n"));
                reads.push(read);
                tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            }
            if store == "overlay2" {
                assert_ne!(reads[0].config, reads[1].config, "ignored: {reads:?}");
            }
            assert!(instance.shutdown().problems.is_empty());
        });
    }
}

/// This module's tests and the binaries each needs (see `LiveTest`).
pub const TESTS: &[LiveTest] = &[
    live_test!(
        docker_host_builds_with_classic_and_buildkit,
        &["dockerd", "containerd"]
    ),
    live_test!(
        podman_host_buildah_is_reproducible_with_a_timestamp,
        &["podman"]
    ),
    live_test!(containerd_has_no_builder, &["containerd"]),
    live_test!(
        docker_26_1_builds_with_both_builders_on_both_stores,
        NEEDS_DEBIAN
    ),
    live_test!(
        docker_28_5_builds_with_both_builders_on_both_stores,
        NEEDS_DEBIAN
    ),
    live_test!(podman_buildah_across_versions, NEEDS_DEBIAN),
    live_test!(
        buildkit_rewrite_timestamp_is_ignored_or_refused,
        NEEDS_DEBIAN
    ),
];
