//! Generated file content: `generate: { size: 1GiB, seed: 7 }` in a [`FileSpec`](super::FileSpec)
//! instead of an inline `content`, so a spec of a few lines can describe a layer of any size.
//!
//! The bytes are a pure function of `(seed, size)`: the same on every machine and every run, and
//! two seeds give unrelated streams. They come from xoshiro256++ (Blackman and Vigna,
//! <https://prng.di.unimi.it/xoshiro256plusplus.c>) run as [`LANES`] independent generators side
//! by side, each seeded with four words of SplitMix64 (`splitmix64.c` from the same page) started
//! at `seed + lane`; every step emits one little-endian `u64` per lane, lane 0 first, and the
//! last step is cut to `size`. The lanes are what makes it cheap: the update is shifts, xors,
//! adds and rotations only, which the compiler vectorizes, so generating costs a fraction of
//! hashing the same bytes (the crafting path generates a large file twice: once to hash it,
//! once to write it; see `layer.rs`).
//!
//! The bytes are raw and incompressible (a compressed layer of them is a little larger than the
//! tar), which is what a size or throughput fixture wants; a spec that needs compressible
//! content writes it inline.
//!
//! Sizes are bytes, written as an integer or with a binary suffix (`64KiB`, `100MiB`, `1GiB`),
//! and at most [`MAX_SIZE`], the largest file a ustar header (what every crafted tar uses,
//! `gotar.rs`) can describe.

use std::fmt;
use std::io::{self, Write};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The largest generated file: 8 GiB - 1, the largest value of a ustar header's 12-byte size
/// field (11 octal digits and a NUL; Go's `archive/tar` switches to PAX beyond it).
pub const MAX_SIZE: u64 = (1 << 33) - 1;

/// Independent xoshiro256++ generators run side by side.
pub const LANES: usize = 4;

/// Bytes one step emits.
const STEP: usize = LANES * 8;

/// Bytes generated per call into the buffer [`write_generated`] fills; a multiple of [`STEP`].
const CHUNK: usize = 1 << 20;

/// `generate:` in a file spec: `size` bytes of the stream `seed` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// The file's length in bytes: an integer, or one with a `KiB`, `MiB` or `GiB` suffix.
    pub size: ByteSize,
    /// Selects the stream; files with the same seed and size have the same bytes. Required, so
    /// that two generated files differ unless the spec says otherwise.
    pub seed: u64,
}

/// A size in bytes, written in a spec as `4096`, `"4096"`, `64KiB`, `100MiB` or `1GiB`
/// (1024-based; `KB`, `MB` and `GB` are refused rather than guessed at), at most [`MAX_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses the string form; the error is a lowercase fragment naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = "expected bytes as an integer or with a KiB, MiB or GiB suffix (64KiB)";
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, suffix) = s.split_at(digits_end);
        let shift = match suffix {
            "" => 0,
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            _ => return Err(format!("invalid size {s:?}: {expected}")),
        };
        if digits.is_empty() {
            return Err(format!("invalid size {s:?}: {expected}"));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("invalid size {s:?}: more than {MAX_SIZE} bytes"))?;
        let bytes = n
            .checked_mul(1 << shift)
            .ok_or_else(|| format!("invalid size {s:?}: more than {MAX_SIZE} bytes"))?;
        Self::new(bytes).map_err(|e| format!("invalid size {s:?}: {e}"))
    }

    fn new(bytes: u64) -> Result<Self, String> {
        if bytes > MAX_SIZE {
            return Err(format!(
                "more than {MAX_SIZE} bytes (8 GiB - 1, the most a ustar header holds)"
            ));
        }
        Ok(Self(bytes))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: bytes as an integer or with a KiB, MiB or GiB suffix")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                ByteSize::new(v).map_err(|e| E::custom(format!("invalid size {v}: {e}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("invalid size {v}: negative"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// SplitMix64's output function on its `n`-th state (`seed + n * golden gamma`).
fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// [`LANES`] xoshiro256++ states, word-major (`s[k][lane]`) so one step is a few vector ops.
struct Lanes {
    s: [[u64; LANES]; 4],
}

impl Lanes {
    fn new(seed: u64) -> Self {
        let mut s = [[0u64; LANES]; 4];
        for lane in 0..LANES {
            let lane_seed = seed.wrapping_add(lane as u64);
            for (k, word) in s.iter_mut().enumerate() {
                word[lane] = splitmix64(lane_seed, k as u64);
            }
        }
        // SplitMix64 never yields an all-zero state for four consecutive outputs, which is the
        // one state xoshiro must not start from.
        Self { s }
    }

    /// Fills `buf` (a multiple of [`STEP`] bytes) with the next steps.
    fn fill(&mut self, buf: &mut [u8]) {
        debug_assert_eq!(buf.len() % STEP, 0);
        let [s0, s1, s2, s3] = &mut self.s;
        for step in buf.chunks_exact_mut(STEP) {
            let mut out = [0u64; LANES];
            for l in 0..LANES {
                // xoshiro256++ `next()`.
                out[l] = s0[l]
                    .wrapping_add(s3[l])
                    .rotate_left(23)
                    .wrapping_add(s0[l]);
                let t = s1[l] << 17;
                s2[l] ^= s0[l];
                s3[l] ^= s1[l];
                s1[l] ^= s2[l];
                s0[l] ^= s3[l];
                s2[l] ^= t;
                s3[l] = s3[l].rotate_left(45);
            }
            for (dst, word) in step.chunks_exact_mut(8).zip(out) {
                dst.copy_from_slice(&word.to_le_bytes());
            }
        }
    }
}

/// Writes the `size` bytes of `spec` to `out`, a megabyte at a time (the only memory it takes).
pub(crate) fn write_generated(spec: &GenerateSpec, out: &mut dyn Write) -> io::Result<()> {
    let mut lanes = Lanes::new(spec.seed);
    let mut buf = vec![0u8; CHUNK];
    let mut left = spec.size.0;
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        let filled = n.div_ceil(STEP) * STEP;
        lanes.fill(&mut buf[..filled]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// The bytes of `spec`, in memory.
#[cfg(test)]
pub(crate) fn generated_bytes(spec: &GenerateSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(spec.size.0).unwrap_or(0));
    write_generated(spec, &mut out).expect("writing to a Vec does not fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: u64, seed: u64) -> GenerateSpec {
        GenerateSpec {
            size: ByteSize(size),
            seed,
        }
    }

    #[test]
    fn sizes_parse_as_integers_or_with_binary_suffixes() {
        let table: &[(&str, Result<u64, &str>)] = &[
            ("0", Ok(0)),
            ("4096", Ok(4096)),
            ("64KiB", Ok(64 << 10)),
            ("100MiB", Ok(100 << 20)),
            ("1GiB", Ok(1 << 30)),
            ("7GiB", Ok(7 << 30)),
            ("8GiB", Err("more than 8589934591 bytes")),
            ("8589934591", Ok(MAX_SIZE)),
            ("8589934592", Err("more than 8589934591 bytes")),
            ("99999999999999999999", Err("more than")),
            ("18014398509481984GiB", Err("more than")),
            ("1GB", Err("with a KiB, MiB or GiB suffix")),
            ("1 GiB", Err("with a KiB, MiB or GiB suffix")),
            ("1kib", Err("with a KiB, MiB or GiB suffix")),
            ("GiB", Err("with a KiB, MiB or GiB suffix")),
            ("-1", Err("with a KiB, MiB or GiB suffix")),
            ("1.5GiB", Err("with a KiB, MiB or GiB suffix")),
            ("", Err("with a KiB, MiB or GiB suffix")),
        ];
        for (s, want) in table {
            match (ByteSize::parse(s), want) {
                (Ok(got), Ok(want)) => assert_eq!(got.0, *want, "{s:?}"),
                (Err(got), Err(want)) => {
                    assert!(got.starts_with(&format!("invalid size {s:?}: ")), "{got}");
                    assert!(got.contains(want), "{s:?}: {got}");
                }
                (got, want) => panic!("{s:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generated_bytes(&spec(100_000, 7));
        assert_eq!(a.len(), 100_000);
        assert_eq!(a, generated_bytes(&spec(100_000, 7)));
        let b = generated_bytes(&spec(100_000, 8));
        assert_ne!(a, b);
        // Unrelated streams: about 1 byte in 256 agrees by chance.
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 1000, "{same} equal bytes");
        // A shorter file of a seed is a prefix of a longer one, across chunk boundaries too.
        let long = generated_bytes(&spec(CHUNK as u64 * 2 + 5, 7));
        assert_eq!(&long[..a.len()], a.as_slice());
        assert_eq!(
            generated_bytes(&spec(CHUNK as u64 + 3, 7)),
            long[..CHUNK + 3]
        );
        assert!(generated_bytes(&spec(0, 7)).is_empty());
    }

    /// Pins the stream: a change would change every fixture with generated content.
    #[test]
    fn the_stream_is_pinned() {
        let bytes = generated_bytes(&spec(1 << 20, 7));
        assert_eq!(
            crate::oci::Digest::sha256(&bytes).as_str(),
            "sha256:370fcd051453bcffaad1760c317024832c00980779b4356c1a8dac54d285ac00"
        );
        // Lane 0's first word is xoshiro256++'s first output on SplitMix64's first four.
        let s: Vec<u64> = (0..4).map(|k| splitmix64(7, k)).collect();
        let first = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        assert_eq!(bytes[..8], first.to_le_bytes());
    }

    /// SplitMix64 from a zero seed, as the reference code prints it.
    #[test]
    fn splitmix64_matches_the_reference() {
        assert_eq!(splitmix64(0, 0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0, 1), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn the_bytes_do_not_compress() {
        let bytes = generated_bytes(&spec(256 << 10, 1));
        let z = zstd::encode_all(bytes.as_slice(), 3).unwrap();
        assert!(z.len() > bytes.len(), "{} -> {}", bytes.len(), z.len());
    }
}
