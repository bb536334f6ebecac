//! Builders and build contexts.
//!
//! A build context is a directory in the repository (`scenarios/contexts/<name>/`) with a
//! `Dockerfile`. [`pack_context`] writes it as the tar stream the build APIs take: entries in
//! byte order of their paths, owned by 0:0, mtime 0, so the same directory packs to the same
//! bytes on every machine. A symlink whose target is absolute is dereferenced: that is how a
//! context takes a host binary without committing it (`busybox -> /bin/busybox`, from
//! busybox-static, which `scripts/install-deps` installs). Relative symlinks stay symlinks.
//!
//! **Builders** are a matrix axis ([`BuilderKind`]): `buildkit` (the Docker Engine API's build
//! version 2, driven through bollard's BuildKit session, no buildx CLI), `classic` (build
//! version 1) and `buildah` (Podman's libpod build endpoint). A driver runs the builder a
//! [`BuildRequest`] names or answers [`RuntimeError::Unsupported`](crate::runtime::RuntimeError)
//! for one its runtime does not have; the request's builder is resolved before it reaches the
//! driver ([`default_builder`] for a cell that names none), so what ran is always recorded.

pub mod buildkit;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{RuntimeKind, Version};

/// Which builder builds an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    /// BuildKit inside dockerd: `POST /build?version=2` with a session (bollard's `buildkit`
    /// feature serves the session's gRPC end over `/session`).
    Buildkit,
    /// dockerd's classic builder: `POST /build?version=1`.
    Classic,
    /// buildah inside Podman: `POST /libpod/build`.
    Buildah,
}

impl BuilderKind {
    /// Every builder, in the order `accepts::BUILDERS` lists them.
    pub const ALL: [BuilderKind; 3] = [
        BuilderKind::Buildkit,
        BuilderKind::Classic,
        BuilderKind::Buildah,
    ];

    /// `buildkit`, `classic`, `buildah`: the matrix's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BuilderKind::Buildkit => "buildkit",
            BuilderKind::Classic => "classic",
            BuilderKind::Buildah => "buildah",
        }
    }

    /// The builder a matrix cell's `builder` value names (validated at load against
    /// `accepts::BUILDERS`, so `None` only for a value that skipped validation).
    pub fn parse(s: &str) -> Option<BuilderKind> {
        BuilderKind::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// The builder a runtime uses when a cell names none, as its own CLI would: Docker's CLI
/// builds with BuildKit from 23.0 on Linux and with the classic builder before (docker/cli
/// `command/image/build.go`, `DOCKER_BUILDKIT` defaulting to on since 23.0); `podman build` is
/// buildah. containerd has no builder.
pub fn default_builder(runtime: RuntimeKind, version: &Version) -> Option<BuilderKind> {
    match runtime {
        RuntimeKind::Docker if version.major().is_some_and(|m| m >= 23) => {
            Some(BuilderKind::Buildkit)
        }
        RuntimeKind::Docker => Some(BuilderKind::Classic),
        RuntimeKind::Podman => Some(BuilderKind::Buildah),
        RuntimeKind::Containerd => None,
    }
}

/// One build: a packed context, the tag for the result, and the inputs that decide the
/// result's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The build context tar ([`pack_context`]), streamed to the daemon.
    pub context: PathBuf,
    /// The name the result is tagged with.
    pub tag: String,
    /// The builder to run (resolved; see [`default_builder`]).
    pub builder: BuilderKind,
    /// `--build-arg`s, in order of their names.
    pub build_args: BTreeMap<String, String>,
    /// `SOURCE_DATE_EPOCH`: sent as a build arg of that name (BuildKit >= 0.11 and buildah
    /// read it from there), and to buildah as its `timestamp` too. `None`: not set.
    pub source_date_epoch: Option<i64>,
    /// Build without the builder's cache (a rebuild that only reused the cache would say
    /// nothing about reproducibility).
    pub no_cache: bool,
}

impl BuildRequest {
    /// The build args as sent: `build_args`, plus `SOURCE_DATE_EPOCH` when set (it wins over
    /// a build arg of the same name).
    pub fn effective_args(&self) -> BTreeMap<String, String> {
        let mut args = self.build_args.clone();
        if let Some(epoch) = self.source_date_epoch {
            args.insert("SOURCE_DATE_EPOCH".into(), epoch.to_string());
        }
        args
    }
}

/// What a finished build reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Built {
    /// The image ID as the runtime reports it.
    pub id: String,
    /// The builder that ran.
    pub builder: BuilderKind,
    /// The builder options the driver set that decide the result, besides the build args
    /// (buildah's `timestamp=<epoch>` and `isolation=chroot`). Empty where it set none.
    pub options: Vec<String>,
}

/// Packs the build context `dir` into the tar file `out` (see the module docs).
pub fn pack_context(dir: &Path, out: &Path) -> io::Result<()> {
    let mut entries = Vec::new();
    collect(dir, Path::new(""), &mut entries)?;
    entries.sort();
    let mut tar = tar::Builder::new(File::create(out)?);
    tar.follow_symlinks(false);
    for rel in entries {
        let path = dir.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            if target.is_absolute() {
                let data = std::fs::metadata(&target).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("{}: symlink to {}: {e}", path.display(), target.display()),
                    )
                })?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len());
                header.set_mode(mode(&data));
                header.set_cksum();
                tar.append_data(&mut header, &rel, File::open(&target)?)?;
            } else {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                tar.append_link(&mut header, &rel, &target)?;
            }
        } else if meta.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            header.set_cksum();
            tar.append_data(&mut header, &rel, io::empty())?;
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            header.set_mode(mode(&meta));
            header.set_cksum();
            tar.append_data(&mut header, &rel, File::open(&path)?)?;
        }
    }
    tar.into_inner()?.sync_all()
}

/// 0755 for anything executable, else 0644: the bits a build sees, without the umask of
/// whoever checked the repository out.
fn mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        let is_dir = entry.file_type()?.is_dir();
        out.push(rel.clone());
        if is_dir {
            collect(root, &rel, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(tar: &Path) -> Vec<(String, u64, u32)> {
        let mut archive = tar::Archive::new(File::open(tar).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.size().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_busybox_context_packs_deterministically_with_the_binary_dereferenced() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/contexts/busybox");
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
        pack_context(&dir, &a).unwrap();
        pack_context(&dir, &b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let m = members(&a);
        let names: Vec<&str> = m.iter().map(|(n, ..)| n.as_str()).collect();
        assert_eq!(names, ["Dockerfile", "busybox", "hello.txt"]);
        let busybox = std::fs::metadata("/bin/busybox").unwrap().len();
        assert_eq!(m[1].1, busybox, "the symlink is dereferenced");
        assert_eq!(m[1].2, 0o755);
        assert_eq!(m[2].2, 0o644);
    }

    #[test]
    fn a_dangling_absolute_symlink_names_the_link() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        std::os::unix::fs::symlink("/nonexistent/tool", ctx.join("tool")).unwrap();
        let err = pack_context(&ctx, &tmp.path().join("out.tar")).unwrap_err();
        assert!(
            err.to_string()
                .contains("tool: symlink to /nonexistent/tool"),
            "{err}"
        );
    }
}
