//! `docker-archive`: Docker <= 24 `docker save`, the layout every reader has known longest and
//! the only one classic `docker load` needed: no `index.json`, no `oci-layout`, no blobs.
//!
//! Follows moby v24.0.9 `image/tarexport/save.go`: `saveSession.saveImage` walks the config's
//! DiffIDs, builds one legacy v1 image per layer and derives its ID with `v1.CreateID` (the
//! chain shared with the Docker >= 25 legacy blobs, [`legacy_v1`](super::legacy_v1));
//! `saveLayer` writes into a temporary directory
//!
//! ```text
//! <v1id>/            os.Mkdir 0o755
//! <v1id>/VERSION     "1.0", 0o644
//! <v1id>/json        json.Marshal(v1 image), 0o644
//! <v1id>/layer.tar   the layer, 0o644 (os.Create under umask 022)
//! ```
//!
//! and `saveImage` the config as `<config-hex>.json` (its raw bytes), then `save` adds
//! `manifest.json` (`json.NewEncoder.Encode([]manifestItem)`: `Config`, `RepoTags`, `Layers`;
//! `LayerSources` only for foreign layers and `Parent` only for local parents, so neither here)
//! and, for a named image, `repositories` (`{"<repo>":{"<tag>":"<top v1 ID>"}}`, encoded).
//! `archive.Tar` of that directory walks it lexically and skips the root, so the members are
//! the top-level names sorted bytewise, each directory followed by `VERSION`, `json`,
//! `layer.tar`. Times are the image's `Created` (the epoch here) via `Chtimes`, which is 0.
//!
//! A layer whose blob already went into an earlier directory (the same layer twice in one
//! image) gets a symlink `layer.tar -> ../<first v1id>/layer.tar` (moby's `diffIDPaths`),
//! mode 0o777. Moby never `Chtimes` that directory, so real archives carry the save time
//! there; we write 0.
//!
//! Compressed layers (`compression`) go into `layer.tar` as they are: moby never writes them,
//! but `docker load` decompresses whatever it finds, and readers should too.

use std::collections::{BTreeMap, HashMap};

use crate::craft::gojson;
use crate::craft::image::Image;
use crate::craft::legacy_v1::{LegacyV1, legacy_v1_images};
use crate::craft::manifest::ManifestItem;
use crate::craft::write::{Body, Member};
use crate::oci::Digest;

const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

/// `<config-hex>.json`.
pub(crate) fn config_member(digest: &Digest) -> String {
    format!("{}.json", digest.hex())
}

/// The `layer.tar` that holds `spec.layers[spec]`: in the directory of its first use.
pub(crate) fn layer_member(image: &Image<'_>, spec: usize) -> String {
    let p = image.primary();
    let pos = p
        .layers
        .iter()
        .position(|&i| i == spec)
        .expect("the layer is in the image");
    format!("{}/layer.tar", legacy(image)[pos].id.hex())
}

fn legacy(image: &Image<'_>) -> Vec<LegacyV1> {
    let p = image.primary();
    legacy_v1_images(&p.diff_ids, &image.plan.spec.config, &p.platform)
}

pub(crate) fn members<'a>(image: &'a Image<'_>) -> Vec<Member<'a>> {
    let p = image.primary();
    let legacy = legacy(image);
    let top = legacy
        .last()
        .expect("the plan rejects images without layers")
        .id
        .clone();

    // Top-level entries by name: the walk order, each with what the walk finds inside it.
    let mut root: BTreeMap<String, Vec<Member<'a>>> = BTreeMap::new();
    let mut first_path: HashMap<&Digest, String> = HashMap::new();
    let mut layer_paths = Vec::new();
    for (&i, v1) in p.layers.iter().zip(legacy) {
        let dir = v1.id.hex().to_string();
        let blob = &image.layers[i].blob;
        let path = format!("{dir}/layer.tar");
        let layer_tar = match first_path.get(&blob.digest) {
            Some(first) => Member {
                body: Body::Symlink(format!("../{first}")),
                ..Member::dir(&path, 0o777)
            },
            None => {
                first_path.insert(&blob.digest, path.clone());
                Member::blob(path.clone(), FILE_MODE, blob)
            }
        };
        layer_paths.push(path);
        let entries = vec![
            Member::dir(&format!("{dir}/"), DIR_MODE),
            Member::file(format!("{dir}/VERSION"), FILE_MODE, &b"1.0"[..]),
            Member::file(format!("{dir}/json"), FILE_MODE, v1.json),
            layer_tar,
        ];
        root.insert(dir, entries);
    }
    let config = config_member(&p.config.digest);
    root.insert(
        config.clone(),
        vec![Member::blob(config.clone(), FILE_MODE, &p.config)],
    );

    let refs = &image.plan.names.refs;
    let repo_tags = image.plan.names.repo_tags();
    let item = ManifestItem {
        config,
        repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
        layers: layer_paths,
    };
    let manifest_json = gojson::encode(&[item]);
    root.insert(
        "manifest.json".into(),
        vec![Member::file("manifest.json", FILE_MODE, manifest_json)],
    );

    if !refs.is_empty() {
        // Before Docker 25 the value is the top layer's v1 ID, the directory name.
        let top = top.hex();
        let mut repos: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for r in refs {
            repos.entry(&r.repo).or_default().insert(&r.tag, top);
        }
        let bytes = gojson::encode(&repos);
        root.insert(
            "repositories".into(),
            vec![Member::file("repositories", FILE_MODE, bytes)],
        );
    }
    root.into_values().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::compress::tests::decompress;
    use crate::craft::config::Platform;
    use crate::craft::testutil::{TarMember, member, names, sample_spec, write, yaml};
    use crate::craft::{Compression, CraftedArchive, LayoutKind};

    fn v1_ids(facts: &CraftedArchive) -> Vec<String> {
        let diff_ids: Vec<Digest> = facts.layers.iter().map(|l| l.diff_id.clone()).collect();
        let config = sample_spec(LayoutKind::DockerArchive).config;
        legacy_v1_images(&diff_ids, &config, &Platform::parse(None).unwrap())
            .into_iter()
            .map(|v| v.id.hex().to_string())
            .collect()
    }

    fn text(members: &[TarMember], name: &str) -> String {
        String::from_utf8(member(members, name).data.clone()).unwrap()
    }

    #[test]
    fn members_come_in_moby_v24_walk_order() {
        let (_, facts, members) = write(&sample_spec(LayoutKind::DockerArchive));
        let v1 = v1_ids(&facts);
        // The top-level entries, sorted bytewise as `filepath.WalkDir` visits them, each
        // followed by what is inside.
        type Row = (String, u32, bool);
        let mut groups: Vec<(String, Vec<Row>)> = v1
            .iter()
            .map(|id| {
                let inside = vec![
                    (format!("{id}/"), 0o755, true),
                    (format!("{id}/VERSION"), 0o644, false),
                    (format!("{id}/json"), 0o644, false),
                    (format!("{id}/layer.tar"), 0o644, false),
                ];
                (id.clone(), inside)
            })
            .collect();
        for name in [
            format!("{}.json", facts.config.digest.hex()),
            "manifest.json".into(),
            "repositories".into(),
        ] {
            groups.push((name.clone(), vec![(name, 0o644, false)]));
        }
        groups.sort();
        let want: Vec<Row> = groups.into_iter().flat_map(|g| g.1).collect();
        let got: Vec<Row> = members
            .iter()
            .map(|m| (m.name.clone(), m.mode, m.is_dir))
            .collect();
        assert_eq!(got, want);
        assert_eq!(facts.manifest, None);
        assert_eq!(facts.layers[0].media_type, None);
        assert!(members.iter().all(|m| m.mtime == 0));
    }

    #[test]
    fn manifest_json_repositories_and_layer_files_are_exact() {
        let (_, facts, members) = write(&sample_spec(LayoutKind::DockerArchive));
        let v1 = v1_ids(&facts);
        let config = format!("{}.json", facts.config.digest.hex());
        assert_eq!(
            text(&members, "manifest.json"),
            format!(
                concat!(
                    r#"[{{"Config":"{c}","RepoTags":["dangerzone.rocks/dangerzone:latest"],"#,
                    r#""Layers":["{a}/layer.tar","{b}/layer.tar"]}}]"#,
                    "\n"
                ),
                c = config,
                a = v1[0],
                b = v1[1]
            )
        );
        // The top layer's v1 ID (Docker >= 25 writes its DiffID instead).
        assert_eq!(
            text(&members, "repositories"),
            format!(
                "{{\"dangerzone.rocks/dangerzone\":{{\"latest\":\"{}\"}}}}\n",
                v1[1]
            )
        );
        assert_eq!(text(&members, &format!("{}/VERSION", v1[0])), "1.0");
        let top: serde_json::Value =
            serde_json::from_str(&text(&members, &format!("{}/json", v1[1]))).unwrap();
        assert_eq!(
            (top["id"].as_str(), top["parent"].as_str()),
            (Some(&*v1[1]), Some(&*v1[0]))
        );
        for (layer, id) in facts.layers.iter().zip(&v1) {
            let tar = &member(&members, &format!("{id}/layer.tar")).data;
            assert_eq!(Digest::sha256(tar), layer.diff_id);
        }
        assert_eq!(
            Digest::sha256(&member(&members, &config).data),
            facts.config.digest
        );
    }

    /// moby's `diffIDPaths`: the second use of a layer links to the first file.
    #[test]
    fn a_repeated_layer_is_a_symlink_to_the_first() {
        let spec = yaml("layout: docker-archive\nlayers: [{files: []}, {files: []}]");
        let (bytes, facts, _) = write(&spec);
        let diff_ids: Vec<Digest> = facts.layers.iter().map(|l| l.diff_id.clone()).collect();
        let v1 = legacy_v1_images(&diff_ids, &spec.config, &Platform::parse(None).unwrap());
        let (first, second) = (v1[0].id.hex(), v1[1].id.hex());
        let mut archive = tar::Archive::new(bytes.as_slice());
        let link = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path_bytes().as_ref() == format!("{second}/layer.tar").as_bytes())
            .unwrap();
        assert!(link.header().entry_type().is_symlink());
        assert_eq!(link.header().mode().unwrap(), 0o777);
        let target = link
            .link_name()
            .unwrap()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(target, format!("../{first}/layer.tar"));
    }

    #[test]
    fn unnamed_image_has_null_repo_tags_and_no_repositories() {
        let (_, facts, members) = write(&yaml("layout: docker-archive\nlayers: [{files: []}]"));
        assert!(text(&members, "manifest.json").contains(r#""RepoTags":null"#));
        assert!(!names(&members).contains(&"repositories"));
        assert!(facts.names.index_entries.is_empty());
    }

    /// R1: two tags of one image are one manifest.json entry with both RepoTags.
    #[test]
    fn two_names_share_one_entry() {
        let spec =
            yaml("layout: docker-archive\nnames: [a.test/x:1, a.test/x:2]\nlayers: [{files: []}]");
        let (_, facts, members) = write(&spec);
        let manifest: serde_json::Value =
            serde_json::from_str(&text(&members, "manifest.json")).unwrap();
        assert_eq!(
            manifest[0]["RepoTags"],
            serde_json::json!(["a.test/x:1", "a.test/x:2"])
        );
        let repos: serde_json::Value =
            serde_json::from_str(&text(&members, "repositories")).unwrap();
        assert_eq!(repos["a.test/x"].as_object().unwrap().len(), 2);
        assert_eq!(facts.names.repo_tags, ["a.test/x:1", "a.test/x:2"]);
    }

    /// `docker load` decompresses whatever `layer.tar` holds; the config lists the DiffID.
    #[test]
    fn compressed_layers_are_stored_compressed() {
        let spec = yaml("layout: docker-archive\nlayers: [{files: [{path: a}], compression: xz}]");
        let (_, facts, members) = write(&spec);
        let stored = &members
            .iter()
            .find(|m| m.name.ends_with("/layer.tar"))
            .unwrap()
            .data;
        assert_eq!(Digest::sha256(stored), facts.layers[0].digest);
        assert_eq!(
            Digest::sha256(&decompress(stored, Compression::Xz)),
            facts.layers[0].diff_id
        );
        let config: serde_json::Value = serde_json::from_slice(
            &member(&members, &format!("{}.json", facts.config.digest.hex())).data,
        )
        .unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            facts.layers[0].diff_id.as_str()
        );
    }
}
