//! [`CraftError`]: why a fixture spec could not be written as an archive.
//!
//! Spec problems name the field, layer and file at fault, so a scenario author can find them in
//! the YAML; I/O problems keep the underlying error as their `source()`.

use std::io;
use std::path::PathBuf;

/// A fixture that cannot be crafted. Messages are lowercase fragments that read well after
/// "failed to craft fixture: ".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CraftError {
    /// `layers` is empty; moby refuses to save such an image ("empty export - not implemented").
    #[error("no layers: a fixture needs at least one layer")]
    NoLayers,
    /// A file path that is empty, absolute, not normalized, escapes the root, or cannot be
    /// stored in a ustar header.
    #[error("invalid file path {path:?} in layer {layer}: {reason}")]
    InvalidPath {
        layer: usize,
        path: String,
        reason: &'static str,
    },
    /// Two files with one path, or a file whose path is also a parent directory of another.
    #[error("conflicting file path {path:?} in layer {layer}: {reason}")]
    PathConflict {
        layer: usize,
        path: String,
        reason: &'static str,
    },
    /// A file mode with bits beyond permissions, setuid, setgid and sticky.
    #[error("invalid mode {mode:#o} for file {path:?} in layer {layer}: must be at most 0o7777")]
    InvalidMode {
        layer: usize,
        path: String,
        mode: u32,
    },
    /// `name` cannot be split into a repository and a tag.
    #[error("invalid image name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// `platform` is not `os/arch[/variant]`.
    #[error("invalid platform {platform:?}: {reason}")]
    InvalidPlatform {
        platform: String,
        reason: &'static str,
    },
    /// A field, or a combination of fields, that cannot be written: `platforms` in a layout
    /// that holds no index, an `omit_platforms` entry that is not listed, and the like.
    #[error("invalid {field}: {reason}")]
    InvalidSpec { field: String, reason: String },
    /// A `defects` entry that does not fit the spec: its target does not exist in this layout
    /// or image, or it contradicts another defect.
    #[error("invalid defects[{index}] ({code}): {reason}")]
    InvalidDefect {
        index: usize,
        code: &'static str,
        reason: String,
    },
    /// Compressing a layer failed (an encoder error; the data is in memory).
    #[error("cannot compress layer {layer}")]
    Compress {
        layer: usize,
        #[source]
        source: io::Error,
    },
    /// The archive file could not be created.
    #[error("cannot create archive file {path}")]
    CreateFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing the archive bytes failed.
    #[error("cannot write archive")]
    Write(#[source] io::Error),
}

impl CraftError {
    /// `true` when the spec is fine and the machine failed (the file could not be created or
    /// written: a full disk, a read-only directory): `harness craft` exits 3, not 2.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            CraftError::CreateFile { .. } | CraftError::Write(_) | CraftError::Compress { .. }
        )
    }
}
