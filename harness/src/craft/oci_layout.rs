//! A pure OCI image layout in a tar (`oci-archive`), as BuildKit's `--output type=oci` writes it:
//! no `manifest.json`, no `repositories`.
//!
//! BuildKit's OCI exporter hands the image to containerd's `core/images/archive.Export` (with
//! `WithSkipDockerManifest`), so we follow that function: records for `oci-layout`,
//! `index.json`, `blobs/`, `blobs/sha256/` and each blob are sorted by name (`writeTar`) and
//! duplicates dropped, giving
//!
//! ```text
//! blobs/  blobs/sha256/  blobs/sha256/<hex>... (sorted)  index.json  oci-layout
//! ```
//!
//! with containerd's modes: directories 0o755 (`directoryRecord`), blobs and `oci-layout` 0o444
//! (`blobRecord`, `ociLayoutFile`), `index.json` 0o644 (`ociIndexRecord`). Containerd's headers
//! carry no times, which Go writes as mtime 0. `oci-layout` is `json.Marshal` of
//! `ocispec.ImageLayout`: `{"imageLayoutVersion":"1.0.0"}` without a space.
//!
//! `blobs/sha256/` holds only what the manifest references: config, layers, manifest. The
//! `index.json` annotations are decided in [`NamePlan`](super::names::NamePlan).

use std::collections::BTreeMap;

use crate::craft::write::{Image, Member};

const BLOB_MODE: u32 = 0o444;
const INDEX_MODE: u32 = 0o644;

/// `json.Marshal(ocispec.ImageLayout{Version: "1.0.0"})`.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub(crate) fn members<'a>(image: &'a Image<'_>) -> Vec<Member<'a>> {
    let mut blobs: BTreeMap<String, &'a [u8]> = BTreeMap::new();
    for layer in &image.layers {
        blobs.insert(Member::blob_path(&layer.digest), &layer.bytes);
    }
    blobs.insert(Member::blob_path(&image.config.digest), &image.config.bytes);
    blobs.insert(
        Member::blob_path(&image.manifest.digest),
        &image.manifest.bytes,
    );

    let mut out = Member::oci_prefix(blobs, BLOB_MODE, image.index_json.as_slice(), INDEX_MODE);
    out.push(Member::file("oci-layout", BLOB_MODE, OCI_LAYOUT));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::testutil::{json, member, sample_spec, write};
    use crate::craft::{FixtureSpec, LayoutKind};

    #[test]
    fn members_come_in_containerd_export_order() {
        let (_, facts, members) = write(&sample_spec(LayoutKind::OciArchive));
        let mut blobs: Vec<String> = facts
            .layers
            .iter()
            .map(|l| Member::blob_path(&l.digest))
            .chain([
                Member::blob_path(&facts.config.digest),
                Member::blob_path(&facts.manifest.digest),
            ])
            .collect();
        blobs.sort();
        let mut want = vec![
            ("blobs/".to_string(), 0o755),
            ("blobs/sha256/".into(), 0o755),
        ];
        want.extend(blobs.into_iter().map(|n| (n, 0o444)));
        want.push(("index.json".into(), 0o644));
        want.push(("oci-layout".into(), 0o444));
        let got: Vec<(String, u32)> = members.iter().map(|m| (m.name.clone(), m.mode)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn oci_layout_file_is_containerds() {
        let (_, _, members) = write(&sample_spec(LayoutKind::OciArchive));
        assert_eq!(
            member(&members, "oci-layout").data,
            br#"{"imageLayoutVersion":"1.0.0"}"#
        );
    }

    /// R1's "tag-only OCI archive": Podman loads it as `localhost/<ref.name>:latest`.
    #[test]
    fn tag_only_archive_carries_only_ref_name() {
        let spec = FixtureSpec {
            name: None,
            ref_name: Some("latest".into()),
            ..sample_spec(LayoutKind::OciArchive)
        };
        let (_, facts, members) = write(&spec);
        assert_eq!(
            json(&members, "index.json")["manifests"][0]["annotations"],
            serde_json::json!({"org.opencontainers.image.ref.name": "latest"})
        );
        assert_eq!(facts.names.ref_name.as_deref(), Some("latest"));
        assert_eq!(facts.names.image_name, None);
        assert!(facts.names.repo_tags.is_empty());
    }

    #[test]
    fn named_archive_gets_the_tag_and_the_full_name_only_on_request() {
        let (_, _, members) = write(&sample_spec(LayoutKind::OciArchive));
        assert_eq!(
            json(&members, "index.json")["manifests"][0]["annotations"],
            serde_json::json!({"org.opencontainers.image.ref.name": "latest"})
        );
        let spec = FixtureSpec {
            image_name: Some("dangerzone.rocks/dangerzone:latest".into()),
            ..sample_spec(LayoutKind::OciArchive)
        };
        let (_, _, members) = write(&spec);
        assert_eq!(
            json(&members, "index.json")["manifests"][0]["annotations"],
            serde_json::json!({
                "io.containerd.image.name": "dangerzone.rocks/dangerzone:latest",
                "org.opencontainers.image.ref.name": "latest",
            })
        );
    }
}
