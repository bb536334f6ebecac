//! Starting daemons inside a cached root filesystem: the `debian` provider's [`Launcher`].
//!
//! The first daemon of an instance is started as
//!
//! ```text
//! unshare --mount --propagation private /bin/sh -c '<mounts>; exec chroot <root> "$@"' sh <daemon> <args>
//! ```
//!
//! and every later one joins that daemon's mount namespace and root with
//! `nsenter --target <pid> --mount --root --wd <daemon> <args>`. So containerd and the dockerd
//! that talks to it see the same mounts (dockerd's graph driver mounts must be visible to the
//! containerd that runs a build's containers). Each program `exec`s the next: the process the
//! spawner forked *is* the daemon in the end, so its process group, `PR_SET_PDEATHSIG`, log
//! capture and pid file are exactly the host provider's, and teardown stops it the same way.
//!
//! Why the `unshare`/`sh` programs rather than `unshare(2)`, `mount(2)` and `chroot(2)` in a
//! `pre_exec` hook: the spawner ([`Daemon::spawn`]) stays unchanged, every step is a
//! well-known command whose failure message lands in the daemon's log (and so in the
//! startup error's log tail), and nothing but async-signal-safe code runs between fork and exec.
//! util-linux (`unshare`, `nsenter`, `mount`) and coreutils (`chroot`) are on every Debian and
//! Ubuntu machine.
//!
//! The mounts, all inside the new namespace (private propagation, so none reaches the host's
//! mount table, and all vanish with the namespace's last process):
//!
//! - an **overlay** of the cached tree (read-only lower layer) with its upper and work
//!   directories in the instance root, mounted at `<instance>/chroot/root`. That makes the new
//!   root a mount point (dockerd's classic builder remounts `/` with `MS_REC|MS_PRIVATE`, which
//!   fails with EINVAL on a plain directory: `remount /, flags: 0x84000`), lets the
//!   instance's path be created inside it, and guarantees the cached tree is never written:
//!   whatever a daemon writes outside its data root lands in the upper directory, which is
//!   removed with the instance root;
//! - `/proc` (a new proc), `/sys` and `/dev` (recursive binds: cgroups, `/dev/pts`,
//!   `/dev/shm`), `/run` (a fresh tmpfs, so no host daemon's socket, such as
//!   `/run/containerd/containerd.sock`, is visible);
//! - the **instance root bound at its own absolute path**, so every path in the daemon
//!   command lines, configs and sockets means the same thing inside and outside: the host side
//!   connects to the sockets directly, and the command lines are the host provider's.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::runtime::process::Daemon;
use crate::runtime::provider::host::Launcher;
use crate::runtime::provider::{ProviderError, find_binary};
use crate::runtime::teardown::InstanceRoot;

/// `PATH` inside the root filesystem (Debian's default for root).
const CHROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host programs the launcher runs.
pub const HOST_TOOLS: &[&str] = &["unshare", "nsenter", "mount", "chroot"];

/// Starts daemons of one instance inside the root filesystem `tree`.
pub struct ChrootLauncher {
    provider: &'static str,
    tree: PathBuf,
    instance: PathBuf,
    /// The pid of the first daemon, whose mount namespace and root the others join.
    first: Mutex<Option<u32>>,
    /// Whether daemons also join the first process's pid namespace (a container's).
    join_pid: bool,
}

impl ChrootLauncher {
    /// A launcher for the instance rooted at `instance`, running binaries from `tree`.
    pub fn new(provider: &'static str, tree: &Path, instance: &Path) -> ChrootLauncher {
        ChrootLauncher {
            provider,
            tree: tree.to_path_buf(),
            instance: instance.to_path_buf(),
            first: Mutex::new(None),
            join_pid: false,
        }
    }

    /// A launcher whose every daemon joins the mount and pid namespaces and the root of the
    /// running process `pid` (a container's first process, for the `container` provider),
    /// with binaries from that root. Nothing is mounted: the container is the namespace.
    pub fn joining(provider: &'static str, pid: u32) -> ChrootLauncher {
        let tree = PathBuf::from(format!("/proc/{pid}/root"));
        ChrootLauncher {
            provider,
            instance: tree.clone(),
            tree,
            first: Mutex::new(Some(pid)),
            join_pid: true,
        }
    }

    /// The binary `name` in the tree, as a path inside it, looked up in `CHROOT_PATH`'s order
    /// (a `docker:dind` image keeps dockerd in `/usr/local/bin`).
    fn binary_in_tree(&self, name: &str) -> Result<String, ProviderError> {
        [
            "usr/local/sbin",
            "usr/local/bin",
            "usr/sbin",
            "usr/bin",
            "sbin",
            "bin",
        ]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| self.tree.join(p).is_file())
        .map(|p| format!("/{}", p.display()))
        .ok_or_else(|| ProviderError::Unavailable {
            provider: self.provider,
            reason: format!("{} has no {name}", self.tree.display()),
        })
    }

    /// The program and arguments that start `command` in a new namespace and chroot.
    fn first_command(&self, command: Vec<String>) -> Result<(PathBuf, Vec<String>), ProviderError> {
        let unshare = find_binary("unshare", "HARNESS_UNSHARE")?;
        let chroot = find_binary("chroot", "HARNESS_CHROOT")?;
        let mount = find_binary("mount", "HARNESS_MOUNT")?;
        let dir = self.instance.join("chroot");
        let (upper, work, new_root) = (dir.join("upper"), dir.join("work"), dir.join("root"));
        for d in [&upper, &work, &new_root] {
            std::fs::create_dir_all(d).map_err(|source| ProviderError::Io {
                what: format!("create {}", d.display()),
                source,
            })?;
        }
        for p in [&self.tree, &upper, &work] {
            // overlayfs splits its options on ',' and lower layers on ':'.
            if p.to_string_lossy().contains([',', ':']) {
                return Err(ProviderError::Unavailable {
                    provider: self.provider,
                    reason: format!(
                        "{} contains ',' or ':', which overlayfs cannot take",
                        p.display()
                    ),
                });
            }
        }
        let q = |p: &Path| sh_quote(&p.display().to_string());
        let inner = |p: &str| q(&new_root.join(p));
        let instance_inside =
            new_root.join(self.instance.strip_prefix("/").unwrap_or(&self.instance));
        let m = q(&mount);
        let script = [
            "set -e".to_string(),
            format!(
                "{m} -t overlay overlay -o lowerdir={},upperdir={},workdir={} {}",
                q(&self.tree),
                q(&upper),
                q(&work),
                q(&new_root)
            ),
            format!("{m} -t proc proc {}", inner("proc")),
            format!("{m} --rbind /sys {}", inner("sys")),
            format!("{m} --rbind /dev {}", inner("dev")),
            format!("{m} -t tmpfs -o mode=0755 tmpfs {}", inner("run")),
            format!("mkdir -p {}", q(&instance_inside)),
            format!("{m} --bind {} {}", q(&self.instance), q(&instance_inside)),
            format!("exec {} {} \"$@\"", q(&chroot), q(&new_root)),
        ]
        .join("\n");
        let mut args = vec![
            "--mount".to_string(),
            "--propagation".into(),
            "private".into(),
            "/bin/sh".into(),
            "-c".into(),
            script,
            "sh".into(),
        ];
        args.extend(command);
        Ok((unshare, args))
    }

    /// The program and arguments that start `command` in the namespace and root of `pid`.
    fn joining_command(
        &self,
        pid: u32,
        command: Vec<String>,
    ) -> Result<(PathBuf, Vec<String>), ProviderError> {
        let nsenter = find_binary("nsenter", "HARNESS_NSENTER")?;
        let mut args = vec![
            format!("--target={pid}"),
            "--mount".into(),
            "--root".into(),
            "--wd".into(),
        ];
        if self.join_pid {
            // nsenter forks for a pid namespace: the daemon is its child, in its process group.
            args.insert(2, "--pid".into());
        }
        args.extend(command);
        Ok((nsenter, args))
    }
}

impl Launcher for ChrootLauncher {
    fn launch(
        &self,
        root: &InstanceRoot,
        binary: &str,
        _env: &str,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
    ) -> Result<(), ProviderError> {
        let mut command = vec![self.binary_in_tree(binary)?];
        command.extend(args.iter().cloned());
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        let (program, full) = match *first {
            None => self.first_command(command)?,
            Some(pid) => self.joining_command(pid, command)?,
        };
        let mut envs = envs.to_vec();
        envs.push(("PATH".into(), CHROOT_PATH.into()));
        let pid = root.spawn(
            || Daemon::spawn(binary, &program, &full, &envs, log),
            || crate::runtime::process::SpawnError::Interrupted,
        )?;
        first.get_or_insert(pid);
        Ok(())
    }
}

/// `s` single-quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_any_path() {
        assert_eq!(sh_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_first_daemon_mounts_and_chroots_and_later_ones_join_it() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("usr/sbin")).unwrap();
        std::fs::write(tree.path().join("usr/sbin/dockerd"), "").unwrap();
        let instance = tempfile::tempdir().unwrap();
        let l = ChrootLauncher::new("debian", tree.path(), instance.path());
        assert_eq!(l.binary_in_tree("dockerd").unwrap(), "/usr/sbin/dockerd");
        assert!(l.binary_in_tree("podman").unwrap_err().is_unavailable());
        let (program, args) = l
            .first_command(vec!["/usr/sbin/dockerd".into(), "--x".into()])
            .unwrap();
        assert!(program.ends_with("unshare"), "{program:?}");
        assert_eq!(&args[..3], ["--mount", "--propagation", "private"]);
        let script = &args[5];
        let inside = instance
            .path()
            .join("chroot/root")
            .join(instance.path().strip_prefix("/").unwrap());
        assert!(
            script.contains(&format!(
                "--bind '{}' '{}'",
                instance.path().display(),
                inside.display()
            )),
            "{script}"
        );
        assert!(
            script.contains("-t overlay overlay -o lowerdir="),
            "{script}"
        );
        assert!(script.ends_with("\"$@\""), "{script}");
        assert_eq!(&args[6..], ["sh", "/usr/sbin/dockerd", "--x"]);
        let (program, args) = l.joining_command(42, vec!["/usr/bin/x".into()]).unwrap();
        assert!(program.ends_with("nsenter"));
        assert_eq!(
            args,
            ["--target=42", "--mount", "--root", "--wd", "/usr/bin/x"]
        );
    }
}
