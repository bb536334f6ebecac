//! [`Style`] and [`stored`]: what Docker, Podman and containerd record when an image is tagged
//! with a given string, following each runtime's own tag code path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::go_quote;
use super::{Dialect, ReferenceError, ReferenceErrorKind, libimage};

/// A family of runtimes that store image names the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// moby: Docker Hub normalization, listed in the familiar form.
    Docker,
    /// libimage: short names are local (`localhost/`), listed in full.
    Podman,
    /// containerd's image store: names verbatim.
    Containerd,
}

impl Style {
    /// Every style, in a stable order.
    pub const ALL: [Style; 3] = [Style::Docker, Style::Podman, Style::Containerd];

    /// The lower-case name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Docker => "docker",
            Style::Podman => "podman",
            Style::Containerd => "containerd",
        }
    }

    /// The reference grammar [`stored`] uses for this style: Docker 28's
    /// [`Distribution`](Dialect::Distribution) and libimage's [`Legacy`](Dialect::Legacy).
    /// `None` for containerd, whose store parses nothing.
    pub fn dialect(self) -> Option<Dialect> {
        match self {
            Style::Docker => Some(Dialect::Distribution),
            Style::Podman => Some(Dialect::Legacy),
            Style::Containerd => None,
        }
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A style name that is not one of `docker`, `podman`, `containerd`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reference style {0:?} (expected docker, podman or containerd)")]
pub struct UnknownStyle(pub String);

impl FromStr for Style {
    type Err = UnknownStyle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Style::ALL
            .into_iter()
            .find(|style| style.as_str() == s)
            .ok_or_else(|| UnknownStyle(s.to_string()))
    }
}

/// What a runtime of this style records, as it then lists it, when an image is tagged with
/// `input`; or how it refuses.
///
/// * Docker, modelled on `docker tag` in Docker 28: moby `client.ImageTag` (parse with
///   `ParseNormalizedNamed`, refuse a digest, add `:latest` with `TagNameOnly`), then the
///   daemon's `postImagesTag` (refuse the familiar name `sha256`) and reference store. The
///   result is `FamiliarString`, which is how `daemon/images/image_list.go` (and
///   `daemon/containerd/image_list.go`) list `RepoTags`: `docker.io/library/foo:latest` is
///   listed as `foo:latest`. Parse errors carry the client's wrapping (`Error parsing
///   reference: "x" is not a valid repository/tag`).
/// * Podman, modelled on libimage `Image.Tag` (c/common v0.50.1, Podman 4.3): refuse input
///   starting with `sha256:`, [`normalize_name`](super::normalize_name), refuse a digest, then
///   store `String()` of the result, which is also how it is listed.
/// * containerd: the input verbatim. The metadata store's `validateImage` only rejects an
///   empty name (its other checks are of labels and the target); the images gRPC service
///   refuses it first with `Image.Name required`.
///
/// Other entry points reach the same stores with different outcomes, which this function
/// does not model:
///
/// * Docker's HTTP API (`POST /images/{name}/tag?repo=&tag=`) skips the client: a `repo` with
///   a digest is refused by Docker 28's `RepoTagReference` as `cannot import digest
///   reference`, and a daemon older than 25 parses `repo` with the legacy grammar.
/// * Podman's libpod API (`/libpod/images/{name}/tag`, handled by `compat.TagImage`) tags
///   with `repo + ":" + tag`, `tag` defaulting to `latest`, so a `repo` that already has a
///   digest becomes an invalid reference; an empty `repo` is refused before libimage with
///   `repo parameter is required to tag an image`.
/// * Podman's Docker-compatible API (`/images/{name}/tag` without `/libpod`) first applies
///   `NormalizeToDockerHub` when `compat_api_enforce_docker_hub` is set (the default), so
///   there `foo` is stored as `docker.io/library/foo:latest`, as Docker would.
pub fn stored(style: Style, input: &str) -> Result<String, ReferenceError> {
    match style.dialect() {
        Some(dialect) => stored_with(style, dialect, input),
        None => containerd_stored(input),
    }
}

/// [`stored`] with another reference grammar for the Docker style: [`Dialect::Legacy`]
/// models Docker 20.10 to 24, whose daemon vendors docker/distribution v2.8 (so `Foo/bar` is
/// refused and `[::1]:5000/x` is invalid). For Podman, `Legacy` is what libimage uses and
/// `Distribution` is hypothetical; containerd ignores the dialect.
pub fn stored_with(style: Style, dialect: Dialect, input: &str) -> Result<String, ReferenceError> {
    match style {
        Style::Docker => docker_stored(dialect, input),
        Style::Podman => podman_stored(dialect, input),
        Style::Containerd => containerd_stored(input),
    }
}

/// moby `client.ImageTag` (v28.2.2) followed by the daemon's `postImagesTag` and
/// `reference/store.go` `AddTag`.
fn docker_stored(dialect: Dialect, input: &str) -> Result<String, ReferenceError> {
    let named = dialect.parse_normalized_named(input).map_err(|e| {
        e.wrap(format!(
            "Error parsing reference: {} is not a valid repository/tag",
            go_quote(input)
        ))
    })?;
    if named.digest().is_some() {
        return Err(ReferenceError::new(
            ReferenceErrorKind::RefuseDigestTag,
            input,
        ));
    }
    let named = named.tag_name_only();
    // `digest.Canonical`: a repository named "sha256" would read like a digest.
    if named.familiar_name() == "sha256" {
        return Err(ReferenceError::new(
            ReferenceErrorKind::AmbiguousDigestAlgorithmName,
            input,
        ));
    }
    Ok(named.familiar_string())
}

/// libimage `Image.Tag` (c/common v0.50.1; the same at HEAD apart from using `AddNames`).
fn podman_stored(dialect: Dialect, input: &str) -> Result<String, ReferenceError> {
    let tag_by_digest = || {
        ReferenceError::new(ReferenceErrorKind::TagByDigestUnsupported, input)
            .wrap(input.to_string())
    };
    // Ambiguous input: it could be an image ID.
    if input.starts_with("sha256:") {
        return Err(tag_by_digest());
    }
    let named = libimage::normalize_name_in(dialect, input)
        .map_err(|e| e.wrap(format!("normalizing name {}", go_quote(input))))?;
    if named.digest().is_some() {
        return Err(tag_by_digest());
    }
    Ok(named.to_string())
}

/// containerd `services/images/local.go` `Create` and `metadata/images.go` `validateImage`.
fn containerd_stored(input: &str) -> Result<String, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::new(
            ReferenceErrorKind::ImageNameRequired,
            input,
        ));
    }
    Ok(input.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_names_round_trip() {
        for style in Style::ALL {
            assert_eq!(style.as_str().parse::<Style>(), Ok(style));
            assert_eq!(
                serde_json::to_string(&style).unwrap(),
                format!("\"{}\"", style.as_str())
            );
        }
        assert!("Docker".parse::<Style>().is_err());
    }

    #[test]
    fn docker_20_10_refuses_an_uppercase_namespace() {
        assert_eq!(stored(Style::Docker, "Foo/bar").unwrap(), "Foo/bar:latest");
        let e = stored_with(Style::Docker, Dialect::Legacy, "Foo/bar").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error parsing reference: \"Foo/bar\" is not a valid repository/tag: \
             invalid reference format: repository name must be lowercase"
        );
    }
}
