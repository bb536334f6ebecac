//! Decoding a [`Compression`] as a stream; the type and its detection live in
//! [`crate::oci::Compression`], shared with the writer.
//!
//! Detection follows moby's `compression.DetectCompression` (`pkg/archive`) and containerd's
//! `pkg/archive/compression`: the first bytes decide, never a file name or media type (R2:
//! Podman's `tarball:` transport trusted the name and took xz for uncompressed).

use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::oci::Compression;

pub(crate) use crate::oci::compression::MAGIC_LEN;

impl Compression {
    /// A reader of the decompressed stream. Concatenated streams (multi-member gzip, bzip2
    /// and xz, several zstd frames) are read to the end, as Go's readers and the `xz` and
    /// `zstd` tools moby shells out to do. The output is bounded by [`ExpansionLimit::get`]:
    /// a stream that expands further fails with an error saying so.
    pub(crate) fn decoder<'a>(self, input: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
        if self == Compression::None {
            return Ok(Box::new(input));
        }
        let consumed = Arc::new(AtomicU64::new(0));
        let input = Tally {
            inner: input,
            consumed: consumed.clone(),
        };
        let decoded: Box<dyn Read + 'a> = match self {
            Compression::None => unreachable!("returned above"),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        };
        Ok(Box::new(Expansion {
            inner: decoded,
            consumed,
            produced: 0,
            limit: ExpansionLimit::get(),
            compression: self,
        }))
    }
}

/// How far a compressed stream may expand: up to `floor` bytes freely, and beyond that at most
/// `ratio` times the compressed bytes read so far. The defaults (64 MiB, 1024x) let every real
/// layer through (gzip cannot exceed about 1032x) and stop a decompression bomb (bzip2, xz and
/// zstd reach a million to one) after reading about a thousand times its size, not a million.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionLimit {
    pub floor: u64,
    pub ratio: u64,
}

impl ExpansionLimit {
    /// The default limit.
    pub const DEFAULT: ExpansionLimit = ExpansionLimit {
        floor: 64 << 20,
        ratio: 1024,
    };

    /// The limit in force: [`ExpansionLimit::DEFAULT`], with the ratio raised (or lowered) by
    /// `HARNESS_MAX_EXPANSION` when it is set to a number.
    pub fn get() -> ExpansionLimit {
        static LIMIT: std::sync::OnceLock<ExpansionLimit> = std::sync::OnceLock::new();
        *LIMIT.get_or_init(|| ExpansionLimit {
            ratio: std::env::var("HARNESS_MAX_EXPANSION")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(Self::DEFAULT.ratio),
            ..Self::DEFAULT
        })
    }
}

/// Counts the compressed bytes a decoder takes from its input.
struct Tally<B> {
    inner: B,
    consumed: Arc<AtomicU64>,
}

impl<B: BufRead> Read for Tally<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<B: BufRead> BufRead for Tally<B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.consumed.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// Fails a decoder's output once it exceeds its [`ExpansionLimit`].
struct Expansion<'a> {
    inner: Box<dyn Read + 'a>,
    consumed: Arc<AtomicU64>,
    produced: u64,
    limit: ExpansionLimit,
    compression: Compression,
}

impl Read for Expansion<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let consumed = self.consumed.load(Ordering::Relaxed).max(1);
        let allowed = self
            .limit
            .floor
            .max(consumed.saturating_mul(self.limit.ratio));
        if self.produced > allowed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} stream expands more than {}x ({} bytes from {consumed}): a decompression \
                     bomb? (HARNESS_MAX_EXPANSION raises the ratio)",
                    self.compression, self.limit.ratio, self.produced
                ),
            ));
        }
        Ok(n)
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

    #[test]
    fn a_stream_expanding_past_its_limit_fails_saying_so() {
        let zeros = vec![0u8; 8 << 20];
        let stored = zstd::stream::encode_all(zeros.as_slice(), 1).unwrap();
        let consumed = Arc::new(AtomicU64::new(0));
        let input = Tally {
            inner: stored.as_slice(),
            consumed: consumed.clone(),
        };
        let mut bounded = Expansion {
            inner: Box::new(zstd::stream::read::Decoder::with_buffer(input).unwrap()),
            consumed,
            produced: 0,
            limit: ExpansionLimit {
                floor: 1 << 20,
                ratio: 10,
            },
            compression: Compression::Zstd,
        };
        let err = std::io::copy(&mut bounded, &mut std::io::sink()).unwrap_err();
        assert!(err.to_string().contains("expands more than 10x"), "{err}");
        assert!(
            bounded.produced < 2 << 20,
            "stopped near the floor: {}",
            bounded.produced
        );
        // Within the limit, the same stream decodes whole.
        let mut ok = Compression::Zstd.decoder(stored.as_slice()).unwrap();
        assert_eq!(
            std::io::copy(&mut ok, &mut std::io::sink()).unwrap(),
            8 << 20
        );
    }

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
