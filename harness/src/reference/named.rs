//! [`Reference`] and the parsing half of distribution/reference (`reference.go`): `Parse`,
//! `WithName`, `WithTag`, `WithDigest`, `TrimNamed`, `Domain`, `Path`.
//!
//! Go models a reference as several interface types (`Named`, `Tagged`, `Digested`,
//! `Canonical`) implemented by four structs chosen by `getBestReferenceType`. One struct with
//! an optional tag and an optional digest carries the same information: Go's `reference`,
//! `taggedReference`, `canonicalReference` and `repository` are the four combinations of
//! `tag`/`digest` being present. Go's fifth type, `digestReference` (a bare digest), only comes
//! out of `ParseAnyReference` and is [`AnyReference::Digest`](super::AnyReference::Digest).
//! `Parse` cannot produce it: the grammar requires a name.

use std::fmt;

use super::grammar::{anchored_digest, anchored_tag, go_to_lower, grammar};
use super::{ReferenceError, ReferenceErrorKind, digest};

/// `RepositoryNameTotalLengthMax`: the longest repository name, in bytes.
pub const REPOSITORY_NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Which Go implementation of the reference rules to follow.
///
/// The two differ on purpose-free details that still decide outcomes:
///
/// | | `Distribution` | `Legacy` |
/// |---|---|---|
/// | bracketed IPv6 hosts (`[::1]:5000/x`) | accepted | refused |
/// | first component with an upper-case letter (`Foo/bar`) | a domain | a path (then refused) |
/// | 255-byte limit applies to | the path | the whole name |
/// | lower-case error names the remote | yes | no |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// github.com/distribution/reference v0.6.0 (the same in behaviour at HEAD 0965666), used
    /// by Docker 28 (client and daemon). v0.5.0, used by Docker 25 to 27, differs only in
    /// counting the domain toward the 255-byte limit.
    #[default]
    Distribution,
    /// github.com/docker/distribution/reference v2.8 (vendored by Docker 20.10 to 24) and its
    /// verbatim fork github.com/containers/image/v5/docker/reference (v5.23.1 in Podman 4.3,
    /// unchanged in behaviour at HEAD df7e80d), which libimage uses.
    Legacy,
}

/// A parsed, named reference: distribution/reference's `Named`, optionally `Tagged` and/or
/// `Digested`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// `Domain(named)`: the registry part, empty when the name has none.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `Path(named)`: the name without the domain.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `repository.Name()`: `domain/path`, or `path` when there is no domain.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// `Tagged.Tag()`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `Digested.Digest()`.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `IsNameOnly`: neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// `WithTag`: the same name (and digest, if any) with `tag`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !anchored_tag().is_match(tag) {
            return Err(ReferenceError::new(
                ReferenceErrorKind::TagInvalidFormat,
                tag,
            ));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// `WithDigest`: the same name (and tag, if any) with `digest`. Like Go, this checks the
    /// digest against the reference grammar only, not go-digest's length rules.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !anchored_digest().is_match(digest) {
            return Err(ReferenceError::new(
                ReferenceErrorKind::DigestInvalidFormat,
                digest,
            ));
        }
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// `TrimNamed`: the name alone, without tag or digest.
    pub fn trim_named(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    pub(crate) fn from_parts(
        domain: &str,
        path: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Self {
        Self {
            domain: domain.to_string(),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    pub(crate) fn set_name(&mut self, domain: String, path: String) {
        self.domain = domain;
        self.path = path;
    }
}

/// `String()`: `name[:tag][@digest]`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl Dialect {
    /// `Parse`: a syntactically valid reference, without any normalization (`foo` stays
    /// `foo`, with an empty domain).
    pub fn parse(self, s: &str) -> Result<Reference, ReferenceError> {
        let err = |kind| ReferenceError::new(kind, s);
        // distribution/reference checks for the empty string first; the legacy code checks it
        // after the match fails. Both return ErrNameEmpty.
        if s.is_empty() {
            return Err(err(ReferenceErrorKind::NameEmpty));
        }
        let g = grammar(self);
        let Some(matches) = g.reference.captures(s) else {
            let lower = go_to_lower(s);
            if lower != s && g.reference.is_match(&lower) {
                // Succeeds when lower-cased, so the input has an upper-case repository name.
                return Err(err(ReferenceErrorKind::NameContainsUppercase));
            }
            return Err(err(ReferenceErrorKind::InvalidFormat));
        };
        let name = matches.get(1).map_or("", |m| m.as_str());
        if self == Dialect::Legacy && name.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(err(ReferenceErrorKind::NameTooLong));
        }
        let (domain, path) = split_domain(self, name);
        if self == Dialect::Distribution && path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(err(ReferenceErrorKind::NameTooLong));
        }
        // An empty capture is "no tag" / "no digest" (getBestReferenceType).
        let tag = matches.get(2).map(|m| m.as_str()).filter(|t| !t.is_empty());
        let digest = matches.get(3).map(|m| m.as_str()).filter(|d| !d.is_empty());
        if let Some(d) = digest {
            digest::validate(d).map_err(err)?;
        }
        Ok(Reference::from_parts(domain, path, tag, digest))
    }

    /// `WithName`: a name without tag or digest.
    pub fn with_name(self, name: &str) -> Result<Reference, ReferenceError> {
        let err = |kind| ReferenceError::new(kind, name);
        // The legacy code checks the length of the whole name before matching.
        if self == Dialect::Legacy && name.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(err(ReferenceErrorKind::NameTooLong));
        }
        let Some(m) = grammar(self).anchored_name.captures(name) else {
            return Err(err(ReferenceErrorKind::InvalidFormat));
        };
        let domain = m.get(1).map_or("", |m| m.as_str());
        let path = m.get(2).map_or("", |m| m.as_str());
        if self == Dialect::Distribution && path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(err(ReferenceErrorKind::NameTooLong));
        }
        Ok(Reference::from_parts(domain, path, None, None))
    }
}

/// `splitDomain` (as used by `Parse`): the domain and path captured by `anchoredNameRegexp`,
/// or no domain and the whole name when it does not match.
fn split_domain(dialect: Dialect, name: &str) -> (&str, &str) {
    match grammar(dialect).anchored_name.captures(name) {
        Some(m) => (
            m.get(1).map_or("", |m| m.as_str()),
            m.get(2).map_or("", |m| m.as_str()),
        ),
        None => ("", name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_the_first_component_as_domain_without_normalizing() {
        let r = Dialect::Distribution.parse("library/foo:v1").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("library", "foo", Some("v1"))
        );
        let r = Dialect::Distribution.parse("foo").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.name()),
            ("", "foo", "foo".to_string())
        );
    }

    #[test]
    fn legacy_length_limit_counts_the_domain() {
        let input = format!("example.com/{}", "a".repeat(250));
        assert!(Dialect::Distribution.parse(&input).is_ok());
        assert_eq!(
            Dialect::Legacy.parse(&input).unwrap_err().kind,
            ReferenceErrorKind::NameTooLong
        );
    }

    #[test]
    fn legacy_refuses_ipv6_hosts() {
        assert!(Dialect::Distribution.parse("[::1]:5000/repo").is_ok());
        assert_eq!(
            Dialect::Legacy.parse("[::1]:5000/repo").unwrap_err().kind,
            ReferenceErrorKind::InvalidFormat
        );
    }

    #[test]
    fn with_tag_keeps_the_digest() {
        let r = Dialect::Distribution
            .with_name("test.com:8000/foo")
            .unwrap()
            .with_digest("sha256:1234567890098765432112345667890098765")
            .unwrap()
            .with_tag("TAG5")
            .unwrap();
        assert_eq!(
            r.to_string(),
            "test.com:8000/foo:TAG5@sha256:1234567890098765432112345667890098765"
        );
    }
}
