//! OCI and Docker image-format primitives: digests, media types, descriptors.
//!
//! This module knows nothing about runtimes or scenarios. Digests are always computed over
//! the exact bytes written or read, never over re-serialized values.

pub mod archive;
pub(crate) mod compression;
mod digest;

pub use compression::Compression;
pub use digest::{Digest, DigestError};

/// Media types the harness writes or recognises.
pub mod media_type {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
}

/// Well-known annotation keys.
pub mod annotation {
    /// The full image name, written by containerd, BuildKit and Docker >= 25 (`images.AnnotationImageName`).
    pub const IMAGE_NAME: &str = "io.containerd.image.name";
    /// The OCI reference name; Docker and containerd write the tag alone here (`ocispec.AnnotationRefName`).
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
}
