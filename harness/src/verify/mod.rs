//! Oracles: checks on image archives that are stricter than any runtime, each producing
//! [`Finding`]s with a stable code; and the load-name predictions ([`predict`]).
//!
//! [`check`] runs over an [`ArchiveReport`](crate::oci::archive::ArchiveReport), which already
//! holds both what the archive claims (descriptors, DiffIDs, `manifest.json`) and what its
//! bytes are (digests, sizes, compression by magic, the decompressed digest, the layer tar
//! walk), so no oracle reads the archive again. The reader judges nothing and knows nothing
//! of this module; [`inspect_path`] reads an archive and adds the findings and predictions,
//! giving the [`Inspection`] that `harness inspect` prints ([`Inspection::to_json`], or
//! [`render_text`] for the table form).
//!
//! # Finding codes
//!
//! The codes are a stable interface: scenarios and users match on them. Severity is the
//! default; "or" names the contexts that change it.
//!
//! | code | severity | finding |
//! |---|---|---|
//! | `blob-missing` | error; warning for a platform manifest of an index or attestation content (containerd exports only what it holds); info for foreign / non-distributable layers | a descriptor's blob is not in the archive |
//! | `member-missing` | error | a `manifest.json` `Config` or `Layers` path is not in the archive |
//! | `digest-mismatch` | error | a member named by a digest (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`) hashes to another |
//! | `size-mismatch` | error | a descriptor's `size` differs from the blob's |
//! | `diffid-mismatch` | error | config `rootfs.diff_ids[i]` is not the sha256 of decompressed layer `i` (R2; moby#47150's reordered layers) |
//! | `layer-count-mismatch` | error | config diff_ids, manifest layers and `manifest.json` `Layers` differ in number |
//! | `index-manifests-null` | error | `index.json` `"manifests": null` (moby#47210) |
//! | `manifest-json-null` | error | `manifest.json` is `null` (moby's load refuses it) |
//! | `manifest-json-index-disagree` | error | `manifest.json` and `index.json` describe different configs, layers or names |
//! | `ref-name-tag-only` | warning | `org.opencontainers.image.ref.name` is a tag alone: Podman 3.4 loads `localhost/<tag>:latest` (R1) |
//! | `media-type-compression-mismatch` | error | a layer's media type promises one compression, its bytes are another (R2) |
//! | `unknown-media-type` | warning | a media type no spec or known producer defines |
//! | `nonstandard-media-type` | warning | `application/vnd.docker.image.rootfs.diff.tar.zstd`, which containers/image rejects |
//! | `layer-sources-uncompressed` | info | Docker >= 25 `LayerSources` lists uncompressed layers (go-containerregistry#1870, R5) |
//! | `unsafe-path` | error; warning for absolute names in a layer, symlinks whose relative target leaves the root, and unlisted extras | an archive member or layer entry escapes the root: `..`, absolute, a hard link out, a write through a symlink |
//! | `duplicate-entry` | error for archive members with different content (readers disagree on which wins); warning otherwise and inside layers | a path written twice |
//! | `invalid-json` | error | a metadata file or blob is not valid JSON of its expected shape (including digests that are not sha256) |
//! | `json-too-large` | error | a JSON member the reader needs is over the 4 MiB buffering limit, so it was hashed but not parsed |
//! | `layer-unreadable` | error | a member cannot be decompressed, or its layer tar is corrupt |
//! | `link-unresolved` | error | an archive symlink or hard link leads to no regular file (containerd: "no target for symlink layer") |
//! | `oci-layout-missing` | error without `manifest.json`; warning in a hybrid | `index.json` without `oci-layout` |
//! | `index-json-missing` | error | `oci-layout` without `index.json` |
//! | `bad-oci-layout-version` | error | `imageLayoutVersion` is not `1.0.0` |
//! | `platform-missing` | warning | neither descriptor nor config gives an image's OS and architecture |
//! | `unrecognized-layout` | error | no `manifest.json`, `index.json` or `oci-layout` |
//! | `index-cycle` | error | an image index lists itself or an index above it (a reader without a visited set loops forever) |
//! | `index-graph-truncated` | warning | the descriptor graph is larger than the reader follows (4096 descriptors, four levels of indexes): what lies beyond is not checked |

mod check;
mod finding;
mod images;
mod inspect;
mod members;
pub mod predict;
mod render;
pub mod stored;
#[cfg(test)]
mod testutil;

pub use check::check;
pub use finding::{Finding, FindingCode, Severity};
pub use inspect::{Inspection, inspect_archive, inspect_path};
pub use render::render_text;
