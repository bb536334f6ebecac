//! Fixture specs -> byte-exact, deterministic image archives.
//!
//! A scenario's `fixtures:` entry ([`FixtureSpec`]) describes an image (files in layers,
//! config fields, one platform or several) and the archive layout to write it in;
//! [`write_archive`] writes the tar and returns a [`CraftedArchive`] saying which digests it
//! holds, so the runner can tell which digest an image ID a runtime reports equals (config,
//! manifest or index; R1) without re-reading the tar.
//!
//! The layouts mimic real producers byte for byte where that is practical, because the
//! regressions the harness catches live in those bytes; one file each, behind one member list
//! (`write.rs`):
//!
//! - [`LayoutKind::DockerArchive`]: Docker <= 24 `docker save` (`docker_archive.rs`, moby
//!   v24 `image/tarexport/save.go`);
//! - [`LayoutKind::DockerOciHybrid`]: Docker >= 25 `docker save`, classic store
//!   (`docker_save.rs`, moby v26+ `image/tarexport/save.go`);
//! - [`LayoutKind::ContainerdHybrid`]: `docker save` with the containerd image store
//!   (`containerd_export.rs`, containerd `core/images/archive/exporter.go` as moby's
//!   `daemon/containerd/image_exporter.go` calls it, with BuildKit's blobs);
//! - [`LayoutKind::OciArchive`]: BuildKit `--output type=oci` (`oci_layout.rs`).
//!
//! Beyond what producers write, a spec can ask for layer compressions and media types
//! (`compress.rs`), multi-platform indexes with attestations and missing platforms
//! (`plan.rs`, `attestation.rs`), and deliberate defects that each provoke one reader finding
//! (`defect.rs`, applied in `apply.rs`).
//!
//! # Determinism
//!
//! The same spec gives the same bytes on any machine, so fixture digests can be snapshotted:
//!
//! - Tar headers are written as Go's `archive/tar` writes them for moby and containerd
//!   (`gotar.rs`): USTAR, mtime 0, uid/gid 0, empty user and group names, fixed modes.
//! - Members come in a fixed order: the upstream's (a sorted directory walk or a sorted record
//!   list), and inside layers a sorted depth-first walk with parents before children
//!   (`layer.rs`).
//! - JSON is written as Go's `encoding/json` writes it (`gojson.rs`): compact or indented as
//!   the producer does, Go struct field order, sorted map keys, Go's string escaping; a
//!   trailing newline only where moby uses `json.Encoder`.
//! - The config's `created` and history times are the Unix epoch (`config.rs`).
//! - Compressors run single-threaded with fixed levels and headers without time or name.
//! - Nothing reads the clock, the environment, the user database or the file system.
//!
//! Everything is built in memory first (fixtures are small), which also means a spec error is
//! reported before any byte is written. The exception is generated file content
//! (`generate: { size, seed }`, `generate.rs`), which can make a layer of gigabytes: such a
//! layer is described, hashed while its bytes are made, and made again while the archive is
//! written (`stream.rs`), so memory stays at a few MiB; it is still fully hashed, and the spec
//! fully checked, before the first byte is written.

mod apply;
mod attestation;
mod compress;
mod config;
mod containerd_export;
mod defect;
mod docker_archive;
mod docker_save;
mod error;
mod facts;
mod generate;
mod gojson;
mod gotar;
mod image;
mod layer;
mod legacy_v1;
mod manifest;
mod names;
mod oci_layout;
mod plan;
mod rootfs;
mod spec;
mod stream;
#[cfg(test)]
mod testutil;
mod write;

pub use defect::{
    AppliedDefect, ArchiveFile, BlobKind, DefectKind, DefectSpec, Target, UnsafePathSpec,
};
pub use error::CraftError;
pub use facts::{
    ArchiveNames, BlobFacts, CraftedArchive, IndexEntryNames, LayerFacts, PlatformFacts,
};
pub use rootfs::{RootfsFacts, RootfsSpec, build_rootfs, validate_rootfs, write_rootfs_to_path};
pub use spec::{
    ByteSize, Compression, FileSpec, FixtureSpec, GenerateSpec, ImageConfigSpec, LayerSpec,
    LayoutKind,
};
pub use write::{write_archive, write_archive_to_path};

/// Checks everything about `spec` that writing it would check, without writing anything, so a
/// scenario's fixtures can be refused before a run starts any daemon.
pub fn validate(spec: &FixtureSpec) -> Result<(), CraftError> {
    plan::Plan::resolve(spec).map(|_| ())
}
