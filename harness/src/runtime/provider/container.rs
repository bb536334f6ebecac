//! The `container` provider: a runtime started from a container image, inside a hermetic
//! Docker daemon the harness starts for it.
//!
//! This is how exact versions no distribution ships are reached where images can be pulled (a
//! `docker:25.0.0-dind` image for a Docker version, a Podman image for a Podman version), and
//! how a Debian suite's runtimes run as a container image where nothing can be pulled.
//!
//! Options (a cell's matrix keys):
//!
//! - `image`: the runtime image, any reference the outer daemon can resolve. Pulled when the
//!   outer daemon does not have it (see `pull`).
//! - `suite` (when there is no `image`): the image is built here from the cached root
//!   filesystem of that Debian suite (the `debian` provider's cache, built on first use),
//!   imported into the outer daemon as `harness.local/debian-<suite>:<cache key>`.
//! - `pull`: `missing` (default: pull only an image the outer daemon lacks), `always`, or
//!   `never` (a missing image is "unavailable").
//! - `outer_store`: the outer daemon's storage driver (default `overlay2`).
//!
//! **How an instance starts.** An *outer* hermetic `dockerd` is started with the host
//! provider's command line and the host's binaries (its own root, socket and containerd, the
//! containerd in a pid namespace of its own; it is infrastructure, like the registry, and
//! appears in no result). The runtime image is made available to it, and one container is
//! created from it, with the instance root bind-mounted at its own absolute path and, as its only
//! process, a keeper shell that waits on a FIFO in that root. Then exactly the daemon command
//! lines of the host provider (`host.rs`'s `start_docker`, `start_podman`, `start_containerd`)
//! run inside the container: each daemon joins the container's mount and pid namespaces and its
//! root (`nsenter`, through the debian provider's [`ChrootLauncher::joining`]), so its binaries,
//! libraries and `/etc` are the image's, while its data root, sockets, configuration and logs are
//! in the instance root, at the same paths inside and outside. The harness connects to the
//! sockets directly, so every observation goes through the runtime's own API, as with any other
//! provider. The daemons stay in the host's network namespace (like the host provider's, with
//! the host provider's network settings), so the run's registry on 127.0.0.1 is reachable.
//!
//! **Privileged.** The runtime's daemons are not the container's processes, so they have the
//! harness's own capabilities and no seccomp or AppArmor profile whatever the container says;
//! what the container gives them is its mount namespace, and that is made what a privileged
//! container's is: the host's `/dev` and `/sys` (bound read-write, as the debian provider binds
//! them), and no masked or read-only `/proc` paths. `--privileged` itself is not asked for: it
//! makes Docker before 23 request every capability the kernel knows, which runc cannot grant
//! where the daemon's own bounding set is smaller (moby#42906, fixed by moby#42933 in 23.0): on
//! such a machine (this project's CI machines lack `CAP_SYS_RESOURCE`) the keeper would not start.
//!
//! Why the daemons are `nsenter`ed rather than started with the outer daemon's exec API: the
//! harness then owns them as processes, exactly as it owns the host and debian providers'
//! daemons (process group, `PR_SET_PDEATHSIG`, log capture, liveness, stop with a grace period),
//! so teardown on drop, on a signal and after a crash is the one already tested.
//!
//! **One outer daemon per run.** Container instances of one `outer_store` that overlap in time
//! share one outer daemon, and while the runner holds the provider's session (a whole `harness
//! run`) every container cell does ([`Shared`]): each image is imported or pulled once per run,
//! not once per cell. Each instance still has its own container, keeper and instance root.
//!
//! **Nothing is left behind.** The keeper is the container's pid 1: when it exits, the kernel
//! kills every process of the container's pid namespace, so the runtime's daemons cannot
//! outlive it. It exits when the harness closes its end of the FIFO: at teardown, and also when
//! the harness dies without tearing down (the kernel closes the FIFO then), and on SIGTERM from
//! the outer daemon, which then removes the container (`AutoRemove`). Teardown stops the
//! runtime's daemons and closes the FIFO; the last holder of the outer daemon stops it, and its
//! root (with the imported images) goes with it.
//!
//! Why not `testcontainers`: its client is process-wide and configured once from `DOCKER_HOST`
//! or `~/.testcontainers.properties` (`Client::lazy_client`, `Config::load`), so it cannot point
//! each cell at its own hermetic daemon while other cells run in parallel without rewriting the
//! process environment at run time; and it pulls any image it does not find on `start`, where
//! the harness must decide (and say) whether a pull is allowed. bollard, which testcontainers
//! wraps, is already the harness's Docker client.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::debian::chroot::ChrootLauncher;
use super::host::{Host, Launcher, checked, start_docker, start_runtime};
use super::{InstanceSpec, Provider, ProviderError, display, find_binary, io};
use crate::runtime::instance::{Instance, InstanceHandle};
use crate::runtime::process::{Daemon, SpawnError};
use crate::runtime::teardown::{InstanceRoot, TeardownReport};
use crate::runtime::{BoxFuture, RuntimeKind};

/// The container provider (see the module doc).
pub struct Container;

pub const NAME: &str = "container";

/// The option naming the runtime image.
pub const IMAGE_OPTION: &str = "image";

/// The outer daemon's storage driver unless `outer_store` says.
const DEFAULT_OUTER_STORE: &str = "overlay2";

/// The repository of images built from a Debian suite's root filesystem.
pub const LOCAL_REPOSITORY: &str = "harness.local/debian";

/// How long an import of a root filesystem or a pull may take.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(900);

/// The container's only process: wait until the FIFO `$0` reports end of file (every writer,
/// i.e. the harness, closed it) or SIGTERM arrives, then exit, taking the pid namespace with it.
const KEEPER: &str = "trap 'exit 0' TERM; read _ < \"$0\" & wait $!";

/// When to pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    Missing,
    Always,
    Never,
}

/// Where the runtime image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A reference for the outer daemon.
    Named { reference: String, pull: Pull },
    /// Built here from the cached root filesystem of a Debian suite.
    Suite(String),
}

/// The image options of `spec`.
pub fn image_source(spec: &InstanceSpec) -> Result<ImageSource, ProviderError> {
    let pull = match spec.options.get("pull").map(String::as_str) {
        None | Some("missing") => Pull::Missing,
        Some("always") => Pull::Always,
        Some("never") => Pull::Never,
        Some(other) => {
            return Err(ProviderError::Unavailable {
                provider: NAME,
                reason: format!("pull: {other:?} is not one of missing, always, never"),
            });
        }
    };
    match (spec.options.get(IMAGE_OPTION), spec.options.get("suite")) {
        (Some(reference), _) => Ok(ImageSource::Named {
            reference: reference.clone(),
            pull,
        }),
        (None, Some(suite)) => Ok(ImageSource::Suite(suite.clone())),
        (None, None) => Err(ProviderError::MissingOption {
            provider: NAME,
            option: IMAGE_OPTION,
        }),
    }
}

impl Provider for Container {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Keeps every outer daemon started during the session (a run) until it ends, so the
    /// run's container cells share one per `outer_store`, and each image is imported once.
    fn session(&self) -> Option<Box<dyn std::any::Any + Send>> {
        let mut kept = kept().lock().unwrap_or_else(|e| e.into_inner());
        if kept.is_some() {
            // A session is already open (one run at a time per process holds it).
            return None;
        }
        *kept = Some(Vec::new());
        Some(Box::new(Session))
    }

    fn available(&self, spec: &InstanceSpec) -> Result<(), ProviderError> {
        let source = image_source(spec)?;
        Host.available(&outer_spec(spec))?;
        find_binary("nsenter", "HARNESS_NSENTER")?;
        find_binary("unshare", "HARNESS_UNSHARE")?;
        if let ImageSource::Suite(suite) = &source
            && super::debian::cached(suite).is_none()
        {
            find_binary("mmdebstrap", super::debian::MMDEBSTRAP_ENV)?;
        }
        Ok(())
    }

    fn start<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Instance, ProviderError>> {
        Box::pin(async move {
            self.available(spec)?;
            let source = image_source(spec)?;
            // The outer daemon (shared with the run's other container cells, see `Shared`) and
            // the image; dropping `outer` on an early return lets it go.
            let outer = shared(&outer_spec(spec).store);
            let daemon = outer.daemon().await?;
            let image = daemon.image(&source).await?;
            let client = &daemon.client;

            let root = InstanceRoot::create_named("container-").map_err(ProviderError::Root)?;
            let fifo = root.path().join("keeper.fifo");
            nix::unistd::mkfifo(
                &fifo,
                nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
            )
            .map_err(|e| ProviderError::Io {
                what: format!("create {}", fifo.display()),
                source: e.into(),
            })?;
            // Read and write, so opening does not wait for the keeper; close-on-exec (std's
            // default), so no daemon inherits it and keeps the keeper alive.
            let keeper = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo)
                .map_err(io("open the keeper's FIFO"))?;
            let pid = start_keeper(client, &image, root.path(), &fifo).await?;

            let launcher = ChrootLauncher::joining(NAME, pid);
            let instance = start_runtime(spec, root, &launcher).await?;
            let instance = instance.wrap_handle(|inner| {
                Box::new(ContainerHandle {
                    inner,
                    keeper: Mutex::new(Some(keeper)),
                    outer: Mutex::new(Some(outer.clone())),
                })
            });
            checked(NAME, spec, instance).await
        })
    }
}

/// The outer daemon of one `outer_store`, shared by the container instances that overlap in
/// time, and by every container cell of a run while the runner holds a [`Provider::session`]:
/// one outer dockerd, and one import (or pull) of each image, instead of one per cell. Each
/// instance still has its own container, keeper, instance root, data root and sockets; the
/// outer daemon only ever holds the runtime images and the stopped-and-removed keepers
/// (`AutoRemove`). It starts on first use and is torn down when the last holder lets go.
pub struct Shared {
    store: String,
    daemon: tokio::sync::OnceCell<OuterDaemon>,
}

/// A running outer daemon and the images it was given.
pub struct OuterDaemon {
    instance: Instance,
    client: Docker,
    /// Each image source's reference, made available once.
    images: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<String>>>>,
}

fn shared_registry() -> &'static Mutex<HashMap<String, Weak<Shared>>> {
    static SHARED: OnceLock<Mutex<HashMap<String, Weak<Shared>>>> = OnceLock::new();
    SHARED.get_or_init(Default::default)
}

/// What a [`Provider::session`] holds: every [`Shared`] handed out while it lives.
fn kept() -> &'static Mutex<Option<Vec<Arc<Shared>>>> {
    static KEPT: Mutex<Option<Vec<Arc<Shared>>>> = Mutex::new(None);
    &KEPT
}

/// The live [`Shared`] of `store`, or a new one.
fn shared(store: &str) -> Arc<Shared> {
    let mut registry = shared_registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = registry.get(store).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(Shared {
        store: store.to_string(),
        daemon: tokio::sync::OnceCell::new(),
    });
    registry.insert(store.to_string(), Arc::downgrade(&s));
    if let Some(kept) = kept().lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        kept.push(s.clone());
    }
    s
}

/// Holds every outer daemon started while it lives (see [`Shared`]).
struct Session;

impl Drop for Session {
    fn drop(&mut self) {
        let held = kept().lock().unwrap_or_else(|e| e.into_inner()).take();
        // Dropped outside the lock: the last holder's drop tears the outer daemon down.
        drop(held);
    }
}

impl Shared {
    /// The outer daemon, started now if it is not running yet.
    async fn daemon(&self) -> Result<&OuterDaemon, ProviderError> {
        self.daemon
            .get_or_try_init(|| async {
                let root = InstanceRoot::create_named("outer-").map_err(ProviderError::Root)?;
                let instance = start_docker(&self.store, root, &OuterLauncher::default()).await?;
                let client = connect(&instance.root_path().join("docker.sock"))?;
                Ok(OuterDaemon {
                    instance,
                    client,
                    images: Mutex::new(HashMap::new()),
                })
            })
            .await
    }
}

impl OuterDaemon {
    /// The reference of `source`'s image, made available to the daemon once (concurrent
    /// callers wait for the first; a failure is retried by the next caller).
    async fn image(&self, source: &ImageSource) -> Result<String, ProviderError> {
        let key = format!("{source:?}");
        let cell = self
            .images
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        cell.get_or_try_init(|| ensure_image(&self.client, source))
            .await
            .cloned()
    }
}

/// How the outer daemons start: the host's binaries and the host provider's command lines, in
/// a pid and mount namespace of their own. containerd starts first, as
/// `unshare --pid --fork --kill-child=SIGKILL --mount-proc containerd ...`, and dockerd joins its
/// namespaces (`nsenter --target <containerd> --mount --pid`), so that every process they start
/// dies with them: when a pid namespace's first process exits, the kernel kills the rest. That
/// matters for the keeper container's `containerd-shim-runc-v2`, which containerd deliberately
/// detaches (so it survives a containerd restart) and which would otherwise outlive a harness
/// killed with SIGKILL. The processes the instance root owns are `unshare` (whose
/// `--kill-child` passes its death on) and `nsenter`. The mounts the outer daemons make (image
/// layers, the container's root) stay in their namespace, off the host's mount table.
#[derive(Default)]
struct OuterLauncher {
    /// The `unshare` of the first daemon, whose child is the namespace's first process.
    first: Mutex<Option<u32>>,
}

impl Launcher for OuterLauncher {
    fn launch(
        &self,
        root: &InstanceRoot,
        binary: &str,
        env: &str,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
    ) -> Result<(), ProviderError> {
        let path = display(&find_binary(binary, env)?);
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        let (program, mut wrapped) = match *first {
            None => (
                find_binary("unshare", "HARNESS_UNSHARE")?,
                vec![
                    "--pid".to_string(),
                    "--fork".into(),
                    "--kill-child=SIGKILL".into(),
                    "--mount-proc".into(),
                    path,
                ],
            ),
            Some(unshare) => {
                let target = first_child(unshare).ok_or_else(|| ProviderError::Io {
                    what: format!("start {binary} beside the outer containerd"),
                    source: std::io::Error::other(format!("unshare {unshare} has no child")),
                })?;
                (
                    find_binary("nsenter", "HARNESS_NSENTER")?,
                    vec![
                        format!("--target={target}"),
                        "--mount".into(),
                        "--pid".into(),
                        path,
                    ],
                )
            }
        };
        wrapped.extend(args.iter().cloned());
        // `unshare --fork` blocks SIGTERM while it waits for its child; SIGKILL it is.
        let pid = root.spawn(
            || {
                Daemon::spawn_with_death_signal(
                    binary,
                    &program,
                    &wrapped,
                    envs,
                    log,
                    nix::sys::signal::Signal::SIGKILL,
                )
            },
            || SpawnError::Interrupted,
        )?;
        first.get_or_insert(pid);
        Ok(())
    }
}

/// The first child of process `pid` (`/proc/<pid>/task/<pid>/children`).
fn first_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The outer daemon: the host's Docker with `outer_store`.
fn outer_spec(spec: &InstanceSpec) -> InstanceSpec {
    let store = spec
        .options
        .get("outer_store")
        .map_or(DEFAULT_OUTER_STORE, String::as_str);
    InstanceSpec::new(RuntimeKind::Docker, store)
}

/// A client of the outer daemon, patient enough for an import of a whole root filesystem.
fn connect(socket: &Path) -> Result<Docker, ProviderError> {
    Docker::connect_with_unix(
        &display(socket),
        IMAGE_TIMEOUT.as_secs(),
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| outer_failed("connect", e))
}

fn outer_failed(what: &str, e: bollard::errors::Error) -> ProviderError {
    ProviderError::Io {
        what: format!("{what} (the container provider's outer dockerd)"),
        source: std::io::Error::other(e),
    }
}

/// Makes the image of `source` available to the outer daemon and returns its reference.
async fn ensure_image(client: &Docker, source: &ImageSource) -> Result<String, ProviderError> {
    match source {
        ImageSource::Named { reference, pull } => {
            let have = client.inspect_image(reference).await.is_ok();
            match (have, pull) {
                (true, Pull::Missing | Pull::Never) => return Ok(reference.clone()),
                (false, Pull::Never) => {
                    return Err(ProviderError::Unavailable {
                        provider: NAME,
                        reason: format!("no image {reference} here, and pull is never"),
                    });
                }
                _ => {}
            }
            pull_image(client, reference).await?;
            Ok(reference.clone())
        }
        ImageSource::Suite(suite) => {
            let owned = suite.clone();
            let entry = tokio::task::spawn_blocking(move || super::debian::provision(&owned))
                .await
                .map_err(|e| ProviderError::Io {
                    what: "provision a root filesystem".into(),
                    source: std::io::Error::other(e),
                })??;
            // The cache entry's own key (`<suite>-<key>/`): a new recipe is a new image.
            let key = super::debian::rootfs::RootfsSpec::new(suite).key();
            let reference = local_reference(suite, &key);
            import_tree(client, &entry.tree(), &reference).await?;
            Ok(reference)
        }
    }
}

/// Pulls `reference` into the outer daemon (POST /images/create?fromImage=), reporting the
/// daemon's own error (for example that nothing can be pulled here) as unavailable.
async fn pull_image(client: &Docker, reference: &str) -> Result<(), ProviderError> {
    let opts = CreateImageOptionsBuilder::new()
        .from_image(reference)
        .build();
    let mut stream = client.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        let failed = match item {
            Ok(info) => info.error_detail.and_then(|d| d.message),
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = failed {
            return Err(ProviderError::Unavailable {
                provider: NAME,
                reason: format!("cannot pull {reference}: {message}"),
            });
        }
    }
    Ok(())
}

/// Imports the directory `tree` as the image `reference` (POST /images/create?fromSrc=-, as
/// `docker import` does), streaming a tar of it that a thread writes into a pipe: nothing is
/// written to disk on the way.
async fn import_tree(client: &Docker, tree: &Path, reference: &str) -> Result<(), ProviderError> {
    let (reader, writer) = std::io::pipe().map_err(io("create a pipe"))?;
    let tree = tree.to_path_buf();
    let writing = std::thread::spawn(move || -> std::io::Result<()> {
        let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, writer));
        tar.follow_symlinks(false);
        // moby's archive reader has no GNU sparse entries ("unhandled tar header type 83").
        tar.sparse(false);
        tar.mode(tar::HeaderMode::Complete);
        tar.append_dir_all(".", &tree)?;
        tar.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    });
    let file = tokio::fs::File::from_std(File::from(std::os::fd::OwnedFd::from(reader)));
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let opts = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(reference)
        .build();
    let mut stream = client.create_image(Some(opts), Some(body), None);
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    failure.get_or_insert(message);
                }
            }
            Err(e) => {
                failure.get_or_insert(e.to_string());
            }
        }
    }
    drop(stream);
    let written = writing.join().map_err(|_| ProviderError::Io {
        what: "write the root filesystem's tar".into(),
        source: std::io::Error::other("the writer thread panicked"),
    })?;
    if let Some(message) = failure {
        return Err(ProviderError::Io {
            what: format!("import {reference} into the outer dockerd"),
            source: std::io::Error::other(message),
        });
    }
    written.map_err(io(&format!("write the tar of {reference}")))
}

/// Creates and starts the keeper container from `image` with `root` bound at its own path,
/// and returns the keeper's pid in the host's pid namespace.
async fn start_keeper(
    client: &Docker,
    image: &str,
    root: &Path,
    fifo: &Path,
) -> Result<u32, ProviderError> {
    let name = format!(
        "harness-{}",
        root.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("instance")
    );
    let bind = format!("{0}:{0}", display(root));
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        cmd: Some(vec![KEEPER.into(), display(fifo)]),
        labels: Some(HashMap::from([(
            "harness.instance-root".to_string(),
            display(root),
        )])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            // Privileged in what concerns the runtime's daemons (see "Privileged" in the module
            // doc): the host's /dev and /sys, no masked or read-only /proc paths.
            binds: Some(vec![bind, "/dev:/dev".into(), "/sys:/sys".into()]),
            masked_paths: Some(Vec::new()),
            readonly_paths: Some(Vec::new()),
            network_mode: Some("none".into()),
            // The outer daemon may outlive this instance (`Shared`): it removes the container
            // once the keeper exits.
            auto_remove: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = client
        .create_container(Some(opts), body)
        .await
        .map_err(|e| outer_failed("create the runtime's container", e))?;
    client
        .start_container(&created.id, None)
        .await
        .map_err(|e| outer_failed("start the runtime's container", e))?;
    // The daemon reports the pid in its own pid namespace (OuterLauncher); the host's is found
    // by the keeper's command line, which names this instance's FIFO.
    let started = std::time::Instant::now();
    loop {
        if let Some(pid) = keeper_pid(fifo) {
            return Ok(pid);
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(ProviderError::Io {
                what: format!("start container {name} from {image}"),
                source: std::io::Error::other("its keeper is not running"),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The host pid of the keeper waiting on `fifo`: the process whose command line names it and
/// which is the first process of its pid namespace (`NSpid` ends in 1; the backgrounded `read`
/// is its child).
fn keeper_pid(fifo: &Path) -> Option<u32> {
    let needle = display(fifo);
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.split('\0').any(|arg| arg == needle) {
            return None;
        }
        let status = std::fs::read_to_string(e.path().join("status")).ok()?;
        let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
        (nspid.split_whitespace().last() == Some("1")).then_some(pid)
    })
}

/// The handle of a container instance: the runtime's daemons (the inner handle, whose root
/// is the instance root), the keeper's FIFO, and the outer daemon.
struct ContainerHandle {
    inner: Box<dyn InstanceHandle>,
    keeper: Mutex<Option<File>>,
    outer: Mutex<Option<Arc<Shared>>>,
}

impl InstanceHandle for ContainerHandle {
    fn root(&self) -> &Path {
        self.inner.root()
    }

    fn dead_daemon(&self) -> Option<(String, String)> {
        self.inner.dead_daemon().or_else(|| {
            let outer = self.outer.lock().unwrap_or_else(|e| e.into_inner());
            outer
                .as_ref()?
                .daemon
                .get()?
                .instance
                .dead_daemon()
                .map(|(d, tail)| (format!("the container provider's outer {d}"), tail))
        })
    }

    fn log_tails(&self, lines: usize) -> Vec<(String, String)> {
        self.inner.log_tails(lines)
    }

    /// The runtime's daemons first (their data and sockets are in the instance root), then the
    /// keeper (closing the FIFO ends the container, which the outer daemon then removes), then
    /// this instance's hold on the outer daemon, torn down here if it was the last.
    fn teardown(&self) -> TeardownReport {
        let report = self.inner.teardown();
        drop(self.keeper.lock().unwrap_or_else(|e| e.into_inner()).take());
        let outer = self.outer.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(outer);
        report
    }
}

/// The reference of the image built from the cache entry `key` of `suite`.
pub fn local_reference(suite: &str, key: &str) -> String {
    format!("{LOCAL_REPOSITORY}-{suite}:{key}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn spec(options: &[(&str, &str)]) -> InstanceSpec {
        InstanceSpec {
            provider: NAME.into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..InstanceSpec::new(RuntimeKind::Docker, "overlay2")
        }
    }

    #[test]
    fn the_image_is_named_or_built_from_a_suite() {
        assert_eq!(
            image_source(&spec(&[("image", "docker:25.0.0-dind")])).unwrap(),
            ImageSource::Named {
                reference: "docker:25.0.0-dind".into(),
                pull: Pull::Missing
            }
        );
        assert_eq!(
            image_source(&spec(&[("image", "x"), ("pull", "never")])).unwrap(),
            ImageSource::Named {
                reference: "x".into(),
                pull: Pull::Never
            }
        );
        assert_eq!(
            image_source(&spec(&[("suite", "bullseye")])).unwrap(),
            ImageSource::Suite("bullseye".into())
        );
        let err = image_source(&spec(&[])).unwrap_err();
        assert!(matches!(err, ProviderError::MissingOption { .. }), "{err}");
        assert!(!err.is_unavailable());
        let err = image_source(&spec(&[("image", "x"), ("pull", "sometimes")])).unwrap_err();
        assert!(err.to_string().contains("\"sometimes\""), "{err}");
    }

    #[test]
    fn the_outer_daemon_is_the_hosts_docker() {
        let outer = outer_spec(&spec(&[("suite", "sid")]));
        assert_eq!(outer.provider, "host");
        assert_eq!(outer.runtime, RuntimeKind::Docker);
        assert_eq!(outer.store, "overlay2");
        assert_eq!(outer_spec(&spec(&[("outer_store", "vfs")])).store, "vfs");
        assert_eq!(
            local_reference("bullseye", "a39c"),
            "harness.local/debian-bullseye:a39c"
        );
    }
}
