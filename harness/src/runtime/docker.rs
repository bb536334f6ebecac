//! Docker: the Engine API driver (bollard) for one daemon socket.
//!
//! The driver is a pure API client; the daemons it talks to are started by a provider (the
//! host provider's hermetic `dockerd`, see `provider/host.rs`) or run by someone else (the
//! socket provider). bollard bounds each request until the daemon answers: ordinary calls by
//! [`CALL_TIMEOUT`], calls that stream an archive (load, save, build) by
//! [`STREAM_TIMEOUT`].

use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ImportImageOptionsBuilder, ListImagesOptionsBuilder,
};
use futures_util::StreamExt;
use tokio_util::io::ReaderStream;

use super::{
    ApiRejection, BoxFuture, BuildRequest, BuilderKind, Built, CALL_TIMEOUT, ImageRecord,
    ImportOutcome, ImportRequest, LoadOutcome, Lookup, PullOutcome, PullRequest, PushOutcome,
    PushRequest, RemoveOutcome, Runtime, RuntimeError, RuntimeInfo, RuntimeKind, STREAM_TIMEOUT,
    SaveFormat, TagOutcome, split_repo_tag,
};

const RUNTIME: &str = "docker";

/// Engine API driver for one daemon socket.
pub struct DockerDriver {
    /// For ordinary calls, bounded by [`CALL_TIMEOUT`].
    client: Docker,
    /// The same connection settings for calls that stream an archive, bounded by
    /// [`STREAM_TIMEOUT`].
    streaming: Docker,
    endpoint: String,
    /// The runtime behind the socket: Docker, or Podman's Docker-compatible service
    /// ([`podman_compat`](super::podman_compat)).
    kind: RuntimeKind,
    /// [`RuntimeInfo::api`]: `docker-engine`, or `docker-compat` for Podman.
    api: &'static str,
}

impl DockerDriver {
    /// Connects to `socket` and negotiates the API version down to what the daemon speaks.
    pub async fn connect(socket: &Path) -> Result<DockerDriver, RuntimeError> {
        Self::connect_as(socket, RuntimeKind::Docker, "docker-engine").await
    }

    /// Connects to `socket`, a daemon of `kind` that serves the Docker Engine API, reporting
    /// `api` as the API it speaks.
    pub(crate) async fn connect_as(
        socket: &Path,
        kind: RuntimeKind,
        api: &'static str,
    ) -> Result<DockerDriver, RuntimeError> {
        let endpoint = socket.display().to_string();
        let connect_err = |e: bollard::errors::Error| RuntimeError::Connect {
            runtime: RUNTIME,
            endpoint: endpoint.clone(),
            source: Box::new(e),
        };
        let client = Docker::connect_with_unix(
            &endpoint,
            CALL_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(connect_err)?
        .negotiate_version()
        .await
        .map_err(connect_err)?;
        // Clones share the negotiated version.
        let streaming = client.clone().with_timeout(STREAM_TIMEOUT);
        Ok(DockerDriver {
            client,
            streaming,
            endpoint,
            kind,
            api,
        })
    }

    /// `true` if the daemon answers `GET /_ping`.
    pub async fn ping(&self) -> bool {
        self.client.ping().await.is_ok()
    }

    /// `docker info`'s `RegistryConfig.InsecureRegistryCIDRs`: the daemon's plain-HTTP
    /// registries. moby's `registry.newServiceConfig` always adds `127.0.0.0/8`, which is why
    /// the local registry needs no daemon configuration.
    pub async fn insecure_registry_cidrs(&self) -> Result<Vec<String>, RuntimeError> {
        let info = self
            .client
            .info()
            .await
            .map_err(|e| self.protocol("info", e))?;
        Ok(info
            .registry_config
            .and_then(|r| r.insecure_registry_cidrs)
            .unwrap_or_default())
    }

    /// `POST /images/{name}/push` of the destination, which is one of the image's names.
    async fn push_tagged(&self, request: &PushRequest) -> Result<PushOutcome, RuntimeError> {
        let (repo, tag) = split_repo_tag(&request.destination);
        let mut opts = bollard::query_parameters::PushImageOptionsBuilder::new();
        if !tag.is_empty() {
            opts = opts.tag(tag);
        }
        if let Some(p) = &request.platform {
            // API >= 1.46 (Docker 27): a JSON-encoded OCI platform (moby
            // `api/server/router/image` `postImagesPush` decodes it with `json.Unmarshal`;
            // `linux/amd64` as text is refused with 400). Older daemons ignore the parameter.
            opts = opts.platform(&platform_json(p));
        }
        let mut stream = self.streaming.push_image(repo, Some(opts.build()), None);
        let mut messages = Vec::new();
        let mut digest = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        return Ok(PushOutcome::Error(ApiRejection {
                            status: None,
                            message: detail.message.unwrap_or_default(),
                        }));
                    }
                    // Per-layer progress carries a progress detail; the summary lines
                    // (`v1: digest: sha256:... size: 528`) do not.
                    if let Some(status) = info.status.filter(|_| info.progress_detail.is_none()) {
                        if let Some(d) = status
                            .split_whitespace()
                            .skip_while(|w| *w != "digest:")
                            .nth(1)
                        {
                            digest = Some(d.to_string());
                        }
                        messages.push(status);
                    }
                }
                Err(e) => match rejection(&e) {
                    Some(r) => return Ok(PushOutcome::Error(r)),
                    None => return Err(self.protocol("push stream", e)),
                },
            }
        }
        Ok(PushOutcome::Pushed { digest, messages })
    }

    /// `POST /build`: version 1 (the classic builder) or version 2 (BuildKit, with a session
    /// that bollard serves over `/session`: the daemon's BuildKit calls back into it for
    /// credentials, so no buildx CLI is involved). The context is the uploaded tar either way
    /// (moby `builder-next` reads an upload as its context when `remote` is empty).
    async fn build(
        &self,
        request: &BuildRequest,
    ) -> Result<Result<Built, ApiRejection>, RuntimeError> {
        use bollard::query_parameters::BuilderVersion;
        let version = match (self.kind, request.builder) {
            // Podman's compat `/build` (pkg/api/handlers/compat/images_build.go) runs buildah
            // behind the Engine API's parameters, whatever `version` says.
            (RuntimeKind::Podman, BuilderKind::Buildah) => BuilderVersion::BuilderV1,
            (_, BuilderKind::Classic) => BuilderVersion::BuilderV1,
            (_, BuilderKind::Buildkit) => BuilderVersion::BuilderBuildKit,
            (_, BuilderKind::Buildah) => {
                return Err(super::unsupported(self, "build with buildah"));
            }
        };
        let file = super::open_archive(&request.context).await?;
        let body = bollard::body_try_stream(ReaderStream::with_capacity(file, 256 * 1024));
        let args: std::collections::HashMap<String, String> =
            request.effective_args().into_iter().collect();
        let mut opts = bollard::query_parameters::BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(&request.tag)
            .rm(true)
            .forcerm(true)
            .nocache(request.no_cache)
            // The hermetic daemons run with `--bridge=none`: BuildKit's RUN would ask for the
            // default bridge network and fail ("network bridge not found"); no build here
            // needs a network.
            .networkmode("none")
            .buildargs(&args)
            .version(version);
        let session = session_id();
        if request.builder == BuilderKind::Buildkit {
            opts = opts.session(&session);
        }
        let mut stream = self.streaming.build_image(opts.build(), None, Some(body));
        let mut id = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        let message = detail.message.unwrap_or_default();
                        return Ok(Err(ApiRejection {
                            status: None,
                            message,
                        }));
                    }
                    // The classic builder reports the ID as `aux: {"ID": ...}`; BuildKit as
                    // the `moby.image.id` aux message, which bollard decodes the same way;
                    // BuildKit's progress (`moby.buildkit.trace`) is decoded as a status.
                    if let Some(bollard::models::BuildInfoAux::Default(image)) = info.aux {
                        id = image.id.or(id);
                    }
                }
                Err(e) => match rejection(&e) {
                    Some(r) => return Ok(Err(r)),
                    None => return Err(self.protocol("build stream", e)),
                },
            }
        }
        let id = match id {
            Some(id) => id,
            None => match super::built_image_id(self, &request.tag).await? {
                Ok(id) => id,
                Err(r) => return Ok(Err(r)),
            },
        };
        Ok(Ok(Built {
            id,
            builder: request.builder,
            // BuildKit's `rewrite-timestamp` is an exporter attribute, sent in the `outputs`
            // parameter; bollard 0.21's typed `outputs` can only ask for the tar and local
            // exporters, so through this API BuildKit gets SOURCE_DATE_EPOCH as a build arg
            // only (which sets the config's and history's timestamps, not the files'). Sent
            // by a raw request it would not help: moby's classic-store exporter ignores it and
            // the containerd store's refuses it beside its unpack (tests/live/build.rs,
            // `buildkit_rewrite_timestamp_is_ignored_or_refused`).
            options: vec!["networkmode=none".to_string()],
        }))
    }

    /// BuildKit's version, from its control API's `Info` call (BuildKit >= 0.11), reached
    /// over dockerd's `/grpc` endpoint. `None` where the daemon's BuildKit does not answer it.
    async fn buildkit_version(&self) -> Option<String> {
        match crate::build::buildkit::version(Path::new(&self.endpoint)).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "BuildKit's Info did not answer");
                None
            }
        }
    }

    fn protocol(&self, what: &str, e: bollard::errors::Error) -> RuntimeError {
        RuntimeError::Protocol {
            runtime: RUNTIME,
            what: format!("{what} ({})", self.endpoint),
            source: Box::new(e),
        }
    }
}

/// A daemon's refusal, if `e` is one; `None` for transport and decoding failures.
fn rejection(e: &bollard::errors::Error) -> Option<ApiRejection> {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => Some(ApiRejection {
            status: Some(*status_code),
            message: message.clone(),
        }),
        E::DockerStreamError { error } => Some(ApiRejection {
            status: None,
            message: error.clone(),
        }),
        _ => None,
    }
}

impl Runtime for DockerDriver {
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        Box::pin(async move {
            let version = self
                .client
                .version()
                .await
                .map_err(|e| self.protocol("version", e))?;
            let info = self
                .client
                .info()
                .await
                .map_err(|e| self.protocol("info", e))?;
            Ok(RuntimeInfo {
                runtime: self.kind,
                version: version.version.unwrap_or_default(),
                api_version: self.client.client_version().to_string(),
                store: info.driver.unwrap_or_default(),
                api: self.api.into(),
            })
        })
    }

    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
        Box::pin(async move {
            let file = super::open_archive(archive).await?;
            let body = ReaderStream::with_capacity(file, 256 * 1024);
            let opts = ImportImageOptionsBuilder::new().quiet(false).build();
            let mut stream = self.streaming.import_image_stream(opts, body, None);
            let mut messages = Vec::new();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(detail) = info.error_detail {
                            let message = detail.message.unwrap_or_default();
                            return Ok(LoadOutcome::Error(ApiRejection {
                                status: None,
                                message,
                            }));
                        }
                        if let Some(s) = info.stream {
                            messages.extend(
                                s.lines()
                                    .map(str::trim)
                                    .filter(|l| !l.is_empty())
                                    .map(String::from),
                            );
                        }
                    }
                    Err(e) => match rejection(&e) {
                        Some(r) => return Ok(LoadOutcome::Error(r)),
                        None => return Err(self.protocol("load reply", e)),
                    },
                }
            }
            Ok(LoadOutcome::Loaded { messages })
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
        Box::pin(async move {
            let opts = ListImagesOptionsBuilder::new().all(true).build();
            let images = self
                .client
                .list_images(Some(opts))
                .await
                .map_err(|e| self.protocol("image list", e))?;
            Ok(images
                .into_iter()
                .map(|i| record(i.id, i.repo_tags, i.repo_digests))
                .collect())
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            let (repo, tag) = split_repo_tag(target);
            let opts = bollard::query_parameters::TagImageOptionsBuilder::new()
                .repo(repo)
                .tag(tag)
                .build();
            let result = self.client.tag_image(source, Some(opts)).await;
            super::tag_outcome(result, rejection, |e| self.protocol("tag reply", e))
        })
    }

    fn save_image<'a>(
        &'a self,
        names: &'a [String],
        format: SaveFormat,
        out: &'a Path,
    ) -> BoxFuture<'a, Result<Result<(), ApiRejection>, RuntimeError>> {
        Box::pin(async move {
            if format != SaveFormat::DockerArchive {
                // `docker save` has one format per daemon version (docker-archive before 25,
                // the OCI hybrid from 25); there is no format parameter to ask for another.
                return Err(super::unsupported(
                    self,
                    &format!("save as {}", format.as_str()),
                ));
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let body = self.streaming.export_images(&names);
            super::stream_to_file(Box::pin(body), out, rejection, |e| {
                self.protocol("save stream", e)
            })
            .await
        })
    }

    fn build_image<'a>(
        &'a self,
        request: &'a BuildRequest,
    ) -> BoxFuture<'a, Result<Result<Built, ApiRejection>, RuntimeError>> {
        Box::pin(self.build(request))
    }

    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn builder_version<'a>(
        &'a self,
        builder: BuilderKind,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(async move {
            match builder {
                BuilderKind::Buildkit => Ok(self.buildkit_version().await),
                BuilderKind::Classic => {
                    let v = self
                        .client
                        .version()
                        .await
                        .map_err(|e| self.protocol("version", e))?;
                    Ok(v.version)
                }
                // Podman's compat API does not say which buildah it runs.
                BuilderKind::Buildah if self.kind == RuntimeKind::Podman => Ok(None),
                BuilderKind::Buildah => Err(super::unsupported(self, "build with buildah")),
            }
        })
    }

    fn push_image<'a>(
        &'a self,
        request: &'a PushRequest,
    ) -> BoxFuture<'a, Result<PushOutcome, RuntimeError>> {
        Box::pin(async move {
            if request.compression.is_some() || request.all_platforms {
                return Err(super::unsupported(
                    self,
                    "push with a compression format or all platforms",
                ));
            }
            // `docker push` pushes an image by its name: the destination must be one of the
            // image's names first (`docker tag`), as a user would do. A name added only for
            // the push is removed again afterwards, so a push leaves the store's names as they
            // were (and a later pull of it is a real pull).
            let added = request.source != request.destination
                && self.inspect_image(&request.destination).await?.is_none();
            if added {
                match self
                    .tag_image(&request.source, &request.destination)
                    .await?
                {
                    TagOutcome::Tagged => {}
                    TagOutcome::Error(r) => return Ok(PushOutcome::Error(r)),
                }
            }
            let pushed = self.push_tagged(request).await;
            if added {
                self.untag_image(&request.destination, &request.destination)
                    .await?;
            }
            pushed
        })
    }

    fn pull_image<'a>(
        &'a self,
        request: &'a PullRequest,
    ) -> BoxFuture<'a, Result<PullOutcome, RuntimeError>> {
        Box::pin(async move {
            if request.all_platforms {
                return Err(super::unsupported(self, "pull of all platforms"));
            }
            // `docker pull` is `POST /images/create?fromImage=<repo>&tag=<tag>`.
            let (repo, tag) = split_repo_tag(&request.reference);
            let mut opts =
                bollard::query_parameters::CreateImageOptionsBuilder::new().from_image(repo);
            if !tag.is_empty() {
                opts = opts.tag(tag);
            }
            if let Some(p) = &request.platform {
                opts = opts.platform(p);
            }
            let mut stream = self.streaming.create_image(Some(opts.build()), None, None);
            let mut messages = Vec::new();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(detail) = info.error_detail {
                            return Ok(PullOutcome::Error(ApiRejection {
                                status: None,
                                message: detail.message.unwrap_or_default(),
                            }));
                        }
                        // Layer lines have an id and a progress detail; keep the others
                        // (`Digest: sha256:...`, `Status: Downloaded newer image for ...`).
                        if let Some(status) = info.status.filter(|_| info.progress_detail.is_none())
                            && info.id.as_deref().is_none_or(|id| id == tag)
                        {
                            messages.push(status);
                        }
                    }
                    Err(e) => match rejection(&e) {
                        Some(r) => return Ok(PullOutcome::Error(r)),
                        None => return Err(self.protocol("pull stream", e)),
                    },
                }
            }
            Ok(PullOutcome::Pulled { messages })
        })
    }

    fn lookup_image<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>> {
        Box::pin(async move {
            match self.client.inspect_image(name).await {
                Ok(i) => Ok(Lookup::Found(record(
                    i.id.unwrap_or_default(),
                    i.repo_tags.unwrap_or_default(),
                    i.repo_digests.unwrap_or_default(),
                ))),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(Lookup::NotFound),
                // An answer bollard's model does not take: Docker 28.5's containerd store
                // answers `"RootFS":{}` (no `Type`, which the API's ImageInspect requires)
                // and empty `Os`/`Architecture` for an image it pulled without fetching its
                // config and layer (a second manifest of a config it already had; its save
                // then lacks both, `stored-blob-missing`). Read the three fields a lookup
                // needs from the same answer (bollard's `json_data_content` keeps it).
                Err(bollard::errors::Error::JsonDataError { contents, .. }) => {
                    tracing::debug!(%name, "image inspect answer outside the API model: {contents}");
                    let v: serde_json::Value =
                        serde_json::from_str(&contents).map_err(|e| RuntimeError::Protocol {
                            runtime: RUNTIME,
                            what: format!("image inspect ({})", self.endpoint),
                            source: Box::new(e),
                        })?;
                    let strings = |key: &str| -> Vec<String> {
                        v[key]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    };
                    Ok(Lookup::Found(record(
                        v["Id"].as_str().unwrap_or_default().to_string(),
                        strings("RepoTags"),
                        strings("RepoDigests"),
                    )))
                }
                // Any other status is the daemon's answer about the name: Docker refuses an
                // invalid reference with 400, Podman's compat API with 500 ("normalizing name
                // ... for compat API: invalid reference format").
                Err(e) => match rejection(&e) {
                    Some(r) if r.status.is_some() => Ok(Lookup::Refused(r)),
                    _ => Err(self.protocol("image inspect", e)),
                },
            }
        })
    }

    fn untag_image<'a>(
        &'a self,
        _image: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            // DELETE /images/{name} on a name whose image has other names only untags it;
            // noprune keeps parents regardless.
            let opts = bollard::query_parameters::RemoveImageOptionsBuilder::new()
                .force(false)
                .noprune(true)
                .build();
            let result = self.client.remove_image(name, Some(opts), None).await;
            super::tag_outcome(result, rejection, |e| self.protocol("untag reply", e))
        })
    }

    fn import_image<'a>(
        &'a self,
        request: &'a ImportRequest<'a>,
    ) -> BoxFuture<'a, Result<ImportOutcome, RuntimeError>> {
        Box::pin(async move {
            // POST /images/create?fromSrc=- with the tarball as the body, as the docker CLI's
            // `ImageImport` sends it: the reference goes whole as `repo` (moby's
            // `ImportImage` parses it with `ParseNormalizedNamed`; Podman's compat
            // `CreateImageFromSrc` merges `repo` and `tag` and normalizes to Docker Hub).
            // bollard sends `changes` as one newline-joined value; moby joins the list with
            // newlines itself (`dockerfile.BuildFromConfig`), Podman takes each value as one
            // instruction.
            let file = super::open_archive(request.archive).await?;
            let body = bollard::body_try_stream(ReaderStream::with_capacity(file, 256 * 1024));
            let mut opts = CreateImageOptionsBuilder::new().from_src("-");
            if let Some(reference) = request.reference {
                opts = opts.repo(reference);
            }
            if let Some(message) = request.message {
                opts = opts.message(message);
            }
            if !request.changes.is_empty() {
                opts = opts.changes(request.changes.to_vec());
            }
            let mut stream = self
                .streaming
                .create_image(Some(opts.build()), Some(body), None);
            let (mut id, mut messages) = (None, Vec::new());
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(detail) = info.error_detail {
                            return Ok(ImportOutcome::Error(ApiRejection {
                                status: None,
                                message: detail.message.unwrap_or_default(),
                            }));
                        }
                        // Podman's compat reply carries `id`; moby's last status is the ID.
                        if let Some(i) = info.id.filter(|i| !i.is_empty()) {
                            id = Some(i);
                        }
                        if let Some(status) = info.status.filter(|s| !s.trim().is_empty()) {
                            if status.starts_with("sha256:") {
                                id = id.or(Some(status.clone()));
                            }
                            messages.push(status.trim().to_string());
                        }
                    }
                    Err(e) => match rejection(&e) {
                        Some(r) => return Ok(ImportOutcome::Error(r)),
                        None => return Err(self.protocol("import reply", e)),
                    },
                }
            }
            match id {
                Some(id) => Ok(ImportOutcome::Imported { id, messages }),
                None => Err(RuntimeError::Unexpected {
                    runtime: RUNTIME,
                    what: "import reply".into(),
                    rejection: ApiRejection {
                        status: None,
                        message: format!("no image ID in the reply: {messages:?}"),
                    },
                }),
            }
        })
    }

    fn remove_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RemoveOutcome, RuntimeError>> {
        Box::pin(async move {
            // `DELETE /images/{name}` as `docker rmi` sends it (no force, prune untagged
            // parents): moby's `ImageService.ImageDelete` untags a name whose image keeps other
            // names and deletes the image with its last one; an ID deletes it (409 when it has
            // several names and no force).
            let opts = bollard::query_parameters::RemoveImageOptionsBuilder::new()
                .force(false)
                .noprune(false)
                .build();
            match self.client.remove_image(name, Some(opts), None).await {
                Ok(items) => Ok(RemoveOutcome::Removed {
                    untagged: items.iter().filter_map(|i| i.untagged.clone()).collect(),
                    deleted: items.iter().filter_map(|i| i.deleted.clone()).collect(),
                }),
                Err(e) => match rejection(&e) {
                    Some(r) if r.status == Some(404) => Ok(RemoveOutcome::NotFound(r)),
                    Some(r) => Ok(RemoveOutcome::Error(r)),
                    None => Err(self.protocol("image delete reply", e)),
                },
            }
        })
    }
}

/// `os/arch[/variant]` as the JSON OCI platform the push endpoint takes.
fn platform_json(platform: &str) -> String {
    let mut it = platform.splitn(3, '/');
    let mut p = serde_json::Map::new();
    p.insert("os".into(), it.next().unwrap_or_default().into());
    p.insert("architecture".into(), it.next().unwrap_or_default().into());
    if let Some(v) = it.next() {
        p.insert("variant".into(), v.into());
    }
    serde_json::Value::Object(p).to_string()
}

/// A BuildKit session ID, unique within this process (moby keys sessions by it).
fn session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "harness-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn record(id: String, mut names: Vec<String>, mut repo_digests: Vec<String>) -> ImageRecord {
    names.retain(|n| n != "<none>:<none>");
    names.sort();
    repo_digests.retain(|n| n != "<none>@<none>");
    repo_digests.sort();
    ImageRecord {
        id,
        names,
        digest: None,
        repo_digests,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_push_platform_is_json() {
        assert_eq!(
            super::platform_json("linux/amd64"),
            r#"{"os":"linux","architecture":"amd64"}"#
        );
        assert_eq!(
            super::platform_json("linux/arm64/v8"),
            r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#
        );
    }
}
