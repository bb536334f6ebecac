//! [`ReferenceError`]: every way a reference can be refused, one [`ReferenceErrorKind`] per
//! distinct Go error value, printed exactly as the Go code prints it.
//!
//! The kinds are deliberately as fine as Go's: `repository name must be lowercase` (from
//! `Parse`) and `invalid reference format: repository name (x) must be lowercase` (from
//! `ParseNormalizedNamed`) are different Go errors (`errors.Is` tells them apart), so they are
//! different kinds with different [codes](ReferenceErrorKind::code). Runtimes wrap these errors
//! in their own words (`normalizing name "x": ...`); the wrapping is kept in
//! [`ReferenceError::context`] so that [`Display`](std::fmt::Display) reproduces the runtime's
//! message while the kind stays comparable across runtimes.

use std::fmt::Write as _;

use super::named::REPOSITORY_NAME_TOTAL_LENGTH_MAX;

/// A reference that cannot be parsed, normalized or stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct ReferenceError {
    /// Which Go error this is.
    pub kind: ReferenceErrorKind,
    /// The string given to the public operation that failed (for [`stored`](super::stored),
    /// the reference the image was to be tagged with).
    pub input: String,
    /// Messages wrapped around the error, outermost first, as Go's `fmt.Errorf("...: %w")`
    /// chains print them; empty when the error is returned bare.
    pub context: Vec<String>,
}

impl ReferenceError {
    pub(crate) fn new(kind: ReferenceErrorKind, input: &str) -> Self {
        Self {
            kind,
            input: input.to_string(),
            context: Vec::new(),
        }
    }

    /// Wraps the error in one more message, like Go's `fmt.Errorf("<message>: %w", err)`.
    pub(crate) fn wrap(mut self, message: String) -> Self {
        self.context.insert(0, message);
        self
    }

    /// The message as the Go code prints it, context first.
    pub fn message(&self) -> String {
        let mut out = String::new();
        for c in &self.context {
            let _ = write!(out, "{c}: ");
        }
        out.push_str(&self.kind.message(&self.input));
        out
    }
}

/// One distinct Go error value (or format) from distribution/reference, go-digest, or the
/// runtime code paths that [`stored`](super::stored) models.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReferenceErrorKind {
    /// `reference.ErrReferenceInvalidFormat`: the string does not match the grammar.
    InvalidFormat,
    /// `reference.ErrTagInvalidFormat`, from `WithTag`.
    TagInvalidFormat,
    /// `reference.ErrDigestInvalidFormat`, from `WithDigest`.
    DigestInvalidFormat,
    /// `reference.ErrNameContainsUppercase`: `Parse` failed, but would succeed on the
    /// lower-cased string.
    NameContainsUppercase,
    /// `ParseNormalizedNamed`'s own check that the remote name (the path, up to the first `:`)
    /// is lower case: `invalid reference format: repository name (<remote>) must be
    /// lowercase`. distribution/reference names the remote; docker/distribution v2.8 and
    /// containers/image (the [legacy dialect](super::Dialect::Legacy)) do not (`remote` is
    /// `None`).
    RemoteNameContainsUppercase { remote: Option<String> },
    /// `reference.ErrNameEmpty`.
    NameEmpty,
    /// `reference.ErrNameTooLong`: more than 255 bytes (of the path, or of the whole name in
    /// the legacy dialect).
    NameTooLong,
    /// `reference.ErrNameNotCanonical`, from `ParseNamed`.
    NameNotCanonical,
    /// `ParseNormalizedNamed` refuses a bare 64-hex string: `invalid repository name (<input>),
    /// cannot specify 64-byte hexadecimal strings`.
    HexIdentifier,
    /// go-digest `ErrDigestInvalidFormat`: `invalid checksum digest format`.
    ChecksumDigestInvalidFormat,
    /// go-digest `ErrDigestInvalidLength`: `invalid checksum digest length`.
    ChecksumDigestInvalidLength,
    /// go-digest `ErrDigestUnsupported`: `unsupported digest algorithm`.
    DigestUnsupported,
    /// moby refuses to tag with a reference that has a digest (`client.ImageTag`,
    /// `reference/store.go` `AddTag`): `refusing to create a tag with a digest reference`.
    RefuseDigestTag,
    /// moby refuses a repository whose familiar name is `sha256` (`postImagesTag`,
    /// `reference/store.go` `addReference`): `refusing to create an ambiguous tag using digest
    /// algorithm as name`.
    AmbiguousDigestAlgorithmName,
    /// libimage `errTagDigest` (`Image.Tag`): `tag by digest not supported`.
    TagByDigestUnsupported,
    /// containerd's images service refuses an empty name (`services/images/local.go`
    /// `Create`: gRPC InvalidArgument `Image.Name required`).
    ImageNameRequired,
}

impl ReferenceErrorKind {
    /// A stable kebab-case code for snapshots and classification.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidFormat => "invalid-format",
            Self::TagInvalidFormat => "tag-invalid-format",
            Self::DigestInvalidFormat => "digest-invalid-format",
            Self::NameContainsUppercase => "name-contains-uppercase",
            Self::RemoteNameContainsUppercase { .. } => "remote-name-contains-uppercase",
            Self::NameEmpty => "name-empty",
            Self::NameTooLong => "name-too-long",
            Self::NameNotCanonical => "name-not-canonical",
            Self::HexIdentifier => "hex-identifier",
            Self::ChecksumDigestInvalidFormat => "checksum-digest-invalid-format",
            Self::ChecksumDigestInvalidLength => "checksum-digest-invalid-length",
            Self::DigestUnsupported => "digest-unsupported",
            Self::RefuseDigestTag => "refuse-digest-tag",
            Self::AmbiguousDigestAlgorithmName => "ambiguous-digest-algorithm-name",
            Self::TagByDigestUnsupported => "tag-by-digest-unsupported",
            Self::ImageNameRequired => "image-name-required",
        }
    }

    /// The Go error string, given the input the failing function was called with (only
    /// [`HexIdentifier`](Self::HexIdentifier) quotes it).
    pub fn message(&self, input: &str) -> String {
        match self {
            Self::InvalidFormat => "invalid reference format".into(),
            Self::TagInvalidFormat => "invalid tag format".into(),
            Self::DigestInvalidFormat => "invalid digest format".into(),
            Self::NameContainsUppercase => "repository name must be lowercase".into(),
            Self::RemoteNameContainsUppercase { remote: Some(r) } => {
                format!("invalid reference format: repository name ({r}) must be lowercase")
            }
            Self::RemoteNameContainsUppercase { remote: None } => {
                "invalid reference format: repository name must be lowercase".into()
            }
            Self::NameEmpty => "repository name must have at least one component".into(),
            Self::NameTooLong => format!(
                "repository name must not be more than {REPOSITORY_NAME_TOTAL_LENGTH_MAX} characters"
            ),
            Self::NameNotCanonical => "repository name must be canonical".into(),
            Self::HexIdentifier => format!(
                "invalid repository name ({input}), cannot specify 64-byte hexadecimal strings"
            ),
            Self::ChecksumDigestInvalidFormat => "invalid checksum digest format".into(),
            Self::ChecksumDigestInvalidLength => "invalid checksum digest length".into(),
            Self::DigestUnsupported => "unsupported digest algorithm".into(),
            Self::RefuseDigestTag => "refusing to create a tag with a digest reference".into(),
            Self::AmbiguousDigestAlgorithmName => {
                "refusing to create an ambiguous tag using digest algorithm as name".into()
            }
            Self::TagByDigestUnsupported => "tag by digest not supported".into(),
            Self::ImageNameRequired => "Image.Name required".into(),
        }
    }
}

/// Quotes `s` like Go's `%q` verb (`strconv.Quote`), which the runtimes use in their wrapping
/// messages. Printable characters are kept; `"` and `\` are escaped; control characters use
/// Go's escapes. (Go's notion of "printable" is approximated by `!char::is_control()`.)
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() && (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_printed_outermost_first() {
        let e = ReferenceError::new(ReferenceErrorKind::InvalidFormat, "foo@@bar")
            .wrap("inner".into())
            .wrap("outer".into());
        assert_eq!(e.to_string(), "outer: inner: invalid reference format");
    }

    #[test]
    fn hex_identifier_quotes_the_input() {
        let e = ReferenceError::new(ReferenceErrorKind::HexIdentifier, "abc");
        assert_eq!(
            e.to_string(),
            "invalid repository name (abc), cannot specify 64-byte hexadecimal strings"
        );
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("foo"), "\"foo\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("\t\u{1}\u{7f}"), "\"\\t\\x01\\x7f\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }
}
