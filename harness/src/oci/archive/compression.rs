//! Decoding a [`Compression`] as a stream; the type and its detection live in
//! [`crate::oci::Compression`], shared with the writer.
//!
//! Detection follows moby's `compression.DetectCompression` (`pkg/archive`) and containerd's
//! `pkg/archive/compression`: the first bytes decide, never a file name or media type (R2:
//! Podman's `tarball:` transport trusted the name and took xz for uncompressed).

use std::io::{self, BufRead, Read};

pub use crate::oci::Compression;

pub(crate) use crate::oci::compression::MAGIC_LEN;

impl Compression {
    /// A reader of the decompressed stream. Concatenated streams (multi-member gzip, bzip2
    /// and xz, several zstd frames) are read to the end, as Go's readers and the `xz` and
    /// `zstd` tools moby shells out to do.
    pub(crate) fn decoder<'a>(self, input: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        })
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads up to `want` bytes (fewer only at end of input), retrying short reads.
pub(crate) fn read_prefix(r: &mut impl Read, want: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(want);
    r.take(want as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// `block` is a tar header block: all zeros (an empty tar's end marker) or a header whose
/// checksum field matches its bytes. This accepts v7, ustar, GNU and pax headers alike.
pub(crate) fn looks_like_tar(block: &[u8]) -> bool {
    let Some(block) = block.get(..512) else {
        return false;
    };
    if block.iter().all(|&b| b == 0) {
        return true;
    }
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    stored == sum
}

/// `prefix` starts (after JSON whitespace) with `{` or `[`.
pub(crate) fn looks_like_json(prefix: &[u8]) -> bool {
    prefix
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| matches!(b, b'{' | b'['))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::testutil::{compress, layer_tar};

    #[test]
    fn magic_numbers_decide() {
        let table: &[(&[u8], Compression)] = &[
            (&[0x1f, 0x8b, 0x08], Compression::Gzip),
            (b"BZh91AY", Compression::Bzip2),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00, 0x00], Compression::Xz),
            (&[0xfd, b'7', b'z', b'X', b'Z'], Compression::None),
            (&[0x28, 0xb5, 0x2f, 0xfd, 0x00], Compression::Zstd),
            (b"{\"a\":1}", Compression::None),
            (b"", Compression::None),
            (&[0x1f], Compression::None),
        ];
        for (prefix, want) in table {
            assert_eq!(Compression::detect(prefix), *want, "{prefix:?}");
        }
    }

    #[test]
    fn every_compression_round_trips_through_its_decoder() {
        let data = layer_tar(&[("etc/hello", "hello\n")]);
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let stored = compress(c, &data);
            assert_eq!(Compression::detect(&stored), c);
            let mut out = Vec::new();
            c.decoder(stored.as_slice())
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{c}");
        }
    }

    #[test]
    fn concatenated_streams_are_read_to_the_end() {
        for c in [
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let mut stored = compress(c, b"first ");
            stored.extend(compress(c, b"second"));
            let mut out = Vec::new();
            c.decoder(stored.as_slice())
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, b"first second", "{c}");
        }
    }

    #[test]
    fn tar_and_json_sniffing() {
        let tar = layer_tar(&[("a", "b")]);
        assert!(looks_like_tar(&tar));
        assert!(looks_like_tar(&[0u8; 512]));
        let mut corrupt = tar.clone();
        corrupt[0] ^= 1;
        assert!(!looks_like_tar(&corrupt));
        assert!(!looks_like_tar(&tar[..100]));
        assert!(looks_like_json(b" \n\t{\"a\":1}"));
        assert!(looks_like_json(b"[]"));
        assert!(!looks_like_json(b"1.0"));
        assert!(!looks_like_json(b"   "));
    }
}
