//! [`write_archive`]: a [`FixtureSpec`] -> archive bytes + [`CraftedArchive`] facts.
//!
//! Writing has two passes. [`Image::prepare`] validates the spec and builds every blob in
//! memory (layers, config, manifest) plus `index.json`, hashing each byte once; nothing is
//! written until the whole spec is known to be valid, so a bad spec never leaves a half-written
//! file. Then the layout ([`docker_save`](super::docker_save) or
//! [`oci_layout`](super::oci_layout)) lists the tar members in its upstream's order and
//! [`GoTarWriter`] writes them.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::craft::config::{Platform, config_json};
use crate::craft::gotar::GoTarWriter;
use crate::craft::layer::{Layer, build_layer};
use crate::craft::manifest::{Descriptor, index_json, manifest_json, name_annotations};
use crate::craft::names::NamePlan;
use crate::craft::{
    ArchiveNames, BlobFacts, CraftError, CraftedArchive, FixtureSpec, LayerFacts, LayoutKind,
    docker_save, oci_layout,
};
use crate::oci::{Digest, media_type};

/// Writes the archive `spec` describes to `out` and returns what it holds.
///
/// The same spec always gives the same bytes. `out` receives many small writes; wrap a file in a
/// `BufWriter` (as [`write_archive_to_path`] does).
pub fn write_archive<W: Write>(spec: &FixtureSpec, out: W) -> Result<CraftedArchive, CraftError> {
    let image = Image::prepare(spec)?;
    image.write_to(out)?;
    Ok(image.facts())
}

/// Writes the archive to a new file at `path` (replacing any file there).
pub fn write_archive_to_path(
    spec: &FixtureSpec,
    path: &Path,
) -> Result<CraftedArchive, CraftError> {
    let image = Image::prepare(spec)?;
    let file = File::create(path).map_err(|source| CraftError::CreateFile {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = BufWriter::new(file);
    image.write_to(&mut out)?;
    out.flush().map_err(CraftError::Write)?;
    Ok(image.facts())
}

/// A blob built in memory, with its digest.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Blob {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let digest = Digest::sha256(&bytes);
        Self { bytes, digest }
    }

    pub(crate) fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn facts(&self) -> BlobFacts {
        BlobFacts {
            digest: self.digest.clone(),
            size: self.size(),
        }
    }
}

/// One tar member, as a layout lists it.
pub(crate) struct Member<'a> {
    /// The member name; directories end with `/`.
    pub name: String,
    pub mode: u32,
    /// `None` for a directory.
    pub data: Option<Cow<'a, [u8]>>,
}

impl<'a> Member<'a> {
    pub(crate) fn dir(name: &str, mode: u32) -> Self {
        Self {
            name: name.to_string(),
            mode,
            data: None,
        }
    }

    pub(crate) fn file(name: impl Into<String>, mode: u32, data: impl Into<Cow<'a, [u8]>>) -> Self {
        Self {
            name: name.into(),
            mode,
            data: Some(data.into()),
        }
    }

    /// `blobs/sha256/<hex>`.
    pub(crate) fn blob_path(digest: &Digest) -> String {
        format!("blobs/sha256/{}", digest.hex())
    }

    /// The start of every OCI layout in a tar: `blobs/`, `blobs/sha256/` (0o755), each blob in
    /// name order with `blob_mode`, then `index.json` with `index_mode`. Both writers walk
    /// their directory lexically, so this prefix is shared; what follows differs by layout.
    pub(crate) fn oci_prefix<D: Into<Cow<'a, [u8]>>>(
        blobs: std::collections::BTreeMap<String, D>,
        blob_mode: u32,
        index_json: &'a [u8],
        index_mode: u32,
    ) -> Vec<Self> {
        let mut out = vec![
            Member::dir("blobs/", 0o755),
            Member::dir("blobs/sha256/", 0o755),
        ];
        out.extend(
            blobs
                .into_iter()
                .map(|(name, data)| Member::file(name, blob_mode, data)),
        );
        out.push(Member::file("index.json", index_mode, index_json));
        out
    }
}

/// Everything an archive holds, built and validated, before any byte is written.
pub(crate) struct Image<'s> {
    pub spec: &'s FixtureSpec,
    pub platform: Platform,
    pub names: NamePlan,
    /// Bottom first.
    pub layers: Vec<Layer>,
    pub config: Blob,
    pub manifest: Blob,
    /// `index.json`: the layout's entry point, not a blob.
    pub index_json: Vec<u8>,
}

impl<'s> Image<'s> {
    pub(crate) fn prepare(spec: &'s FixtureSpec) -> Result<Self, CraftError> {
        if spec.layers.is_empty() {
            return Err(CraftError::NoLayers);
        }
        let names = NamePlan::resolve(spec)?;
        let platform = Platform::parse(spec.platform.as_deref())?;
        let layers = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| build_layer(i, l))
            .collect::<Result<Vec<_>, _>>()?;
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.digest.clone()).collect();
        let config = Blob::new(config_json(&spec.config, &platform, &diff_ids));

        let config_desc =
            Descriptor::new(media_type::OCI_CONFIG, config.digest.clone(), config.size());
        let layer_descs: Vec<Descriptor> = layers
            .iter()
            .map(|l| Descriptor::new(media_type::OCI_LAYER_TAR, l.digest.clone(), l.size()))
            .collect();
        let manifest = Blob::new(manifest_json(&config_desc, &layer_descs));

        let mut target = Descriptor::new(
            media_type::OCI_MANIFEST,
            manifest.digest.clone(),
            manifest.size(),
        );
        target.annotations =
            name_annotations(names.image_name.as_deref(), names.ref_name.as_deref());
        let index_json = index_json(&target);

        Ok(Self {
            spec,
            platform,
            names,
            layers,
            config,
            manifest,
            index_json,
        })
    }

    /// The tar members in the layout's order.
    fn members(&self) -> Vec<Member<'_>> {
        match self.spec.layout {
            LayoutKind::DockerOciHybrid => docker_save::members(self),
            LayoutKind::OciArchive => oci_layout::members(self),
        }
    }

    fn write_to<W: Write>(&self, out: W) -> Result<(), CraftError> {
        let mut tar = GoTarWriter::new(out);
        for member in self.members() {
            match &member.data {
                None => tar.append_dir(&member.name, member.mode),
                Some(data) => tar.append_file(&member.name, member.mode, data),
            }
            .map_err(CraftError::Write)?;
        }
        tar.finish().map_err(CraftError::Write)?;
        Ok(())
    }

    /// The `RepoTags` of `manifest.json`: the tagged name in the hybrid layout.
    pub(crate) fn repo_tags(&self) -> Vec<String> {
        match (self.spec.layout, &self.names.image_ref) {
            (LayoutKind::DockerOciHybrid, Some(r)) => vec![r.full()],
            _ => Vec::new(),
        }
    }

    fn facts(&self) -> CraftedArchive {
        CraftedArchive {
            layout: self.spec.layout,
            config: self.config.facts(),
            manifest: self.manifest.facts(),
            index: None,
            layers: self
                .layers
                .iter()
                .map(|l| LayerFacts {
                    digest: l.digest.clone(),
                    diff_id: l.digest.clone(),
                    size: l.size(),
                    media_type: media_type::OCI_LAYER_TAR.to_string(),
                })
                .collect(),
            names: ArchiveNames {
                repo_tags: self.repo_tags(),
                image_name: self.names.image_name.clone(),
                ref_name: self.names.ref_name.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::testutil::{blob, check_oci_graph, json, read_members, sample_spec, write};
    use crate::craft::{FileSpec, LayerSpec};

    const LAYOUTS: [LayoutKind; 2] = [LayoutKind::DockerOciHybrid, LayoutKind::OciArchive];

    #[test]
    fn same_spec_gives_same_bytes() {
        for layout in LAYOUTS {
            let spec = sample_spec(layout);
            let (first, facts1, _) = write(&spec);
            let (second, facts2, _) = write(&spec);
            assert_eq!(first, second, "{layout:?}");
            assert_eq!(facts1, facts2);

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fixture.tar");
            let facts3 = write_archive_to_path(&spec, &path).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), first, "{layout:?}");
            assert_eq!(facts3, facts1);
        }
    }

    /// Pins the exact bytes of the sample fixtures. A change here changes every fixture digest
    /// a snapshot may hold: update it only on purpose, and say why in the commit.
    #[test]
    fn sample_archive_digests_are_pinned() {
        let table = [
            (
                LayoutKind::DockerOciHybrid,
                "sha256:207f0a1e05130456bef51f2cbe2926edecd3ee068d0160509fb6c78f625c95f6",
            ),
            (
                LayoutKind::OciArchive,
                "sha256:1bdead9e2921a7e936b9ce317f939511262a95797a8ac9b49bd74c87e739a84f",
            ),
        ];
        for (layout, want) in table {
            let (bytes, _, _) = write(&sample_spec(layout));
            assert_eq!(Digest::sha256(&bytes).as_str(), want, "{layout:?}");
        }
    }

    #[test]
    fn every_referenced_blob_exists_with_matching_digest_and_size() {
        for layout in LAYOUTS {
            let (_, _, members) = write(&sample_spec(layout));
            check_oci_graph(&members);
        }
    }

    #[test]
    fn facts_match_the_archive() {
        for layout in LAYOUTS {
            let (_, facts, members) = write(&sample_spec(layout));
            assert_eq!(facts.layout, layout);
            assert_eq!(facts.index, None);

            let target = &json(&members, "index.json")["manifests"][0];
            assert_eq!(target["digest"], facts.manifest.digest.as_str());
            assert_eq!(target["size"], facts.manifest.size);
            let manifest: serde_json::Value =
                serde_json::from_slice(&blob(&members, facts.manifest.digest.as_str()).data)
                    .unwrap();
            assert_eq!(manifest["config"]["digest"], facts.config.digest.as_str());
            assert_eq!(manifest["config"]["size"], facts.config.size);

            assert_eq!(facts.layers.len(), 2);
            for (fact, desc) in facts
                .layers
                .iter()
                .zip(manifest["layers"].as_array().unwrap())
            {
                assert_eq!(desc["digest"], fact.digest.as_str());
                assert_eq!(desc["size"], fact.size);
                assert_eq!(desc["mediaType"], fact.media_type.as_str());
                assert_eq!(fact.media_type, media_type::OCI_LAYER_TAR);
                // Uncompressed: the DiffID is the blob digest.
                assert_eq!(fact.diff_id, fact.digest);
                assert_eq!(
                    fact.diff_id,
                    Digest::sha256(&blob(&members, fact.digest.as_str()).data)
                );
            }

            let annotations = &target["annotations"];
            assert_eq!(
                annotations[crate::oci::annotation::REF_NAME].as_str(),
                facts.names.ref_name.as_deref()
            );
            assert_eq!(
                annotations[crate::oci::annotation::IMAGE_NAME].as_str(),
                facts.names.image_name.as_deref()
            );
        }
    }

    #[test]
    fn headers_carry_no_time_owner_or_names() {
        for layout in LAYOUTS {
            let (bytes, facts, members) = write(&sample_spec(layout));
            let layer_members = facts
                .layers
                .iter()
                .flat_map(|l| read_members(&blob(&members, l.digest.as_str()).data));
            for m in members.iter().cloned().chain(layer_members) {
                assert_eq!((m.mtime, m.uid, m.gid), (0, 0, 0), "{layout:?} {}", m.name);
                assert_eq!((m.uname.as_str(), m.gname.as_str()), ("", ""), "{}", m.name);
            }
            // Two zero blocks end the archive, with no record padding after them.
            assert!(bytes.len() % 512 == 0 && bytes[bytes.len() - 1024..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn layers_hold_parent_dirs_before_files() {
        let (_, facts, members) = write(&sample_spec(LayoutKind::OciArchive));
        let names = |i: usize| -> Vec<(String, u32)> {
            read_members(&blob(&members, facts.layers[i].digest.as_str()).data)
                .into_iter()
                .map(|m| (m.name, m.mode))
                .collect()
        };
        let owned = |v: &[(&str, u32)]| -> Vec<(String, u32)> {
            v.iter().map(|(n, m)| (n.to_string(), *m)).collect()
        };
        assert_eq!(
            names(0),
            owned(&[
                ("etc/", 0o755),
                ("etc/hello", 0o644),
                ("etc/os-release", 0o644)
            ])
        );
        assert_eq!(
            names(1),
            owned(&[
                ("usr/", 0o755),
                ("usr/local/", 0o755),
                ("usr/local/bin/", 0o755),
                ("usr/local/bin/app", 0o755)
            ])
        );
    }

    #[test]
    fn spec_errors_name_what_is_wrong_and_write_nothing() {
        type Edit = fn(&mut FixtureSpec);
        let table: &[(&str, Edit, &str)] = &[
            ("no layers", |s| s.layers.clear(), "no layers"),
            (
                "parent escape",
                |s| {
                    s.layers[1].files.push(FileSpec {
                        path: "../x".into(),
                        content: String::new(),
                        mode: None,
                    })
                },
                r#"invalid file path "../x" in layer 1: '..' component escapes the image root"#,
            ),
            (
                "absolute",
                |s| {
                    s.layers[0] = LayerSpec {
                        files: vec![FileSpec {
                            path: "/etc/x".into(),
                            content: String::new(),
                            mode: None,
                        }],
                    }
                },
                r#"invalid file path "/etc/x" in layer 0: absolute path"#,
            ),
            (
                "digest name",
                |s| s.name = Some("app@sha256:abc".into()),
                r#"invalid image name "app@sha256:abc": digest references are not supported"#,
            ),
            (
                "platform",
                |s| s.platform = Some("linux".into()),
                r#"invalid platform "linux": expected os/arch or os/arch/variant"#,
            ),
        ];
        for (what, edit, want) in table {
            let mut spec = sample_spec(LayoutKind::DockerOciHybrid);
            edit(&mut spec);
            let mut out = Vec::new();
            let err = write_archive(&spec, &mut out).unwrap_err().to_string();
            assert!(err.starts_with(want), "{what}: {err}");
            assert!(out.is_empty(), "{what}: nothing written");

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fixture.tar");
            assert!(write_archive_to_path(&spec, &path).is_err());
            assert!(!path.exists(), "{what}: no file created");
        }
    }

    #[test]
    fn unwritable_path_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("fixture.tar");
        let err = write_archive_to_path(&sample_spec(LayoutKind::OciArchive), &path).unwrap_err();
        assert!(err.to_string().contains("missing-dir"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
