//! Content that is described rather than held: a layer tar with generated files, and the blob
//! stored for it.
//!
//! A layer tar is built as [`Pieces`]: the bytes of headers, inline contents and padding, with a
//! [`GenerateSpec`] where a generated file's content goes. Without generated files it is one
//! piece of bytes and everything works as it always has (built in memory, hashed once). With
//! them, the layer's blob is a [`StreamedBlob`]: it is made once to hash it (the DiffID, and the
//! stored digest when compressed) while the image is built, and once more, with the same
//! encoder and the same chunking so the bytes are the same, while the archive is written. Memory
//! stays at one generator chunk and an encoder's window whatever the size.
//!
//! The cost of regenerating instead of keeping a copy: generating the bytes twice (cheap; see
//! [`generate`](super::generate)) for an uncompressed layer, and compressing them twice for a
//! compressed one. Each byte is hashed once and written once either way.

use std::io::{self, Write};

use sha2::{Digest as _, Sha256};

use crate::craft::Compression;
use crate::craft::compress::encode;
use crate::craft::generate::{GenerateSpec, write_generated};
use crate::oci::Digest;

/// A byte string made of in-memory parts and generated parts, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pieces {
    parts: Vec<Piece>,
    len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Bytes(Vec<u8>),
    Generated(GenerateSpec),
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.parts.last_mut() {
            Some(Piece::Bytes(b)) => b.extend_from_slice(buf),
            _ => self.parts.push(Piece::Bytes(buf.to_vec())),
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Pieces {
    /// Appends the bytes `spec` describes; returns how many.
    pub(crate) fn push_generated(&mut self, spec: GenerateSpec) -> u64 {
        self.parts.push(Piece::Generated(spec));
        self.len += spec.size.0;
        spec.size.0
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The bytes, when no part is generated.
    pub(crate) fn in_memory(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(&[]),
            [Piece::Bytes(b)] => Some(b),
            _ => None,
        }
    }

    /// Writes every byte to `out`.
    pub(crate) fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        for part in &self.parts {
            match part {
                Piece::Bytes(b) => out.write_all(b)?,
                Piece::Generated(g) => write_generated(g, out)?,
            }
        }
        Ok(())
    }

    /// Every byte in memory: for rootfs tarballs (built in memory) and tests.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        if let Some(b) = self.in_memory() {
            return b.to_vec();
        }
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.write_to(&mut out)
            .expect("writing to a Vec does not fail");
        out
    }

    /// sha256 of the bytes, streamed.
    pub(crate) fn sha256(&self) -> Digest {
        if let Some(b) = self.in_memory() {
            return Digest::sha256(b);
        }
        let mut h = HashWriter::default();
        self.write_to(&mut h).expect("hashing does not fail");
        h.digest()
    }
}

/// A layer blob that is made again whenever it is written: the tar, encoded as `compression`
/// says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamedBlob {
    tar: Pieces,
    compression: Compression,
    /// The length of the encoded bytes.
    pub len: u64,
    /// Their sha256.
    pub sha256: Digest,
}

impl StreamedBlob {
    /// The blob of a layer tar whose sha256 (the DiffID) is `diff_id`: an uncompressed one is
    /// the tar itself, a compressed one is encoded once here to learn its length and digest.
    pub(crate) fn new(tar: Pieces, diff_id: &Digest, compression: Compression) -> io::Result<Self> {
        let (len, sha256) = if compression == Compression::None {
            (tar.len(), diff_id.clone())
        } else {
            let mut h = HashWriter::default();
            encode(compression, &mut h, |w| tar.write_to(w))?;
            (h.len, h.digest())
        };
        Ok(Self {
            tar,
            compression,
            len,
            sha256,
        })
    }

    /// Writes the blob's bytes to `out`; returns how many.
    pub(crate) fn write_to(&self, out: &mut dyn Write) -> io::Result<u64> {
        let mut counted = CountingWriter { inner: out, len: 0 };
        encode(self.compression, &mut counted, |w| self.tar.write_to(w))?;
        Ok(counted.len)
    }

    /// The digest of the blob's bytes followed by `suffix` (`digest-mismatch`, as
    /// [`wrong_digest`](super::apply::wrong_digest) makes it for in-memory blobs).
    pub(crate) fn sha256_with_suffix(&self, suffix: &[u8]) -> io::Result<Digest> {
        let mut h = HashWriter::default();
        self.write_to(&mut h)?;
        h.write_all(suffix)?;
        Ok(h.digest())
    }
}

/// Hashes what is written to it, and counts it.
#[derive(Default)]
struct HashWriter {
    hasher: Sha256,
    len: u64,
}

impl HashWriter {
    fn digest(self) -> Digest {
        Digest::from_sha256_output(&self.hasher.finalize())
    }
}

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    len: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::ByteSize;
    use crate::craft::compress::compress;
    use crate::craft::compress::tests::{ALL, decompress};
    use crate::craft::generate::generated_bytes;

    fn sample() -> Pieces {
        let mut p = Pieces::default();
        p.write_all(b"head").unwrap();
        p.push_generated(GenerateSpec {
            size: ByteSize(70_000),
            seed: 3,
        });
        p.write_all(b"mid").unwrap();
        p.write_all(b"dle").unwrap();
        p.push_generated(GenerateSpec {
            size: ByteSize(5),
            seed: 4,
        });
        p
    }

    #[test]
    fn pieces_hold_bytes_and_generated_parts_in_order() {
        let p = sample();
        let mut want = b"head".to_vec();
        want.extend(generated_bytes(&GenerateSpec {
            size: ByteSize(70_000),
            seed: 3,
        }));
        want.extend(b"middle");
        want.extend(generated_bytes(&GenerateSpec {
            size: ByteSize(5),
            seed: 4,
        }));
        assert_eq!(p.len(), want.len() as u64);
        assert_eq!(p.in_memory(), None);
        assert_eq!(p.to_vec(), want);
        assert_eq!(p.sha256(), Digest::sha256(&want));

        let mut small = Pieces::default();
        assert_eq!(small.in_memory(), Some(&[][..]));
        small.write_all(b"ab").unwrap();
        small.write_all(b"c").unwrap();
        assert_eq!(small.in_memory(), Some(&b"abc"[..]));
    }

    /// A streamed blob is the bytes `compress` makes of the whole tar, every time, and says
    /// their length and digest.
    #[test]
    fn streamed_blobs_match_the_in_memory_encoders() {
        let p = sample();
        let tar = p.to_vec();
        for c in ALL {
            let s = StreamedBlob::new(p.clone(), &p.sha256(), c).unwrap();
            let mut a = Vec::new();
            assert_eq!(s.write_to(&mut a).unwrap(), s.len);
            let mut b = Vec::new();
            s.write_to(&mut b).unwrap();
            assert_eq!(a, b, "{c:?}: the same bytes on every write");
            assert_eq!(a.len() as u64, s.len, "{c:?}");
            assert_eq!(Digest::sha256(&a), s.sha256, "{c:?}");
            assert_eq!(decompress(&a, c), tar, "{c:?}");
            assert_eq!(a, compress(&tar, c).unwrap(), "{c:?}");
            assert_eq!(
                s.sha256_with_suffix(b"x").unwrap(),
                Digest::sha256(&[a.as_slice(), b"x"].concat())
            );
        }
    }
}
