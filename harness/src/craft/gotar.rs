//! A tar writer that emits the bytes Go's `archive/tar` writes for the headers moby and
//! containerd produce, so crafted archives match real ones byte for byte.
//!
//! Both `docker save` (moby `pkg/archive` `TarWithOptions`) and containerd's
//! `core/images/archive.Export` hand Go's `tar.Writer` headers whose names fit 100 bytes (or split
//! into prefix and name), ASCII names, mtime 0, uid/gid 0 and no user or group names. For such a
//! header Go picks the USTAR format (`Writer.WriteHeader` -> `writeUSTARHeader`), and its bytes
//! differ from the `tar` crate's in one place: Go writes the checksum as six octal digits, a NUL
//! and a space (`block.setFormat`), the `tar` crate as seven digits and a space. Readers accept
//! both, but a digest of the archive would not match, so the header is written here, field by
//! field, following `templateV7Plus` and `formatter.formatOctal`. The `tar` crate still reads
//! archives back in tests.
//!
//! Fixed choices, all as Go writes them for the headers above: every numeric field is
//! zero-padded octal ending in NUL (`0000644\0`), uid and gid 0, mtime 0 (the Unix epoch), empty
//! `uname`/`gname`, device numbers `0000000\0`, magic `ustar\0` and version `00`; file data is
//! padded to 512 bytes; the archive ends with two zero blocks and no further record padding
//! (`Writer.Close`).

use std::io::{self, Write};

const BLOCK: usize = 512;
const NAME_SIZE: usize = 100;
const PREFIX_SIZE: usize = 155;

/// Writes members one after another; [`GoTarWriter::finish`] writes the end-of-archive blocks.
pub(crate) struct GoTarWriter<W: Write> {
    out: W,
}

impl<W: Write> GoTarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self { out }
    }

    /// A directory entry; `name` must end with `/`, as Go's `FileInfoHeader` and containerd's
    /// `directoryRecord` name directories.
    pub(crate) fn append_dir(&mut self, name: &str, mode: u32) -> io::Result<()> {
        debug_assert!(
            name.ends_with('/'),
            "directory names end with '/': {name:?}"
        );
        let header = ustar_header(name, mode, 0, b'5')?;
        self.out.write_all(&header)
    }

    /// A regular file entry with its content.
    pub(crate) fn append_file(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let size = data.len() as u64;
        self.append_file_with(name, mode, size, |out| out.write_all(data).map(|()| size))
    }

    /// A regular file entry of `size` bytes whose content `write` writes (and returns how many
    /// bytes it wrote), for content that is not in memory. Fails, leaving a broken archive,
    /// when the count is not `size`.
    pub(crate) fn append_file_with(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        write: impl FnOnce(&mut W) -> io::Result<u64>,
    ) -> io::Result<()> {
        let header = ustar_header(name, mode, size, b'0')?;
        self.out.write_all(&header)?;
        let written = write(&mut self.out)?;
        if written != size {
            return Err(io::Error::other(format!(
                "tar member {name:?}: wrote {written} bytes, the header says {size}"
            )));
        }
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.out.write_all(&[0u8; BLOCK][..pad as usize])
    }

    /// A symbolic link, as Go's `FileInfoHeader` describes one from `os.Lstat`: mode 0o777,
    /// size 0, the target in `linkname` (which must fit its 100 bytes).
    pub(crate) fn append_symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        if target.len() > 100 || !target.is_ascii() || target.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("symlink target {target:?} does not fit a ustar header"),
            ));
        }
        let mut header = ustar_header(name, 0o777, 0, b'2')?;
        put_str(&mut header[157..257], target);
        set_checksum(&mut header)?;
        self.out.write_all(&header)
    }

    /// Writes the two zero blocks that end an archive and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

/// Whether Go would write `name` in a plain USTAR header: ASCII without NUL, and either at most
/// 100 bytes or splittable into a prefix and a name at a `/` (`splitUSTARPath`). Other names
/// make Go switch to PAX, which this writer does not implement.
pub(crate) fn fits_ustar(name: &str) -> bool {
    name.is_ascii() && !name.contains('\0') && split_ustar_path(name).is_some()
}

/// Go's `splitUSTARPath`: `Some(("", name))` when the name fits alone, `Some((prefix, suffix))`
/// when it splits at a `/`, `None` when it cannot be stored in USTAR.
fn split_ustar_path(name: &str) -> Option<(&str, &str)> {
    let len = name.len();
    if len <= NAME_SIZE {
        return Some(("", name));
    }
    let mut search_len = len;
    if search_len > PREFIX_SIZE + 1 {
        search_len = PREFIX_SIZE + 1;
    } else if name.as_bytes()[search_len - 1] == b'/' {
        search_len -= 1;
    }
    let i = name[..search_len].rfind('/')?;
    let (prefix, suffix) = (&name[..i], &name[i + 1..]);
    if i == 0 || suffix.len() > NAME_SIZE || suffix.is_empty() || prefix.len() > PREFIX_SIZE {
        return None;
    }
    Some((prefix, suffix))
}

/// One 512-byte USTAR header, laid out as Go's `Writer.templateV7Plus` + `writeUSTARHeader` +
/// `block.setFormat` do.
fn ustar_header(name: &str, mode: u32, size: u64, typeflag: u8) -> io::Result<[u8; BLOCK]> {
    let (prefix, name) = split_ustar_path(name)
        .filter(|_| name.is_ascii() && !name.contains('\0'))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tar member name {name:?} does not fit a ustar header"),
            )
        })?;
    let mut b = [0u8; BLOCK];
    put_str(&mut b[0..100], name);
    put_octal(&mut b[100..108], u64::from(mode))?;
    put_octal(&mut b[108..116], 0)?; // uid
    put_octal(&mut b[116..124], 0)?; // gid
    put_octal(&mut b[124..136], size)?;
    put_octal(&mut b[136..148], 0)?; // mtime: the Unix epoch
    b[156] = typeflag;
    // linkname (157..257) stays empty.
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    // uname (265..297) and gname (297..329) stay empty: moby's FileInfoHeaderNoLookups and
    // containerd's records never set them.
    put_octal(&mut b[329..337], 0)?; // devmajor
    put_octal(&mut b[337..345], 0)?; // devminor
    put_str(&mut b[345..500], prefix);
    set_checksum(&mut b)?;
    Ok(b)
}

/// The checksum counts its own field as eight spaces, then is written as six octal digits, a
/// NUL and a space.
fn set_checksum(b: &mut [u8; BLOCK]) -> io::Result<()> {
    let sum: u64 = b
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(c)
            }
        })
        .sum();
    put_octal(&mut b[148..155], sum)?;
    b[155] = b' ';
    Ok(())
}

/// Go's `formatter.formatString`: copy, then a NUL terminator when there is room.
fn put_str(field: &mut [u8], s: &str) {
    field[..s.len()].copy_from_slice(s.as_bytes());
    if s.len() < field.len() {
        field[s.len()] = 0;
    }
}

/// Go's `formatter.formatOctal`: zero-padded to leave room for one NUL, then [`put_str`].
fn put_octal(field: &mut [u8], value: u64) -> io::Result<()> {
    let digits = format!("{value:o}");
    if digits.len() >= field.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "value {value} does not fit a {}-byte tar field",
                field.len()
            ),
        ));
    }
    let padded = format!("{digits:0>width$}", width = field.len() - 1);
    put_str(field, &padded);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn header_fields_are_laid_out_as_go_writes_them() {
        let h = ustar_header("etc/hello", 0o644, 6, b'0').unwrap();
        assert_eq!(&h[0..10], b"etc/hello\0");
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[108..116], b"0000000\0");
        assert_eq!(&h[116..124], b"0000000\0");
        assert_eq!(&h[124..136], b"00000000006\0");
        assert_eq!(&h[136..148], b"00000000000\0");
        assert_eq!(h[156], b'0');
        assert_eq!(&h[257..265], b"ustar\x0000");
        assert_eq!(&h[265..329], [0u8; 64].as_slice());
        assert_eq!(&h[329..345], b"0000000\x000000000\0");
        // Six digits, NUL, space: Go's `block.setFormat`.
        let cksum = &h[148..156];
        assert_eq!(cksum[6], 0);
        assert_eq!(cksum[7], b' ');
        let stated = u64::from_str_radix(std::str::from_utf8(&cksum[..6]).unwrap(), 8).unwrap();
        let mut spaced = h;
        spaced[148..156].copy_from_slice(b"        ");
        assert_eq!(stated, spaced.iter().map(|&c| u64::from(c)).sum::<u64>());
    }

    #[test]
    fn long_names_split_like_go_split_ustar_path() {
        let dir = "d".repeat(60);
        let table: Vec<(String, Option<(String, String)>)> = vec![
            ("short".into(), Some(("".into(), "short".into()))),
            ("x".repeat(100), Some(("".into(), "x".repeat(100)))),
            // 101 bytes with a slash: split at the last slash.
            (
                format!("{dir}/{}", "f".repeat(40)),
                Some((dir.clone(), "f".repeat(40))),
            ),
            // No slash to split at.
            ("x".repeat(101), None),
            // Suffix longer than 100.
            (format!("a/{}", "f".repeat(101)), None),
            // Leading slash only: i == 0.
            (format!("/{}", "f".repeat(100)), None),
        ];
        for (name, want) in table {
            let got = split_ustar_path(&name).map(|(p, s)| (p.to_string(), s.to_string()));
            assert_eq!(got, want, "name {name:?}");
        }
        assert!(!fits_ustar("caf\u{e9}"));
        assert!(!fits_ustar("a\0b"));
    }

    #[test]
    fn archive_reads_back_with_the_tar_crate() {
        let long = format!("{}/{}", "d".repeat(80), "f".repeat(30));
        let mut w = GoTarWriter::new(Vec::new());
        w.append_dir("etc/", 0o755).unwrap();
        w.append_file("etc/hello", 0o600, b"hello\n").unwrap();
        w.append_file(&long, 0o644, &[7u8; 513]).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len(), 512 * (1 + 2 + 3) + 1024);
        assert!(bytes[bytes.len() - 1024..].iter().all(|&b| b == 0));

        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header();
            let row = (
                entry.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.entry_type().is_dir(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.username().unwrap().map(str::to_owned),
            );
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((row, data.len()));
        }
        let names: Vec<_> = seen.iter().map(|((n, ..), _)| n.clone()).collect();
        assert_eq!(names, vec!["etc/".to_string(), "etc/hello".into(), long]);
        assert_eq!(seen[1].0.1, 0o600);
        assert!(seen[0].0.2);
        assert_eq!(seen[1].0.3, 0);
        assert_eq!(seen[1].0.4, 0);
        assert_eq!(seen[1].0.5, Some(String::new()));
        assert_eq!(seen[2].1, 513);
    }

    #[test]
    fn symlinks_carry_their_target() {
        let mut w = GoTarWriter::new(Vec::new());
        w.append_symlink("b/layer.tar", "../a/layer.tar").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(&bytes[100..108], b"0000777\0");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert!(entry.header().entry_type().is_symlink());
        assert_eq!(
            entry.link_name().unwrap().unwrap().to_str(),
            Some("../a/layer.tar")
        );
        assert!(entry.header().cksum().is_ok());
        let mut w = GoTarWriter::new(Vec::new());
        assert!(w.append_symlink("x", &"t".repeat(101)).is_err());
    }

    #[test]
    fn oversized_values_are_rejected_not_truncated() {
        assert!(ustar_header("a", 0o644, 8u64.pow(11), b'0').is_err());
        assert!(ustar_header(&"x".repeat(101), 0o644, 0, b'0').is_err());
    }
}
