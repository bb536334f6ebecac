//! The `socket` provider: a daemon someone else already runs, reached at a given socket.
//!
//! Options (a cell's matrix keys, or [`InstanceSpec::options`]):
//!
//! - `socket` (required): the daemon's API socket: dockerd's `--host`, the Podman service's
//!   socket, containerd's gRPC address.
//! - `root` (optional): a directory whose path is redacted out of messages as `<root>` (the
//!   daemon's data root, so its paths read the same as a hermetic instance's do).
//!
//! Nothing is started, so nothing is stopped: teardown only removes the instance's scratch
//! root. This is not hermetic: the images a scenario loads stay in that daemon's store, and
//! whatever the store held before is part of what the steps observe. The provider gives what
//! the daemon is: a spec that wants another version or store gets
//! [`ProviderError::VersionUnavailable`] or [`ProviderError::StoreUnavailable`].

use std::path::{Path, PathBuf};

use super::{InstanceSpec, Provider, ProviderError, check_version};
use crate::runtime::containerd::ContainerdDriver;
use crate::runtime::docker::DockerDriver;
use crate::runtime::instance::{Instance, InstanceHandle};
use crate::runtime::podman::PodmanDriver;
use crate::runtime::teardown::{InstanceRoot, TeardownReport};
use crate::runtime::{BoxFuture, Runtime, RuntimeKind};

/// The socket provider (see the module doc).
pub struct Socket;

const NAME: &str = "socket";

/// The `socket` option, checked to exist.
fn socket_of(spec: &InstanceSpec) -> Result<PathBuf, ProviderError> {
    let socket =
        spec.options
            .get("socket")
            .map(PathBuf::from)
            .ok_or(ProviderError::MissingOption {
                provider: NAME,
                option: "socket",
            })?;
    if !socket.exists() {
        return Err(ProviderError::Unavailable {
            provider: NAME,
            reason: format!("no socket at {}", socket.display()),
        });
    }
    Ok(socket)
}

impl Provider for Socket {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The daemon and its store are someone else's.
    fn hermetic(&self) -> bool {
        false
    }

    fn available(&self, spec: &InstanceSpec) -> Result<(), ProviderError> {
        socket_of(spec).map(drop)
    }

    fn start<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Instance, ProviderError>> {
        Box::pin(async move {
            let socket = socket_of(spec)?;
            let runtime: Box<dyn Runtime> = match spec.runtime {
                RuntimeKind::Docker => Box::new(DockerDriver::connect(&socket).await?),
                RuntimeKind::Podman => Box::new(PodmanDriver::connect(&socket).await?),
                RuntimeKind::Containerd => {
                    Box::new(ContainerdDriver::connect(&socket, &spec.store).await?)
                }
            };
            let scratch = InstanceRoot::create_named("socket-").map_err(ProviderError::Root)?;
            let handle = SocketHandle {
                redact: spec.options.get("root").map(PathBuf::from),
                socket: socket.clone(),
                scratch,
            };
            let instance = Instance::new(runtime, Box::new(handle))
                .await?
                .with_endpoint(&socket, &spec.store);
            check_version(NAME, spec, &instance.info)?;
            if instance.info.store != spec.store {
                return Err(ProviderError::StoreUnavailable {
                    provider: NAME,
                    runtime: spec.runtime,
                    wanted: spec.store.clone(),
                    found: instance.info.store.clone(),
                });
            }
            Ok(instance)
        })
    }
}

/// The handle of a daemon the harness did not start: it owns only a scratch root.
struct SocketHandle {
    socket: PathBuf,
    redact: Option<PathBuf>,
    scratch: InstanceRoot,
}

impl InstanceHandle for SocketHandle {
    fn root(&self) -> &Path {
        self.redact.as_deref().unwrap_or(self.scratch.path())
    }

    /// The daemon is not ours to watch; a socket that has disappeared is the one sign of its
    /// death the provider can see.
    fn dead_daemon(&self) -> Option<(String, String)> {
        (!self.socket.exists()).then(|| {
            (
                format!("the daemon at {}", self.socket.display()),
                "its socket is gone".to_string(),
            )
        })
    }

    fn log_tails(&self, _lines: usize) -> Vec<(String, String)> {
        Vec::new()
    }

    fn teardown(&self) -> TeardownReport {
        self.scratch.teardown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_required_and_a_missing_one_is_unavailable() {
        let mut spec = InstanceSpec {
            provider: NAME.into(),
            ..InstanceSpec::new(RuntimeKind::Docker, "vfs")
        };
        let err = Socket.available(&spec).unwrap_err();
        assert!(matches!(err, ProviderError::MissingOption { .. }), "{err}");
        assert!(
            !err.is_unavailable(),
            "a matrix without a socket is a configuration error"
        );
        spec.options
            .insert("socket".into(), "/nonexistent/docker.sock".into());
        let err = Socket.available(&spec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "socket provider: no socket at /nonexistent/docker.sock"
        );
        assert!(err.is_unavailable());
    }
}
