//! Providers: start a hermetic runtime instance for a cell and hand back a connected driver.
//!
//! An [`Instance`] owns its [`InstanceRoot`]; dropping the instance (or calling
//! [`Instance::shutdown`]) stops its daemons and removes every trace of it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::process::SpawnError;
use super::teardown::{InstanceRoot, TeardownReport};
use super::{Runtime, RuntimeError, RuntimeInfo};

/// A running, connected, hermetic runtime instance.
pub struct Instance {
    /// The driver for the instance's API.
    pub runtime: Box<dyn Runtime>,
    /// What the instance reported about itself at start.
    pub info: RuntimeInfo,
    root: InstanceRoot,
}

/// Failure to start an instance.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{binary} not found on PATH (set {env} to its path)")]
    BinaryNotFound { binary: String, env: String },
    #[error("failed to create instance root")]
    Root(#[source] std::io::Error),
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("{daemon} exited during startup ({status}); last log lines:\n{log_tail}")]
    Exited {
        daemon: String,
        status: String,
        log_tail: String,
    },
    #[error("{daemon} not ready after {after:?}; last log lines:\n{log_tail}")]
    NotReady {
        daemon: String,
        after: Duration,
        log_tail: String,
    },
    #[error("failed to query the new instance")]
    Runtime(#[from] RuntimeError),
    #[error("unsupported runtime {0:?}")]
    UnsupportedRuntime(String),
}

impl Instance {
    /// Wraps a started root and its driver, asking the driver what it is talking to.
    pub async fn new(
        root: InstanceRoot,
        runtime: Box<dyn Runtime>,
    ) -> Result<Instance, ProviderError> {
        let info = runtime.info().await?;
        Ok(Instance {
            runtime,
            info,
            root,
        })
    }

    /// The instance's private directory (for redacting it out of messages).
    pub fn root_path(&self) -> &Path {
        self.root.path()
    }

    /// `Some((daemon, last log lines))` for the first daemon of this instance that has died.
    pub fn dead_daemon(&self, names: &[&str]) -> Option<(String, String)> {
        names.iter().find_map(|n| {
            self.root
                .with_daemon(n, |d| d.exited().map(|_| (d.name.clone(), d.log_tail(20))))
                .flatten()
        })
    }

    /// Stops the daemons and removes the root now, reporting what that took.
    pub fn shutdown(self) -> TeardownReport {
        self.root.teardown()
    }
}

/// Starts a hermetic instance of `runtime` (`docker` or `podman`) with storage driver `store`.
pub async fn start_instance(runtime: &str, store: &str) -> Result<Instance, ProviderError> {
    let root = InstanceRoot::create().map_err(ProviderError::Root)?;
    match runtime {
        "docker" => super::docker::start(store, root).await,
        "podman" => super::podman::start(store, root).await,
        "containerd" => super::containerd::start(store, root).await,
        other => Err(ProviderError::UnsupportedRuntime(other.to_string())),
    }
}

/// The path of `binary`: `$env` if set, else the first match on `PATH`.
pub fn find_binary(binary: &str, env: &str) -> Result<PathBuf, ProviderError> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
        .ok_or_else(|| ProviderError::BinaryNotFound {
            binary: binary.into(),
            env: env.into(),
        })
}

/// Polls `probe` every 100 ms until it returns true, failing early if the daemon `name` exits
/// and with its log tail after `timeout`.
pub async fn wait_until_ready<F, Fut>(
    root: &InstanceRoot,
    name: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if let Some(Some((status, tail))) =
            root.with_daemon(name, |d| d.exited().map(|s| (s, d.log_tail(20))))
        {
            return Err(ProviderError::Exited {
                daemon: name.into(),
                status: status.to_string(),
                log_tail: tail,
            });
        }
        if probe().await {
            return Ok(());
        }
        if started.elapsed() > timeout {
            let tail = root
                .with_daemon(name, |d| d.log_tail(20))
                .unwrap_or_default();
            return Err(ProviderError::NotReady {
                daemon: name.into(),
                after: timeout,
                log_tail: tail,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
