//! A small client for the registry API (distribution's `/v2/`), to read back what a runtime
//! pushed: the manifest or index a tag points at, its digest (computed over the bytes served,
//! and compared with `Docker-Content-Digest`), its media type, and for an index the
//! per-platform manifests it lists and whether each is in the registry.
//!
//! Plain HTTP/1.1 on `127.0.0.1` through hyper; replies are small JSON documents, read whole
//! and bounded by [`CALL_TIMEOUT`](crate::runtime::CALL_TIMEOUT). The only writes are
//! [`RegistryClient::put_blob`] and [`RegistryClient::put_manifest`], which the `publish` step
//! uses to place a crafted image in the registry before a runtime pulls it; what a runtime's
//! push landed is always what the runtime put there.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::oci::media_type;

/// Docker's manifest list (the index of Docker schema 2).
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type a runtime may push, as the `Accept` header: without it
/// distribution serves only schema 1 or refuses ("manifest unknown") for an index.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A client for one registry.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    client: Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
}

/// A registry call that failed: the connection, or an unexpected status.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("failed to reach the registry at {addr}")]
    Transport {
        addr: SocketAddr,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the registry answered {method} {path} with {status}: {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("the registry served a manifest that does not parse ({path})")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One manifest as served: its bytes, their digest, the `Content-Type`, and the registry's own
/// `Docker-Content-Digest`.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Bytes,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    pub media_type: String,
    pub header_digest: Option<String>,
}

/// What a tag points at in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landed {
    /// The manifest's or index's digest (of the bytes the registry serves).
    pub digest: String,
    pub media_type: String,
    /// For an index (or Docker manifest list): each manifest it lists, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<PlatformManifest>,
    /// For a manifest: its config digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// For a manifest: its layers' media types, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// One entry of an index as landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformManifest {
    pub digest: String,
    pub media_type: String,
    /// `os/architecture[/variant]`, if the entry has a platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Whether the registry has this manifest (distribution refuses an index whose children
    /// are missing, so `false` means it was deleted since, or a registry that does not check).
    pub present: bool,
}

#[derive(Deserialize)]
struct Doc {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
    #[serde(default)]
    config: Option<Entry>,
    #[serde(default)]
    layers: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl RegistryClient {
    /// A client for the registry at `addr`.
    pub fn new(addr: SocketAddr) -> RegistryClient {
        RegistryClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
        }
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
    ) -> Result<(u16, hyper::HeaderMap, Bytes), RegistryError> {
        self.send_body(method, path, None).await
    }

    /// `method path`, with `body` (and its content type) when given.
    async fn send_body(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<(u16, hyper::HeaderMap, Bytes), RegistryError> {
        let transport =
            |source: Box<dyn std::error::Error + Send + Sync>| RegistryError::Transport {
                addr: self.addr,
                source,
            };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("Accept", ACCEPT);
        let body = match body {
            Some((content_type, bytes)) => {
                req = req
                    .header("Content-Type", content_type)
                    .header("Content-Length", bytes.len());
                Full::new(bytes)
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| transport(Box::new(e)))?;
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| transport(Box::new(e)))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| transport(Box::new(e)))?
                .to_bytes();
            Ok((status, headers, body))
        };
        match tokio::time::timeout(crate::runtime::CALL_TIMEOUT, call).await {
            Ok(r) => r,
            Err(e) => Err(transport(Box::new(e))),
        }
    }

    /// `true` if `GET /v2/` answers 200.
    pub async fn ping(&self) -> bool {
        matches!(self.send("GET", "/v2/").await, Ok((200, _, _)))
    }

    /// The manifest `reference` (a tag or digest) of `repository`; `None` if the registry
    /// does not have it (404).
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let (status, headers, bytes) = self.send("GET", &path).await?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => {
                return Err(RegistryError::Status {
                    method: "GET",
                    path,
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        Ok(Some(Fetched {
            digest: format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))),
            media_type: header("Content-Type").unwrap_or_default(),
            header_digest: header("Docker-Content-Digest"),
            bytes,
        }))
    }

    /// Blob `digest` of `repository` (`GET /v2/<name>/blobs/<digest>`), as served.
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Bytes, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        match self.send("GET", &path).await? {
            (200, _, bytes) => Ok(bytes),
            (status, _, body) => Err(RegistryError::Status {
                method: "GET",
                path,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }

    /// `true` if the registry has the manifest `digest` in `repository` (`HEAD`).
    pub async fn has_manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{digest}");
        let (status, _, body) = self.send("HEAD", &path).await?;
        match status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(RegistryError::Status {
                method: "HEAD",
                path,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }

    /// What `repository:tag` points at, read back (see [`Landed`]); `None` if nothing is
    /// tagged so.
    pub async fn landed(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<Landed>, RegistryError> {
        let Some(top) = self.manifest(repository, tag).await? else {
            return Ok(None);
        };
        let path = format!("/v2/{repository}/manifests/{tag}");
        let doc: Doc = serde_json::from_slice(&top.bytes)
            .map_err(|source| RegistryError::Parse { path, source })?;
        let media_type = if top.media_type.is_empty() {
            doc.media_type.clone().unwrap_or_default()
        } else {
            top.media_type.clone()
        };
        let mut landed = Landed {
            digest: top.digest,
            media_type,
            manifests: Vec::new(),
            config: doc.config.map(|c| c.digest),
            layers: doc.layers.into_iter().map(|l| l.media_type).collect(),
        };
        for e in doc.manifests.unwrap_or_default() {
            let present = self.has_manifest(repository, &e.digest).await?;
            landed.manifests.push(PlatformManifest {
                platform: e.platform.map(|p| match p.variant {
                    Some(v) if !v.is_empty() => format!("{}/{}/{v}", p.os, p.architecture),
                    _ => format!("{}/{}", p.os, p.architecture),
                }),
                digest: e.digest,
                media_type: e.media_type,
                present,
            });
        }
        Ok(Some(landed))
    }

    /// The tags of `repository` (`GET /v2/<name>/tags/list`); empty if it does not exist.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let path = format!("/v2/{repository}/tags/list");
        let (status, _, body) = self.send("GET", &path).await?;
        match status {
            200 => Ok(serde_json::from_slice::<Tags>(&body)
                .map_err(|source| RegistryError::Parse { path, source })?
                .tags
                .unwrap_or_default()),
            404 => Ok(Vec::new()),
            _ => Err(RegistryError::Status {
                method: "GET",
                path,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }
}

/// The writes (`publish` step).
impl RegistryClient {
    /// Uploads `bytes` as blob `digest` of `repository`, unless the registry has it: a
    /// monolithic upload, `POST /v2/<name>/blobs/uploads/` then `PUT <location>&digest=`
    /// (distribution's `blobUploadHandler`; the OCI distribution spec's "POST then PUT").
    /// Returns whether it uploaded.
    pub async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        bytes: Bytes,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        if let (200, _, _) = self.send("HEAD", &path).await? {
            return Ok(false);
        }
        let start = format!("/v2/{repository}/blobs/uploads/");
        let (status, headers, body) = self.send("POST", &start).await?;
        let location = headers.get("Location").and_then(|v| v.to_str().ok());
        let location = match (status, location) {
            (202, Some(l)) => l.to_string(),
            _ => {
                return Err(RegistryError::Status {
                    method: "POST",
                    path: start,
                    status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
            }
        };
        // The Location is absolute (`http://host/v2/...`) or a path; keep the path and query.
        let location = match location.find("/v2/") {
            Some(at) => location[at..].to_string(),
            None => location,
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", digest.replace(':', "%3A"));
        let (status, _, body) = self
            .send_body("PUT", &put, Some(("application/octet-stream", bytes)))
            .await?;
        match status {
            201 => Ok(true),
            _ => Err(RegistryError::Status {
                method: "PUT",
                path: format!("/v2/{repository}/blobs/uploads/ ({digest})"),
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }

    /// Puts `bytes` as the manifest (or index) `reference` (a tag or its digest) of
    /// `repository`, with `media_type` as its `Content-Type`; returns the registry's
    /// `Docker-Content-Digest`.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Option<String>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let (status, headers, body) = self
            .send_body("PUT", &path, Some((media_type, bytes)))
            .await?;
        match status {
            201 => Ok(headers
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok())
                .map(String::from)),
            _ => Err(RegistryError::Status {
                method: "PUT",
                path,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
        }
    }
}

impl Landed {
    /// `true` for an OCI index or a Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == media_type::OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }
}
