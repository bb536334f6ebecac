//! Podman's Docker-compatible API (issue 9, item 3): the [`DockerDriver`] (bollard) against
//! the socket of a Podman service, reporting `runtime: podman, api: docker-compat`.
//!
//! `podman system service` serves both APIs on one socket: libpod's under `/v{x}/libpod/...`
//! (the [`PodmanDriver`](super::podman::PodmanDriver)) and the Docker Engine API's paths
//! (`/v1.41/images/create`, ...), implemented by Podman's `pkg/api/handlers/compat` over the
//! same store. Users reach the second through docker-py, the docker CLI with `DOCKER_HOST`, or
//! testcontainers, and the two differ, which is what this driver is for. Where they differ,
//! from Podman's handlers (`pkg/api/handlers/compat/images.go`, `images_load.go`):
//!
//! - **import's reference**: compat `CreateImageFromSrc` merges `repo` and `tag` and normalizes
//!   the name to Docker Hub (`utils.NormalizeToDockerHub`: `foo` -> `docker.io/library/foo`);
//!   libpod `ImagesImport` keeps a short name local (`localhost/foo`).
//! - **load's report**: compat `LoadImages` answers one `{"stream": "Loaded image: a,b"}`
//!   line; libpod answers the list of names (`{"Names": [...]}`).
//! - **IDs**: compat reports `sha256:<hex>`, libpod bare hex.
//! - **the spool**: compat `CreateImageFromSrc` writes the upload to `os.CreateTemp("",
//!   "api_load.tar")` (the service's `TMPDIR`) and does not remove it; the providers point
//!   `TMPDIR` into the instance root.
//!
//! The lead wires it into the matrix as `api: compat` on podman cells; [`connect`] is the
//! constructor.

use std::path::Path;

use super::docker::DockerDriver;
use super::{RuntimeError, RuntimeKind};

/// The [`RuntimeInfo::api`](super::RuntimeInfo::api) of this driver.
pub const API: &str = "docker-compat";

/// Connects bollard to a Podman service's socket (the same socket the libpod driver uses) and
/// negotiates the Docker API version it serves (1.41 on Podman 3 to 5).
pub async fn connect(socket: &Path) -> Result<DockerDriver, RuntimeError> {
    DockerDriver::connect_as(socket, RuntimeKind::Podman, API).await
}
