//! Applying defects: how each entry of `defects:` ([`DefectSpec`](super::DefectSpec)) changes
//! the bytes, and how it is reported ([`AppliedDefect`]).
//!
//! Defects act at two points. Those on blobs act while [`Image::build`](super::image::Image)
//! makes each blob ([`seal`]), before anything references it, so references agree with the
//! defect and only the intended check fails; `diffid-mismatch`, `layer-count-mismatch`,
//! `media-type-compression-mismatch`, `manifest-json-index-disagree`, `index-manifests-null`
//! and `unsafe-path` are decided there too, each where the document it changes is built. Those
//! on archive members act on the layout's member list ([`apply_member_defects`]): a blob left
//! out, a member written twice, a file cut short. [`describe`] then says, per defect, which
//! member the reader should find it in and what was done.

use std::borrow::Cow;
use std::io;

use crate::craft::defect::{AppliedDefect, DefectKind};
use crate::craft::image::{Blob, Image};
use crate::craft::plan::{Aim, BlobKey, Plan};
use crate::craft::stream::StreamedBlob;
use crate::craft::write::{Body, Member};
use crate::oci::Digest;

/// Applies the blob defects aimed at `key` to `bytes` and makes the blob: `invalid-json` cuts
/// the bytes to half before they are hashed, `digest-mismatch` stores and references them
/// under the digest of other bytes, `size-mismatch` adds one to the size descriptors claim.
pub(crate) fn seal(plan: &Plan<'_>, mut bytes: Vec<u8>, key: BlobKey) -> Blob {
    if plan.hits(DefectKind::InvalidJson, key) {
        bytes.truncate(bytes.len() / 2);
    }
    let mut blob = Blob::new(bytes);
    if plan.hits(DefectKind::DigestMismatch, key) {
        blob.digest = wrong_digest(&blob.bytes);
    }
    if plan.hits(DefectKind::SizeMismatch, key) {
        blob.desc_size += 1;
    }
    blob
}

/// [`seal`] for a layer whose bytes are made when written (`stream.rs`). The plan refuses
/// `invalid-json` on layers, so only the digest and the size can change; hashing for
/// `digest-mismatch` makes the bytes once more.
pub(crate) fn seal_streamed(
    plan: &Plan<'_>,
    stream: StreamedBlob,
    key: BlobKey,
) -> io::Result<Blob> {
    debug_assert!(!plan.hits(DefectKind::InvalidJson, key));
    let wrong = if plan.hits(DefectKind::DigestMismatch, key) {
        Some(stream.sha256_with_suffix(WRONG_DIGEST_SUFFIX)?)
    } else {
        None
    };
    let mut blob = Blob::streamed(stream);
    if let Some(wrong) = wrong {
        blob.digest = wrong;
    }
    if plan.hits(DefectKind::SizeMismatch, key) {
        blob.desc_size += 1;
    }
    Ok(blob)
}

/// What `digest-mismatch` hashes after a blob's bytes.
const WRONG_DIGEST_SUFFIX: &[u8] = b"\n# harness craft: digest-mismatch";

/// A digest `bytes` do not have, the same for the same bytes.
pub(crate) fn wrong_digest(bytes: &[u8]) -> Digest {
    Digest::sha256(&[bytes, WRONG_DIGEST_SUFFIX].concat())
}

/// `blob-missing` drops the members holding the blob, `duplicate-entry` writes a member again
/// right after itself, and `invalid-json` on a file (blobs are cut while built) cuts it to
/// half its length.
pub(crate) fn apply_member_defects<'a>(
    image: &Image<'_>,
    mut members: Vec<Member<'a>>,
) -> Vec<Member<'a>> {
    let find = |members: &[Member<'_>], aim: &Aim| -> usize {
        let found = match aim {
            Aim::File(f) => members.iter().position(|m| m.name == f.name()),
            Aim::Blob(key) => {
                let digest = &image.blob(*key).digest;
                members.iter().position(|m| m.blob.as_ref() == Some(digest))
            }
            _ => None,
        };
        found.expect("the plan only aims at members the layout writes")
    };
    for d in &image.plan.defects {
        match (d.kind, &d.aim) {
            (DefectKind::BlobMissing, Aim::Blob(key)) => {
                let digest = &image.blob(*key).digest;
                members.retain(|m| m.blob.as_ref() != Some(digest));
            }
            (DefectKind::DuplicateEntry, aim) => {
                let i = find(&members, aim);
                members.insert(i + 1, members[i].clone());
            }
            (DefectKind::InvalidJson, aim @ Aim::File(_)) => {
                let i = find(&members, aim);
                if let Body::File(data) = &mut members[i].body {
                    let half = data.len() / 2;
                    *data = Cow::Owned(data[..half].to_vec());
                }
            }
            _ => {}
        }
    }
    members
}

/// What `kind` aimed at `aim` did, in the archive's terms.
pub(crate) fn describe(image: &Image<'_>, kind: DefectKind, aim: &Aim) -> AppliedDefect {
    let member_of = |aim: &Aim| match aim {
        Aim::File(f) => f.name().to_string(),
        Aim::Blob(key) => image.member_name(*key),
        Aim::Entry { layer, .. } => image.member_name(BlobKey::Layer {
            platform: image.plan.primary,
            spec: *layer,
        }),
        Aim::Image => String::new(),
    };
    let primary_config = || image.member_name(BlobKey::Config(image.plan.primary));
    let (member, detail) = match (kind, aim) {
        (DefectKind::BlobMissing, _) => (member_of(aim), "not written; still referenced".into()),
        (DefectKind::DigestMismatch, Aim::Blob(key)) => {
            let blob = image.blob(*key);
            let real = blob.content_digest();
            let detail = format!(
                "stored and referenced as {}, content is {real}",
                blob.digest
            );
            (member_of(aim), detail)
        }
        (DefectKind::SizeMismatch, Aim::Blob(key)) => {
            let blob = image.blob(*key);
            let detail = format!(
                "descriptors say {} bytes, it has {}",
                blob.desc_size,
                blob.size()
            );
            (member_of(aim), detail)
        }
        (DefectKind::DiffidMismatch, Aim::Blob(BlobKey::Layer { platform, spec })) => {
            let p = &image.platforms[*platform];
            let pos = p
                .layers
                .iter()
                .position(|i| i == spec)
                .expect("plan checked");
            let l = &image.layers[*spec];
            let detail = format!(
                "rootfs.diff_ids[{pos}] is {}, the digest of the {} blob; the DiffID is {}",
                p.diff_ids[pos],
                l.compression.as_str(),
                l.diff_id
            );
            (image.member_name(BlobKey::Config(*platform)), detail)
        }
        (DefectKind::LayerCountMismatch, _) => {
            let n = image.primary().layers.len();
            let detail = format!("rootfs.diff_ids lists {} DiffIDs for {n} layers", n - 1);
            (primary_config(), detail)
        }
        (DefectKind::IndexManifestsNull, _) => ("index.json".into(), r#""manifests": null"#.into()),
        (DefectKind::ManifestLayersReordered, _) => {
            let n = image.primary().layers.len();
            let detail = format!("the manifest lists its {n} layers top first");
            (
                image.member_name(BlobKey::Manifest(image.plan.primary)),
                detail,
            )
        }
        (DefectKind::ManifestLayersEmpty, _) => {
            let n = image.primary().layers.len();
            let detail = format!("the manifest lists no layers; the config lists {n}");
            (
                image.member_name(BlobKey::Manifest(image.plan.primary)),
                detail,
            )
        }
        (DefectKind::ManifestJsonIndexDisagree, _) => {
            let copy = image
                .disagreeing_config
                .as_ref()
                .expect("built with the defect");
            let detail = format!(
                "Config is blobs/sha256/{}, the index's manifest names {}",
                copy.digest.hex(),
                primary_config()
            );
            ("manifest.json".into(), detail)
        }
        (DefectKind::MediaTypeCompressionMismatch, Aim::Blob(BlobKey::Layer { spec, .. })) => {
            let l = &image.layers[*spec];
            let detail = format!(
                "descriptors say {}, the bytes are {}",
                l.media_type,
                l.compression.as_str()
            );
            (member_of(aim), detail)
        }
        (DefectKind::UnsafePath, Aim::Entry { path, .. }) => {
            (member_of(aim), format!("layer entry {path:?}"))
        }
        (DefectKind::DuplicateEntry, _) => (member_of(aim), "written twice".into()),
        (DefectKind::InvalidJson, _) => (member_of(aim), "cut to half its length".into()),
        (kind, aim) => unreachable!("the plan never aims {kind:?} at {aim:?}"),
    };
    AppliedDefect {
        code: kind,
        member,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::craft::compress::tests::decompress;
    use crate::craft::image::DISAGREE_LABEL;
    use crate::craft::testutil::{
        blob, config_doc, json, manifest_doc, member, names, parse, sample_spec, write, yaml,
    };
    use crate::craft::{CraftedArchive, DefectSpec, FixtureSpec, LayoutKind, Target};
    use crate::oci::media_type;

    const LAYOUTS: [&str; 4] = [
        "docker-archive",
        "docker-oci-hybrid",
        "containerd-hybrid",
        "oci-archive",
    ];
    const ALL_LAYOUTS: [LayoutKind; 4] = [
        LayoutKind::DockerArchive,
        LayoutKind::DockerOciHybrid,
        LayoutKind::ContainerdHybrid,
        LayoutKind::OciArchive,
    ];

    /// Two layers, the second gzip; named; with `extra` spec lines.
    fn spec(layout: &str, extra: &str) -> FixtureSpec {
        yaml(&format!(
            "layout: {layout}\nname: example.test/app:1\n{extra}\nlayers:\n\
             - files: [{{path: etc/a, content: a}}]\n\
             - files: [{{path: etc/b, content: bbbbbbbbbbbbbbbbbbbb}}]\n  compression: gzip\n"
        ))
    }

    fn only_defect(facts: &CraftedArchive) -> &AppliedDefect {
        assert_eq!(facts.defects.len(), 1, "{:?}", facts.defects);
        &facts.defects[0]
    }

    #[test]
    fn digest_mismatch_stores_and_references_a_wrong_name() {
        for target in ["config", "manifest", "layer 1"] {
            let (_, facts, members) = write(&spec(
                "oci-archive",
                &format!("defects: [digest-mismatch: {target}]"),
            ));
            let d = only_defect(&facts);
            let stored = member(&members, &d.member);
            let named = Digest::parse(d.member.rsplit('/').next().unwrap()).unwrap();
            assert_ne!(Digest::sha256(&stored.data), named, "{target}");
            assert_eq!(wrong_digest(&stored.data), named, "{target}");
            assert!(d.detail.contains(Digest::sha256(&stored.data).as_str()));
        }
        // The manifest references the renamed config, so only the content check fails.
        let (_, facts, members) = write(&spec("oci-archive", "defects: [digest-mismatch: config]"));
        assert_eq!(
            manifest_doc(&members, &facts)["config"]["digest"],
            facts.config.digest.as_str()
        );
    }

    #[test]
    fn size_mismatch_adds_one_to_the_descriptors() {
        let (_, facts, members) = write(&spec(
            "docker-oci-hybrid",
            "defects: [size-mismatch: layer 1]",
        ));
        let l = &facts.layers[1];
        assert_eq!(
            manifest_doc(&members, &facts)["layers"][1]["size"],
            l.size + 1
        );
        let sources = &json(&members, "manifest.json")[0]["LayerSources"];
        assert_eq!(sources[l.diff_id.as_str()]["size"], l.size + 1);
        assert_eq!(blob(&members, l.digest.as_str()).data.len() as u64, l.size);
        assert_eq!(only_defect(&facts).member, Member::blob_path(&l.digest));
    }

    /// R2: the config lists the digest of the compressed bytes as the DiffID.
    #[test]
    fn diffid_mismatch_lists_the_compressed_digest() {
        for layout in LAYOUTS {
            let (_, facts, members) = write(&spec(layout, "defects: [diffid-mismatch: layer 1]"));
            let config = config_doc(&members, &facts);
            let l = &facts.layers[1];
            assert_eq!(
                config["rootfs"]["diff_ids"][1],
                l.digest.as_str(),
                "{layout}"
            );
            assert_eq!(
                config["rootfs"]["diff_ids"][0],
                facts.layers[0].diff_id.as_str()
            );
            assert_ne!(l.digest, l.diff_id);
            assert!(only_defect(&facts).detail.contains("gzip"));
        }
    }

    /// moby#47150 and moby#47065: only the OCI manifest changes; the config and
    /// `manifest.json` keep every layer in apply order.
    #[test]
    fn manifest_layers_reordered_and_empty_change_only_the_manifest() {
        for layout in ["docker-oci-hybrid", "containerd-hybrid", "oci-archive"] {
            let plain = write(&spec(layout, ""));
            let layer_digests = |members: &_, facts: &_| -> Vec<Value> {
                manifest_doc(members, facts)["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["digest"].clone())
                    .collect()
            };
            let mut want = layer_digests(&plain.2, &plain.1);
            want.reverse();
            let (_, facts, members) = write(&spec(layout, "defects: [manifest-layers-reordered]"));
            assert_eq!(layer_digests(&members, &facts), want, "{layout}");
            assert_eq!(
                config_doc(&members, &facts)["rootfs"],
                config_doc(&plain.2, &plain.1)["rootfs"]
            );
            let (_, facts, members) = write(&spec(layout, "defects: [manifest-layers-empty]"));
            assert!(layer_digests(&members, &facts).is_empty(), "{layout}");
            assert_eq!(facts.defects[0].code.code(), "layer-count-mismatch");
            if layout != "oci-archive" {
                let mj = json(&members, "manifest.json");
                assert_eq!(mj[0]["Layers"].as_array().unwrap().len(), 2, "{layout}");
            }
        }
        let one = yaml(
            "layout: oci-archive\nlayers: [{files: []}]\ndefects: [manifest-layers-reordered]",
        );
        assert!(crate::craft::testutil::craft_error(&one).contains("needs two different layers"));
        let both = spec(
            "oci-archive",
            "defects: [manifest-layers-reordered, manifest-layers-empty]",
        );
        assert!(crate::craft::testutil::craft_error(&both).contains("contradicts defects[0]"));
    }

    #[test]
    fn layer_count_mismatch_drops_the_top_diff_id() {
        let (_, facts, members) = write(&spec(
            "containerd-hybrid",
            "defects: [layer-count-mismatch]",
        ));
        let ids = &config_doc(&members, &facts)["rootfs"]["diff_ids"];
        assert_eq!(ids.as_array().unwrap().len(), 1);
        assert_eq!(
            manifest_doc(&members, &facts)["layers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            json(&members, "manifest.json")[0]["Layers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn media_type_compression_mismatch_claims_another_compression() {
        let (_, facts, members) = write(&spec(
            "oci-archive",
            "defects: [media-type-compression-mismatch: layer 1, media-type-compression-mismatch: layer 0]",
        ));
        let layers = &manifest_doc(&members, &facts)["layers"];
        // gzip bytes claimed uncompressed, uncompressed bytes claimed gzip.
        assert_eq!(layers[1]["mediaType"], media_type::OCI_LAYER_TAR);
        assert_eq!(layers[0]["mediaType"], media_type::OCI_LAYER_GZIP);
        assert!(
            blob(&members, facts.layers[1].digest.as_str())
                .data
                .starts_with(&[0x1f, 0x8b])
        );
        assert_eq!(facts.defects.len(), 2);
    }

    #[test]
    fn invalid_json_blobs_are_cut_and_named_by_what_is_left() {
        let (_, facts, members) = write(&spec(
            "containerd-hybrid",
            "platforms: [linux/amd64]\ndefects: [invalid-json: index]",
        ));
        let index = facts.index.as_ref().unwrap();
        let stored = &blob(&members, index.digest.as_str()).data;
        assert!(serde_json::from_slice::<Value>(stored).is_err());
        assert_eq!(Digest::sha256(stored), index.digest);
        assert_eq!(
            json(&members, "index.json")["manifests"][0]["size"],
            index.size
        );
    }

    /// moby#47210.
    #[test]
    fn index_manifests_null() {
        let (_, facts, members) = write(&spec(
            "docker-oci-hybrid",
            "defects: [index-manifests-null]",
        ));
        assert_eq!(
            member(&members, "index.json").data,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}"#
        );
        assert!(facts.names.index_entries.is_empty());
        assert_eq!(only_defect(&facts).member, "index.json");
    }

    #[test]
    fn manifest_json_index_disagree_names_a_labelled_copy() {
        for layout in ["docker-oci-hybrid", "containerd-hybrid"] {
            let (_, facts, members) =
                write(&spec(layout, "defects: [manifest-json-index-disagree]"));
            let from_json = json(&members, "manifest.json")[0]["Config"]
                .as_str()
                .unwrap()
                .to_string();
            let from_index = manifest_doc(&members, &facts)["config"]["digest"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(from_index, facts.config.digest.as_str());
            assert_ne!(from_json, Member::blob_path(&facts.config.digest));
            let copy = parse(member(&members, &from_json));
            assert_eq!(
                copy["config"]["Labels"][DISAGREE_LABEL],
                "manifest-json-index-disagree"
            );
            assert_eq!(copy["rootfs"], config_doc(&members, &facts)["rootfs"]);
        }
    }

    #[test]
    fn unsafe_path_adds_an_escaping_entry() {
        let (_, facts, members) = write(&spec(
            "containerd-hybrid",
            "defects: [unsafe-path: {layer: 1, path: /etc/escape}]",
        ));
        let l = &facts.layers[1];
        let tar = decompress(&blob(&members, l.digest.as_str()).data, l.compression);
        let entries: Vec<String> = crate::craft::testutil::read_members(&tar)
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(entries.last().map(String::as_str), Some("/etc/escape"));
        assert_eq!(
            Digest::sha256(&tar),
            l.diff_id,
            "the DiffID covers the entry"
        );
        assert_eq!(only_defect(&facts).member, Member::blob_path(&l.digest));
    }

    #[test]
    fn blob_missing_leaves_the_member_out_in_every_layout() {
        for layout in ALL_LAYOUTS {
            for target in ["config", "layer 0"] {
                let mut spec = sample_spec(layout);
                spec.defects = vec![DefectSpec::BlobMissing(
                    Target::try_from(target.to_string()).unwrap(),
                )];
                let (_, facts, members) = write(&spec);
                let d = &facts.defects[0];
                assert_eq!(d.code, DefectKind::BlobMissing);
                assert!(
                    !names(&members).contains(&d.member.as_str()),
                    "{layout:?} {target}"
                );
                let (_, _, whole) = write(&sample_spec(layout));
                assert!(
                    names(&whole).contains(&d.member.as_str()),
                    "{layout:?} {target}"
                );
                assert_eq!(whole.len(), members.len() + 1);
            }
        }
    }

    #[test]
    fn duplicate_entry_writes_the_member_twice_in_a_row() {
        for (layout, target) in [
            (LayoutKind::DockerArchive, "manifest.json"),
            (LayoutKind::DockerArchive, "layer 1"),
            (LayoutKind::DockerOciHybrid, "repositories"),
            (LayoutKind::ContainerdHybrid, "config"),
            (LayoutKind::OciArchive, "oci-layout"),
        ] {
            let mut spec = sample_spec(layout);
            spec.defects = vec![DefectSpec::DuplicateEntry(
                Target::try_from(target.to_string()).unwrap(),
            )];
            let (_, facts, members) = write(&spec);
            let name = &facts.defects[0].member;
            let at: Vec<usize> = (0..members.len())
                .filter(|&i| &members[i].name == name)
                .collect();
            assert_eq!(at.len(), 2, "{layout:?} {target}");
            assert_eq!(at[1], at[0] + 1);
            assert_eq!(members[at[0]], members[at[1]]);
        }
    }

    #[test]
    fn invalid_json_cuts_a_file_in_half() {
        for (layout, file) in [
            (LayoutKind::DockerArchive, "repositories"),
            (LayoutKind::DockerOciHybrid, "manifest.json"),
            (LayoutKind::ContainerdHybrid, "index.json"),
            (LayoutKind::OciArchive, "oci-layout"),
        ] {
            let mut spec = sample_spec(layout);
            spec.defects = vec![DefectSpec::InvalidJson(
                Target::try_from(file.to_string()).unwrap(),
            )];
            let (_, facts, members) = write(&spec);
            let (_, _, whole) = write(&sample_spec(layout));
            let cut = &member(&members, file).data;
            let full = &member(&whole, file).data;
            assert_eq!(cut.as_slice(), &full[..full.len() / 2], "{layout:?}");
            assert!(serde_json::from_slice::<serde_json::Value>(cut).is_err());
            assert_eq!(facts.defects[0].member, file);
        }
    }

    #[test]
    fn applied_defects_are_listed_in_spec_order_with_their_codes() {
        let spec = yaml(
            "layout: docker-oci-hybrid
name: a:1
layers: [{files: []}, {files: [{path: x}], compression: gzip}]
defects:
  - duplicate-entry: index.json
  - diffid-mismatch: layer 1
  - unsafe-path: {}
  - blob-missing: layer 0
",
        );
        let (_, facts, _) = write(&spec);
        let codes: Vec<&str> = facts.defects.iter().map(|d| d.code.code()).collect();
        assert_eq!(
            codes,
            [
                "duplicate-entry",
                "diffid-mismatch",
                "unsafe-path",
                "blob-missing"
            ]
        );
        let value = serde_json::to_value(&facts.defects[1]).unwrap();
        assert_eq!(value["code"], "diffid-mismatch");
        assert_eq!(value["member"], Member::blob_path(&facts.config.digest));
    }
}
