//! The `api` axis: which of an instance's APIs a cell's steps go through.
//!
//! One daemon can be driven through more than one API, and users hit each: Podman's service
//! answers both its libpod API and a Docker-compatible one (what `docker` and bollard-based
//! tools talk to a Podman socket), and containerd is driven through its gRPC API by
//! libraries and through the `ctr` CLI by people (whose client side does part of the work,
//! R3's push). A cell's `api:` names the driver; the provider starts the same daemon whatever
//! the value, and the runner connects the named driver to it ([`connect`]). The first API of
//! each runtime in [`APIS`] is the default one, used when the cell names none.
//!
//! Each alternative driver is a second driver, never a fallback: a cell that asks for one
//! gets that one, or the cell does not run.

use std::path::PathBuf;

use super::{BoxFuture, Instance, ProviderError, Runtime, RuntimeKind};

/// The APIs each runtime can be driven through; the first is the default.
pub fn apis(runtime: RuntimeKind) -> &'static [&'static str] {
    match runtime {
        RuntimeKind::Docker => &["engine"],
        RuntimeKind::Podman => &["libpod", "compat"],
        RuntimeKind::Containerd => &["grpc", "ctr"],
    }
}

/// The default API of `runtime` (what a cell without `api:` uses).
pub fn default_api(runtime: RuntimeKind) -> &'static str {
    apis(runtime)[0]
}

/// Every API name any runtime has, for error messages of a selector that names no runtime.
pub fn all_apis() -> Vec<&'static str> {
    let mut all: Vec<&str> = RuntimeKind::ALL
        .iter()
        .flat_map(|r| apis(*r))
        .copied()
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Where an instance's API can be reached, for connecting another driver to it: the socket the
/// provider's default driver connected to, the instance root, and the store the cell asked
/// for (containerd drivers record images against a snapshotter).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub socket: PathBuf,
    pub root: PathBuf,
    pub store: String,
}

/// Connects a driver to an instance's endpoint; the version is what the instance's default
/// driver reported (the `ctr` driver runs the `ctr` of that version).
pub type Connector = for<'a> fn(
    &'a Endpoint,
    version: &'a str,
) -> BoxFuture<'a, Result<Box<dyn Runtime>, ProviderError>>;

/// The drivers of the non-default APIs: `(runtime, api, connector)`. Adding an API is its
/// driver module, its name in [`apis`], and its line here.
const DRIVERS: &[(RuntimeKind, &str, Connector)] = &[
    (RuntimeKind::Podman, "compat", compat),
    (RuntimeKind::Containerd, "ctr", ctr),
];

/// Podman's Docker-compatible API on the service's socket (`podman_compat.rs`).
fn compat<'a>(
    endpoint: &'a Endpoint,
    _version: &'a str,
) -> BoxFuture<'a, Result<Box<dyn Runtime>, ProviderError>> {
    Box::pin(async move {
        let driver = super::podman_compat::connect(&endpoint.socket).await?;
        Ok(Box::new(driver) as Box<dyn Runtime>)
    })
}

/// containerd through the `ctr` CLI of the daemon's own version (`ctr.rs`): the host's, or
/// the one in the Debian suite's cached root filesystem. No such `ctr` is a reason the cell
/// cannot run here.
fn ctr<'a>(
    endpoint: &'a Endpoint,
    version: &'a str,
) -> BoxFuture<'a, Result<Box<dyn Runtime>, ProviderError>> {
    Box::pin(async move {
        use super::ctr::{CtrBinary, CtrDriver, CtrOptions};
        let binary =
            CtrBinary::for_version(version)
                .await
                .ok_or_else(|| ProviderError::Unavailable {
                    provider: "api",
                    reason: format!(
                        "no ctr {version} here (neither the host's nor a cached suite's)"
                    ),
                })?;
        let driver = CtrDriver::connect(
            binary,
            &endpoint.socket,
            &endpoint.store,
            CtrOptions::default(),
        )
        .await?;
        Ok(Box::new(driver) as Box<dyn Runtime>)
    })
}

/// Connects the driver for `api` to `instance` and makes it the instance's driver. The
/// default API is a no-op. An API without a driver here, or an instance that does not say
/// where its API is, is [`ProviderError::Unavailable`] with that reason.
pub async fn connect(instance: &mut Instance, api: &str) -> Result<(), ProviderError> {
    let runtime = instance.info.runtime;
    if api == default_api(runtime) {
        return Ok(());
    }
    let unavailable = |reason: String| ProviderError::Unavailable {
        provider: "api",
        reason,
    };
    let Some((_, _, connector)) = DRIVERS.iter().find(|(r, a, _)| *r == runtime && *a == api)
    else {
        return Err(unavailable(format!("no {api:?} driver for {runtime}")));
    };
    let endpoint = instance.endpoint().cloned().ok_or_else(|| {
        unavailable(format!(
            "the instance does not say where its {runtime} API is, so the {api:?} driver cannot connect"
        ))
    })?;
    let version = instance.info.version.clone();
    let driver = connector(&endpoint, &version).await?;
    instance.replace_driver(driver).await
}
