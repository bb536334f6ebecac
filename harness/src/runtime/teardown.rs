//! Instance roots and the process-wide teardown registry.
//!
//! An [`InstanceRoot`] is a private temp dir that holds a hermetic runtime instance: its data
//! root, sockets, configs and logs, plus the daemons started for it. Tearing it down stops the
//! daemons (reverse start order), unmounts everything the daemons left mounted below the root
//! (Podman's overlay driver bind-mounts its home onto itself and does not undo it on exit), and
//! removes the directory.
//!
//! Teardown is blocking work (stopping a daemon may wait [`STOP_GRACE`](super::process::STOP_GRACE)
//! and more), so it never runs on a tokio worker thread as such: [`off_async_workers`] hands the
//! worker's other tasks to another thread first, so the other cells of a run keep going while
//! one instance stops.
//!
//! Teardown runs on drop (including unwinding from a panic) and from the signal handler
//! installed by [`install_signal_handlers`], which tears down every live root before exiting on
//! SIGINT, SIGTERM or SIGHUP. Both paths go through one mutex per root, so each root is torn
//! down exactly once. A root whose owning process died without any of that (SIGKILL) carries an
//! `owner.pid` file, and [`sweep_stale_roots`] removes it on the next start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use super::process::{Daemon, StopReport};

/// Prefix of every instance root's directory name under the temp dir.
pub const ROOT_PREFIX: &str = "harness-";

#[derive(Debug)]
struct Resources {
    daemons: Vec<Daemon>,
    dir: PathBuf,
}

type Shared = Arc<Mutex<Option<Resources>>>;

fn registry() -> &'static Mutex<Vec<Weak<Mutex<Option<Resources>>>>> {
    static REGISTRY: Mutex<Vec<Weak<Mutex<Option<Resources>>>>> = Mutex::new(Vec::new());
    &REGISTRY
}

/// A private directory for one runtime instance, and the daemons running in it.
#[derive(Debug)]
pub struct InstanceRoot {
    path: PathBuf,
    shared: Shared,
}

/// What a teardown did.
#[derive(Debug, Clone, Default)]
pub struct TeardownReport {
    pub stopped: Vec<StopReport>,
    pub unmounted: Vec<PathBuf>,
    /// Problems that left something behind; empty when teardown was complete.
    pub problems: Vec<String>,
}

impl InstanceRoot {
    /// Creates `<tmp>/harness-XXXXXX` with an `owner.pid` file, registered for teardown.
    pub fn create() -> std::io::Result<InstanceRoot> {
        Self::create_named("")
    }

    /// Like [`InstanceRoot::create`], named `<tmp>/harness-<kind>XXXXXX`: for scratch space
    /// with no daemons (crafted fixtures), which must be removed on a signal just the same.
    pub fn create_named(kind: &str) -> std::io::Result<InstanceRoot> {
        // Held from the check to the registration, so a signal's teardown (which sets the flag
        // and then takes this lock) either sees this root or this call sees the flag: no root
        // is made after the signal's teardown looked.
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if stopping() {
            return Err(std::io::Error::other(
                "the run was interrupted by a signal: no new instance starts",
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("{ROOT_PREFIX}{kind}"))
            .tempdir()?
            .keep();
        // Only root's: the root holds daemon sockets, configs and image stores (issue 13,
        // item 12: tempfile left it 0755, readable by every user).
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string())?;
        let shared: Shared = Arc::new(Mutex::new(Some(Resources {
            daemons: Vec::new(),
            dir: dir.clone(),
        })));
        reg.retain(|w| w.strong_count() > 0);
        reg.push(Arc::downgrade(&shared));
        Ok(InstanceRoot { path: dir, shared })
    }

    /// Spawns a daemon with `spawn` and adopts it, as one step with respect to a signal: the
    /// signal's teardown waits for a spawn under way (so the daemon is adopted and stopped with
    /// the rest instead of outliving the run), and after it no daemon is spawned at all.
    pub fn spawn<E>(
        &self,
        spawn: impl FnOnce() -> Result<Daemon, E>,
        interrupted: impl FnOnce() -> E,
    ) -> Result<u32, E> {
        let _spawning = spawn_lock().lock().unwrap_or_else(|e| e.into_inner());
        if stopping() {
            return Err(interrupted());
        }
        let daemon = spawn()?;
        let pid = daemon.pid();
        self.adopt(daemon);
        Ok(pid)
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands a started daemon to the root, which now owns its teardown.
    ///
    /// A root already torn down (a signal's teardown ran while the daemon was being spawned)
    /// stops the daemon at once instead: it would otherwise outlive the run.
    ///
    /// Call it through [`InstanceRoot::spawn`], which keeps a signal's teardown from running
    /// between the spawn and the adoption.
    pub fn adopt(&self, mut daemon: Daemon) {
        let mut guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(res) => res.daemons.push(daemon),
            None => {
                drop(guard);
                daemon.stop();
            }
        }
    }

    /// Runs `f` on the daemon named `name`, if it is still owned (to poll it during startup).
    pub fn with_daemon<T>(&self, name: &str, f: impl FnOnce(&mut Daemon) -> T) -> Option<T> {
        let mut guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_mut()?
            .daemons
            .iter_mut()
            .find(|d| d.name == name)
            .map(f)
    }

    /// `Some((daemon, last log lines))` for the first daemon of this root that has exited.
    pub fn dead_daemon(&self) -> Option<(String, String)> {
        let mut guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_mut()?
            .daemons
            .iter_mut()
            .find_map(|d| d.exited().map(|_| (d.name.clone(), d.log_tail(20))))
    }

    /// The last `lines` lines of every daemon's log, in start order.
    pub fn log_tails(&self, lines: usize) -> Vec<(String, String)> {
        let guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or_else(Vec::new, |res| {
            res.daemons
                .iter()
                .map(|d| (d.name.clone(), d.log_tail(lines)))
                .collect()
        })
    }

    /// Stops the daemons, unmounts and removes the directory. Idempotent. Blocking: call it
    /// through [`off_async_workers`] from async code.
    pub fn teardown(&self) -> TeardownReport {
        teardown_shared(&self.shared)
    }
}

/// Runs blocking work `f` without holding up a tokio worker thread: on a multi-threaded
/// runtime's worker, [`tokio::task::block_in_place`] first moves the worker's other tasks to
/// another thread; outside any runtime (or on a blocking-pool thread) `f` simply runs. On a
/// current-thread runtime there is no other thread to hand work to, and `f` runs in place.
pub fn off_async_workers<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() != RuntimeFlavor::MultiThread => f(),
        _ => tokio::task::block_in_place(f),
    }
}

impl Drop for InstanceRoot {
    fn drop(&mut self) {
        let report = off_async_workers(|| self.teardown());
        for p in &report.problems {
            tracing::warn!("teardown of {}: {p}", self.path.display());
        }
    }
}

fn teardown_shared(shared: &Mutex<Option<Resources>>) -> TeardownReport {
    let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut res) = guard.take() else {
        return TeardownReport::default();
    };
    let mut report = TeardownReport::default();
    while let Some(mut d) = res.daemons.pop() {
        let stop = d.stop();
        if stop.left_running {
            report.problems.push(format!(
                "{} (pid {}) did not exit after SIGKILL",
                stop.name,
                d.pid()
            ));
        }
        report.stopped.push(stop);
    }
    remove_root(&res.dir, &mut report);
    report
}

/// Unmounts everything below `dir` (deepest first) and removes it.
fn remove_root(dir: &Path, report: &mut TeardownReport) {
    match mounts_under(dir) {
        Ok(mut mounts) => {
            // Deepest first, so a parent is never unmounted under a live child mount.
            mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
            for m in mounts {
                match nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH) {
                    Ok(()) => report.unmounted.push(m),
                    Err(e) => report
                        .problems
                        .push(format!("failed to unmount {}: {e}", m.display())),
                }
            }
        }
        Err(e) => report
            .problems
            .push(format!("failed to read /proc/self/mountinfo: {e}")),
    }
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        report
            .problems
            .push(format!("failed to remove {}: {e}", dir.display()));
    }
}

/// Mount points at or below `dir`, from `/proc/self/mountinfo`.
pub fn mounts_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Set by the signal handler before it tears everything down: from then on no instance root
/// is created ([`InstanceRoot::create_named`] refuses), so no new cell starts.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a signal has stopped this run.
pub fn stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

type SignalHook = Box<dyn Fn(i32) + Send + Sync>;

fn hooks() -> &'static Mutex<Vec<SignalHook>> {
    static HOOKS: Mutex<Vec<SignalHook>> = Mutex::new(Vec::new());
    &HOOKS
}

/// Registers `hook` to run on SIGINT/SIGTERM/SIGHUP after every instance is torn down and
/// before the process exits, with the signal number: `harness run` writes the results of the
/// cells that finished.
pub fn on_signal(hook: impl Fn(i32) + Send + Sync + 'static) {
    hooks()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Box::new(hook));
}

fn caught_hooks() -> &'static Mutex<Vec<SignalHook>> {
    static HOOKS: Mutex<Vec<SignalHook>> = Mutex::new(Vec::new());
    &HOOKS
}

/// Registers `hook` to run as soon as SIGINT/SIGTERM/SIGHUP is caught, before the handler
/// prints anything or tears anything down: a live progress display clears itself there, so
/// the lines that follow are not drawn into it.
pub fn on_signal_caught(hook: impl Fn(i32) + Send + Sync + 'static) {
    caught_hooks()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Box::new(hook));
}

/// Held by [`InstanceRoot::spawn`] from spawn to adoption, and by the signal handler before it
/// tears down.
fn spawn_lock() -> &'static Mutex<()> {
    static LOCK: Mutex<()> = Mutex::new(());
    &LOCK
}

/// The directories of every live instance root of this process.
fn live_dirs() -> Vec<PathBuf> {
    let live: Vec<Shared> = {
        let reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        reg.iter().filter_map(Weak::upgrade).collect()
    };
    live.iter()
        .filter_map(|s| {
            let guard = s.lock().unwrap_or_else(|e| e.into_inner());
            guard.as_ref().map(|r| r.dir.clone())
        })
        .collect()
}

/// Tears down every live instance root of this process. Used by the signal handler.
pub fn teardown_all() -> Vec<TeardownReport> {
    let live: Vec<Shared> = {
        let reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        reg.iter().filter_map(Weak::upgrade).collect()
    };
    live.iter().map(|s| teardown_shared(s)).collect()
}

/// Installs SIGINT/SIGTERM/SIGHUP handlers (once per process) that tear down every live
/// instance root and then exit with 128 + the signal number.
pub fn install_signal_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("harness-signals".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("signal runtime");
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
                    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
                    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
                    let _ = ready_tx.send(());
                    let signo = tokio::select! {
                        _ = int.recv() => 2,
                        _ = term.recv() => 15,
                        _ = hup.recv() => 1,
                    };
                    for hook in caught_hooks()
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .iter()
                    {
                        hook(signo);
                    }
                    eprintln!("harness: caught signal {signo}, stopping daemons and cleaning up");
                    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
                    // Wait for a daemon being spawned to be adopted; none is spawned after.
                    let _no_spawns = spawn_lock().lock().unwrap_or_else(|e| e.into_inner());
                    let dirs = live_dirs();
                    teardown_all();
                    for hook in hooks().lock().unwrap_or_else(|e| e.into_inner()).iter() {
                        hook(signo);
                    }
                    // A cell that was starting may have written into its root after the
                    // teardown removed it (creating it again); remove what came back.
                    for dir in dirs.iter().filter(|d| d.exists()) {
                        remove_root(dir, &mut TeardownReport::default());
                    }
                    std::process::exit(128 + signo);
                });
            })
            .expect("failed to start the signal thread");
        let _ = ready_rx.recv();
    });
}

/// Removes instance roots left by harness processes that no longer exist (killed with SIGKILL,
/// or a crash that skipped teardown): unmounts what is still mounted below them and deletes them.
/// Returns the roots removed. Roots of live processes are never touched.
pub fn sweep_stale_roots() -> Vec<PathBuf> {
    let tmp = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_root = entry.file_name().to_string_lossy().starts_with(ROOT_PREFIX);
        let Ok(pid) = std::fs::read_to_string(path.join("owner.pid")) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if is_root && !alive {
            let mut report = TeardownReport::default();
            remove_root(&path, &mut report);
            if report.problems.is_empty() {
                removed.push(path);
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {

    #[test]
    fn instance_roots_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let root = InstanceRoot::create_named("mode-").unwrap();
        let mode = std::fs::metadata(root.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        let report = root.teardown();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    use super::*;

    #[test]
    fn mountinfo_octal_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mountinfo(r"/tmp/plain"), "/tmp/plain");
        assert_eq!(
            unescape_mountinfo(r"/tmp/back\134slash"),
            r"/tmp/back\slash"
        );
    }

    #[test]
    fn teardown_removes_the_root_and_is_idempotent() {
        let root = InstanceRoot::create().unwrap();
        let path = root.path().to_path_buf();
        assert!(path.join("owner.pid").exists());
        let first = root.teardown();
        assert!(first.problems.is_empty(), "{:?}", first.problems);
        assert!(!path.exists());
        let second = root.teardown();
        assert!(second.stopped.is_empty() && second.problems.is_empty());
    }

    #[test]
    fn teardown_stops_a_daemon_and_its_children() {
        let root = InstanceRoot::create().unwrap();
        // A shell that forks a grandchild: both are in the daemon's process group.
        let d = Daemon::spawn(
            "sleeper",
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 300 & wait".into()],
            &[],
            root.path().join("sleeper.log"),
        )
        .unwrap();
        let leader = d.pid();
        root.adopt(d);
        let report = root.teardown();
        assert_eq!(report.stopped.len(), 1);
        assert!(!report.stopped[0].left_running);
        assert!(!Path::new(&format!("/proc/{leader}")).exists() || is_zombie(leader));
    }

    fn is_zombie(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    }
}
