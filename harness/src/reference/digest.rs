//! Digest validation as go-digest v1.0.0 `Digest.Validate` does it, which is what
//! distribution/reference's `Parse` (through `digest.Parse`) and `ParseAnyReference` call.
//!
//! go-digest only validates algorithms that are *available*: registered in its table
//! (`sha256`, `sha384`, `sha512` in v1.0.0) and linked into the binary (`crypto.Hash.Available`).
//! dockerd, podman and containerd all link `crypto/sha256` and `crypto/sha512` (TLS needs
//! them), so this port treats all three as available. Go *tests* that do not import
//! `crypto/sha512` see `sha512` as unsupported; the data files note where that matters.

use std::sync::OnceLock;

use regex::Regex;

use super::ReferenceErrorKind;

/// go-digest `DigestRegexpAnchored`, used only to tell an unsupported algorithm from a
/// malformed digest.
fn digest_regexp_anchored() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new("^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$").expect("valid pattern")
    })
}

/// The hex length of an available algorithm's digests (go-digest `Algorithm.Size() * 2`).
fn hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// go-digest `Digest.Validate` (v1.0.0): the algorithm must be available and the encoded
/// part exactly its length in lower-case hex.
pub(crate) fn validate(s: &str) -> Result<(), ReferenceErrorKind> {
    // `i <= 0 || i+1 == len(s)`: no colon, nothing before it, or nothing after it.
    let (algorithm, encoded) = match s.find(':') {
        Some(i) if i > 0 && i + 1 < s.len() => (&s[..i], &s[i + 1..]),
        _ => return Err(ReferenceErrorKind::ChecksumDigestInvalidFormat),
    };
    let Some(len) = hex_len(algorithm) else {
        return Err(if digest_regexp_anchored().is_match(s) {
            ReferenceErrorKind::DigestUnsupported
        } else {
            ReferenceErrorKind::ChecksumDigestInvalidFormat
        });
    };
    // `Algorithm.Validate`: length first, then `^[a-f0-9]{n}$` (upper-case hex is refused).
    if encoded.len() != len {
        return Err(ReferenceErrorKind::ChecksumDigestInvalidLength);
    }
    if encoded
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(ReferenceErrorKind::ChecksumDigestInvalidFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_go_digest_validate() {
        let hex = "f".repeat(64);
        assert_eq!(validate(&format!("sha256:{hex}")), Ok(()));
        assert_eq!(
            validate(&format!("sha256:{}", "F".repeat(64))),
            Err(ReferenceErrorKind::ChecksumDigestInvalidFormat)
        );
        assert_eq!(
            validate("sha256:ffff"),
            Err(ReferenceErrorKind::ChecksumDigestInvalidLength)
        );
        assert_eq!(
            validate(&format!("md5:{hex}")),
            Err(ReferenceErrorKind::DigestUnsupported)
        );
        assert_eq!(
            validate(&format!("MD5:{hex}")),
            Err(ReferenceErrorKind::ChecksumDigestInvalidFormat)
        );
        for bad in ["", ":", "sha256", "sha256:", ":abc"] {
            assert_eq!(
                validate(bad),
                Err(ReferenceErrorKind::ChecksumDigestInvalidFormat),
                "{bad:?}"
            );
        }
        assert_eq!(validate(&format!("sha512:{}", "a".repeat(128))), Ok(()));
    }
}
