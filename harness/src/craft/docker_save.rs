//! The Docker >= 25 `docker save` layout (classic image store): an OCI image layout and a
//! docker-archive in one tar, the "hybrid" that Podman 3.4 names `localhost/latest:latest` (R1)
//! and that go-containerregistry < 0.19 could not read (R5).
//!
//! Follows moby `image/tarexport/save.go` `saveSession.save` / `saveImage` /
//! `saveConfigAndLayer` / `saveConfig` (v26.1 to v29; 25.0 and 26.0 differ only in also writing
//! a `platform` on the manifest's config descriptor and on the index descriptor). Moby writes a
//! temporary directory and tars it with `pkg/archive.Tar`, which walks it in lexical order and
//! skips the root, so the members are:
//!
//! ```text
//! blobs/  blobs/sha256/  blobs/sha256/<hex>... (sorted)  index.json  manifest.json  oci-layout  repositories
//! ```
//!
//! `blobs/sha256/` holds the config, every layer uncompressed and named by its DiffID, the OCI
//! manifest and one legacy v1 JSON per layer ([`legacy_v1`](super::legacy_v1)). Directories are
//! 0o755 and files 0o644 (moby's `0o644`/`0o666` under the usual umask 022); every mtime is 0,
//! which is what moby sets for an image created at the epoch (`index.json` got its `Chtimes`
//! only in v28; earlier versions leave the save time there, which we do not mimic).
//!
//! The JSON files are byte-exact: `index.json` is `json.Marshal` (no newline), `manifest.json`
//! and `repositories` are `json.NewEncoder(f).Encode` (trailing newline), and `oci-layout` is
//! moby's literal `{"imageLayoutVersion": "1.0.0"}` (with a space, unlike containerd's).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::craft::gojson;
use crate::craft::image::Image;
use crate::craft::legacy_v1::legacy_v1_blobs;
use crate::craft::write::Member;
use crate::oci::Digest;

const FILE_MODE: u32 = 0o644;

/// moby's `ociLayoutContent` constant.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion": "1.0.0"}"#;

/// moby `tarexport.manifestItem`. `Parent` (omitempty) is empty for images without a local
/// parent, which is every crafted image.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem<'a> {
    config: String,
    /// A nil slice (`null`) when the image is saved without a name, as moby writes it.
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
    /// Every layer, keyed by DiffID: `saveConfigAndLayer` fills a descriptor for each layer it
    /// writes, not only for foreign ones.
    layer_sources: BTreeMap<String, LayerSource<'a>>,
}

/// `distribution.Descriptor` (docker/distribution), whose field order differs from
/// image-spec's: `mediaType, size, digest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LayerSource<'a> {
    media_type: &'a str,
    size: u64,
    digest: String,
}

/// The members of the primary (the only) platform's image. Layers are named by their blob
/// digest, which is their DiffID as moby names them unless the spec compresses them (which
/// moby never does); DiffIDs (`LayerSources` keys, the legacy chain, `repositories`) are the
/// ones the config claims.
pub(crate) fn members<'a>(image: &'a Image<'_>) -> Vec<Member<'a>> {
    let p = image.primary();
    let layers: Vec<_> = p.layers.iter().map(|&i| &image.layers[i]).collect();

    // Every file under blobs/sha256, keyed by name so the walk order falls out and a layer
    // that appears twice is stored once (moby's `savedLayers`).
    let mut blobs = Member::blob_map(
        layers
            .iter()
            .map(|l| &l.blob)
            .chain([&p.config])
            .chain(&p.manifest)
            .chain(&image.disagreeing_config),
        FILE_MODE,
    );
    for bytes in legacy_v1_blobs(&p.diff_ids, &image.plan.spec.config, &p.platform) {
        let name = Member::blob_path(&Digest::sha256(&bytes));
        blobs.insert(name.clone(), Member::file(name, FILE_MODE, bytes));
    }

    let repo_tags = image.plan.names.repo_tags();
    let config = image.disagreeing_config.as_ref().unwrap_or(&p.config);
    let item = ManifestItem {
        config: Member::blob_path(&config.digest),
        repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
        layers: layers
            .iter()
            .map(|l| Member::blob_path(&l.blob.digest))
            .collect(),
        layer_sources: layers
            .iter()
            .zip(&p.diff_ids)
            .map(|(l, diff_id)| {
                let source = LayerSource {
                    media_type: &l.media_type,
                    size: l.blob.desc_size,
                    digest: l.blob.digest.to_string(),
                };
                (diff_id.to_string(), source)
            })
            .collect(),
    };
    let manifest_json = gojson::encode(&[item]);

    // `reposLegacy[familiarName][tag]` is the *top layer's DiffID* hex since Docker 25 (it was
    // the top v1 ID before), not the config digest.
    let top = p
        .diff_ids
        .last()
        .expect("the plan rejects images without layers");
    let refs = &image.plan.names.refs;
    let repositories = (!refs.is_empty()).then(|| {
        let mut repos: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for r in refs {
            repos.entry(&r.repo).or_default().insert(&r.tag, top.hex());
        }
        gojson::encode(&repos)
    });

    let index_json = image
        .index_json
        .as_deref()
        .expect("the hybrid has index.json");
    let mut out = Member::oci_prefix(blobs, index_json, FILE_MODE);
    out.push(Member::file("manifest.json", FILE_MODE, manifest_json));
    out.push(Member::file("oci-layout", FILE_MODE, OCI_LAYOUT));
    if let Some(repositories) = repositories {
        out.push(Member::file("repositories", FILE_MODE, repositories));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::testutil::{TarMember, blob, json, member, sample_spec, write};
    use crate::craft::{LayerSpec, LayoutKind};

    fn hybrid() -> crate::craft::FixtureSpec {
        sample_spec(LayoutKind::DockerOciHybrid)
    }

    fn names_and_modes(members: &[TarMember]) -> Vec<(String, u32)> {
        members.iter().map(|m| (m.name.clone(), m.mode)).collect()
    }

    #[test]
    fn members_come_in_moby_walk_order() {
        let (_, facts, members) = write(&hybrid());
        let legacy: Vec<String> = legacy_v1_blobs(
            &facts
                .layers
                .iter()
                .map(|l| l.diff_id.clone())
                .collect::<Vec<_>>(),
            &hybrid().config,
            &crate::craft::config::Platform::parse(None).unwrap(),
        )
        .iter()
        .map(|b| Member::blob_path(&Digest::sha256(b)))
        .collect();
        let mut blob_names: Vec<String> = facts
            .layers
            .iter()
            .map(|l| Member::blob_path(&l.digest))
            .chain([
                Member::blob_path(&facts.config.digest),
                Member::blob_path(&facts.manifest.as_ref().unwrap().digest),
            ])
            .chain(legacy)
            .collect();
        blob_names.sort();
        assert_eq!(
            blob_names.len(),
            2 + 2 + 2,
            "layers, config, manifest, one legacy per layer"
        );

        let mut want = vec![
            ("blobs/".to_string(), 0o755),
            ("blobs/sha256/".into(), 0o755),
        ];
        want.extend(blob_names.into_iter().map(|n| (n, 0o644)));
        for name in ["index.json", "manifest.json", "oci-layout", "repositories"] {
            want.push((name.into(), 0o644));
        }
        assert_eq!(names_and_modes(&members), want);
    }

    #[test]
    fn manifest_json_is_exact() {
        let (_, facts, members) = write(&hybrid());
        let [l0, l1] = [&facts.layers[0].digest, &facts.layers[1].digest];
        let [s0, s1] = [facts.layers[0].size, facts.layers[1].size];
        let source = |d: &Digest, s: u64| {
            format!(
                r#""{d}":{{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":{s},"digest":"{d}"}}"#
            )
        };
        // LayerSources is a Go map: keys sorted.
        let mut sources = [source(l0, s0), source(l1, s1)];
        sources.sort();
        let want = format!(
            concat!(
                r#"[{{"Config":"blobs/sha256/{config}","RepoTags":["dangerzone.rocks/dangerzone:latest"],"#,
                r#""Layers":["blobs/sha256/{h0}","blobs/sha256/{h1}"],"LayerSources":{{{sources}}}}}]"#,
                "\n"
            ),
            config = facts.config.digest.hex(),
            h0 = l0.hex(),
            h1 = l1.hex(),
            sources = sources.join(","),
        );
        assert_eq!(
            String::from_utf8(member(&members, "manifest.json").data.clone()).unwrap(),
            want
        );
    }

    #[test]
    fn index_names_the_image_fully_and_by_tag_alone() {
        // R1: Docker >= 25 writes the tag alone to ref.name, which Podman 3.4 turns into
        // localhost/latest:latest; io.containerd.image.name has the full name.
        let (_, _, members) = write(&hybrid());
        let index = json(&members, "index.json");
        assert_eq!(
            index["manifests"][0]["annotations"],
            serde_json::json!({
                "io.containerd.image.name": "dangerzone.rocks/dangerzone:latest",
                "org.opencontainers.image.ref.name": "latest",
            })
        );
        assert_eq!(index["mediaType"], crate::oci::media_type::OCI_INDEX);
        assert!(
            index["manifests"][0].get("platform").is_none(),
            "moby >= 26 writes no platform"
        );
    }

    #[test]
    fn small_files_are_exact() {
        let (_, facts, members) = write(&hybrid());
        let text = |name| String::from_utf8(member(&members, name).data.clone()).unwrap();
        assert_eq!(text("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#);
        // The top layer's DiffID, not the config digest.
        assert_eq!(
            text("repositories"),
            format!(
                "{{\"dangerzone.rocks/dangerzone\":{{\"latest\":\"{}\"}}}}\n",
                facts.layers[1].diff_id.hex()
            )
        );
    }

    #[test]
    fn unnamed_image_has_null_repo_tags_and_no_repositories() {
        let mut spec = hybrid();
        spec.name = None;
        let (_, facts, members) = write(&spec);
        let manifest = json(&members, "manifest.json");
        assert_eq!(manifest[0]["RepoTags"], serde_json::Value::Null);
        assert!(members.iter().all(|m| m.name != "repositories"));
        assert!(
            json(&members, "index.json")["manifests"][0]
                .get("annotations")
                .is_none()
        );
        assert!(facts.names.repo_tags.is_empty());
        assert_eq!(facts.names.image_name, None);
        assert_eq!(facts.names.ref_name, None);
        // moby writes the untagged descriptor when no ref was given.
        assert_eq!(facts.names.index_entries, [Default::default()]);
    }

    #[test]
    fn layer_sources_and_layers_cover_every_layer_in_order() {
        let (_, facts, members) = write(&hybrid());
        let manifest = &json(&members, "manifest.json")[0];
        let layers: Vec<&str> = manifest["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let want: Vec<String> = facts
            .layers
            .iter()
            .map(|l| Member::blob_path(&l.diff_id))
            .collect();
        assert_eq!(layers, want);
        let sources = manifest["LayerSources"].as_object().unwrap();
        assert_eq!(sources.len(), facts.layers.len());
        for l in &facts.layers {
            let s = &sources[l.diff_id.as_str()];
            assert_eq!(s["mediaType"], crate::oci::media_type::OCI_LAYER_TAR);
            assert_eq!(s["digest"], l.digest.as_str());
            assert_eq!(s["size"], l.size);
            assert_eq!(blob(&members, l.digest.as_str()).data.len() as u64, l.size);
        }
        let config_path = manifest["Config"].as_str().unwrap();
        assert_eq!(config_path, Member::blob_path(&facts.config.digest));
        member(&members, config_path);
    }

    #[test]
    fn identical_layers_are_stored_once_and_listed_twice() {
        let mut spec = hybrid();
        spec.layers = vec![LayerSpec::default(), LayerSpec::default()];
        let (_, facts, members) = write(&spec);
        assert_eq!(facts.layers[0].digest, facts.layers[1].digest);
        let path = Member::blob_path(&facts.layers[0].digest);
        assert_eq!(members.iter().filter(|m| m.name == path).count(), 1);
        let manifest = &json(&members, "manifest.json")[0];
        assert_eq!(manifest["Layers"], serde_json::json!([path, path]));
        assert_eq!(manifest["LayerSources"].as_object().unwrap().len(), 1);
        // Two legacy blobs still: their chain IDs differ.
        let blob_count = members
            .iter()
            .filter(|m| m.name.starts_with("blobs/sha256/") && !m.is_dir)
            .count();
        assert_eq!(
            blob_count,
            1 + 1 + 1 + 2,
            "layer, config, manifest, two legacy"
        );
    }

    #[test]
    fn legacy_blobs_are_unreferenced_v1_json() {
        let (_, facts, members) = write(&hybrid());
        let referenced: Vec<String> = facts
            .layers
            .iter()
            .map(|l| l.digest.to_string())
            .chain([
                facts.config.digest.to_string(),
                facts.manifest.as_ref().unwrap().digest.to_string(),
            ])
            .collect();
        let legacy: Vec<serde_json::Value> = members
            .iter()
            .filter(|m| m.name.starts_with("blobs/sha256/") && !m.is_dir)
            .filter(|m| {
                !referenced
                    .iter()
                    .any(|d| m.name.ends_with(&d["sha256:".len()..]))
            })
            .map(|m| serde_json::from_slice(&m.data).unwrap())
            .collect();
        assert_eq!(legacy.len(), 2);
        let top = legacy.iter().find(|v| v.get("parent").is_some()).unwrap();
        let bottom = legacy.iter().find(|v| v.get("parent").is_none()).unwrap();
        assert_eq!(top["parent"], bottom["id"]);
        assert_eq!(
            top["config"]["Cmd"],
            serde_json::json!(["/usr/local/bin/app"])
        );
        assert_eq!(top["architecture"], "amd64");
        assert!(bottom.get("config").is_none());
    }
}
