//! Providers: where a runtime instance comes from. A [`Provider`] takes an [`InstanceSpec`]
//! (runtime, version, store, options) and hands back a connected [`Instance`] whose handle owns
//! its teardown, or says why it cannot here.
//!
//! - `host` ([`host::Host`]): starts hermetic daemons from the binaries installed on this
//!   machine, each instance in its own root. The default.
//! - `socket` ([`socket::Socket`]): connects to a daemon someone else already runs, at the
//!   socket given in the `socket` option. Not hermetic: the daemon's store is shared.
//! - `debian` ([`debian::Debian`]): the host provider's daemons with the binaries of a Debian
//!   suite's cached root filesystem.
//! - `container` ([`container::Container`]): the same daemons inside a privileged container
//!   of a runtime image (a named one, or one built from a Debian suite's root filesystem), in
//!   a hermetic dockerd the harness starts for it.
//!
//! Adding a provider is one module here plus its line in [`PROVIDERS`].
//!
//! **Applicability is the provider's.** Only a provider knows which versions and stores it can
//! give: the host provider has exactly the installed version, and answers a cell that wants
//! another with [`ProviderError::VersionUnavailable`]. Errors that mean "this provider cannot
//! give that here" (a binary missing, another version, no such socket) answer `true` to
//! [`ProviderError::is_unavailable`]; front doors make those a `skip` (outside CI), and every
//! other error means something broke.
//!
//! **Readiness** is polled with [`wait_until_ready`]: an overall deadline per daemon, and each
//! probe bounded by [`PROBE_TIMEOUT`], so one probe that hangs (a socket that accepts and never
//! answers) cannot outlast the deadline.

pub mod container;
pub mod debian;
pub mod host;
pub mod socket;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::instance::Instance;
use super::process::SpawnError;
use super::teardown::InstanceRoot;
use super::{BoxFuture, RuntimeError, RuntimeInfo, RuntimeKind};

/// Every provider, by name. Adding a provider is one module and one line here.
pub static PROVIDERS: &[&dyn Provider] = &[
    &host::Host,
    &socket::Socket,
    &debian::Debian,
    &container::Container,
];

/// The provider a spec gets when it names none.
pub const DEFAULT_PROVIDER: &str = "host";

/// The `version` that means "whatever this provider has" (for the host provider: the
/// installed binary).
pub const HOST_VERSION: &str = "host";

/// How long one readiness probe may take before it counts as "not ready yet": 5 s.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The provider's name (one of [`PROVIDERS`]); [`DEFAULT_PROVIDER`] unless a cell says.
    pub provider: String,
    pub runtime: RuntimeKind,
    /// [`HOST_VERSION`], or the version wanted: matched as a prefix on component boundaries
    /// (`4.3` matches `4.3.1`, `20.10.24` matches `20.10.24+dfsg1`).
    pub version: String,
    /// The storage driver (Docker, Podman) or snapshotter (containerd).
    pub store: String,
    /// Provider-specific settings (a cell's other matrix keys; the socket provider reads
    /// `socket` and `root`).
    pub options: BTreeMap<String, String>,
}

impl InstanceSpec {
    /// The default provider's installed version of `runtime` with `store`.
    pub fn new(runtime: RuntimeKind, store: &str) -> InstanceSpec {
        InstanceSpec {
            provider: DEFAULT_PROVIDER.into(),
            runtime,
            version: HOST_VERSION.into(),
            store: store.into(),
            options: BTreeMap::new(),
        }
    }
}

/// Where runtime instances come from. See the module doc.
pub trait Provider: Send + Sync {
    /// The name cells and specs use for it (`host`, `socket`).
    fn name(&self) -> &'static str;
    /// Whether [`Provider::start`] can work for `spec` here, checked without starting anything
    /// (binaries installed, a socket present): `Err` is the error `start` would fail with. What
    /// can only be learnt by starting (the version a binary reports) is not checked.
    fn available(&self, spec: &InstanceSpec) -> Result<(), ProviderError>;
    /// Whether its instances are hermetic: their own root, store and configuration, created
    /// and removed by the harness. Default `true`; a provider that connects to a daemon
    /// someone else runs says `false`, and every result from it says so.
    fn hermetic(&self) -> bool {
        true
    }
    /// Called by the runner before a run's cells start, for each provider some cell names;
    /// what it returns is dropped when the run ends. A provider that shares infrastructure
    /// between the instances of one run (the container provider's outer daemon) keeps it alive
    /// for that long. Default: nothing.
    fn session(&self) -> Option<Box<dyn std::any::Any + Send>> {
        None
    }
    /// Starts (or connects to) an instance as `spec` says.
    fn start<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Instance, ProviderError>>;
}

/// The provider named `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Provider> {
    PROVIDERS.iter().copied().find(|p| p.name() == name)
}

/// The provider `spec` names.
pub fn for_spec(spec: &InstanceSpec) -> Result<&'static dyn Provider, ProviderError> {
    by_name(&spec.provider).ok_or_else(|| ProviderError::UnknownProvider {
        name: spec.provider.clone(),
        known: PROVIDERS
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Starts a hermetic instance of the installed `runtime` with storage driver `store`, from the
/// host provider.
pub async fn start_instance(runtime: RuntimeKind, store: &str) -> Result<Instance, ProviderError> {
    host::Host.start(&InstanceSpec::new(runtime, store)).await
}

/// Failure to start an instance.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{binary} not found on PATH (set {env} to its path)")]
    BinaryNotFound { binary: String, env: String },
    #[error("the {provider} provider has {runtime} {found}, not {wanted}")]
    VersionUnavailable {
        provider: &'static str,
        runtime: RuntimeKind,
        wanted: String,
        found: String,
    },
    #[error("the {provider} provider's {runtime} has store {found:?}, not {wanted:?}")]
    StoreUnavailable {
        provider: &'static str,
        runtime: RuntimeKind,
        wanted: String,
        found: String,
    },
    /// The daemon started, but runs another store than the one it was configured with.
    #[error(
        "the {provider} provider's {runtime} was started for store {wanted:?} but runs {found}"
    )]
    StoreMismatch {
        provider: &'static str,
        runtime: RuntimeKind,
        wanted: String,
        found: String,
    },
    /// Anything else a provider cannot give here, in its own words (for providers whose
    /// reasons are their own, so adding one needs no new variant).
    #[error("{provider} provider: {reason}")]
    Unavailable {
        provider: &'static str,
        reason: String,
    },
    #[error("the {provider} provider needs the option {option:?}")]
    MissingOption {
        provider: &'static str,
        option: &'static str,
    },
    #[error("unknown provider {name:?} (known: {known})")]
    UnknownProvider { name: String, known: String },
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
}

impl ProviderError {
    /// `true` if the provider cannot give what was asked *here* (a binary not installed,
    /// another version or store, no such socket): a reason to skip, not a failure. Every other
    /// error means something broke.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ProviderError::BinaryNotFound { .. }
            | ProviderError::VersionUnavailable { .. }
            | ProviderError::StoreUnavailable { .. }
            | ProviderError::Unavailable { .. } => true,
            ProviderError::MissingOption { .. }
            | ProviderError::UnknownProvider { .. }
            | ProviderError::StoreMismatch { .. }
            | ProviderError::Root(_)
            | ProviderError::Io { .. }
            | ProviderError::Spawn(_)
            | ProviderError::Exited { .. }
            | ProviderError::NotReady { .. }
            | ProviderError::Runtime(_) => false,
        }
    }
}

/// `4.3` matches `4.3.1`; `20.10.24` matches `20.10.24+dfsg1`.
pub fn version_matches(wanted: &str, actual: &str) -> bool {
    actual == wanted
        || actual
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with(['.', '+', '-', '~']))
}

/// `Err(VersionUnavailable)` unless `spec` wants [`HOST_VERSION`] or a version `info` matches.
pub fn check_version(
    provider: &'static str,
    spec: &InstanceSpec,
    info: &RuntimeInfo,
) -> Result<(), ProviderError> {
    if spec.version == HOST_VERSION || version_matches(&spec.version, &info.version) {
        return Ok(());
    }
    Err(ProviderError::VersionUnavailable {
        provider,
        runtime: spec.runtime,
        wanted: spec.version.clone(),
        found: info.version.clone(),
    })
}

/// The path of `binary`: `$env` if set, else the first match on `PATH`, `/usr/sbin` or
/// `/usr/bin`.
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
/// and with its log tail after `timeout`. Each probe gets at most [`PROBE_TIMEOUT`] (less near
/// the deadline); one that takes longer counts as not ready.
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
        let left = timeout.saturating_sub(started.elapsed());
        let bound = PROBE_TIMEOUT.min(left).max(Duration::from_millis(100));
        if let Ok(true) = tokio::time::timeout(bound, probe()).await {
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

/// A directory for an instance's files, as an I/O error's context.
fn io(what: &str) -> impl FnOnce(std::io::Error) -> ProviderError {
    let what = what.to_string();
    move |source| ProviderError::Io { what, source }
}

/// `p` as a string for a command line or config file.
fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_match_on_component_boundaries() {
        assert!(version_matches("4.3", "4.3.1"));
        assert!(version_matches("20.10.24", "20.10.24+dfsg1"));
        assert!(version_matches("4.3.1", "4.3.1"));
        assert!(version_matches("1.6.20", "1.6.20~ds1"));
        assert!(!version_matches("4.3", "4.30.1"));
        assert!(!version_matches("3.4", "4.3.1"));
    }

    #[test]
    fn every_provider_is_registered_under_its_own_name() {
        for p in PROVIDERS {
            assert_eq!(by_name(p.name()).map(|q| q.name()), Some(p.name()));
        }
        assert_eq!(by_name(DEFAULT_PROVIDER).unwrap().name(), "host");
        let spec = InstanceSpec {
            provider: "dind".into(),
            ..InstanceSpec::new(RuntimeKind::Docker, "vfs")
        };
        let err = for_spec(&spec).err().unwrap();
        assert_eq!(
            err.to_string(),
            r#"unknown provider "dind" (known: host, socket, debian, container)"#
        );
        assert!(!err.is_unavailable());
    }

    #[test]
    fn another_version_is_unavailable_not_broken() {
        let info = RuntimeInfo {
            runtime: RuntimeKind::Docker,
            version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
            store: "vfs".into(),
            api: "docker-engine".into(),
        };
        let mut spec = InstanceSpec::new(RuntimeKind::Docker, "vfs");
        assert!(check_version("host", &spec, &info).is_ok());
        spec.version = "20.10".into();
        assert!(check_version("host", &spec, &info).is_ok());
        spec.version = "25.0".into();
        let err = check_version("host", &spec, &info).unwrap_err();
        assert!(err.is_unavailable());
        assert_eq!(
            err.to_string(),
            "the host provider has docker 20.10.24+dfsg1, not 25.0"
        );
    }

    #[test]
    fn a_probe_that_hangs_is_bounded_by_the_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let root = InstanceRoot::create_named("probe-").unwrap();
        let started = Instant::now();
        let result = rt.block_on(wait_until_ready(
            &root,
            "nothing",
            Duration::from_millis(300),
            std::future::pending::<bool>,
        ));
        assert!(
            matches!(result, Err(ProviderError::NotReady { .. })),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
