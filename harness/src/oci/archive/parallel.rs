//! Reading an uncompressed archive FILE with positioned reads, its large members on worker
//! threads: [`read_file`], used by `read_path` for a regular file (issue 12, targets 1, 2
//! and 4). The report is the one [`read_archive`](crate::oci::archive::read_archive) makes of
//! the same bytes, or `None` and the caller streams the file as before.
//!
//! # Two passes over the file, one over each byte
//!
//! 1. **Headers.** `tar::Archive::entries_with_seek` walks the outer tar over positioned
//!    reads, so a member's data is skipped by a seek, not read: only the 512-byte headers
//!    (and the data of GNU long-name and pax members, which the `tar` crate reads itself) are
//!    read, through the same [`HeaderGuard`] as the stream. Every entry is noted in order:
//!    its name as the stream reads it (GNU long names, pax `path`), and for a regular file
//!    its data's offset and size (`Entry::raw_file_position`, `Entry::size`).
//! 2. **Members.** Members of at most `threshold` bytes (4 MiB: [`THRESHOLD`]) are scanned on
//!    the calling thread, in order, as the stream does. Larger ones are scanned by up to
//!    [`MAX_WORKERS`] worker threads (never more than the machine's available parallelism),
//!    each reading its member's byte range with `read_at` straight into its own
//!    [`WORKER_BUF`] buffer, through the unchanged [`scan_file`]. The calling thread takes
//!    their results in archive order ([`Scan::add_pending`], [`Scan::fill`]), so duplicate
//!    and unsafe names, the JSON budget and the member limit come out as the stream records
//!    them.
//!
//! With one large member (or one core) no worker is spawned: the member is scanned on the
//! calling thread with the large buffer, every byte copied once, from the page cache into the
//! buffer it is hashed from. With a spare core, a compressed large member scanned this way is
//! pipelined (`member::scan_file_pipelined`): this thread reads, hashes and decompresses, a
//! second one hashes the output and walks it as a tar, through a few recycled 1 MiB buffers.
//! Should the decoder fail, the member is scanned again without the pipeline, so the error
//! reads as the stream's.
//!
//! # Falling back
//!
//! Anything the header pass does not expect hands the file back to the stream, which then
//! reads it from the start and so reports, or fails with, exactly what it always did: a
//! header error of any kind, a seek past the end of the file (a truncated archive), a GNU
//! sparse member, a pax `size` that differs from the header's (the guard fails such a
//! seek), and any I/O error while scanning. The whole-archive compression is checked by the
//! caller first (a compressed archive is always streamed).
//!
//! # Memory
//!
//! Each worker holds one [`WORKER_BUF`] (4 MiB) buffer and, for a compressed member, the
//! decoder's 1 MiB input buffer and window: gzip 32 KiB, bzip2 about 4 MiB, zstd its frame's
//! window (8 MiB at most at levels 1 to 19). Results are a few hundred bytes each. So the
//! workers add at most about [`MAX_WORKERS`] x 14 MiB (a pipelined member: 7 MiB of buffers
//! and its decoder). The exception is a "heavy" decoder:
//! xz, whose dictionary reaches 64 MiB at `xz -9`, and zstd frames that declare a window over
//! 8 MiB (`--long`, up to 128 MiB): a member starting like one of those is scanned only while
//! holding one lock, so at most one heavy decoder exists at a time, as in the stream. (Only
//! the first zstd frame's window is read; a later frame of the same member with a larger
//! window is not foreseen.)

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use crate::oci::archive::build::{InputFacts, build};
use crate::oci::archive::guard::HeaderGuard;
use crate::oci::archive::member::{FileScan, JSON_LIMIT, scan_file, scan_file_pipelined};
use crate::oci::archive::path::{clean, name_text};
use crate::oci::archive::read::{ReadError, Recorded, recorded};
use crate::oci::archive::scan::Scan;
use crate::oci::archive::{ArchiveReport, Compression, InputKind, MemberKind};

/// Members larger than this are scanned by workers.
pub(crate) const THRESHOLD: u64 = 4 << 20;
/// The most worker threads.
pub(crate) const MAX_WORKERS: usize = 4;
/// The read buffer of a worker (and of a large member scanned on the calling thread).
pub(crate) const WORKER_BUF: usize = 4 << 20;
/// The largest zstd window decoded without the heavy-decoder lock.
const LIGHT_ZSTD_WINDOW: u64 = 8 << 20;

/// One entry of the outer tar, as the stream would handle it.
#[derive(Debug)]
enum Planned {
    File {
        raw: String,
        offset: u64,
        size: u64,
    },
    Link {
        raw: String,
        kind: MemberKind,
        target: String,
    },
}

impl Planned {
    fn raw(&self) -> &str {
        match self {
            Planned::File { raw, .. } | Planned::Link { raw, .. } => raw,
        }
    }
}

/// How [`read_file`] splits the work.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Members larger than this go to workers.
    pub threshold: u64,
    /// At most this many worker threads.
    pub workers: usize,
}

impl Options {
    /// [`THRESHOLD`], and the available parallelism up to [`MAX_WORKERS`].
    pub(crate) fn get() -> Options {
        Options {
            threshold: THRESHOLD,
            workers: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
        }
    }
}

/// Reads the uncompressed tar `file` of `len` bytes into `scan`; `Ok(None)` when it should be
/// streamed instead (see the module doc), `Err` only for [`ReadError::TooManyMembers`].
pub(crate) fn read_file(
    file: &File,
    len: u64,
    scan: Scan,
    options: Options,
) -> Result<Option<ArchiveReport>, ReadError> {
    let mut magic = [0u8; crate::oci::archive::compression::MAGIC_LEN];
    let n = read_full_at(file, &mut magic, 0).unwrap_or(0);
    if n == 0 || Compression::detect(&magic[..n]) != Compression::None {
        return Ok(None);
    }
    let Some(plan) = headers(file, len) else {
        return Ok(None);
    };
    let Some(scan) = scan_members(file, &plan, scan, options)? else {
        return Ok(None);
    };
    let facts = InputFacts {
        input: InputKind::Tar,
        compression: Compression::None,
        size: len,
        tar_size: Some(len),
    };
    Ok(Some(build(scan, facts)))
}

/// The header pass: the entries the stream would record, or `None` for anything unusual.
fn headers(file: &File, len: u64) -> Option<Vec<Planned>> {
    let mut archive = tar::Archive::new(HeaderGuard::new(At::new(file, 0, len)));
    let mut plan = Vec::new();
    // The name as text and the entries recorded, as in `read_with`'s loop.
    for entry in archive.entries_with_seek().ok()? {
        let entry = entry.ok()?;
        if entry.header().entry_type() == tar::EntryType::GNUSparse {
            return None;
        }
        let raw = name_text(&entry.path_bytes());
        match recorded(&entry) {
            Some(Recorded::File) => plan.push(Planned::File {
                raw,
                offset: entry.raw_file_position(),
                size: entry.size(),
            }),
            Some(Recorded::Link(kind, target)) => plan.push(Planned::Link { raw, kind, target }),
            None => {}
        }
    }
    // Every member's data must be in the file (`At`'s seeks fail past its end, but the last
    // member's data is not seeked over when the archive ends right after it).
    plan.iter()
        .all(|p| match p {
            Planned::File { offset, size, .. } => {
                offset.checked_add(*size).is_some_and(|e| e <= len)
            }
            Planned::Link { .. } => true,
        })
        .then_some(plan)
}

/// The member pass (see the module doc); `Ok(None)` after an I/O error.
fn scan_members(
    file: &File,
    plan: &[Planned],
    mut scan: Scan,
    options: Options,
) -> Result<Option<Scan>, ReadError> {
    // The member limit first, so no worker starts on an archive that will be refused.
    if let Some(p) = plan.get(scan.limit()) {
        return Err(ReadError::TooManyMembers {
            limit: scan.limit(),
            at: p.raw().to_string(),
        });
    }
    let big: Vec<(String, u64, u64)> = plan
        .iter()
        .filter_map(|p| match p {
            Planned::File { raw, offset, size } if *size > options.threshold => {
                Some((clean(raw), *offset, *size))
            }
            _ => None,
        })
        .collect();
    let workers = options.workers.min(big.len());
    let control = Control {
        heavy: Mutex::new(()),
        abort: AtomicBool::new(false),
    };
    if workers <= 1 {
        // One large member at a time: with a spare core, a compressed one is decoded on one
        // thread and hashed and walked on another (`member::scan_file_pipelined`).
        let pipelined = options.workers >= 2;
        let mut buf = Vec::new();
        for p in plan {
            let done = match p {
                Planned::File { raw, offset, size } if *size > options.threshold => {
                    if buf.is_empty() {
                        buf = vec![0; WORKER_BUF];
                    }
                    let slot = scan.add_pending(raw);
                    let path = scan.members[slot].path.clone();
                    match scan_range(file, &path, *offset, *size, &mut buf, &control, pipelined) {
                        Ok(s) => {
                            scan.fill(slot, s);
                            true
                        }
                        Err(_) => false,
                    }
                }
                p => add_inline(file, p, &mut scan),
            };
            if !done {
                return Ok(None);
            }
        }
        return Ok(Some(scan));
    }

    // One channel per large member; a worker takes the sender of the member it claims, so a
    // worker that panics drops it and the caller's `recv` fails instead of waiting forever.
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..big.len())
        .map(|_| {
            let (tx, rx) = mpsc::channel::<io::Result<FileScan>>();
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let next = AtomicUsize::new(0);
    let complete = std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut buf = vec![0; WORKER_BUF];
                while !control.abort.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, offset, size)) = big.get(i) else {
                        break;
                    };
                    let sender = senders[i].lock().ok().and_then(|mut s| s.take());
                    let result = scan_range(file, path, *offset, *size, &mut buf, &control, false);
                    // The receiver is gone only when the caller stopped early.
                    if let Some(sender) = sender {
                        let _ = sender.send(result);
                    }
                }
            });
        }
        let mut receivers = receivers.iter();
        for p in plan {
            let done = match p {
                Planned::File { raw, size, .. } if *size > options.threshold => {
                    let slot = scan.add_pending(raw);
                    let result = receivers
                        .next()
                        .expect("one receiver per large member")
                        .recv();
                    match result {
                        Ok(Ok(s)) => {
                            scan.fill(slot, s);
                            true
                        }
                        _ => false,
                    }
                }
                p => add_inline(file, p, &mut scan),
            };
            if !done {
                control.abort.store(true, Ordering::Relaxed);
                return false;
            }
        }
        true
    });
    Ok(complete.then_some(scan))
}

/// Records a small member or a link on the calling thread, as the stream does; `false`
/// after an I/O error.
fn add_inline(file: &File, p: &Planned, scan: &mut Scan) -> bool {
    match p {
        Planned::File { raw, offset, size } => scan
            .add_file(raw, *size, At::new(file, *offset, offset + size))
            .is_ok(),
        Planned::Link { raw, kind, target } => {
            scan.add_link(raw, *kind, target);
            true
        }
    }
}

/// What the workers share besides the file.
struct Control {
    /// Held while a heavy decoder (see [`is_heavy`]) runs.
    heavy: Mutex<()>,
    /// Set when the caller gives up; the workers' reads then fail.
    abort: AtomicBool,
}

/// [`scan_file`] of the member `path` at `offset`, `size` bytes long, with a JSON budget of
/// [`JSON_LIMIT`] ([`Scan::fill`] charges the real one), holding the heavy-decoder lock for
/// xz and large zstd windows.
fn scan_range(
    file: &File,
    path: &str,
    offset: u64,
    size: u64,
    buf: &mut [u8],
    control: &Control,
    pipelined: bool,
) -> io::Result<FileScan> {
    let Control { heavy, abort } = control;
    let mut head = [0u8; 18];
    let n = read_full_at(file, &mut head, offset)?.min(size as usize);
    let _lock = is_heavy(&head[..n]).then(|| heavy.lock().unwrap_or_else(|e| e.into_inner()));
    let mut budget = JSON_LIMIT;
    if pipelined && Compression::detect(&head[..n]) != Compression::None {
        let input = At::new(file, offset, offset + size).with_abort(abort);
        if let Some(s) = scan_file_pipelined(path, size, input, buf, &mut budget)? {
            return Ok(s);
        }
        // The decoder failed: the error as the stream words it.
    }
    let input = At::new(file, offset, offset + size).with_abort(abort);
    scan_file(path, size, input, buf, &mut budget)
}

/// `head` starts a stream whose decoder may need more than [`LIGHT_ZSTD_WINDOW`]: xz (its
/// dictionary is only known from the block header, up to 64 MiB at `xz -9`), or a zstd frame
/// whose header declares a larger window, or one that cannot be read.
fn is_heavy(head: &[u8]) -> bool {
    match Compression::detect(head) {
        Compression::Xz => true,
        Compression::Zstd => zstd_window(head).is_none_or(|w| w > LIGHT_ZSTD_WINDOW),
        _ => false,
    }
}

/// The window size a zstd frame header declares (RFC 8878, 3.1.1.1.1 `Frame_Header_Descriptor`
/// and 3.1.1.1.2 `Window_Descriptor`; a single-segment frame's window is its content size).
fn zstd_window(head: &[u8]) -> Option<u64> {
    let fhd = *head.get(4)?;
    if fhd & 0x20 == 0 {
        let wd = *head.get(5)?;
        let base = 1u64 << (10 + u32::from(wd >> 3));
        return Some(base + base / 8 * u64::from(wd & 7));
    }
    let dict_len = [0, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = [1, 2, 4, 8][usize::from(fhd >> 6)];
    let at = 5 + dict_len;
    let field = head.get(at..at + fcs_len)?;
    let value = field
        .iter()
        .rev()
        .fold(0u64, |v, b| (v << 8) | u64::from(*b));
    Some(if fcs_len == 2 { value + 256 } else { value })
}

/// Reads into `buf` at `offset` until it is full or the file ends; the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The bytes `pos..end` of a file, read with `pread` (no shared file position, so any number
/// of them read one file at once). A seek past `end` fails, and so does the file ending
/// before `end`.
struct At<'f> {
    file: &'f File,
    pos: u64,
    start: u64,
    end: u64,
    abort: Option<&'f AtomicBool>,
}

impl<'f> At<'f> {
    fn new(file: &'f File, start: u64, end: u64) -> Self {
        At {
            file,
            pos: start,
            start,
            end,
            abort: None,
        }
    }

    /// Fails reads once `abort` is set, so a worker stops soon after the caller gave up.
    fn with_abort(self, abort: &'f AtomicBool) -> Self {
        At {
            abort: Some(abort),
            ..self
        }
    }
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
            return Err(io::Error::other("stopped"));
        }
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        loop {
            match self.file.read_at(&mut buf[..want], self.pos) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file ended early",
                    ));
                }
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Seek for At<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(n) => self.start.checked_add(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.end.checked_add_signed(d),
        };
        match to {
            Some(to) if (self.start..=self.end).contains(&to) => {
                self.pos = to;
                Ok(to - self.start)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a seek past the end of the file",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::read::{read_archive, read_path, read_with};
    use crate::oci::archive::testutil::{
        ArchiveBuilder, TarEntry, TestImage, TestLayer, compress, docker_v24, oci_archive,
    };
    use crate::oci::media_type;
    use serde_json::json;

    /// Small thresholds, so test members of a few KiB go to workers.
    const SPLIT: [Options; 3] = [
        Options {
            threshold: 1024,
            workers: 2,
        },
        Options {
            threshold: 1024,
            workers: 4,
        },
        Options {
            threshold: 1024,
            workers: 1,
        },
    ];

    /// `bytes` written to a file.
    fn on_disk(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f
    }

    fn json(r: &ArchiveReport) -> String {
        serde_json::to_string_pretty(r).unwrap()
    }

    /// The parallel read of `bytes` (which must not fall back) is the stream's, with every
    /// split; both made with `scan`.
    fn same_as_stream(bytes: &[u8], scan: impl Fn() -> Scan) {
        let want = json(&read_with(bytes, scan()).unwrap());
        let f = on_disk(bytes);
        for options in SPLIT {
            let got = read_file(f.as_file(), bytes.len() as u64, scan(), options)
                .unwrap()
                .unwrap_or_else(|| panic!("fell back with {options:?}"));
            assert_eq!(json(&got), want, "{options:?}");
        }
        // And through `read_path`, with the default scan and split.
        let stream = json(&read_archive(bytes).unwrap());
        assert_eq!(json(&read_path(f.path()).unwrap()), stream);
    }

    /// A layer with one file of `n` varied bytes, so it is over the test threshold stored
    /// in any compression.
    fn big_layer(n: usize, c: Compression, seed: u8) -> TestLayer {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
        let content: String = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        let mt = match c {
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => media_type::OCI_LAYER_TAR,
        };
        TestLayer::new(&[("etc/big", content.as_str()), ("etc/small", "x")], c, mt)
    }

    #[test]
    fn parallel_reads_of_every_compression_are_the_streams() {
        let layers = vec![
            big_layer(50_000, Compression::None, 1),
            big_layer(50_000, Compression::Gzip, 2),
            big_layer(50_000, Compression::Zstd, 3),
            big_layer(50_000, Compression::Xz, 4),
            big_layer(50_000, Compression::Bzip2, 5),
            TestLayer::plain(&[("etc/tiny", "t")]),
        ];
        for l in &layers[..5] {
            assert!(l.stored.len() > 1024, "over the threshold");
        }
        let image = TestImage::new(layers, "linux", "amd64");
        same_as_stream(&docker_v24(&image, "a.test/x:1").tar(), Scan::new);
        same_as_stream(&oci_archive(&image, json!({})).tar(), Scan::new);
    }

    /// One large compressed member at a time is pipelined (decoded on one thread, hashed and
    /// walked on another); a corrupt one is scanned again without the pipeline.
    #[test]
    fn single_large_compressed_members_are_the_streams() {
        for c in [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Xz,
            Compression::Bzip2,
        ] {
            let image = TestImage::new(vec![big_layer(300_000, c, 9)], "linux", "amd64");
            same_as_stream(&docker_v24(&image, "a.test/x:1").tar(), Scan::new);
            // Cut short, so every decoder fails.
            let mut corrupt = big_layer(300_000, c, 8).stored;
            corrupt.truncate(corrupt.len() / 2);
            let bytes = ArchiveBuilder::default()
                .file("layer.tar", corrupt)
                .file("x.json", "{}")
                .tar();
            let report = read_archive(bytes.as_slice()).unwrap();
            assert!(report.members[0].decode_error.is_some(), "{c}");
            same_as_stream(&bytes, Scan::new);
        }
    }

    #[test]
    fn long_names_pax_paths_duplicates_and_links_are_the_streams() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(120) + "layer.tar";
        let big = big_layer(20_000, Compression::None, 7).stored;
        // A GNU long name (an `L` member) for a large member.
        for _ in 0..2 {
            let mut h = tar::Header::new_gnu();
            h.set_size(big.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, &long, big.as_slice()).unwrap();
        }
        // A pax `path` for a large and a small member.
        for (name, data) in [
            ("pax/".repeat(40) + "big", &big[..]),
            ("p/small".into(), &b"{}"[..]),
        ] {
            let record = pax_record("path", &name);
            let mut x = tar::Header::new_ustar();
            x.set_path("PaxHeaders/x").unwrap();
            x.set_size(record.len() as u64);
            x.set_entry_type(tar::EntryType::XHeader);
            x.set_cksum();
            b.append(&x, record.as_slice()).unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_path("short-name").unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        let mut bytes = b.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024);
        let mut more = ArchiveBuilder::default();
        more.file("./a/../x.json", "{\"a\":1}")
            .file("x.json", vec![b' '; 3000]) // a duplicate, large
            .link("up", TarEntry::Symlink("../../etc".into()))
            .link("hard", TarEntry::Hardlink("/etc/passwd".into()))
            .link("dir/", TarEntry::Dir)
            .file("/abs", big.clone())
            .file("../escape", "e");
        bytes.extend(more.tar());
        let want = read_archive(bytes.as_slice()).unwrap();
        assert_eq!(want.members.len(), 10, "{:?}", want.members);
        assert!(want.members.iter().any(|m| m.path == long));
        assert!(!want.duplicate_members.is_empty() && !want.unsafe_members.is_empty());
        same_as_stream(&bytes, Scan::new);
    }

    /// A pax extended header record: `<len> <key>=<value>\n`, the length counting itself.
    fn pax_record(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}").into_bytes()
    }

    #[test]
    fn the_json_budget_is_charged_in_archive_order() {
        // JSON members over the test threshold (workers) and under it (inline), with a budget
        // that runs out half-way: the same members are kept as by the stream.
        let mut a = ArchiveBuilder::default();
        for i in 0..12 {
            let n = if i % 3 == 0 { 200 } else { 1500 };
            a.file(
                &format!("j{i}.json"),
                format!("{{\"k\":\"{}\"}}", "v".repeat(n)),
            );
        }
        let bytes = a.tar();
        let report = read_with(bytes.as_slice(), Scan::with_json_budget(5000)).unwrap();
        let kept = report.members.iter().filter(|m| m.buffered).count();
        assert!((2..12).contains(&kept), "the budget ran out: {kept}");
        same_as_stream(&bytes, || Scan::with_json_budget(5000));
    }

    #[test]
    fn the_member_limit_is_the_streams() {
        let mut a = ArchiveBuilder::default();
        for i in 0..6 {
            a.file(&format!("m{i}"), vec![b'x'; 2000]);
        }
        a.link("l", TarEntry::Symlink("m0".into()));
        let bytes = a.tar();
        let f = on_disk(&bytes);
        for limit in [3, 6] {
            let want = read_with(bytes.as_slice(), Scan::with_limit(limit)).unwrap_err();
            for options in SPLIT {
                let got = read_file(
                    f.as_file(),
                    bytes.len() as u64,
                    Scan::with_limit(limit),
                    options,
                )
                .unwrap_err();
                assert_eq!(got.to_string(), want.to_string());
                assert!(matches!(got, ReadError::TooManyMembers { .. }));
            }
        }
        same_as_stream(&bytes, || Scan::with_limit(7));
    }

    #[test]
    fn unusual_archives_fall_back_to_the_stream() {
        let image = TestImage::new(
            vec![
                big_layer(20_000, Compression::Gzip, 1),
                big_layer(20_000, Compression::None, 2),
            ],
            "linux",
            "amd64",
        );
        let whole = docker_v24(&image, "a.test/x:1").tar();
        let layer_at = whole
            .windows(4)
            .position(|w| w == [0x1f, 0x8b, 0x08, 0x00])
            .unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "truncated in a large member",
                whole[..layer_at + image.layers[0].stored.len() / 2].to_vec(),
            ),
            ("truncated in its padding", {
                let mut t = ArchiveBuilder::default().file("a", vec![1; 3000]).tar();
                t.truncate(512 + 3000 + 10);
                t
            }),
            ("a bad header", {
                let mut t = whole.clone();
                t[layer_at - 512 + 10] ^= 0x40;
                t
            }),
            ("compressed as a whole", compress(Compression::Gzip, &whole)),
            ("not a tar", vec![b'x'; 2048]),
            ("empty", Vec::new()),
        ];
        for (what, bytes) in cases {
            let f = on_disk(&bytes);
            for options in SPLIT {
                let got = read_file(f.as_file(), bytes.len() as u64, Scan::new(), options);
                assert!(
                    matches!(got, Ok(None)),
                    "{what}: {options:?} did not fall back"
                );
            }
            let stream = read_archive(bytes.as_slice()).map(|r| json(&r));
            let path = read_path(f.path()).map(|r| json(&r));
            match (stream, path) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
                (Err(a), Err(b)) => assert_eq!(
                    crate::run::error_chain(&a),
                    crate::run::error_chain(&b),
                    "{what}"
                ),
                (a, b) => panic!("{what}: stream {:?}, path {:?}", a.err(), b.err()),
            }
        }
    }

    #[test]
    fn a_truncated_large_member_fails_as_in_the_stream() {
        let mut t = ArchiveBuilder::default()
            .file("a", vec![7; 5000])
            .file("b", "x")
            .tar();
        t.truncate(3000);
        let f = on_disk(&t);
        let err = read_path(f.path()).unwrap_err();
        let want = read_archive(t.as_slice()).unwrap_err();
        assert_eq!(
            crate::run::error_chain(&err),
            crate::run::error_chain(&want)
        );
        assert!(matches!(err, ReadError::Read { .. }), "{err}");
    }

    #[test]
    fn xz_and_long_zstd_windows_are_heavy() {
        let data = vec![5u8; 100_000];
        assert!(is_heavy(&compress(Compression::Xz, &data)));
        assert!(!is_heavy(&compress(Compression::Gzip, &data)));
        assert!(!is_heavy(&data));
        let small = compress(Compression::Zstd, &data);
        assert!(zstd_window(&small).is_some_and(|w| w <= LIGHT_ZSTD_WINDOW));
        assert!(!is_heavy(&small));
        // A frame without a single segment: Window_Descriptor 0x88 is 2^27 = 128 MiB.
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88]),
            Some(128 << 20)
        );
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x5b]),
            Some((2 << 20) + (2 << 20) / 8 * 3)
        );
        assert!(is_heavy(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88]));
        // Single segment, a 4-byte content size of 16 MiB.
        assert_eq!(
            zstd_window(&[0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 1]),
            Some(16 << 20)
        );
        assert!(
            is_heavy(&[0x28, 0xb5, 0x2f, 0xfd, 0x00]),
            "unreadable: heavy"
        );
    }
}
