//! Fixture specs -> byte-exact, deterministic image archives.
//!
//! A scenario's `fixtures:` entry ([`FixtureSpec`]) describes a small single-platform image and
//! the archive layout to write it in; [`write_archive`] writes the tar and returns a
//! [`CraftedArchive`] saying which digests it holds, so the runner can tell which digest an
//! image ID a runtime reports equals (config, manifest or index; R1) without re-reading the tar.
//!
//! The layouts mimic real producers byte for byte where that is practical, because the
//! regressions the harness catches live in those bytes: [`LayoutKind::DockerOciHybrid`] is
//! Docker >= 25 `docker save` (`docker_save.rs`, following moby `image/tarexport/save.go`) and
//! [`LayoutKind::OciArchive`] is BuildKit `--output type=oci` (`oci_layout.rs`, following
//! containerd `core/images/archive.Export`).
//!
//! # Determinism
//!
//! The same spec gives the same bytes on any machine, so fixture digests can be snapshotted:
//!
//! - Tar headers are written as Go's `archive/tar` writes them for moby and containerd
//!   (`gotar.rs`): USTAR, mtime 0, uid/gid 0, empty user and group names, fixed modes.
//! - Members come in a fixed order: the upstream's (a sorted directory walk), and inside layers
//!   a sorted depth-first walk with parents before children (`layer.rs`).
//! - JSON is written as Go's `encoding/json` writes it (`gojson.rs`): compact, Go struct field
//!   order, sorted map keys, Go's string escaping; a trailing newline only where moby uses
//!   `json.Encoder`.
//! - The config's `created` and history times are the Unix epoch (`config.rs`).
//! - Nothing reads the clock, the environment, the user database or the file system.
//!
//! Everything is built in memory first (fixtures are small), which also means a spec error is
//! reported before any byte is written.

mod config;
mod docker_save;
mod error;
mod facts;
mod gojson;
mod gotar;
mod layer;
mod legacy_v1;
mod manifest;
mod names;
mod oci_layout;
mod spec;
#[cfg(test)]
mod testutil;
mod write;

pub use error::CraftError;
pub use facts::{ArchiveNames, BlobFacts, CraftedArchive, LayerFacts};
pub use spec::{FileSpec, FixtureSpec, ImageConfigSpec, LayerSpec, LayoutKind};
pub use write::{write_archive, write_archive_to_path};
