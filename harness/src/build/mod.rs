//! Builders and build contexts.
//!
//! A build context is a directory in the repository (`scenarios/contexts/<name>/`) with a
//! `Dockerfile`. [`pack_context`] writes it as the tar stream the build APIs take: entries in
//! byte order of their paths, owned by 0:0, mtime 0, so the same directory packs to the same
//! bytes on every machine. A symlink whose target is absolute is dereferenced: that is how a
//! context takes a host binary without committing it (`busybox -> /bin/busybox`, from
//! busybox-static, which `scripts/install-deps` installs). Relative symlinks stay symlinks.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

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
