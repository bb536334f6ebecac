//! `containerd-hybrid`: what `docker save` writes with Docker's containerd image store (the
//! default on fresh Docker >= 29 installs), the third layout of R5.
//!
//! Moby's `daemon/containerd/image_exporter.go` `ExportImage` calls containerd's
//! `core/images/archive.Export` with `WithPlatform` (every platform, the host's preferred),
//! `WithSkipMissing`, and one `WithManifest(target, name)` per name, without
//! `WithSkipDockerManifest`. So, following `Export`, `writeTar` and `manifestsRecord`:
//!
//! - `blobs/sha256/` holds the blobs exactly as the content store has them: the image index
//!   as BuildKit wrote it (indented), every platform's manifest, config and *compressed*
//!   layers, and the attestation manifests with their configs and in-toto layers. A platform
//!   never pulled has no manifest in the store, so `WithSkipMissing` skips it and its
//!   children (`omit_platforms`), while the index still lists it.
//! - `index.json` (`ociIndexRecord`, `json.Marshal`, mode 0o644): one descriptor of the target
//!   (the index, or the manifest of a single-platform image without attestations) per name,
//!   with `io.containerd.image.name` = the full name and `org.opencontainers.image.ref.name` =
//!   the tag alone (`addNameAnnotation`, `ociReferenceName`); an unnamed save (by ID) strips
//!   both.
//! - `manifest.json` (`manifestsRecord`, `json.Marshal`, no newline, mode 0o644): one entry
//!   for the platform `Export` sorts first, with `Config`, `RepoTags` (every name; `null`
//!   without) and `Layers` (paths of the compressed blobs). There is no `LayerSources`, no
//!   `Parent` and no `repositories`.
//! - `oci-layout` and blobs 0o444, directories 0o755, every record sorted by name with
//!   duplicates dropped, no times (mtime 0).
//!
//! Choices where Docker depends on the host: Docker puts the host's platform first in
//! `manifest.json`; we put the first platform of `platforms` that is not omitted (Docker on a
//! host of that platform; when the host's platform is missing from the store, Docker's export
//! fails in `manifestsRecord`, so such an archive does not exist). Names are written verbatim,
//! where moby passes `reference.ParseNormalizedNamed(name).String()` (`docker.io/library/..`)
//! and containerd's `familiarizeReference` shortens `RepoTags`; write the names as Docker
//! would print them. `containerd.io/distribution.source.*` annotations, which `Export` copies
//! from the labels of pulled content, are not written: the image was built, not pulled.
//!
//! BuildKit's own `--output type=docker` uses the same `Export`, but without `WithPlatform`:
//! for an index target it writes no `manifest.json` at all. That variant is not modelled.

use crate::craft::gojson;
use crate::craft::image::Image;
use crate::craft::manifest::ManifestItem;
use crate::craft::oci_layout::OCI_LAYOUT;
use crate::craft::write::Member;

const BLOB_MODE: u32 = 0o444;
const FILE_MODE: u32 = 0o644;

pub(crate) fn members<'a>(image: &'a Image<'_>) -> Vec<Member<'a>> {
    let p = image.primary();
    let config = image.disagreeing_config.as_ref().unwrap_or(&p.config);
    let repo_tags = image.plan.names.repo_tags();
    let item = ManifestItem {
        config: Member::blob_path(&config.digest),
        repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
        layers: p
            .layers
            .iter()
            .map(|&i| Member::blob_path(&image.layers[i].blob.digest))
            .collect(),
    };

    let blobs = Member::blob_map(image.oci_blobs(), BLOB_MODE);
    let index_json = image
        .index_json
        .as_deref()
        .expect("containerd-hybrid has index.json");
    let mut out = Member::oci_prefix(blobs, index_json, FILE_MODE);
    out.push(Member::file(
        "manifest.json",
        FILE_MODE,
        gojson::marshal(&[item]),
    ));
    out.push(Member::file("oci-layout", BLOB_MODE, OCI_LAYOUT));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::testutil::{TarMember, check_facts, json, member, names, parse, write, yaml};
    use crate::craft::{CraftedArchive, FixtureSpec};
    use crate::oci::Digest;

    /// Two platforms, one never pulled, with BuildKit attestations and per-platform layers.
    fn partial_index() -> FixtureSpec {
        yaml(
            "layout: containerd-hybrid
name: example.test/app:1
platforms: [linux/amd64, linux/arm64]
omit_platforms: [linux/arm64]
attestations: true
layers:
  - files: [{path: etc/hello, content: hi}]
    compression: gzip
  - platform: linux/amd64
    files: [{path: bin/app, content: amd64}]
    compression: gzip
  - platform: linux/arm64
    files: [{path: bin/app, content: arm64}]
    compression: gzip
",
        )
    }

    fn text(members: &[TarMember], name: &str) -> String {
        String::from_utf8(member(members, name).data.clone()).unwrap()
    }

    #[test]
    fn members_come_in_containerd_export_order() {
        let (_, facts, members) = write(&partial_index());
        let amd = &facts.platforms[0];
        let att = amd.attestation.as_ref().unwrap();
        let att_doc = parse(member(&members, &Member::blob_path(&att.digest)));
        let att_blob = |key: &str| -> Digest {
            Digest::parse(
                att_doc[key]["digest"]
                    .as_str()
                    .unwrap_or_else(|| att_doc[key][0]["digest"].as_str().unwrap()),
            )
            .unwrap()
        };
        // The present blobs: the index, amd64's manifest, config and two layers, and its
        // attestation manifest, config and statement. Nothing of arm64.
        let mut blobs: Vec<String> = [
            &facts.index.as_ref().unwrap().digest,
            &amd.manifest.as_ref().unwrap().digest,
            &amd.config.digest,
            &amd.layers[0].digest,
            &amd.layers[1].digest,
            &att.digest,
            &att_blob("config"),
            &att_blob("layers"),
        ]
        .into_iter()
        .map(Member::blob_path)
        .collect();
        blobs.sort();
        let mut want = vec![
            ("blobs/".to_string(), 0o755),
            ("blobs/sha256/".into(), 0o755),
        ];
        want.extend(blobs.into_iter().map(|b| (b, 0o444)));
        want.extend([
            ("index.json".into(), 0o644),
            ("manifest.json".into(), 0o644),
            ("oci-layout".into(), 0o444),
        ]);
        let got: Vec<(String, u32)> = members.iter().map(|m| (m.name.clone(), m.mode)).collect();
        assert_eq!(got, want);
        assert!(!names(&members).contains(&"repositories"));
    }

    #[test]
    fn index_json_and_manifest_json_are_exact() {
        let (_, facts, members) = write(&partial_index());
        let index = facts.index.as_ref().unwrap();
        assert_eq!(
            text(&members, "index.json"),
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","#,
                    r#""manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","#,
                    r#""digest":"{}","size":{},"annotations":{{"io.containerd.image.name":"#,
                    r#""example.test/app:1","org.opencontainers.image.ref.name":"1"}}}}]}}"#
                ),
                index.digest, index.size
            )
        );
        let amd = &facts.platforms[0];
        assert_eq!(
            text(&members, "manifest.json"),
            format!(
                r#"[{{"Config":"blobs/sha256/{}","RepoTags":["example.test/app:1"],"Layers":["blobs/sha256/{}","blobs/sha256/{}"]}}]"#,
                amd.config.digest.hex(),
                amd.layers[0].digest.hex(),
                amd.layers[1].digest.hex()
            )
        );
        assert_eq!(
            text(&members, "oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
    }

    /// The index lists every platform, each with its platform, then one attestation manifest
    /// per platform pointing back at it; it is indented as BuildKit writes it.
    #[test]
    fn the_index_still_lists_the_omitted_platform() {
        let (_, facts, members) = write(&partial_index());
        let index_member = member(
            &members,
            &Member::blob_path(&facts.index.as_ref().unwrap().digest),
        );
        assert!(
            index_member
                .data
                .starts_with(b"{\n  \"schemaVersion\": 2,\n")
        );
        let index = parse(index_member);
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[0]["platform"],
            serde_json::json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(
            m[1]["platform"],
            serde_json::json!({"architecture": "arm64", "os": "linux"})
        );
        for (att, image) in [(&m[2], &m[0]), (&m[3], &m[1])] {
            assert_eq!(
                att["platform"],
                serde_json::json!({"architecture": "unknown", "os": "unknown"})
            );
            assert_eq!(
                att["annotations"]["vnd.docker.reference.type"],
                "attestation-manifest"
            );
            assert_eq!(
                att["annotations"]["vnd.docker.reference.digest"],
                image["digest"]
            );
        }
        let arm = &facts.platforms[1];
        assert!(!arm.present);
        assert_eq!(
            m[1]["digest"],
            arm.manifest.as_ref().unwrap().digest.as_str()
        );
        // Layers are per platform here: arm64's own layer is nowhere in the archive.
        assert!(!names(&members).contains(&Member::blob_path(&arm.layers[1].digest).as_str()));
        check_facts(&members, &facts);
    }

    /// A single-platform image without attestations is a plain manifest, as BuildKit commits
    /// it; the manifest is still indented (BuildKit's).
    #[test]
    fn single_platform_target_is_the_manifest() {
        let (_, facts, members) = write(&yaml(
            "layout: containerd-hybrid\nname: a:1\nlayers: [{files: [], compression: zstd}]",
        ));
        assert_eq!(facts.index, None);
        let target = &json(&members, "index.json")["manifests"][0];
        assert_eq!(target["mediaType"], crate::oci::media_type::OCI_MANIFEST);
        let manifest = member(
            &members,
            &Member::blob_path(&facts.manifest.as_ref().unwrap().digest),
        );
        assert!(manifest.data.starts_with(b"{\n  \"schemaVersion\": 2,"));
        assert_eq!(
            facts.layers[0].media_type.as_deref(),
            Some("application/vnd.oci.image.layer.v1.tar+zstd")
        );
        check_facts(&members, &facts);
    }

    /// R1: with two tags, one index.json descriptor per tag, both in RepoTags.
    #[test]
    fn two_names_give_two_descriptors_and_one_manifest_entry() {
        let spec = yaml(
            "layout: containerd-hybrid\nnames: [a.test/x:1, b.test/y:2]\nattestations: true\nlayers: [{files: []}]",
        );
        let (_, facts, members): (_, CraftedArchive, _) = write(&spec);
        let index = json(&members, "index.json");
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["digest"], m[1]["digest"]);
        assert_eq!(
            m[1]["annotations"]["org.opencontainers.image.ref.name"],
            "2"
        );
        assert_eq!(
            json(&members, "manifest.json")[0]["RepoTags"],
            serde_json::json!(["a.test/x:1", "b.test/y:2"])
        );
        assert_eq!(facts.names.index_entries.len(), 2);
        check_facts(&members, &facts);
    }
}
