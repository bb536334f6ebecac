//! The `debian` provider: the host provider's hermetic daemons, with the binaries of a Debian
//! suite's root filesystem instead of the machine's own.
//!
//! A cell selects it with `provider: debian` and `suite: <name>` (`bullseye`, `bookworm`,
//! `trixie`, `sid`: any suite the archive has). On first use the suite's root filesystem is
//! built with `mmdebstrap` and cached under `$XDG_CACHE_HOME/harness/rootfs/` (default
//! `~/.cache/harness/rootfs/`), keyed by suite and package list, safe against concurrent
//! builders (`rootfs.rs`). The mirror is mmdebstrap's default unless `HARNESS_DEBIAN_MIRROR`
//! names one. Each instance then starts exactly the daemon command lines of the host provider
//! (`host.rs`'s `start_docker`, `start_podman`, `start_containerd`), each daemon inside a
//! private mount namespace chrooted into an overlay of the cached tree, with the instance root
//! bound at its own path (`chroot.rs`). The cached tree is never written.
//!
//! After start, the daemon's version is checked against the spec's (`version_matches`: a suite
//! that carries another version is [`ProviderError::VersionUnavailable`]), and Docker's store
//! is checked as the host provider checks it (`check_docker_store`: the containerd image store
//! on a Docker before 24 is [`ProviderError::StoreUnavailable`]).

pub mod chroot;
pub mod rootfs;

use self::chroot::{ChrootLauncher, HOST_TOOLS};
use self::rootfs::{Cache, Entry, RootfsError, RootfsSpec};
use super::host::{checked, start_runtime};
use super::{InstanceSpec, Provider, ProviderError, find_binary};
use crate::runtime::BoxFuture;
use crate::runtime::instance::Instance;
use crate::runtime::teardown::InstanceRoot;

/// The debian provider (see the module doc).
pub struct Debian;

pub const NAME: &str = "debian";

/// The option naming the suite.
pub const SUITE_OPTION: &str = "suite";

/// The environment variable overriding the path of `mmdebstrap`.
pub const MMDEBSTRAP_ENV: &str = "HARNESS_MMDEBSTRAP";

/// The `suite` option.
fn suite_of(spec: &InstanceSpec) -> Result<&str, ProviderError> {
    spec.options
        .get(SUITE_OPTION)
        .map(String::as_str)
        .ok_or(ProviderError::MissingOption {
            provider: NAME,
            option: SUITE_OPTION,
        })
}

fn unavailable(e: RootfsError) -> ProviderError {
    ProviderError::Unavailable {
        provider: NAME,
        reason: e.to_string(),
    }
}

/// The cached root filesystem of `suite`, built first if need be (blocking: it may wait on
/// another process's build, or run mmdebstrap for about a minute).
pub fn provision(suite: &str) -> Result<Entry, ProviderError> {
    let cache = Cache::default_location().map_err(unavailable)?;
    let spec = RootfsSpec::new(suite);
    if let Some(e) = cache.lookup(&spec) {
        return Ok(e);
    }
    let mmdebstrap = find_binary("mmdebstrap", MMDEBSTRAP_ENV)?;
    tracing::info!(
        "building the {suite} root filesystem in {} (first use)",
        cache.dir.display()
    );
    cache
        .ensure(&spec, |dir| {
            rootfs::build_with_mmdebstrap(&mmdebstrap, &spec, dir)
        })
        .map_err(|e| match e {
            RootfsError::Io { .. } | RootfsError::Stale { .. } => ProviderError::Io {
                what: format!("provision the {suite} root filesystem"),
                source: std::io::Error::other(e.to_string()),
            },
            other => unavailable(other),
        })
}

/// The cached entry of `suite`, if built.
pub fn cached(suite: &str) -> Option<Entry> {
    Cache::default_location()
        .ok()?
        .lookup(&RootfsSpec::new(suite))
}

impl Provider for Debian {
    fn name(&self) -> &'static str {
        NAME
    }

    fn available(&self, spec: &InstanceSpec) -> Result<(), ProviderError> {
        let suite = suite_of(spec)?;
        for tool in HOST_TOOLS {
            find_binary(tool, "HARNESS_UNUSED_ENV")?;
        }
        if cached(suite).is_none() {
            find_binary("mmdebstrap", MMDEBSTRAP_ENV)?;
        }
        Ok(())
    }

    fn start<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Instance, ProviderError>> {
        Box::pin(async move {
            let suite = suite_of(spec)?.to_string();
            let entry = tokio::task::spawn_blocking(move || provision(&suite))
                .await
                .map_err(|e| ProviderError::Io {
                    what: "provision a root filesystem".into(),
                    source: std::io::Error::other(e),
                })??;
            let root = InstanceRoot::create().map_err(ProviderError::Root)?;
            let launcher = ChrootLauncher::new(NAME, &entry.tree(), root.path());
            let instance = start_runtime(spec, root, &launcher).await?;
            checked(NAME, spec, instance).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeKind;

    #[test]
    fn a_cell_must_name_its_suite() {
        let spec = InstanceSpec {
            provider: NAME.into(),
            ..InstanceSpec::new(RuntimeKind::Docker, "overlay2")
        };
        let err = Debian.available(&spec).unwrap_err();
        assert!(matches!(err, ProviderError::MissingOption { .. }), "{err}");
        assert!(
            !err.is_unavailable(),
            "a cell without a suite is a configuration error"
        );
        assert_eq!(super::super::by_name(NAME).map(|p| p.name()), Some(NAME));
    }
}
