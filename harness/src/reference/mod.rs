//! Image references: a port of Go's distribution/reference, and what each runtime stores when
//! an image is tagged with one (R4 in REGRESSIONS.md).
//!
//! # The port
//!
//! [`parse`], [`parse_named`], [`parse_normalized_named`], [`parse_docker_ref`] and
//! [`parse_any_reference`] follow `Parse`, `ParseNamed`, `ParseNormalizedNamed`,
//! `ParseDockerRef` and `ParseAnyReference` of github.com/distribution/reference v0.6.0
//! (behaviour unchanged at HEAD 0965666), including go-digest v1.0.0's digest validation and
//! Go's exact error strings. One [`Reference`] struct stands for Go's `Named`, `Tagged`,
//! `Digested` and `Canonical` interfaces. Every upstream test table is replayed from data
//! files in `tests/data/reference/`.
//!
//! The same rules exist in an older [`Dialect`]: docker/distribution v2.8, vendored by
//! Docker 20.10 to 24 and forked verbatim by containers/image for Podman. It differs in ways
//! that decide outcomes (an upper-case first component, IPv6 hosts, what the 255-byte limit
//! counts), so the port implements both and every parse function exists on [`Dialect`].
//!
//! # Three styles of storing a name
//!
//! Tagging an image with the same string stores different names on purpose ([`stored`]):
//!
//! * [`Style::Docker`]: moby treats every name as a registry reference and fills in Docker
//!   Hub. `ParseNormalizedNamed` decides that the first component is a registry only when it
//!   contains `.` or `:`, is `localhost`, or has an upper-case letter; otherwise `foo` is
//!   `docker.io/library/foo` and `user/foo` is `docker.io/user/foo`. `TagNameOnly` adds
//!   `:latest`. The daemon lists the name as `FamiliarString` (`foo:latest`), and refuses
//!   digests and the name `sha256`.
//! * [`Style::Podman`]: libimage's `NormalizeName` keeps local images local. A name without a
//!   registry domain is stored as `localhost/<name>` (so `foo` and `docker.io/foo` are
//!   different images), a named registry gets Docker's normalization
//!   (`docker.io/foo` -> `docker.io/library/foo`), and the full name is listed.
//! * [`Style::Containerd`]: the image store is a key-value store of names. `validateImage`
//!   (`metadata/images.go`) rejects only an empty name; anything else, even `foo@@bar`, is
//!   stored and listed verbatim. Normalization is left to clients (ctr does none; nerdctl and
//!   the CRI plugin use a copy of distribution/reference).
//!
//! R4 is the Docker rule applied wrongly: prefixing `docker.io/` to `bastion.io/foo:local`,
//! whose first component contains a `.` and is therefore a registry.
//!
//! [`report()`] combines the parse and one style's answer into the `harness ref` row.

mod digest;
mod error;
mod grammar;
mod libimage;
mod matching;
mod named;
mod normalize;
mod report;
mod style;
#[cfg(test)]
mod vectors;

pub use error::{ReferenceError, ReferenceErrorKind};
pub use libimage::{normalize_name, normalize_tagged_digested_string};
pub use matching::{BadPattern, familiar_match, path_match};
pub use named::{Dialect, REPOSITORY_NAME_TOTAL_LENGTH_MAX, Reference};
pub use normalize::{
    AnyReference, DEFAULT_DOMAIN, DEFAULT_TAG, LEGACY_DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX,
};
pub use report::{RefErrorReport, RefReport, render_text, report};
pub use style::{Style, UnknownStyle, stored, stored_with};

/// `reference.Parse`, in the [distribution dialect](Dialect::Distribution).
pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
    Dialect::Distribution.parse(s)
}

/// `reference.ParseNamed`: the input must already be in canonical form.
pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
    Dialect::Distribution.parse_named(s)
}

/// `reference.ParseNormalizedNamed`: a familiar name made canonical, no tag added.
pub fn parse_normalized_named(s: &str) -> Result<Reference, ReferenceError> {
    Dialect::Distribution.parse_normalized_named(s)
}

/// `reference.ParseDockerRef`: normalized, `:latest` added, tag dropped beside a digest.
pub fn parse_docker_ref(s: &str) -> Result<Reference, ReferenceError> {
    Dialect::Distribution.parse_docker_ref(s)
}

/// `reference.ParseAnyReference`: an image ID, a digest, or a normalized name.
pub fn parse_any_reference(s: &str) -> Result<AnyReference, ReferenceError> {
    Dialect::Distribution.parse_any_reference(s)
}

/// `reference.WithName`: a name without tag or digest, not normalized.
pub fn with_name(name: &str) -> Result<Reference, ReferenceError> {
    Dialect::Distribution.with_name(name)
}
