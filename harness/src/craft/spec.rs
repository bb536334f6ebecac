//! The fixture spec language: what an image archive should contain, as written in scenario
//! YAML under `fixtures:` (and, later, in `harness craft SPEC.yaml`).

use serde::Deserialize;

/// The archive layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// Docker >= 25 `docker save` (classic store): `manifest.json` + `index.json` + `oci-layout`
    /// + `repositories` + `blobs/sha256/*`, uncompressed layers named by DiffID.
    DockerOciHybrid,
    /// A pure OCI image layout in a tar: `index.json` + `oci-layout` + `blobs/sha256/*`.
    OciArchive,
}

/// One fixture: a single-platform image written as an archive.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    pub layout: LayoutKind,
    /// The image name as a user would tag it (`dangerzone.rocks/dangerzone:latest`). Written to
    /// `manifest.json` `RepoTags` and `repositories` (hybrid), and by default to the
    /// `io.containerd.image.name` annotation and (its tag alone) to `org.opencontainers.image.ref.name`.
    #[serde(default)]
    pub name: Option<String>,
    /// Overrides the `org.opencontainers.image.ref.name` annotation. `""` omits it.
    #[serde(default)]
    pub ref_name: Option<String>,
    /// Overrides the `io.containerd.image.name` annotation. `""` omits it.
    #[serde(default)]
    pub image_name: Option<String>,
    /// `os/arch[/variant]`; default `linux/amd64`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Layers, bottom first. At least one.
    pub layers: Vec<LayerSpec>,
    /// Image config fields.
    #[serde(default)]
    pub config: ImageConfigSpec,
}

/// One layer: the files it holds. Parent directories are added automatically.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    pub files: Vec<FileSpec>,
}

/// A regular file in a layer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Relative path inside the image (`etc/hello`).
    pub path: String,
    /// UTF-8 content.
    #[serde(default)]
    pub content: String,
    /// Unix mode; default 0o644.
    #[serde(default)]
    pub mode: Option<u32>,
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
