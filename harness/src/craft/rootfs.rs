//! Rootfs tarball fixtures: what `docker import` / `podman import` take, crafted byte-exact.
//!
//! A rootfs fixture is one layer tar (the same walk, headers and determinism as image layers,
//! see [`layer`](super::layer)) compressed as a whole with one of the five compressions
//! ([`compress`](super::compress)), written as a file of its own: no manifest, no config, no
//! archive around it. A scenario declares one under `fixtures:` with a single `rootfs` key:
//!
//! ```yaml
//! fixtures:
//!   rootfs-xz:
//!     rootfs:
//!       compression: xz                     # none | gzip | bzip2 | xz | zstd; default none
//!       files: [{ path: etc/hello, content: "hi\n" }]
//! ```
//!
//! `config/produced.rs`'s `RawFixture` reads every form of a `fixtures:` entry (an image
//! archive, `{ rootfs: ... }`, or a produced fixture) by its first key.
//!
//! [`RootfsFacts`] records what the oracle on stored images needs (R2): the digest of the file
//! as written (what a runtime that takes compressed input for uncompressed records as DiffID)
//! and the digest of the decompressed tar (the DiffID a correct runtime records).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::craft::{Compression, CraftError, FileSpec, LayerSpec};
use crate::oci::Digest;

/// A rootfs tarball: files in one tar, compressed as a whole.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsSpec {
    /// The files; parent directories are added as in image layers. At least one.
    pub files: Vec<FileSpec>,
    /// How the tar is compressed. Default `none`.
    #[serde(default)]
    pub compression: Compression,
}

/// What writing a rootfs fixture produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsFacts {
    pub compression: Compression,
    /// sha256 of the file as written (compressed).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// sha256 of the uncompressed tar: the DiffID an importing runtime should record.
    pub diff_id: Digest,
    /// The uncompressed tar's size in bytes.
    pub tar_size: u64,
}

/// The bytes of a rootfs fixture and their facts; everything is in memory (fixtures are small),
/// generated file contents (`generate:`) included, unlike in image layers.
pub fn build_rootfs(spec: &RootfsSpec) -> Result<(Vec<u8>, RootfsFacts), CraftError> {
    if spec.files.is_empty() {
        return Err(CraftError::InvalidSpec {
            field: "rootfs.files".into(),
            reason: "a rootfs tarball needs at least one file".into(),
        });
    }
    let layer = LayerSpec {
        files: spec.files.clone(),
        ..LayerSpec::default()
    };
    let tar = super::layer::build_layer(0, &layer, &[])?;
    let bytes = super::compress::compress(&tar.bytes(), spec.compression)
        .map_err(|source| CraftError::Compress { layer: 0, source })?;
    let facts = RootfsFacts {
        compression: spec.compression,
        digest: Digest::sha256(&bytes),
        size: bytes.len() as u64,
        diff_id: tar.digest,
        tar_size: tar.tar.len(),
    };
    Ok((bytes, facts))
}

/// Checks `spec` as writing it would, without writing.
pub fn validate_rootfs(spec: &RootfsSpec) -> Result<(), CraftError> {
    build_rootfs(spec).map(|_| ())
}

/// Writes the rootfs fixture to `path` (created or truncated).
pub fn write_rootfs_to_path(spec: &RootfsSpec, path: &Path) -> Result<RootfsFacts, CraftError> {
    let (bytes, facts) = build_rootfs(spec)?;
    std::fs::write(path, bytes).map_err(|source| CraftError::CreateFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::compress::tests::{ALL, decompress};

    fn spec(compression: Compression) -> RootfsSpec {
        RootfsSpec {
            files: vec![FileSpec::new("etc/hello", "hi\n")],
            compression,
        }
    }

    #[test]
    fn every_compression_is_deterministic_and_decompresses_to_the_diff_id() {
        for c in ALL {
            let (a, facts) = build_rootfs(&spec(c)).unwrap();
            let (b, _) = build_rootfs(&spec(c)).unwrap();
            assert_eq!(a, b, "{c:?}");
            let tar = decompress(&a, c);
            assert_eq!(Digest::sha256(&tar), facts.diff_id, "{c:?}");
            assert_eq!(facts.digest, Digest::sha256(&a));
            assert_eq!(facts.tar_size, tar.len() as u64);
            assert_eq!(
                facts.digest == facts.diff_id,
                c == Compression::None,
                "{c:?}: only an uncompressed tarball's digest is its DiffID"
            );
            // The same tar as an image layer with the same files.
            let layer = super::super::layer::build_layer(
                0,
                &LayerSpec {
                    files: spec(c).files,
                    ..Default::default()
                },
                &[],
            )
            .unwrap();
            assert_eq!(layer.digest, facts.diff_id);
        }
    }

    #[test]
    fn a_rootfs_without_files_is_refused() {
        assert!(
            validate_rootfs(&RootfsSpec {
                files: vec![],
                compression: Compression::None
            })
            .is_err()
        );
    }
}
