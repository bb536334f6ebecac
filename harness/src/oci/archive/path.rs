//! Member paths: Go's `path.Clean` (what containerd's `ImportIndex` and containers/image's
//! `findTarComponent` apply to header names before comparing them), escape checks, and the
//! digest a member's name claims.

use crate::oci::Digest;
use crate::oci::archive::UnsafeReason;

/// Go's `path.Clean`: drops empty and `.` components, resolves `..` lexically (keeping
/// leading `..` of a relative path), keeps a leading `/`; `""` becomes `.`.
pub(crate) fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The directory part of a cleaned path (`a/b` -> `a`, `b` -> ``).
pub(crate) fn dir(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

/// `target` of a symlink at `link`, resolved lexically from the link's directory.
pub(crate) fn join_link(link: &str, target: &str) -> String {
    if target.starts_with('/') {
        return clean(target);
    }
    let d = dir(link);
    if d.is_empty() {
        clean(target)
    } else {
        clean(&format!("{d}/{target}"))
    }
}

/// A cleaned path that leaves the root (`..` or `../x`).
pub(crate) fn leaves_root(cleaned: &str) -> bool {
    cleaned == ".." || cleaned.starts_with("../")
}

/// Why the entry name `raw` is unsafe to extract, if it is.
pub(crate) fn unsafe_name(raw: &str) -> Option<UnsafeReason> {
    let cleaned = clean(raw);
    if cleaned.starts_with('/') {
        Some(UnsafeReason::Absolute)
    } else if leaves_root(&cleaned) {
        Some(UnsafeReason::ParentEscape)
    } else {
        None
    }
}

/// The digest a member's path claims: `blobs/sha256/<hex>` (OCI layouts), and at the top
/// level `<hex>.json` (Docker <= 24 configs, named by image ID) and `<hex>.tar` (Podman and
/// skopeo layer files, named by blob digest; containers/image `physicalLayerPath`).
pub(crate) fn named_digest(cleaned: &str) -> Option<Digest> {
    let hex = if let Some(hex) = cleaned.strip_prefix("blobs/sha256/") {
        hex
    } else if !cleaned.contains('/') {
        cleaned
            .strip_suffix(".json")
            .or_else(|| cleaned.strip_suffix(".tar"))?
    } else {
        return None;
    };
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// The member path of a blob in an OCI layout.
pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// An archive name as text: valid UTF-8 as it is, every byte that is not shown as `\xNN`, so
/// two different names never become one (a lossy decoding turned distinct invalid names into
/// the same replacement characters and so into a false `duplicate-entry`).
pub(crate) fn name_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_follows_go_path_clean() {
        // Cases from Go's path/path_test.go cleantests.
        let table = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("./abc", "abc"),
            ("/./abc/def/", "/abc/def"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ];
        for (input, want) in table {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn links_resolve_from_their_directory() {
        assert_eq!(join_link("abc/layer.tar", "../123.tar"), "123.tar");
        assert_eq!(join_link("layer.tar", "x/y"), "x/y");
        assert_eq!(join_link("a/b", "/etc/passwd"), "/etc/passwd");
        assert_eq!(join_link("a/b", "../../x"), "../x");
    }

    #[test]
    fn unsafe_names() {
        assert_eq!(unsafe_name("/etc/passwd"), Some(UnsafeReason::Absolute));
        assert_eq!(unsafe_name("../x"), Some(UnsafeReason::ParentEscape));
        assert_eq!(unsafe_name("a/../../x"), Some(UnsafeReason::ParentEscape));
        assert_eq!(unsafe_name("a/../x"), None);
        assert_eq!(unsafe_name("./a"), None);
    }

    #[test]
    fn names_that_claim_digests() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d = Digest::parse(hex).unwrap();
        assert_eq!(
            named_digest(&format!("blobs/sha256/{hex}")),
            Some(d.clone())
        );
        assert_eq!(named_digest(&format!("{hex}.json")), Some(d.clone()));
        assert_eq!(named_digest(&format!("{hex}.tar")), Some(d.clone()));
        assert_eq!(named_digest(&format!("{hex}/layer.tar")), None);
        assert_eq!(named_digest(&format!("x/{hex}.json")), None);
        assert_eq!(named_digest("blobs/sha256/abc"), None);
        assert_eq!(named_digest("manifest.json"), None);
        assert_eq!(blob_path(&d), format!("blobs/sha256/{hex}"));
    }
}
