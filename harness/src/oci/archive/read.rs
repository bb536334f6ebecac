//! The entry points: [`read_archive`] (a stream), [`read_path`] (a file or an OCI layout
//! directory), and [`ReadError`] for input that cannot be read at all.

use std::fs::{self, File};
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use crate::oci::archive::build::{InputFacts, build};
use crate::oci::archive::compression::{MAGIC_LEN, read_prefix};
use crate::oci::archive::member::{BUF_SIZE, drain};
use crate::oci::archive::scan::Scan;
use crate::oci::archive::{ArchiveReport, Compression, InputKind, MemberKind};

/// Input that cannot be read at all (`harness inspect` exits 2). Problems with single members
/// are facts in the report (a JSON error, a failed decompression, a truncated layer walk), not
/// errors. Messages read well after "failed to".
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file or directory could not be opened or listed.
    #[error("open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The input failed or is not a tar: a bad header, a truncated stream, a whole-archive
    /// decompression error, an I/O error.
    #[error("read the archive ({compression}) {}", match after {
        Some(m) => format!("after member {m:?}"),
        None => "at its start".to_string(),
    })]
    Read {
        /// The whole-archive compression.
        compression: Compression,
        /// The last member read completely.
        after: Option<String>,
        #[source]
        source: io::Error,
    },
    /// The path is neither a regular file nor a directory (a FIFO, a device, a socket), which
    /// could block or never end; reading it as a stream has to be asked for.
    #[error("{} is not a regular file or a directory (a FIFO or device is read only when asked)", path.display())]
    NotRegular { path: PathBuf },
    /// More members than [`max_members`](crate::oci::archive::scan::max_members) allows.
    #[error(
        "read the archive: it has more than {limit} members, the limit (HARNESS_MAX_MEMBERS raises it); stopped at {at:?}"
    )]
    TooManyMembers { limit: usize, at: String },
}

/// Reads an image archive in one pass: a tar, or a tar compressed as a whole with gzip,
/// bzip2, xz or zstd (detected from its first bytes). Memory stays bounded whatever the
/// archive's size.
pub fn read_archive(reader: impl Read) -> Result<ArchiveReport, ReadError> {
    read_with(reader, Scan::new())
}

/// [`read_archive`] recording into `scan`.
pub(crate) fn read_with(reader: impl Read, mut scan: Scan) -> Result<ArchiveReport, ReadError> {
    let mut input = Counting::new(reader);
    let read_error = |compression, after: Option<&String>, source| ReadError::Read {
        compression,
        after: after.cloned(),
        source,
    };
    let prefix =
        read_prefix(&mut input, MAGIC_LEN).map_err(|e| read_error(Compression::None, None, e))?;
    let compression = Compression::detect(&prefix);
    let tar_size = {
        let buffered = BufReader::with_capacity(BUF_SIZE, Cursor::new(prefix).chain(&mut input));
        let decoded = compression
            .decoder(buffered)
            .map_err(|e| read_error(compression, None, e))?;
        let mut tar_input = Counting::new(decoded);
        let mut last: Option<String> = None;
        {
            let mut archive =
                tar::Archive::new(crate::oci::archive::guard::HeaderGuard::new(&mut tar_input));
            let entries = archive
                .entries()
                .map_err(|e| read_error(compression, None, e))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| read_error(compression, last.as_ref(), e))?;
                let raw = crate::oci::archive::path::name_text(&entry.path_bytes());
                let recorded = recorded(&entry);
                if recorded.is_some() {
                    scan.admit().map_err(|limit| ReadError::TooManyMembers {
                        limit,
                        at: raw.clone(),
                    })?;
                }
                match recorded {
                    Some(Recorded::File) => {
                        let size = entry.size();
                        scan.add_file(&raw, size, &mut entry)
                            .map_err(|e| read_error(compression, last.as_ref(), e))?;
                    }
                    Some(Recorded::Link(kind, target)) => scan.add_link(&raw, kind, &target),
                    None => {}
                }
                last = Some(raw);
            }
        }
        // The padding after the end-of-archive marker, so sizes are exact.
        let mut buf = vec![0; 64 << 10];
        drain(&mut tar_input, &mut buf).map_err(|e| read_error(compression, last.as_ref(), e))?;
        tar_input.count
    };
    let facts = InputFacts {
        input: InputKind::Tar,
        compression,
        size: input.count,
        tar_size: Some(tar_size),
    };
    Ok(build(scan, facts))
}

/// What the reader records of an entry of the outer tar.
pub(crate) enum Recorded {
    /// A regular file: its data is scanned.
    File,
    /// A symbolic or hard link, and its target as text.
    Link(MemberKind, String),
}

/// How the reader records `entry`: `None` for directories, devices, pax global headers and
/// the rest, which hold nothing a loader reads. The stream and `parallel.rs`'s header pass
/// both decide with it, so they record the same members.
pub(crate) fn recorded<R: Read>(entry: &tar::Entry<'_, R>) -> Option<Recorded> {
    let link = || {
        entry
            .link_name_bytes()
            .map(|l| crate::oci::archive::path::name_text(&l))
            .unwrap_or_default()
    };
    match entry.header().entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => Some(Recorded::File),
        tar::EntryType::Symlink => Some(Recorded::Link(MemberKind::Symlink, link())),
        tar::EntryType::Link => Some(Recorded::Link(MemberKind::Hardlink, link())),
        _ => None,
    }
}

/// Reads an archive file, or an OCI layout directory (each file read once, in name order).
/// Anything else (a FIFO, a device) is refused: stream it with [`read_archive`] if meant.
pub fn read_path(path: &Path) -> Result<ArchiveReport, ReadError> {
    let open_error = |p: &Path, source| ReadError::Open {
        path: p.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(|e| open_error(path, e))?;
    if !meta.is_dir() && !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        let file = File::open(path).map_err(|e| open_error(path, e))?;
        let options = crate::oci::archive::parallel::Options::get();
        if let Some(report) =
            crate::oci::archive::parallel::read_file(&file, meta.len(), Scan::new(), options)?
        {
            return Ok(report);
        }
        // Anything unusual: the stream, from the start (see `parallel.rs`).
        return read_archive(file);
    }
    let mut scan = Scan::new();
    let mut size = 0;
    walk_dir(path, "", &mut scan, &mut size)?;
    let facts = InputFacts {
        input: InputKind::Directory,
        compression: Compression::None,
        size,
        tar_size: None,
    };
    Ok(build(scan, facts))
}

/// Adds every file and symlink under `dir` to `scan`, as paths relative to the root.
fn walk_dir(dir: &Path, prefix: &str, scan: &mut Scan, size: &mut u64) -> Result<(), ReadError> {
    let open_error = |p: &Path, source| ReadError::Open {
        path: p.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| open_error(dir, e))? {
        names.push(entry.map_err(|e| open_error(dir, e))?.file_name());
    }
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let rel = format!("{prefix}{}", name.to_string_lossy());
        let meta = fs::symlink_metadata(&full).map_err(|e| open_error(&full, e))?;
        if !meta.is_dir() {
            scan.admit().map_err(|limit| ReadError::TooManyMembers {
                limit,
                at: rel.clone(),
            })?;
        }
        if meta.is_dir() {
            walk_dir(&full, &format!("{rel}/"), scan, size)?;
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&full).map_err(|e| open_error(&full, e))?;
            scan.add_link(&rel, MemberKind::Symlink, &target.to_string_lossy());
        } else if meta.is_file() {
            let file = File::open(&full).map_err(|e| open_error(&full, e))?;
            scan.add_file(&rel, meta.len(), file)
                .map_err(|e| open_error(&full, e))?;
            *size += meta.len();
        }
    }
    Ok(())
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Self { inner, count: 0 }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {

    /// Issue 13, item 4: every member kept a record, so a million empty members took 707 MB.
    /// The member past the limit stops the read with the limit and the member named, and the
    /// limit is the same for tar streams and directories.
    #[test]
    fn members_past_the_limit_stop_the_read() {
        let empty_members = |n: usize| {
            let mut tar = tar::Builder::new(Vec::new());
            for i in 0..n {
                let mut h = tar::Header::new_ustar();
                h.set_size(0);
                h.set_mode(0o644);
                h.set_cksum();
                tar.append_data(&mut h, format!("m{i:02}"), std::io::empty())
                    .unwrap();
            }
            tar.into_inner().unwrap()
        };
        let bytes = empty_members(11);
        let err = super::read_with(bytes.as_slice(), Scan::with_limit(10)).unwrap_err();
        assert!(
            matches!(&err, ReadError::TooManyMembers { limit: 10, at } if at == "m10"),
            "{err}"
        );
        assert!(err.to_string().contains("HARNESS_MAX_MEMBERS"), "{err}");
        // Ten members are within the limit.
        let ten = super::read_with(empty_members(10).as_slice(), Scan::with_limit(10));
        assert!(ten.is_ok(), "{:?}", ten.err());
        let dir = tempfile::tempdir().unwrap();
        for i in 0..11 {
            std::fs::write(dir.path().join(format!("m{i:02}")), b"").unwrap();
        }
        let mut scan = Scan::with_limit(10);
        let mut size = 0;
        let err = super::walk_dir(dir.path(), "", &mut scan, &mut size).unwrap_err();
        assert!(
            matches!(err, ReadError::TooManyMembers { limit: 10, .. }),
            "{err}"
        );
    }

    /// Issue 13, item 2: a pax header of gigabytes was read into memory whole. One over the
    /// limit is refused as the archive is read, before its data is buffered.
    #[test]
    fn an_oversized_pax_header_is_refused_before_it_is_buffered() {
        let size = 64u64 << 20;
        let mut h = tar::Header::new_ustar();
        h.set_path("PaxHeaders/x").unwrap();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend(std::iter::repeat_n(b'a', size as usize));
        let gz = crate::oci::archive::testutil::compress(Compression::Gzip, &tar);
        assert!(gz.len() < 1 << 20, "small on disk: {}", gz.len());
        let err = read_archive(gz.as_slice()).unwrap_err();
        assert!(
            crate::run::error_chain(&err).contains("pax header member of 67108864 bytes"),
            "{}",
            crate::run::error_chain(&err)
        );
    }

    /// Issue 13, item 6: two names that are not UTF-8 were decoded lossily into the same
    /// text, a false `duplicate-entry`.
    #[test]
    fn names_that_are_not_utf8_stay_distinct() {
        use std::os::unix::ffi::OsStrExt;
        let mut b = tar::Builder::new(Vec::new());
        for name in [&b"dir/a\xff"[..], &b"dir/a\xfe"[..]] {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_path(std::ffi::OsStr::from_bytes(name)).unwrap();
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let report = read_archive(tar.as_slice()).unwrap();
        assert!(
            report.duplicate_members.is_empty(),
            "{:?}",
            report.duplicate_members
        );
        let paths: Vec<&str> = report.members.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["dir/a\\xff", "dir/a\\xfe"]);
    }

    use serde_json::json;
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::oci::archive::LayoutKind;
    use crate::oci::archive::testutil::{
        ArchiveBuilder, TestImage, TestLayer, compress, crafted, names, oci_archive, shuffles,
        stored,
    };
    use crate::oci::{Digest, media_type};

    #[test]
    fn whole_archive_compression_is_transparent() {
        let (plain, _) = crafted("docker-oci-hybrid");
        let want = read_archive(plain.as_slice()).unwrap();
        for c in [
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let stored = compress(c, &plain);
            let r = read_archive(stored.as_slice()).unwrap();
            assert_eq!(r.compression, c);
            assert_eq!(
                (r.size, r.tar_size),
                (stored.len() as u64, Some(plain.len() as u64))
            );
            assert_eq!(r.images, want.images, "{c}");
            assert_eq!(r.members, want.members, "{c}");
        }
    }

    #[test]
    fn every_layer_compression_is_detected_and_decompressed() {
        let table = [
            (Compression::Gzip, media_type::OCI_LAYER_GZIP),
            (
                Compression::Zstd,
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            // No media type exists for these: a tar media type is what R2's importers wrote.
            (Compression::Bzip2, media_type::OCI_LAYER_TAR),
            (Compression::Xz, media_type::OCI_LAYER_TAR),
        ];
        for (c, mt) in table {
            let layer = TestLayer::new(&[("etc/hello", "hello\n"), ("etc/x", "x")], c, mt);
            let image = TestImage::new(vec![layer.clone()], "linux", "amd64");
            let r = oci_archive(&image, json!({})).read();
            let l = &r.images[0].manifests[0].layers[0];
            let b = stored(&l.blob);
            assert_eq!(b.compression, c);
            assert_eq!(b.digest, layer.digest());
            assert_eq!(
                b.uncompressed_digest.as_ref(),
                Some(&layer.diff_id()),
                "{c}"
            );
            assert_eq!(b.uncompressed_size, Some(layer.tar.len() as u64));
            let member = r.member(&b.member).unwrap();
            assert_eq!(
                member.tar.as_ref().unwrap().entries,
                2,
                "{c}: walked inside"
            );
            // The claim stays next to the fact; the oracles compare them.
            assert_eq!(l.media_type.as_deref(), Some(mt), "{c}");
            assert_eq!(member.decode_error, None, "{c}");
        }
    }

    #[test]
    fn member_order_does_not_matter() {
        let (bytes, _) = crafted("docker-oci-hybrid");
        let want = read_archive(bytes.as_slice()).unwrap();
        for shuffled in shuffles(&bytes) {
            let r = read_archive(shuffled.as_slice()).unwrap();
            assert_eq!(r.layout, want.layout);
            assert_eq!(r.images, want.images);
            assert_eq!(r.members.len(), want.members.len());
        }
    }

    #[test]
    fn oci_layout_directory_reads_like_the_archive() {
        let image = TestImage::one_layer();
        let a = oci_archive(&image, names("example.test/app:1", "1"));
        let dir = tempfile::tempdir().unwrap();
        a.write_dir(dir.path());
        let from_dir = read_path(dir.path()).unwrap();
        let from_tar = a.read();
        assert_eq!(
            (from_dir.input, from_dir.layout),
            (InputKind::Directory, LayoutKind::OciLayoutDir)
        );
        assert_eq!(from_dir.images, from_tar.images);
        assert_eq!(from_dir.duplicate_members, from_tar.duplicate_members);
        assert_eq!(from_dir.unsafe_members, from_tar.unsafe_members);
        assert_eq!(from_dir.tar_size, None);

        let file = dir.path().join("archive.tar");
        std::fs::write(&file, a.tar()).unwrap();
        let from_file = read_path(&file).unwrap();
        assert_eq!(
            (from_file.input, from_file.layout),
            (InputKind::Tar, LayoutKind::OciArchive)
        );
    }

    #[test]
    fn unreadable_input_is_an_error_and_empty_input_a_report() {
        let mut garbage = vec![b'x'; 2048];
        garbage[..9].copy_from_slice(b"not a tar");
        let err = read_archive(garbage.as_slice()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("read the archive (none) at its start"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());

        let mut truncated = ArchiveBuilder::default()
            .file("a", vec![7; 5000])
            .file("b", "x")
            .tar();
        truncated.truncate(3000);
        let err = read_archive(truncated.as_slice()).unwrap_err();
        assert!(matches!(err, ReadError::Read { .. }), "{err}");

        let mut gz = compress(
            Compression::Gzip,
            &ArchiveBuilder::default().file("a", "b").tar(),
        );
        let n = gz.len();
        gz[n / 2] ^= 0xff;
        gz[n / 2 + 1] ^= 0xff;
        let err = read_archive(gz.as_slice()).unwrap_err();
        assert!(err.to_string().contains("(gzip)"), "{err}");

        let empty = read_archive(&b""[..]).unwrap();
        assert_eq!(empty.layout, LayoutKind::Unknown);
        assert_eq!((empty.members.len(), empty.images.len()), (0, 0));

        let err = read_path(Path::new("/nonexistent/archive.tar")).unwrap_err();
        assert_eq!(err.to_string(), "open /nonexistent/archive.tar");
    }

    /// A reader of `len` generated bytes (a fixed pattern), never held in memory.
    struct Pattern {
        pos: u64,
        len: u64,
    }

    impl Read for Pattern {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Byte i is i % 251; copied a cycle at a time (a byte loop is slow in debug builds).
            const CYCLE: [u8; 251] = {
                let mut c = [0u8; 251];
                let mut i = 0;
                while i < 251 {
                    c[i] = i as u8;
                    i += 1;
                }
                c
            };
            let n = buf.len().min((self.len - self.pos) as usize);
            let mut done = 0;
            while done < n {
                let at = ((self.pos + done as u64) % 251) as usize;
                let k = (251 - at).min(n - done);
                buf[done..done + k].copy_from_slice(&CYCLE[at..at + k]);
                done += k;
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    /// A 64 MiB layer tar, streamed: header, pattern, end marker.
    fn big_layer() -> (impl Read, u64) {
        const DATA: u64 = 64 << 20;
        let mut h = tar::Header::new_ustar();
        h.set_path("big.bin").unwrap();
        h.set_size(DATA);
        h.set_mode(0o644);
        h.set_cksum();
        let head = Cursor::new(h.as_bytes().to_vec());
        let tail = Cursor::new(vec![0u8; 1024]);
        (
            head.chain(Pattern { pos: 0, len: DATA }).chain(tail),
            512 + DATA + 1024,
        )
    }

    #[test]
    fn a_large_layer_streams_without_being_buffered() {
        let (mut layer, layer_len) = big_layer();
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = layer.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let diff_id = Digest::from_sha256_output(&hasher.finalize());

        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        }))
        .unwrap();
        let config_name = format!("{}.json", Digest::sha256(&config).hex());
        let mut small = ArchiveBuilder::default();
        small.file(&config_name, config);
        small.json(
            "manifest.json",
            &json!([{"Config": config_name, "RepoTags": ["big:1"], "Layers": ["layer.tar"]}]),
        );
        let mut small = small.tar();
        small.truncate(small.len() - 1024); // drop the end marker

        let mut h = tar::Header::new_ustar();
        h.set_path("layer.tar").unwrap();
        h.set_size(layer_len);
        h.set_mode(0o644);
        h.set_cksum();
        // The layer comes first, the files that explain it after.
        let (layer, _) = big_layer();
        let stream = Cursor::new(h.as_bytes().to_vec())
            .chain(layer)
            .chain(Cursor::new(small))
            .chain(Cursor::new(vec![0u8; 1024]));

        let r = read_archive(stream).unwrap();
        assert_eq!(r.layout, LayoutKind::DockerArchive);
        let l = &r.images[0].manifests[0].layers[0];
        let b = stored(&l.blob);
        assert_eq!((b.size, &b.digest), (layer_len, &diff_id));
        assert_eq!(b.uncompressed_digest.as_ref(), Some(&diff_id));
        let member = r.member("layer.tar").unwrap();
        assert!(!member.buffered, "the layer's bytes were not kept");
        assert_eq!(member.tar.as_ref().unwrap().entries, 1);
        assert_eq!(l.diff_id.as_ref(), Some(&diff_id), "the config's claim");
        assert_eq!(
            (member.decode_error.as_ref(), member.json_error.as_ref()),
            (None, None)
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.len() < 16 << 10,
            "the report holds no layer bytes ({} bytes)",
            json.len()
        );
    }
}
