//! One member, one pass: [`scan_file`] hashes a member's raw bytes, decompresses and hashes
//! it again when it starts with a compression magic number, walks its tar entries when it
//! looks like a tar, and keeps its bytes only when it is small JSON.
//!
//! The readers are stacked so every byte is hashed once per digest:
//!
//! ```text
//! member ─► Hashing (raw digest) ─► [BufReader ─► decoder ─► Hashing (uncompressed digest)] ─► tar walk ─► drain
//! ```
//!
//! The first 512 bytes are read ahead (through the raw hasher) to sniff the magic number,
//! JSON and tar headers, then chained back in front of the rest, so nothing is read twice.

use std::io::{self, BufReader, Cursor, Read};
use std::sync::mpsc;

use sha2::{Digest as _, Sha256};

use crate::oci::Digest;
use crate::oci::archive::compression::{looks_like_json, looks_like_tar, read_prefix};
use crate::oci::archive::layer::walk_tar;
use crate::oci::archive::{Compression, TarScan};

/// The read size for member data and the decoders' input buffers.
pub(crate) const BUF_SIZE: usize = 1 << 20;
/// The largest JSON member kept in memory to be parsed.
pub(crate) const JSON_LIMIT: u64 = 4 << 20;
/// The most JSON bytes kept in memory for one archive.
pub(crate) const JSON_BUDGET: u64 = 32 << 20;

/// How far to read ahead: one tar header block.
const SNIFF_LEN: usize = 512;

/// Names of the metadata files every layout uses; buffered even when they do not start
/// like JSON (`VERSION` holds `1.0`), so a malformed one is reported, not skipped.
const METADATA_NAMES: [&str; 6] = [
    "index.json",
    "manifest.json",
    "repositories",
    "oci-layout",
    "json",
    "VERSION",
];

/// What one pass over a regular file measured.
#[derive(Debug)]
pub(crate) struct FileScan {
    pub digest: Digest,
    pub size: u64,
    pub compression: Compression,
    /// The decompressed digest and size; `None` when decompression failed.
    pub uncompressed: Option<(Digest, u64)>,
    /// The bytes, for small JSON members.
    pub json: Option<Vec<u8>>,
    pub decode_error: Option<String>,
    pub tar: Option<TarScan>,
}

/// A reader that hashes and counts what passes through it. An error of the underlying
/// reader is kept, so callers can tell a failing source (the archive itself: fatal) from a
/// failing decoder above it (one bad member: a finding).
pub(crate) struct Hashing<R> {
    inner: R,
    sink: Sink,
    count: u64,
    failed: Option<io::Error>,
}

/// Where a [`Hashing`] reader's bytes are hashed.
enum Sink {
    /// On the reading thread.
    Inline(Sha256),
    /// On a thread of its own ([`Hashing::offload`]), fed copies of what is read.
    Offloaded(Offload),
}

/// A hashing thread, its channel, and the buffers it hands back for reuse.
struct Offload {
    chunks: mpsc::SyncSender<Vec<u8>>,
    spare: Pool,
    thread: std::thread::JoinHandle<Sha256>,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            sink: Sink::Inline(Sha256::new()),
            count: 0,
            failed: None,
        }
    }

    /// Hashes what is read from now on on a thread of its own, fed a copy of each read (a
    /// memcpy costs a fraction of the sha256 it moves off this thread). For a pipelined
    /// member, whose reading thread also decompresses: the raw digest, the decompression and
    /// the decompressed digest then take three threads, which two cores share evenly.
    pub(crate) fn offload(&mut self) {
        let Sink::Inline(hasher) = &mut self.sink else {
            return;
        };
        let mut hasher = std::mem::take(hasher);
        let (chunks, queued) = mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
        let (give_back, spare) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::spawn(move || {
            for chunk in queued {
                hasher.update(&chunk);
                // The reader may be gone (dropped after an error): nothing to give back to.
                let _ = give_back.send(chunk);
            }
            hasher
        });
        self.sink = Sink::Offloaded(Offload {
            chunks,
            spare: Pool::new(spare),
            thread,
        });
    }

    fn hash(&mut self, bytes: &[u8]) {
        match &mut self.sink {
            Sink::Inline(hasher) => hasher.update(bytes),
            Sink::Offloaded(o) => {
                // The hashing thread only ends when `chunks` is dropped, and a panic there
                // is rethrown by `finish`.
                let mut chunk = o.spare.take().unwrap_or_default();
                chunk.clear();
                chunk.extend_from_slice(bytes);
                // A send fails only if the thread panicked: `finish` rethrows that.
                let _ = o.chunks.send(chunk);
            }
        }
    }

    pub(crate) fn finish(self) -> (Digest, u64) {
        let hasher = match self.sink {
            Sink::Inline(hasher) => hasher,
            Sink::Offloaded(o) => {
                drop(o.chunks);
                match o.thread.join() {
                    Ok(hasher) => hasher,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        };
        (Digest::from_sha256_output(&hasher.finalize()), self.count)
    }

    /// The underlying reader's error, if it failed.
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.failed.take()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hash(&buf[..n]);
                self.count += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                let message = e.to_string();
                self.failed = Some(e);
                Err(io::Error::new(kind, message))
            }
        }
    }
}

/// Reads `r` to its end through `buf`, discarding the bytes (the readers below hash them).
pub(crate) fn drain(r: &mut impl Read, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Scans one regular file named `name` (cleaned) of `declared_size` bytes. `json_budget` is
/// what may still be buffered and is reduced by what is. Returns `Err` only when `input`
/// itself fails; decoding problems are recorded in the scan.
pub(crate) fn scan_file(
    name: &str,
    declared_size: u64,
    input: impl Read,
    buf: &mut [u8],
    json_budget: &mut u64,
) -> io::Result<FileScan> {
    scan_file_with(name, declared_size, input, buf, json_budget, false)
        .map(|s| s.expect("only a pipelined scan gives up"))
}

/// [`scan_file`], decompressing on one thread while another hashes the output and walks it
/// as a tar (see [`decode_pipelined`]), so one compressed member uses two cores. `Ok(None)`
/// when the decoder failed: the pipelined run's error could read differently from
/// [`scan_file`]'s (see there), so the caller scans the member again with [`scan_file`].
pub(crate) fn scan_file_pipelined(
    name: &str,
    declared_size: u64,
    input: impl Read,
    buf: &mut [u8],
    json_budget: &mut u64,
) -> io::Result<Option<FileScan>> {
    scan_file_with(name, declared_size, input, buf, json_budget, true)
}

fn scan_file_with(
    name: &str,
    declared_size: u64,
    input: impl Read,
    buf: &mut [u8],
    json_budget: &mut u64,
    pipelined: bool,
) -> io::Result<Option<FileScan>> {
    let mut raw = Hashing::new(input);
    let prefix = read_prefix(&mut raw, SNIFF_LEN)?;
    let compression = Compression::detect(&prefix);
    let base = name.rsplit('/').next().unwrap_or(name);
    let small = declared_size <= JSON_LIMIT && declared_size <= *json_budget;
    let json_like = looks_like_json(&prefix) || METADATA_NAMES.contains(&base);
    let mut scan = FileScan {
        digest: Digest::sha256(b""),
        size: 0,
        compression,
        uncompressed: None,
        json: None,
        decode_error: None,
        tar: None,
    };

    let keep = small && json_like && !looks_like_tar(&prefix) && !is_in_toto(&prefix);
    if compression == Compression::None && keep {
        let mut bytes = prefix;
        raw.read_to_end(&mut bytes)?;
        *json_budget = json_budget.saturating_sub(bytes.len() as u64);
        scan.json = Some(bytes);
    } else if compression == Compression::None {
        let is_tar = looks_like_tar(&prefix);
        let mut rest = Cursor::new(prefix).chain(&mut raw);
        if is_tar {
            scan.tar = Some(walk_tar(&mut rest, buf).0);
        }
        let drained = drain(&mut rest, buf);
        if let Some(e) = raw.take_error() {
            return Err(e);
        }
        drained?;
    } else {
        let decoded = if pipelined {
            raw.offload();
            match decode_pipelined(compression, prefix, &mut raw) {
                Some(decoded) => decoded,
                None => {
                    return match raw.take_error() {
                        Some(e) => Err(e),
                        None => Ok(None),
                    };
                }
            }
        } else {
            decode(compression, prefix, &mut raw, buf)
        };
        if let Some(e) = raw.take_error() {
            return Err(e);
        }
        match decoded {
            Ok((digest, size, tar)) => {
                scan.uncompressed = Some((digest, size));
                scan.tar = tar;
            }
            Err((e, tar)) => {
                scan.decode_error = Some(e.to_string());
                scan.tar = tar;
            }
        }
        // Bytes after the end of the compressed stream still belong to the member's digest.
        if let Err(e) = drain(&mut raw, buf) {
            return Err(raw.take_error().unwrap_or(e));
        }
    }

    let (digest, size) = raw.finish();
    scan.digest = digest.clone();
    scan.size = size;
    if compression == Compression::None {
        scan.uncompressed = Some((digest, size));
    }
    Ok(Some(scan))
}

/// An in-toto statement (BuildKit's SBOM and provenance attestation layers). The reader
/// never parses them, and SBOMs run to megabytes: buffering them could use up the JSON budget
/// before the configs and manifests that follow them in the archive.
fn is_in_toto(prefix: &[u8]) -> bool {
    const MARK: &[u8] = b"in-toto.io/Statement";
    prefix.windows(MARK.len()).any(|w| w == MARK)
}

type Decoded = (Digest, u64, Option<TarScan>);

/// Decompresses `prefix` + `raw`, hashing the output and walking it as a tar if it looks
/// like one.
fn decode<R: Read>(
    compression: Compression,
    prefix: Vec<u8>,
    raw: &mut Hashing<R>,
    buf: &mut [u8],
) -> Result<Decoded, (io::Error, Option<TarScan>)> {
    let input = BufReader::with_capacity(BUF_SIZE, Cursor::new(prefix).chain(raw));
    let decoder = compression.decoder(input).map_err(|e| (e, None))?;
    hash_and_walk(decoder, buf)
}

/// Hashes the decompressed bytes `plain` to their end, walking them as a tar if they look
/// like one: the DiffID candidate, its size and the walk.
fn hash_and_walk(
    plain: impl Read,
    buf: &mut [u8],
) -> Result<Decoded, (io::Error, Option<TarScan>)> {
    let mut plain = Hashing::new(plain);
    let head = read_prefix(&mut plain, SNIFF_LEN).map_err(|e| (e, None))?;
    let is_tar = looks_like_tar(&head);
    let mut rest = Cursor::new(head).chain(&mut plain);
    let tar = is_tar.then(|| walk_tar(&mut rest, buf).0);
    match drain(&mut rest, buf) {
        Ok(_) => {
            let (digest, size) = plain.finish();
            Ok((digest, size, tar))
        }
        Err(e) => Err((e, tar)),
    }
}

/// How many decoded buffers may wait for the hashing thread.
const PIPE_DEPTH: usize = 3;

/// The buffers of one pipe stage: those the next stage handed back, or new ones up to
/// `PIPE_DEPTH` + 2 in all, so memory stays bounded however far the stages drift apart.
struct Pool {
    returned: mpsc::Receiver<Vec<u8>>,
    made: usize,
}

impl Pool {
    fn new(returned: mpsc::Receiver<Vec<u8>>) -> Self {
        Self { returned, made: 0 }
    }

    /// A buffer to fill, waiting for one to come back when all are out; `None` when the
    /// next stage is gone.
    fn take(&mut self) -> Option<Vec<u8>> {
        match self.returned.try_recv() {
            Ok(c) => Some(c),
            Err(_) if self.made < PIPE_DEPTH + 2 => {
                self.made += 1;
                Some(Vec::new())
            }
            Err(_) => self.returned.recv().ok(),
        }
    }
}

/// [`decode`] as a two-stage pipeline: this thread reads `raw` (hashing it) and decompresses
/// into 1 MiB buffers; a scoped thread hashes them and walks them as a tar, handing each
/// buffer back for reuse. At most `PIPE_DEPTH` + 2 buffers exist. `None` when the decoder
/// failed: [`decode`] reads the decoder again after its error and the expansion limit's
/// message counts bytes as they were asked for, so an error here need not read the same.
fn decode_pipelined<R: Read>(
    compression: Compression,
    prefix: Vec<u8>,
    raw: &mut Hashing<R>,
) -> Option<Result<Decoded, (io::Error, Option<TarScan>)>> {
    let input = BufReader::with_capacity(BUF_SIZE, Cursor::new(prefix).chain(raw));
    let mut decoder = compression.decoder(input).ok()?;
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let hashing = s.spawn(move || {
            let pipe = Pipe {
                full: full_rx,
                empty: empty_tx,
                current: Vec::new(),
                pos: 0,
            };
            hash_and_walk(pipe, &mut vec![0; BUF_SIZE])
        });
        let mut pool = Pool::new(empty_rx);
        let mut failed = false;
        // `None`: the hashing thread is gone.
        while let Some(mut chunk) = pool.take() {
            chunk.resize(BUF_SIZE, 0);
            let mut n = 0;
            while n < chunk.len() {
                match decoder.read(&mut chunk[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if n == 0 || failed {
                break;
            }
            chunk.truncate(n);
            if full_tx.send(chunk).is_err() {
                break;
            }
        }
        drop(full_tx);
        let result = match hashing.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (!failed).then_some(result)
    })
}

/// The reading end of [`decode_pipelined`]'s channel.
struct Pipe {
    full: mpsc::Receiver<Vec<u8>>,
    empty: mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            let Ok(next) = self.full.recv() else {
                return Ok(0);
            };
            let used = std::mem::replace(&mut self.current, next);
            self.pos = 0;
            // The decoding thread may have stopped; then the buffer is just dropped.
            if used.capacity() > 0 {
                let _ = self.empty.send(used);
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::testutil::{compress, layer_tar};

    fn run(name: &str, bytes: &[u8]) -> FileScan {
        let mut buf = vec![0; 4096];
        let mut budget = JSON_BUDGET;
        scan_file(name, bytes.len() as u64, bytes, &mut buf, &mut budget).unwrap()
    }

    #[test]
    fn small_json_is_kept_and_hashed_once() {
        let bytes = b"  {\"a\": 1}\n";
        let s = run("blobs/sha256/x", bytes);
        assert_eq!(s.json.as_deref(), Some(&bytes[..]));
        assert_eq!(s.digest, Digest::sha256(bytes));
        assert_eq!(s.uncompressed, Some((Digest::sha256(bytes), 11)));
        assert!(s.tar.is_none());

        let version = run("abc/VERSION", b"1.0");
        assert_eq!(version.json.as_deref(), Some(&b"1.0"[..]));
        let other = run("abc/other", b"1.0");
        assert!(other.json.is_none());

        let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1","predicate":{}}"#;
        let s = run("blobs/sha256/x", statement);
        assert!(
            s.json.is_none(),
            "attestation statements are hashed, not kept"
        );
        assert_eq!(s.digest, Digest::sha256(statement));
    }

    #[test]
    fn json_over_the_budget_is_streamed() {
        let bytes = b"{\"a\": 1}";
        let mut buf = vec![0; 64];
        let mut budget = 4;
        let s = scan_file("x", 8, &bytes[..], &mut buf, &mut budget).unwrap();
        assert!(s.json.is_none());
        assert_eq!(s.digest, Digest::sha256(bytes));
        assert_eq!(budget, 4);
    }

    #[test]
    fn every_compression_gives_both_digests_and_a_tar_walk() {
        let tar = layer_tar(&[("etc/hello", "hello\n"), ("etc/os-release", "ID=x\n")]);
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let stored = compress(c, &tar);
            let s = run("layer", &stored);
            assert_eq!(s.compression, c);
            assert_eq!(s.digest, Digest::sha256(&stored), "{c}");
            assert_eq!(s.size, stored.len() as u64);
            assert_eq!(
                s.uncompressed,
                Some((Digest::sha256(&tar), tar.len() as u64)),
                "{c}"
            );
            assert_eq!(s.tar.as_ref().map(|t| t.entries), Some(2), "{c}");
            assert!(s.json.is_none() && s.decode_error.is_none());
        }
    }

    #[test]
    fn a_pipelined_scan_is_the_scan_or_gives_up() {
        let files: Vec<(String, String)> = (0..40)
            .map(|i| (format!("f{i}"), format!("{i}").repeat(100_000 + i)))
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let tar = layer_tar(&refs);
        assert!(tar.len() > 4 * BUF_SIZE, "several pipe buffers");
        for c in [
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let stored = compress(c, &tar);
            let want = run("layer", &stored);
            let mut buf = vec![0; 4096];
            let mut budget = JSON_BUDGET;
            let got = scan_file_pipelined(
                "layer",
                stored.len() as u64,
                stored.as_slice(),
                &mut buf,
                &mut budget,
            )
            .unwrap()
            .expect("not given up");
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{c}");
            assert_eq!(got.tar.as_ref().map(|t| t.entries), Some(40), "{c}");
            // Cut short, so every decoder fails.
            let cut = &stored[..stored.len() / 2];
            let corrupt =
                scan_file_pipelined("layer", cut.len() as u64, cut, &mut buf, &mut budget).unwrap();
            assert!(corrupt.is_none(), "{c}: a decoder error gives up");
        }
    }

    #[test]
    fn corrupt_compressed_stream_is_recorded_not_fatal() {
        let mut stored = compress(Compression::Gzip, &layer_tar(&[("a", "b")]));
        let mid = stored.len() / 2;
        stored[mid] ^= 0xff;
        stored[mid + 1] ^= 0xff;
        let s = run("layer", &stored);
        assert!(s.decode_error.is_some());
        assert_eq!(s.uncompressed, None);
        assert_eq!(s.digest, Digest::sha256(&stored), "raw digest still exact");
    }

    #[test]
    fn trailing_bytes_after_a_tar_are_hashed() {
        let mut bytes = layer_tar(&[("a", "b")]);
        bytes.extend([0u8; 4096]);
        let s = run("layer", &bytes);
        assert_eq!(s.digest, Digest::sha256(&bytes));
        assert_eq!(
            s.uncompressed,
            Some((Digest::sha256(&bytes), bytes.len() as u64))
        );
    }

    #[test]
    fn a_failing_source_is_an_error() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = self.0.min(buf.len());
                buf[..n].fill(0x1f);
                buf[1] = 0x8b;
                self.0 -= n;
                Ok(n)
            }
        }
        let mut buf = vec![0; 64];
        let mut budget = JSON_BUDGET;
        let err = scan_file("x", 10_000, Failing(600), &mut buf, &mut budget).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }
}
