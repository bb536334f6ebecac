//! [`Scan`]: the outer pass. Each regular file and link of the archive (or directory) is
//! recorded as it streams by; nothing is interpreted yet, because the file that says how to
//! read the others (`index.json`, `manifest.json`) may come last. What interpretation needs
//! later is small: per member its digests, sizes and compression, plus the bytes of small
//! JSON members.

use std::collections::HashMap;
use std::io::{self, Read};

use crate::oci::archive::member::{BUF_SIZE, FileScan, JSON_BUDGET, scan_file};
use crate::oci::archive::path::{clean, join_link, leaves_root, named_digest, unsafe_name};
use crate::oci::archive::{MemberKind, MemberReport, UnsafeEntry, UnsafeReason};

/// How many members (files and links; directories are not recorded) one archive may have:
/// 50,000 unless `HARNESS_MAX_MEMBERS` says otherwise. Each member keeps a record of about
/// 700 bytes until the archive is interpreted, so this bounds that memory (about 35 MB);
/// real images have a few hundred members (127 layers, the most Docker stacks, make about 400).
pub fn max_members() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("HARNESS_MAX_MEMBERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_MEMBERS)
    })
}

/// The default of [`max_members`].
pub const DEFAULT_MAX_MEMBERS: usize = 50_000;

/// The members seen so far.
pub(crate) struct Scan {
    pub members: Vec<MemberReport>,
    /// Buffered bytes of small JSON members, by index in `members`.
    pub json: HashMap<usize, Vec<u8>>,
    pub duplicate_members: Vec<String>,
    pub unsafe_members: Vec<UnsafeEntry>,
    /// Cleaned path -> how many times seen.
    seen: HashMap<String, u32>,
    json_budget: u64,
    buf: Vec<u8>,
    limit: usize,
}

impl Scan {
    pub(crate) fn new() -> Self {
        Self {
            members: Vec::new(),
            json: HashMap::new(),
            duplicate_members: Vec::new(),
            unsafe_members: Vec::new(),
            seen: HashMap::new(),
            json_budget: JSON_BUDGET,
            buf: vec![0; BUF_SIZE],
            limit: max_members(),
        }
    }

    /// A scan that refuses members past `limit` (for tests).
    #[cfg(test)]
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self {
            limit,
            ..Self::new()
        }
    }

    /// A scan that may buffer at most `budget` bytes of JSON (for tests).
    #[cfg(test)]
    pub(crate) fn with_json_budget(budget: u64) -> Self {
        Self {
            json_budget: budget,
            ..Self::new()
        }
    }

    /// `Err(limit)` if one more member would exceed the member limit ([`max_members`]);
    /// checked before a member is read, so its record is never made.
    pub(crate) fn admit(&self) -> Result<(), usize> {
        if self.members.len() >= self.limit {
            Err(self.limit)
        } else {
            Ok(())
        }
    }

    /// Records a regular file, reading `input` to its end. `Err` means `input` failed.
    pub(crate) fn add_file(&mut self, raw: &str, size: u64, input: impl Read) -> io::Result<()> {
        let path = self.note_path(raw);
        let s = scan_file(&path, size, input, &mut self.buf, &mut self.json_budget)?;
        let record = self.file_record_at(self.members.len(), path, s);
        self.members.push(record);
        Ok(())
    }

    /// Records a regular file whose scan comes later ([`Scan::fill`]), so its name counts
    /// for duplicates and unsafe names in archive order. Returns its slot.
    pub(crate) fn add_pending(&mut self, raw: &str) -> usize {
        let path = self.note_path(raw);
        let slot = self.members.len();
        self.members.push(MemberReport {
            named_digest: named_digest(&path),
            path,
            kind: MemberKind::File,
            size: 0,
            digest: None,
            compression: None,
            uncompressed_digest: None,
            uncompressed_size: None,
            buffered: false,
            link_target: None,
            resolves_to: None,
            role: None,
            json_error: None,
            decode_error: None,
            tar: None,
        });
        slot
    }

    /// Sets the scan of the member [`Scan::add_pending`] reserved `slot` for: what
    /// [`Scan::add_file`] would have recorded there, provided `s` was made with a JSON budget
    /// of at least [`JSON_LIMIT`](crate::oci::archive::member::JSON_LIMIT) and the fills and
    /// adds come in archive order. The JSON budget is charged here, as `scan_file` would have:
    /// bytes it kept that the budget no longer allows are dropped (the rest of a scan does not
    /// depend on the budget).
    pub(crate) fn fill(&mut self, slot: usize, mut s: FileScan) {
        if let Some(bytes) = &s.json {
            let len = bytes.len() as u64;
            if len > self.json_budget {
                s.json = None;
            } else {
                self.json_budget -= len;
            }
        }
        let path = std::mem::take(&mut self.members[slot].path);
        let record = self.file_record_at(slot, path, s);
        self.members[slot] = record;
    }

    /// The record of a file scanned as `s`, at index `slot`; keeps its JSON bytes.
    fn file_record_at(&mut self, slot: usize, path: String, s: FileScan) -> MemberReport {
        let (uncompressed_digest, uncompressed_size) = s.uncompressed.unzip();
        let buffered = s.json.is_some();
        if let Some(bytes) = s.json {
            self.json.insert(slot, bytes);
        }
        MemberReport {
            named_digest: named_digest(&path),
            path,
            kind: MemberKind::File,
            size: s.size,
            digest: Some(s.digest),
            compression: Some(s.compression),
            uncompressed_digest,
            uncompressed_size,
            buffered,
            link_target: None,
            resolves_to: None,
            role: None,
            json_error: None,
            decode_error: s.decode_error,
            tar: s.tar,
        }
    }

    /// The member limit this scan enforces ([`Scan::admit`]).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Records a symbolic or hard link. Podman's docker-archive writes `<v1id>/layer.tar` as
    /// a symlink to `../<digest>.tar` (containers/image `ensureSingleLegacyLayerLocked`).
    pub(crate) fn add_link(&mut self, raw: &str, kind: MemberKind, target: &str) {
        let path = self.note_path(raw);
        let escapes = match kind {
            MemberKind::Symlink => {
                target.starts_with('/') || leaves_root(&join_link(&path, target))
            }
            _ => {
                let t = clean(target);
                t.starts_with('/') || leaves_root(&t)
            }
        };
        if escapes {
            let reason = match kind {
                MemberKind::Symlink => UnsafeReason::SymlinkEscape,
                _ => UnsafeReason::HardlinkEscape,
            };
            self.unsafe_members.push(UnsafeEntry {
                path: raw.to_string(),
                reason,
                link_target: Some(target.to_string()),
            });
        }
        self.members.push(MemberReport {
            path,
            kind,
            size: 0,
            digest: None,
            named_digest: None,
            compression: None,
            uncompressed_digest: None,
            uncompressed_size: None,
            buffered: false,
            link_target: Some(target.to_string()),
            resolves_to: None,
            role: None,
            json_error: None,
            decode_error: None,
            tar: None,
        });
    }

    /// Cleans `raw`, recording it as unsafe or duplicate when it is.
    fn note_path(&mut self, raw: &str) -> String {
        let path = clean(raw);
        if let Some(reason) = unsafe_name(raw) {
            self.unsafe_members.push(UnsafeEntry {
                path: raw.to_string(),
                reason,
                link_target: None,
            });
        }
        let count = self.seen.entry(path.clone()).or_insert(0);
        *count += 1;
        if *count == 2 {
            self.duplicate_members.push(path.clone());
        }
        path
    }
}
