//! The normalizing half of distribution/reference (`normalize.go`, `helpers.go`): Docker's
//! "familiar" names (`ubuntu`) and their canonical form (`docker.io/library/ubuntu`).
//!
//! `ParseNormalizedNamed` decides whether the first path component is a registry: only when it
//! contains `.` or `:`, is `localhost`, or (in the distribution dialect only) has an upper-case
//! letter. Otherwise the whole string is a Docker Hub path and a single component gets
//! `library/`. `index.docker.io` is an alias of `docker.io`. `Familiar()` undoes both
//! rewrites for display.

use std::fmt;

use super::grammar::{anchored_identifier, go_to_lower};
use super::{Dialect, Reference, ReferenceError, ReferenceErrorKind, digest};

/// `legacyDefaultDomain`: Docker Hub's old "index" domain, rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// `defaultDomain`: Docker Hub.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// `officialRepoPrefix`: the namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// `defaultTag`.
pub const DEFAULT_TAG: &str = "latest";
/// `localhost`: always a domain.
const LOCALHOST: &str = "localhost";

/// What `ParseAnyReference` returns: a named reference, or a bare digest (an image ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyReference {
    /// A (normalized) named reference.
    Named(Reference),
    /// Go's `digestReference`: `sha256:<hex>` for a bare 64-hex ID, or any digest go-digest
    /// accepts.
    Digest(String),
}

impl AnyReference {
    /// `FamiliarString`: a digest is printed as is.
    pub fn familiar_string(&self) -> String {
        match self {
            Self::Named(r) => r.familiar_string(),
            Self::Digest(d) => d.clone(),
        }
    }
}

/// `String()`.
impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(r) => r.fmt(f),
            Self::Digest(d) => f.write_str(d),
        }
    }
}

impl Dialect {
    /// `ParseNormalizedNamed`: a familiar name made canonical (`foo` ->
    /// `docker.io/library/foo`). No tag is added. A bare 64-hex string is refused; use
    /// [`parse_any_reference`](Self::parse_any_reference) where it may be an ID.
    pub fn parse_normalized_named(self, s: &str) -> Result<Reference, ReferenceError> {
        let err = |kind| ReferenceError::new(kind, s);
        if anchored_identifier().is_match(s) {
            return Err(err(ReferenceErrorKind::HexIdentifier));
        }
        let (domain, remainder) = split_docker_domain(self, s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if go_to_lower(remote) != remote {
            let remote = (self == Dialect::Distribution).then(|| remote.to_string());
            return Err(err(ReferenceErrorKind::RemoteNameContainsUppercase {
                remote,
            }));
        }
        // `Parse` errors are returned bare, so they carry the input of this function.
        self.parse(&format!("{domain}/{remainder}"))
            .map_err(|e| ReferenceError::new(e.kind, s))
    }

    /// `ParseNamed`: like `ParseNormalizedNamed`, but the input must already be canonical.
    pub fn parse_named(self, s: &str) -> Result<Reference, ReferenceError> {
        let named = self.parse_normalized_named(s)?;
        if named.to_string() != s {
            return Err(ReferenceError::new(ReferenceErrorKind::NameNotCanonical, s));
        }
        Ok(named)
    }

    /// `ParseDockerRef`: normalized, with `:latest` added to a bare name, and the tag dropped
    /// from a reference that has both a tag and a digest.
    pub fn parse_docker_ref(self, s: &str) -> Result<Reference, ReferenceError> {
        let named = self.parse_normalized_named(s)?;
        if let (Some(_), Some(d)) = (named.tag(), named.digest()) {
            // Go re-parses the name with WithName; it was valid a moment ago, so this cannot
            // fail, but the port keeps the call to stay faithful.
            return self
                .with_name(&named.name())?
                .with_digest(d)
                .map_err(|e| ReferenceError::new(e.kind, s));
        }
        Ok(named.tag_name_only())
    }

    /// `ParseAnyReference`: a bare 64-hex string is the ID `sha256:<hex>`; anything go-digest
    /// accepts as a digest is a digest; everything else goes to `ParseNormalizedNamed`.
    pub fn parse_any_reference(self, s: &str) -> Result<AnyReference, ReferenceError> {
        if anchored_identifier().is_match(s) {
            return Ok(AnyReference::Digest(format!("sha256:{s}")));
        }
        if digest::validate(s).is_ok() {
            return Ok(AnyReference::Digest(s.to_string()));
        }
        self.parse_normalized_named(s).map(AnyReference::Named)
    }
}

/// `splitDockerDomain`: the domain (Docker Hub unless the first component looks like a host)
/// and the remainder, with `library/` added to a single-component Docker Hub path. The input
/// is not validated yet; `Parse` does that afterwards.
fn split_docker_domain(dialect: Dialect, name: &str) -> (String, String) {
    let (domain, remote) = match name.split_once('/') {
        // distribution/reference: a single element is a familiar name ("ubuntu",
        // "ubuntu:latest"), never "host:port". The legacy code reaches the same result.
        None => (DEFAULT_DOMAIN, name),
        Some((maybe_domain, maybe_remote)) => {
            let is_domain = maybe_domain == LOCALHOST
                || maybe_domain == LEGACY_DEFAULT_DOMAIN
                || maybe_domain.contains(['.', ':'])
                // Upper case is not allowed in a namespace, so distribution/reference takes
                // such a first element for a domain name; the legacy code does not.
                || (dialect == Dialect::Distribution && go_to_lower(maybe_domain) != maybe_domain);
            if !is_domain {
                (DEFAULT_DOMAIN, name)
            } else if maybe_domain == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN, maybe_remote)
            } else {
                (maybe_domain, maybe_remote)
            }
        }
    };
    // Only on Docker Hub: "docker.io/ubuntu" -> "docker.io/library/ubuntu".
    let remote = if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{remote}")
    } else {
        remote.to_string()
    };
    (domain.to_string(), remote)
}

impl Reference {
    /// `Familiar()` (`familiarizeName`): Docker Hub's domain dropped, and `library/` dropped
    /// from a two-component Docker Hub path.
    pub fn familiar(&self) -> Reference {
        let mut r = self.clone();
        if r.domain() == DEFAULT_DOMAIN {
            let path = match r.path().strip_prefix(OFFICIAL_REPO_PREFIX) {
                // "library/" may only be dropped when no namespace remains under it.
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => r.path().to_string(),
            };
            r.set_name(String::new(), path);
        }
        r
    }

    /// `FamiliarName`: the familiar name without tag or digest (`docker.io/library/foo` ->
    /// `foo`).
    pub fn familiar_name(&self) -> String {
        self.familiar().name()
    }

    /// `FamiliarString`: the familiar name with tag and digest (`foo:latest`).
    pub fn familiar_string(&self) -> String {
        self.familiar().to_string()
    }

    /// `TagNameOnly`: `:latest` added when there is neither tag nor digest.
    pub fn tag_name_only(self) -> Reference {
        if self.is_name_only() {
            self.with_tag(DEFAULT_TAG)
                .expect("the default tag is a valid tag")
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppercase_first_component_is_a_domain_only_in_distribution() {
        let r = Dialect::Distribution
            .parse_normalized_named("Foo/bar")
            .unwrap();
        assert_eq!((r.domain(), r.path()), ("Foo", "bar"));
        let e = Dialect::Legacy
            .parse_normalized_named("Foo/bar")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name must be lowercase"
        );
    }

    #[test]
    fn remote_name_is_quoted_in_the_lowercase_error() {
        let e = Dialect::Distribution
            .parse_normalized_named("FOO")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/FOO) must be lowercase"
        );
    }

    #[test]
    fn familiar_keeps_library_with_nested_namespaces() {
        let r = Dialect::Distribution
            .parse_normalized_named("docker.io/library/foo/bar:v1")
            .unwrap();
        assert_eq!(r.familiar_string(), "library/foo/bar:v1");
    }
}
