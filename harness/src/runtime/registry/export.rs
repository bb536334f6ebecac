//! What landed in the registry, written out byte for byte as an OCI image layout archive: the
//! manifest (or index) a tag points at, every child manifest the registry has, and every
//! config and layer blob they reference, each under `blobs/sha256/<hex>` exactly as the
//! registry serves it (each checked against its digest), with an `index.json` whose one entry
//! is the top document. This is how a produced fixture hands over what a producer *pushed*
//! (`run/produce.rs`): the `publish` step puts the same bytes into another cell's registry,
//! where that cell's runtime pulls them.
//!
//! The `index.json` entry keeps the served media type (a Docker schema 2 manifest stays
//! `application/vnd.docker.distribution.manifest.v2+json`), so what a consumer pulls has the
//! digest the producer's push gave it. A child of an index the registry does not have (a
//! reduced-platform push) is left out, as `publish` leaves out what an archive lacks.

use std::io::Write as _;
use std::path::Path;

use bytes::Bytes;
use serde::Deserialize;
use sha2::Digest as _;

use super::client::{RegistryClient, RegistryError};
use crate::oci::media_type;

/// The most bytes one export holds (produced fixtures are small images).
pub const MAX_BYTES: usize = 512 << 20;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the registry has nothing tagged {0}")]
    NotFound(String),
    #[error("the registry served {what} {digest} with the digest {got}")]
    Digest {
        what: &'static str,
        digest: String,
        got: String,
    },
    #[error("{0} does not parse")]
    Parse(String, #[source] serde_json::Error),
    #[error("more than {MAX_BYTES} bytes landed: an export holds them in memory")]
    TooLarge,
    #[error("failed to write {}", .0.display())]
    Write(std::path::PathBuf, #[source] std::io::Error),
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
    #[serde(default)]
    config: Option<Entry>,
    #[serde(default)]
    layers: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    digest: String,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The top document's digest and media type, as served.
    pub digest: String,
    pub media_type: String,
    /// How many blobs the archive holds (manifests, configs, layers).
    pub blobs: usize,
}

/// Collects the top document and everything below it, in the order met, each once.
struct Collect<'a> {
    client: &'a RegistryClient,
    repository: &'a str,
    blobs: Vec<(String, Bytes)>,
    total: usize,
}

impl Collect<'_> {
    fn keep(&mut self, digest: &str, bytes: Bytes) -> Result<(), ExportError> {
        if self.blobs.iter().any(|(d, _)| d == digest) {
            return Ok(());
        }
        self.total += bytes.len();
        if self.total > MAX_BYTES {
            return Err(ExportError::TooLarge);
        }
        self.blobs.push((digest.to_string(), bytes));
        Ok(())
    }

    /// The manifest or index `bytes` (already kept) and what it references.
    fn walk<'b>(
        &'b mut self,
        digest: &'b str,
        bytes: Bytes,
    ) -> crate::runtime::BoxFuture<'b, Result<(), ExportError>> {
        Box::pin(async move {
            let doc: Doc = serde_json::from_slice(&bytes)
                .map_err(|e| ExportError::Parse(digest.to_string(), e))?;
            for child in doc.manifests.iter().flatten() {
                let Some(fetched) = self.client.manifest(self.repository, &child.digest).await?
                else {
                    continue;
                };
                check("manifest", &child.digest, &fetched.digest)?;
                self.keep(&child.digest, fetched.bytes.clone())?;
                self.walk(&child.digest, fetched.bytes).await?;
            }
            for blob in doc.config.iter().chain(&doc.layers) {
                if self.blobs.iter().any(|(d, _)| *d == blob.digest) {
                    continue;
                }
                let bytes = self.client.blob(self.repository, &blob.digest).await?;
                let got = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
                check("blob", &blob.digest, &got)?;
                self.keep(&blob.digest, bytes)?;
            }
            Ok(())
        })
    }
}

fn check(what: &'static str, want: &str, got: &str) -> Result<(), ExportError> {
    if want == got {
        Ok(())
    } else {
        Err(ExportError::Digest {
            what,
            digest: want.to_string(),
            got: got.to_string(),
        })
    }
}

/// Writes what `repository:tag` points at into `out` as an OCI layout archive, its
/// `index.json` entry annotated with `ref_name` (`org.opencontainers.image.ref.name`).
pub async fn export_layout(
    client: &RegistryClient,
    repository: &str,
    tag: &str,
    ref_name: &str,
    out: &Path,
) -> Result<Exported, ExportError> {
    let top = client
        .manifest(repository, tag)
        .await?
        .ok_or_else(|| ExportError::NotFound(format!("{repository}:{tag}")))?;
    let mut collect = Collect {
        client,
        repository,
        blobs: Vec::new(),
        total: 0,
    };
    collect.keep(&top.digest, top.bytes.clone())?;
    collect.walk(&top.digest, top.bytes.clone()).await?;
    let media_type = if top.media_type.is_empty() {
        media_type::OCI_MANIFEST.to_string()
    } else {
        top.media_type.clone()
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type,
            "digest": top.digest,
            "size": top.bytes.len(),
            "annotations": { "org.opencontainers.image.ref.name": ref_name },
        }],
    });
    let index = serde_json::to_vec(&index).expect("serializes");
    let blobs = collect.blobs;
    let count = blobs.len();
    let path = out.to_path_buf();
    tokio::task::spawn_blocking(move || write_layout(&path, &index, &blobs))
        .await
        .expect("writing does not panic")
        .map_err(|e| ExportError::Write(out.to_path_buf(), e))?;
    Ok(Exported {
        digest: top.digest,
        media_type,
        blobs: count,
    })
}

/// `oci-layout`, `index.json`, then the blobs in the order met; every header fixed (mode
/// 0644, owner 0, mtime 0), so the same landed bytes give the same archive.
fn write_layout(path: &Path, index: &[u8], blobs: &[(String, Bytes)]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", index)?;
    for (digest, bytes) in blobs {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        add(&format!("blobs/sha256/{hex}"), bytes)?;
    }
    let mut w = tar.into_inner()?;
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}
