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
//! `blobs/sha256/` holds what the image references: layers, configs, manifests, and for an
//! index-based image (`platforms`, `attestations`) the index and the attestation blobs, each
//! once. BuildKit exports with `WithAllPlatforms` and no `WithSkipMissing`, so it never writes
//! a partial index; `omit_platforms` here gives the partial OCI layout other tools (or a
//! `blob-missing` of a whole platform) leave. The `index.json` annotations are decided in
//! [`NamePlan`](super::names::NamePlan).
//!
//! One deviation kept on purpose: BuildKit writes manifests with `json.MarshalIndent`, but the
//! single-manifest image here is compact `json.Marshal`, as it was first pinned (its digests
//! are in snapshots). Index-based images are indented as BuildKit writes them.

use crate::craft::image::Image;
use crate::craft::write::Member;

const BLOB_MODE: u32 = 0o444;
const INDEX_MODE: u32 = 0o644;

/// `json.Marshal(ocispec.ImageLayout{Version: "1.0.0"})`, containerd's `ociLayoutFile`.
pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub(crate) fn members<'a>(image: &'a Image<'_>) -> Vec<Member<'a>> {
    let blobs = Member::blob_map(image.oci_blobs(), BLOB_MODE);
    let index_json = image
        .index_json
        .as_deref()
        .expect("oci-archive has index.json");
    let mut out = Member::oci_prefix(blobs, index_json, INDEX_MODE);
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
                Member::blob_path(&facts.manifest.as_ref().unwrap().digest),
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

    /// BuildKit `type=oci` of a multi-platform build with provenance: the index and every
    /// blob of every platform, each once; no manifest.json.
    #[test]
    fn index_based_archive_holds_every_blob_once() {
        let spec = crate::craft::testutil::yaml(
            "layout: oci-archive\nplatforms: [linux/amd64, linux/arm64]\nattestations: true\n\
             layers: [{files: [{path: a}], compression: gzip}]",
        );
        let (_, facts, members) = write(&spec);
        let blobs: Vec<&str> = members
            .iter()
            .filter(|m| m.name.starts_with("blobs/sha256/") && !m.is_dir)
            .map(|m| m.name.as_str())
            .collect();
        // index + shared layer + 2 x (config, manifest) + 2 x (statement, config, manifest)
        assert_eq!(blobs.len(), 1 + 1 + 4 + 6, "{blobs:?}");
        let mut sorted = blobs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, blobs, "sorted, each once");
        assert_eq!(
            json(&members, "index.json")["manifests"][0]["mediaType"],
            crate::oci::media_type::OCI_INDEX
        );
        assert!(!members.iter().any(|m| m.name == "manifest.json"));
        crate::craft::testutil::check_facts(&members, &facts);
    }
}
