//! containers/common `libimage/normalize.go`: how Podman and Buildah normalize the names they
//! store, on top of the [legacy dialect](Dialect::Legacy) (containers/image
//! `docker/reference`).
//!
//! The difference from Docker is deliberate: a short name (no registry domain) is a *local*
//! image, so it is stored as `localhost/<name>` instead of being attributed to Docker Hub.
//! Names that do name a registry are normalized with Docker's rules (`docker.io/foo` ->
//! `docker.io/library/foo`). The code is the same at v0.50.1 (Podman 4.3) and at HEAD
//! f437c58; only an `if !(a || b)` was rewritten as `if !a && !b`.

use super::error::go_quote;
use super::{Dialect, Reference, ReferenceError};

/// The grammar libimage parses with (containers/image `docker/reference`).
const DIALECT: Dialect = Dialect::Legacy;

/// `NormalizeName`: the name Podman stores for `name`. A short name gets `localhost/`;
/// `latest` is added when there is neither tag nor digest; a reference with both a tag and a
/// digest loses the tag.
///
/// Errors from the first `Parse` are wrapped in `normalizing name "<name>"`; errors from
/// `ParseNormalizedNamed` are returned bare, as in Go. (Go's `"%q is not a named reference"`
/// cannot happen: `Parse` always returns a named reference.)
pub fn normalize_name(name: &str) -> Result<Reference, ReferenceError> {
    normalize_name_in(DIALECT, name)
}

/// [`normalize_name`] with another grammar (see [`stored_with`](super::stored_with)).
pub(crate) fn normalize_name_in(dialect: Dialect, name: &str) -> Result<Reference, ReferenceError> {
    let reference = dialect
        .parse(name)
        .map_err(|e| rewrap(e, name).wrap(format!("normalizing name {}", go_quote(name))))?;
    // Enforce "localhost" if needed.
    let registry = reference.domain();
    let normalized_input = if !registry.contains(['.', ':']) && registry != "localhost" {
        to_local_image_name(&reference.to_string())
    } else {
        name.to_string()
    };
    // Another parse, which also normalizes docker.io references (docker.io/alpine ->
    // docker.io/library/alpine).
    let named = dialect
        .parse_normalized_named(&normalized_input)
        .map_err(|e| rewrap(e, name))?;
    if named.tag().is_some() {
        // Strip off the tag of a tagged and digested reference.
        return Ok(normalize_tagged_digested_named(named));
    }
    if named.digest().is_some() {
        return Ok(named);
    }
    // Make sure to tag "latest".
    Ok(named.tag_name_only())
}

/// `toLocalImageName`: `localhost/` prefixed to the name.
fn to_local_image_name(name: &str) -> String {
    format!("localhost/{}", name.trim_start_matches('/'))
}

/// `normalizeTaggedDigestedString`: `s` parsed (not normalized) and, when it has both a tag
/// and a digest, printed without the tag. libimage uses it on lookup input.
pub fn normalize_tagged_digested_string(s: &str) -> Result<String, ReferenceError> {
    let named = DIALECT.parse(s)?;
    Ok(normalize_tagged_digested_named(named).to_string())
}

/// `normalizeTaggedDigestedNamed`: the tag dropped from a reference that also has a digest,
/// "to match Docker behavior". (Go's error path cannot be taken: the digest was valid.)
fn normalize_tagged_digested_named(named: Reference) -> Reference {
    match named.digest() {
        Some(digest) if named.tag().is_some() => named
            .trim_named()
            .with_digest(digest)
            .expect("a parsed digest passes WithDigest"),
        _ => named,
    }
}

/// The error with `input` set to what the caller passed in, keeping kind and context.
fn rewrap(mut e: ReferenceError, input: &str) -> ReferenceError {
    e.input = input.to_string();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_become_local() {
        assert_eq!(
            normalize_name("foo").unwrap().to_string(),
            "localhost/foo:latest"
        );
        assert_eq!(
            normalize_name("user/foo").unwrap().to_string(),
            "localhost/user/foo:latest"
        );
        assert_eq!(
            normalize_name("docker.io/foo").unwrap().to_string(),
            "docker.io/library/foo:latest"
        );
    }

    #[test]
    fn parse_errors_are_wrapped_once_here() {
        let e = normalize_name("FOO").unwrap_err();
        assert_eq!(
            e.to_string(),
            "normalizing name \"FOO\": repository name must be lowercase"
        );
    }
}
