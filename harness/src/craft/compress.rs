//! Layer compression: [`Compression`] -> stored bytes, and the media type each gets by default.
//!
//! Determinism comes first: every encoder runs single-threaded with fixed settings, and no
//! header carries a time, a file name or the host OS, so the same tar gives the same blob on
//! any machine (with the crate versions `Cargo.lock` pins).
//!
//! - gzip: the header Go's `compress/gzip` writes for BuildKit (`util/compression/gzip.go`)
//!   and containerd (mtime 0, no name, `XFL` 0 for the default level, `OS` 255 "unknown"),
//!   level 6 (Go's `DefaultCompression`). The deflate stream itself comes from zlib-rs and is
//!   not byte-identical to Go's `compress/flate`; no reader depends on that.
//! - zstd: level 3 (`SpeedDefault` of klauspost/compress, which BuildKit's
//!   `util/compression/zstd.go` uses with default options, and the `zstd` tool's default), with
//!   the content checksum klauspost writes by default.
//! - bzip2: level 9, the `bzip2` tool's default. xz: preset 6, the `xz` tool's default (CRC64).
//!
//! zlib-rs picks SIMD code by CPU only to compare bytes, which gives the same answer on every
//! CPU; its hashing and match choices do not depend on the machine.
//!
//! Media types follow image-spec for what it defines (`.tar`, `.tar+gzip`, `.tar+zstd`). It
//! defines none for bzip2 or xz, and no producer invents one: containers-image's `tarball:`
//! transport, the only common way such bytes reach a manifest, labels them as an uncompressed
//! `application/vnd.oci.image.layer.v1.tar` (R2). We do the same, so a reader reports
//! `media-type-compression-mismatch` for them unless the spec sets `media_type`.

use std::io::{self, Write};

use crate::craft::Compression;
use crate::oci::media_type;

/// `application/vnd.oci.image.layer.v1.tar+zstd` (image-spec v1.1).
pub(crate) const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

impl Compression {
    /// The media type a layer stored this way gets unless the spec overrides it (see the
    /// module doc for bzip2 and xz).
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None | Compression::Bzip2 | Compression::Xz => media_type::OCI_LAYER_TAR,
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }

    /// A media type claiming a compression these bytes do not have: gzip for anything but
    /// gzip, uncompressed for gzip (`media-type-compression-mismatch`).
    pub(crate) fn mismatched_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => media_type::OCI_LAYER_TAR,
            _ => media_type::OCI_LAYER_GZIP,
        }
    }
}

/// `tar` compressed as `compression` says.
pub(crate) fn compress(tar: &[u8], compression: Compression) -> io::Result<Vec<u8>> {
    if compression == Compression::None {
        return Ok(tar.to_vec());
    }
    let mut out = Vec::with_capacity(tar.len() / 2 + 64);
    encode(compression, &mut out, |w| w.write_all(tar))?;
    Ok(out)
}

/// Encodes what `write` writes as `compression` says, into `out`, and finishes the stream; the
/// streaming form of [`compress`], for layers too large to hold (`stream.rs`). The encoders'
/// output depends only on the bytes and the order of the writes, so the same writes give the
/// same bytes.
pub(crate) fn encode(
    compression: Compression,
    out: &mut dyn Write,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    match compression {
        Compression::None => write(out),
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(out, flate2::Compression::new(6));
            write(&mut enc)?;
            enc.finish().map(drop)
        }
        Compression::Bzip2 => {
            let mut enc = bzip2::write::BzEncoder::new(out, bzip2::Compression::new(9));
            write(&mut enc)?;
            enc.finish().map(drop)
        }
        Compression::Xz => {
            let mut enc = liblzma::write::XzEncoder::new(out, 6);
            write(&mut enc)?;
            enc.finish().map(drop)
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, 3)?;
            enc.include_checksum(true)?;
            write(&mut enc)?;
            enc.finish().map(drop)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;

    use super::*;

    pub(crate) const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Xz,
        Compression::Zstd,
    ];

    /// Decompresses with a decoder independent of how we chose to encode.
    pub(crate) fn decompress(bytes: &[u8], compression: Compression) -> Vec<u8> {
        let mut out = Vec::new();
        match compression {
            Compression::None => out.extend_from_slice(bytes),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Bzip2 => {
                bzip2::read::BzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Xz => {
                liblzma::read::XzDecoder::new(bytes)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Zstd => out = zstd::decode_all(bytes).unwrap(),
        }
        out
    }

    #[test]
    fn every_compression_round_trips_and_is_deterministic() {
        let input: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in ALL {
            let a = compress(&input, c).unwrap();
            assert_eq!(a, compress(&input, c).unwrap(), "{c:?} is deterministic");
            assert_eq!(decompress(&a, c), input, "{c:?} round-trips");
        }
    }

    #[test]
    fn magic_numbers_and_gzip_header_are_as_go_writes_them() {
        let table: [(Compression, &[u8]); 5] = [
            (Compression::None, b"abc"),
            // ID1 ID2 CM FLG, MTIME 0, XFL 0 (default level), OS 255: Go's gzip.Writer.
            (Compression::Gzip, &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]),
            (Compression::Bzip2, b"BZh9"),
            (Compression::Xz, &[0xfd, b'7', b'z', b'X', b'Z', 0]),
            (Compression::Zstd, &[0x28, 0xb5, 0x2f, 0xfd]),
        ];
        for (c, magic) in table {
            let bytes = compress(b"abc", c).unwrap();
            assert!(bytes.starts_with(magic), "{c:?}: {bytes:02x?}");
        }
    }

    #[test]
    fn media_types() {
        let table = [
            (Compression::None, "application/vnd.oci.image.layer.v1.tar"),
            (
                Compression::Gzip,
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            (Compression::Bzip2, "application/vnd.oci.image.layer.v1.tar"),
            (Compression::Xz, "application/vnd.oci.image.layer.v1.tar"),
            (
                Compression::Zstd,
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
        ];
        for (c, want) in table {
            assert_eq!(c.media_type(), want, "{c:?}");
        }
        assert_eq!(
            Compression::Gzip.mismatched_media_type(),
            media_type::OCI_LAYER_TAR
        );
        assert_eq!(
            Compression::Zstd.mismatched_media_type(),
            media_type::OCI_LAYER_GZIP
        );
    }
}
