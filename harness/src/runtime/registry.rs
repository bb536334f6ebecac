//! The local registry: the distribution registry (Debian's `docker-registry`, distribution
//! 2.8) started hermetically on a free `127.0.0.1` port, for the `push` and `pull` steps.
//!
//! **Hermetic.** [`Registry::start`] creates its own [`InstanceRoot`]
//! (`$TMPDIR/harness-registry-XXXXXX`) holding a private `config.yml`, the storage
//! (`storage/`, the filesystem driver) and the log, and starts
//! `docker-registry serve <config>` as a [`Daemon`]: its own process group,
//! `PR_SET_PDEATHSIG`, stopped and its root removed on drop, on panic and from the signal
//! handler, like the runtimes' daemons (`process.rs`, `teardown.rs`). The process runs under
//! `env -i`, because distribution overrides any config key from `REGISTRY_*` environment
//! variables (`configuration.Parse`), and a stray one in the harness's environment would
//! otherwise change what is tested. Nothing of the Debian package's own setup is used: the
//! package's `/etc/docker/registry/config.yml` (port 5000, htpasswd auth) is never read, its
//! systemd unit (`docker-registry.service`) is neither started nor needed, and its storage
//! `/var/lib/docker-registry` is never touched.
//!
//! **Port.** The kernel picks a free port (bind `127.0.0.1:0`, read it, close); between that
//! and the registry's own bind another process could take it, so a start whose log says
//! `address already in use` is retried on a new port (three attempts).
//!
//! **Ready** when `GET /v2/` answers 200 (the API version check every client makes first).
//!
//! **Lifetime.** A [`Registry`] is owned by whoever starts it: a test, a cell, or a whole run.
//! [`RegistrySlot`] is the step context's view of it: [`RegistrySlot::lazy`] starts one on the
//! first `push` or `pull` of a cell and tears it down with the slot (what the runner does
//! today, `run/mod.rs`), and [`RegistrySlot::shared`] hands every cell the same
//! `Arc<Registry>`, so cells can pull what other cells pushed (for a runner that starts one per
//! run and drops it after the last cell).
//!
//! **Insecure.** The registry speaks plain HTTP. Each runtime is told so per call or per
//! instance, never by changing the machine's configuration: dockerd treats `127.0.0.0/8` as
//! insecure by default (moby `registry.newServiceConfig` adds it to `InsecureRegistryCIDRs`,
//! checked per version by the live tests); Podman's libpod push and pull take
//! `tlsVerify=false`; containerd's Transfer service takes `RegistryResolver.default_scheme =
//! "http"`; `ctr` takes `--plain-http`.
//!
//! What landed in it is read back through the registry API by [`client::RegistryClient`], and
//! written out byte for byte as an OCI layout archive by [`export::export_layout`].

pub mod client;
pub mod export;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::process::Daemon;
use super::provider::{ProviderError, find_binary, wait_until_ready};
use super::teardown::{InstanceRoot, TeardownReport, off_async_workers};
pub use client::{Landed, PlatformManifest, RegistryClient};

/// The registry binary Debian's `docker-registry` package installs.
pub const BINARY: &str = "docker-registry";
/// Overrides the registry binary's path.
pub const BINARY_ENV: &str = "HARNESS_REGISTRY";
/// How long the registry may take to answer `GET /v2/`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// What the redactor writes for the registry's `host:port` in snapshots.
pub const PLACEHOLDER: &str = "<registry>";

/// A running distribution registry on `127.0.0.1` (see the module doc).
#[derive(Debug)]
pub struct Registry {
    root: InstanceRoot,
    addr: SocketAddr,
    started_in: Duration,
}

/// The registry's config: plain HTTP on `addr`, filesystem storage under `storage`, deletes
/// enabled (so a test can remove what it pushed), no auth, no debug listener, no upload
/// purging (a background job with nothing to purge in a short-lived registry).
fn config(addr: SocketAddr, storage: &std::path::Path) -> String {
    format!(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {addr}\n",
        storage = storage.display(),
    )
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> ProviderError {
    let what = what.to_string();
    move |source| ProviderError::Io { what, source }
}

impl Registry {
    /// The registry binary's path, if it is installed (else [`ProviderError::BinaryNotFound`],
    /// which makes a `push` or `pull` step a skip with that reason outside CI).
    pub fn available() -> Result<PathBuf, ProviderError> {
        find_binary(BINARY, BINARY_ENV)
    }

    /// Starts a registry on a free port and waits until it answers `GET /v2/`.
    pub async fn start() -> Result<Registry, ProviderError> {
        let binary = Self::available()?;
        let env = find_binary("env", "HARNESS_UNUSED_ENV")?;
        let started = Instant::now();
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(&binary, &env).await {
                Ok(mut r) => {
                    r.started_in = started.elapsed();
                    tracing::debug!("registry on {} ready in {:?}", r.addr, r.started_in);
                    return Ok(r);
                }
                // Another process took the port between our probe and the registry's bind.
                Err(ProviderError::Exited { log_tail, .. })
                    if log_tail.contains("address already in use") =>
                {
                    last = Some(log_tail);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ProviderError::Unavailable {
            provider: "registry",
            reason: format!(
                "no free port after three attempts; last log lines:\n{}",
                last.unwrap_or_default()
            ),
        })
    }

    async fn start_once(
        binary: &std::path::Path,
        env: &std::path::Path,
    ) -> Result<Registry, ProviderError> {
        let root = InstanceRoot::create_named("registry-").map_err(ProviderError::Root)?;
        let dir = root.path().to_path_buf();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).map_err(io("create registry storage"))?;
        let addr = free_port().map_err(io("find a free port on 127.0.0.1"))?;
        let config_file = dir.join("config.yml");
        std::fs::write(&config_file, config(addr, &storage)).map_err(io("write config.yml"))?;
        // `env -i`: no REGISTRY_* variable of ours reaches the registry (see the module doc).
        let args = vec![
            "-i".to_string(),
            binary.display().to_string(),
            "serve".into(),
            config_file.display().to_string(),
        ];
        root.adopt(Daemon::spawn(
            "registry",
            env,
            &args,
            &[],
            dir.join("registry.log"),
        )?);
        let client = RegistryClient::new(addr);
        wait_until_ready(&root, "registry", READY_TIMEOUT, || {
            let client = client.clone();
            async move { client.ping().await }
        })
        .await?;
        Ok(Registry {
            root,
            addr,
            started_in: Duration::ZERO,
        })
    }

    /// `127.0.0.1:<port>`, the host part of every reference pushed to it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `<host>/<repository>`, a reference into this registry.
    pub fn reference(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host())
    }

    /// A client for its API.
    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(self.addr)
    }

    /// How long the start took, until `GET /v2/` answered.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Its root directory (config, storage, log).
    pub fn root(&self) -> &std::path::Path {
        self.root.path()
    }

    /// The last `lines` of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.root
            .log_tails(lines)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Stops the registry and removes its root now (otherwise on drop).
    pub fn shutdown(self) -> TeardownReport {
        off_async_workers(|| self.root.teardown())
    }
}

/// The registry a cell's steps push to and pull from: one the run shares, or one started on
/// first use and owned by the slot (torn down when the slot is dropped).
#[derive(Debug, Default)]
pub struct RegistrySlot {
    cell: tokio::sync::OnceCell<Arc<Registry>>,
    /// Why no registry could be started, once that failed (so later steps say the same).
    failed: std::sync::Mutex<Option<String>>,
}

impl RegistrySlot {
    /// A slot that starts its own registry on first use (one per cell).
    pub fn lazy() -> RegistrySlot {
        RegistrySlot::default()
    }

    /// A slot holding `registry`, shared with other cells (one per run).
    pub fn shared(registry: Arc<Registry>) -> RegistrySlot {
        RegistrySlot {
            cell: tokio::sync::OnceCell::new_with(Some(registry)),
            failed: Default::default(),
        }
    }

    /// The registry, started now if this is the first use.
    pub async fn get(&self) -> Result<Arc<Registry>, ProviderError> {
        if let Some(why) = self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(ProviderError::Unavailable {
                provider: "registry",
                reason: why,
            });
        }
        let started = self
            .cell
            .get_or_try_init(|| async { Registry::start().await.map(Arc::new) })
            .await;
        match started {
            Ok(r) => Ok(r.clone()),
            Err(e) => {
                *self.failed.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(crate::run::error_chain(&e));
                Err(e)
            }
        }
    }

    /// The registry's `host:port`, if one has been started (for the redactor).
    pub fn host(&self) -> Option<String> {
        self.cell.get().map(|r| r.host())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_listens_on_loopback_only_and_stores_under_the_root() {
        let addr: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        let c = config(
            addr,
            std::path::Path::new("/tmp/harness-registry-x/storage"),
        );
        assert!(c.contains("addr: 127.0.0.1:40123\n"), "{c}");
        assert!(c.contains("rootdirectory: /tmp/harness-registry-x/storage\n"));
        assert!(
            !c.contains("auth"),
            "no auth: every runtime pushes anonymously"
        );
        assert!(!c.contains("debug"), "no debug listener on another port");
    }

    #[test]
    fn a_free_port_is_on_loopback() {
        let a = free_port().unwrap();
        assert!(a.ip().is_loopback());
        assert_ne!(a.port(), 0);
    }
}
