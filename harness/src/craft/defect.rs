//! Deliberate defects: the spec's `defects:` list ([`DefectSpec`]) and what was applied
//! ([`AppliedDefect`]).
//!
//! Each defect is built to provoke one finding code of the archive reader, the one it is
//! named after ([`DefectKind::code`]), and nothing else a reader can avoid reporting, so
//! readers and runtimes can be tested against archives that are wrong in one known way. (A
//! reader may still report consequences it cannot check past: a missing config hides its
//! DiffIDs.) Each is one line of YAML:
//!
//! ```yaml
//! defects:
//!   - blob-missing: config                # or manifest, index, attestation, layer N
//!   - blob-missing: linux/arm64 layer 1   # a platform first; default the primary one
//!   - digest-mismatch: layer 0            # stored and referenced under a wrong digest
//!   - size-mismatch: manifest             # descriptors claim one byte more
//!   - diffid-mismatch: layer 0            # config lists the compressed digest (R2)
//!   - layer-count-mismatch                # config lists one DiffID fewer than the manifest
//!   - index-manifests-null                # index.json "manifests": null (moby#47210)
//!   - manifest-layers-reordered           # OCI manifest lists layers top first (moby#47150)
//!   - manifest-layers-empty               # OCI manifest lists no layers (moby#47065)
//!   - manifest-json-index-disagree        # manifest.json names another config
//!   - media-type-compression-mismatch: layer 1
//!   - unsafe-path: {layer: 0, path: ../escape}   # or an absolute path
//!   - duplicate-entry: manifest.json      # a file or a blob, written twice
//!   - invalid-json: index.json            # a file or a JSON blob, truncated
//! ```
//!
//! Targets name archive files (`index.json`, `manifest.json`, `oci-layout`, `repositories`)
//! or blobs by their role (`[os/arch[/variant]] index|manifest|config|attestation|layer N`,
//! where `layer N` is the Nth layer of that platform's image, bottom first; platforms share
//! layer blobs, so a defect on a layer's blob shows wherever it is used). Whether a target
//! exists in the layout, and whether defects combine, is checked in
//! [`plan`](super::plan) with errors naming `defects[i]`.
//!
//! Defects on blobs are applied while the blobs are built, so everything that references a
//! blob agrees with what was done to it: a renamed blob is referenced under its wrong name
//! (only the content check fails) and a truncated JSON blob is named by the digest of the
//! truncated bytes (only the parse fails).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One defect as the spec writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum DefectSpec {
    /// The target blob is not in the archive.
    BlobMissing(Target),
    /// The target blob is stored, and referenced, under a digest its content does not have.
    DigestMismatch(Target),
    /// Every descriptor of the target blob claims one byte more than it has.
    SizeMismatch(Target),
    /// The config's DiffID for a compressed layer is the digest of the compressed blob, as
    /// Podman's `tarball:` transport wrote for non-gzip input (R2, podman#25593).
    DiffidMismatch(Target),
    /// The primary image's config lists one DiffID fewer than its manifest lists layers.
    LayerCountMismatch,
    /// `index.json` has `"manifests": null`, as Docker 25.0.0 to 25.0.2 wrote when saving by
    /// ID (moby#47210).
    IndexManifestsNull,
    /// The primary image's OCI manifest lists its layers in reverse order, while the config's
    /// `rootfs.diff_ids` (and `manifest.json`) keep the apply order: what Docker 25.0.0's save
    /// wrote (moby#47150, fixed in 25.0.1 by moby#47160), which `ctr import` refuses with
    /// "wrong diff id calculated on extraction". Needs two layers or more.
    ManifestLayersReordered,
    /// The primary image's OCI manifest has `"layers": []` while the config (and
    /// `manifest.json`) list every layer: Docker 25's pre-release save (moby#47065).
    ManifestLayersEmpty,
    /// `manifest.json` names a config other than the one the `index.json` manifest names: a
    /// copy with one label added, stored next to it.
    ManifestJsonIndexDisagree,
    /// Descriptors give a layer a media type whose compression its bytes do not have.
    MediaTypeCompressionMismatch(Target),
    /// A layer holds an entry whose path escapes the root.
    UnsafePath(UnsafePathSpec),
    /// The target archive member is written twice, identically.
    DuplicateEntry(Target),
    /// The target JSON file or blob is cut to half its length.
    InvalidJson(Target),
}

/// `unsafe-path: {layer: N, path: P}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsafePathSpec {
    /// The index in `layers` of the layer that gets the entry; default 0.
    #[serde(default)]
    pub layer: usize,
    /// A path with a `..` component or a leading `/`; default `../escape`.
    #[serde(default = "default_unsafe_path")]
    pub path: String,
}

fn default_unsafe_path() -> String {
    "../escape".to_string()
}

/// What a defect is aimed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// A file at the archive root.
    File(ArchiveFile),
    /// A blob by role; `platform` defaults to the primary platform.
    Blob {
        platform: Option<String>,
        kind: BlobKind,
    },
}

/// The files at an archive root a defect can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFile {
    IndexJson,
    ManifestJson,
    OciLayout,
    Repositories,
}

impl ArchiveFile {
    pub fn name(self) -> &'static str {
        match self {
            ArchiveFile::IndexJson => "index.json",
            ArchiveFile::ManifestJson => "manifest.json",
            ArchiveFile::OciLayout => "oci-layout",
            ArchiveFile::Repositories => "repositories",
        }
    }
}

/// A blob's role in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// The image index blob (not `index.json`).
    Index,
    Manifest,
    Config,
    /// The platform's attestation manifest.
    Attestation,
    /// The Nth layer of the platform's image, bottom first.
    Layer(usize),
}

const TARGET_GRAMMAR: &str = "expected index.json, manifest.json, oci-layout, repositories, or \
     [os/arch] index|manifest|config|attestation|layer N";

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("unknown target {s:?}: {TARGET_GRAMMAR}");
        let file = [
            ArchiveFile::IndexJson,
            ArchiveFile::ManifestJson,
            ArchiveFile::OciLayout,
            ArchiveFile::Repositories,
        ]
        .into_iter()
        .find(|f| f.name() == s.trim());
        if let Some(f) = file {
            return Ok(Target::File(f));
        }
        let mut words: Vec<&str> = s.split_whitespace().collect();
        let platform = match words.first() {
            Some(w) if w.contains('/') => Some(words.remove(0).to_string()),
            _ => None,
        };
        let kind = match words.as_slice() {
            ["index"] => BlobKind::Index,
            ["manifest"] => BlobKind::Manifest,
            ["config"] => BlobKind::Config,
            ["attestation"] => BlobKind::Attestation,
            ["layer", n] => BlobKind::Layer(n.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        Ok(Target::Blob { platform, kind })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::File(file) => f.write_str(file.name()),
            Target::Blob { platform, kind } => {
                if let Some(p) = platform {
                    write!(f, "{p} ")?;
                }
                match kind {
                    BlobKind::Index => f.write_str("index"),
                    BlobKind::Manifest => f.write_str("manifest"),
                    BlobKind::Config => f.write_str("config"),
                    BlobKind::Attestation => f.write_str("attestation"),
                    BlobKind::Layer(n) => write!(f, "layer {n}"),
                }
            }
        }
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

/// The finding a defect provokes, named by the reader's finding code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DefectKind {
    BlobMissing,
    DigestMismatch,
    SizeMismatch,
    DiffidMismatch,
    LayerCountMismatch,
    IndexManifestsNull,
    ManifestLayersReordered,
    ManifestLayersEmpty,
    ManifestJsonIndexDisagree,
    MediaTypeCompressionMismatch,
    UnsafePath,
    DuplicateEntry,
    InvalidJson,
}

impl DefectKind {
    /// The defect's name in a spec (`blob-missing`, `manifest-layers-reordered`).
    pub fn name(self) -> &'static str {
        match self {
            DefectKind::ManifestLayersReordered => "manifest-layers-reordered",
            DefectKind::ManifestLayersEmpty => "manifest-layers-empty",
            other => other.code(),
        }
    }

    /// The reader's finding code (`blob-missing`). Every kind is named after its code, except
    /// the two manifest-layers shapes of Docker 25, named after what Docker did: a reordered
    /// manifest makes each misplaced layer's DiffID disagree with the config's
    /// (`diffid-mismatch`), an empty one the layer counts (`layer-count-mismatch`).
    pub fn code(self) -> &'static str {
        match self {
            DefectKind::BlobMissing => "blob-missing",
            DefectKind::DigestMismatch => "digest-mismatch",
            DefectKind::SizeMismatch => "size-mismatch",
            DefectKind::DiffidMismatch => "diffid-mismatch",
            DefectKind::LayerCountMismatch => "layer-count-mismatch",
            DefectKind::IndexManifestsNull => "index-manifests-null",
            DefectKind::ManifestLayersReordered => "diffid-mismatch",
            DefectKind::ManifestLayersEmpty => "layer-count-mismatch",
            DefectKind::ManifestJsonIndexDisagree => "manifest-json-index-disagree",
            DefectKind::MediaTypeCompressionMismatch => "media-type-compression-mismatch",
            DefectKind::UnsafePath => "unsafe-path",
            DefectKind::DuplicateEntry => "duplicate-entry",
            DefectKind::InvalidJson => "invalid-json",
        }
    }
}

impl DefectSpec {
    pub fn kind(&self) -> DefectKind {
        match self {
            DefectSpec::BlobMissing(_) => DefectKind::BlobMissing,
            DefectSpec::DigestMismatch(_) => DefectKind::DigestMismatch,
            DefectSpec::SizeMismatch(_) => DefectKind::SizeMismatch,
            DefectSpec::DiffidMismatch(_) => DefectKind::DiffidMismatch,
            DefectSpec::LayerCountMismatch => DefectKind::LayerCountMismatch,
            DefectSpec::IndexManifestsNull => DefectKind::IndexManifestsNull,
            DefectSpec::ManifestLayersReordered => DefectKind::ManifestLayersReordered,
            DefectSpec::ManifestLayersEmpty => DefectKind::ManifestLayersEmpty,
            DefectSpec::ManifestJsonIndexDisagree => DefectKind::ManifestJsonIndexDisagree,
            DefectSpec::MediaTypeCompressionMismatch(_) => DefectKind::MediaTypeCompressionMismatch,
            DefectSpec::UnsafePath(_) => DefectKind::UnsafePath,
            DefectSpec::DuplicateEntry(_) => DefectKind::DuplicateEntry,
            DefectSpec::InvalidJson(_) => DefectKind::InvalidJson,
        }
    }

    /// The spec's target, for defects that take one.
    pub(crate) fn target(&self) -> Option<&Target> {
        match self {
            DefectSpec::BlobMissing(t)
            | DefectSpec::DigestMismatch(t)
            | DefectSpec::SizeMismatch(t)
            | DefectSpec::DiffidMismatch(t)
            | DefectSpec::MediaTypeCompressionMismatch(t)
            | DefectSpec::DuplicateEntry(t)
            | DefectSpec::InvalidJson(t) => Some(t),
            _ => None,
        }
    }
}

/// A defect as it was applied: what the reader should find, where, and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AppliedDefect {
    /// The finding it provokes.
    pub code: DefectKind,
    /// The archive member (or, for `size-mismatch`, the blob whose descriptors) it is about.
    pub member: String,
    /// What was changed, in words.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::testutil::{craft_error, yaml};

    fn parse(yaml: &str) -> Result<Vec<DefectSpec>, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn every_defect_is_one_line_of_yaml() {
        let yaml = r#"
- blob-missing: config
- blob-missing: linux/arm64 layer 1
- digest-mismatch: layer 0
- size-mismatch: index
- diffid-mismatch: layer 0
- layer-count-mismatch
- index-manifests-null
- manifest-layers-reordered
- manifest-layers-empty
- manifest-json-index-disagree
- media-type-compression-mismatch: linux/arm/v7 layer 2
- unsafe-path: {layer: 1, path: /etc/escape}
- unsafe-path: {}
- duplicate-entry: manifest.json
- invalid-json: attestation
"#;
        let layer = |platform: Option<&str>, n| Target::Blob {
            platform: platform.map(Into::into),
            kind: BlobKind::Layer(n),
        };
        let blob = |kind| Target::Blob {
            platform: None,
            kind,
        };
        assert_eq!(
            parse(yaml).unwrap(),
            vec![
                DefectSpec::BlobMissing(blob(BlobKind::Config)),
                DefectSpec::BlobMissing(layer(Some("linux/arm64"), 1)),
                DefectSpec::DigestMismatch(layer(None, 0)),
                DefectSpec::SizeMismatch(blob(BlobKind::Index)),
                DefectSpec::DiffidMismatch(layer(None, 0)),
                DefectSpec::LayerCountMismatch,
                DefectSpec::IndexManifestsNull,
                DefectSpec::ManifestLayersReordered,
                DefectSpec::ManifestLayersEmpty,
                DefectSpec::ManifestJsonIndexDisagree,
                DefectSpec::MediaTypeCompressionMismatch(layer(Some("linux/arm/v7"), 2)),
                DefectSpec::UnsafePath(UnsafePathSpec {
                    layer: 1,
                    path: "/etc/escape".into()
                }),
                DefectSpec::UnsafePath(UnsafePathSpec {
                    layer: 0,
                    path: "../escape".into()
                }),
                DefectSpec::DuplicateEntry(Target::File(ArchiveFile::ManifestJson)),
                DefectSpec::InvalidJson(blob(BlobKind::Attestation)),
            ]
        );
    }

    #[test]
    fn targets_print_as_they_parse() {
        for s in [
            "index.json",
            "repositories",
            "config",
            "linux/arm64 manifest",
            "layer 3",
        ] {
            let t = Target::try_from(s.to_string()).unwrap();
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn bad_targets_and_unknown_defects_are_rejected() {
        for (yaml, want) in [
            ("- blob-missing: layers", "unknown target \"layers\""),
            ("- blob-missing: layer x", "unknown target \"layer x\""),
            ("- blob-missing: linux/amd64", "unknown target"),
            ("- blob-missing", "blob-missing"),
            ("- no-such-defect", "no-such-defect"),
            ("- unsafe-path: {layer: 0, pth: x}", "pth"),
        ] {
            let err = parse(yaml).unwrap_err();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn codes_are_the_readers() {
        assert_eq!(DefectKind::DiffidMismatch.code(), "diffid-mismatch");
        assert_eq!(
            serde_json::to_value(DefectKind::MediaTypeCompressionMismatch).unwrap(),
            "media-type-compression-mismatch"
        );
        assert_eq!(
            DefectSpec::ManifestJsonIndexDisagree.kind().code(),
            "manifest-json-index-disagree"
        );
    }

    /// Validation lives in `plan.rs`; it is tested here, next to the language it checks.
    const BASE: &str = "layers: [{files: [{path: a, content: a}]}, {files: [], compression: gzip}]";

    #[test]
    fn defects_that_do_not_fit_are_rejected() {
        let table: &[(&str, &str, &str)] = &[
            (
                "docker-archive",
                "blob-missing: manifest",
                "docker-archive has no manifest blob",
            ),
            (
                "docker-archive",
                "size-mismatch: config",
                "docker-archive has no descriptors",
            ),
            (
                "docker-archive",
                "digest-mismatch: layer 0",
                "names layers by v1 ID",
            ),
            (
                "docker-archive",
                "index-manifests-null",
                "docker-archive has no index.json",
            ),
            (
                "docker-archive",
                "manifest-layers-reordered",
                "docker-archive has no manifest blob",
            ),
            (
                "docker-archive",
                "manifest-layers-empty",
                "docker-archive has no manifest blob",
            ),
            (
                "docker-archive",
                "invalid-json: oci-layout",
                "docker-archive has no oci-layout",
            ),
            (
                "oci-archive",
                "duplicate-entry: manifest.json",
                "oci-archive has no manifest.json",
            ),
            (
                "oci-archive",
                "manifest-json-index-disagree",
                "needs both manifest.json",
            ),
            (
                "oci-archive",
                "invalid-json: repositories",
                "oci-archive has no repositories",
            ),
            (
                "oci-archive",
                "blob-missing: index",
                "the image has no index",
            ),
            (
                "oci-archive",
                "blob-missing: attestation",
                "the image has no attestations",
            ),
            (
                "oci-archive",
                "blob-missing: index.json",
                "takes a blob, not a file",
            ),
            (
                "oci-archive",
                "blob-missing: layer 2",
                "linux/amd64 has 2 layers, no layer 2",
            ),
            (
                "oci-archive",
                "blob-missing: linux/arm64 config",
                "not a platform of this image",
            ),
            (
                "oci-archive",
                "diffid-mismatch: layer 0",
                "layers[0] is uncompressed",
            ),
            ("oci-archive", "diffid-mismatch: config", "takes a layer"),
            ("oci-archive", "invalid-json: layer 0", "not a layer"),
            (
                "oci-archive",
                "unsafe-path: {path: etc/x}",
                "stays inside the root",
            ),
            (
                "oci-archive",
                "unsafe-path: {layer: 2}",
                "layer 2 does not exist",
            ),
            (
                "docker-oci-hybrid",
                "duplicate-entry: repositories",
                "docker-oci-hybrid (unnamed image) has no repositories",
            ),
        ];
        for (layout, defect, want) in table {
            let spec = yaml(&format!("layout: {layout}\n{BASE}\ndefects: [{defect}]"));
            let err = craft_error(&spec);
            let code = defect.split(':').next().unwrap();
            assert!(
                err.starts_with(&format!("invalid defects[0] ({code}): ")) && err.contains(want),
                "{layout} {defect}\n=> {err}"
            );
        }
    }

    #[test]
    fn contradicting_defects_are_rejected() {
        let table: &[(&str, &str)] = &[
            (
                "[blob-missing: config, blob-missing: config]",
                "contradicts defects[0] (blob-missing)",
            ),
            (
                "[blob-missing: layer 1, size-mismatch: layer 1]",
                "contradicts defects[0]",
            ),
            (
                "[digest-mismatch: config, blob-missing: config]",
                "contradicts defects[0] (digest-mismatch)",
            ),
        ];
        for (defects, want) in table {
            let spec = yaml(&format!("layout: oci-archive\n{BASE}\ndefects: {defects}"));
            let err = craft_error(&spec);
            assert!(
                err.starts_with("invalid defects[1]") && err.contains(want),
                "{err}"
            );
        }
        // A config DiffID is not the blob: both may be wrong at once.
        let spec = yaml(&format!(
            "layout: oci-archive\n{BASE}\ndefects: [blob-missing: layer 1, diffid-mismatch: layer 1]"
        ));
        crate::craft::testutil::write(&spec);
    }

    #[test]
    fn omitted_platforms_cannot_be_targets() {
        let spec = yaml(&format!(
            "layout: containerd-hybrid\nplatforms: [linux/amd64, linux/arm64]\n\
             omit_platforms: [linux/arm64]\n{BASE}\ndefects: [blob-missing: linux/arm64 config]"
        ));
        assert!(craft_error(&spec).contains("linux/arm64 is in omit_platforms"));
        let spec = yaml(
            "layout: oci-archive\nplatforms: [linux/amd64, linux/arm64]\n\
             omit_platforms: [linux/arm64]\n\
             layers: [{files: []}, {files: [], platform: linux/arm64}]\n\
             defects: [unsafe-path: {layer: 1}]",
        );
        assert!(craft_error(&spec).contains("layers[1] is only in omitted platforms"));
    }
}
