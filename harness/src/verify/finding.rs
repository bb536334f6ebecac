//! [`Finding`]: one oracle's verdict on one member or descriptor, with a stable code.

use serde::Serialize;

/// How bad a finding is. `harness inspect` exits 1 when any finding is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A loader fails on it, or loads something other than what the archive claims.
    Error,
    /// Some loaders, versions or tools handle it differently or badly.
    Warning,
    /// A fact worth knowing (a trait of one producer that broke readers before).
    Info,
}

impl Severity {
    /// The stable name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The stable finding codes; the table in [the module doc](crate::verify) explains each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCode {
    BlobMissing,
    MemberMissing,
    DigestMismatch,
    SizeMismatch,
    DiffidMismatch,
    LayerCountMismatch,
    IndexManifestsNull,
    ManifestJsonNull,
    ManifestJsonIndexDisagree,
    RefNameTagOnly,
    MediaTypeCompressionMismatch,
    UnknownMediaType,
    NonstandardMediaType,
    LayerSourcesUncompressed,
    UnsafePath,
    DuplicateEntry,
    InvalidJson,
    JsonTooLarge,
    LayerUnreadable,
    LinkUnresolved,
    OciLayoutMissing,
    IndexJsonMissing,
    BadOciLayoutVersion,
    PlatformMissing,
    UnrecognizedLayout,
    IndexCycle,
    IndexGraphTruncated,
}

impl FindingCode {
    /// Every code, in table order.
    pub const ALL: [FindingCode; 27] = [
        FindingCode::BlobMissing,
        FindingCode::MemberMissing,
        FindingCode::DigestMismatch,
        FindingCode::SizeMismatch,
        FindingCode::DiffidMismatch,
        FindingCode::LayerCountMismatch,
        FindingCode::IndexManifestsNull,
        FindingCode::ManifestJsonNull,
        FindingCode::ManifestJsonIndexDisagree,
        FindingCode::RefNameTagOnly,
        FindingCode::MediaTypeCompressionMismatch,
        FindingCode::UnknownMediaType,
        FindingCode::NonstandardMediaType,
        FindingCode::LayerSourcesUncompressed,
        FindingCode::UnsafePath,
        FindingCode::DuplicateEntry,
        FindingCode::InvalidJson,
        FindingCode::JsonTooLarge,
        FindingCode::LayerUnreadable,
        FindingCode::LinkUnresolved,
        FindingCode::OciLayoutMissing,
        FindingCode::IndexJsonMissing,
        FindingCode::BadOciLayoutVersion,
        FindingCode::PlatformMissing,
        FindingCode::UnrecognizedLayout,
        FindingCode::IndexCycle,
        FindingCode::IndexGraphTruncated,
    ];

    /// The stable kebab-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::BlobMissing => "blob-missing",
            FindingCode::MemberMissing => "member-missing",
            FindingCode::DigestMismatch => "digest-mismatch",
            FindingCode::SizeMismatch => "size-mismatch",
            FindingCode::DiffidMismatch => "diffid-mismatch",
            FindingCode::LayerCountMismatch => "layer-count-mismatch",
            FindingCode::IndexManifestsNull => "index-manifests-null",
            FindingCode::ManifestJsonNull => "manifest-json-null",
            FindingCode::ManifestJsonIndexDisagree => "manifest-json-index-disagree",
            FindingCode::RefNameTagOnly => "ref-name-tag-only",
            FindingCode::MediaTypeCompressionMismatch => "media-type-compression-mismatch",
            FindingCode::UnknownMediaType => "unknown-media-type",
            FindingCode::NonstandardMediaType => "nonstandard-media-type",
            FindingCode::LayerSourcesUncompressed => "layer-sources-uncompressed",
            FindingCode::UnsafePath => "unsafe-path",
            FindingCode::DuplicateEntry => "duplicate-entry",
            FindingCode::InvalidJson => "invalid-json",
            FindingCode::JsonTooLarge => "json-too-large",
            FindingCode::LayerUnreadable => "layer-unreadable",
            FindingCode::LinkUnresolved => "link-unresolved",
            FindingCode::OciLayoutMissing => "oci-layout-missing",
            FindingCode::IndexJsonMissing => "index-json-missing",
            FindingCode::BadOciLayoutVersion => "bad-oci-layout-version",
            FindingCode::PlatformMissing => "platform-missing",
            FindingCode::UnrecognizedLayout => "unrecognized-layout",
            FindingCode::IndexCycle => "index-cycle",
            FindingCode::IndexGraphTruncated => "index-graph-truncated",
        }
    }

    /// The severity a finding with this code has unless its context says otherwise (the
    /// table in the module doc lists the exceptions).
    pub fn default_severity(self) -> Severity {
        match self {
            FindingCode::RefNameTagOnly
            | FindingCode::UnknownMediaType
            | FindingCode::NonstandardMediaType
            | FindingCode::PlatformMissing
            | FindingCode::IndexGraphTruncated => Severity::Warning,
            FindingCode::LayerSourcesUncompressed => Severity::Info,
            _ => Severity::Error,
        }
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One oracle's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The stable code.
    pub code: FindingCode,
    pub severity: Severity,
    /// What is wrong and who it breaks, in a sentence.
    pub message: String,
    /// The archive member (`blobs/sha256/<hex>`, `manifest.json`) or descriptor
    /// (`manifest sha256:<hex> layers[0]`, `index.json manifests[0]`) it is about.
    pub subject: String,
}

impl Finding {
    /// A finding with the code's default severity.
    pub fn new(code: FindingCode, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.default_severity(),
            message: message.into(),
            subject: subject.into(),
        }
    }

    /// The same finding with another severity.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_names() {
        let mut names = std::collections::HashSet::new();
        for code in FindingCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            assert!(names.insert(code.as_str()), "{code} listed twice");
        }
        assert_eq!(serde_json::to_value(Severity::Warning).unwrap(), "warning");
        assert!(Severity::Error < Severity::Warning && Severity::Warning < Severity::Info);
    }
}
