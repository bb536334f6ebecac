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
//! [`FixtureDecl`] reads either form of a `fixtures:` entry: an image archive
//! ([`FixtureSpec`]) or `{ rootfs: ... }` ([`RootfsSpec`]). It looks at the first key only,
//! and hands the whole mapping on to the image spec otherwise, so the image spec's errors keep
//! their fields and positions.
//!
//! [`RootfsFacts`] records what the oracle on stored images needs (R2): the digest of the file
//! as written (what a runtime that takes compressed input for uncompressed records as DiffID)
//! and the digest of the decompressed tar (the DiffID a correct runtime records).

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::craft::{Compression, CraftError, FileSpec, FixtureSpec, LayerSpec};
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

/// One `fixtures:` entry: an image archive, or a rootfs tarball. Short-lived (read, then
/// split into the scenario's two maps), so its size does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum FixtureDecl {
    Image(FixtureSpec),
    Rootfs(RootfsSpec),
}

/// The bytes of a rootfs fixture and their facts; everything is in memory (fixtures are small).
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
    let bytes = super::compress::compress(&tar.bytes, spec.compression)
        .map_err(|source| CraftError::Compress { layer: 0, source })?;
    let facts = RootfsFacts {
        compression: spec.compression,
        digest: Digest::sha256(&bytes),
        size: bytes.len() as u64,
        diff_id: tar.digest,
        tar_size: tar.bytes.len() as u64,
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

impl<'de> Deserialize<'de> for FixtureDecl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FixtureDecl;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fixture (an image archive spec, or { rootfs: ... })")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    // An empty mapping: let the image spec say what is missing.
                    return FixtureSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                        .map(FixtureDecl::Image);
                };
                if first == "rootfs" {
                    let spec: RootfsSpec = map.next_value()?;
                    if let Some(other) = map.next_key::<String>()? {
                        return Err(de::Error::custom(format!(
                            "a rootfs fixture has only the key `rootfs`, found `{other}` too"
                        )));
                    }
                    return Ok(FixtureDecl::Rootfs(spec));
                }
                let replay = Replay {
                    first: Some(first),
                    map,
                };
                FixtureSpec::deserialize(de::value::MapAccessDeserializer::new(replay))
                    .map(FixtureDecl::Image)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A map whose first key was already read: it yields that key again, then the rest.
struct Replay<A> {
    first: Option<String>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(key) => seed
                .deserialize(de::value::StringDeserializer::<A::Error>::new(key))
                .map(Some),
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::compress::tests::{ALL, decompress};

    fn spec(compression: Compression) -> RootfsSpec {
        RootfsSpec {
            files: vec![FileSpec {
                path: "etc/hello".into(),
                content: "hi\n".into(),
                mode: None,
            }],
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
    fn fixture_entries_are_rootfs_or_image_specs_and_image_errors_keep_their_field() {
        let d: FixtureDecl = serde_saphyr::from_str(
            "rootfs: { compression: zstd, files: [{ path: a, content: b }] }",
        )
        .unwrap();
        assert!(matches!(
            d,
            FixtureDecl::Rootfs(RootfsSpec {
                compression: Compression::Zstd,
                ..
            })
        ));
        let d: FixtureDecl = serde_saphyr::from_str("layout: oci-archive\nlayers: []").unwrap();
        assert!(matches!(d, FixtureDecl::Image(_)));
        let err = serde_saphyr::from_str::<FixtureDecl>("layout: oci\nlayers: []").unwrap_err();
        assert!(err.to_string().contains("unknown variant `oci`"), "{err}");
        let err = serde_saphyr::from_str::<FixtureDecl>(
            "rootfs: { files: [{ path: a }] }\nlayout: oci-archive",
        )
        .unwrap_err();
        assert!(err.to_string().contains("only the key `rootfs`"), "{err}");
        let err = serde_saphyr::from_str::<FixtureDecl>("rootfs: { files: [], compresion: xz }")
            .unwrap_err();
        assert!(err.to_string().contains("compresion"), "{err}");
        assert!(
            validate_rootfs(&RootfsSpec {
                files: vec![],
                compression: Compression::None
            })
            .is_err()
        );
    }
}
