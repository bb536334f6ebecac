//! Reading image archives: every layout Docker, Podman, containerd and BuildKit write, in one
//! streaming pass, into an [`ArchiveReport`] (the `harness inspect` model).
//!
//! # One pass, any member order
//!
//! [`read_archive`] reads the tar once, front to back, and never extracts it. Each member is
//! handled as it streams by (`member.rs`): its raw bytes are hashed; if they start with a
//! compression magic number they are decompressed on the fly and the output hashed too (the
//! DiffID candidate); if the (decompressed) bytes look like a tar, the layer's own entries are
//! walked from the same stream for unsafe paths and duplicates (`layer.rs`). Only small JSON
//! members (at most 4 MiB each, 32 MiB in all, attestation statements excepted) are kept in
//! memory, as exact bytes, because digests are over bytes and the file that explains them may
//! come later. Memory is therefore bounded by a few buffers (1 MiB reads, the decoders'
//! windows), the small JSON and a few hundred bytes per member, whatever the size of the
//! archive (about 6 MiB peak RSS reading a 1 GiB archive, measured with a release build).
//!
//! Nothing is interpreted during the pass (`scan.rs`), which is why member order does not
//! matter: `index.json` may come after the blobs it names (containerd sorts members by name,
//! moby walks a directory, BuildKit streams) and `manifest.json` may come last. Once the
//! stream ends, `build.rs` decides the layout class from which metadata files exist, follows
//! `index.json` and `manifest.json` through the recorded members, and joins every claim (a
//! descriptor's digest, size and media type; a config's DiffIDs) to the facts measured from
//! the bytes. The report states facts and judges none of them: comparing claims with facts
//! is the oracles' job, outside this module, so the reader depends on nothing that judges it.
//!
//! The rules follow the readers users run: moby `image/tarexport/load.go` (`Load`, `safePath`,
//! the layer count check), containerd `core/images/archive/importer.go` (`ImportIndex`:
//! `oci-layout` first, `path.Clean` on names, a symlink map for Podman's layer links) and
//! containers/image `docker/internal/tarfile` (`Reader`, `Source.prepareLayerData`) and
//! `oci/layout`.

mod build;
mod compression;
mod guard;
mod json;
mod layer;
pub(crate) mod media;
mod member;
mod model;
mod oci_graph;
mod parallel;
pub(crate) mod path;
mod read;
mod scan;
#[cfg(test)]
pub(crate) mod testutil;

pub use compression::Compression;
pub use guard::MAX_METADATA_MEMBER;
pub use model::{
    ArchiveReport, BlobRef, ConfigReport, DescriptorReport, ImageNames, ImageReport,
    IndexGraphReport, IndexJson, InputKind, JsonError, JsonErrorKind, LayerReport, LayerSource,
    LayoutKind, ManifestJsonItem, ManifestReport, MemberKind, MemberReport, MemberRole,
    OciLayoutFile, Platform, StoredBlob, TarScan, UnsafeEntry, UnsafeReason,
};
pub use oci_graph::MAX_DESCRIPTORS;
pub use read::{ReadError, read_archive, read_path};
