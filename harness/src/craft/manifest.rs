//! The OCI image manifest blob and the `index.json` document, shared by both layouts.
//!
//! Field order and `omitempty` follow the Go structs of image-spec v1.1 (`specs-go/v1`), which
//! moby's `saveSession.save` and containerd's `ociIndexRecord` marshal: a descriptor is
//! `mediaType, digest, size, [annotations]`; a manifest `schemaVersion, mediaType, config,
//! layers`; an index `schemaVersion, mediaType, manifests`. Moby >= 26 writes no `platform` on
//! either descriptor (25.0.x did; see `image/tarexport/save.go` between v25.0.5 and v26.0.0).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::oci::{Digest, annotation, media_type};

/// image-spec `Descriptor`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: &'static str,
    pub digest: Digest,
    pub size: u64,
    /// A Go map: sorted keys, omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, String>,
}

impl Descriptor {
    pub(crate) fn new(media_type: &'static str, digest: Digest, size: u64) -> Self {
        Self {
            media_type,
            digest,
            size,
            annotations: BTreeMap::new(),
        }
    }
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
    manifests: &'a [Descriptor],
}

/// The image manifest blob's bytes.
pub(crate) fn manifest_json(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    super::gojson::marshal(&Manifest {
        schema_version: 2,
        media_type: media_type::OCI_MANIFEST,
        config,
        layers,
    })
}

/// `index.json`'s bytes, with one manifest descriptor.
pub(crate) fn index_json(manifest: &Descriptor) -> Vec<u8> {
    super::gojson::marshal(&Index {
        schema_version: 2,
        media_type: media_type::OCI_INDEX,
        manifests: std::slice::from_ref(manifest),
    })
}

/// The name annotations for the index descriptor.
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
        let manifest = String::from_utf8(manifest_json(&config, &[layer])).unwrap();
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
        let index = String::from_utf8(index_json(&target)).unwrap();
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
        assert!(
            !String::from_utf8(index_json(&target))
                .unwrap()
                .contains("annotations")
        );
    }
}
