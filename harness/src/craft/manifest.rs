//! The OCI image manifest and image index documents, shared by every layout.
//!
//! Field order and `omitempty` follow the Go structs of image-spec v1.1 (`specs-go/v1`), which
//! moby's `saveSession.save`, containerd's `ociIndexRecord` and BuildKit's image writer
//! marshal: a descriptor is `mediaType, digest, size, [annotations], [platform]`; a manifest
//! `schemaVersion, mediaType, config, layers`; an index `schemaVersion, mediaType, manifests`
//! (`manifests` has no `omitempty`, so a nil slice is `null`: moby#47210). Moby >= 26.1
//! writes no `platform` on its descriptors (25.0 and 26.0 did; see `image/tarexport/save.go`
//! between v26.0.0 and v26.1.0); BuildKit puts one on each manifest of an index.
//!
//! [`JsonStyle`] says how a document is laid out: `json.Marshal` (moby, containerd) or
//! `json.MarshalIndent(v, "", "  ")` (BuildKit's `commitDistributionManifest`,
//! `commitAttestationsManifest` and index, in `exporter/containerimage/writer.go`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::craft::config::Platform;
use crate::craft::gojson;
use crate::oci::{Digest, annotation, media_type};

/// How a JSON document is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonStyle {
    /// `json.Marshal`.
    Compact,
    /// `json.MarshalIndent(v, "", "  ")`.
    Indent,
}

impl JsonStyle {
    pub(crate) fn encode<T: Serialize + ?Sized>(self, value: &T) -> Vec<u8> {
        match self {
            JsonStyle::Compact => gojson::marshal(value),
            JsonStyle::Indent => gojson::marshal_indent(value),
        }
    }
}

/// image-spec `Descriptor`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// A Go map: sorted keys, omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub(crate) fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// One `manifest.json` entry without Docker >= 25's `LayerSources`: moby v24's
/// `tarexport.manifestItem` without its `omitempty` fields, and the anonymous struct of
/// containerd's `manifestsRecord` (no `omitempty`), which serialize alike.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ManifestItem {
    pub config: String,
    /// `null` for an image saved without a name.
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Option<&'a [Descriptor]>,
}

/// An image manifest's bytes.
pub(crate) fn manifest_json(
    config: &Descriptor,
    layers: &[Descriptor],
    style: JsonStyle,
) -> Vec<u8> {
    style.encode(&Manifest {
        schema_version: 2,
        media_type: media_type::OCI_MANIFEST,
        config,
        layers,
    })
}

/// An image index's bytes (`index.json` or an index blob); `None` writes `"manifests":null`.
pub(crate) fn index_json(manifests: Option<&[Descriptor]>, style: JsonStyle) -> Vec<u8> {
    style.encode(&Index {
        schema_version: 2,
        media_type: media_type::OCI_INDEX,
        manifests,
    })
}

/// The name annotations for an `index.json` descriptor.
pub(crate) fn name_annotations(
    image_name: Option<&str>,
    ref_name: Option<&str>,
) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    if let Some(name) = image_name {
        out.insert(annotation::IMAGE_NAME, name.to_string());
    }
    if let Some(name) = ref_name {
        out.insert(annotation::REF_NAME, name.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_exact() {
        let d = |c: char| Digest::parse(&c.to_string().repeat(64)).unwrap();
        let config = Descriptor::new(media_type::OCI_CONFIG, d('c'), 10);
        let layer = Descriptor::new(media_type::OCI_LAYER_TAR, d('1'), 2048);
        let manifest =
            String::from_utf8(manifest_json(&config, &[layer], JsonStyle::Compact)).unwrap();
        assert_eq!(
            manifest,
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                    r#""config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{c}","size":10}},"#,
                    r#""layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{l}","size":2048}}]}}"#
                ),
                c = "c".repeat(64),
                l = "1".repeat(64)
            )
        );

        let mut target = Descriptor::new(media_type::OCI_MANIFEST, d('f'), 5);
        target.annotations = name_annotations(Some("app:1"), Some("1"));
        let index = String::from_utf8(index_json(
            Some(std::slice::from_ref(&target)),
            JsonStyle::Compact,
        ))
        .unwrap();
        assert_eq!(
            index,
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","#,
                    r#""manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{m}","size":5,"#,
                    r#""annotations":{{"io.containerd.image.name":"app:1","org.opencontainers.image.ref.name":"1"}}}}]}}"#
                ),
                m = "f".repeat(64)
            )
        );

        target.annotations.clear();
        let index = index_json(Some(std::slice::from_ref(&target)), JsonStyle::Compact);
        assert!(!String::from_utf8(index).unwrap().contains("annotations"));
    }

    /// moby#47210: Docker 25.0.0 to 25.0.2 wrote a nil slice when saving by ID.
    #[test]
    fn null_manifests_is_go_nil_slice() {
        assert_eq!(
            index_json(None, JsonStyle::Compact),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}"#
        );
    }

    /// BuildKit's index: indented, a platform after the size on each manifest.
    #[test]
    fn indented_index_with_platform_is_buildkits_shape() {
        let mut m = Descriptor::new(media_type::OCI_MANIFEST, Digest::sha256(b"m"), 7);
        m.platform = Some(Platform::parse(Some("linux/arm/v7")).unwrap());
        let got = String::from_utf8(index_json(Some(&[m]), JsonStyle::Indent)).unwrap();
        let want = format!(
            concat!(
                "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n",
                "  \"manifests\": [\n    {{\n      \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n",
                "      \"digest\": \"{}\",\n      \"size\": 7,\n      \"platform\": {{\n",
                "        \"architecture\": \"arm\",\n        \"os\": \"linux\",\n        \"variant\": \"v7\"\n",
                "      }}\n    }}\n  ]\n}}"
            ),
            Digest::sha256(b"m")
        );
        assert_eq!(got, want);
    }
}
