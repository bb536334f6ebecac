//! Produced fixtures (issue 9, item 5): archives a runtime writes, fed to every cell of a
//! scenario like crafted ones. The spec is `config/produced.rs`; this is how they are made.
//!
//! **Pushed fixtures** (`push: true`): instead of saving, the producer pushes `tag` to a
//! registry of its own (`runtime/registry.rs`, started and stopped in [`push_and_export`]),
//! and the artifact is what landed there, byte for byte, as an OCI layout archive
//! (`runtime/registry/export.rs`), with what landed ([`ProducedArtifact::landed`]) beside it.
//! Consumers `publish` it to their own registry and pull it.
//!
//! **Once per run, by content.** A produced fixture's *artifact* is keyed by its content: a
//! sha256 over the producer spec (runtime, version, store, tag, save format, build context
//! name or loaded fixture name), the producer cell as resolved (the Debian suite and package
//! version, or for `host` the binary's path, size and mtime) and the bytes of its input (the
//! build context as `build::pack_context` packs it, or the crafted archive). Every scenario
//! and cell asking for the same key gets the same file:
//!
//! - within a process, one `tokio::sync::OnceCell` per key ([`once_per_key`]): concurrent
//!   cells (`--jobs`) wait for the first, which produces;
//! - across processes (the nextest target runs each scenario x cell as its own process) and
//!   across runs, an on-disk cache, `$XDG_CACHE_HOME/harness/produced/<key>/` (default
//!   `~/.cache/harness/produced/`) holding `archive.tar` and `meta.json`, written beside the
//!   cache and renamed into place under an exclusive `flock` on `<key>.lock`, so parallel
//!   processes produce a key once and the others wait and reuse it. Delete the directory to
//!   produce again. Only successes are cached on disk; a producer that cannot run here is
//!   retried by each process (it fails fast: a version no source has, a missing binary).
//!
//! **Its own instance and snapshot.** The producer runs on an instance of its own, started
//! through the cell provider path (`run::start`, so the same skip / CI rules apply: under CI a
//! producer whose runtime or version is missing is an `error`, elsewhere a `skip`). What it
//! wrote goes through `harness inspect`'s oracles, and the observation (layout, names,
//! digests as symbols of the fixture itself, findings) is checked against
//! `snapshots/produced__<fixture>.snap` once per scenario. A produced fixture's name must
//! therefore mean the same producer in every scenario that declares it. A missing or
//! differing producer snapshot fails every consuming cell, with the reason.
//!
//! **Skips.** Where the producer cannot run (its runtime or version is not available here, the
//! driver does not offer the build or save, the runtime refuses the build), every consuming
//! cell is a `skip` with the producer's reason; a producer that breaks is an `error` of the
//! consuming cells.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{ErrorKind, ProviderLookup, RunOptions, Status, error_chain};
use crate::config::{Cell, ProducedFixture, ProducedFrom};
use crate::craft::CraftedArchive;
use crate::craft::{ArchiveNames, BlobFacts, IndexEntryNames, LayerFacts, PlatformFacts};
use crate::runtime::{LoadOutcome, RuntimeError, RuntimeInfo, RuntimeKind};
use crate::verify::Inspection;

/// What a producer wrote, independent of the fixture name it is known by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedArtifact {
    /// The archive, in the cache.
    pub archive: PathBuf,
    /// Its digests and names, read back by `harness inspect`, in the form crafted fixtures
    /// have (so symbols, load predictions and the JSON results treat both alike).
    pub facts: CraftedArchive,
    /// What the producer instance was.
    pub runtime: RuntimeInfo,
    /// The ID the producer gave the image it saved.
    pub image_id: String,
    /// For a pushed fixture: what landed in the producer's registry (the archive holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<crate::runtime::registry::Landed>,
    /// How long producing took, in milliseconds (start, build or load, save, inspect).
    pub produce_ms: u64,
    /// The content key.
    pub key: String,
    /// Whether this process found it in the cache instead of producing it.
    #[serde(skip)]
    pub cache_hit: bool,
}

/// The answer for one key: the artifact, or the consuming cells' status.
pub type Produced = Result<Arc<ProducedArtifact>, Status>;

/// Where produced artifacts are cached: `$XDG_CACHE_HOME/harness/produced`, else
/// `~/.cache/harness/produced`, else `$TMPDIR/harness.produced` (no `harness-` prefix, which
/// the stale-root sweep owns).
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match base {
        Some(b) => b.join("harness").join("produced"),
        None => std::env::temp_dir().join("harness.produced"),
    }
}

/// Runs `make` once per `key` in this process: concurrent callers with the same key wait for
/// the first and get its answer (a skip reason included).
pub async fn once_per_key<F, Fut>(key: &str, make: F) -> Produced
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Produced>,
{
    static INFLIGHT: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Produced>>>>> =
        LazyLock::new(Default::default);
    let cell = INFLIGHT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone();
    cell.get_or_init(make).await.clone()
}

/// The cell a producer runs on: its runtime, version and store, with no provider options (so
/// its version resolves like a matrix cell's).
pub fn producer_cell(fixture: &ProducedFixture) -> Cell {
    let p = &fixture.producer;
    let mut raw = format!("produced-{}-{}-{}", p.runtime.as_str(), p.version, p.store);
    if let Some(api) = &p.api {
        raw.push('-');
        raw.push_str(api);
    }
    Cell {
        id: raw
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect(),
        runtime: p.runtime,
        version: p.version.clone(),
        store: p.store.clone(),
        builder: None,
        api: p.api.clone(),
        extra: Default::default(),
    }
}

/// What the content key covers for the producer's binary: for `host`, the binary's path, size
/// and mtime (a package upgrade changes them); for a resolved suite, its package version,
/// which is in the cell already.
fn host_binary_stamp(cell: &Cell) -> String {
    if cell.version != crate::runtime::provider::HOST_VERSION {
        return String::new();
    }
    let (env, name) = match cell.runtime {
        RuntimeKind::Docker => ("HARNESS_DOCKERD", "dockerd"),
        RuntimeKind::Podman => ("HARNESS_PODMAN", "podman"),
        RuntimeKind::Containerd => ("HARNESS_CONTAINERD", "containerd"),
    };
    let path = std::env::var_os(env).map(PathBuf::from).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match path.and_then(|p| std::fs::metadata(&p).ok().map(|m| (p, m))) {
        Some((p, m)) => {
            use std::os::unix::fs::MetadataExt;
            format!("{} {} {}", p.display(), m.len(), m.mtime())
        }
        None => "not installed".into(),
    }
}

/// The content key of a produced fixture whose input bytes are in `input`.
pub fn content_key(
    fixture: &ProducedFixture,
    cell: &Cell,
    input: &Path,
) -> std::io::Result<String> {
    let mut h = sha2::Sha256::new();
    h.update(b"harness-produced-v1\n");
    h.update(serde_json::to_vec(fixture).expect("serializes"));
    h.update(b"\n");
    h.update(
        serde_json::to_vec(&(&cell.runtime, &cell.version, &cell.store, &cell.extra))
            .expect("serializes"),
    );
    h.update(b"\n");
    h.update(host_binary_stamp(cell).as_bytes());
    h.update(b"\n");
    let mut file = std::fs::File::open(input)?;
    let mut inner = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        inner.update(&buf[..n]);
    }
    h.update(inner.finalize());
    Ok(hex::encode(h.finalize()))
}

/// Everything production needs besides the fixture.
#[derive(Clone)]
pub struct ProduceEnv {
    pub opts: RunOptions,
    pub lookup: ProviderLookup,
    pub cache_dir: PathBuf,
}

/// Produces `fixture` (or finds it produced): `crafted_input` is the crafted archive of a
/// `load:` producer.
pub async fn produce(
    fixture: &ProducedFixture,
    crafted_input: Option<&Path>,
    env: &ProduceEnv,
) -> Produced {
    let infra = |what: &str, e: &dyn std::fmt::Display| {
        Err(Status::error(
            ErrorKind::Start,
            format!("produced fixture: {what}: {e}"),
        ))
    };
    // The input bytes: the packed context, or the crafted archive.
    let scratch = match tempfile::Builder::new()
        .prefix("harness.produce-")
        .tempdir()
    {
        Ok(t) => t,
        Err(e) => return infra("temp dir", &e),
    };
    let input = match (&fixture.from, crafted_input) {
        (ProducedFrom::Build { dir, .. }, _) => {
            let out = scratch.path().join("context.tar");
            if let Err(e) = crate::build::pack_context(dir, &out) {
                return infra(&format!("packing {}", dir.display()), &e);
            }
            out
        }
        (ProducedFrom::Load { .. } | ProducedFrom::Import { .. }, Some(p)) => p.to_path_buf(),
        (ProducedFrom::Load { fixture: f } | ProducedFrom::Import { fixture: f }, None) => {
            return infra("input", &format!("crafted fixture {f} has no file"));
        }
    };
    let mut cell = producer_cell(fixture);
    if cell.version != crate::runtime::provider::HOST_VERSION {
        // Reads package indexes (cached for a day): off the async workers.
        cell = tokio::task::spawn_blocking(move || {
            super::session::resolve_cell_sources(std::slice::from_mut(&mut cell));
            cell
        })
        .await
        .expect("source resolution does not panic");
    }
    let key = match content_key(fixture, &cell, &input) {
        Ok(k) => k,
        Err(e) => return infra("hashing the input", &e),
    };
    let env2 = env.clone();
    once_per_key(&key.clone(), || async move {
        produce_locked(fixture, &cell, &input, &key, &env2).await
    })
    .await
}

/// The cross-process part: the on-disk cache under its lock.
async fn produce_locked(
    fixture: &ProducedFixture,
    cell: &Cell,
    input: &Path,
    key: &str,
    env: &ProduceEnv,
) -> Produced {
    let dir = env.cache_dir.clone();
    let entry = dir.join(key);
    if let Some(hit) = read_cached(&entry) {
        return Ok(Arc::new(hit));
    }
    let lock_path = dir.join(format!("{key}.lock"));
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        std::fs::create_dir_all(&dir)?;
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))
    })
    .await
    .expect("locking does not panic");
    let _lock = match locked {
        Ok(l) => l,
        Err(e) => {
            return Err(Status::error(
                ErrorKind::Start,
                format!("produced fixture: cannot lock the cache: {e}"),
            ));
        }
    };
    // Another process may have produced it while we waited.
    if let Some(hit) = read_cached(&entry) {
        return Ok(Arc::new(hit));
    }
    // Under the lock nobody else is producing this key: what a producer that died left
    // beside the cache (`<key>.tmp-<pid>`) can go.
    if let Ok(entries) = std::fs::read_dir(&env.cache_dir) {
        let stale = format!("{key}.tmp-");
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&stale) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let building = env
        .cache_dir
        .join(format!("{key}.tmp-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&building) {
        return Err(Status::error(
            ErrorKind::Start,
            format!("produced fixture: {e}"),
        ));
    }
    let made = run_producer(fixture, cell, input, &building, key, env).await;
    let made = match made {
        Ok(a) => a,
        Err(status) => {
            let _ = std::fs::remove_dir_all(&building);
            return Err(status);
        }
    };
    let made = ProducedArtifact {
        archive: entry.join("archive.tar"),
        ..made
    };
    let meta = serde_json::to_vec_pretty(&made).expect("serializes");
    let renamed = std::fs::write(building.join("meta.json"), meta)
        .and_then(|()| std::fs::rename(&building, &entry));
    if let Err(e) = renamed {
        let _ = std::fs::remove_dir_all(&building);
        return Err(Status::error(
            ErrorKind::Start,
            format!("produced fixture: cannot cache it: {e}"),
        ));
    }
    Ok(Arc::new(made))
}

fn read_cached(entry: &Path) -> Option<ProducedArtifact> {
    let meta = std::fs::read(entry.join("meta.json")).ok()?;
    let mut a: ProducedArtifact = serde_json::from_slice(&meta).ok()?;
    a.archive = entry.join("archive.tar");
    a.cache_hit = true;
    a.archive.is_file().then_some(a)
}

/// Starts the producer, builds or loads, tags, saves into `out_dir/archive.tar`, inspects it
/// and tears the instance down.
async fn run_producer(
    fixture: &ProducedFixture,
    cell: &Cell,
    input: &Path,
    out_dir: &Path,
    key: &str,
    env: &ProduceEnv,
) -> Result<ProducedArtifact, Status> {
    let started = Instant::now();
    let who = format!(
        "produced fixture (by {} {} {})",
        fixture.producer.runtime.as_str(),
        fixture.producer.version,
        fixture.producer.store
    );
    let reword = |status: Status| match status {
        Status::Skip { reason } => Status::Skip {
            reason: format!("{who}: {reason}"),
        },
        Status::Error {
            error_kind,
            message,
        } => Status::Error {
            error_kind,
            message: format!("{who}: {message}"),
        },
        other => other,
    };
    let (instance, _hermetic) = super::start(cell, &env.opts, env.lookup)
        .await
        .map_err(reword)?;
    let archive = out_dir.join("archive.tar");
    let ran = tokio::time::timeout(
        env.opts.step_timeout,
        make_image(fixture, instance.runtime.as_ref(), input, &archive),
    )
    .await;
    let info = instance.info.clone();
    let dead = instance.dead_daemon();
    let _ = instance.shutdown();
    let (image_id, landed) = match ran {
        Err(_) => {
            return Err(reword(Status::error(
                ErrorKind::StepTimeout,
                format!("did not finish within {:?}", env.opts.step_timeout),
            )));
        }
        Ok(Err(Made::Refused(why))) => return Err(reword(Status::Skip { reason: why })),
        Ok(Err(Made::Precondition(why))) => {
            return Err(reword(Status::error(ErrorKind::Precondition, why)));
        }
        Ok(Err(Made::Broken(e))) => {
            let mut msg = error_chain(&e);
            let mut kind = ErrorKind::Runtime;
            if let Some((daemon, tail)) = dead {
                kind = ErrorKind::DaemonDied;
                msg.push_str(&format!("\n{daemon} died; last log lines:\n{tail}"));
            }
            return Err(reword(Status::error(kind, msg)));
        }
        Ok(Ok(made)) => made,
    };
    let path = archive.clone();
    let inspected = tokio::task::spawn_blocking(move || crate::verify::inspect_path(&path))
        .await
        .expect("inspect does not panic");
    let facts = match inspected.map(|i| facts_of(&i)) {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            return Err(reword(Status::Skip {
                reason: "the archive it wrote holds no image harness can read".into(),
            }));
        }
        Err(e) => {
            return Err(reword(Status::Skip {
                reason: format!("the archive it wrote cannot be read: {}", error_chain(&e)),
            }));
        }
    };
    Ok(ProducedArtifact {
        archive,
        facts,
        runtime: info,
        image_id,
        landed,
        produce_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        key: key.to_string(),
        cache_hit: false,
    })
}

/// Why making the image stopped.
enum Made {
    /// The runtime refused, or the driver does not offer the operation: the consuming cells
    /// cannot run here.
    Refused(String),
    /// The harness or the daemon broke.
    Broken(RuntimeError),
    /// Something the producer needs besides the runtime (its registry) broke.
    Precondition(String),
}

impl From<RuntimeError> for Made {
    fn from(e: RuntimeError) -> Made {
        match e.unsupported() {
            Some(why) => Made::Refused(why),
            None => Made::Broken(e),
        }
    }
}

/// Builds (or loads and tags) the image and saves it, or pushes it and writes what landed;
/// returns the image's ID and, for a push, what landed.
async fn make_image(
    fixture: &ProducedFixture,
    rt: &dyn crate::runtime::Runtime,
    input: &Path,
    archive: &Path,
) -> Result<(String, Option<crate::runtime::registry::Landed>), Made> {
    let id = match &fixture.from {
        ProducedFrom::Build {
            context, builder, ..
        } => {
            let info = rt.info().await?;
            let version = crate::runtime::Version::parse(&info.version);
            let Some(builder) =
                builder.or_else(|| crate::build::default_builder(info.runtime, &version))
            else {
                return Err(Made::Refused(format!("{} has no builder", info.runtime)));
            };
            let request = crate::build::BuildRequest {
                context: input.to_path_buf(),
                tag: fixture.tag.clone(),
                builder,
                build_args: Default::default(),
                source_date_epoch: None,
                no_cache: false,
            };
            match rt.build_image(&request).await? {
                Ok(built) => built.id,
                Err(r) => {
                    return Err(Made::Refused(format!(
                        "the build of contexts/{context} was refused: {}",
                        r.message
                    )));
                }
            }
        }
        ProducedFrom::Load { fixture: f } => {
            let before = rt.list_images().await?;
            if let LoadOutcome::Error(r) = rt.load_image(input).await? {
                return Err(Made::Refused(format!(
                    "loading {f} was refused: {}",
                    r.message
                )));
            }
            let after = rt.list_images().await?;
            let Some(image) = crate::steps::observe::changed_images(&before, &after)
                .first()
                .map(|i| i.id.clone())
            else {
                return Err(Made::Refused(format!("loading {f} left no image")));
            };
            if let crate::runtime::TagOutcome::Error(r) = rt.tag_image(&image, &fixture.tag).await?
            {
                return Err(Made::Refused(format!(
                    "tagging it {} was refused: {}",
                    fixture.tag, r.message
                )));
            }
            image
        }
        ProducedFrom::Import { fixture: f } => {
            let request = crate::runtime::ImportRequest {
                archive: input,
                reference: Some(&fixture.tag),
                message: None,
                changes: &[],
            };
            match rt.import_image(&request).await? {
                // libpod answers bare hex.
                crate::runtime::ImportOutcome::Imported { id, .. } if !id.contains(':') => {
                    format!("sha256:{id}")
                }
                crate::runtime::ImportOutcome::Imported { id, .. } => id,
                crate::runtime::ImportOutcome::Error(r) => {
                    return Err(Made::Refused(format!(
                        "importing {f} was refused: {}",
                        r.message
                    )));
                }
            }
        }
    };
    if fixture.push {
        let landed = push_and_export(fixture, rt, archive).await?;
        return Ok((id, Some(landed)));
    }
    if let Err(r) = rt
        .save_image(std::slice::from_ref(&fixture.tag), fixture.save, archive)
        .await?
    {
        return Err(Made::Refused(format!(
            "saving {} as {} was refused: {}",
            fixture.tag,
            fixture.save.as_str(),
            r.message
        )));
    }
    Ok((id, None))
}

/// The repository and tag a pushed fixture lands at in its producer's registry.
const PUSHED_TO: (&str, &str) = ("produced", "pushed");

/// Pushes `fixture.tag` through the runtime's API to a registry of the producer's own
/// (`runtime/registry.rs`, started and stopped here), reads back what landed and writes it,
/// byte for byte, into `archive` as an OCI layout (`registry::export`).
async fn push_and_export(
    fixture: &ProducedFixture,
    rt: &dyn crate::runtime::Runtime,
    archive: &Path,
) -> Result<crate::runtime::registry::Landed, Made> {
    use crate::runtime::registry::Registry;
    let broken = |what: &str, e: &dyn std::error::Error| {
        Made::Precondition(format!("{what}: {}", error_chain(e)))
    };
    let registry = match Registry::start().await {
        Ok(r) => r,
        Err(e @ crate::runtime::provider::ProviderError::BinaryNotFound { .. })
            if !super::in_ci() =>
        {
            return Err(Made::Refused(format!("no local registry to push to ({e})")));
        }
        Err(e) => return Err(broken("the local registry did not start", &e)),
    };
    let (repository, tag) = PUSHED_TO;
    let request = crate::runtime::PushRequest {
        source: fixture.tag.clone(),
        destination: registry.reference(&format!("{repository}:{tag}")),
        platform: None,
        all_platforms: false,
        compression: None,
    };
    let outcome = rt.push_image(&request).await;
    let exported = match outcome {
        Err(e) => Err(Made::from(e)),
        Ok(crate::runtime::PushOutcome::Error(r)) => Err(Made::Refused(format!(
            "pushing {} was refused: {}",
            fixture.tag, r.message
        ))),
        Ok(crate::runtime::PushOutcome::Pushed { .. }) => {
            let client = registry.client();
            match crate::runtime::registry::export::export_layout(
                &client,
                repository,
                tag,
                &fixture.tag,
                archive,
            )
            .await
            {
                Err(e) => Err(broken("reading back the push", &e)),
                Ok(_) => client
                    .landed(repository, tag)
                    .await
                    .map_err(|e| broken("reading back the push", &e))
                    .and_then(|l| l.ok_or_else(|| Made::Refused("the push landed nothing".into()))),
            }
        }
    };
    let _ = registry.shutdown();
    exported
}

/// The facts of an archive's first image in the form a crafted fixture's have; `None` when
/// the archive has no image with a config.
pub fn facts_of(inspection: &Inspection) -> Option<CraftedArchive> {
    use crate::craft::LayoutKind as Craft;
    use crate::oci::archive::LayoutKind as Read;
    let report = &inspection.report;
    let layout = match report.layout {
        Read::DockerArchive => Craft::DockerArchive,
        Read::DockerOciHybrid => Craft::DockerOciHybrid,
        Read::ContainerdHybrid => Craft::ContainerdHybrid,
        Read::OciArchive | Read::OciLayoutDir => Craft::OciArchive,
        Read::Unknown => return None,
    };
    let image = report.images.first()?;
    let platforms: Vec<PlatformFacts> = image
        .manifests
        .iter()
        .filter(|m| !m.attestation)
        .filter_map(|m| {
            let config = m.config.as_ref()?;
            Some(PlatformFacts {
                platform: m
                    .platform
                    .as_ref()
                    .or(config.platform.as_ref())
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                present: m.blob.is_some() || m.digest.is_none(),
                manifest: m.digest.clone().map(|digest| BlobFacts {
                    digest,
                    size: m.size.unwrap_or_default(),
                }),
                config: BlobFacts {
                    digest: config.digest.clone()?,
                    size: config.size.unwrap_or_default(),
                },
                layers: m
                    .layers
                    .iter()
                    .filter_map(|l| {
                        let blob = l.blob.as_ref();
                        Some(LayerFacts {
                            digest: l.digest.clone()?,
                            diff_id: l
                                .diff_id
                                .clone()
                                .or_else(|| blob.and_then(|b| b.uncompressed_digest.clone()))?,
                            size: l.size.unwrap_or_default(),
                            media_type: l.media_type.clone(),
                            compression: blob.map(|b| b.compression).unwrap_or_default(),
                        })
                    })
                    .collect(),
                attestation: None,
            })
        })
        .collect();
    let primary = platforms.iter().find(|p| p.present)?.clone();
    let entries: Vec<IndexEntryNames> = image
        .index_json_entries
        .iter()
        .filter_map(|i| report.index_json.as_ref()?.manifests.get(*i))
        .map(|d| IndexEntryNames {
            image_name: d.annotations.get("io.containerd.image.name").cloned(),
            ref_name: d
                .annotations
                .get("org.opencontainers.image.ref.name")
                .cloned(),
        })
        .collect();
    let first = entries.first().cloned().unwrap_or_default();
    Some(CraftedArchive {
        layout,
        config: primary.config.clone(),
        manifest: primary.manifest.clone(),
        index: image.index_digest.clone().map(|digest| BlobFacts {
            digest,
            size: image.target.as_ref().map(|t| t.size).unwrap_or_default(),
        }),
        layers: primary.layers.clone(),
        names: ArchiveNames {
            repo_tags: image.names.repo_tags.clone(),
            image_name: first.image_name,
            ref_name: first.ref_name,
            index_entries: entries,
        },
        platforms,
        defects: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_of_one_key_produce_once_and_share_the_answer() {
        let made = Arc::new(AtomicUsize::new(0));
        let key = format!("test-once-{}", std::process::id());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (made, key) = (made.clone(), key.clone());
                tokio::spawn(async move {
                    once_per_key(&key, || async {
                        made.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Err(Status::Skip {
                            reason: "producer not here".into(),
                        })
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            let answer = t.await.unwrap();
            assert_eq!(
                answer.unwrap_err(),
                Status::Skip {
                    reason: "producer not here".into()
                }
            );
        }
        assert_eq!(made.load(Ordering::SeqCst), 1, "one key, one production");
        // Another key is produced on its own.
        let other = once_per_key(&format!("{key}-other"), || async {
            made.fetch_add(1, Ordering::SeqCst);
            Err(Status::Skip { reason: "x".into() })
        })
        .await;
        assert!(other.is_err());
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    fn fixture(version: &str) -> ProducedFixture {
        ProducedFixture {
            producer: crate::config::Producer {
                runtime: RuntimeKind::Podman,
                version: version.into(),
                store: "overlay".into(),
                api: None,
            },
            from: ProducedFrom::Load {
                fixture: "hybrid".into(),
            },
            tag: "example.test/produced:v1".into(),
            save: crate::runtime::SaveFormat::DockerArchive,
            push: false,
        }
    }

    #[test]
    fn the_key_covers_the_spec_the_producer_and_the_input_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"one").unwrap();
        std::fs::write(&b, b"two").unwrap();
        let f = fixture("5.4");
        let cell = producer_cell(&f);
        assert_eq!(cell.id, "produced-podman-5.4-overlay");
        let k = content_key(&f, &cell, &a).unwrap();
        assert_eq!(k, content_key(&f, &cell, &a).unwrap(), "deterministic");
        assert_ne!(k, content_key(&f, &cell, &b).unwrap(), "input bytes");
        let mut other = f.clone();
        other.save = crate::runtime::SaveFormat::OciArchive;
        assert_ne!(k, content_key(&other, &cell, &a).unwrap(), "save format");
        let mut pushed = f.clone();
        pushed.push = true;
        assert_ne!(k, content_key(&pushed, &cell, &a).unwrap(), "push");
        let mut resolved = cell.clone();
        resolved
            .extra
            .insert("package_version".into(), "5.4.2+ds1-1".into());
        assert_ne!(k, content_key(&f, &resolved, &a).unwrap(), "the source");
    }

    fn unavailable(
        _: &crate::runtime::InstanceSpec,
    ) -> Result<&'static dyn crate::runtime::Provider, crate::runtime::ProviderError> {
        Err(crate::runtime::ProviderError::BinaryNotFound {
            binary: "podman".into(),
            env: "HARNESS_PODMAN".into(),
        })
    }

    fn env(ci: bool, cache: &Path) -> ProduceEnv {
        ProduceEnv {
            opts: RunOptions {
                snapshots: super::super::SnapshotMode::Ignore,
                snapshot_dir: cache.join("snapshots"),
                jobs: 1,
                ci,
                step_timeout: std::time::Duration::from_secs(5),
            },
            lookup: unavailable,
            cache_dir: cache.to_path_buf(),
        }
    }

    #[tokio::test]
    async fn a_producer_that_cannot_run_here_is_the_consumers_skip_and_a_ci_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.tar");
        std::fs::write(&input, b"crafted").unwrap();
        let f = fixture("host");
        let got = produce(&f, Some(&input), &env(false, dir.path())).await;
        let Err(Status::Skip { reason }) = got else {
            panic!("a missing producer is a skip: {got:?}")
        };
        assert!(
            reason.starts_with(
                "produced fixture (by podman host overlay): podman is not installed here"
            ),
            "{reason}"
        );
        // Under CI the same is an error (run::start's rule); a fresh cache dir, so a fresh key.
        let ci_dir = tempfile::tempdir().unwrap();
        std::fs::write(ci_dir.path().join("x"), b"").unwrap();
        let mut f2 = f.clone();
        f2.tag = "example.test/produced:ci".into();
        let got = produce(&f2, Some(&input), &env(true, ci_dir.path())).await;
        assert!(
            matches!(&got, Err(Status::Error { error_kind: ErrorKind::Start, message }) if message.contains("podman")),
            "{got:?}"
        );
        // Nothing was cached on disk for a failure.
        let cached: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir() && e.file_name() != "snapshots")
            .collect();
        assert!(cached.is_empty(), "{cached:?}");
    }

    /// Through the runner: a consuming cell whose producer cannot run is a skip with the
    /// producer's reason, and none of its steps run (its own runtime is never started).
    #[tokio::test]
    async fn the_consuming_cell_is_skipped_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "name: s\nsummary: s\nfixtures:\n  base:\n    layout: docker-archive\n    name: example.test/b:v1\n    layers: [{ files: [{ path: x, content: x }] }]\n  made:\n    produced_by: { runtime: podman, store: vfs }\n    load: base\n    tag: example.test/runner-skip:v1\nsteps:\n  - id: l\n    load: made\n";
        let scenario = crate::config::parse_scenario(yaml, Path::new("s.yaml")).unwrap();
        let fixtures = crate::run::Fixtures::craft(&scenario).unwrap();
        let cell = Cell {
            id: "docker-host-vfs".into(),
            runtime: RuntimeKind::Docker,
            version: "host".into(),
            store: "vfs".into(),
            builder: None,
            api: None,
            extra: Default::default(),
        };
        let opts = env(false, dir.path()).opts;
        let result =
            super::super::run_cell_with(&scenario, &fixtures, &cell, &opts, unavailable).await;
        let Status::Skip { reason } = &result.status else {
            panic!("{:?}", result.status)
        };
        assert!(
            reason.contains("produced fixture (by podman host vfs)"),
            "{reason}"
        );
        assert!(result.steps.is_empty());
        assert!(
            result.runtime.is_none(),
            "the cell's own instance never started"
        );
    }

    #[test]
    fn an_archive_harness_crafted_reads_back_as_the_facts_it_was_crafted_with() {
        let spec: crate::craft::FixtureSpec = serde_saphyr::from_str(
            "layout: docker-oci-hybrid\nname: example.test/x:v1\nlayers:\n  - files: [{ path: etc/x, content: \"x\\n\" }]\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let crafted = crate::craft::write_archive_to_path(&spec, &path).unwrap();
        let read = facts_of(&crate::verify::inspect_path(&path).unwrap()).unwrap();
        assert_eq!(read.layout, crafted.layout);
        assert_eq!(read.config, crafted.config);
        assert_eq!(read.manifest, crafted.manifest);
        assert_eq!(read.names.repo_tags, crafted.names.repo_tags);
        assert_eq!(read.names.image_name, crafted.names.image_name);
        assert_eq!(read.names.ref_name, crafted.names.ref_name);
        assert_eq!(
            read.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>(),
            crafted
                .layers
                .iter()
                .map(|l| &l.diff_id)
                .collect::<Vec<_>>()
        );
    }
}
