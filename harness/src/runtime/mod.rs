//! Runtimes: the [`Runtime`] interface, one driver per runtime API, and the providers that
//! start instances of them.
//!
//! **Drivers** (`docker.rs`, `podman.rs`, `containerd.rs`) are pure API clients: each connects
//! to a socket and talks to its runtime through the runtime's own API (the Docker Engine API
//! via bollard, the Podman libpod REST API via a thin streaming client, containerd's gRPC API)
//! and knows nothing about scenarios or about how the daemon was started. A runtime's refusal
//! (an HTTP error status, a gRPC status, an error inside a load stream) is *not* a Rust error
//! here: it is an [`ApiRejection`] inside the operation's outcome, because what a runtime
//! refuses is exactly what the harness observes. [`RuntimeError`] is reserved for the harness
//! or the daemon breaking (connection refused, a daemon that died, a reply that does not parse,
//! a call that did not answer in time), plus [`RuntimeError::Unsupported`] for an operation a
//! driver does not offer at all.
//!
//! **Providers** (`provider/`) start an [`Instance`]: a connected driver, what the instance
//! reported about itself ([`RuntimeInfo`]), the facts derived from that once ([`InstanceFacts`]),
//! and a handle that owns the instance's teardown, liveness and logs, whatever started it.
//!
//! **Time bounds.** Every call to a daemon is bounded: ordinary calls by [`CALL_TIMEOUT`],
//! calls that stream an archive by [`STREAM_TIMEOUT`], readiness probes per probe (see
//! [`provider::wait_until_ready`]). A call that runs out of time is a [`RuntimeError`].

pub mod accepts;
pub mod api;
pub mod containerd;
pub mod ctr;
pub mod docker;
pub mod doctor;
pub mod facts;
mod grpc;
pub mod instance;
pub mod kind;
mod libpod;
pub mod podman;
pub mod podman_compat;
pub mod process;
pub mod provider;
pub mod registry;
pub mod replay;
pub mod sources;
pub mod teardown;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use facts::{InstanceFacts, Version};
pub use instance::{Instance, InstanceHandle};
pub use kind::{RuntimeKind, UnknownRuntime};
pub use provider::{InstanceSpec, Provider, ProviderError, start_instance};
pub use teardown::{TeardownReport, install_signal_handlers, sweep_stale_roots};

// Builds (issue 9, item 1): the request and its outcome live with the builders in `build/`.
pub use crate::build::{BuildRequest, BuilderKind, Built};

/// How long an ordinary API call (info, list, inspect, tag, untag; one gRPC request) may take
/// before it is a [`RuntimeError`]: 60 s. Generous, because the machine may be loaded; a
/// healthy daemon answers these in milliseconds.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a call that streams an archive (load, save, build over HTTP) may take: 600 s, the
/// same as the runner's per-step bound. containerd's load is many gRPC calls, each bounded by
/// [`CALL_TIMEOUT`] until the daemon first answers; the whole load is bounded by the runner.
pub const STREAM_TIMEOUT: Duration = Duration::from_secs(600);

/// A boxed future, so [`Runtime`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a runtime instance actually is, recorded with every result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Which runtime it is (serialized as `docker`, `podman` or `containerd`).
    pub runtime: RuntimeKind,
    /// The daemon's own version string (`20.10.24+dfsg1`, `4.3.1`).
    pub version: String,
    /// The API version negotiated or reported (`1.41`, `4.3.1`).
    pub api_version: String,
    /// Storage driver or image store (`overlay2`, `vfs`, `overlay`).
    pub store: String,
    /// Which API the driver speaks (`docker-engine`, `libpod`).
    pub api: String,
}

/// A runtime's refusal of a request, kept structured: its words, the HTTP status, and our
/// classification (what snapshots compare).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiRejection {
    /// HTTP status, when the refusal came as one (`None` for errors inside a 200 stream).
    pub status: Option<u16>,
    /// The runtime's message, verbatim.
    pub message: String,
}

/// The result of loading an archive (`docker load`, `podman load`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum LoadOutcome {
    /// The runtime accepted the archive. `messages` are its load messages verbatim
    /// (`Loaded image: x:y`; for Podman, the names it reports), in order.
    Loaded { messages: Vec<String> },
    /// The runtime refused it.
    Error(ApiRejection),
}

/// The result of adding a name to an image (`docker tag`, `podman tag`, a containerd image
/// record pointing at the same target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum TagOutcome {
    /// The runtime accepted the name.
    Tagged,
    /// The runtime refused it.
    Error(ApiRejection),
}

/// Maps the result of a tag-like call (tag, untag, create a record, delete a record): success,
/// a refusal by the runtime (the errors `rejection` recognises), or the harness or daemon
/// breaking (`broken`).
fn tag_outcome<T, E>(
    result: Result<T, E>,
    rejection: impl Fn(&E) -> Option<ApiRejection>,
    broken: impl FnOnce(E) -> RuntimeError,
) -> Result<TagOutcome, RuntimeError> {
    match result {
        Ok(_) => Ok(TagOutcome::Tagged),
        Err(e) => match rejection(&e) {
            Some(r) => Ok(TagOutcome::Error(r)),
            None => Err(broken(e)),
        },
    }
}

/// Splits a reference string into the `repo` and `tag` query parameters of the Docker and
/// libpod tag endpoints, lexically and without validating anything, so that what the daemon
/// does with odd input is what gets observed: the tag is what follows the last `:` after the
/// last `/`, if any. A digest (`@...`) stays in `repo`.
pub fn split_repo_tag(target: &str) -> (&str, &str) {
    let last_slash = target.rfind('/').map_or(0, |i| i + 1);
    let at = target.find('@').unwrap_or(target.len());
    match target[last_slash..at].rfind(':') {
        Some(i) if at == target.len() => (&target[..last_slash + i], &target[last_slash + i + 1..]),
        _ => (target, ""),
    }
}

/// The archive format of a save. Not extended with compression: `docker save` has no format
/// or compression parameter (moby's `GET /images/get` takes `names`, and `platform` from API
/// 1.48), and libpod's `compress` applies only to the `docker-dir` / `oci-dir` directory
/// formats (pkg/api/handlers/libpod/images.go `ExportImage`/`ExportImages`), which are not
/// archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaveFormat {
    /// `docker save` / `podman save --format docker-archive`.
    DockerArchive,
    /// `podman save --format oci-archive`.
    OciArchive,
}

impl SaveFormat {
    /// The transport name (`docker-archive`, `oci-archive`).
    pub fn as_str(self) -> &'static str {
        match self {
            SaveFormat::DockerArchive => "docker-archive",
            SaveFormat::OciArchive => "oci-archive",
        }
    }
}

/// The result of looking an image up by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(ImageRecord),
    /// The runtime says there is no such image.
    NotFound,
    /// The runtime refused the name itself (Docker answers 400 for an invalid reference).
    Refused(ApiRejection),
}

/// One image as the runtime reports it, normalized across APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRecord {
    /// The ID as the runtime reports it (`sha256:<hex>` for Docker, `<hex>` for Podman).
    pub id: String,
    /// Tags (`RepoTags`), sorted; `<none>:<none>` placeholders removed.
    pub names: Vec<String>,
    /// Podman's `Digest` (the manifest digest it recorded); `None` where the API has no such field.
    pub digest: Option<String>,
    /// `RepoDigests`, sorted.
    pub repo_digests: Vec<String>,
}

/// Errors that mean the harness or the daemon broke, not that the runtime said no; and
/// [`RuntimeError::Unsupported`], which means neither.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The driver does not offer `operation` (containerd has no `save` or `build` here; `docker
    /// save` has one format). Nothing was sent to the runtime, so there is nothing to observe and
    /// nothing broke: the runner records the step as skipped with this reason, never as the
    /// runtime refusing something. Check with [`RuntimeError::unsupported`].
    #[error("{operation} is not offered by the {runtime} driver")]
    Unsupported {
        runtime: RuntimeKind,
        operation: String,
    },
    #[error("failed to reach {runtime} at {endpoint}")]
    Connect {
        runtime: &'static str,
        endpoint: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("failed to read {what} from {runtime}")]
    Protocol {
        runtime: &'static str,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{runtime} refused {what}: {rejection:?}")]
    Unexpected {
        runtime: &'static str,
        what: String,
        rejection: ApiRejection,
    },
    #[error("failed to open archive {path}")]
    Archive {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// `Some(reason)` if this is [`RuntimeError::Unsupported`]: the driver does not offer the
    /// operation, and the step that asked for it is a skip with that reason.
    pub fn unsupported(&self) -> Option<String> {
        matches!(self, RuntimeError::Unsupported { .. }).then(|| self.to_string())
    }
}

/// The error for an operation `rt` does not offer.
fn unsupported(rt: &(impl Runtime + ?Sized), operation: &str) -> RuntimeError {
    RuntimeError::Unsupported {
        runtime: rt.kind(),
        operation: operation.into(),
    }
}

/// Writes a byte stream to `out`; on a refusal or failure the partial file is removed.
async fn stream_to_file<E>(
    mut body: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    out: &Path,
    rejection: impl Fn(&E) -> Option<ApiRejection>,
    broken: impl Fn(E) -> RuntimeError,
) -> Result<Result<(), ApiRejection>, RuntimeError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let io = |source| RuntimeError::Archive {
        path: out.display().to_string(),
        source,
    };
    let mut file = tokio::fs::File::create(out).await.map_err(io)?;
    let result = async {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => file.write_all(&bytes).await.map_err(io)?,
                Err(e) => match rejection(&e) {
                    Some(r) => return Ok(Err(r)),
                    None => return Err(broken(e)),
                },
            }
        }
        file.flush().await.map_err(io)?;
        Ok(Ok(()))
    }
    .await;
    if !matches!(result, Ok(Ok(()))) {
        let _ = tokio::fs::remove_file(out).await;
    }
    result
}

/// The ID of the image a finished build tagged `tag`, for builders whose reply does not
/// carry it: a build that reported success but left no such image is a refusal.
async fn built_image_id(
    rt: &(impl Runtime + ?Sized),
    tag: &str,
) -> Result<Result<String, ApiRejection>, RuntimeError> {
    Ok(rt
        .inspect_image(tag)
        .await?
        .map(|i| i.id)
        .ok_or_else(|| ApiRejection {
            status: None,
            message: format!("build finished but {tag} is not in the store"),
        }))
}

/// Opens an archive for streaming to a runtime.
async fn open_archive(path: &Path) -> Result<tokio::fs::File, RuntimeError> {
    tokio::fs::File::open(path)
        .await
        .map_err(|source| RuntimeError::Archive {
            path: path.display().to_string(),
            source,
        })
}

// ---- push and pull (issue 9: the registry helper's block) ----

/// A push of an image in the store to a registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushRequest {
    /// The image in the store, by name (`example.test/pushpull:v1`).
    pub source: String,
    /// Where it goes, a full reference (`127.0.0.1:<port>/pushpull:v1`). Docker pushes by
    /// name, so its driver first tags `source` with it; the others push `source` there.
    pub destination: String,
    /// Push only this platform of a multi-platform image (`linux/amd64`), where the driver
    /// offers it; `None`: what the runtime pushes by default.
    pub platform: Option<String>,
    /// Push every platform of an index (ctr `--all-platforms`; Podman `--all`).
    pub all_platforms: bool,
    /// Podman's `compressionFormat` (`gzip`, `zstd`); other drivers refuse to be asked.
    pub compression: Option<String>,
}

/// A pull of an image from a registry into the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    /// The full reference to pull (`127.0.0.1:<port>/pushpull:v1`).
    pub reference: String,
    /// The platform to pull (`linux/arm64`); `None`: the runtime's default (the host's).
    pub platform: Option<String>,
    /// Pull every platform of an index (ctr `--all-platforms`).
    pub all_platforms: bool,
}

/// The result of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum PushOutcome {
    /// The runtime says it pushed. `digest` is the digest it reported, if it reports one;
    /// `messages` its progress/status lines worth keeping (not per-byte progress).
    Pushed {
        digest: Option<String>,
        messages: Vec<String>,
    },
    /// The runtime refused or failed the push (R3's "content digest ... not found", a
    /// registry's "manifest blob unknown").
    Error(ApiRejection),
}

/// The result of a pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum PullOutcome {
    /// The runtime says it pulled; `messages` as for a push. The resulting image is looked
    /// up by the caller.
    Pulled {
        messages: Vec<String>,
    },
    Error(ApiRejection),
}

/// The operations a runtime driver offers. Method names mirror the API they call.
pub trait Runtime: Send + Sync {
    /// Version, API version and store of the running instance.
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>>;
    /// Loads an image archive, streamed from `archive` (never read into memory whole).
    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>>;
    /// Every image in the store.
    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>>;
    /// Adds the name `target` to the image `source` (a name or ID). Docker and Podman get it
    /// split by [`split_repo_tag`]; containerd records it verbatim.
    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>>;
    /// Removes the name `name` from the image `image` (a name or ID), leaving the image and
    /// its other names in place. Used to undo a tag between observations. The default is
    /// [`RuntimeError::Unsupported`].
    fn untag_image<'a>(
        &'a self,
        image: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        let _ = (image, name);
        Box::pin(async move { Err(unsupported(self, "untag")) })
    }
    /// Looks an image up by a name (or ID) as a user would type it, keeping a refusal of the
    /// name apart from "no such image".
    fn lookup_image<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>>;
    /// One image by name or ID; `Ok(None)` when the runtime says it does not exist. A refusal
    /// of the name is unexpected here: callers pass names or IDs they know are valid.
    fn inspect_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ImageRecord>, RuntimeError>> {
        Box::pin(async move {
            match self.lookup_image(name).await? {
                Lookup::Found(record) => Ok(Some(record)),
                Lookup::NotFound => Ok(None),
                Lookup::Refused(rejection) => Err(RuntimeError::Unexpected {
                    runtime: self.kind().as_str(),
                    what: format!("image inspect {name:?}"),
                    rejection,
                }),
            }
        })
    }
    /// Saves the images `names` to `out` as one archive, streamed to the file. `Ok(Err(_))`:
    /// the runtime refused (and `out` is removed). The default is
    /// [`RuntimeError::Unsupported`].
    fn save_image<'a>(
        &'a self,
        names: &'a [String],
        format: SaveFormat,
        out: &'a Path,
    ) -> BoxFuture<'a, Result<Result<(), ApiRejection>, RuntimeError>> {
        let _ = (names, out);
        Box::pin(async move { Err(unsupported(self, &format!("save as {}", format.as_str()))) })
    }
    /// Builds the Dockerfile in the request's context tar (streamed) with the request's
    /// builder, and tags the result. `Ok(Ok(_))`: built; `Ok(Err(_))`: the builder or daemon
    /// refused or the build failed, in its words. A builder the driver does not have (BuildKit
    /// on Podman's libpod API, buildah on Docker, any builder on containerd) is
    /// [`RuntimeError::Unsupported`]. The default is [`RuntimeError::Unsupported`].
    fn build_image<'a>(
        &'a self,
        request: &'a BuildRequest,
    ) -> BoxFuture<'a, Result<Result<Built, ApiRejection>, RuntimeError>> {
        Box::pin(async move {
            Err(unsupported(
                self,
                &format!("build with {}", request.builder.as_str()),
            ))
        })
    }
    /// Which runtime this driver talks to.
    fn kind(&self) -> RuntimeKind;

    // ---- import (issue 9, item 2): see "Import" below ----

    /// Imports the rootfs tarball `request.archive` (streamed) as a one-layer image (`docker
    /// import`, `podman import`). `Ok(ImportOutcome::Error(_))`: the runtime refused. The
    /// default is [`RuntimeError::Unsupported`] (containerd's API has no rootfs import: `ctr
    /// import` takes image archives only).
    fn import_image<'a>(
        &'a self,
        request: &'a ImportRequest<'a>,
    ) -> BoxFuture<'a, Result<ImportOutcome, RuntimeError>> {
        let _ = request;
        Box::pin(async move { Err(unsupported(self, "import of a rootfs tarball")) })
    }
    /// Removes `name` as a user's `rmi NAME` does: Docker and Podman untag a name whose image
    /// has other names and delete the image with its last name (or when `name` is an ID);
    /// containerd deletes the one record `name` (content stays until garbage collection).
    /// A refusal (in use, ambiguous, invalid name) is an outcome, never an error. The default
    /// is [`RuntimeError::Unsupported`].
    fn remove_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RemoveOutcome, RuntimeError>> {
        let _ = name;
        Box::pin(async move { Err(unsupported(self, "remove")) })
    }
    /// Pushes an image to a registry (see [`PushRequest`]). A refusal is
    /// [`PushOutcome::Error`]. The default is [`RuntimeError::Unsupported`].
    fn push_image<'a>(
        &'a self,
        request: &'a PushRequest,
    ) -> BoxFuture<'a, Result<PushOutcome, RuntimeError>> {
        let _ = request;
        Box::pin(async move { Err(unsupported(self, "push")) })
    }
    /// Pulls an image from a registry (see [`PullRequest`]). A refusal is
    /// [`PullOutcome::Error`]. The default is [`RuntimeError::Unsupported`].
    fn pull_image<'a>(
        &'a self,
        request: &'a PullRequest,
    ) -> BoxFuture<'a, Result<PullOutcome, RuntimeError>> {
        let _ = request;
        Box::pin(async move { Err(unsupported(self, "pull")) })
    }
    /// The version of `builder` as the runtime reports it: BuildKit's from its control API's
    /// `Info`, buildah's from Podman's info, the daemon's own for the classic builder (which
    /// is part of dockerd). `Ok(None)`: the runtime does not say. The default is
    /// [`RuntimeError::Unsupported`].
    fn builder_version<'a>(
        &'a self,
        builder: BuilderKind,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(async move {
            Err(unsupported(
                self,
                &format!("build with {}", builder.as_str()),
            ))
        })
    }
}

// ---- Import (issue 9, item 2) ----

/// What to import: a rootfs tarball and what the runtime is asked to make of it.
#[derive(Debug, Clone, Copy)]
pub struct ImportRequest<'a> {
    /// The tarball, in any compression the runtime may or may not recognise.
    pub archive: &'a Path,
    /// The name to give the image, sent as written (Docker `repo`, libpod `reference`).
    pub reference: Option<&'a str>,
    /// The commit message (the history entry's comment).
    pub message: Option<&'a str>,
    /// Dockerfile instructions applied to the config (`CMD ["/bin/sh"]`, `ENV A=b`).
    pub changes: &'a [String],
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum ImportOutcome {
    /// The runtime created an image; `id` as its reply gives it (`sha256:<hex>` on Docker,
    /// bare hex on libpod), `messages` its progress lines verbatim.
    Imported { id: String, messages: Vec<String> },
    /// The runtime refused the tarball or a parameter.
    Error(ApiRejection),
}

// ---- remove (issue 9, item 2): the outcome type of `Runtime::remove_image` ----

/// The result of removing an image by name or ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RemoveOutcome {
    /// The runtime removed something. `untagged`: the names it removed (Docker's `Untagged`,
    /// Podman's `Untagged`, the containerd record); `deleted`: the image IDs or layers it
    /// deleted (Docker's `Deleted`, Podman's `Deleted`; empty on containerd, whose content
    /// goes with garbage collection). Both as reported, in the runtime's order.
    Removed {
        untagged: Vec<String>,
        deleted: Vec<String>,
    },
    /// The runtime says there is no such image.
    NotFound(ApiRejection),
    /// The runtime refused (an image in use, a name that is not valid).
    Error(ApiRejection),
}

#[cfg(test)]
mod tests {
    #[test]
    fn repo_and_tag_split_lexically() {
        use super::split_repo_tag as s;
        assert_eq!(s("bastion.io/foo:local"), ("bastion.io/foo", "local"));
        assert_eq!(s("localhost:5000/foo"), ("localhost:5000/foo", ""));
        assert_eq!(s("localhost:5000/foo:v1"), ("localhost:5000/foo", "v1"));
        assert_eq!(s("foo"), ("foo", ""));
        assert_eq!(s("FOO:Tag"), ("FOO", "Tag"));
        // With a digest the whole string goes as repo, so the daemon decides what to do with it.
        assert_eq!(s("foo:v1@sha256:abc"), ("foo:v1@sha256:abc", ""));
    }
}
