//! [`Compression`]: one type for the reader, which detects it from magic numbers, and the
//! writer, which applies it to layers.
//!
//! Detection follows moby's `compression.DetectCompression` (`pkg/archive`) and containerd's
//! `pkg/archive/compression`: the first bytes decide, never a file name or media type (R2:
//! Podman's `tarball:` transport trusted the name and took xz for uncompressed).

/// A stream compression.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// The longest magic number, in bytes.
pub(crate) const MAGIC_LEN: usize = 6;

impl Compression {
    /// The stable name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression `prefix` starts with. A prefix shorter than a magic number does not
    /// match it.
    pub fn detect(prefix: &[u8]) -> Compression {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if prefix.starts_with(b"BZh") {
            Compression::Bzip2
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}
