//! Podman: the libpod REST API driver for one service socket.
//!
//! The driver is a pure API client; the service it talks to is started by a provider (the host
//! provider's hermetic `podman system service`, see `provider/host.rs`) or run by someone else
//! (the socket provider). Every call is bounded by the libpod client (see `libpod.rs`).

use std::path::Path;

use serde::Deserialize;

use super::libpod::{LibpodClient, TransportError, encode_name, encode_query};
use super::{
    ApiRejection, BoxFuture, BuildRequest, BuilderKind, Built, ImageRecord, ImportOutcome,
    ImportRequest, LoadOutcome, Lookup, PullOutcome, PullRequest, PushOutcome, PushRequest,
    RemoveOutcome, Runtime, RuntimeError, RuntimeInfo, RuntimeKind, SaveFormat, TagOutcome,
    split_repo_tag,
};

const RUNTIME: &str = "podman";

/// libpod REST driver for one service socket.
pub struct PodmanDriver {
    client: LibpodClient,
    endpoint: String,
}

/// libpod's error body (`{"cause": ..., "message": ..., "response": 500}`).
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LibpodImage {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default)]
    digest: Option<String>,
}

impl From<LibpodImage> for ImageRecord {
    fn from(i: LibpodImage) -> ImageRecord {
        let mut names = i.repo_tags.unwrap_or_default();
        names.retain(|n| n != "<none>:<none>");
        names.sort();
        let mut repo_digests = i.repo_digests.unwrap_or_default();
        repo_digests.sort();
        ImageRecord {
            id: i.id,
            names,
            digest: i.digest.filter(|d| !d.is_empty()),
            repo_digests,
        }
    }
}

impl PodmanDriver {
    /// Connects to a libpod socket.
    pub async fn connect(socket: &Path) -> Result<PodmanDriver, RuntimeError> {
        let endpoint = socket.display().to_string();
        let client =
            LibpodClient::connect(socket)
                .await
                .map_err(|source| RuntimeError::Connect {
                    runtime: RUNTIME,
                    endpoint: endpoint.clone(),
                    source,
                })?;
        Ok(PodmanDriver { client, endpoint })
    }

    fn protocol(&self, what: &str, source: TransportError) -> RuntimeError {
        RuntimeError::Protocol {
            runtime: RUNTIME,
            what: format!("{what} ({})", self.endpoint),
            source,
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        body: &[u8],
    ) -> Result<T, RuntimeError> {
        serde_json::from_slice(body).map_err(|e| self.protocol(what, Box::new(e)))
    }

    /// A non-2xx reply as a rejection, keeping libpod's message.
    fn rejection(status: u16, body: &[u8]) -> ApiRejection {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|e| e.message)
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
        ApiRejection {
            status: Some(status),
            message,
        }
    }

    /// `POST /images/{image}/{verb}?repo=&tag=` (`verb`: `tag` or `untag`), with `name` split
    /// by [`split_repo_tag`].
    async fn tag_call(
        &self,
        verb: &str,
        image: &str,
        name: &str,
    ) -> Result<TagOutcome, RuntimeError> {
        let (repo, tag) = split_repo_tag(name);
        let path = format!(
            "/images/{}/{verb}?repo={}&tag={}",
            encode_name(image),
            encode_query(repo),
            encode_query(tag)
        );
        let reply = self
            .client
            .post_empty(&path)
            .await
            .map_err(|e| self.protocol(&format!("{verb} reply"), e))?;
        if (200..300).contains(&reply.status) {
            Ok(TagOutcome::Tagged)
        } else {
            Ok(TagOutcome::Error(Self::rejection(
                reply.status,
                &reply.body,
            )))
        }
    }

    /// GETs `path`, treating any non-2xx as unexpected.
    async fn get_ok(&self, what: &str, path: &str) -> Result<bytes::Bytes, RuntimeError> {
        let reply = self
            .client
            .get(path)
            .await
            .map_err(|e| self.protocol(what, e))?;
        if !(200..300).contains(&reply.status) {
            return Err(RuntimeError::Unexpected {
                runtime: RUNTIME,
                what: what.into(),
                rejection: Self::rejection(reply.status, &reply.body),
            });
        }
        Ok(reply.body)
    }
}

/// What a libpod push or pull reply says: its lines are JSON objects (`{"stream": ..}`,
/// `{"error": ..}`, `{"manifestdigest": ..}` from push, `{"images": [..], "id": ..}` from
/// pull; libpod's `images_push.go` / `images_pull.go`), or, from older services, nothing.
#[derive(Debug, Default, PartialEq, Eq)]
struct TransferReply {
    messages: Vec<String>,
    error: Option<String>,
    digest: Option<String>,
}

fn transfer_reply(body: &[u8]) -> TransferReply {
    let mut out = TransferReply::default();
    let text = String::from_utf8_lossy(body);
    let values = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    for v in values {
        let Ok(v) = v else { break };
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        if let Some(e) = field("error").filter(|e| !e.is_empty()) {
            out.error = Some(e);
        }
        if let Some(d) = field("manifestdigest").filter(|d| !d.is_empty()) {
            out.digest = Some(d);
        }
        if let Some(s) = field("stream") {
            out.messages.extend(
                s.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        }
    }
    out
}

/// `os/arch[/variant]` split into its parts.
fn platform_parts(platform: &str) -> (&str, &str, &str) {
    let mut it = platform.splitn(3, '/');
    (
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    )
}

impl Runtime for PodmanDriver {
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        Box::pin(async move {
            let body = self.get_ok("info", "/info").await?;
            let v: serde_json::Value = self.parse("info", &body)?;
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            Ok(RuntimeInfo {
                runtime: RuntimeKind::Podman,
                version: s("/version/Version"),
                api_version: self.client.api_version.clone(),
                store: s("/store/graphDriverName"),
                api: "libpod".into(),
            })
        })
    }

    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
        Box::pin(async move {
            let file = super::open_archive(archive).await?;
            let reply = self
                .client
                .post_file("/images/load", "application/x-tar", file)
                .await
                .map_err(|e| self.protocol("load reply", e))?;
            if !(200..300).contains(&reply.status) {
                return Ok(LoadOutcome::Error(Self::rejection(
                    reply.status,
                    &reply.body,
                )));
            }
            // entities.ImageLoadReport: {"Names": [...]}
            #[derive(Deserialize)]
            struct LoadReport {
                #[serde(rename = "Names", default)]
                names: Vec<String>,
            }
            let report: LoadReport = self.parse("load reply", &reply.body)?;
            Ok(LoadOutcome::Loaded {
                messages: report.names,
            })
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
        Box::pin(async move {
            let body = self.get_ok("image list", "/images/json?all=true").await?;
            let images: Vec<LibpodImage> = self.parse("image list", &body)?;
            Ok(images.into_iter().map(ImageRecord::from).collect())
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(self.tag_call("tag", source, target))
    }

    fn save_image<'a>(
        &'a self,
        names: &'a [String],
        format: SaveFormat,
        out: &'a Path,
    ) -> BoxFuture<'a, Result<Result<(), ApiRejection>, RuntimeError>> {
        Box::pin(async move {
            let format = match format {
                SaveFormat::DockerArchive => "docker-archive",
                SaveFormat::OciArchive => "oci-archive",
            };
            // GET /libpod/images/export: several images into one archive (`podman save a b`).
            let refs: String = names
                .iter()
                .map(|n| format!("&references={}", encode_query(n)))
                .collect();
            let path = format!("/images/export?format={format}{refs}");
            match self.client.get_to_file(&path, out).await {
                Ok(None) => Ok(Ok(())),
                Ok(Some(reply)) => Ok(Err(Self::rejection(reply.status, &reply.body))),
                Err(e) => {
                    let _ = tokio::fs::remove_file(out).await;
                    Err(self.protocol("save stream", e))
                }
            }
        })
    }

    fn build_image<'a>(
        &'a self,
        request: &'a BuildRequest,
    ) -> BoxFuture<'a, Result<Result<Built, ApiRejection>, RuntimeError>> {
        Box::pin(async move {
            if request.builder != BuilderKind::Buildah {
                return Err(super::unsupported(
                    self,
                    &format!("build with {}", request.builder.as_str()),
                ));
            }
            let file = super::open_archive(&request.context).await?;
            // POST /libpod/build (podman `pkg/api/handlers/compat/images_build.go`,
            // `BuildQuery`); `buildargs` is a JSON object.
            //
            // `isolation=chroot` runs RUN instructions without an OCI runtime: crun refuses
            // to create containers on hosts with hybrid cgroups ("cgroups in hybrid mode not
            // supported"), which this machine has, and chroot isolation gives the same image
            // on every host (it is what buildah in containerised CI uses). Podman 3 takes
            // `isolation` as buildah's `Isolation` number (`define.IsolationChroot` is 2),
            // Podman 4 by name. Under chroot isolation buildah sets RUN's rlimits itself, and
            // Podman 5 asks for nofile and nproc 1048576 by default, above the service's
            // inherited hard limits ("setting RLIMIT_NOFILE ... operation not permitted");
            // `ulimits` asks for values any process may set.
            //
            // Timestamps: up to Podman 5.5, `timestamp` (buildah's `--timestamp`) sets the
            // created time and every file's mtime in the layers. From 5.6 (buildah 1.41)
            // buildah reads the SOURCE_DATE_EPOCH build arg itself and refuses `timestamp`
            // beside it ("timestamp and source-date-epoch would be ambiguous"); there
            // `sourcedateepoch` plus `rewritetimestamp` do what `timestamp` did.
            let version = super::Version::parse(&self.client.api_version);
            let major = version.major().unwrap_or(0);
            let isolation = if major < 4 { "2" } else { "chroot" };
            let args =
                serde_json::to_string(&request.effective_args()).expect("a string map serializes");
            let mut path = format!(
                "/build?dockerfile=Dockerfile&t={}&rm=true&layers=true&isolation={isolation}&nocache={}&buildargs={}",
                encode_query(&request.tag),
                request.no_cache,
                encode_query(&args),
            );
            let mut options = vec!["isolation=chroot".to_string()];
            if major >= 4 {
                path.push_str(&format!(
                    "&ulimits={}",
                    encode_query(r#"["nofile=1024:1024","nproc=1024:1024"]"#)
                ));
                options.push("ulimits=nofile=1024:1024,nproc=1024:1024".to_string());
            }
            if let Some(epoch) = request.source_date_epoch {
                if version >= super::Version(vec![5, 6]) {
                    path.push_str(&format!("&sourcedateepoch={epoch}&rewritetimestamp=true"));
                    options.push(format!("sourcedateepoch={epoch}"));
                    options.push("rewritetimestamp=true".to_string());
                } else {
                    path.push_str(&format!("&timestamp={epoch}"));
                    options.push(format!("timestamp={epoch}"));
                }
            }
            let reply = self
                .client
                .post_file(&path, "application/x-tar", file)
                .await
                .map_err(|e| self.protocol("build reply", e))?;
            if !(200..300).contains(&reply.status) {
                return Ok(Err(Self::rejection(reply.status, &reply.body)));
            }
            // A stream of JSON objects: {"stream": ...} lines, {"error": ...} on failure.
            let text = String::from_utf8_lossy(&reply.body);
            tracing::debug!(log = %text, "libpod build reply");
            let values = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
            for value in values.flatten() {
                if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
                    return Ok(Err(ApiRejection {
                        status: None,
                        message: error.to_string(),
                    }));
                }
            }
            let id = match super::built_image_id(self, &request.tag).await? {
                Ok(id) => id,
                Err(r) => return Ok(Err(r)),
            };
            Ok(Ok(Built {
                id,
                builder: BuilderKind::Buildah,
                options,
            }))
        })
    }

    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Podman
    }

    fn push_image<'a>(
        &'a self,
        request: &'a PushRequest,
    ) -> BoxFuture<'a, Result<PushOutcome, RuntimeError>> {
        Box::pin(async move {
            if request.platform.is_some() {
                return Err(super::unsupported(self, "push of one platform"));
            }
            // libpod `images_push.go`: the plain-HTTP registry is per call (`tlsVerify=false`),
            // so the instance's registries.conf stays as it is. Podman 3.0 has no
            // `compressionFormat` (unknown query keys are ignored; what landed shows it).
            let mut path = format!(
                "/images/{}/push?destination={}&tlsVerify=false&quiet=false",
                encode_name(&request.source),
                encode_query(&request.destination),
            );
            if request.all_platforms {
                path.push_str("&all=true");
            }
            if let Some(c) = &request.compression {
                path.push_str(&format!("&compressionFormat={}", encode_query(c)));
            }
            let reply = self
                .client
                .post_empty_streaming(&path)
                .await
                .map_err(|e| self.protocol("push reply", e))?;
            if !(200..300).contains(&reply.status) {
                return Ok(PushOutcome::Error(Self::rejection(
                    reply.status,
                    &reply.body,
                )));
            }
            let r = transfer_reply(&reply.body);
            Ok(match r.error {
                Some(message) => PushOutcome::Error(ApiRejection {
                    status: None,
                    message,
                }),
                None => PushOutcome::Pushed {
                    digest: r.digest,
                    messages: r.messages,
                },
            })
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
            let mut path = format!(
                "/images/pull?reference={}&tlsVerify=false&quiet=false",
                encode_query(&request.reference),
            );
            if let Some(p) = &request.platform {
                // Podman >= 4 reads `OS`/`Arch`/`Variant`; 3.x `overrideOS`/`overrideArch`/
                // `overrideVariant` (libpod `images_pull.go` of each). Both are sent; each
                // version ignores the keys it does not know.
                let (os, arch, variant) = platform_parts(p);
                for (k, v) in [
                    ("OS", os),
                    ("Arch", arch),
                    ("Variant", variant),
                    ("overrideOS", os),
                    ("overrideArch", arch),
                    ("overrideVariant", variant),
                ] {
                    if !v.is_empty() {
                        path.push_str(&format!("&{k}={}", encode_query(v)));
                    }
                }
            }
            let reply = self
                .client
                .post_empty_streaming(&path)
                .await
                .map_err(|e| self.protocol("pull reply", e))?;
            if !(200..300).contains(&reply.status) {
                return Ok(PullOutcome::Error(Self::rejection(
                    reply.status,
                    &reply.body,
                )));
            }
            let r = transfer_reply(&reply.body);
            Ok(match r.error {
                Some(message) => PullOutcome::Error(ApiRejection {
                    status: None,
                    message,
                }),
                None => PullOutcome::Pulled {
                    messages: r.messages,
                },
            })
        })
    }

    fn builder_version<'a>(
        &'a self,
        builder: BuilderKind,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(async move {
            if builder != BuilderKind::Buildah {
                return Err(super::unsupported(
                    self,
                    &format!("build with {}", builder.as_str()),
                ));
            }
            // Podman's info names the buildah it vendors (`host.buildahVersion`).
            let body = self.get_ok("info", "/info").await?;
            let info: serde_json::Value = self.parse("info", &body)?;
            Ok(info
                .pointer("/host/buildahVersion")
                .and_then(|v| v.as_str())
                .map(String::from))
        })
    }

    fn lookup_image<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>> {
        Box::pin(async move {
            let path = format!("/images/{}/json", encode_name(name));
            let reply = self
                .client
                .get(&path)
                .await
                .map_err(|e| self.protocol("image inspect", e))?;
            match reply.status {
                404 => Ok(Lookup::NotFound),
                200..=299 => Ok(Lookup::Found(
                    self.parse::<LibpodImage>("image inspect", &reply.body)?
                        .into(),
                )),
                400..=499 => Ok(Lookup::Refused(Self::rejection(reply.status, &reply.body))),
                status => Err(RuntimeError::Unexpected {
                    runtime: RUNTIME,
                    what: "image inspect".into(),
                    rejection: Self::rejection(status, &reply.body),
                }),
            }
        })
    }

    fn untag_image<'a>(
        &'a self,
        image: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(self.tag_call("untag", image, name))
    }

    fn import_image<'a>(
        &'a self,
        request: &'a ImportRequest<'a>,
    ) -> BoxFuture<'a, Result<ImportOutcome, RuntimeError>> {
        Box::pin(async move {
            // POST /libpod/images/import?reference=&message=&changes=... with the tarball as
            // the body (libpod `ImagesImport`, which spools it to a temp file and imports it
            // with `tarball:`; `reference` is a short name kept local: `foo` -> `localhost/foo`).
            let mut query = Vec::new();
            if let Some(reference) = request.reference {
                query.push(format!("reference={}", encode_query(reference)));
            }
            if let Some(message) = request.message {
                query.push(format!("message={}", encode_query(message)));
            }
            for change in request.changes {
                query.push(format!("changes={}", encode_query(change)));
            }
            let path = format!("/images/import?{}", query.join("&"));
            let file = super::open_archive(request.archive).await?;
            let reply = self
                .client
                .post_file(&path, "application/x-tar", file)
                .await
                .map_err(|e| self.protocol("import reply", e))?;
            if !(200..300).contains(&reply.status) {
                return Ok(ImportOutcome::Error(Self::rejection(
                    reply.status,
                    &reply.body,
                )));
            }
            // entities.ImageImportReport: {"Id": "<hex>"}
            #[derive(Deserialize)]
            struct ImportReport {
                #[serde(rename = "Id")]
                id: String,
            }
            let report: ImportReport = self.parse("import reply", &reply.body)?;
            Ok(ImportOutcome::Imported {
                id: report.id,
                messages: Vec::new(),
            })
        })
    }

    fn remove_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RemoveOutcome, RuntimeError>> {
        Box::pin(async move {
            // `DELETE /libpod/images/{name}` (`podman rmi NAME`): libimage's `Image.remove`
            // untags a name whose image has other names, and removes the image with its last
            // name or by ID. Reply: `ImageRemoveReport {Deleted, Untagged, Errors, ExitCode}`.
            let path = format!("/images/{}", encode_name(name));
            let reply = self
                .client
                .delete(&path)
                .await
                .map_err(|e| self.protocol("image remove reply", e))?;
            #[derive(Deserialize, Default)]
            #[serde(rename_all = "PascalCase")]
            struct Report {
                #[serde(default)]
                deleted: Option<Vec<String>>,
                #[serde(default)]
                untagged: Option<Vec<String>>,
            }
            match reply.status {
                200..=299 => {
                    let r: Report = self.parse("image remove reply", &reply.body)?;
                    Ok(RemoveOutcome::Removed {
                        untagged: r.untagged.unwrap_or_default(),
                        deleted: r.deleted.unwrap_or_default(),
                    })
                }
                404 => Ok(RemoveOutcome::NotFound(Self::rejection(
                    reply.status,
                    &reply.body,
                ))),
                status => Ok(RemoveOutcome::Error(Self::rejection(status, &reply.body))),
            }
        })
    }
}
