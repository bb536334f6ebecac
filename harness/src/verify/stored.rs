//! The stored-image oracle (issue 9, item 6): checks what a runtime *stored*, not what it was
//! given. A runtime can accept an import or a load, report success, and record a config whose
//! `rootfs.diff_ids` do not describe the content it stored: R2, where containers/image's
//! `tarball:` transport took xz, bzip2 and zstd input for uncompressed and recorded the digest
//! of the compressed file as DiffID (podman#18193, #18716; a hard error in 5.4.0-5.4.1,
//! podman#25593).
//!
//! The input is an [`ArchiveReport`] of the image as the runtime saves it back (the caller
//! asks the runtime to save it and reads the archive with the streaming reader), and the
//! DiffIDs the harness knows the content has: the sha256 of the decompressed tar it gave the
//! runtime. The oracle compares, layer by layer:
//!
//! | code | finding |
//! |---|---|
//! | `stored-diffid-mismatch` | the stored config's `rootfs.diff_ids[i]` is not the sha256 of the decompressed content the harness gave |
//! | `stored-layer-count-mismatch` | the stored config lists another number of layers than the harness gave |
//! | `stored-layer-diffid-mismatch` | the layer the runtime saves back does not decompress to its own config's DiffID (what `docker load` then refuses with `invalid diffID for layer 0`) |
//! | `stored-media-type-mismatch` | a saved layer's media type promises one compression, its bytes have another |
//! | `stored-image-unreadable` | the runtime did not save the image back, or the archive holds no readable image config |
//!
//! The codes are stable, like those of [`check`](super::check); every one is an error.

use serde::{Deserialize, Serialize};

use crate::oci::Digest;
use crate::oci::archive::{ArchiveReport, Compression, ManifestReport};

/// A stored-image finding code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredFindingCode {
    StoredDiffidMismatch,
    StoredLayerCountMismatch,
    StoredLayerDiffidMismatch,
    StoredMediaTypeMismatch,
    StoredImageUnreadable,
    StoredBlobMissing,
}

impl StoredFindingCode {
    /// The stable code (`stored-diffid-mismatch`).
    pub fn as_str(self) -> &'static str {
        match self {
            StoredFindingCode::StoredDiffidMismatch => "stored-diffid-mismatch",
            StoredFindingCode::StoredLayerCountMismatch => "stored-layer-count-mismatch",
            StoredFindingCode::StoredLayerDiffidMismatch => "stored-layer-diffid-mismatch",
            StoredFindingCode::StoredMediaTypeMismatch => "stored-media-type-mismatch",
            StoredFindingCode::StoredBlobMissing => "stored-blob-missing",
            StoredFindingCode::StoredImageUnreadable => "stored-image-unreadable",
        }
    }
}

/// One finding of the oracle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    pub code: StoredFindingCode,
    /// A sentence; digests in full, for the caller to symbolize.
    pub message: String,
}

/// What the runtime stored, as read from the archive it saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// The config digest (the sha256 of the config bytes).
    pub config: Option<Digest>,
    /// The manifest digest, where the archive has a manifest blob (OCI layouts).
    pub manifest: Option<Digest>,
    /// `rootfs.diff_ids`.
    pub diff_ids: Vec<Digest>,
    /// The layers as saved, bottom first.
    pub layers: Vec<StoredLayer>,
    /// What the saved manifest names but the archive does not hold (`config sha256:...`,
    /// `layer 0 sha256:...`): the runtime gave back an image without its content.
    pub missing: Vec<String>,
}

/// One saved layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLayer {
    /// The descriptor's (or `LayerSources`') media type, when the archive has one.
    pub media_type: Option<String>,
    /// The compression the saved bytes have, `None` when the blob is missing.
    pub compression: Option<Compression>,
    /// The sha256 of the decompressed saved bytes.
    pub uncompressed: Option<Digest>,
}

/// The first image's first non-attestation manifest of `report`: the one image the caller
/// saved. `None` when the archive holds no image.
pub fn stored_image(report: &ArchiveReport) -> Option<StoredImage> {
    let manifest: &ManifestReport = report
        .images
        .iter()
        .flat_map(|i| i.manifests.iter())
        .find(|m| !m.attestation)?;
    let config = manifest.config.as_ref()?;
    let named = |d: &Option<Digest>| d.as_ref().map_or("?".to_string(), |d| d.to_string());
    let mut missing = Vec::new();
    if config.blob.is_none() {
        missing.push(format!("config {}", named(&config.digest)));
    }
    for (i, l) in manifest.layers.iter().enumerate() {
        if l.blob.is_none() {
            missing.push(format!("layer {i} {}", named(&l.digest)));
        }
    }
    Some(StoredImage {
        missing,
        config: config
            .blob
            .as_ref()
            .map(|b| b.digest.clone())
            .or_else(|| config.digest.clone()),
        manifest: manifest.digest.clone(),
        diff_ids: config.diff_ids.clone(),
        layers: manifest
            .layers
            .iter()
            .map(|l| StoredLayer {
                media_type: l.media_type.clone(),
                compression: l.blob.as_ref().map(|b| b.compression),
                uncompressed: l.blob.as_ref().and_then(|b| b.uncompressed_digest.clone()),
            })
            .collect(),
    })
}

/// The compression a layer media type promises, for the media types that say.
fn promised(media_type: &str) -> Option<Compression> {
    let base = media_type.split(';').next().unwrap_or(media_type);
    if base.ends_with("+gzip") || base.ends_with(".tar.gzip") || base.ends_with("diff.tar.gzip") {
        Some(Compression::Gzip)
    } else if base.ends_with("+zstd") || base.ends_with(".tar.zstd") {
        Some(Compression::Zstd)
    } else if base.ends_with(".tar") || base.ends_with("layer.v1.tar") {
        Some(Compression::None)
    } else {
        None
    }
}

/// Checks `stored` against `expected`, the DiffIDs of the content the harness gave the
/// runtime (bottom first).
pub fn check_stored(expected: &[Digest], stored: &StoredImage) -> Vec<StoredFinding> {
    let mut out = Vec::new();
    let mut push = |code, message| out.push(StoredFinding { code, message });
    if !stored.missing.is_empty() {
        // Without the config there are no DiffIDs to compare: this is the one finding.
        push(
            StoredFindingCode::StoredBlobMissing,
            format!(
                "the image the runtime saved back lacks what its manifest names: {}",
                stored.missing.join(", ")
            ),
        );
        return out;
    }
    if stored.diff_ids.len() != expected.len() {
        push(
            StoredFindingCode::StoredLayerCountMismatch,
            format!(
                "the stored config lists {} layers, the harness gave {}",
                stored.diff_ids.len(),
                expected.len()
            ),
        );
    }
    for (i, (got, want)) in stored.diff_ids.iter().zip(expected).enumerate() {
        if got != want {
            push(
                StoredFindingCode::StoredDiffidMismatch,
                format!(
                    "the stored config's rootfs.diff_ids[{i}] is {got}, but the decompressed content the harness gave is {want}"
                ),
            );
        }
    }
    for (i, layer) in stored.layers.iter().enumerate() {
        if let (Some(got), Some(diff_id)) = (&layer.uncompressed, stored.diff_ids.get(i))
            && got != diff_id
        {
            push(
                StoredFindingCode::StoredLayerDiffidMismatch,
                format!(
                    "layer {i} as saved decompresses to {got}, but its config's DiffID is {diff_id}"
                ),
            );
        }
        if let (Some(mt), Some(bytes)) = (&layer.media_type, layer.compression)
            && let Some(promise) = promised(mt)
            && promise != bytes
        {
            push(
                StoredFindingCode::StoredMediaTypeMismatch,
                format!(
                    "layer {i} as saved is {mt} but its bytes are {}",
                    bytes.as_str()
                ),
            );
        }
    }
    out
}

/// The finding for an image the runtime did not give back readably.
pub fn unreadable(why: impl Into<String>) -> StoredFinding {
    StoredFinding {
        code: StoredFindingCode::StoredImageUnreadable,
        message: why.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn image(diff_ids: Vec<Digest>, layers: Vec<StoredLayer>) -> StoredImage {
        StoredImage {
            config: None,
            manifest: None,
            missing: vec![],
            diff_ids,
            layers,
        }
    }

    #[test]
    fn a_correct_import_has_no_findings() {
        let layer = StoredLayer {
            media_type: Some("application/vnd.oci.image.layer.v1.tar".into()),
            compression: Some(Compression::None),
            uncompressed: Some(d('a')),
        };
        assert!(check_stored(&[d('a')], &image(vec![d('a')], vec![layer])).is_empty());
    }

    /// R2 (podman#18193): the config records the compressed file's digest; the layer saved
    /// back is the real content.
    #[test]
    fn r2_compressed_digest_as_diffid_is_two_findings() {
        let layer = StoredLayer {
            media_type: Some("application/vnd.oci.image.layer.v1.tar".into()),
            compression: Some(Compression::None),
            uncompressed: Some(d('a')),
        };
        let got = check_stored(&[d('a')], &image(vec![d('b')], vec![layer]));
        let codes: Vec<&str> = got.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            codes,
            ["stored-diffid-mismatch", "stored-layer-diffid-mismatch"]
        );
        assert!(got[0].message.contains(d('b').as_str()));
    }

    #[test]
    fn layer_count_and_media_type() {
        let layer = StoredLayer {
            media_type: Some("application/vnd.oci.image.layer.v1.tar+gzip".into()),
            compression: Some(Compression::Zstd),
            uncompressed: Some(d('a')),
        };
        let got = check_stored(&[d('a'), d('c')], &image(vec![d('a')], vec![layer]));
        let codes: Vec<&str> = got.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            codes,
            ["stored-layer-count-mismatch", "stored-media-type-mismatch"]
        );
        assert_eq!(
            promised("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            promised("application/vnd.docker.image.rootfs.diff.tar"),
            Some(Compression::None)
        );
        assert_eq!(promised("application/x-unknown"), None);
    }

    /// Docker 28.5's containerd store saves a pulled image whose config and layer it did not
    /// fetch (the roundtrip scenario's second pull of one config): an archive whose
    /// manifest names blobs it does not hold. The oracle says that, once, instead of a
    /// layer count the missing config cannot have.
    #[test]
    fn a_save_without_its_config_and_layer_is_one_blob_missing_finding() {
        let spec: crate::craft::FixtureSpec = serde_saphyr::from_str(
            "layout: docker-oci-hybrid\nname: example.test/x:v1\nlayers: [{ files: [{ path: a, content: a }] }]\ndefects: [{ blob-missing: config }, { blob-missing: layer 0 }]",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        let facts = crate::craft::write_archive_to_path(&spec, &path).unwrap();
        let report = crate::oci::archive::read_path(&path).unwrap();
        let stored = stored_image(&report).expect("the manifest is there");
        assert_eq!(stored.missing.len(), 2, "{:?}", stored.missing);
        let got = check_stored(&[facts.layers[0].diff_id.clone()], &stored);
        let codes: Vec<&str> = got.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["stored-blob-missing"]);
        assert!(
            got[0].message.contains(facts.config.digest.as_str()),
            "{}",
            got[0].message
        );
        // The same archive whole has no such finding.
        let whole: crate::craft::FixtureSpec = serde_saphyr::from_str(
            "layout: docker-oci-hybrid\nname: example.test/x:v1\nlayers: [{ files: [{ path: a, content: a }] }]",
        )
        .unwrap();
        let facts = crate::craft::write_archive_to_path(&whole, &path).unwrap();
        let report = crate::oci::archive::read_path(&path).unwrap();
        let stored = stored_image(&report).unwrap();
        assert!(stored.missing.is_empty());
        assert!(check_stored(&[facts.layers[0].diff_id.clone()], &stored).is_empty());
    }
}
