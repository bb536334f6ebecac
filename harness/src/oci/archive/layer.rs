//! The walk over a layer's own tar entries ([`TarScan`]), run on the decompressed stream
//! while it is being hashed, so a layer is read once for its digest, its DiffID and its
//! safety checks together.
//!
//! What counts as unsafe follows what extractors guard against: Go's `archive/tar`
//! `ErrInsecurePath` (absolute names, `..` escapes), moby's `pkg/archive` `createTarFile`
//! (hard-link targets outside the root, "breakout" through symlinks written earlier in the
//! same tar). A symlink with an absolute target is normal in a root file system
//! (`/usr/bin/sh -> /bin/busybox`) and is not reported; one whose relative target climbs out
//! of the root is (runtimes resolve it inside the root, so the oracle makes it a warning), and
//! an entry written through any symlink of the same tar is an error.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read};

use crate::oci::archive::path::{clean, dir, join_link, leaves_root, unsafe_name};
use crate::oci::archive::{TarScan, UnsafeEntry, UnsafeReason};

/// How many unsafe and duplicate entries a scan lists; the rest are only counted, so a
/// hostile layer cannot grow the report.
pub(crate) const LIST_LIMIT: usize = 32;

/// Walks the tar entries of `input`, reading every entry's data through `buf`, and returns
/// the scan and the reader (positioned after the end-of-archive marker, or wherever the
/// walk stopped; the caller drains the rest so every byte is hashed).
///
/// Seen paths are kept as 128-bit hashes, so memory grows with the entry count by 16 bytes
/// per entry, not with path lengths or data. Symlink paths are kept whole (to find entries
/// written through them); layers hold few.
pub(crate) fn walk_tar<R: Read>(input: R, buf: &mut [u8]) -> (TarScan, R) {
    let mut archive = tar::Archive::new(crate::oci::archive::guard::HeaderGuard::new(input));
    let mut walk = Walk::default();
    if let Err(e) = walk.run(&mut archive, buf) {
        walk.scan.error = Some(e.to_string());
    }
    (walk.scan, archive.into_inner().into_inner())
}

#[derive(Default)]
struct Walk {
    scan: TarScan,
    /// Hashes of paths seen, and whether that path was a directory.
    seen: HashMap<u128, bool>,
    symlinks: HashSet<String>,
}

impl Walk {
    fn run<R: Read>(&mut self, archive: &mut tar::Archive<R>, buf: &mut [u8]) -> io::Result<()> {
        for entry in archive.entries()? {
            let mut entry = entry?;
            self.scan.entries += 1;
            let raw = crate::oci::archive::path::name_text(&entry.path_bytes());
            let kind = entry.header().entry_type();
            let link = entry
                .link_name_bytes()
                .map(|l| crate::oci::archive::path::name_text(&l));
            self.check(&raw, kind, link.as_deref());
            while entry.read(buf)? > 0 {}
        }
        Ok(())
    }

    fn check(&mut self, raw: &str, kind: tar::EntryType, link: Option<&str>) {
        let path = clean(raw);
        if path == "." || path == "/" {
            return;
        }
        if let Some(reason) = unsafe_name(raw) {
            self.unsafe_entry(raw, reason, None);
        } else if let Some(parent) = self.symlink_parent(&path) {
            let parent = parent.to_string();
            self.unsafe_entry(raw, UnsafeReason::ThroughSymlink, Some(parent));
        }
        match (kind, link) {
            (tar::EntryType::Link, Some(target)) => {
                let t = clean(target);
                if t.starts_with('/') || leaves_root(&t) {
                    self.unsafe_entry(raw, UnsafeReason::HardlinkEscape, Some(target.into()));
                }
            }
            (tar::EntryType::Symlink, Some(target)) => {
                if !target.starts_with('/') && leaves_root(&join_link(&path, target)) {
                    self.unsafe_entry(raw, UnsafeReason::SymlinkEscape, Some(target.into()));
                }
                self.symlinks.insert(path.clone());
            }
            _ => {
                self.symlinks.remove(&path);
            }
        }
        let is_dir = kind.is_dir();
        if let Some(was_dir) = self.seen.insert(path_hash(&path), is_dir)
            && !(was_dir && is_dir)
        {
            if self.scan.duplicate_entries.len() < LIST_LIMIT {
                self.scan.duplicate_entries.push(path);
            } else {
                self.scan.omitted += 1;
            }
        }
    }

    /// The nearest proper prefix of `path` that is a symlink written earlier.
    fn symlink_parent<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.symlinks.is_empty() {
            return None;
        }
        let mut p = dir(path);
        while !p.is_empty() {
            if self.symlinks.contains(p) {
                return Some(p);
            }
            p = dir(p);
        }
        None
    }

    fn unsafe_entry(&mut self, raw: &str, reason: UnsafeReason, link_target: Option<String>) {
        if self.scan.unsafe_entries.len() < LIST_LIMIT {
            self.scan.unsafe_entries.push(UnsafeEntry {
                path: raw.to_string(),
                reason,
                link_target,
            });
        } else {
            self.scan.omitted += 1;
        }
    }
}

/// A 128-bit hash of a path: two SipHash runs with different fixed keys (deterministic, so
/// a collision, at odds of about n²/2¹²⁹, would at least be reproducible).
fn path_hash(path: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        path.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::testutil::{TarEntry, raw_tar};

    fn scan(entries: &[(&str, TarEntry)]) -> TarScan {
        let bytes = raw_tar(entries);
        let mut buf = vec![0; 4096];
        walk_tar(bytes.as_slice(), &mut buf).0
    }

    fn reasons(s: &TarScan) -> Vec<(&str, UnsafeReason)> {
        s.unsafe_entries
            .iter()
            .map(|u| (u.path.as_str(), u.reason))
            .collect()
    }

    #[test]
    fn clean_layer_has_no_findings() {
        let s = scan(&[
            ("./", TarEntry::Dir),
            ("etc/", TarEntry::Dir),
            ("etc/hello", TarEntry::file("hi")),
            ("bin/sh", TarEntry::Symlink("/bin/busybox".into())),
            ("lib", TarEntry::Symlink("usr/lib".into())),
            ("usr/lib/x", TarEntry::file("")),
            ("etc/hi", TarEntry::Hardlink("etc/hello".into())),
            ("etc/", TarEntry::Dir),
        ]);
        assert_eq!(s.entries, 8);
        assert_eq!(s.error, None);
        assert!(s.unsafe_entries.is_empty(), "{:?}", s.unsafe_entries);
        assert!(s.duplicate_entries.is_empty(), "{:?}", s.duplicate_entries);
    }

    #[test]
    fn every_unsafe_reason_is_found() {
        let s = scan(&[
            ("/etc/passwd", TarEntry::file("x")),
            ("a/../../x", TarEntry::file("x")),
            ("h", TarEntry::Hardlink("../../etc/shadow".into())),
            ("h2", TarEntry::Hardlink("/etc/shadow".into())),
            ("usr/s", TarEntry::Symlink("../../../etc".into())),
            ("usr/s/passwd", TarEntry::file("x")),
        ]);
        assert_eq!(
            reasons(&s),
            [
                ("/etc/passwd", UnsafeReason::Absolute),
                ("a/../../x", UnsafeReason::ParentEscape),
                ("h", UnsafeReason::HardlinkEscape),
                ("h2", UnsafeReason::HardlinkEscape),
                ("usr/s", UnsafeReason::SymlinkEscape),
                ("usr/s/passwd", UnsafeReason::ThroughSymlink),
            ]
        );
        assert_eq!(s.unsafe_entries[5].link_target.as_deref(), Some("usr/s"));
    }

    #[test]
    fn duplicates_are_found_once_per_repeat_and_capped() {
        let s = scan(&[
            ("a", TarEntry::file("1")),
            ("./a", TarEntry::file("2")),
            ("d/", TarEntry::Dir),
            ("d", TarEntry::file("now a file")),
        ]);
        assert_eq!(s.duplicate_entries, ["a", "d"]);

        let names: Vec<String> = (0..LIST_LIMIT + 5).map(|i| format!("f{i}")).collect();
        let mut entries: Vec<(&str, TarEntry)> = Vec::new();
        for n in &names {
            entries.push((n, TarEntry::file("")));
            entries.push((n, TarEntry::file("")));
        }
        let s = scan(&entries);
        assert_eq!(s.duplicate_entries.len(), LIST_LIMIT);
        assert_eq!(s.omitted, 5);
    }

    #[test]
    fn corrupt_tar_stops_the_walk_with_an_error() {
        let mut bytes = raw_tar(&[("a", TarEntry::file("1")), ("b", TarEntry::file("2"))]);
        bytes[1024] ^= 0xff; // the second header
        let mut buf = vec![0; 64];
        let (s, rest) = walk_tar(bytes.as_slice(), &mut buf);
        assert_eq!(s.entries, 1);
        assert!(s.error.unwrap().contains("checksum"));
        assert!(rest.len() < bytes.len());
    }
}
