//! containerd: the gRPC driver ([`ContainerdDriver`]) for one containerd socket.
//!
//! **Connecting.** The driver is a pure API client (the host provider starts hermetic daemons
//! for it, see `provider/host.rs`). [`ContainerdDriver::connect`] checks that the snapshotter
//! the cell names (`overlayfs`, `native`) is a loaded plugin (Introspection `Plugins`). Nothing
//! is unpacked, so the snapshotter is recorded and validated, not used. Every gRPC request is
//! bounded (see `grpc.rs`).
//!
//! **Namespace.** Every call carries the `containerd-namespace: harness` header ([`NAMESPACE`]);
//! containerd creates the namespace on first use.
//!
//! **Load** ([`Runtime::load_image`]) is the harness's own client-side import, over the
//! Content, Images and Leases services. It reimplements what `ctr images import --no-unpack`
//! of containerd 1.6 does in ctr's process (`images/archive.ImportIndex`, then
//! `Client.Import`), and `tests/live/ctr_conformance.rs` holds it to that: every crafted layout
//! and naming shape goes through this driver and through the real `ctr` against fresh
//! instances, and names, targets, outcomes and what survives a GC must agree. The info's `api`
//! is therefore `containerd-grpc` ([`API`]): the harness's gRPC client, not containerd's own
//! importer. (containerd 1.7's ctr still imports client-side by default; 2.x's ctr sends the
//! archive to the Transfer service, which imports server-side and names records by its own
//! `transfer/image.Store` rules: see `containerd/docker_archive.rs`.)
//!
//! - The archive is read once, as a stream, on a blocking thread (tar over a `BufReader`;
//!   nothing is extracted to disk). Every regular member except `oci-layout`, `manifest.json`
//!   and `index.json` is streamed into the content store as it is read, as `ImportIndex`'s
//!   `onUntarBlob` does (Content `Write`: ref `tar-<member name>`, the member's size, commit
//!   under the digest of its bytes, computed as they pass). Members may come in any order, so a
//!   single pass cannot know which blob is what: `index.json` (small) is kept in memory,
//!   blobs go straight to the store, and what they are is decided after the pass. Manifests
//!   are then read back from the content store, as `Client.Import` does, never from the
//!   archive a second time.
//! - `ImportIndex`'s decision: an `oci-layout` with a version makes it an OCI layout (the
//!   `index.json` entries); else a `manifest.json` list makes it a Docker archive, for which a
//!   Docker schema 2 manifest is built per entry from its config and layer members (layer
//!   media types from their first bytes, the platform from the config, symlinked layers
//!   resolved) and written to the store, with one index entry per `RepoTags` tag named by
//!   `ParseDockerRef` (`containerd/docker_archive.rs`).
//! - The garbage collector keeps content only while something references it. The whole load
//!   runs under a lease (`containerd-lease` header; the lease carries `containerd.io/gc.expire`
//!   one hour out, in case the harness dies before deleting it), and before the lease is
//!   deleted each manifest (and nested index) gets the `containerd.io/gc.ref.content.*` labels
//!   naming its children, exactly as `images.SetChildrenLabels` sets them, so the image record
//!   keeps the whole graph alive. As in ctr without `--all-platforms`, children for platforms
//!   other than the host's are filtered out first (`images.FilterPlatforms` with
//!   `platforms.Default()`, `containerd/platform.rs`): they are neither walked nor labelled,
//!   and an index left with no entry is refused ("image might be filtered out").
//! - One image record per index entry, named as `Client.Import`'s `imageName` does: the
//!   `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name`
//!   verbatim; entries with neither get no record. An existing record of that name is updated
//!   to the new target (`Images.Update` with mask `target`, then `Create` on NotFound).
//! - The load messages are ours, one per record: `Loaded image: <name>` (containerd has no load
//!   messages; `ctr` prints `unpacking <name> (<digest>)...done`, and we do not unpack).
//!
//! Differences from ctr, all deliberate and none visible in names, targets or outcomes:
//! a tag-only ref name is kept verbatim (`Client.Import` without a translator), where ctr
//! passes `archive.AddRefPrefix("import-<yyyy-MM-dd>")` and records `import-2026-01-31:latest`
//! (a date in a name would make every snapshot volatile); `index.json` and a Docker archive's
//! synthesized index are not stored (no record targets them unless `--index-name` is given);
//! a member whose `blobs/<alg>/<hex>` name is already stored is skipped rather than rewritten.
//!
//! The archive side (the scan, the OCI documents, the GC label rules) is in `archive.rs`.
//!
//! **Refusals.** A gRPC status sent by the daemon is a refusal ([`ApiRejection`] with
//! `status: Some(<gRPC code>)`, e.g. 3 InvalidArgument, 5 NotFound, 6 AlreadyExists: for this
//! runtime `status` holds the gRPC status code, not an HTTP status). Refusals that come from the
//! importer's own checks (what `ctr` itself would refuse: an unrecognized layout, a bad
//! `index.json`, a config or layer `manifest.json` names that is not there) have
//! `status: None`, and containerd's words. A failure of the connection is a [`RuntimeError`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use containerd_client::services::v1::{
    AbortRequest, CreateImageRequest, CreateRequest as CreateLeaseRequest, DeleteImageRequest,
    DeleteRequest as DeleteLeaseRequest, GetImageRequest, Image, Info, ListImagesRequest,
    PluginsRequest, ReadContentRequest, UpdateImageRequest, UpdateRequest, WriteAction,
    WriteContentRequest, WriteContentResponse, content_client::ContentClient,
    images_client::ImagesClient, introspection_client::IntrospectionClient,
    leases_client::LeasesClient, version_client::VersionClient,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};

mod archive;
mod docker_archive;
mod platform;
mod transfer;

use self::archive::{
    CHUNK, DocKind, Found, JSON_LIMIT, Member, OciDescriptor, Plan, ScanError, ScannedBlob,
    children, gc_labels, image_name, scan_archive,
};
use self::docker_archive::DockerItem;
use self::platform::HostMatcher;
use super::{
    ApiRejection, BoxFuture, ImageRecord, LoadOutcome, Lookup, Runtime, RuntimeError, RuntimeInfo,
    RuntimeKind, TagOutcome,
};
use crate::oci::media_type;

const RUNTIME: &str = "containerd";

/// The containerd namespace every call of the harness uses.
pub const NAMESPACE: &str = "harness";

/// The gRPC API version reported in [`RuntimeInfo::api_version`]: containerd serves its services
/// as `containerd.services.<name>.v1` and has never served another version, so the version of
/// the packages the driver calls is the meaningful (and only) answer. The daemon's build
/// identity is in `version`.
pub const API_VERSION: &str = "v1";

/// [`RuntimeInfo::api`]: the driver speaks containerd's gRPC API and loads with its own
/// client-side import (ctr's `images import --no-unpack`, conformance-tested), not with an
/// importer inside containerd.
pub const API: &str = "containerd-grpc";

/// `namespaces.GRPCHeader`.
const NAMESPACE_HEADER: &str = "containerd-namespace";
/// `leases.GRPCHeader`.
const LEASE_HEADER: &str = "containerd-lease";
/// How long a lease outlives a harness that died before deleting it.
const LEASE_EXPIRY: Duration = Duration::from_secs(3600);

/// gRPC driver for one containerd socket.
pub struct ContainerdDriver {
    channel: Channel,
    endpoint: String,
    snapshotter: String,
}

/// Why a multi-call operation stopped: the daemon (or the importer's own checks) said no, or
/// something broke.
enum Failure {
    Rejected(ApiRejection),
    Broken(RuntimeError),
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        Failure::Broken(e)
    }
}

/// An importer refusal with no gRPC status (what `ctr` itself refuses).
fn refused(message: impl Into<String>) -> Failure {
    Failure::Rejected(ApiRejection {
        status: None,
        message: message.into(),
    })
}

/// The daemon's refusal, if `status` came from the daemon; `None` if it describes a failure of
/// the client or the connection (tonic then keeps the underlying error as its source).
fn rejection(status: &tonic::Status) -> Option<ApiRejection> {
    if std::error::Error::source(status).is_some() {
        return None;
    }
    Some(ApiRejection {
        status: Some(status.code() as i32 as u16),
        message: status.message().to_string(),
    })
}

impl ContainerdDriver {
    /// Connects to `socket`, checks the daemon answers, and checks that `snapshotter` is a
    /// loaded snapshotter plugin (it is recorded as the store in [`RuntimeInfo`]).
    pub async fn connect(socket: &Path, snapshotter: &str) -> Result<Self, RuntimeError> {
        let endpoint = socket.display().to_string();
        let channel = super::grpc::connect(socket)
            .await
            .map_err(|e| RuntimeError::Connect {
                runtime: RUNTIME,
                endpoint: endpoint.clone(),
                source: Box::new(e),
            })?;
        let driver = ContainerdDriver {
            channel,
            endpoint,
            snapshotter: snapshotter.to_string(),
        };
        driver.check_snapshotter().await?;
        Ok(driver)
    }

    /// Fails unless the Introspection service lists `io.containerd.snapshotter.v1/<store>`
    /// without an init error (overlayfs fails to load on file systems that cannot host it).
    async fn check_snapshotter(&self) -> Result<(), RuntimeError> {
        let plugins = IntrospectionClient::new(self.channel.clone())
            .plugins(self.request(PluginsRequest { filters: vec![] }))
            .await
            .map_err(|s| self.failed("plugin list", s))?
            .into_inner()
            .plugins;
        let plugin = plugins
            .iter()
            .find(|p| p.r#type == "io.containerd.snapshotter.v1" && p.id == self.snapshotter);
        let problem = match plugin {
            None => Some(format!("no snapshotter plugin {:?}", self.snapshotter)),
            Some(p) => p
                .init_err
                .as_ref()
                .filter(|e| e.code != 0)
                .map(|e| format!("snapshotter {:?} failed to load: {}", p.id, e.message)),
        };
        match problem {
            None => Ok(()),
            Some(message) => Err(RuntimeError::Unexpected {
                runtime: RUNTIME,
                what: format!("snapshotter {}", self.snapshotter),
                rejection: ApiRejection {
                    status: None,
                    message,
                },
            }),
        }
    }

    /// A request in the harness namespace.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut req = Request::new(message);
        req.metadata_mut()
            .insert(NAMESPACE_HEADER, AsciiMetadataValue::from_static(NAMESPACE));
        req
    }

    /// A request in the harness namespace under `lease`.
    fn leased<T>(&self, message: T, lease: &Lease) -> Request<T> {
        let mut req = self.request(message);
        req.metadata_mut()
            .insert(LEASE_HEADER, lease.header.clone());
        req
    }

    fn protocol(&self, what: &str, status: tonic::Status) -> RuntimeError {
        RuntimeError::Protocol {
            runtime: RUNTIME,
            what: format!("{what} ({})", self.endpoint),
            source: Box::new(status),
        }
    }

    /// A status where any refusal is unexpected: a [`RuntimeError`] either way.
    fn failed(&self, what: &str, status: tonic::Status) -> RuntimeError {
        match rejection(&status) {
            Some(rejection) => RuntimeError::Unexpected {
                runtime: RUNTIME,
                what: what.into(),
                rejection,
            },
            None => self.protocol(what, status),
        }
    }

    /// A status where a refusal is an outcome.
    fn failure(&self, what: &str, status: tonic::Status) -> Failure {
        match rejection(&status) {
            Some(r) => Failure::Rejected(r),
            None => Failure::Broken(self.protocol(what, status)),
        }
    }

    fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone())
    }

    fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel.clone())
    }

    async fn list(&self) -> Result<Vec<Image>, RuntimeError> {
        Ok(self
            .images()
            .list(self.request(ListImagesRequest { filters: vec![] }))
            .await
            .map_err(|s| self.failed("image list", s))?
            .into_inner()
            .images)
    }

    /// The image record named `name`; failing that, if `name` is a digest, the first record (in
    /// containerd's order, by name) whose target has that digest. containerd has no image IDs,
    /// so a digest is the closest thing to one.
    async fn resolve(&self, name: &str) -> Result<Result<Image, ApiRejection>, RuntimeError> {
        let get = self
            .images()
            .get(self.request(GetImageRequest { name: name.into() }))
            .await;
        let not_found = match get {
            Ok(reply) => match reply.into_inner().image {
                Some(image) => return Ok(Ok(image)),
                None => ApiRejection {
                    status: Some(Code::NotFound as i32 as u16),
                    message: format!("image {name:?}: not found"),
                },
            },
            Err(status) => match rejection(&status) {
                Some(r) if status.code() == Code::NotFound => r,
                Some(r) => return Ok(Err(r)),
                None => return Err(self.protocol("image get", status)),
            },
        };
        if is_digest(name) {
            let by_digest = self
                .list()
                .await?
                .into_iter()
                .find(|i| i.target.as_ref().is_some_and(|t| t.digest == name));
            if let Some(image) = by_digest {
                return Ok(Ok(image));
            }
        }
        Ok(Err(not_found))
    }

    async fn create_lease(&self) -> Result<Lease, RuntimeError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now();
        let nanos = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!(
            "harness-load-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let labels = HashMap::from([(
            "containerd.io/gc.expire".to_string(),
            rfc3339_utc(now + LEASE_EXPIRY),
        )]);
        LeasesClient::new(self.channel.clone())
            .create(self.request(CreateLeaseRequest {
                id: id.clone(),
                labels,
            }))
            .await
            .map_err(|s| self.failed("lease create", s))?;
        // The id is ASCII letters, digits and dashes, always a valid header value.
        let header =
            AsciiMetadataValue::try_from(id.as_str()).map_err(|e| RuntimeError::Protocol {
                runtime: RUNTIME,
                what: "lease id".into(),
                source: Box::new(e),
            })?;
        Ok(Lease { id, header })
    }

    /// Deletes the lease; the content it held now lives only as long as image records (and the
    /// GC labels under them) reference it. A failure is logged and ignored, as `Client.Import`'s
    /// deferred `done` ignores it; the lease expires on its own.
    async fn delete_lease(&self, lease: Lease) {
        let reply = LeasesClient::new(self.channel.clone())
            .delete(self.request(DeleteLeaseRequest {
                id: lease.id.clone(),
                sync: false,
            }))
            .await;
        if let Err(e) = reply {
            tracing::warn!("failed to delete containerd lease {}: {e}", lease.id);
        }
    }

    /// The whole import under `lease`: one pass over the archive (every regular member into
    /// the content store), then for a Docker archive the manifests `ImportIndex` builds, then
    /// labels, then records.
    async fn import(
        &self,
        file: std::fs::File,
        archive: &Path,
        lease: &Lease,
    ) -> Result<Vec<String>, Failure> {
        let (tx, mut rx) = mpsc::channel::<Member>(2);
        let scan = tokio::task::spawn_blocking(move || scan_archive(file, &tx));
        let mut found = Found::default();
        // `ImportIndex`'s `blobs` (cleaned member name -> what was stored; a later member of
        // the same name wins) and `symlinks` (name as written -> joined target).
        let mut blobs: HashMap<String, Ingested> = HashMap::new();
        let mut symlinks: HashMap<String, String> = HashMap::new();
        while let Some(member) = rx.recv().await {
            match member {
                Member::Blob(blob) => {
                    let name = blob.name.clone();
                    let reference = format!("tar-{name}");
                    if let Some(stored) = self.write_blob(blob, &reference, lease).await? {
                        blobs.insert(name, stored);
                    }
                }
                Member::Index(bytes) => found.index = Some(bytes),
                Member::Layout(Some(version)) => found.layout = Some(version),
                Member::Layout(None) => {}
                Member::DockerManifest(items) => found.docker_manifest = Some(items),
                Member::Symlink { name, target } => {
                    symlinks.insert(name, target);
                }
            }
        }
        let broken = |source| {
            Failure::Broken(RuntimeError::Archive {
                path: archive.display().to_string(),
                source,
            })
        };
        match scan.await {
            Ok(Ok(())) => {}
            Ok(Err(ScanError::Read(source))) => return Err(broken(source)),
            Ok(Err(ScanError::Format(message))) => return Err(refused(message)),
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => return Err(broken(std::io::Error::other(join))),
        }
        let manifests = match found.decide().map_err(refused)? {
            Plan::Oci(manifests) => manifests,
            Plan::Docker(items) => {
                for (name, target) in &symlinks {
                    let Some(stored) = blobs.get(target).cloned() else {
                        return Err(refused(format!(
                            "no target for symlink layer from {name:?} to {target:?}"
                        )));
                    };
                    blobs.insert(name.clone(), stored);
                }
                self.docker_manifests(&items, &blobs, lease).await?
            }
        };
        // `images.WalkNotEmpty` over `images.FilterPlatforms`: the index must keep an entry
        // for the host platform (or one without a platform).
        let matcher = HostMatcher::new();
        let walked: Vec<OciDescriptor> = manifests
            .iter()
            .filter(|m| m.platform.as_ref().is_none_or(|p| matcher.matches(p)))
            .cloned()
            .collect();
        if walked.is_empty() {
            return Err(refused("image might be filtered out"));
        }
        self.label_children(&walked, &matcher).await?;
        let mut messages = Vec::new();
        for m in &manifests {
            let Some(name) = image_name(&m.annotations) else {
                continue;
            };
            self.put_image(name, m).await?;
            messages.push(format!("Loaded image: {name}"));
        }
        Ok(messages)
    }

    /// `ImportIndex` for a Docker archive: for each `manifest.json` entry, a Docker schema 2
    /// manifest of its config and layers (written to the content store), with the platform
    /// of its config, and one index entry per tag. The synthesized index itself is not
    /// stored: without `--index-name` no record targets it.
    ///
    /// Two things are read back from the content store, as `ImportIndex` reads them: each
    /// config (by `images.Platforms`; which member is a config is known only from
    /// `manifest.json`, which may come after it) and, for a layer whose member was skipped
    /// because its blob was already stored, its first bytes (to detect compression, as
    /// `resolveLayers` does). Everything else was seen once, as it streamed past.
    ///
    /// `resolveLayers` first looks for stored blobs labelled `containerd.io/uncompressed=<layer
    /// digest>` and uses those instead; such labels come from unpacking or from
    /// `--compress-blobs`, neither of which the harness does, so that lookup is left out.
    async fn docker_manifests(
        &self,
        items: &[DockerItem],
        blobs: &HashMap<String, Ingested>,
        lease: &Lease,
    ) -> Result<Vec<OciDescriptor>, Failure> {
        let mut entries = Vec::new();
        for item in items {
            let Some(config) = blobs.get(&item.config) else {
                return Err(refused(format!("image config {:?} not found", item.config)));
            };
            let config = config.descriptor(media_type::DOCKER_CONFIG);
            let mut layers = Vec::with_capacity(item.layers.len());
            for file in &item.layers {
                let Some(layer) = blobs.get(file) else {
                    return Err(refused(format!(
                        "failed to resolve layers: layer {file:?} not found"
                    )));
                };
                let head = match &layer.head {
                    Some(head) => head.clone(),
                    None => self.read_head(&layer.digest).await?,
                };
                layers.push(layer.descriptor(docker_archive::layer_media_type(&head)));
            }
            let bytes = docker_archive::manifest_bytes(&config, &layers);
            let mut manifest = OciDescriptor {
                media_type: media_type::DOCKER_MANIFEST.into(),
                digest: crate::oci::Digest::sha256(&bytes).to_string(),
                size: bytes.len() as i64,
                ..Default::default()
            };
            self.write_bytes(&format!("manifest-{}", manifest.digest), bytes, lease)
                .await
                .map_err(|f| match f {
                    Failure::Rejected(r) => {
                        refused(format!("write docker manifest: {}", r.message))
                    }
                    broken => broken,
                })?;
            let config_bytes = self.read_blob(&config.digest).await?;
            let platform = docker_archive::config_platform(&config_bytes)
                .map_err(|e| refused(format!("unable to resolve platform: {e}")))?;
            manifest.platform = Some(platform);
            entries.extend(
                docker_archive::index_entries(&manifest, &item.repo_tags).map_err(refused)?,
            );
        }
        Ok(entries)
    }

    /// Writes `bytes` to the content store under `reference` (`content.WriteBlob`).
    async fn write_bytes(
        &self,
        reference: &str,
        bytes: Vec<u8>,
        lease: &Lease,
    ) -> Result<(), Failure> {
        let (tx, data) = mpsc::channel(bytes.len().div_ceil(CHUNK).max(1));
        for chunk in bytes.chunks(CHUNK) {
            let _ = tx.try_send(chunk.to_vec());
        }
        drop(tx);
        let blob = ScannedBlob {
            name: reference.into(),
            expected: Some(crate::oci::Digest::sha256(&bytes).to_string()),
            size: bytes.len() as u64,
            data,
        };
        self.write_blob(blob, reference, lease).await.map(|_| ())
    }

    /// Up to the first 10 bytes of a stored blob (what compression detection peeks at).
    async fn read_head(&self, digest: &str) -> Result<Vec<u8>, Failure> {
        let what = "content read";
        let mut stream = self
            .content()
            .read(self.request(ReadContentRequest {
                digest: digest.into(),
                offset: 0,
                size: HEAD as i64,
            }))
            .await
            .map_err(|s| self.failure(what, s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(|s| self.failure(what, s))? {
            out.extend_from_slice(&chunk.data);
        }
        out.truncate(HEAD);
        Ok(out)
    }

    /// Streams one member into the content store under `reference`, as `onUntarBlob`
    /// (`content.WriteBlob` with no expected digest) does: the blob is committed under the
    /// digest of its bytes, computed here as they pass and sent as the commit's expected
    /// digest. When the member's name declares a digest that is already stored, containerd
    /// answers AlreadyExists to the first message and the member is skipped (dropping its data
    /// receiver tells the scan to skip the rest of it); the declared digest then stands for it.
    /// `None` when the scan stopped inside the member (its error is reported when the scan
    /// ends).
    async fn write_blob(
        &self,
        blob: ScannedBlob,
        reference: &str,
        lease: &Lease,
    ) -> Result<Option<Ingested>, Failure> {
        use sha2::{Digest as _, Sha256};
        let ScannedBlob {
            expected,
            size,
            mut data,
            ..
        } = blob;
        let what = "content write";
        let skipped = || {
            Some(Ingested {
                digest: expected.clone().unwrap_or_default(),
                size: size as i64,
                head: None,
            })
        };
        let (tx, mut rx) = mpsc::channel::<WriteContentRequest>(1);
        // The first message takes the ref's lock and states the declared digest, like the
        // proxy content store's `negotiate`; containerd answers it with AlreadyExists if a
        // blob with that digest is already in the namespace.
        let stat = WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.into(),
            total: size as i64,
            expected: expected.clone().unwrap_or_default(),
            ..Default::default()
        };
        let outbound = futures_util::stream::once(std::future::ready(stat))
            .chain(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let inbound = match self.content().write(self.leased(outbound, lease)).await {
            Ok(reply) => reply.into_inner(),
            Err(s) if already_exists(&s) && expected.is_some() => return Ok(skipped()),
            Err(s) => return Err(self.failure(what, s)),
        };
        let mut session = WriteSession { tx, inbound };
        match session.reply().await {
            Ok(_) => {}
            Err(s) if already_exists(&s) && expected.is_some() => return Ok(skipped()),
            Err(s) => return Err(self.failure(what, s)),
        }
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut offset: i64 = 0;
        while let Some(chunk) = data.recv().await {
            let len = chunk.len() as i64;
            hasher.update(&chunk);
            if head.len() < HEAD {
                let take = (HEAD - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            let req = WriteContentRequest {
                action: WriteAction::Write as i32,
                offset,
                data: chunk,
                ..Default::default()
            };
            let written = match session.exchange(req).await {
                Ok(reply) => reply.offset - offset,
                Err(s) => {
                    drop(session);
                    self.abort(reference).await;
                    return Err(self.failure(what, s));
                }
            };
            if written != len {
                let message =
                    format!("containerd took {written} of {len} bytes at offset {offset}");
                return Err(Failure::Broken(
                    self.protocol(what, tonic::Status::from_error(message.into())),
                ));
            }
            offset += len;
        }
        if offset as u64 != size {
            drop(session);
            self.abort(reference).await;
            return Ok(None);
        }
        let digest = crate::oci::Digest::from_sha256_output(&hasher.finalize()).to_string();
        let commit = WriteContentRequest {
            action: WriteAction::Commit as i32,
            total: size as i64,
            offset,
            expected: digest.clone(),
            ..Default::default()
        };
        let stored = Ingested {
            digest,
            size: size as i64,
            head: Some(head),
        };
        match session.exchange(commit).await {
            Ok(_) => Ok(Some(stored)),
            Err(s) if already_exists(&s) => Ok(Some(stored)),
            Err(s) => {
                drop(session);
                self.abort(reference).await;
                Err(self.failure(what, s))
            }
        }
    }

    /// Drops a half-written ingest (best effort: the instance root goes away anyway).
    async fn abort(&self, reference: &str) {
        let _ = self
            .content()
            .abort(self.request(AbortRequest {
                r#ref: reference.into(),
            }))
            .await;
    }

    /// Reads a blob back from the content store, up to [`JSON_LIMIT`] bytes.
    async fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Failure> {
        let what = "content read";
        let mut stream = self
            .content()
            .read(self.request(ReadContentRequest {
                digest: digest.into(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(|s| self.failure(what, s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(|s| self.failure(what, s))? {
            out.extend_from_slice(&chunk.data);
            if out.len() > JSON_LIMIT {
                return Err(refused(format!(
                    "{digest}: larger than {JSON_LIMIT} bytes, too large for a manifest or index"
                )));
            }
        }
        Ok(out)
    }

    /// Walks down from the `index.json` entries the platform filter kept and labels every
    /// manifest and nested index with its children, as `Client.Import`'s
    /// `images.SetChildrenLabels(cs, images.FilterPlatforms(handler, platforms.Default()))`
    /// walk does: children for another platform are neither labelled nor walked (so a platform
    /// the archive lists but leaves out only fails the import when it is the host's). Config
    /// and layer blobs are leaves.
    async fn label_children(
        &self,
        top: &[OciDescriptor],
        matcher: &HostMatcher,
    ) -> Result<(), Failure> {
        let mut queue: VecDeque<OciDescriptor> = top.iter().cloned().collect();
        let mut seen = HashSet::new();
        while let Some(desc) = queue.pop_front() {
            if !seen.insert(desc.digest.clone()) {
                continue;
            }
            let kind = match desc.media_type.as_str() {
                media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST => DocKind::Manifest,
                media_type::OCI_INDEX | archive::DOCKER_MANIFEST_LIST => DocKind::Index,
                // Configs, layers and unknown types have no children (`images.Children`).
                _ => continue,
            };
            let bytes = self.read_blob(&desc.digest).await?;
            let mut children = children(&bytes, &desc, kind).map_err(refused)?;
            children.retain(|c| c.platform.as_ref().is_none_or(|p| matcher.matches(p)));
            if children.is_empty() {
                continue;
            }
            let labels = gc_labels(&children);
            let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
            self.content()
                .update(self.request(UpdateRequest {
                    info: Some(Info {
                        digest: desc.digest.clone(),
                        labels,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths }),
                }))
                .await
                .map_err(|s| self.failure("content update", s))?;
            queue.extend(children);
        }
        Ok(())
    }

    /// Points the record `name` at `target`: `Update` (mask `target`), then `Create` if there
    /// is no such record, as `Client.Import` does.
    async fn put_image(&self, name: &str, target: &OciDescriptor) -> Result<(), Failure> {
        let image = Image {
            name: name.into(),
            target: Some(target.to_proto()),
            ..Default::default()
        };
        let updated = self
            .images()
            .update(self.request(UpdateImageRequest {
                image: Some(image.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["target".into()],
                }),
                source_date_epoch: None,
            }))
            .await;
        match updated {
            Ok(_) => return Ok(()),
            Err(s) if s.code() == Code::NotFound && rejection(&s).is_some() => {}
            Err(s) => return Err(self.failure("image update", s)),
        }
        self.images()
            .create(self.request(CreateImageRequest {
                image: Some(image),
                source_date_epoch: None,
            }))
            .await
            .map_err(|s| self.failure("image create", s))?;
        Ok(())
    }
}

/// One open Content `Write` stream: each request is answered before the next is sent, as
/// containerd's `remoteWriter` does.
struct WriteSession {
    tx: mpsc::Sender<WriteContentRequest>,
    inbound: tonic::Streaming<WriteContentResponse>,
}

impl WriteSession {
    async fn reply(&mut self) -> Result<WriteContentResponse, tonic::Status> {
        match self.inbound.message().await? {
            Some(reply) => Ok(reply),
            None => Err(tonic::Status::from_error(
                "containerd ended the write stream early".into(),
            )),
        }
    }

    async fn exchange(
        &mut self,
        req: WriteContentRequest,
    ) -> Result<WriteContentResponse, tonic::Status> {
        if self.tx.send(req).await.is_err() {
            return Err(tonic::Status::from_error(
                "the write stream's request side is closed".into(),
            ));
        }
        self.reply().await
    }
}

/// A daemon's AlreadyExists (a blob or record that is already there).
fn already_exists(status: &tonic::Status) -> bool {
    status.code() == Code::AlreadyExists && rejection(status).is_some()
}

/// How many leading bytes compression detection looks at (`compression.DecompressStream`
/// peeks at 10).
const HEAD: usize = 10;

/// A member as `ImportIndex`'s `blobs` map keeps it: digest and size, and here also its first
/// bytes (`None` if the member was skipped because its blob was already stored).
#[derive(Clone)]
struct Ingested {
    digest: String,
    size: i64,
    head: Option<Vec<u8>>,
}

impl Ingested {
    fn descriptor(&self, media_type: &str) -> OciDescriptor {
        OciDescriptor {
            media_type: media_type.into(),
            digest: self.digest.clone(),
            size: self.size,
            ..Default::default()
        }
    }
}

/// A lease, with its id ready to go in the `containerd-lease` header.
struct Lease {
    id: String,
    header: AsciiMetadataValue,
}

/// A containerd image record as an [`ImageRecord`]: containerd has no image IDs and keeps one
/// record per name, so the ID and digest are the target's digest and `names` holds the one name.
fn record(image: Image) -> ImageRecord {
    let digest = image.target.map(|t| t.digest).filter(|d| !d.is_empty());
    ImageRecord {
        id: digest.clone().unwrap_or_default(),
        names: vec![image.name],
        digest,
        repo_digests: Vec::new(),
    }
}

impl Runtime for ContainerdDriver {
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        Box::pin(async move {
            let version = VersionClient::new(self.channel.clone())
                .version(self.request(()))
                .await
                .map_err(|s| self.failed("version", s))?
                .into_inner();
            Ok(RuntimeInfo {
                runtime: RuntimeKind::Containerd,
                version: version.version,
                api_version: API_VERSION.into(),
                store: self.snapshotter.clone(),
                api: API.into(),
            })
        })
    }

    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
        Box::pin(async move {
            let file = super::open_archive(archive).await?.into_std().await;
            let lease = self.create_lease().await?;
            let result = self.import(file, archive, &lease).await;
            self.delete_lease(lease).await;
            match result {
                Ok(messages) => Ok(LoadOutcome::Loaded { messages }),
                Err(Failure::Rejected(r)) => Ok(LoadOutcome::Error(r)),
                Err(Failure::Broken(e)) => Err(e),
            }
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
        Box::pin(async move { Ok(self.list().await?.into_iter().map(record).collect()) })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            // `ctr images tag` (cmd/ctr/commands/images/tag.go): Get the source, then Create a
            // record named `target` verbatim with the same target and labels. ctr checks
            // nothing about the name; containerd's image store only refuses an empty one.
            let image = match self.resolve(source).await? {
                Ok(image) => image,
                Err(r) => return Ok(TagOutcome::Error(r)),
            };
            let created = self
                .images()
                .create(self.request(CreateImageRequest {
                    image: Some(Image {
                        name: target.into(),
                        labels: image.labels,
                        target: image.target,
                        ..Default::default()
                    }),
                    source_date_epoch: None,
                }))
                .await;
            super::tag_outcome(created, rejection, |s| self.protocol("image create", s))
        })
    }

    fn untag_image<'a>(
        &'a self,
        _image: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        Box::pin(async move {
            // A record is a name: deleting it (`ctr images rm`) removes the name and nothing
            // else; the content stays as long as other records reference it.
            let deleted = self
                .images()
                .delete(self.request(DeleteImageRequest {
                    name: name.into(),
                    sync: false,
                    target: None,
                }))
                .await;
            super::tag_outcome(deleted, rejection, |s| self.protocol("image delete", s))
        })
    }

    fn remove_image<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<super::RemoveOutcome, RuntimeError>> {
        Box::pin(async move {
            // `ctr images rm NAME`: `Images.Delete` removes the one record; there is no untag
            // as distinct from delete (a record is a name), and the content goes with the next
            // garbage collection once nothing references it.
            let deleted = self
                .images()
                .delete(self.request(DeleteImageRequest {
                    name: name.into(),
                    sync: false,
                    target: None,
                }))
                .await;
            match deleted {
                Ok(_) => Ok(super::RemoveOutcome::Removed {
                    untagged: vec![name.to_string()],
                    deleted: Vec::new(),
                }),
                Err(status) => match rejection(&status) {
                    Some(r) if status.code() == Code::NotFound => {
                        Ok(super::RemoveOutcome::NotFound(r))
                    }
                    Some(r) => Ok(super::RemoveOutcome::Error(r)),
                    None => Err(self.protocol("image delete", status)),
                },
            }
        })
    }

    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Containerd
    }

    fn push_image<'a>(
        &'a self,
        request: &'a super::PushRequest,
    ) -> BoxFuture<'a, Result<super::PushOutcome, RuntimeError>> {
        Box::pin(self.transfer_push(request))
    }

    fn pull_image<'a>(
        &'a self,
        request: &'a super::PullRequest,
    ) -> BoxFuture<'a, Result<super::PullOutcome, RuntimeError>> {
        Box::pin(self.transfer_pull(request))
    }

    fn lookup_image<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>> {
        Box::pin(async move {
            Ok(match self.resolve(name).await? {
                Ok(image) => Lookup::Found(record(image)),
                Err(r) if r.status == Some(Code::NotFound as i32 as u16) => Lookup::NotFound,
                Err(r) => Lookup::Refused(r),
            })
        })
    }
}

/// `true` for a full `sha256:<64 hex>` digest.
fn is_digest(name: &str) -> bool {
    name.starts_with("sha256:") && crate::oci::Digest::parse(name).is_ok()
}
/// `t` as RFC 3339 in UTC (`2006-01-02T15:04:05Z`), the form `leases.WithExpiration` writes.
fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_expiry_is_rfc3339_utc() {
        let at = |secs: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
    }
}
