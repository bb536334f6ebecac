//! Cached root filesystems of Debian suites, built with `mmdebstrap`.
//!
//! **Key.** An entry is `<cache>/<suite>-<hash>/`, where `<hash>` is the first 16 hex digits of
//! the SHA-256 of the [recipe](RootfsSpec::recipe): the variant, the apt options and the sorted
//! package list. The mirror is not part of the key: any mirror of the archive serves the same
//! packages for a suite, and overriding it should not rebuild. The exact package versions are
//! what the build found; they are recorded in the entry's `packages` file
//! (`dpkg-query -W` of the tree: `<package>\t<version>` lines).
//!
//! **Layout of an entry.** `root/` (the tree), `packages`, `recipe` and `build.log`. An entry
//! directory exists only once complete: it is built as `.<key>.tmp-<pid>` beside it and renamed
//! into place, which is atomic on one file system.
//!
//! **Concurrency.** Building takes an exclusive `flock` on `<key>.lock` beside the entries.
//! nextest runs tests as parallel processes: the first builds, the others block on the lock,
//! then find the entry and reuse it. A temp dir left by a build that died (the lock is released
//! with its holder) is removed by the next builder, after unmounting anything left mounted in
//! it, so no path outside it is ever deleted through a mount.
//!
//! Nothing here ever writes to a finished entry: the runtime side (`chroot.rs`) only reads it,
//! as an overlay's lower layer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::oci::Digest;
use crate::runtime::process::log_tail;
use crate::runtime::teardown::mounts_under;

/// What `apt-get install` of the runtimes brings on a user's machine (Recommends included, by
/// [`APT_OPTIONS`]): the daemons, their OCI runtimes and monitors, the tools they shell out to
/// (`xz`: classic Docker and Podman 3.0 decompress xz layers with it), and `iptables`, which
/// dockerd probes for even with `--iptables=false`. Recommends bring the rest: Podman's
/// netavark/aardvark-dns (or CNI plugins for Podman 3), fuse-overlayfs, slirp4netns, catatonit
/// or tini.
pub const PACKAGES: &[&str] = &[
    "docker.io",
    "containerd",
    "runc",
    "podman",
    "crun",
    "conmon",
    "uidmap",
    "buildah",
    "skopeo",
    "iptables",
    "xz-utils",
];

/// apt options of every build. The archive copy this may be built from can be frozen, with a
/// Release file past its Valid-Until date (sid's, notably), so that check is off; Recommends
/// are installed as a plain `apt-get install` does.
pub const APT_OPTIONS: &[&str] = &[
    "Acquire::Check-Valid-Until \"false\"",
    "APT::Install-Recommends \"true\"",
];

/// The mmdebstrap variant: apt and what `Priority: required` brings, then the packages.
pub const VARIANT: &str = "apt";

/// The environment variable naming the mirror (mmdebstrap's mirror argument). Unset, no mirror
/// argument is passed and mmdebstrap picks its own default.
pub const MIRROR_ENV: &str = "HARNESS_DEBIAN_MIRROR";

/// The environment variable overriding the cache directory's parent (`$XDG_CACHE_HOME`).
const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";

/// What to build: a suite and its packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsSpec {
    pub suite: String,
    pub packages: Vec<String>,
}

impl RootfsSpec {
    /// The default package list for `suite`.
    pub fn new(suite: &str) -> RootfsSpec {
        RootfsSpec {
            suite: suite.into(),
            packages: PACKAGES.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// Everything the tree's content depends on besides the archive: hashed into the key.
    pub fn recipe(&self) -> String {
        let mut packages = self.packages.clone();
        packages.sort();
        packages.dedup();
        let mut out = format!("suite={}\nvariant={VARIANT}\n", self.suite);
        for o in APT_OPTIONS {
            out.push_str(&format!("aptopt={o}\n"));
        }
        out.push_str(&format!("include={}\n", packages.join(",")));
        out
    }

    /// `<suite>-<16 hex digits of the recipe's SHA-256>`.
    pub fn key(&self) -> String {
        let digest = Digest::sha256(self.recipe().as_bytes()).to_string();
        let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
        format!("{}-{}", self.suite, &hex[..16])
    }
}

/// Why a root filesystem is not there.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("no cache directory: set {XDG_CACHE_HOME} or HOME")]
    NoCacheDir,
    #[error("the suite name {0:?} is not a plain name")]
    BadSuite(String),
    #[error("failed to {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mmdebstrap of {suite} failed ({status}); last log lines:\n{log_tail}")]
    Build {
        suite: String,
        status: String,
        log_tail: String,
    },
    #[error("failed to clean up the stale build {}: {reason}", path.display())]
    Stale { path: PathBuf, reason: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError {
    let path = path.to_path_buf();
    move |source| RootfsError::Io { what, path, source }
}

/// `$XDG_CACHE_HOME/harness/rootfs`, else `~/.cache/harness/rootfs`.
pub fn default_cache_dir() -> Result<PathBuf, RootfsError> {
    let base = match std::env::var_os(XDG_CACHE_HOME).filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or(RootfsError::NoCacheDir)?).join(".cache")
        }
    };
    Ok(base.join("harness").join("rootfs"))
}

/// A finished cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dir: PathBuf,
}

impl Entry {
    /// The root filesystem.
    pub fn tree(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// `(package, version)` of every installed package, as recorded at build time.
    pub fn packages(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("packages"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect()
    }

    /// The recorded version of `package`.
    pub fn package_version(&self, package: &str) -> Option<String> {
        self.packages()
            .into_iter()
            .find(|(p, _)| p == package)
            .map(|(_, v)| v)
    }
}

/// The cache of root filesystems in one directory.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    /// The cache in [`default_cache_dir`].
    pub fn default_location() -> Result<Cache, RootfsError> {
        Ok(Cache {
            dir: default_cache_dir()?,
        })
    }

    /// The entry of `spec` if it is built.
    pub fn lookup(&self, spec: &RootfsSpec) -> Option<Entry> {
        let dir = self.dir.join(spec.key());
        dir.is_dir().then_some(Entry { dir })
    }

    /// The entry of `spec`, built with `build` first if it is not cached. `build` gets an empty
    /// directory to fill (the tree goes in its `root/`) and runs under the key's lock, at most
    /// once across processes; a process that waited on the lock reuses what the holder built.
    pub fn ensure(
        &self,
        spec: &RootfsSpec,
        build: impl FnOnce(&Path) -> Result<(), RootfsError>,
    ) -> Result<Entry, RootfsError> {
        if spec.suite.is_empty()
            || !spec
                .suite
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || spec.suite.starts_with('.')
        {
            return Err(RootfsError::BadSuite(spec.suite.clone()));
        }
        if let Some(e) = self.lookup(spec) {
            return Ok(e);
        }
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let key = spec.key();
        let lock_path = self.dir.join(format!("{key}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io("lock", &lock_path)(e.into()))?;
        // Someone else may have built it while we waited.
        if let Some(e) = self.lookup(spec) {
            return Ok(e);
        }
        self.remove_stale(&key)?;
        let tmp = self.dir.join(format!(".{key}.tmp-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
        std::fs::write(tmp.join("recipe"), spec.recipe()).map_err(io("write", &tmp))?;
        if let Err(e) = build(&tmp) {
            let _ = remove_build_dir(&tmp);
            return Err(e);
        }
        let dir = self.dir.join(&key);
        std::fs::rename(&tmp, &dir).map_err(io("rename into place", &tmp))?;
        Ok(Entry { dir })
    }

    /// Removes `.<key>.tmp-*` left by builds that died (only called under the key's lock, so
    /// no live build owns one).
    fn remove_stale(&self, key: &str) -> Result<(), RootfsError> {
        let prefix = format!(".{key}.tmp-");
        let entries = std::fs::read_dir(&self.dir).map_err(io("read", &self.dir))?;
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                remove_build_dir(&e.path())?;
            }
        }
        Ok(())
    }
}

/// Unmounts anything mounted below `dir` (deepest first; a build killed mid-way may leave
/// its `/proc` or `/dev` mounted), then removes it. Refuses to remove while a mount remains.
fn remove_build_dir(dir: &Path) -> Result<(), RootfsError> {
    let stale = |reason: String| RootfsError::Stale {
        path: dir.to_path_buf(),
        reason,
    };
    let mut mounts = mounts_under(dir).map_err(|e| stale(e.to_string()))?;
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in mounts {
        nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH)
            .map_err(|e| stale(format!("unmount {}: {e}", m.display())))?;
    }
    if !mounts_under(dir)
        .map_err(|e| stale(e.to_string()))?
        .is_empty()
    {
        return Err(stale("still mounted".into()));
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(stale(e.to_string())),
        _ => Ok(()),
    }
}

/// The mmdebstrap command line that builds `spec`'s tree into `target`, with `mirror` (if any)
/// as its mirror argument.
pub fn mmdebstrap_args(spec: &RootfsSpec, target: &Path, mirror: Option<&str>) -> Vec<String> {
    let mut packages = spec.packages.clone();
    packages.sort();
    packages.dedup();
    let mut args = vec![format!("--variant={VARIANT}")];
    args.extend(APT_OPTIONS.iter().map(|o| format!("--aptopt={o}")));
    args.push(format!("--include={}", packages.join(",")));
    args.push(spec.suite.clone());
    args.push(target.display().to_string());
    args.extend(mirror.map(String::from));
    args
}

/// Builds `spec` into `dir` (as [`Cache::ensure`]'s build step): `mmdebstrap` (the program
/// `mmdebstrap`) into `dir/root`, its output in `dir/build.log`, then the installed packages
/// into `dir/packages`.
pub fn build_with_mmdebstrap(
    mmdebstrap: &Path,
    spec: &RootfsSpec,
    dir: &Path,
) -> Result<(), RootfsError> {
    use std::os::unix::process::CommandExt;
    let log = dir.join("build.log");
    let out = File::create(&log).map_err(io("create", &log))?;
    let err = out.try_clone().map_err(io("create", &log))?;
    let mirror = std::env::var(MIRROR_ENV)
        .ok()
        .filter(|m| !m.trim().is_empty());
    let mut cmd = Command::new(mmdebstrap);
    cmd.args(mmdebstrap_args(spec, &dir.join("root"), mirror.as_deref()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: prctl(2) only, async-signal-safe. The thread that forks waits for the child, so
    // the death signal fires only if the harness itself dies mid-build.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    let status = cmd.status().map_err(io("run", mmdebstrap))?;
    if !status.success() {
        return Err(RootfsError::Build {
            suite: spec.suite.clone(),
            status: status.to_string(),
            log_tail: log_tail(&log, 20),
        });
    }
    let admindir = dir.join("root/var/lib/dpkg");
    let listed = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args(["-W", "-f=${Package}\\t${Version}\\n"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(io("run dpkg-query on", &admindir))?;
    if !listed.status.success() {
        return Err(RootfsError::Build {
            suite: spec.suite.clone(),
            status: format!("dpkg-query: {}", listed.status),
            log_tail: String::new(),
        });
    }
    let packages = dir.join("packages");
    std::fs::write(&packages, &listed.stdout).map_err(io("write", &packages))?;
    Ok(())
}

/// What a build of a cache entry in progress has written so far ([`build_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildState {
    /// Bytes of the files below the build's directory: the packages apt downloaded into the
    /// tree's `var/cache/apt/archives` and what was unpacked from them.
    pub bytes: u64,
    /// mmdebstrap's latest `I:` line in `build.log` (`downloading packages with apt...`).
    pub phase: Option<String>,
}

/// The state of the build of `spec` going on in `cache_dir`, by this process or another one
/// (a process waiting on the key's lock sees the holder's build), if one is. mmdebstrap says
/// nothing byte-based on a file, so the size of what it wrote is measured instead.
pub fn build_state(cache_dir: &Path, spec: &RootfsSpec) -> Option<BuildState> {
    let prefix = format!(".{}.tmp-", spec.key());
    let dir = std::fs::read_dir(cache_dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))?
        .path();
    Some(BuildState {
        bytes: tree_size(&dir),
        phase: last_phase(&dir.join("build.log")),
    })
}

/// Bytes of the regular files below `dir` (their lengths; a hard-linked file once), staying
/// on `dir`'s file system: a build has `/proc`, `/sys` and `/dev` mounted inside its tree.
pub fn tree_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        // Files come and go while apt works: whatever cannot be read is not counted.
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.dev() != top.dev() {
                continue;
            }
            if meta.is_dir() {
                todo.push(e.path());
            } else if meta.is_file() && (meta.nlink() == 1 || seen.insert(meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}

/// The text of the last `I: ` line of a build log (mmdebstrap's progress messages), read from
/// the log's last 16 KiB.
fn last_phase(log: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))
        .ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("I: "))
        .map(|l| l.trim().trim_end_matches("...").trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn the_key_is_the_suite_and_a_hash_of_the_recipe() {
        let a = RootfsSpec::new("trixie");
        assert!(a.key().starts_with("trixie-"), "{}", a.key());
        assert_eq!(a.key().len(), "trixie-".len() + 16);
        // The order of packages does not matter; their set and the suite do.
        let mut reordered = a.clone();
        reordered.packages.reverse();
        assert_eq!(reordered.key(), a.key());
        let mut more = a.clone();
        more.packages.push("docker-registry".into());
        assert_ne!(more.key(), a.key());
        assert_ne!(RootfsSpec::new("sid").key()[4..], a.key()[7..]);
        assert!(
            a.recipe()
                .contains("aptopt=Acquire::Check-Valid-Until \"false\"\n")
        );
        assert!(a.recipe().contains("xz-utils"));
    }

    #[test]
    fn mmdebstrap_gets_no_mirror_unless_one_is_given() {
        let spec = RootfsSpec::new("trixie");
        let args = mmdebstrap_args(&spec, Path::new("/c/x/root"), None);
        assert_eq!(args[0], "--variant=apt");
        assert!(args.contains(&"--aptopt=APT::Install-Recommends \"true\"".to_string()));
        assert_eq!(&args[args.len() - 2..], ["trixie", "/c/x/root"]);
        let with = mmdebstrap_args(&spec, Path::new("/c/x/root"), Some("file:///srv/m"));
        assert_eq!(with.last().map(String::as_str), Some("file:///srv/m"));
    }

    fn fake_build(dir: &Path) -> Result<(), RootfsError> {
        std::fs::create_dir_all(dir.join("root/usr/bin")).unwrap();
        std::fs::write(dir.join("root/usr/bin/dockerd"), "x").unwrap();
        std::fs::write(dir.join("packages"), "docker.io\t26.1.5+dfsg1-9\n").unwrap();
        Ok(())
    }

    #[test]
    fn a_build_appears_atomically_and_is_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache {
            dir: tmp.path().join("rootfs"),
        };
        let spec = RootfsSpec::new("trixie");
        assert!(cache.lookup(&spec).is_none());
        let entry = cache
            .ensure(&spec, |dir| {
                // While building, the entry does not exist yet; only the temp dir does.
                assert!(cache.lookup(&spec).is_none());
                assert!(dir.file_name().unwrap().to_string_lossy().starts_with('.'));
                fake_build(dir)
            })
            .unwrap();
        assert_eq!(entry.dir, cache.dir.join(spec.key()));
        assert!(entry.tree().join("usr/bin/dockerd").is_file());
        assert_eq!(
            entry.package_version("docker.io").as_deref(),
            Some("26.1.5+dfsg1-9")
        );
        assert!(entry.dir.join("recipe").is_file());
        let again = cache
            .ensure(&spec, |_| panic!("a cached entry is not rebuilt"))
            .unwrap();
        assert_eq!(again, entry);
        let left: Vec<_> = std::fs::read_dir(&cache.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_failed_build_leaves_nothing_and_a_stale_one_is_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache {
            dir: tmp.path().join("rootfs"),
        };
        let spec = RootfsSpec::new("bullseye");
        let err = cache
            .ensure(&spec, |dir| {
                fake_build(dir)?;
                Err(RootfsError::Build {
                    suite: "bullseye".into(),
                    status: "exit status: 1".into(),
                    log_tail: String::new(),
                })
            })
            .unwrap_err();
        assert!(matches!(err, RootfsError::Build { .. }), "{err}");
        assert!(cache.lookup(&spec).is_none());
        // A temp dir of a build that died (no lock holder) is removed by the next build.
        let stale = cache.dir.join(format!(".{}.tmp-999999", spec.key()));
        std::fs::create_dir_all(stale.join("root/etc")).unwrap();
        cache.ensure(&spec, fake_build).unwrap();
        assert!(!stale.exists());
        assert!(matches!(
            cache.ensure(&RootfsSpec::new("../etc"), fake_build),
            Err(RootfsError::BadSuite(_))
        ));
    }

    #[test]
    fn concurrent_builders_build_once() {
        // flock locks belong to open file descriptions, so threads with their own open()
        // exclude each other exactly as processes do.
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache {
            dir: tmp.path().join("rootfs"),
        };
        let spec = RootfsSpec::new("sid");
        let builds = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (cache, spec, builds, start) =
                    (cache.clone(), spec.clone(), builds.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    cache
                        .ensure(&spec, |dir| {
                            builds.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(300));
                            fake_build(dir)
                        })
                        .unwrap()
                })
            })
            .collect();
        let entries: Vec<Entry> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert!(entries.iter().all(|e| *e == entries[0]));
    }

    #[test]
    fn a_build_in_progress_reports_its_bytes_and_mmdebstrap_phase() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = RootfsSpec::new("trixie");
        assert_eq!(build_state(tmp.path(), &spec), None, "no build going on");
        // Another suite's build is not this one's.
        let other = tmp
            .path()
            .join(format!(".{}.tmp-1", RootfsSpec::new("sid").key()));
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("big"), vec![0u8; 4096]).unwrap();
        assert_eq!(build_state(tmp.path(), &spec), None);
        let dir = tmp.path().join(format!(".{}.tmp-42", spec.key()));
        std::fs::create_dir_all(dir.join("root/var/cache/apt/archives")).unwrap();
        std::fs::write(
            dir.join("root/var/cache/apt/archives/a.deb"),
            vec![1u8; 1000],
        )
        .unwrap();
        std::fs::write(dir.join("root/one"), vec![2u8; 24]).unwrap();
        // A hard link is the same bytes; a symlink is none.
        std::fs::hard_link(dir.join("root/one"), dir.join("root/two")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("root/link")).unwrap();
        let log = "I: chroot architecture amd64 is equal to the host's architecture\n\
                   I: downloading packages with apt...\nGet:1 http://x y\n";
        std::fs::write(dir.join("build.log"), log).unwrap();
        let state = build_state(tmp.path(), &spec).unwrap();
        assert_eq!(state.bytes, 1000 + 24 + log.len() as u64);
        assert_eq!(
            state.phase.as_deref(),
            Some("downloading packages with apt")
        );
        std::fs::write(dir.join("root/three"), vec![3u8; 76]).unwrap();
        assert_eq!(
            build_state(tmp.path(), &spec).unwrap().bytes,
            state.bytes + 76,
            "it grows as the build writes"
        );
    }
}
