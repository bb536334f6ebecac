//! Interpretation: the members recorded by the pass -> [`ArchiveReport`].
//!
//! Runs after the whole archive has streamed by, so member order never matters. The layout
//! class comes from which metadata files exist; images come from `index.json` (followed
//! through image indexes to platform manifests, configs and layers in `oci_graph.rs`) and from
//! `manifest.json` (items joined to `index.json` images by config digest, the rest reported
//! on their own, here).
//! Every reference is joined to the member holding it, by `blobs/sha256/<hex>` for
//! descriptors and by path (following links, as moby's `safePath` and containerd's
//! `ImportIndex` symlink map do) for `manifest.json`.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use crate::oci::Digest;
use crate::oci::archive::json::{RawConfig, RawItem, RawManifest, RawOciLayout};
use crate::oci::archive::path::{blob_path, clean, join_link};
use crate::oci::archive::scan::Scan;
use crate::oci::archive::{
    ArchiveReport, Compression, ConfigReport, ImageNames, ImageReport, IndexGraphReport, IndexJson,
    InputKind, JsonError, JsonErrorKind, LayerReport, LayoutKind, ManifestReport, MemberKind,
    MemberRole, OciLayoutFile, StoredBlob,
};

/// Facts about the input that the pass measured outside the members.
pub(crate) struct InputFacts {
    pub input: InputKind,
    pub compression: Compression,
    pub size: u64,
    pub tar_size: Option<u64>,
}

/// Builds the report from a finished pass.
pub(crate) fn build(scan: Scan, facts: InputFacts) -> ArchiveReport {
    let mut b = Builder::new(scan);
    let has = |b: &Builder, p: &str| b.by_path.contains_key(p);
    let (has_manifest_json, has_index_json) = (has(&b, "manifest.json"), has(&b, "index.json"));
    let (has_oci_layout, has_repositories) = (has(&b, "oci-layout"), has(&b, "repositories"));

    let oci_layout = b
        .parse_path::<RawOciLayout>("oci-layout", MemberRole::OciLayout)
        .map(|l| OciLayoutFile { version: l.version });
    let index = b.parse_path::<RawManifest>("index.json", MemberRole::IndexJson);
    let manifest_json =
        b.parse_path::<Option<Vec<RawItem>>>("manifest.json", MemberRole::ManifestJson);
    let manifest_json_null = matches!(manifest_json, Some(None));
    let items = manifest_json.flatten();
    let repositories = b.parse_path("repositories", MemberRole::Repositories);

    let layout = match (has_manifest_json, has_index_json || has_oci_layout) {
        (true, true) if has_repositories => LayoutKind::DockerOciHybrid,
        (true, true) => LayoutKind::ContainerdHybrid,
        (true, false) => LayoutKind::DockerArchive,
        (false, true) if facts.input == InputKind::Directory => LayoutKind::OciLayoutDir,
        (false, true) => LayoutKind::OciArchive,
        (false, false) => LayoutKind::Unknown,
    };

    let mut images = match &index {
        Some(index) => b.oci_images(index.manifests.as_deref().unwrap_or_default()),
        None => Vec::new(),
    };
    for (i, item) in items.iter().flatten().enumerate() {
        b.docker_item(i, item, &mut images);
    }

    let index_json = index.map(|i| IndexJson {
        schema_version: i.schema_version,
        media_type: i.media_type,
        manifests_null: i.manifests.is_none(),
        manifests: i.manifests.iter().flatten().map(|d| d.report()).collect(),
    });
    ArchiveReport {
        input: facts.input,
        layout,
        compression: facts.compression,
        size: facts.size,
        tar_size: facts.tar_size,
        oci_layout,
        index_json,
        manifest_json: items.map(|items| items.iter().map(RawItem::report).collect()),
        manifest_json_null,
        repositories,
        images,
        index_graph: b.graph,
        members: b.scan.members,
        duplicate_members: b.scan.duplicate_members,
        unsafe_members: b.scan.unsafe_members,
    }
}

pub(crate) struct Builder {
    pub(crate) scan: Scan,
    /// Cleaned path -> index of its last occurrence.
    pub(crate) by_path: HashMap<String, usize>,
    /// What following the descriptor graph met.
    pub(crate) graph: IndexGraphReport,
}

impl Builder {
    fn new(scan: Scan) -> Self {
        let by_path = scan
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.path.clone(), i))
            .collect();
        let mut b = Self {
            scan,
            by_path,
            graph: IndexGraphReport::default(),
        };
        b.resolve_links();
        b
    }

    /// Sets `resolves_to` on every link: the regular file at the end of the chain.
    fn resolve_links(&mut self) {
        for i in 0..self.scan.members.len() {
            if self.scan.members[i].kind != MemberKind::File {
                let end = self.follow(i).map(|j| self.scan.members[j].path.clone());
                self.scan.members[i].resolves_to = end;
            }
        }
    }

    /// The regular file member `i` leads to, following at most 16 links.
    fn follow(&self, mut i: usize) -> Option<usize> {
        for _ in 0..16 {
            let m = &self.scan.members[i];
            let target = match m.kind {
                MemberKind::File => return Some(i),
                MemberKind::Symlink => join_link(&m.path, m.link_target.as_deref()?),
                MemberKind::Hardlink => clean(m.link_target.as_deref()?),
            };
            i = *self.by_path.get(&target)?;
        }
        None
    }

    fn lookup(&self, path: &str) -> Option<usize> {
        self.follow(*self.by_path.get(&clean(path))?)
    }

    pub(crate) fn stored(&self, i: usize) -> Option<StoredBlob> {
        self.scan.members[i].stored()
    }

    pub(crate) fn set_role(&mut self, i: usize, role: MemberRole) {
        self.scan.members[i].role.get_or_insert(role);
    }

    /// Parses member `i` as `T`, recording why not on the member.
    pub(crate) fn parse<T: DeserializeOwned>(&mut self, i: usize, role: MemberRole) -> Option<T> {
        self.set_role(i, role);
        let error = match self.scan.json.get(&i) {
            Some(bytes) => match serde_json::from_slice(bytes) {
                Ok(v) => return Some(v),
                Err(e) => JsonError {
                    kind: JsonErrorKind::Invalid,
                    message: e.to_string(),
                },
            },
            None => JsonError {
                kind: JsonErrorKind::TooLarge,
                message: format!(
                    "{} bytes, not kept in memory: JSON is buffered only up to {} MiB a member \
                     and {} MiB an archive, and only when it starts with '{{' or '['",
                    self.scan.members[i].size,
                    crate::oci::archive::member::JSON_LIMIT >> 20,
                    crate::oci::archive::member::JSON_BUDGET >> 20,
                ),
            },
        };
        self.scan.members[i].json_error.get_or_insert(error);
        None
    }

    fn parse_path<T: DeserializeOwned>(&mut self, path: &str, role: MemberRole) -> Option<T> {
        let i = self.lookup(path)?;
        self.parse(i, role)
    }

    /// The member holding the blob `digest`, marked with `role`.
    pub(crate) fn blob(
        &mut self,
        digest: &Digest,
        role: MemberRole,
    ) -> Option<(usize, StoredBlob)> {
        let i = self.lookup(&blob_path(digest))?;
        self.set_role(i, role);
        Some((i, self.stored(i)?))
    }

    /// Joins `manifest.json` item `i` to the `index.json` image with the same config digest,
    /// or adds it as an image of its own.
    fn docker_item(&mut self, i: usize, item: &RawItem, images: &mut Vec<ImageReport>) {
        let config_member = self.lookup(&item.config);
        let found = config_member.and_then(|c| self.stored(c));
        let raw = match config_member {
            Some(c) => self.parse::<RawConfig>(c, MemberRole::Config),
            None => None,
        }
        .unwrap_or_default();
        let diff_ids = raw.diff_ids();
        let layer_paths = item.layers.clone().unwrap_or_default();
        let layers: Vec<LayerReport> = layer_paths
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let blob = self.lookup(p).and_then(|m| {
                    self.set_role(m, MemberRole::Layer);
                    self.stored(m)
                });
                let diff_id = diff_ids.get(j).cloned();
                let source = diff_id.as_ref().and_then(|d| {
                    item.layer_sources
                        .as_ref()?
                        .get(d.as_str())?
                        .media_type
                        .clone()
                });
                LayerReport {
                    digest: blob.as_ref().map(|b| b.digest.clone()),
                    size: blob.as_ref().map(|b| b.size),
                    media_type: source,
                    diff_id,
                    path: Some(p.clone()),
                    blob,
                }
            })
            .collect();
        let repo_tags = item.repo_tags.clone().unwrap_or_default();

        let config_digest = found.as_ref().map(|s| &s.digest);
        let joined = images.iter_mut().find(|img| {
            !img.index_json_entries.is_empty()
                && img
                    .manifests
                    .iter()
                    .any(|m| m.config.as_ref().and_then(|c| c.digest.as_ref()) == config_digest)
        });
        if let Some(img) = joined.filter(|_| config_digest.is_some()) {
            img.manifest_json_items.push(i);
            for t in &repo_tags {
                push_unique(&mut img.names.repo_tags, Some(t));
            }
            return;
        }
        images.push(ImageReport {
            index_json_entries: Vec::new(),
            manifest_json_items: vec![i],
            names: ImageNames {
                repo_tags: dedup(repo_tags),
                ..ImageNames::default()
            },
            target: None,
            index_digest: None,
            manifests: vec![ManifestReport {
                digest: None,
                media_type: None,
                size: None,
                parent_index: None,
                platform: raw.platform(),
                attestation: false,
                blob: None,
                config: Some(ConfigReport {
                    digest: found.as_ref().map(|s| s.digest.clone()),
                    media_type: None,
                    size: found.as_ref().map(|s| s.size),
                    path: Some(item.config.clone()),
                    blob: found,
                    platform: raw.platform(),
                    diff_ids,
                }),
                layers,
            }],
        });
    }
}

pub(crate) fn push_unique(list: &mut Vec<String>, value: Option<&str>) {
    if let Some(v) = value
        && !list.iter().any(|x| x == v)
    {
        list.push(v.to_string());
    }
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for v in &list {
        push_unique(&mut out, Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::read_archive;
    use crate::oci::archive::testutil::{
        ArchiveBuilder, TestImage, TestLayer, crafted, docker_v24, podman_docker_archive, stored,
    };

    /// The report states exactly what the writer says it wrote.
    #[test]
    fn crafted_archives_round_trip() {
        let table = [
            ("docker-oci-hybrid", LayoutKind::DockerOciHybrid),
            ("oci-archive", LayoutKind::OciArchive),
        ];
        for (name, layout) in table {
            let (bytes, facts) = crafted(name);
            let r = read_archive(bytes.as_slice()).unwrap();
            assert_eq!(r.layout, layout, "{name}");
            assert_eq!(
                (r.compression, r.size),
                (Compression::None, bytes.len() as u64)
            );
            assert_eq!(r.images.len(), 1, "{name}");
            let image = &r.images[0];
            assert_eq!(image.names.repo_tags, facts.names.repo_tags, "{name}");
            assert_eq!(
                image.names.image_names,
                Vec::from_iter(facts.names.image_name.clone())
            );
            assert_eq!(
                image.names.ref_names,
                Vec::from_iter(facts.names.ref_name.clone())
            );
            let target = image.target.as_ref().unwrap();
            let manifest = facts
                .manifest
                .as_ref()
                .expect("both layouts have a manifest blob");
            assert_eq!(
                (&target.digest, target.size),
                (&manifest.digest, manifest.size)
            );
            assert_eq!(image.index_digest, None);
            let [m] = image.manifests.as_slice() else {
                panic!("one manifest")
            };
            assert_eq!(m.digest.as_ref(), Some(&manifest.digest));
            assert_eq!(m.platform.as_ref().unwrap().to_string(), "linux/amd64");
            let c = m.config.as_ref().unwrap();
            assert_eq!(
                (c.digest.as_ref(), c.size),
                (Some(&facts.config.digest), Some(facts.config.size))
            );
            assert_eq!(stored(&c.blob).digest, facts.config.digest);
            assert_eq!(m.layers.len(), facts.layers.len());
            for (l, f) in m.layers.iter().zip(&facts.layers) {
                assert_eq!(l.digest.as_ref(), Some(&f.digest));
                assert_eq!(l.size, Some(f.size));
                assert_eq!(l.diff_id.as_ref(), Some(&f.diff_id));
                assert_eq!(l.media_type.as_deref(), f.media_type.as_deref());
                let b = stored(&l.blob);
                assert_eq!(
                    (&b.digest, b.size, b.compression),
                    (&f.digest, f.size, Compression::None)
                );
                assert_eq!(b.uncompressed_digest.as_ref(), Some(&f.diff_id));
            }
            let want_items: Vec<usize> = if facts.names.repo_tags.is_empty() {
                vec![]
            } else {
                vec![0]
            };
            assert_eq!(image.manifest_json_items, want_items, "{name}");
        }
    }
    #[test]
    fn docker_24_save_with_v1_layer_dirs() {
        let image = TestImage::new(
            vec![
                TestLayer::plain(&[("etc/hello", "hello\n")]),
                TestLayer::plain(&[("bin/app", "app")]),
            ],
            "linux",
            "arm64",
        );
        let r = docker_v24(&image, "example.test/app:1").read();
        assert_eq!(r.layout, LayoutKind::DockerArchive);
        assert!(r.index_json.is_none() && r.oci_layout.is_none());
        assert_eq!(r.repositories.as_ref().unwrap().len(), 1);
        let [img] = r.images.as_slice() else {
            panic!("one image")
        };
        assert_eq!(img.names.repo_tags, ["example.test/app:1"]);
        assert!(img.target.is_none() && img.index_json_entries.is_empty());
        let m = &img.manifests[0];
        assert_eq!(m.digest, None);
        assert_eq!(m.platform.as_ref().unwrap().to_string(), "linux/arm64");
        let c = m.config.as_ref().unwrap();
        assert_eq!(c.digest.as_ref(), Some(&image.config_digest()));
        assert_eq!(
            c.path.as_deref(),
            Some(format!("{}.json", image.config_digest().hex()).as_str())
        );
        for (l, t) in m.layers.iter().zip(&image.layers) {
            assert!(l.path.as_deref().unwrap().ends_with("/layer.tar"));
            assert_eq!(l.diff_id.as_ref(), Some(&t.diff_id()));
            assert_eq!(l.digest.as_ref(), Some(&t.digest()));
        }
        let version = r
            .members
            .iter()
            .find(|m| m.path.ends_with("/VERSION"))
            .unwrap();
        assert!(version.buffered);
    }
    /// Podman and skopeo write `<digest>.tar` and link `<v1id>/layer.tar` to it.
    #[test]
    fn podman_docker_archive_symlinked_layers_resolve() {
        let image = TestImage::one_layer();
        let layer = image.layers[0].digest();
        let (a, v1_layer) = podman_docker_archive(&image);
        let r = a.read();
        assert_eq!(r.layout, LayoutKind::DockerArchive);
        let link = r.member(&v1_layer).unwrap();
        assert_eq!(
            link.resolves_to.as_deref(),
            Some(format!("{}.tar", layer.hex()).as_str())
        );
        let l = &r.images[0].manifests[0].layers[0];
        assert_eq!(stored(&l.blob).member, format!("{}.tar", layer.hex()));
        assert_eq!(l.diff_id, stored(&l.blob).uncompressed_digest);
    }

    /// The layout class follows which metadata files exist, whatever they hold.
    #[test]
    fn layout_classes() {
        let table: &[(&[&str], LayoutKind)] = &[
            (&["manifest.json"], LayoutKind::DockerArchive),
            (
                &["manifest.json", "repositories"],
                LayoutKind::DockerArchive,
            ),
            (
                &["manifest.json", "index.json", "oci-layout", "repositories"],
                LayoutKind::DockerOciHybrid,
            ),
            (
                &["manifest.json", "index.json", "oci-layout"],
                LayoutKind::ContainerdHybrid,
            ),
            (
                &["manifest.json", "index.json"],
                LayoutKind::ContainerdHybrid,
            ),
            (&["index.json", "oci-layout"], LayoutKind::OciArchive),
            (&["oci-layout"], LayoutKind::OciArchive),
            (&["repositories", "x/layer.tar"], LayoutKind::Unknown),
        ];
        for (files, want) in table {
            let mut a = ArchiveBuilder::default();
            for f in *files {
                a.file(&format!("./{f}"), "[]");
            }
            let r = a.read();
            assert_eq!(r.layout, *want, "{files:?}");
            assert!(r.members.iter().all(|m| !m.path.starts_with("./")));
        }
    }
}
