//! What a media type says a blob is, and which compression a layer media type promises.
//!
//! The table is image-spec's `media-types.md` plus the Docker distribution types and
//! BuildKit's attestation types. `application/vnd.docker.image.rootfs.diff.tar.zstd` is in
//! it although no spec defines it: Docker writes it for zstd layers in the Docker manifest
//! format, and containers/image rejects it (REGRESSIONS.md, the wider family).

use crate::oci::archive::Compression;
use crate::oci::media_type;

pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub(crate) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Not in any spec; see the module doc.
pub(crate) const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
pub(crate) const DOCKER_FOREIGN_LAYER: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub(crate) const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub(crate) const OCI_NONDIST_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub(crate) const OCI_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub(crate) const OCI_NONDIST_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
pub(crate) const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// BuildKit's attestation layers (in-toto statements: SBOM, provenance).
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The annotation BuildKit puts on attestation manifests in an image index.
pub(crate) const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub(crate) const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// What a known media type describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaKind {
    Index,
    Manifest,
    Config,
    /// A layer tar, with the compression its media type promises.
    Layer(Compression),
    /// A layer that is normally not in an archive (foreign or non-distributable).
    ExternalLayer(Compression),
    /// Attestation content and empty descriptors: known, not a layer tar.
    Artifact,
}

/// The kind of a known media type; `None` for anything else.
pub(crate) fn kind(media_type: &str) -> Option<MediaKind> {
    use Compression::{Gzip, None as Plain, Zstd};
    Some(match media_type {
        media_type::OCI_INDEX | DOCKER_MANIFEST_LIST => MediaKind::Index,
        media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST => MediaKind::Manifest,
        media_type::OCI_CONFIG | media_type::DOCKER_CONFIG => MediaKind::Config,
        media_type::OCI_LAYER_TAR | DOCKER_LAYER_TAR => MediaKind::Layer(Plain),
        media_type::OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => MediaKind::Layer(Gzip),
        OCI_LAYER_ZSTD | DOCKER_LAYER_ZSTD => MediaKind::Layer(Zstd),
        OCI_NONDIST_TAR => MediaKind::ExternalLayer(Plain),
        OCI_NONDIST_GZIP | DOCKER_FOREIGN_LAYER => MediaKind::ExternalLayer(Gzip),
        OCI_NONDIST_ZSTD => MediaKind::ExternalLayer(Zstd),
        OCI_EMPTY | IN_TOTO => MediaKind::Artifact,
        _ => return None,
    })
}

/// The compression a layer media type promises; `None` for other media types.
pub(crate) fn layer_compression(media_type: &str) -> Option<Compression> {
    match kind(media_type)? {
        MediaKind::Layer(c) | MediaKind::ExternalLayer(c) => Some(c),
        _ => None,
    }
}

/// A known but non-standard media type, and why it matters.
pub(crate) fn nonstandard(media_type: &str) -> Option<&'static str> {
    (media_type == DOCKER_LAYER_ZSTD).then_some(
        "no specification defines it; containers/image (Podman, skopeo, Buildah) rejects it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_media_types_promise_a_compression() {
        let table = [
            (media_type::OCI_LAYER_TAR, Some(Compression::None)),
            (media_type::OCI_LAYER_GZIP, Some(Compression::Gzip)),
            (OCI_LAYER_ZSTD, Some(Compression::Zstd)),
            (DOCKER_LAYER_TAR, Some(Compression::None)),
            (DOCKER_LAYER_GZIP, Some(Compression::Gzip)),
            (DOCKER_LAYER_ZSTD, Some(Compression::Zstd)),
            (DOCKER_FOREIGN_LAYER, Some(Compression::Gzip)),
            (media_type::OCI_CONFIG, None),
            (IN_TOTO, None),
            ("application/x-whatever", None),
        ];
        for (mt, want) in table {
            assert_eq!(layer_compression(mt), want, "{mt}");
        }
        assert_eq!(kind(media_type::OCI_INDEX), Some(MediaKind::Index));
        assert_eq!(kind(DOCKER_MANIFEST_LIST), Some(MediaKind::Index));
        assert_eq!(kind("text/plain"), None);
        assert!(nonstandard(DOCKER_LAYER_ZSTD).is_some());
        assert!(nonstandard(OCI_LAYER_ZSTD).is_none());
    }
}
