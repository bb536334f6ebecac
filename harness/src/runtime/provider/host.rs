//! The `host` provider: hermetic daemons started from the binaries installed on this machine.
//!
//! Every instance gets a private [`InstanceRoot`] (`$TMPDIR/harness-XXXXXX`) holding its data,
//! sockets, configuration and logs; the root owns the daemons, so the instance's handle *is* the
//! root. The provider has exactly one version of each runtime, the installed one: a spec that
//! wants another gets [`ProviderError::VersionUnavailable`] (learnt from the started daemon,
//! which is then torn down, because only the daemon says what version it is).
//!
//! - **Docker**: a private `containerd` and a `dockerd` pointed at it, each with its own root,
//!   state and socket inside the instance root, with `--config-file` set to an empty file so
//!   `/etc/docker/daemon.json` is never read, and with iptables, IP masquerading and the default
//!   bridge disabled so the host's network is not touched. dockerd would otherwise use the
//!   system containerd whenever `/run/containerd/containerd.sock` exists, which would not be
//!   hermetic.
//!   The store is the cell's `store` as `--storage-driver`, except `containerd`: the containerd
//!   image store, `{"features":{"containerd-snapshotter":true}}` in that config file (Docker >=
//!   24) with containerd's default snapshotter.
//! - **Podman**: `podman system service` with its own `--root`, `--runroot` and `--tmpdir`,
//!   and `CONTAINERS_CONF`, `CONTAINERS_STORAGE_CONF` and `CONTAINERS_REGISTRIES_CONF` pointing
//!   at files in the instance root, so no system or user configuration is read. Locks are file
//!   locks under the tmpdir (`lock_type = "file"`): the default SHM segment `/libpod_lock` is
//!   shared by every rootful Podman on the machine.
//! - **containerd**: [`start_containerd_daemon`] writes a private config (root, state, gRPC and
//!   ttrpc sockets and the `opt` plugin's directory all inside the instance root; debug and
//!   metrics listeners off; the CRI plugin disabled, since it would start CNI and a streaming
//!   server we never use), starts `containerd` and waits until its Version call answers. The
//!   Docker instance uses the same function for the containerd under its `dockerd`. The driver
//!   then checks that the snapshotter the spec names (`overlayfs`, `native`) is a loaded plugin
//!   (Introspection `Plugins`). Nothing is unpacked, so the snapshotter is recorded and
//!   validated, not used.
//!
//! Readiness: 60 s for dockerd and Podman, 30 s for containerd, each probe bounded by
//! [`PROBE_TIMEOUT`](super::PROBE_TIMEOUT).
//!
//! **Shared with other providers.** The daemon command lines ([`start_docker`],
//! [`start_podman`], [`start_containerd`]) take a [`Launcher`], which decides only where each
//! binary comes from and how its process is started; the host's is [`PathLauncher`] (the
//! binary on `PATH`). The `debian` provider runs the same command lines with the binaries of a
//! Debian root filesystem. After a Docker instance starts, [`check_docker_store`] confirms the
//! daemon runs the store the cell asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    InstanceSpec, Provider, ProviderError, check_version, display, find_binary, io,
    wait_until_ready,
};
use crate::runtime::containerd::ContainerdDriver;
use crate::runtime::docker::DockerDriver;
use crate::runtime::instance::Instance;
use crate::runtime::podman::PodmanDriver;
use crate::runtime::process::{Daemon, SpawnError};
use crate::runtime::teardown::InstanceRoot;
use crate::runtime::{BoxFuture, RuntimeKind};

/// The host provider (see the module doc).
pub struct Host;

/// How a provider starts one daemon: where its binary comes from and what its process runs in.
/// The command line (`args`, `envs`) is the caller's, identical for every provider.
pub trait Launcher: Send + Sync {
    /// Starts daemon `name` (also the binary's file name, `dockerd`, `containerd`, `podman`;
    /// `env` is the variable that overrides its host path) with `args` and `envs`, stdout and
    /// stderr to `log`, and hands it to `root`, which then owns its teardown.
    fn launch(
        &self,
        root: &InstanceRoot,
        binary: &str,
        env: &str,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
    ) -> Result<(), ProviderError>;

    /// Like [`Launcher::launch`], with each `(private, host)` directory of `binds` bind-mounted
    /// over the host directory in a private mount namespace of the daemon's own, so whatever
    /// it writes there lands in `private`. The default is [`Launcher::launch`]: a launcher
    /// whose daemons already run over a private root (the debian provider's chroot, whose
    /// writes land in the instance's overlay) needs nothing more.
    #[allow(clippy::too_many_arguments)]
    fn launch_isolated(
        &self,
        root: &InstanceRoot,
        binary: &str,
        env: &str,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
        binds: &[(PathBuf, PathBuf)],
    ) -> Result<(), ProviderError> {
        let _ = binds;
        self.launch(root, binary, env, args, envs, log)
    }
}

/// The host's [`Launcher`]: the binary found by [`find_binary`], started as is.
pub struct PathLauncher;

impl Launcher for PathLauncher {
    fn launch(
        &self,
        root: &InstanceRoot,
        binary: &str,
        env: &str,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
    ) -> Result<(), ProviderError> {
        let path = find_binary(binary, env)?;
        root.spawn(
            || Daemon::spawn(binary, &path, args, envs, log),
            || SpawnError::Interrupted,
        )?;
        Ok(())
    }

    /// `unshare --mount --propagation private sh -c 'mount --bind ...; exec "$@"' <binary>
    /// <args>`: the binds exist only in the daemon's namespace and go with its last process;
    /// `exec` keeps one process, so the process group, `PR_SET_PDEATHSIG` and teardown are
    /// those of [`Launcher::launch`].
    fn launch_isolated(
        &self,
        root: &InstanceRoot,
        binary: &str,
        env: &str,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
        binds: &[(PathBuf, PathBuf)],
    ) -> Result<(), ProviderError> {
        let path = find_binary(binary, env)?;
        let unshare = find_binary("unshare", "HARNESS_UNSHARE")?;
        let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let mut script = String::from("set -e\n");
        for (private, host) in binds {
            script.push_str(&format!(
                "mount --bind {} {}\n",
                quote(private),
                quote(host)
            ));
        }
        script.push_str("exec \"$@\"\n");
        let mut wrapped: Vec<String> = [
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &script,
            "sh",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        wrapped.push(path.display().to_string());
        wrapped.extend(args.iter().cloned());
        root.adopt(Daemon::spawn(binary, &unshare, &wrapped, envs, log)?);
        Ok(())
    }
}

/// `(binary, environment variable that overrides it)` for each daemon a runtime needs.
fn binaries(runtime: RuntimeKind) -> &'static [(&'static str, &'static str)] {
    match runtime {
        RuntimeKind::Docker => &[
            ("dockerd", "HARNESS_DOCKERD"),
            ("containerd", "HARNESS_CONTAINERD"),
        ],
        RuntimeKind::Podman => &[("podman", "HARNESS_PODMAN")],
        RuntimeKind::Containerd => &[("containerd", "HARNESS_CONTAINERD")],
    }
}

impl Provider for Host {
    fn name(&self) -> &'static str {
        "host"
    }

    fn available(&self, spec: &InstanceSpec) -> Result<(), ProviderError> {
        for (binary, env) in binaries(spec.runtime) {
            find_binary(binary, env)?;
        }
        Ok(())
    }

    fn start<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Instance, ProviderError>> {
        Box::pin(async move {
            // Every binary first, so a missing one fails before any daemon starts.
            self.available(spec)?;
            let root = InstanceRoot::create().map_err(ProviderError::Root)?;
            let instance = start_runtime(spec, root, &PathLauncher).await?;
            checked(self.name(), spec, instance).await
        })
    }
}

/// Starts the daemons of `spec`'s runtime with `launcher`, owned by `root`: [`start_docker`],
/// [`start_podman`] or [`start_containerd`].
pub async fn start_runtime(
    spec: &InstanceSpec,
    root: InstanceRoot,
    launcher: &dyn Launcher,
) -> Result<Instance, ProviderError> {
    match spec.runtime {
        RuntimeKind::Docker => start_docker(&spec.store, root, launcher).await,
        RuntimeKind::Podman => start_podman(&spec.store, root, launcher).await,
        RuntimeKind::Containerd => start_containerd(&spec.store, root, launcher).await,
    }
}

/// `instance` if it is what `spec` asked `provider` for ([`check_version`], then
/// [`check_docker_store`]); otherwise it is shut down and the mismatch returned.
pub async fn checked(
    provider: &'static str,
    spec: &InstanceSpec,
    instance: Instance,
) -> Result<Instance, ProviderError> {
    let checked = match check_version(provider, spec, &instance.info) {
        Ok(()) => check_docker_store(provider, spec, &instance).await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(()) => Ok(instance),
        Err(e) => {
            let _ = instance.shutdown();
            Err(e)
        }
    }
}

/// The Docker store that is the containerd image store (`features.containerd-snapshotter`),
/// rather than a graph driver.
pub const DOCKER_CONTAINERD_STORE: &str = "containerd";

/// The first Docker major version with the containerd image store (moby 24.0 added
/// `features.containerd-snapshotter`).
const CONTAINERD_STORE_SINCE: u64 = 24;

/// `driver-type` in `docker info`'s DriverStatus when dockerd runs the containerd image store
/// (moby `daemon/containerd` `ImageService.StorageDriver` reports the snapshotter plugin type;
/// docker/compose's CI asserts the same value).
const SNAPSHOTTER_DRIVER_TYPE: &str = "io.containerd.snapshotter.v1";

/// daemon.json and the `--storage-driver` argument (if any) for Docker store `store`: the
/// containerd image store is a feature flag with containerd's default snapshotter, any other
/// store is the graph driver of that name. `key` is where dockerd keeps its libtrust key:
/// Docker <= 24 creates `/etc/docker/key.json` when it is missing (moby
/// `daemon/config.go` `TrustKeyPath`, set only through daemon.json's `deprecated-key-path`;
/// 25+ lists the key in `skipValidateOptions` and ignores it).
fn docker_store_config(store: &str, key: &Path) -> (String, Option<String>) {
    let key = serde_json::Value::from(key.display().to_string());
    if store == DOCKER_CONTAINERD_STORE {
        (
            format!(
                "{{\"features\":{{\"containerd-snapshotter\":true}},\"deprecated-key-path\":{key}}}\n"
            ),
            None,
        )
    } else {
        (
            format!("{{\"deprecated-key-path\":{key}}}\n"),
            Some(format!("--storage-driver={store}")),
        )
    }
}

/// Starts a hermetic containerd + dockerd with store `store` (a storage driver, or
/// [`DOCKER_CONTAINERD_STORE`]) and connects to it.
pub async fn start_docker(
    store: &str,
    root: InstanceRoot,
    launcher: &dyn Launcher,
) -> Result<Instance, ProviderError> {
    let dir = root.path().to_path_buf();
    let ctd_sock = start_containerd_daemon(&root, &dir.join("containerd"), launcher).await?;
    let daemon_json = dir.join("daemon.json");
    let (config, storage_driver) = docker_store_config(store, &dir.join("key.json"));
    std::fs::write(&daemon_json, config).map_err(io("write daemon.json"))?;
    let sock = dir.join("docker.sock");
    let p = |x: PathBuf| display(&x);
    let mut args = vec![
        format!("--config-file={}", p(daemon_json)),
        format!("--data-root={}", p(dir.join("data"))),
        format!("--exec-root={}", p(dir.join("exec"))),
        format!("--pidfile={}", p(dir.join("docker.pid"))),
        format!("--host=unix://{}", p(sock.clone())),
        format!("--containerd={}", p(ctd_sock)),
    ];
    args.extend(storage_driver);
    args.extend([
        "--iptables=false".into(),
        "--ip-masq=false".into(),
        "--bridge=none".into(),
        "--userland-proxy=false".into(),
    ]);
    launcher.launch(
        &root,
        "dockerd",
        "HARNESS_DOCKERD",
        &args,
        &[],
        dir.join("dockerd.log"),
    )?;
    wait_until_ready(&root, "dockerd", Duration::from_secs(60), || {
        let sock = sock.clone();
        async move {
            match DockerDriver::connect(&sock).await {
                Ok(d) => d.ping().await,
                Err(_) => false,
            }
        }
    })
    .await?;
    let driver = DockerDriver::connect(&sock).await?;
    Ok(Instance::new(Box::new(driver), Box::new(root))
        .await?
        .with_endpoint(&sock, store))
}

/// Starts a hermetic `podman system service` with storage driver `store` and connects to it.
pub async fn start_podman(
    store: &str,
    root: InstanceRoot,
    launcher: &dyn Launcher,
) -> Result<Instance, ProviderError> {
    let dir = root.path().to_path_buf();
    let (graph, run, tmp) = (dir.join("storage"), dir.join("run"), dir.join("tmp"));
    for d in [&graph, &run, &tmp] {
        std::fs::create_dir_all(d).map_err(io("create podman dirs"))?;
    }
    let containers_conf = dir.join("containers.conf");
    let storage_conf = dir.join("storage.conf");
    let registries_conf = dir.join("registries.conf");
    std::fs::write(
        &containers_conf,
        format!(
            "[engine]\nlock_type = \"file\"\nevents_logger = \"file\"\nevents_logfile_path = \"{}\"\nimage_copy_tmp_dir = \"{}\"\n",
            tmp.join("events.log").display(),
            tmp.display()
        ),
    )
    .map_err(io("write containers.conf"))?;
    std::fs::write(
        &storage_conf,
        format!(
            "[storage]\ndriver = \"{store}\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            graph.display(),
            run.display()
        ),
    )
    .map_err(io("write storage.conf"))?;
    // The local registry (runtime/registry.rs) listens on 127.0.0.1 at a port chosen when a
    // step first pushes, after the service has read this file. libpod's push and pull take
    // `tlsVerify=false` per call; the Docker-compatible API has no such parameter, so the
    // loopback registry is marked insecure here, in the instance's own file: containers/image's
    // `refMatchingPrefix` (pkg/sysregistriesv2) lets `127.0.0.1` match `127.0.0.1:<port>/...`
    // (a prefix followed by `:`), on every version in the matrix.
    std::fs::write(
        &registries_conf,
        "unqualified-search-registries = []\n\n[[registry]]\nlocation = \"127.0.0.1\"\ninsecure = true\n",
    )
        .map_err(io("write registries.conf"))?;

    let sock = dir.join("podman.sock");
    let args = vec![
        format!("--root={}", display(&graph)),
        format!("--runroot={}", display(&run)),
        format!("--tmpdir={}", display(&tmp)),
        format!("--storage-driver={store}"),
        "--cgroup-manager=cgroupfs".into(),
        "--events-backend=file".into(),
        "system".into(),
        "service".into(),
        "--time=0".into(),
        format!("unix://{}", display(&sock)),
    ];
    // Host state Podman would otherwise write (issue 9, item 3): API uploads are spooled with
    // `os.CreateTemp("", "api_load.tar")` (compat `LoadImages`, `CreateImageFromSrc`, which
    // never removes its spool; libpod `ImagesImport`), i.e. under `$TMPDIR`, which Podman
    // defaults to `/var/tmp`; image copies go to containers.conf `image_copy_tmp_dir` (default
    // `/var/tmp`, set above); the blob-info cache goes to `<graphroot>/cache` (containers/common
    // `libimage.RuntimeFromStore` sets `BlobInfoCacheDir`; containers/image's default would be
    // `/var/lib/containers/cache`). `harness/tests/live/import.rs` shows the host's
    // directories unchanged after a run.
    let mut envs = vec![
        ("TMPDIR".to_string(), display(&tmp)),
        ("CONTAINERS_CONF".to_string(), display(&containers_conf)),
        (
            "CONTAINERS_STORAGE_CONF".to_string(),
            display(&storage_conf),
        ),
        (
            "CONTAINERS_REGISTRIES_CONF".to_string(),
            display(&registries_conf),
        ),
        // Builds that name no isolation (the Docker-compatible `/build` has no such parameter)
        // use buildah's default, `BUILDAH_ISOLATION` (buildah `GetDefaultIsolation`): chroot,
        // as the libpod build step asks for, because crun refuses this kind of host's hybrid
        // cgroup layout inside a hermetic service.
        ("BUILDAH_ISOLATION".to_string(), "chroot".to_string()),
    ];
    // What `TMPDIR`, containers.conf and `<graphroot>/cache` do not cover, measured with
    // strace on Podman 4.3.1: containers/image's oci-archive transport unpacks into
    // `tmpdir.TemporaryDirectoryForBigFiles` (`/var/tmp/oci*`, whatever `TMPDIR` says), and
    // some copies open `/var/lib/containers/cache/blob-info-cache-v1.boltdb` (containers/image
    // `blobinfocache.DefaultCache` without a `BlobInfoCacheDir`). So the host's Podman runs
    // with private directories bound over those of the host that exist; one the host lacks is
    // not created (Podman would create it).
    //
    // Configuration the environment variables above do not replace (issue 13, item 7): the
    // signature policy (containers/image `signature.DefaultPolicy` reads
    // `$HOME/.config/containers/policy.json`, else `/etc/containers/policy.json`: a reject-all
    // host policy would refuse every load), registries.conf drop-ins
    // (`/etc/containers/registries.conf.d`, read beside `CONTAINERS_REGISTRIES_CONF`),
    // containers.conf drop-ins, and the network configuration directories where the service
    // takes its lock (`/etc/cni/net.d/cni.lock` on CNI, `/etc/containers/networks` on
    // netavark). Each is replaced by an instance-private one: the policy accepts anything, the
    // directories are empty. `HOME` is private too, so root's `~/.config/containers` and
    // `~/.docker/config.json` are not read either.
    let home = dir.join("home");
    let policy = home.join(".config/containers/policy.json");
    std::fs::create_dir_all(policy.parent().expect("has a parent"))
        .map_err(io("create podman's private home"))?;
    std::fs::write(
        &policy,
        "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}\n",
    )
    .map_err(io("write policy.json"))?;
    envs.push(("HOME".to_string(), display(&home)));
    let mut binds = Vec::new();
    if Path::new("/etc/containers/policy.json").is_file() {
        binds.push((policy.clone(), PathBuf::from("/etc/containers/policy.json")));
    }
    for (name, host) in [
        ("var-tmp", "/var/tmp"),
        ("var-lib-containers", "/var/lib/containers"),
        ("var-cache-containers", "/var/cache/containers"),
        ("registries.conf.d", "/etc/containers/registries.conf.d"),
        ("containers.conf.d", "/etc/containers/containers.conf.d"),
        ("networks", "/etc/containers/networks"),
        ("cni-net.d", "/etc/cni/net.d"),
    ] {
        let host = Path::new(host);
        if host.is_dir() {
            let private = dir.join("host").join(name);
            std::fs::create_dir_all(&private).map_err(io("create podman's private host dirs"))?;
            binds.push((private, host.to_path_buf()));
        }
    }
    launcher.launch_isolated(
        &root,
        "podman",
        "HARNESS_PODMAN",
        &args,
        &envs,
        dir.join("podman.log"),
        &binds,
    )?;
    wait_until_ready(&root, "podman", Duration::from_secs(60), || {
        let sock = sock.clone();
        async move { sock.exists() && PodmanDriver::connect(&sock).await.is_ok() }
    })
    .await?;
    let driver = PodmanDriver::connect(&sock).await?;
    Ok(Instance::new(Box::new(driver), Box::new(root))
        .await?
        .with_endpoint(&sock, store))
}

/// Starts a hermetic containerd whose images are recorded against snapshotter `store`, and
/// connects to it.
pub async fn start_containerd(
    store: &str,
    root: InstanceRoot,
    launcher: &dyn Launcher,
) -> Result<Instance, ProviderError> {
    let dir = root.path().join("containerd");
    let sock = start_containerd_daemon(&root, &dir, launcher).await?;
    let driver = ContainerdDriver::connect(&sock, store).await?;
    Ok(Instance::new(Box::new(driver), Box::new(root))
        .await?
        .with_endpoint(&sock, store))
}

/// A containerd config for a private instance in `dir`. Top-level keys come before the first
/// `[table]`, or TOML would put them inside it.
fn containerd_config(dir: &Path) -> String {
    format!(
        "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n\
         [grpc]\n  address = \"{sock}\"\n\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\n\
         [debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n\n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
        root = dir.join("root").display(),
        state = dir.join("state").display(),
        sock = dir.join("containerd.sock").display(),
        opt = dir.join("opt").display(),
    )
}

/// Starts a private `containerd` owned by `root`, with its config, data, sockets and log in
/// `dir` (created if missing), and returns its gRPC socket once the Version call answers.
/// Used for containerd instances and for the containerd under a Docker instance's `dockerd`
/// (which would otherwise use the system containerd).
pub async fn start_containerd_daemon(
    root: &InstanceRoot,
    dir: &Path,
    launcher: &dyn Launcher,
) -> Result<PathBuf, ProviderError> {
    std::fs::create_dir_all(dir).map_err(io("create containerd dir"))?;
    let config = dir.join("config.toml");
    std::fs::write(&config, containerd_config(dir)).map_err(io("write containerd config"))?;
    let sock = dir.join("containerd.sock");
    launcher.launch(
        root,
        "containerd",
        "HARNESS_CONTAINERD",
        &["--config".into(), display(&config)],
        &[],
        dir.join("containerd.log"),
    )?;
    wait_until_ready(root, "containerd", Duration::from_secs(30), || {
        let sock = sock.clone();
        async move { version_answers(&sock).await }
    })
    .await?;
    Ok(sock)
}

/// Checks that a Docker instance runs the store `spec` asked for: for
/// [`DOCKER_CONTAINERD_STORE`], `driver-type` [`SNAPSHOTTER_DRIVER_TYPE`] in `docker info`'s
/// DriverStatus; for any other store, `Driver` equal to it. A Docker before 24, which has no
/// containerd image store (and ignores the unknown feature), is
/// [`ProviderError::StoreUnavailable`]; any other mismatch is [`ProviderError::StoreMismatch`].
/// Other runtimes pass unchecked here (their drivers check the store themselves).
pub async fn check_docker_store(
    provider: &'static str,
    spec: &InstanceSpec,
    instance: &Instance,
) -> Result<(), ProviderError> {
    if spec.runtime != RuntimeKind::Docker {
        return Ok(());
    }
    let socket = instance.root_path().join("docker.sock");
    let (driver, driver_type) = docker_driver(&socket).await?;
    let found = match &driver_type {
        Some(t) => format!("{driver} ({t})"),
        None => driver.clone(),
    };
    let runs = if spec.store == DOCKER_CONTAINERD_STORE {
        driver_type.as_deref() == Some(SNAPSHOTTER_DRIVER_TYPE)
    } else {
        driver == spec.store && driver_type.as_deref() != Some(SNAPSHOTTER_DRIVER_TYPE)
    };
    if runs {
        return Ok(());
    }
    let too_old = instance
        .facts
        .version
        .major()
        .is_some_and(|m| m < CONTAINERD_STORE_SINCE);
    if spec.store == DOCKER_CONTAINERD_STORE && too_old {
        return Err(ProviderError::StoreUnavailable {
            provider,
            runtime: spec.runtime,
            wanted: spec.store.clone(),
            found: format!(
                "{found}: docker {} has no containerd image store \
                 (features.containerd-snapshotter needs Docker >= {CONTAINERD_STORE_SINCE})",
                instance.info.version
            ),
        });
    }
    Err(ProviderError::StoreMismatch {
        provider,
        runtime: spec.runtime,
        wanted: spec.store.clone(),
        found,
    })
}

/// `docker info`'s `Driver` and the `driver-type` entry of its DriverStatus, if any.
async fn docker_driver(socket: &Path) -> Result<(String, Option<String>), ProviderError> {
    use crate::runtime::RuntimeError;
    let endpoint = display(socket);
    let failed = |e: bollard::errors::Error| {
        ProviderError::Runtime(RuntimeError::Protocol {
            runtime: "docker",
            what: format!("info ({endpoint})"),
            source: Box::new(e),
        })
    };
    let client = bollard::Docker::connect_with_unix(
        &endpoint,
        crate::runtime::CALL_TIMEOUT.as_secs(),
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(failed)?
    .negotiate_version()
    .await
    .map_err(failed)?;
    let info = client.info().await.map_err(failed)?;
    let driver_type = info
        .driver_status
        .unwrap_or_default()
        .into_iter()
        .find(|kv| kv.first().is_some_and(|k| k == "driver-type"))
        .and_then(|kv| kv.get(1).cloned());
    Ok((info.driver.unwrap_or_default(), driver_type))
}

/// `true` once the daemon on `socket` answers a Version call (within two seconds).
async fn version_answers(socket: &Path) -> bool {
    use containerd_client::services::v1::version_client::VersionClient;
    let probe = async {
        let channel = crate::runtime::grpc::connect_with(socket, Duration::from_secs(2))
            .await
            .ok()?;
        VersionClient::new(channel).version(()).await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_top_level_keys_before_tables() {
        let config = containerd_config(Path::new("/tmp/harness-x/containerd"));
        let first_table = config.find("\n[").unwrap();
        for key in ["version = 2", "root = ", "state = ", "disabled_plugins = "] {
            assert!(config.find(key).unwrap() < first_table, "{key}");
        }
        assert!(config.contains("address = \"/tmp/harness-x/containerd/containerd.sock\""));
        assert!(config.contains("path = \"/tmp/harness-x/containerd/opt\""));
    }

    #[test]
    fn the_containerd_store_is_a_feature_and_other_stores_a_driver() {
        let key = Path::new("/r/key.json");
        let (json, arg) = docker_store_config("containerd", key);
        assert_eq!(
            json,
            "{\"features\":{\"containerd-snapshotter\":true},\"deprecated-key-path\":\"/r/key.json\"}\n"
        );
        assert_eq!(arg, None);
        let (json, arg) = docker_store_config("overlay2", key);
        assert_eq!(json, "{\"deprecated-key-path\":\"/r/key.json\"}\n");
        assert_eq!(arg.as_deref(), Some("--storage-driver=overlay2"));
    }

    #[test]
    fn every_runtime_needs_its_daemons_binaries() {
        // The nextest front door asks this, so a containerd cell on a machine without
        // containerd is listed as ignored rather than failing.
        assert_eq!(binaries(RuntimeKind::Containerd)[0].0, "containerd");
        assert!(
            binaries(RuntimeKind::Docker)
                .iter()
                .any(|b| b.0 == "containerd")
        );
        let spec = InstanceSpec::new(RuntimeKind::Containerd, "native");
        match (
            Host.available(&spec),
            find_binary("containerd", "HARNESS_CONTAINERD"),
        ) {
            (Ok(()), Ok(_)) => {}
            (Err(e), Err(_)) => assert!(e.is_unavailable(), "{e}"),
            other => panic!("available disagrees with find_binary: {other:?}"),
        }
    }
}
