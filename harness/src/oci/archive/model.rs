//! [`ArchiveReport`]: what an image archive holds, as `harness inspect --format json` prints it.
//!
//! The model has two layers, like the archive: what the files *say* ([`IndexJson`],
//! [`ManifestJsonItem`], `repositories`, `oci-layout`, kept close to their JSON) and what they
//! *mean* ([`ImageReport`]: each image with its names from every source, its manifests, config
//! and layers, each joined to the member that stores it). Every claim a descriptor makes
//! (digest, size, media type, diff_id) sits next to the facts measured from the bytes
//! ([`StoredBlob`]), so an oracle can compare the two without re-reading the archive.
//!
//! The report holds facts only, no verdicts: whether a claim and a fact disagree badly
//! enough to matter is the oracles' call, and they live downstream of this module (the
//! `harness inspect` document is this report plus their findings and predictions).
//!
//! Field names are a stable interface (snake_case, as serialized); an absent value is `null`,
//! never a missing key, so consumers can tell "not written" from "not looked at".

use std::collections::BTreeMap;

use serde::Serialize;

use crate::oci::Digest;
use crate::oci::archive::Compression;

/// Everything [`read_archive`](super::read_archive) learnt about one archive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArchiveReport {
    /// `tar` for an archive stream or file, `directory` for an OCI layout directory.
    pub input: InputKind,
    /// The layout class, from which metadata files are present (see [`LayoutKind`]).
    pub layout: LayoutKind,
    /// The compression of the archive as a whole (`none` for a plain tar and for directories).
    pub compression: Compression,
    /// Bytes read from the input: the (compressed) archive size, or for a directory the sum
    /// of its files' sizes.
    pub size: u64,
    /// Bytes of tar after whole-archive decompression; `null` for a directory.
    pub tar_size: Option<u64>,
    /// `oci-layout` as written; `null` when absent or not valid JSON.
    pub oci_layout: Option<OciLayoutFile>,
    /// `index.json` as written; `null` when absent or not valid JSON.
    pub index_json: Option<IndexJson>,
    /// `manifest.json` as written, one entry per item; `null` when absent, not valid JSON,
    /// or the JSON `null` (see `manifest_json_null`).
    pub manifest_json: Option<Vec<ManifestJsonItem>>,
    /// `manifest.json` holds the JSON `null`, which moby refuses ("manifest cannot be null").
    pub manifest_json_null: bool,
    /// `repositories` as written: repository -> tag -> layer ID (the top layer's v1 ID up to
    /// Docker 24, its DiffID hex since Docker 25); `null` when absent or invalid.
    pub repositories: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// The images, `index.json` entries first (grouped by target digest, in index order),
    /// then `manifest.json` items that match no `index.json` image.
    pub images: Vec<ImageReport>,
    /// Every regular file and link of the archive, in archive order (a path written twice
    /// appears twice; readers use the last one, see `duplicate_members`).
    pub members: Vec<MemberReport>,
    /// Paths of files or links that occur more than once in the archive, each listed once.
    pub duplicate_members: Vec<String>,
    /// Archive members whose path or link target escapes the archive root.
    pub unsafe_members: Vec<UnsafeEntry>,
    /// What following the descriptor graph from `index.json` met: cycles, and whether a bound
    /// stopped it. Left out of the JSON document when there is nothing to say.
    #[serde(skip_serializing_if = "IndexGraphReport::is_unremarkable")]
    pub index_graph: IndexGraphReport,
}

/// What following the descriptor graph met.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexGraphReport {
    /// Descriptors followed, all images together (at most
    /// [`MAX_DESCRIPTORS`](crate::oci::archive::MAX_DESCRIPTORS)).
    pub descriptors: usize,
    /// Indexes that list themselves or an index above them, each once.
    pub cycles: Vec<crate::oci::Digest>,
    /// A bound stopped the walk: more descriptors than the limit, or indexes nested deeper
    /// than four levels. What lies beyond is not in the report.
    pub truncated: bool,
}

impl IndexGraphReport {
    /// Nothing worth a field in the document: no cycle and no bound met.
    pub fn is_unremarkable(&self) -> bool {
        self.cycles.is_empty() && !self.truncated
    }
}

/// Where the archive came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    Tar,
    Directory,
}

/// The layout classes a reader meets (REGRESSIONS.md R5), decided by which metadata files
/// are present, the way loaders decide: moby's `tarexporter.Load` needs `manifest.json`,
/// containerd's `ImportIndex` prefers `oci-layout` + `index.json`, and containers/image has
/// one transport per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// `manifest.json` without an OCI layout: Docker <= 24 (`<v1id>/layer.tar`), Podman
    /// (`<digest>.tar`, with `<v1id>/layer.tar` symlinks) and skopeo `docker-archive:`.
    DockerArchive,
    /// Docker >= 25 classic store: `manifest.json` + `index.json` + `oci-layout` +
    /// `repositories`, uncompressed layers named by DiffID.
    DockerOciHybrid,
    /// Docker's containerd store and BuildKit `type=docker`: `manifest.json` + `index.json` +
    /// `oci-layout`, no `repositories`.
    ContainerdHybrid,
    /// An OCI image layout in a tar (`index.json` + `oci-layout`, no `manifest.json`).
    OciArchive,
    /// An OCI image layout directory.
    OciLayoutDir,
    /// None of the above: no `manifest.json`, no `index.json`, no `oci-layout`.
    Unknown,
}

impl LayoutKind {
    /// The stable name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::DockerArchive => "docker-archive",
            LayoutKind::DockerOciHybrid => "docker-oci-hybrid",
            LayoutKind::ContainerdHybrid => "containerd-hybrid",
            LayoutKind::OciArchive => "oci-archive",
            LayoutKind::OciLayoutDir => "oci-layout-dir",
            LayoutKind::Unknown => "unknown",
        }
    }

    /// Both a docker-archive and an OCI layout.
    pub fn is_hybrid(self) -> bool {
        matches!(
            self,
            LayoutKind::DockerOciHybrid | LayoutKind::ContainerdHybrid
        )
    }
}

/// `oci-layout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OciLayoutFile {
    /// `imageLayoutVersion`; the only version the spec and containerd accept is `1.0.0`.
    pub version: Option<String>,
}

/// `index.json`, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexJson {
    /// `schemaVersion`.
    pub schema_version: Option<u64>,
    /// `mediaType`.
    pub media_type: Option<String>,
    /// `manifests` is `null` or missing (moby#47210: Docker 25.0.0-25.0.2 saving by ID).
    pub manifests_null: bool,
    /// `manifests`, in order.
    pub manifests: Vec<DescriptorReport>,
}

/// An OCI descriptor as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescriptorReport {
    /// `mediaType`.
    pub media_type: Option<String>,
    /// `digest`.
    pub digest: Digest,
    /// `size` in bytes.
    pub size: u64,
    /// `platform`.
    pub platform: Option<Platform>,
    /// `annotations` (sorted by key).
    pub annotations: BTreeMap<String, String>,
}

/// A platform: from a descriptor's `platform` or from a config's `os`/`architecture`/`variant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// `os` (`linux`, `unknown` for attestation manifests).
    pub os: String,
    /// `architecture` (`amd64`, `arm64`, `unknown`).
    pub architecture: String,
    /// `variant` (`v8`).
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One `manifest.json` item (moby `tarexport.manifestItem`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestJsonItem {
    /// `Config`: the config's member path.
    pub config: String,
    /// `RepoTags` (familiar names, as written); empty for `null`.
    pub repo_tags: Vec<String>,
    /// `Layers`: member paths, bottom first.
    pub layers: Vec<String>,
    /// `Parent`.
    pub parent: Option<String>,
    /// `LayerSources`: DiffID -> descriptor. Docker >= 25 lists every layer here,
    /// uncompressed (the go-containerregistry#1870 trigger).
    pub layer_sources: BTreeMap<String, LayerSource>,
}

/// A `LayerSources` value (a distribution descriptor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerSource {
    pub media_type: Option<String>,
    pub size: Option<u64>,
    pub digest: Option<String>,
}

/// One image: one `index.json` target (all entries naming the same digest), or one
/// `manifest.json` item that matches no `index.json` image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageReport {
    /// Positions in `index_json.manifests` of the entries that point at this image.
    pub index_json_entries: Vec<usize>,
    /// Positions in `manifest_json` of the items describing this image (matched to
    /// `index.json` images by config digest).
    pub manifest_json_items: Vec<usize>,
    /// The image's names, per source, as written.
    pub names: ImageNames,
    /// The `index.json` descriptor's target (its digest is what Docker's containerd store
    /// reports as the image ID); `null` for `manifest.json`-only images.
    pub target: Option<BlobRef>,
    /// The target's digest when it is an image index (multi-platform, or with attestations).
    pub index_digest: Option<Digest>,
    /// The platform manifests (one for a single-manifest target; for a `manifest.json`-only
    /// image one without a manifest blob, built from the item).
    pub manifests: Vec<ManifestReport>,
}

/// Names from every source; each list deduplicated, in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageNames {
    /// `manifest.json` `RepoTags` (familiar form: `alpine:latest`).
    pub repo_tags: Vec<String>,
    /// `io.containerd.image.name` annotations on the `index.json` entries (full names).
    pub image_names: Vec<String>,
    /// `org.opencontainers.image.ref.name` annotations on the `index.json` entries (Docker
    /// and containerd write the tag alone).
    pub ref_names: Vec<String>,
}

/// A referenced blob: what the reference claims, and the member holding it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlobRef {
    pub media_type: Option<String>,
    pub digest: Digest,
    pub size: u64,
    /// `null` when the archive does not hold the blob.
    pub blob: Option<StoredBlob>,
}

/// The facts measured from a member's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredBlob {
    /// The regular file holding the bytes (after following links).
    pub member: String,
    /// sha256 of the bytes as stored.
    pub digest: Digest,
    /// Size as stored.
    pub size: u64,
    /// The compression the bytes start with (magic numbers, never the media type).
    pub compression: Compression,
    /// sha256 of the decompressed bytes (equal to `digest` when uncompressed); `null` when
    /// decompression failed.
    pub uncompressed_digest: Option<Digest>,
    /// Size of the decompressed bytes; `null` when decompression failed.
    pub uncompressed_size: Option<u64>,
}

/// One image manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestReport {
    /// The manifest digest; `null` for a `manifest.json`-only image (no manifest blob).
    pub digest: Option<Digest>,
    /// The descriptor's media type, else the manifest's own `mediaType`.
    pub media_type: Option<String>,
    /// The descriptor's size.
    pub size: Option<u64>,
    /// The image index listing this manifest, when it came from one.
    pub parent_index: Option<Digest>,
    /// The descriptor's platform, else the config's.
    pub platform: Option<Platform>,
    /// An attestation manifest (BuildKit): platform `unknown/unknown` or annotation
    /// `vnd.docker.reference.type: attestation-manifest`.
    pub attestation: bool,
    /// The manifest blob; `null` when missing (or for `manifest.json`-only images).
    pub blob: Option<StoredBlob>,
    /// The config; `null` when the manifest is missing or names none.
    pub config: Option<ConfigReport>,
    /// Layers, bottom first.
    pub layers: Vec<LayerReport>,
}

/// An image config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigReport {
    /// The descriptor's digest; for a `manifest.json`-only image, the sha256 of the config
    /// member (the image ID). `null` only when neither exists.
    pub digest: Option<Digest>,
    /// The descriptor's media type (`null` for `manifest.json`-only images).
    pub media_type: Option<String>,
    /// The descriptor's size, or the member's size for `manifest.json`-only images.
    pub size: Option<u64>,
    /// The `manifest.json` `Config` path, for `manifest.json`-only images.
    pub path: Option<String>,
    /// The member holding the config; `null` when missing.
    pub blob: Option<StoredBlob>,
    /// `os` / `architecture` / `variant` of the config.
    pub platform: Option<Platform>,
    /// `rootfs.diff_ids`.
    pub diff_ids: Vec<Digest>,
}

/// One layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerReport {
    /// The manifest descriptor's digest; for a `manifest.json`-only image, the sha256 of the
    /// layer member. `null` when neither exists.
    pub digest: Option<Digest>,
    /// The descriptor's size (the member's size for `manifest.json`-only images).
    pub size: Option<u64>,
    /// The descriptor's media type; for `manifest.json`-only images, the `LayerSources`
    /// media type of this layer's DiffID, if any.
    pub media_type: Option<String>,
    /// `rootfs.diff_ids[i]` of the config.
    pub diff_id: Option<Digest>,
    /// The `manifest.json` `Layers[i]` path, for `manifest.json`-only images.
    pub path: Option<String>,
    /// The member holding the layer; `null` when missing.
    pub blob: Option<StoredBlob>,
}

/// One regular file or link of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberReport {
    /// The path, cleaned as Go's `path.Clean` does (`./index.json` -> `index.json`).
    pub path: String,
    /// `file`, `symlink` or `hardlink`.
    pub kind: MemberKind,
    /// Size in bytes (0 for links).
    pub size: u64,
    /// sha256 of the bytes (`null` for links).
    pub digest: Option<Digest>,
    /// The digest the path claims (`blobs/sha256/<hex>`, or Docker/Podman's `<hex>.json` and
    /// `<hex>.tar`), checked against `digest`.
    pub named_digest: Option<Digest>,
    /// Compression by magic number (`null` for links).
    pub compression: Option<Compression>,
    /// sha256 of the decompressed bytes: equal to `digest` when uncompressed; `null` for links
    /// and when decompression failed.
    pub uncompressed_digest: Option<Digest>,
    /// Size of the decompressed bytes.
    pub uncompressed_size: Option<u64>,
    /// Small JSON kept in memory to be parsed (everything else is hashed while streaming).
    pub buffered: bool,
    /// For links: the target as written.
    pub link_target: Option<String>,
    /// For links: the regular file the link resolves to; `null` when it resolves to nothing.
    pub resolves_to: Option<String>,
    /// What the archive's metadata uses this member for; `null` when nothing references it.
    pub role: Option<MemberRole>,
    /// Why this member could not be parsed as the JSON its role needs.
    pub json_error: Option<JsonError>,
    /// Why decompressing the member failed.
    pub decode_error: Option<String>,
    /// The tar walk of the (decompressed) bytes, for members that look like a tar.
    pub tar: Option<TarScan>,
}

/// The kind of an archive member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberKind {
    File,
    Symlink,
    Hardlink,
}

/// What a member is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberRole {
    OciLayout,
    IndexJson,
    ManifestJson,
    Repositories,
    /// An image index blob.
    Index,
    /// An image manifest blob.
    Manifest,
    Config,
    Layer,
}

/// A JSON member that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonError {
    /// `invalid` (syntax or shape) or `too-large` (over the buffering limit, never parsed).
    pub kind: JsonErrorKind,
    pub message: String,
}

/// Why JSON could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JsonErrorKind {
    Invalid,
    TooLarge,
}

/// The walk over a layer's tar entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TarScan {
    /// Entries read (every header, directories included).
    pub entries: u64,
    /// Entries whose path or link escapes the root (at most 32 listed).
    pub unsafe_entries: Vec<UnsafeEntry>,
    /// Paths written more than once (at most 32 listed; a directory re-declared as a
    /// directory is not a duplicate).
    pub duplicate_entries: Vec<String>,
    /// Unsafe or duplicate entries found beyond the listing limit.
    pub omitted: u64,
    /// Why the walk stopped early (a corrupt header, a truncated stream).
    pub error: Option<String>,
}

/// An entry that escapes the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsafeEntry {
    /// The path as written.
    pub path: String,
    pub reason: UnsafeReason,
    /// The link target, for link escapes.
    pub link_target: Option<String>,
}

/// How an entry escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnsafeReason {
    /// An absolute path (`/etc/passwd`).
    Absolute,
    /// `..` components leave the root (`../x`, `a/../../x`).
    ParentEscape,
    /// A hard link whose target is absolute or leaves the root.
    HardlinkEscape,
    /// A symbolic link whose relative target leaves the root from the link's directory
    /// (in the outer archive, also an absolute target).
    SymlinkEscape,
    /// The entry's parent is a symbolic link written earlier in the same tar, so extracting
    /// it writes through the link.
    ThroughSymlink,
}

impl UnsafeReason {
    /// The stable name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            UnsafeReason::Absolute => "absolute",
            UnsafeReason::ParentEscape => "parent-escape",
            UnsafeReason::HardlinkEscape => "hardlink-escape",
            UnsafeReason::SymlinkEscape => "symlink-escape",
            UnsafeReason::ThroughSymlink => "through-symlink",
        }
    }
}

impl ArchiveReport {
    /// The last regular file or link at `path` (cleaned), as loaders that extract the archive
    /// see it.
    pub fn member(&self, path: &str) -> Option<&MemberReport> {
        let path = super::path::clean(path);
        self.members.iter().rev().find(|m| m.path == path)
    }

    /// The regular file at `path`, following links (at most 16 hops).
    pub fn resolve(&self, path: &str) -> Option<&MemberReport> {
        let mut member = self.member(path)?;
        for _ in 0..16 {
            match member.kind {
                MemberKind::File => return Some(member),
                MemberKind::Symlink | MemberKind::Hardlink => {
                    member = self.member(member.resolves_to.as_deref()?)?;
                }
            }
        }
        None
    }
}

impl MemberReport {
    /// The measured facts of a regular file.
    pub fn stored(&self) -> Option<StoredBlob> {
        Some(StoredBlob {
            member: self.path.clone(),
            digest: self.digest.clone()?,
            size: self.size,
            compression: self.compression?,
            uncompressed_digest: self.uncompressed_digest.clone(),
            uncompressed_size: self.uncompressed_size,
        })
    }
}
