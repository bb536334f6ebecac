//! [`CraftedArchive`]: what a written archive holds, so the runner can tell which digest a
//! runtime's image ID or digest equals (R1: config digest for the classic Docker store and
//! Podman, target digest for Docker's containerd store) without reading the archive back, and
//! so a reader's report can be compared with what was crafted.
//!
//! Digests are the names blobs are stored and referenced under, which is the sha256 of their
//! bytes unless a `digest-mismatch` defect renamed them; sizes are the bytes stored. What each
//! defect changed is in [`CraftedArchive::defects`], in words and by archive member.

use serde::Serialize;

use crate::craft::apply::describe;
use crate::craft::defect::{AppliedDefect, DefectKind};
use crate::craft::image::{Image, PlatformImage};
use crate::craft::{Compression, LayoutKind};
use crate::oci::Digest;

/// Facts about what was written.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CraftedArchive {
    pub layout: LayoutKind,
    /// The primary image's config: the single platform's, or the first platform not omitted
    /// (the one `manifest.json` describes).
    pub config: BlobFacts,
    /// The primary image's manifest. `None` in `docker-archive`, which holds no manifest.
    pub manifest: Option<BlobFacts>,
    /// The image index blob `index.json` points at, when the image is an index (`platforms`
    /// or `attestations`). `index.json` itself is the layout's entry point, not a blob.
    pub index: Option<BlobFacts>,
    /// The primary image's layers in config order, bottom first.
    pub layers: Vec<LayerFacts>,
    /// The names written to `manifest.json`, `repositories` and the `index.json` annotations.
    pub names: ArchiveNames,
    /// Every platform in index order, the primary one included; one for a single-platform
    /// image.
    pub platforms: Vec<PlatformFacts>,
    /// The defects applied, in spec order.
    pub defects: Vec<AppliedDefect>,
}

/// A blob's digest and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BlobFacts {
    pub digest: Digest,
    pub size: u64,
}

/// One layer as stored in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LayerFacts {
    /// The digest of the blob as stored.
    pub digest: Digest,
    /// The sha256 of the uncompressed tar: what `rootfs.diff_ids` should list (it lists
    /// something else under `diffid-mismatch`). Equal to `digest` for uncompressed layers.
    pub diff_id: Digest,
    /// The size of the blob as stored.
    pub size: u64,
    /// The media type descriptors give the layer; `None` in `docker-archive`.
    pub media_type: Option<String>,
    /// How the stored bytes are compressed.
    pub compression: Compression,
}

/// One platform's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlatformFacts {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// False for `omit_platforms`: listed in the index, none of its blobs in the archive.
    pub present: bool,
    /// The manifest; `None` in `docker-archive`.
    pub manifest: Option<BlobFacts>,
    pub config: BlobFacts,
    pub layers: Vec<LayerFacts>,
    /// Its attestation manifest, with `attestations`.
    pub attestation: Option<BlobFacts>,
}

/// The names an archive carries, as written (no reference normalization).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ArchiveNames {
    /// `manifest.json` `RepoTags` (empty in `oci-archive`, or for an unnamed image).
    pub repo_tags: Vec<String>,
    /// The `io.containerd.image.name` annotation on the first `index.json` descriptor.
    pub image_name: Option<String>,
    /// The `org.opencontainers.image.ref.name` annotation on the first `index.json`
    /// descriptor.
    pub ref_name: Option<String>,
    /// Every `index.json` descriptor's names, in order: one per name, or one unnamed. Empty
    /// without `index.json` (`docker-archive`) or under `index-manifests-null`.
    pub index_entries: Vec<IndexEntryNames>,
}

/// The name annotations of one `index.json` descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IndexEntryNames {
    pub image_name: Option<String>,
    pub ref_name: Option<String>,
}

impl CraftedArchive {
    pub(crate) fn from_image(image: &Image<'_>) -> Self {
        let plan = &image.plan;
        let layout = image.layout();
        let platforms: Vec<PlatformFacts> = image
            .platforms
            .iter()
            .map(|p| platform_facts(image, p))
            .collect();
        let primary = platforms[plan.primary].clone();
        let index_entries: Vec<IndexEntryNames> = if plan.has(DefectKind::IndexManifestsNull) {
            Vec::new()
        } else {
            plan.names
                .entries
                .iter()
                .map(|e| IndexEntryNames {
                    image_name: e.image_name.clone(),
                    ref_name: e.ref_name.clone(),
                })
                .collect()
        };
        let first = index_entries.first().cloned().unwrap_or_default();
        Self {
            layout,
            config: primary.config,
            manifest: primary.manifest,
            index: image.index.as_ref().map(|b| b.facts()),
            layers: primary.layers,
            names: ArchiveNames {
                repo_tags: if layout.has_manifest_json() {
                    plan.names.repo_tags()
                } else {
                    Vec::new()
                },
                image_name: first.image_name,
                ref_name: first.ref_name,
                index_entries,
            },
            platforms,
            defects: plan
                .defects
                .iter()
                .map(|d| describe(image, d.kind, &d.aim))
                .collect(),
        }
    }
}

fn platform_facts(image: &Image<'_>, p: &PlatformImage) -> PlatformFacts {
    let docker_archive = image.layout() == LayoutKind::DockerArchive;
    PlatformFacts {
        platform: p.platform.to_string(),
        present: p.present,
        manifest: p.manifest.as_ref().map(|b| b.facts()),
        config: p.config.facts(),
        layers: p
            .layers
            .iter()
            .map(|&i| {
                let l = &image.layers[i];
                LayerFacts {
                    digest: l.blob.digest.clone(),
                    diff_id: l.diff_id.clone(),
                    size: l.blob.size(),
                    media_type: (!docker_archive).then(|| l.media_type.clone()),
                    compression: l.compression,
                }
            })
            .collect(),
        attestation: p.attestation.as_ref().map(|a| a.manifest.facts()),
    }
}

impl CraftedArchive {
    /// The text `harness craft` prints after writing `out`: the layout, then each blob's
    /// digest and size, and each layer's DiffID, compression and media type.
    pub fn render_text(&self, out: &std::path::Path) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "wrote {} ({})", out.display(), self.layout.as_str());
        let _ = writeln!(
            s,
            "  config    {} ({} bytes)",
            self.config.digest, self.config.size
        );
        if let Some(manifest) = &self.manifest {
            let _ = writeln!(
                s,
                "  manifest  {} ({} bytes)",
                manifest.digest, manifest.size
            );
        }
        if let Some(index) = &self.index {
            let _ = writeln!(s, "  index     {} ({} bytes)", index.digest, index.size);
        }
        for (i, l) in self.layers.iter().enumerate() {
            let _ = writeln!(
                s,
                "  layer {i}   {} diff_id {} ({} bytes, {}, {})",
                l.digest,
                l.diff_id,
                l.size,
                l.compression.as_str(),
                l.media_type.as_deref().unwrap_or("no media type")
            );
        }
        s
    }
}
