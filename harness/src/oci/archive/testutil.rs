//! Test inputs built by hand: tars with raw headers (so unsafe names can be written), layers
//! in every compression, and small images in each layout. Independent of `craft`, so the
//! reader is tested against inputs its sibling writer cannot produce.

use std::io::Write;

use serde_json::{Value, json};

use crate::craft::{CraftedArchive, FixtureSpec, write_archive};
use crate::oci::archive::{ArchiveReport, Compression, StoredBlob, read_archive};
use crate::oci::{Digest, media_type};

/// A present blob.
pub(crate) fn stored(b: &Option<StoredBlob>) -> &StoredBlob {
    b.as_ref().expect("blob present")
}

/// A two-layer named image written by `craft` in `layout` (its spec built from JSON, so the
/// test keeps compiling while the spec grows defaulted fields).
pub(crate) fn crafted(layout: &str) -> (Vec<u8>, CraftedArchive) {
    let spec: FixtureSpec = serde_json::from_value(json!({
        "layout": layout,
        "name": "dangerzone.rocks/dangerzone:latest",
        "layers": [
            {"files": [{"path": "etc/hello", "content": "hello\n"}]},
            {"files": [{"path": "usr/local/bin/app", "content": "#!/bin/sh\n", "mode": 493}]},
        ],
        "config": {"cmd": ["/usr/local/bin/app"]},
    }))
    .unwrap();
    let mut bytes = Vec::new();
    let facts = write_archive(&spec, &mut bytes).unwrap();
    (bytes, facts)
}

/// One tar entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TarEntry {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
}

impl TarEntry {
    pub(crate) fn file(s: &str) -> Self {
        TarEntry::File(s.as_bytes().to_vec())
    }
}

/// A ustar archive of `entries`, names and link targets written into the header fields
/// unchecked (at most 100 bytes each).
pub(crate) fn raw_tar<S: AsRef<str>>(entries: &[(S, TarEntry)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, entry) in entries {
        let mut h = tar::Header::new_ustar();
        let (kind, data, link): (_, &[u8], _) = match entry {
            TarEntry::File(d) => (tar::EntryType::Regular, d, None),
            TarEntry::Dir => (tar::EntryType::Directory, &[], None),
            TarEntry::Symlink(t) => (tar::EntryType::Symlink, &[], Some(t)),
            TarEntry::Hardlink(t) => (tar::EntryType::Link, &[], Some(t)),
        };
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        let ustar = h.as_ustar_mut().expect("ustar header");
        let name = name.as_ref().as_bytes();
        ustar.name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            ustar.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// The same archive with its members in two other orders (reversed, and a stride through
/// them), rewritten as ustar.
pub(crate) fn shuffles(tar_bytes: &[u8]) -> [Vec<u8>; 2] {
    let mut entries: Vec<(String, TarEntry)> = Vec::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let entry = if e.header().entry_type().is_dir() {
            TarEntry::Dir
        } else {
            TarEntry::File(data)
        };
        entries.push((path, entry));
    }
    let n = entries.len();
    [
        (0..n).rev().collect::<Vec<_>>(),
        (0..n).map(|i| (i * 7 + 3) % n).collect(),
    ]
    .map(|order| {
        let shuffled: Vec<(String, TarEntry)> = order.iter().map(|&i| entries[i].clone()).collect();
        assert_eq!(shuffled.len(), n);
        raw_tar(&shuffled)
    })
}

/// A layer tar holding regular files.
pub(crate) fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let entries: Vec<(&str, TarEntry)> =
        files.iter().map(|(p, c)| (*p, TarEntry::file(c))).collect();
    raw_tar(&entries)
}

/// `data` compressed with `c`, at fast settings.
pub(crate) fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(data, 1).unwrap(),
    }
}

/// An archive under construction: members in order, each replaceable.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArchiveBuilder {
    pub entries: Vec<(String, TarEntry)>,
}

impl ArchiveBuilder {
    pub(crate) fn file(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        self.entries
            .push((path.to_string(), TarEntry::File(data.into())));
        self
    }

    pub(crate) fn json(&mut self, path: &str, value: &Value) -> &mut Self {
        self.file(path, serde_json::to_vec(value).unwrap())
    }

    /// Adds `blobs/sha256/<hex>` and returns its digest.
    pub(crate) fn blob(&mut self, data: &[u8]) -> Digest {
        let d = Digest::sha256(data);
        self.file(&format!("blobs/sha256/{}", d.hex()), data.to_vec());
        d
    }

    pub(crate) fn link(&mut self, path: &str, entry: TarEntry) -> &mut Self {
        self.entries.push((path.to_string(), entry));
        self
    }

    pub(crate) fn remove(&mut self, path: &str) -> &mut Self {
        let before = self.entries.len();
        self.entries.retain(|(p, _)| p != path);
        assert!(self.entries.len() < before, "no member {path}");
        self
    }

    pub(crate) fn replace(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        let slot = self
            .entries
            .iter_mut()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("no member {path}"));
        slot.1 = TarEntry::File(data.into());
        self
    }

    /// Replaces a JSON member by `edit` applied to its parsed value.
    pub(crate) fn edit_json(&mut self, path: &str, edit: impl FnOnce(&mut Value)) -> &mut Self {
        let mut v = self.get_json(path);
        edit(&mut v);
        self.replace(path, serde_json::to_vec(&v).unwrap())
    }

    pub(crate) fn get_json(&self, path: &str) -> Value {
        match self.entries.iter().find(|(p, _)| p == path) {
            Some((_, TarEntry::File(d))) => serde_json::from_slice(d).unwrap(),
            _ => panic!("no file {path}"),
        }
    }

    pub(crate) fn tar(&self) -> Vec<u8> {
        raw_tar(&self.entries)
    }

    /// Writes the regular-file members under `dir`, as an OCI layout directory holds them.
    pub(crate) fn write_dir(&self, dir: &std::path::Path) {
        for (path, entry) in &self.entries {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            if let TarEntry::File(d) = entry {
                std::fs::write(&full, d).unwrap();
            }
        }
    }

    pub(crate) fn read(&self) -> ArchiveReport {
        read_archive(self.tar().as_slice()).expect("archive is readable")
    }
}

/// A layer: its tar, its stored (maybe compressed) bytes and the manifest's media type.
#[derive(Debug, Clone)]
pub(crate) struct TestLayer {
    pub tar: Vec<u8>,
    pub stored: Vec<u8>,
    pub media_type: String,
}

impl TestLayer {
    pub(crate) fn new(files: &[(&str, &str)], c: Compression, media_type: &str) -> Self {
        let tar = layer_tar(files);
        Self {
            stored: compress(c, &tar),
            tar,
            media_type: media_type.to_string(),
        }
    }

    pub(crate) fn plain(files: &[(&str, &str)]) -> Self {
        Self::new(files, Compression::None, media_type::OCI_LAYER_TAR)
    }

    pub(crate) fn diff_id(&self) -> Digest {
        Digest::sha256(&self.tar)
    }

    pub(crate) fn digest(&self) -> Digest {
        Digest::sha256(&self.stored)
    }
}

/// A single-platform image: config and OCI manifest bytes over `layers`.
#[derive(Debug, Clone)]
pub(crate) struct TestImage {
    pub layers: Vec<TestLayer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub(crate) fn new(layers: Vec<TestLayer>, os: &str, arch: &str) -> Self {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id().to_string()).collect();
        let config = json!({
            "architecture": arch, "os": os,
            "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        Self::with_config(layers, &config)
    }

    pub(crate) fn with_config(layers: Vec<TestLayer>, config: &Value) -> Self {
        let config = serde_json::to_vec(config).unwrap();
        let layer_descs: Vec<Value> = layers
            .iter()
            .map(|l| descriptor(&l.media_type, &l.stored))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": descriptor(media_type::OCI_CONFIG, &config),
            "layers": layer_descs,
        });
        Self {
            layers,
            manifest: serde_json::to_vec(&manifest).unwrap(),
            config,
        }
    }

    pub(crate) fn one_layer() -> Self {
        Self::new(
            vec![TestLayer::plain(&[("etc/hello", "hello\n")])],
            "linux",
            "amd64",
        )
    }

    /// The same image with its manifest JSON edited (the descriptor follows the new bytes).
    pub(crate) fn edit_manifest(&self, edit: impl FnOnce(&mut Value)) -> Self {
        let mut m: Value = serde_json::from_slice(&self.manifest).unwrap();
        edit(&mut m);
        Self {
            manifest: serde_json::to_vec(&m).unwrap(),
            ..self.clone()
        }
    }

    pub(crate) fn config_digest(&self) -> Digest {
        Digest::sha256(&self.config)
    }

    pub(crate) fn manifest_digest(&self) -> Digest {
        Digest::sha256(&self.manifest)
    }

    /// The manifest's descriptor, with `extra` fields merged in.
    pub(crate) fn descriptor(&self, extra: Value) -> Value {
        let mut d = descriptor(media_type::OCI_MANIFEST, &self.manifest);
        merge(&mut d, extra);
        d
    }

    /// Adds config, layers and manifest under `blobs/sha256/`.
    pub(crate) fn add_blobs(&self, a: &mut ArchiveBuilder) {
        a.blob(&self.config);
        for l in &self.layers {
            a.blob(&l.stored);
        }
        a.blob(&self.manifest);
    }
}

/// `{"mediaType", "digest", "size"}` of `data`.
pub(crate) fn descriptor(media_type: &str, data: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::sha256(data).to_string(), "size": data.len()})
}

pub(crate) fn merge(into: &mut Value, extra: Value) {
    if let (Some(o), Value::Object(extra)) = (into.as_object_mut(), extra) {
        o.extend(extra);
    }
}

/// `index.json` over `manifests`.
pub(crate) fn index_json(manifests: Vec<Value>) -> Value {
    json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": manifests})
}

/// Name annotations as Docker writes them: the full name and the tag alone.
pub(crate) fn names(full: &str, tag: &str) -> Value {
    json!({"annotations": {
        "io.containerd.image.name": full,
        "org.opencontainers.image.ref.name": tag,
    }})
}

pub(crate) const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// An oci-archive of `image`, its `index.json` descriptor carrying `extra`.
pub(crate) fn oci_archive(image: &TestImage, extra: Value) -> ArchiveBuilder {
    let mut a = ArchiveBuilder::default();
    image.add_blobs(&mut a);
    a.json("index.json", &index_json(vec![image.descriptor(extra)]));
    a.file("oci-layout", OCI_LAYOUT);
    a
}

/// A Docker <= 24 `docker save`: `<v1id>/{VERSION,json,layer.tar}`, `<config-hex>.json`,
/// `manifest.json`, `repositories`.
pub(crate) fn docker_v24(image: &TestImage, repo_tag: &str) -> ArchiveBuilder {
    let mut a = ArchiveBuilder::default();
    let mut layer_paths = Vec::new();
    for (i, l) in image.layers.iter().enumerate() {
        let v1id = Digest::sha256(format!("v1-{i}").as_bytes())
            .hex()
            .to_string();
        a.link(&format!("{v1id}/"), TarEntry::Dir);
        a.file(&format!("{v1id}/VERSION"), "1.0");
        a.json(&format!("{v1id}/json"), &json!({"id": v1id}));
        a.file(&format!("{v1id}/layer.tar"), l.stored.clone());
        layer_paths.push(format!("{v1id}/layer.tar"));
    }
    let config_name = format!("{}.json", image.config_digest().hex());
    a.file(&config_name, image.config.clone());
    let top = layer_paths
        .last()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
    a.json(
        "manifest.json",
        &json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_paths}]),
    );
    a.json("repositories", &json!({repo: {tag: top}}));
    a
}

/// The digests a hand-built containerd-hybrid archive holds.
pub(crate) struct HybridFacts {
    pub amd64: TestImage,
    pub arm64: TestImage,
    pub attestation: TestImage,
    pub index: Vec<u8>,
}

/// Docker's containerd store `docker save`: `index.json` -> image index -> an amd64 manifest
/// (gzip layer), an arm64 manifest whose blobs are absent (never pulled) and an attestation
/// manifest for amd64; `manifest.json` for amd64 with the compressed layer path; no
/// `repositories`.
pub(crate) fn containerd_hybrid() -> (ArchiveBuilder, HybridFacts) {
    let gzip = |files: &[(&str, &str)]| {
        TestLayer::new(files, Compression::Gzip, media_type::OCI_LAYER_GZIP)
    };
    let amd64 = TestImage::new(vec![gzip(&[("bin/app", "amd64")])], "linux", "amd64");
    let arm64 = TestImage::new(vec![gzip(&[("bin/app", "arm64")])], "linux", "arm64");
    let statement = TestLayer {
        tar: br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec(),
        stored: br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec(),
        media_type: crate::oci::archive::media::IN_TOTO.to_string(),
    };
    let attestation = TestImage::with_config(
        vec![statement],
        &json!({"architecture": "unknown", "os": "unknown", "config": {},
                "rootfs": {"type": "layers", "diff_ids": []}}),
    );
    let index = serde_json::to_vec(&index_json(vec![
        amd64.descriptor(json!({"platform": {"architecture": "amd64", "os": "linux"}})),
        arm64.descriptor(json!({"platform": {"architecture": "arm64", "os": "linux"}})),
        attestation.descriptor(json!({
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                "vnd.docker.reference.digest": amd64.manifest_digest().to_string(),
                "vnd.docker.reference.type": "attestation-manifest",
            },
        })),
    ]))
    .unwrap();

    let mut a = ArchiveBuilder::default();
    amd64.add_blobs(&mut a);
    attestation.add_blobs(&mut a);
    let index_digest = a.blob(&index);
    let mut target = descriptor(media_type::OCI_INDEX, &index);
    merge(&mut target, names("example.test/app:1", "1"));
    a.json("index.json", &index_json(vec![target]));
    a.json(
        "manifest.json",
        &json!([{
            "Config": format!("blobs/sha256/{}", amd64.config_digest().hex()),
            "RepoTags": ["example.test/app:1"],
            "Layers": [format!("blobs/sha256/{}", amd64.layers[0].digest().hex())],
        }]),
    );
    a.file("oci-layout", OCI_LAYOUT);
    assert_eq!(index_digest, Digest::sha256(&index));
    let facts = HybridFacts {
        amd64,
        arm64,
        attestation,
        index,
    };
    (a, facts)
}

/// An oci-archive whose target is an index, without media types, listing another index
/// without media types, which lists `image` (some producers omit media types; indexes may
/// nest). Returns the archive and the inner and outer index bytes.
pub(crate) fn nested_indexes(image: &TestImage) -> (ArchiveBuilder, Vec<u8>, Vec<u8>) {
    let platform = json!({"platform": {"os": "linux", "architecture": "amd64"}});
    let mut inner = index_json(vec![image.descriptor(platform)]);
    inner.as_object_mut().unwrap().remove("mediaType");
    let inner = serde_json::to_vec(&inner).unwrap();
    let mut inner_desc = descriptor("", &inner);
    inner_desc.as_object_mut().unwrap().remove("mediaType");
    let outer = serde_json::to_vec(&index_json(vec![inner_desc])).unwrap();

    let mut a = ArchiveBuilder::default();
    image.add_blobs(&mut a);
    a.blob(&inner);
    a.blob(&outer);
    let mut target = descriptor(media_type::OCI_INDEX, &outer);
    target["annotations"] = json!({"io.containerd.image.name": "a.test/x:1"});
    a.json("index.json", &index_json(vec![target]));
    a.file("oci-layout", OCI_LAYOUT);
    (a, inner, outer)
}

/// An index stored under a name whose content lists that same name (possible only with a
/// wrong name, so its digest cannot match).
pub(crate) fn self_referencing_index() -> ArchiveBuilder {
    let name = Digest::sha256(b"anything");
    let index = index_json(vec![json!({
        "mediaType": media_type::OCI_INDEX, "digest": name.to_string(), "size": 1,
    })]);
    let mut a = ArchiveBuilder::default();
    a.json(&format!("blobs/sha256/{}", name.hex()), &index);
    a.json("index.json", &index);
    a.file("oci-layout", OCI_LAYOUT);
    a
}

/// A docker-archive as Podman and skopeo write it: the layer stored as `<digest>.tar`, and
/// `<v1id>/layer.tar` a symlink to it. Returns the archive and the symlink's path.
pub(crate) fn podman_docker_archive(image: &TestImage) -> (ArchiveBuilder, String) {
    let mut a = docker_v24(image, "localhost/app:latest");
    let layer = image.layers[0].digest();
    let v1_layer = a
        .entries
        .iter()
        .find(|(p, _)| p.ends_with("/layer.tar"))
        .unwrap()
        .0
        .clone();
    a.remove(&v1_layer);
    a.file(
        &format!("{}.tar", layer.hex()),
        image.layers[0].stored.clone(),
    );
    a.link(
        &v1_layer,
        TarEntry::Symlink(format!("../{}.tar", layer.hex())),
    );
    (a, v1_layer)
}
