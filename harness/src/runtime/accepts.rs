//! What each runtime accepts as a cell's `store` and `builder`, so a typo in `matrix.yaml` or in
//! a scenario's `when:` is refused when the files load instead of silently selecting nothing.
//!
//! The lists are the names each runtime's own configuration takes, not only those this machine
//! can run: a store the kernel or the package lacks is the instance's start error, a name the
//! runtime has never had is a typo.

use super::RuntimeKind;

/// Docker's `--storage-driver` values (moby `daemon/graphdriver`: overlay2, fuse-overlayfs,
/// btrfs, zfs, vfs, and devicemapper, aufs and overlay, which moby 24/25 removed), `containerd`
/// for the containerd image store itself (`features.containerd-snapshotter`, Docker >= 24, with
/// containerd's default snapshotter: see `provider/host.rs`), and containerd's snapshotter
/// names, which that store reports as its driver.
const DOCKER: &[&str] = &[
    "overlay2",
    "fuse-overlayfs",
    "btrfs",
    "zfs",
    "vfs",
    "devicemapper",
    "aufs",
    "overlay",
    "containerd",
    "overlayfs",
    "native",
    "stargz",
];

/// containers/storage driver names (`drivers/register`): what `podman --storage-driver` takes.
const PODMAN: &[&str] = &["overlay", "vfs", "btrfs", "zfs", "devmapper", "aufs"];

/// containerd's built-in snapshotter plugin names (`plugins/snapshots/*`, `snapshots/*` in
/// 1.x), plus the proxy snapshotters commonly configured.
const CONTAINERD: &[&str] = &[
    "overlayfs",
    "native",
    "btrfs",
    "zfs",
    "devmapper",
    "aufs",
    "blockfile",
    "erofs",
    "stargz",
];

/// The image builders the harness can drive (issue 9): BuildKit and the classic builder over
/// the Docker Engine API, buildah through libpod.
pub const BUILDERS: &[&str] = &["buildkit", "classic", "buildah"];

/// The `store` values `runtime` accepts.
pub fn stores(runtime: RuntimeKind) -> &'static [&'static str] {
    match runtime {
        RuntimeKind::Docker => DOCKER,
        RuntimeKind::Podman => PODMAN,
        RuntimeKind::Containerd => CONTAINERD,
    }
}

/// Whether any runtime accepts `store` (for a selector that names no runtime).
pub fn any_accepts_store(store: &str) -> bool {
    RuntimeKind::ALL.iter().any(|r| stores(*r).contains(&store))
}

/// Every store any runtime accepts, sorted and deduplicated, for error messages.
pub fn all_stores() -> Vec<&'static str> {
    let mut all: Vec<&str> = RuntimeKind::ALL
        .iter()
        .flat_map(|r| stores(*r))
        .copied()
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}
