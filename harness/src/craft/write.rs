//! [`write_archive`]: a [`FixtureSpec`] -> archive bytes + [`CraftedArchive`] facts.
//!
//! Writing has three passes. [`Plan::resolve`] validates the spec; [`Image::build`] builds
//! every blob in memory (layers, configs, manifests, attestations, the index) plus
//! `index.json`, hashing each byte once and applying the defects aimed at blobs (a layer with
//! generated files is hashed as its bytes are made, and made again when its member is written:
//! `Body::Stream`); nothing is written until the whole spec is known to be valid, so a bad spec
//! never leaves a half-written file. Then the layout lists the tar members in its upstream's order, the
//! defects aimed at members are applied (`apply.rs`), and [`GoTarWriter`] writes them.
//!
//! One file per layout, each following its upstream: `docker_archive.rs` (Docker <= 24
//! `docker save`), `docker_save.rs` (Docker >= 25, classic store), `containerd_export.rs`
//! (Docker's containerd store) and `oci_layout.rs` (BuildKit `type=oci`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::craft::apply::apply_member_defects;
use crate::craft::gotar::GoTarWriter;
use crate::craft::image::{Blob, Image};
use crate::craft::plan::Plan;
use crate::craft::stream::StreamedBlob;
use crate::craft::{
    CraftError, CraftedArchive, FixtureSpec, LayoutKind, containerd_export, docker_archive,
    docker_save, oci_layout,
};
use crate::oci::Digest;

/// Writes the archive `spec` describes to `out` and returns what it holds.
///
/// The same spec always gives the same bytes. `out` receives many small writes; wrap a file in a
/// `BufWriter` (as [`write_archive_to_path`] does).
pub fn write_archive<W: Write>(spec: &FixtureSpec, out: W) -> Result<CraftedArchive, CraftError> {
    let image = Image::build(Plan::resolve(spec)?)?;
    write_members(&image, out)?;
    Ok(CraftedArchive::from_image(&image))
}

/// Writes the archive to a new file at `path` (replacing any file there).
pub fn write_archive_to_path(
    spec: &FixtureSpec,
    path: &Path,
) -> Result<CraftedArchive, CraftError> {
    let image = Image::build(Plan::resolve(spec)?)?;
    // Written to a temporary file beside `path` and renamed over it at the end, so a failure
    // (a full disk) leaves no truncated archive under the name, and the temporary file is
    // removed whatever happens.
    let create_error = |source| CraftError::CreateFile {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".harness-craft-")
        .tempfile_in(dir)
        .map_err(create_error)?;
    let mut out = BufWriter::new(tmp);
    write_members(&image, &mut out)?;
    out.flush().map_err(CraftError::Write)?;
    let tmp = out
        .into_inner()
        .map_err(|e| CraftError::Write(e.into_error()))?;
    // tempfile creates 0600; an archive is for others to read, as a plain create makes it.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(CraftError::Write)?;
    tmp.persist(path).map_err(|e| create_error(e.error))?;
    Ok(CraftedArchive::from_image(&image))
}

/// One tar member, as a layout lists it.
#[derive(Debug, Clone)]
pub(crate) struct Member<'a> {
    /// The member name; directories end with `/`.
    pub name: String,
    pub mode: u32,
    pub body: Body<'a>,
    /// The digest of the blob it stores, so `blob-missing` and `duplicate-entry` can find it.
    pub blob: Option<Digest>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body<'a> {
    Dir,
    File(Cow<'a, [u8]>),
    /// A file whose bytes are made as they are written (a layer with generated files).
    Stream(&'a StreamedBlob),
    /// A symbolic link to this target.
    Symlink(String),
}

impl<'a> Member<'a> {
    pub(crate) fn dir(name: &str, mode: u32) -> Self {
        Self {
            name: name.to_string(),
            mode,
            body: Body::Dir,
            blob: None,
        }
    }

    pub(crate) fn file(name: impl Into<String>, mode: u32, data: impl Into<Cow<'a, [u8]>>) -> Self {
        Self {
            name: name.into(),
            mode,
            body: Body::File(data.into()),
            blob: None,
        }
    }

    /// A file holding `blob`'s bytes, tagged with its digest.
    pub(crate) fn blob(name: impl Into<String>, mode: u32, blob: &'a Blob) -> Self {
        let body = match &blob.stream {
            Some(stream) => Body::Stream(stream),
            None => Body::File(Cow::Borrowed(blob.bytes.as_slice())),
        };
        Self {
            name: name.into(),
            mode,
            body,
            blob: Some(blob.digest.clone()),
        }
    }

    /// `blobs/sha256/<hex>`.
    pub(crate) fn blob_path(digest: &Digest) -> String {
        format!("blobs/sha256/{}", digest.hex())
    }

    /// The start of every OCI layout in a tar: `blobs/`, `blobs/sha256/` (0o755), each blob
    /// once, in name order, with `blob_mode`, then `index.json` with `index_mode`. Every
    /// producer we mimic walks or sorts its entries lexically, so this prefix is shared; what
    /// follows differs by layout.
    pub(crate) fn oci_prefix(
        blobs: BTreeMap<String, Member<'a>>,
        index_json: &'a [u8],
        index_mode: u32,
    ) -> Vec<Self> {
        let mut out = vec![
            Member::dir("blobs/", 0o755),
            Member::dir("blobs/sha256/", 0o755),
        ];
        out.extend(blobs.into_values());
        out.push(Member::file("index.json", index_mode, index_json));
        out
    }

    /// `blobs` keyed by member name (each stored once), as [`Member::oci_prefix`] takes them.
    pub(crate) fn blob_map(
        blobs: impl IntoIterator<Item = &'a Blob>,
        mode: u32,
    ) -> BTreeMap<String, Member<'a>> {
        blobs
            .into_iter()
            .map(|b| {
                let name = Member::blob_path(&b.digest);
                (name.clone(), Member::blob(name, mode, b))
            })
            .collect()
    }
}

/// The layout's members, then the member defects.
fn members<'a>(image: &'a Image<'_>) -> Vec<Member<'a>> {
    let members = match image.layout() {
        LayoutKind::DockerArchive => docker_archive::members(image),
        LayoutKind::DockerOciHybrid => docker_save::members(image),
        LayoutKind::ContainerdHybrid => containerd_export::members(image),
        LayoutKind::OciArchive => oci_layout::members(image),
    };
    apply_member_defects(image, members)
}

fn write_members<W: Write>(image: &Image<'_>, out: W) -> Result<(), CraftError> {
    let mut tar = GoTarWriter::new(out);
    for member in members(image) {
        match &member.body {
            Body::Dir => tar.append_dir(&member.name, member.mode),
            Body::File(data) => tar.append_file(&member.name, member.mode, data),
            Body::Stream(stream) => {
                tar.append_file_with(&member.name, member.mode, stream.len, |out| {
                    stream.write_to(out)
                })
            }
            Body::Symlink(target) => tar.append_symlink(&member.name, target),
        }
        .map_err(CraftError::Write)?;
    }
    tar.finish().map_err(CraftError::Write)?;
    Ok(())
}

#[cfg(test)]
mod tests {

    /// Issue 13, item 12: a full disk left a truncated archive under the output name. The
    /// archive is written beside it and renamed, so a failed write leaves nothing.
    #[test]
    fn a_full_disk_leaves_no_partial_archive() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::create_dir(&small).unwrap();
        let mounted = nix::mount::mount(
            Some("tmpfs"),
            &small,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=64k"),
        );
        if let Err(e) = mounted {
            assert!(
                !crate::run::in_ci(),
                "CI runs as root and must be able to mount a tmpfs: {e}"
            );
            eprintln!("SKIP: cannot mount a small tmpfs here ({e}); needs root");
            return;
        }
        let spec: FixtureSpec = serde_saphyr::from_str(
            "layout: oci-archive\nname: a.test/big:1\nlayers: [{ files: [{ path: big, content: \"x\" }] }]\n",
        )
        .unwrap();
        let mut spec = spec;
        spec.layers[0].files[0].content = "x".repeat(1 << 20);
        let out = small.join("out.tar");
        let err = write_archive_to_path(&spec, &out);
        let left: Vec<_> = std::fs::read_dir(&small)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        nix::mount::umount(&small).unwrap();
        assert!(err.is_err(), "a 1 MiB archive cannot fit in 64 KiB");
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    use super::*;
    use crate::craft::testutil::{
        blob, check_facts, check_oci_graph, json, read_members, sample_spec, write, yaml,
    };
    use crate::craft::{BlobKind, Compression, DefectSpec, FileSpec, LayerSpec, Target};
    use crate::oci::media_type::OCI_LAYER_TAR;

    /// The layouts with a single OCI manifest in the sample spec.
    const LAYOUTS: [LayoutKind; 3] = [
        LayoutKind::DockerOciHybrid,
        LayoutKind::ContainerdHybrid,
        LayoutKind::OciArchive,
    ];
    const ALL_LAYOUTS: [LayoutKind; 4] = [
        LayoutKind::DockerArchive,
        LayoutKind::DockerOciHybrid,
        LayoutKind::ContainerdHybrid,
        LayoutKind::OciArchive,
    ];

    /// Every option at once: compressions, media types, platforms, attestations, a missing
    /// platform, two names.
    const EVERYTHING: &str = "layout: containerd-hybrid
names: [example.test/app:1, example.test/app:2]
platforms: [linux/amd64, linux/arm64, linux/arm/v7]
omit_platforms: [linux/arm/v7]
attestations: true
layers:
  - files: [{path: etc/a, content: a}]
  - files: [{path: etc/b, content: b}]
    compression: gzip
  - files: [{path: etc/c, content: c}]
    compression: bzip2
  - files: [{path: etc/d, content: d}]
    compression: xz
  - files: [{path: etc/e, content: e}]
    compression: zstd
    media_type: application/vnd.docker.image.rootfs.diff.tar.zstd
  - platform: linux/arm64
    files: [{path: bin/app, content: arm64}]
";

    /// One spec per layout and per option, with defects too.
    fn variants() -> Vec<FixtureSpec> {
        let mut out: Vec<FixtureSpec> = ALL_LAYOUTS.into_iter().map(sample_spec).collect();
        out.push(yaml(EVERYTHING));
        out.push(yaml(
            &EVERYTHING.replace("containerd-hybrid", "oci-archive"),
        ));
        for layout in ALL_LAYOUTS {
            let mut spec = sample_spec(layout);
            spec.layers[1].compression = Compression::Zstd;
            spec.defects = vec![
                DefectSpec::DuplicateEntry(Target::Blob {
                    platform: None,
                    kind: BlobKind::Config,
                }),
                DefectSpec::LayerCountMismatch,
                DefectSpec::DiffidMismatch(Target::Blob {
                    platform: None,
                    kind: BlobKind::Layer(1),
                }),
            ];
            out.push(spec);
        }
        out
    }

    #[test]
    fn same_spec_gives_same_bytes() {
        for spec in variants() {
            let what = format!("{:?} {} defects", spec.layout, spec.defects.len());
            let (first, facts1, _) = write(&spec);
            let (second, facts2, _) = write(&spec);
            assert_eq!(first, second, "{what}");
            assert_eq!(facts1, facts2);

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fixture.tar");
            let facts3 = write_archive_to_path(&spec, &path).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), first, "{what}");
            assert_eq!(facts3, facts1);
        }
    }

    /// Pins the new layouts and every compressor: a change means fixtures differ between
    /// machines or crate versions, which snapshots would show as noise.
    #[test]
    fn other_archive_digests_are_pinned() {
        let table = [
            (
                sample_spec(LayoutKind::DockerArchive),
                "sha256:04fc70a84d8adc8f47dc6d83ee9dcaeb7f56e011faddd7913d6aeb1442282415",
            ),
            (
                sample_spec(LayoutKind::ContainerdHybrid),
                "sha256:65fe99b1496c456f4a3e300f9159d4568d71cf225e3fe58e4a76a95f0d2c3818",
            ),
            (
                yaml(EVERYTHING),
                "sha256:ae7a457d9d58e69721f3f0366608679e4866a48041375daa45e42600fe37a599",
            ),
        ];
        for (spec, want) in table {
            let (bytes, _, _) = write(&spec);
            assert_eq!(Digest::sha256(&bytes).as_str(), want, "{:?}", spec.layout);
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
            let (_, facts, members) = write(&sample_spec(layout));
            check_oci_graph(&members);
            check_facts(&members, &facts);
        }
        for spec in [
            yaml(EVERYTHING),
            yaml(&EVERYTHING.replace("containerd-hybrid", "oci-archive")),
        ] {
            let (_, facts, members) = write(&spec);
            check_facts(&members, &facts);
            assert_eq!(facts.platforms.len(), 3);
            assert_eq!(facts.platforms.iter().filter(|p| p.present).count(), 2);
        }
    }

    #[test]
    fn facts_match_the_archive() {
        for layout in LAYOUTS {
            let (_, facts, members) = write(&sample_spec(layout));
            assert_eq!(facts.layout, layout);
            assert_eq!(facts.index, None);

            let target = &json(&members, "index.json")["manifests"][0];
            assert_eq!(
                target["digest"],
                facts.manifest.as_ref().unwrap().digest.as_str()
            );
            assert_eq!(target["size"], facts.manifest.as_ref().unwrap().size);
            let manifest: serde_json::Value = serde_json::from_slice(
                &blob(&members, facts.manifest.as_ref().unwrap().digest.as_str()).data,
            )
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
                assert_eq!(desc["mediaType"], fact.media_type.as_deref().unwrap());
                assert_eq!(fact.media_type.as_deref(), Some(OCI_LAYER_TAR));
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
        for layout in ALL_LAYOUTS {
            let (bytes, facts, members) = write(&sample_spec(layout));
            // Layers are uncompressed in the sample: find them by digest in any layout.
            let layer_members = facts.layers.iter().flat_map(|l| {
                let stored = members.iter().find(|m| Digest::sha256(&m.data) == l.digest);
                read_members(&stored.expect("layer stored").data)
            });
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
                |s| s.layers[1].files.push(FileSpec::new("../x", String::new())),
                r#"invalid file path "../x" in layer 1: '..' component escapes the image root"#,
            ),
            (
                "absolute",
                |s| {
                    s.layers[0] = LayerSpec {
                        files: vec![FileSpec::new("/etc/x", String::new())],
                        ..Default::default()
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
