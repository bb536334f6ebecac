//! The fixture spec language: what an image archive should contain, as written in scenario
//! YAML under `fixtures:` (and in `harness craft SPEC.yaml`).
//!
//! This is the first of two passes: the types here say exactly what the YAML says, with
//! `deny_unknown_fields` so a typo is an error, and every field added after the first version
//! `#[serde(default)]` so older specs keep their meaning. What the fields mean together (which
//! platform is primary, which layers a platform has, whether a defect fits the layout) is
//! resolved and validated in [`plan`](super::plan) before anything is built.
//!
//! ```yaml
//! layout: containerd-hybrid
//! names: [example.test/app:1, example.test/app:latest]
//! platforms: [linux/amd64, linux/arm64]
//! omit_platforms: [linux/arm64]     # listed in the index, blobs absent (never pulled)
//! attestations: true                # one attestation manifest per platform
//! layers:
//!   - files: [{path: etc/hello, content: "hi\n"}]
//!     compression: zstd
//!   - platform: linux/arm64         # only in that platform's image
//!     files: [{path: bin/app, content: arm64}]
//!     compression: gzip
//!     media_type: application/vnd.docker.image.rootfs.diff.tar.zstd
//! defects:
//!   - diffid-mismatch: layer 0
//!   - blob-missing: linux/amd64 config
//!   - index-manifests-null
//! ```

pub use crate::oci::Compression;
use serde::{Deserialize, Serialize};

use crate::craft::DefectSpec;
pub use crate::craft::generate::{ByteSize, GenerateSpec};

/// The archive layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// Docker <= 24 `docker save`: `<v1id>/{VERSION,json,layer.tar}`, `<config-hex>.json`,
    /// `manifest.json` and `repositories`; no `index.json`, no `oci-layout`.
    DockerArchive,
    /// Docker >= 25 `docker save` (classic store): `manifest.json` + `index.json` + `oci-layout`
    /// + `repositories` + `blobs/sha256/*`, uncompressed layers named by DiffID.
    DockerOciHybrid,
    /// Docker's containerd image store `docker save` (containerd `archive.Export`): blobs as
    /// stored (often an image index with attestation manifests, compressed layers),
    /// `index.json`, `manifest.json` for one platform, `oci-layout`; no `repositories`.
    ContainerdHybrid,
    /// A pure OCI image layout in a tar: `index.json` + `oci-layout` + `blobs/sha256/*`.
    OciArchive,
}

impl LayoutKind {
    /// The name used in specs and reports (`docker-oci-hybrid`).
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::DockerArchive => "docker-archive",
            LayoutKind::DockerOciHybrid => "docker-oci-hybrid",
            LayoutKind::ContainerdHybrid => "containerd-hybrid",
            LayoutKind::OciArchive => "oci-archive",
        }
    }

    /// Whether the archive has a `manifest.json` (what classic `docker load` needs).
    pub fn has_manifest_json(self) -> bool {
        !matches!(self, LayoutKind::OciArchive)
    }

    /// Whether the archive has `index.json` and `oci-layout`.
    pub fn has_index_json(self) -> bool {
        !matches!(self, LayoutKind::DockerArchive)
    }

    /// Whether the archive has a `repositories` file (when the image is named).
    pub fn has_repositories(self) -> bool {
        matches!(
            self,
            LayoutKind::DockerArchive | LayoutKind::DockerOciHybrid
        )
    }

    /// Whether the layout's producer can write an image index (multi-platform, attestations).
    /// Docker's classic store holds one platform per image, so its layouts cannot.
    pub fn can_hold_index(self) -> bool {
        matches!(self, LayoutKind::ContainerdHybrid | LayoutKind::OciArchive)
    }
}

/// One fixture: an image written as an archive.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    pub layout: LayoutKind,
    /// The image name as a user would tag it (`dangerzone.rocks/dangerzone:latest`). Written to
    /// `manifest.json` `RepoTags` and `repositories`, and by default to the
    /// `io.containerd.image.name` annotation (hybrid layouts) and (its tag alone) to
    /// `org.opencontainers.image.ref.name`. Exclusive with `names`.
    #[serde(default)]
    pub name: Option<String>,
    /// Several names for one image (`docker save a:1 b:2`): `RepoTags` lists them all, and
    /// `index.json` gets one descriptor per name, as moby and containerd write them (R1: two
    /// tags make Podman's OCI path fail). Default: none. Exclusive with `name`.
    #[serde(default)]
    pub names: Vec<String>,
    /// Overrides the `org.opencontainers.image.ref.name` annotation. `""` omits it. With
    /// several `names`, only `""` is accepted.
    #[serde(default)]
    pub ref_name: Option<String>,
    /// Overrides the `io.containerd.image.name` annotation. `""` omits it. With several
    /// `names`, only `""` is accepted.
    #[serde(default)]
    pub image_name: Option<String>,
    /// `os/arch[/variant]` of a single-platform image; default `linux/amd64`. Exclusive with
    /// `platforms`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Makes the image an image index with one manifest and config per platform, in this
    /// order (even with one entry). Only `oci-archive` and `containerd-hybrid`. Default: a
    /// single manifest.
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
    /// Platforms of `platforms` whose manifest, config, layers and attestation are left out
    /// while the index still lists them, as Docker's containerd store saves platforms it never
    /// pulled. At least one platform must stay. Default: none.
    #[serde(default)]
    pub omit_platforms: Vec<String>,
    /// Adds one BuildKit attestation manifest per platform (`unknown/unknown`, an in-toto
    /// provenance layer), which makes the image an index. Only `oci-archive` and
    /// `containerd-hybrid`. Default: false.
    #[serde(default)]
    pub attestations: bool,
    /// Layers, bottom first. At least one per platform.
    pub layers: Vec<LayerSpec>,
    /// Image config fields.
    #[serde(default)]
    pub config: ImageConfigSpec,
    /// Deliberate defects, each provoking one reader finding. Default: none.
    #[serde(default)]
    pub defects: Vec<DefectSpec>,
}

impl FixtureSpec {
    /// A spec with these layers and every optional field at its default, for code that builds
    /// specs (`FixtureSpec { name: .., ..FixtureSpec::new(layout, layers) }`).
    pub fn new(layout: LayoutKind, layers: Vec<LayerSpec>) -> Self {
        Self {
            layout,
            name: None,
            names: Vec::new(),
            ref_name: None,
            image_name: None,
            platform: None,
            platforms: None,
            omit_platforms: Vec::new(),
            attestations: false,
            layers,
            config: ImageConfigSpec::default(),
            defects: Vec::new(),
        }
    }
}

/// One layer: the files it holds (parent directories are added automatically), how it is
/// stored, and which platforms have it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    pub files: Vec<FileSpec>,
    /// How the blob is stored. Default `none` (an uncompressed tar, its digest the DiffID).
    #[serde(default)]
    pub compression: Compression,
    /// Overrides the media type descriptors give the layer; default from `compression`
    /// ([`Compression::media_type`]). Lets a spec write non-standard or mismatched types
    /// (`application/vnd.docker.image.rootfs.diff.tar.zstd`). Not in `docker-archive`, which
    /// has no descriptors.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Restricts the layer to one platform of `platforms`; default: every platform has it.
    #[serde(default)]
    pub platform: Option<String>,
}

/// A regular file in a layer: `content` inline, or `generate`d (large files; see
/// [`generate`](super::generate)).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawFileSpec")]
pub struct FileSpec {
    /// Relative path inside the image (`etc/hello`).
    pub path: String,
    /// UTF-8 content; default empty. Exclusive with `generate`.
    pub content: String,
    /// `{ size: 1GiB, seed: 7 }`: `size` bytes of the deterministic pseudo-random stream `seed`
    /// selects, made while the archive is written and never held in memory. Default: none (the
    /// file holds `content`). Exclusive with `content`.
    pub generate: Option<GenerateSpec>,
    /// Unix mode; default 0o644.
    pub mode: Option<u32>,
}

impl FileSpec {
    /// A file holding `content`, mode 0o644.
    pub fn new(path: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            content: content.into(),
            generate: None,
            mode: None,
        }
    }

    /// The file's length in bytes.
    pub fn size(&self) -> u64 {
        match &self.generate {
            Some(g) => g.size.0,
            None => self.content.len() as u64,
        }
    }
}

/// What the YAML of a file says, before `content` and `generate` are known not to clash.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSpec {
    path: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    generate: Option<GenerateSpec>,
    #[serde(default)]
    mode: Option<u32>,
}

impl TryFrom<RawFileSpec> for FileSpec {
    type Error = String;

    fn try_from(raw: RawFileSpec) -> Result<Self, String> {
        if raw.content.is_some() && raw.generate.is_some() {
            return Err("content and generate are exclusive; give one".into());
        }
        Ok(Self {
            path: raw.path,
            content: raw.content.unwrap_or_default(),
            generate: raw.generate,
            mode: raw.mode,
        })
    }
}

/// The parts of the image config a fixture may set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfigSpec {
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use crate::craft::testutil::{write, yaml};
    use crate::craft::{Compression, DefectKind, LayoutKind};

    /// The example in the module doc, which must stay valid.
    const DOC_EXAMPLE: &str = "
layout: containerd-hybrid
names: [example.test/app:1, example.test/app:latest]
platforms: [linux/amd64, linux/arm64]
omit_platforms: [linux/arm64]
attestations: true
layers:
  - files: [{path: etc/hello, content: \"hi\\n\"}]
    compression: zstd
  - platform: linux/arm64
    files: [{path: bin/app, content: arm64}]
    compression: gzip
    media_type: application/vnd.docker.image.rootfs.diff.tar.zstd
defects:
  - diffid-mismatch: layer 0
  - blob-missing: linux/amd64 config
  - index-manifests-null
";

    #[test]
    fn the_doc_example_parses_and_writes() {
        let spec = yaml(DOC_EXAMPLE);
        assert_eq!(spec.layout, LayoutKind::ContainerdHybrid);
        assert_eq!(spec.layers[0].compression, Compression::Zstd);
        let (_, facts, _) = write(&spec);
        let codes: Vec<DefectKind> = facts.defects.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                DefectKind::DiffidMismatch,
                DefectKind::BlobMissing,
                DefectKind::IndexManifestsNull
            ]
        );
        assert_eq!(facts.platforms.len(), 2);
        assert_eq!(facts.names.repo_tags.len(), 2);
    }

    #[test]
    fn layout_names_are_the_serialized_names() {
        for layout in [
            LayoutKind::DockerArchive,
            LayoutKind::DockerOciHybrid,
            LayoutKind::ContainerdHybrid,
            LayoutKind::OciArchive,
        ] {
            assert_eq!(serde_json::to_value(layout).unwrap(), layout.as_str());
            assert_eq!(
                yaml(&format!("layout: {}\nlayers: []", layout.as_str())).layout,
                layout
            );
        }
    }

    #[test]
    fn generated_files_parse_with_sizes_in_bytes_or_binary_units() {
        let spec = yaml(
            "layout: oci-archive\nlayers:\n  - files:\n      - { path: a, generate: { size: 1GiB, seed: 7 } }\n      - { path: b, generate: { size: 4096, seed: 0 }, mode: 0o600 }\n      - { path: c, generate: { size: \"64KiB\", seed: 18446744073709551615 } }\n      - { path: d, content: inline }\n",
        );
        let files = &spec.layers[0].files;
        let sizes: Vec<(Option<u64>, Option<u64>, u64)> = files
            .iter()
            .map(|f| {
                (
                    f.generate.map(|g| g.size.0),
                    f.generate.map(|g| g.seed),
                    f.size(),
                )
            })
            .collect();
        assert_eq!(
            sizes,
            [
                (Some(1 << 30), Some(7), 1 << 30),
                (Some(4096), Some(0), 4096),
                (Some(64 << 10), Some(u64::MAX), 64 << 10),
                (None, None, 6),
            ]
        );
        assert_eq!(files[1].mode, Some(0o600));
        assert!(files[0].content.is_empty());
        assert_eq!(files[3], super::FileSpec::new("d", "inline"));
    }

    #[test]
    fn bad_generated_files_are_refused() {
        let table = [
            (
                "{ path: a, content: x, generate: { size: 1, seed: 1 } }",
                "content and generate are exclusive",
            ),
            (
                "{ path: a, generate: { size: 1, seed: 1 }, content: \"\" }",
                "content and generate are exclusive",
            ),
            (
                "{ path: a, generate: { size: 1GB, seed: 1 } }",
                "invalid size \"1GB\": expected bytes as an integer or with a KiB, MiB or GiB suffix",
            ),
            (
                "{ path: a, generate: { size: 9GiB, seed: 1 } }",
                "invalid size \"9GiB\": more than 8589934591 bytes",
            ),
            (
                "{ path: a, generate: { size: -1, seed: 1 } }",
                "invalid size -1: negative",
            ),
            (
                "{ path: a, generate: { size: 1.5, seed: 1 } }",
                "a size: bytes as an integer or with a KiB, MiB or GiB suffix",
            ),
            ("{ path: a, generate: { size: 1 } }", "missing field `seed`"),
            ("{ path: a, generate: { seed: 1 } }", "missing field `size`"),
            ("{ path: a, generate: { size: 1, seed: -2 } }", "seed"),
            (
                "{ path: a, generate: { size: 1, seed: 1, sed: 2 } }",
                "unknown field `sed`",
            ),
            ("{ path: a, contents: x }", "unknown field `contents`"),
        ];
        for (file, want) in table {
            let src = format!("layout: oci-archive\nlayers: [{{ files: [{file}] }}]\n");
            let err = serde_saphyr::from_str::<super::FixtureSpec>(&src)
                .expect_err(file)
                .to_string();
            assert!(err.contains(want), "{file}: {err}");
        }
    }

    /// Specs written before the new fields keep their meaning, and unknown fields still fail.
    #[test]
    fn old_specs_parse_and_typos_fail() {
        let spec = yaml("layout: oci-archive\nname: a:1\nlayers: [{files: []}]");
        assert_eq!(spec.platforms, None);
        assert!(spec.defects.is_empty());
        assert_eq!(spec.layers[0].compression, Compression::None);
        let err = serde_saphyr::from_str::<super::FixtureSpec>(
            "layout: oci-archive\nlayers: [{files: [], compresion: gzip}]",
        )
        .unwrap_err();
        assert!(err.to_string().contains("compresion"), "{err}");
    }
}
