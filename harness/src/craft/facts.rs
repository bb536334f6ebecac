//! [`CraftedArchive`]: what a written archive holds, so the runner can tell which digest a
//! runtime's image ID or digest equals (R1: config digest for the classic Docker store and
//! Podman, target digest for Docker's containerd store) without reading the archive back.

use serde::Serialize;

use crate::craft::LayoutKind;
use crate::oci::Digest;

/// Facts about what was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CraftedArchive {
    pub layout: LayoutKind,
    /// The image config blob.
    pub config: BlobFacts,
    /// The image manifest blob (OCI media type in both layouts).
    pub manifest: BlobFacts,
    /// An image index blob. `None` for both current layouts: `index.json` itself is the layout's
    /// entry point, not a blob. Kept for multi-platform fixtures, whose target is an index blob.
    pub index: Option<BlobFacts>,
    /// Layers in config order, bottom first.
    pub layers: Vec<LayerFacts>,
    /// The names written to `manifest.json` and the `index.json` annotations.
    pub names: ArchiveNames,
}

/// A blob's digest and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobFacts {
    pub digest: Digest,
    pub size: u64,
}

/// One layer as stored in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerFacts {
    /// The digest of the blob as stored.
    pub digest: Digest,
    /// The sha256 of the uncompressed tar (`rootfs.diff_ids` in the config). Equal to `digest`
    /// while layers are written uncompressed.
    pub diff_id: Digest,
    /// The size of the blob as stored.
    pub size: u64,
    /// The media type the manifest gives the layer.
    pub media_type: String,
}

/// The names an archive carries, as written (no reference normalization).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveNames {
    /// `manifest.json` `RepoTags` (hybrid layout only; empty otherwise).
    pub repo_tags: Vec<String>,
    /// The `io.containerd.image.name` annotation on the `index.json` descriptor, if written.
    pub image_name: Option<String>,
    /// The `org.opencontainers.image.ref.name` annotation on the `index.json` descriptor, if
    /// written.
    pub ref_name: Option<String>,
}
