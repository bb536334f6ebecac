//! The JSON files of an archive, exactly as far as the reader needs them: every field
//! optional (Go's decoders leave missing fields at their zero value, and the oracles, not the
//! parser, decide what a missing field means), unknown fields ignored as Go ignores them.
//! A digest that is not `sha256:<64 hex>` is a parse error, reported as `invalid-json`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::oci::Digest;
use crate::oci::archive::{DescriptorReport, LayerSource, ManifestJsonItem, Platform};

/// `oci-layout` (`ocispec.ImageLayout`).
#[derive(Debug, Deserialize)]
pub(crate) struct RawOciLayout {
    #[serde(rename = "imageLayoutVersion", default)]
    pub version: Option<String>,
}

/// An OCI descriptor.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawDescriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<RawPlatform>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// `index.json`, an image index blob, or an image manifest blob: one shape with the fields
/// of both, because which one a blob is may only show from its content (a descriptor
/// without `mediaType`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawManifest {
    #[serde(default)]
    pub schema_version: Option<u64>,
    #[serde(default)]
    pub media_type: Option<String>,
    /// `None` for both a missing key and `null` (Go decodes both as a nil slice).
    #[serde(default)]
    pub manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    pub config: Option<RawDescriptor>,
    #[serde(default)]
    pub layers: Option<Vec<RawDescriptor>>,
}

/// An image config, only what the reader checks.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub rootfs: Option<RawRootfs>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRootfs {
    #[serde(default)]
    pub diff_ids: Option<Vec<Digest>>,
}

/// A `manifest.json` item (moby `manifestItem`, containers/image `ManifestItem`). Go matches
/// JSON keys case-insensitively; the lower-case aliases cover the spellings seen in the wild.
#[derive(Debug, Deserialize)]
pub(crate) struct RawItem {
    #[serde(rename = "Config", alias = "config", default)]
    pub config: String,
    #[serde(rename = "RepoTags", alias = "repoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", alias = "layers", default)]
    pub layers: Option<Vec<String>>,
    #[serde(rename = "Parent", default)]
    pub parent: Option<String>,
    #[serde(rename = "LayerSources", default)]
    pub layer_sources: Option<BTreeMap<String, RawLayerSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawLayerSource {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub digest: Option<String>,
}

impl RawPlatform {
    pub(crate) fn report(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
        }
    }
}

impl RawDescriptor {
    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    pub(crate) fn report(&self) -> DescriptorReport {
        DescriptorReport {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            platform: self.platform.as_ref().map(RawPlatform::report),
            annotations: self.annotations.clone().unwrap_or_default(),
        }
    }
}

impl RawConfig {
    /// The config's platform; `None` when it names neither OS nor architecture.
    pub(crate) fn platform(&self) -> Option<Platform> {
        if self.os.is_none() && self.architecture.is_none() {
            return None;
        }
        Some(Platform {
            os: self.os.clone().unwrap_or_default(),
            architecture: self.architecture.clone().unwrap_or_default(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
        })
    }

    pub(crate) fn diff_ids(&self) -> Vec<Digest> {
        self.rootfs
            .as_ref()
            .and_then(|r| r.diff_ids.clone())
            .unwrap_or_default()
    }
}

impl RawItem {
    pub(crate) fn report(&self) -> ManifestJsonItem {
        ManifestJsonItem {
            config: self.config.clone(),
            repo_tags: self.repo_tags.clone().unwrap_or_default(),
            layers: self.layers.clone().unwrap_or_default(),
            parent: self.parent.clone().filter(|p| !p.is_empty()),
            layer_sources: self
                .layer_sources
                .iter()
                .flatten()
                .map(|(k, v)| {
                    let source = LayerSource {
                        media_type: v.media_type.clone(),
                        size: v.size,
                        digest: v.digest.clone(),
                    };
                    (k.clone(), source)
                })
                .collect(),
        }
    }
}
