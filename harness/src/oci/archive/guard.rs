//! [`HeaderGuard`]: caps the size of tar metadata members before the `tar` crate reads them.
//!
//! The `tar` crate reads a GNU long name (`L`), long link (`K`) or pax header (`x`, `g`) into
//! memory whole, so a header member that claims gigabytes makes it allocate gigabytes (a
//! 4.7 MB `.tar.gz` peaked at 4.5 GB). The guard sits between the input and the crate, follows
//! the tar framing itself (a 512-byte header, then the member's data rounded up to 512), and
//! fails the read when such a member is larger than [`MAX_METADATA_MEMBER`]. Real long names
//! are at most a few KiB (Linux paths stop at 4096 bytes) and pax headers rarely reach more;
//! 1 MiB is far above both.
//!
//! The guard only ever reads what the crate asks for, so it adds no copy, and it stops
//! checking (passing bytes through) at a GNU sparse member, whose extension headers it does not
//! parse, rather than lose the framing.
//!
//! Over a seekable input (`parallel.rs`'s header pass, `tar::Archive::entries_with_seek`) the
//! guard also follows seeks, but only to where it expects the next header: a seek anywhere
//! else (a pax `size` that differs from the header's) would lose the framing, so it fails.

use std::io::{self, Read, Seek, SeekFrom};

/// The largest GNU long name, long link or pax header member read: 1 MiB.
pub const MAX_METADATA_MEMBER: u64 = 1 << 20;

/// See the module doc.
pub(crate) struct HeaderGuard<R> {
    inner: R,
    /// Bytes passed through so far.
    pos: u64,
    /// Where the next header starts.
    next_header: u64,
    header: [u8; 512],
    filled: usize,
    /// `false` once framing can no longer be followed (a sparse member).
    active: bool,
}

impl<R> HeaderGuard<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            pos: 0,
            next_header: 0,
            header: [0; 512],
            filled: 0,
            active: true,
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// Follows the bytes `chunk`, which start at `self.pos`.
    fn follow(&mut self, chunk: &[u8]) -> io::Result<()> {
        let mut off = 0;
        while self.active && off < chunk.len() {
            let at = self.pos + off as u64;
            if at < self.next_header {
                let skip = (self.next_header - at).min((chunk.len() - off) as u64) as usize;
                off += skip;
                continue;
            }
            let take = (512 - self.filled).min(chunk.len() - off);
            self.header[self.filled..self.filled + take].copy_from_slice(&chunk[off..off + take]);
            self.filled += take;
            off += take;
            if self.filled == 512 {
                self.filled = 0;
                self.next_header = self.next_header + 512 + self.check()?.div_ceil(512) * 512;
            }
        }
        Ok(())
    }

    /// Checks the complete header in `self.header`; returns the size of its data.
    fn check(&mut self) -> io::Result<u64> {
        let h = &self.header;
        if h.iter().all(|b| *b == 0) {
            return Ok(0); // an end-of-archive block
        }
        let size = header_size(&h[124..136]);
        let kind = match h[156] {
            b'L' => "GNU long name",
            b'K' => "GNU long link name",
            b'x' => "pax header",
            b'g' => "pax global header",
            b'S' => {
                self.active = false;
                return Ok(size);
            }
            _ => return Ok(size),
        };
        if size > MAX_METADATA_MEMBER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a {kind} member of {size} bytes is over the {MAX_METADATA_MEMBER}-byte limit \
                     for tar metadata"
                ),
            ));
        }
        Ok(size)
    }
}

/// A tar size field: octal digits (NUL or space terminated), or GNU's base-256 when the first
/// byte's high bit is set. An unreadable field counts as 0, as for the `tar` crate it is an
/// error of its own.
fn header_size(field: &[u8]) -> u64 {
    if field[0] & 0x80 != 0 {
        return field[1..].iter().fold(u64::from(field[0] & 0x7f), |n, b| {
            n.saturating_mul(256).saturating_add(u64::from(*b))
        });
    }
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    u64::from_str_radix(std::str::from_utf8(&digits).unwrap_or("0"), 8).unwrap_or(0)
}

impl<R: Read> Read for HeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.follow(&buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for HeaderGuard<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let to = self.inner.seek(pos)?;
        if self.active && to != self.pos && (to != self.next_header || self.filled != 0) {
            return Err(io::Error::other(format!(
                "a seek to {to} is not to the next tar header (at {})",
                self.next_header
            )));
        }
        self.pos = to;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of `kind` claiming `size` bytes, followed by nothing.
    fn header(kind: u8, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path("x").unwrap();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn an_oversized_long_name_or_pax_header_is_refused_before_it_is_read() {
        for kind in [b'L', b'K', b'x', b'g'] {
            let bytes = header(kind, 8 << 30);
            let mut guard = HeaderGuard::new(bytes.as_slice());
            let err = io::copy(&mut guard, &mut io::sink()).unwrap_err();
            assert!(
                err.to_string().contains("over the 1048576-byte limit"),
                "{err}"
            );
        }
    }

    #[test]
    fn real_archives_pass_through_unchanged() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(300) + "f";
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut empty = tar::Header::new_gnu();
        empty.set_size(0);
        empty.set_mode(0o644);
        b.append_data(&mut empty, "short", &b""[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let mut out = Vec::new();
        // Small reads, so headers straddle calls.
        let mut guard = HeaderGuard::new(io::BufReader::with_capacity(7, tar.as_slice()));
        let mut buf = [0u8; 13];
        loop {
            let n = guard.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, tar);
        let names: Vec<String> = tar::Archive::new(HeaderGuard::new(tar.as_slice()))
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, [long, "short".to_string()]);
    }

    #[test]
    fn sizes_parse_in_octal_and_base_256() {
        assert_eq!(header_size(b"00000001750\0"), 1000);
        assert_eq!(header_size(b"     1750 \0\0"), 1000);
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 1;
        big[10] = 2;
        assert_eq!(header_size(&big), 513);
    }
}
