//! [`Image::build`]: a [`Plan`] -> every blob and document an archive may hold, bottom up.
//!
//! Layers are built once each (platforms share them), then per platform the config and
//! manifest and, with `attestations`, an attestation manifest; then the image index and
//! `index.json`. Each blob goes through [`seal`], which applies the blob defects aimed at it
//! before anything references it, so a descriptor always agrees with the defect: a renamed
//! blob is referenced by its wrong name, a truncated one by the digest of what is left.
//!
//! Omitted platforms are built too: the index must list their real digests. The layouts then
//! decide which blobs to write.
//!
//! Manifests and indexes are indented as BuildKit writes them wherever BuildKit is the
//! producer (every `containerd-hybrid` image, and index-based `oci-archive` images); the
//! single-manifest `oci-archive` and `docker-oci-hybrid` images keep `json.Marshal`'s compact
//! form (moby's; see `oci_layout.rs` on why the OCI one does too).

use std::sync::Arc;

use crate::craft::apply::{seal, seal_streamed};
use crate::craft::attestation::{attestation_descriptor, attestation_parts};
use crate::craft::compress::compress;
use crate::craft::config::{Platform, config_json};
use crate::craft::defect::DefectKind;
use crate::craft::layer::build_layer;
use crate::craft::manifest::{Descriptor, JsonStyle, index_json, manifest_json, name_annotations};
use crate::craft::plan::{Aim, BlobKey, Plan};
use crate::craft::stream::StreamedBlob;
use crate::craft::write::Member;
use crate::craft::{BlobFacts, Compression, CraftError, LayoutKind, docker_archive};
use crate::oci::{Digest, media_type};

/// The label that sets the `manifest-json-index-disagree` config copy apart.
pub(crate) const DISAGREE_LABEL: &str = "harness.craft.defect";

/// A blob built in memory: its bytes, the digest it is stored and referenced under (the
/// sha256 of the bytes unless `digest-mismatch`), and the size descriptors claim (the length
/// unless `size-mismatch`).
///
/// A layer with generated files is not held: its bytes are made again when written
/// (`stream`, and `bytes` is empty; see `stream.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub bytes: Vec<u8>,
    pub stream: Option<Arc<StreamedBlob>>,
    pub digest: Digest,
    pub desc_size: u64,
}

impl Blob {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let digest = Digest::sha256(&bytes);
        let desc_size = bytes.len() as u64;
        Self {
            bytes,
            stream: None,
            digest,
            desc_size,
        }
    }

    /// A blob whose bytes `stream` makes.
    pub(crate) fn streamed(stream: StreamedBlob) -> Self {
        Self {
            bytes: Vec::new(),
            digest: stream.sha256.clone(),
            desc_size: stream.len,
            stream: Some(Arc::new(stream)),
        }
    }

    /// The number of bytes stored.
    pub(crate) fn size(&self) -> u64 {
        self.stream
            .as_ref()
            .map_or(self.bytes.len() as u64, |s| s.len)
    }

    /// The sha256 of the bytes stored (not `digest` under `digest-mismatch`).
    pub(crate) fn content_digest(&self) -> Digest {
        match &self.stream {
            Some(s) => s.sha256.clone(),
            None => Digest::sha256(&self.bytes),
        }
    }

    /// A descriptor of this blob, as every reference to it is written.
    pub(crate) fn descriptor(&self, media_type: impl Into<String>) -> Descriptor {
        Descriptor::new(media_type, self.digest.clone(), self.desc_size)
    }

    /// The digest it is stored under and the size it has.
    pub(crate) fn facts(&self) -> BlobFacts {
        BlobFacts {
            digest: self.digest.clone(),
            size: self.size(),
        }
    }
}

/// A layer as stored.
pub(crate) struct StoredLayer {
    /// The sha256 of the uncompressed tar.
    pub diff_id: Digest,
    pub compression: Compression,
    pub blob: Blob,
    /// The media type descriptors give it.
    pub media_type: String,
}

/// One platform's image.
pub(crate) struct PlatformImage {
    pub platform: Platform,
    pub present: bool,
    /// Indices into [`Image::layers`], bottom first.
    pub layers: Vec<usize>,
    /// The DiffID the image claims for each layer (`diffid-mismatch` applied); the config
    /// lists these, minus the last under `layer-count-mismatch`.
    pub diff_ids: Vec<Digest>,
    pub config: Blob,
    /// `None` in `docker-archive`, which holds no manifest.
    pub manifest: Option<Blob>,
    pub attestation: Option<AttestationBlobs>,
}

/// An attestation manifest and what it references.
pub(crate) struct AttestationBlobs {
    pub statement: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

/// Everything an archive may hold, built and validated, before any byte is written.
pub(crate) struct Image<'s> {
    pub plan: Plan<'s>,
    /// One per `spec.layers` entry.
    pub layers: Vec<StoredLayer>,
    pub platforms: Vec<PlatformImage>,
    /// The image index blob, when the image is an index.
    pub index: Option<Blob>,
    /// `index.json`; `None` in `docker-archive`.
    pub index_json: Option<Vec<u8>>,
    /// `manifest-json-index-disagree`: the config copy `manifest.json` names.
    pub disagreeing_config: Option<Blob>,
}

impl<'s> Image<'s> {
    pub(crate) fn build(plan: Plan<'s>) -> Result<Self, CraftError> {
        let spec = plan.spec;
        let layout = spec.layout;
        let style = if layout == LayoutKind::ContainerdHybrid || plan.index {
            JsonStyle::Indent
        } else {
            JsonStyle::Compact
        };

        let mut layers = Vec::with_capacity(spec.layers.len());
        for (i, layer) in spec.layers.iter().enumerate() {
            let unsafe_paths: Vec<&str> = plan
                .defects
                .iter()
                .filter_map(|d| match &d.aim {
                    Aim::Entry { layer, path } if *layer == i => Some(path.as_str()),
                    _ => None,
                })
                .collect();
            let tar = build_layer(i, layer, &unsafe_paths)?;
            let key = BlobKey::Layer {
                platform: plan.primary,
                spec: i,
            };
            let compress_error = |source| CraftError::Compress { layer: i, source };
            let blob = match tar.tar.in_memory() {
                Some(bytes) => {
                    let stored = compress(bytes, layer.compression).map_err(compress_error)?;
                    seal(&plan, stored, key)
                }
                None => {
                    let stream = StreamedBlob::new(tar.tar, &tar.digest, layer.compression)
                        .map_err(compress_error)?;
                    seal_streamed(&plan, stream, key).map_err(compress_error)?
                }
            };
            let media_type = match &layer.media_type {
                Some(m) => m.clone(),
                None if plan.hits(DefectKind::MediaTypeCompressionMismatch, key) => {
                    layer.compression.mismatched_media_type().to_string()
                }
                None => layer.compression.media_type().to_string(),
            };
            layers.push(StoredLayer {
                diff_id: tar.digest,
                compression: layer.compression,
                blob,
                media_type,
            });
        }

        let mut platforms = Vec::with_capacity(plan.platforms.len());
        let mut disagreeing_config = None;
        for (p, pp) in plan.platforms.iter().enumerate() {
            let diff_ids: Vec<Digest> = pp
                .layers
                .iter()
                .map(|&i| {
                    let key = BlobKey::Layer {
                        platform: p,
                        spec: i,
                    };
                    if plan.hits(DefectKind::DiffidMismatch, key) {
                        // R2: the digest of the compressed bytes, not of the tar.
                        layers[i].blob.content_digest()
                    } else {
                        layers[i].diff_id.clone()
                    }
                })
                .collect();
            let mut listed = diff_ids.as_slice();
            if p == plan.primary && plan.has(DefectKind::LayerCountMismatch) {
                listed = &listed[..listed.len() - 1];
            }
            let config_bytes = config_json(&spec.config, &pp.platform, listed);
            let config = seal(&plan, config_bytes, BlobKey::Config(p));
            if p == plan.primary && plan.has(DefectKind::ManifestJsonIndexDisagree) {
                let mut changed = spec.config.clone();
                changed.labels.insert(
                    DISAGREE_LABEL.to_string(),
                    DefectKind::ManifestJsonIndexDisagree.code().to_string(),
                );
                let bytes = config_json(&changed, &pp.platform, listed);
                disagreeing_config = Some(Blob::new(bytes));
            }

            let manifest = (layout != LayoutKind::DockerArchive).then(|| {
                let mut layer_descs: Vec<Descriptor> = pp
                    .layers
                    .iter()
                    .map(|&i| layers[i].blob.descriptor(layers[i].media_type.as_str()))
                    .collect();
                if p == plan.primary && plan.has(DefectKind::ManifestLayersReordered) {
                    // moby#47150: Docker 25.0.0 listed the manifest's layers out of apply order.
                    layer_descs.reverse();
                }
                if p == plan.primary && plan.has(DefectKind::ManifestLayersEmpty) {
                    // moby#47065: the pre-release save wrote a manifest without layers.
                    layer_descs.clear();
                }
                let config_desc = config.descriptor(media_type::OCI_CONFIG);
                let bytes = manifest_json(&config_desc, &layer_descs, style);
                seal(&plan, bytes, BlobKey::Manifest(p))
            });
            let attestation = match (&manifest, spec.attestations) {
                (Some(m), true) => {
                    let parts = attestation_parts(&m.digest, &pp.platform, &plan.names.refs);
                    Some(AttestationBlobs {
                        statement: parts.statement,
                        config: parts.config,
                        manifest: seal(&plan, parts.manifest_json, BlobKey::Attestation(p)),
                    })
                }
                _ => None,
            };
            platforms.push(PlatformImage {
                platform: pp.platform.clone(),
                present: pp.present,
                layers: pp.layers.clone(),
                diff_ids,
                config,
                manifest,
                attestation,
            });
        }

        let index = plan.index.then(|| {
            let mut descs = Vec::new();
            for p in &platforms {
                let manifest = p.manifest.as_ref().expect("index layouts have manifests");
                let mut d = manifest.descriptor(media_type::OCI_MANIFEST);
                d.platform = Some(p.platform.clone());
                descs.push(d);
            }
            // BuildKit appends the attestation manifests after every platform's manifest.
            for p in &platforms {
                if let (Some(a), Some(m)) = (&p.attestation, &p.manifest) {
                    descs.push(attestation_descriptor(&a.manifest, &m.digest));
                }
            }
            seal(
                &plan,
                index_json(Some(&descs), JsonStyle::Indent),
                BlobKey::Index,
            )
        });

        let index_json = layout.has_index_json().then(|| {
            let target = match &index {
                Some(index) => index.descriptor(media_type::OCI_INDEX),
                None => platforms[plan.primary]
                    .manifest
                    .as_ref()
                    .expect("layouts with index.json have manifests")
                    .descriptor(media_type::OCI_MANIFEST),
            };
            let descs: Vec<Descriptor> = plan
                .names
                .entries
                .iter()
                .map(|e| {
                    let mut d = target.clone();
                    d.annotations =
                        name_annotations(e.image_name.as_deref(), e.ref_name.as_deref());
                    d
                })
                .collect();
            let null = plan.has(DefectKind::IndexManifestsNull);
            index_json((!null).then_some(descs.as_slice()), JsonStyle::Compact)
        });

        Ok(Self {
            plan,
            layers,
            platforms,
            index,
            index_json,
            disagreeing_config,
        })
    }

    pub(crate) fn layout(&self) -> LayoutKind {
        self.plan.spec.layout
    }

    pub(crate) fn primary(&self) -> &PlatformImage {
        &self.platforms[self.plan.primary]
    }

    /// The blob a key names.
    pub(crate) fn blob(&self, key: BlobKey) -> &Blob {
        let attestation = |p: usize| {
            &self.platforms[p]
                .attestation
                .as_ref()
                .expect("the plan checks attestations exist")
                .manifest
        };
        match key {
            BlobKey::Index => self
                .index
                .as_ref()
                .expect("the plan checks the index exists"),
            BlobKey::Manifest(p) => self.platforms[p]
                .manifest
                .as_ref()
                .expect("the plan checks manifests exist"),
            BlobKey::Config(p) => &self.platforms[p].config,
            BlobKey::Attestation(p) => attestation(p),
            BlobKey::Layer { spec, .. } => &self.layers[spec].blob,
        }
    }

    /// The archive member that holds the blob `key` names.
    pub(crate) fn member_name(&self, key: BlobKey) -> String {
        match (self.layout(), key) {
            (LayoutKind::DockerArchive, BlobKey::Config(_)) => {
                docker_archive::config_member(&self.blob(key).digest)
            }
            (LayoutKind::DockerArchive, BlobKey::Layer { spec, .. }) => {
                docker_archive::layer_member(self, spec)
            }
            _ => Member::blob_path(&self.blob(key).digest),
        }
    }

    /// Every blob of the present platforms under `blobs/sha256/`, with the index: what an OCI
    /// layout holds. Shared blobs appear once per use; callers key them by name.
    pub(crate) fn oci_blobs(&self) -> Vec<&Blob> {
        let mut out: Vec<&Blob> = self.index.iter().collect();
        for p in self.platforms.iter().filter(|p| p.present) {
            out.extend(p.layers.iter().map(|&i| &self.layers[i].blob));
            out.push(&p.config);
            out.extend(&p.manifest);
            if let Some(a) = &p.attestation {
                out.extend([&a.statement, &a.config, &a.manifest]);
            }
        }
        out.extend(&self.disagreeing_config);
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::craft::compress::tests::{ALL, decompress};
    use crate::craft::testutil::{blob, check_facts, config_doc, manifest_doc, parse, write, yaml};

    const LAYOUTS: [&str; 4] = [
        "docker-archive",
        "docker-oci-hybrid",
        "containerd-hybrid",
        "oci-archive",
    ];

    /// Every compression in every layout: the stored blob decompresses to a tar whose sha256
    /// is the DiffID the config lists, and the media type follows the compression.
    #[test]
    fn every_compression_round_trips_in_every_layout() {
        for layout in LAYOUTS {
            for c in ALL {
                let s = yaml(&format!(
                    "layout: {layout}\nlayers: [{{files: [{{path: x, content: xx}}], compression: {}}}]",
                    c.as_str()
                ));
                let (_, facts, members) = write(&s);
                let layer = &facts.layers[0];
                assert_eq!(layer.compression, c);
                let stored = members
                    .iter()
                    .find(|m| {
                        m.data.len() as u64 == layer.size && Digest::sha256(&m.data) == layer.digest
                    })
                    .unwrap_or_else(|| panic!("{layout} {c:?}: layer blob stored"));
                let tar = decompress(&stored.data, c);
                assert_eq!(Digest::sha256(&tar), layer.diff_id, "{layout} {c:?}");
                assert_eq!(
                    config_doc(&members, &facts)["rootfs"]["diff_ids"][0],
                    layer.diff_id.as_str()
                );
                assert_eq!(layer.digest == layer.diff_id, c == Compression::None);
                if layout != "docker-archive" {
                    assert_eq!(layer.media_type.as_deref(), Some(c.media_type()));
                }
                if layout != "docker-archive" && layout != "docker-oci-hybrid" {
                    check_facts(&members, &facts);
                }
            }
        }
    }

    #[test]
    fn media_type_overrides_are_written_verbatim() {
        let s = yaml(
            "layout: oci-archive\nlayers: [{files: [], compression: zstd, \
             media_type: application/vnd.docker.image.rootfs.diff.tar.zstd}]",
        );
        let (_, facts, members) = write(&s);
        assert_eq!(
            manifest_doc(&members, &facts)["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.zstd"
        );
    }

    /// Platforms share the spec's layers; each gets its own config (its platform) and
    /// manifest; a layer with `platform` is only in that image.
    #[test]
    fn platforms_share_layers_and_differ_in_config() {
        let s = yaml(
            "layout: oci-archive\nplatforms: [linux/amd64, linux/arm/v7]\nlayers:\n\
             - files: []\n- files: [{path: v7}]\n  platform: linux/arm/v7\n",
        );
        let (_, facts, members) = write(&s);
        let [amd, arm] = [&facts.platforms[0], &facts.platforms[1]];
        assert_eq!((amd.layers.len(), arm.layers.len()), (1, 2));
        assert_eq!(amd.layers[0], arm.layers[0]);
        assert_ne!(amd.config.digest, arm.config.digest);
        let arm_config = parse(blob(&members, arm.config.digest.as_str()));
        assert_eq!(
            (&arm_config["architecture"], &arm_config["variant"]),
            (&Value::from("arm"), &Value::from("v7"))
        );
        assert_eq!(
            facts.config, amd.config,
            "the primary is the first platform"
        );
        check_facts(&members, &facts);
    }
}
