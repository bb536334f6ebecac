//! Daemon processes started by the harness, and their guaranteed teardown.
//!
//! Every daemon runs in its own process group, so stopping it stops everything it forked.
//! Each child is also given `PR_SET_PDEATHSIG(SIGTERM)`: if the harness dies without running
//! its teardown (SIGKILL, abort), the kernel still stops the daemons. That signal fires when the
//! *thread* that forked the child exits, not the process, so all daemons are spawned from one
//! long-lived spawner thread rather than from tokio's worker or blocking-pool threads, which come
//! and go.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a daemon gets to exit after SIGTERM before its group is sent SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// A daemon process started by the harness, leader of its own process group.
#[derive(Debug)]
pub struct Daemon {
    /// Short name for messages (`dockerd`, `containerd`, `podman`).
    pub name: String,
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// Failure to start a daemon process.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("failed to create log file {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A signal is tearing the run down: no daemon starts any more.
    #[error("not started: the run was interrupted by a signal")]
    Interrupted,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// The one thread all daemons are forked from (see the module doc for why).
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("harness-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("failed to start the spawner thread");
        Mutex::new(tx)
    })
}

impl Daemon {
    /// Starts `program args...` in a new process group with stdout/stderr to `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
    ) -> Result<Daemon, SpawnError> {
        Self::spawn_with_death_signal(name, program, args, envs, log, Signal::SIGTERM)
    }

    /// [`Daemon::spawn`] with `death` as the `PR_SET_PDEATHSIG` signal: SIGKILL for a program
    /// that blocks SIGTERM while it waits for its child (`unshare --fork` does), which would
    /// otherwise outlive the harness.
    pub fn spawn_with_death_signal(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
        log: PathBuf,
        death: Signal,
    ) -> Result<Daemon, SpawnError> {
        use std::os::unix::process::CommandExt;
        let out = File::create(&log).map_err(|source| SpawnError::Log {
            path: log.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| SpawnError::Log {
            path: log.clone(),
            source,
        })?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(death).map_err(std::io::Error::from)
            });
        }
        let (tx, rx) = mpsc::channel();
        let spawn_failed = |source| SpawnError::Spawn {
            program: program.display().to_string(),
            source,
        };
        spawner()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((cmd, tx))
            .map_err(|_| spawn_failed(std::io::Error::other("spawner thread is gone")))?;
        let child = rx
            .recv()
            .map_err(|_| spawn_failed(std::io::Error::other("spawner thread is gone")))?
            .map_err(spawn_failed)?;
        Ok(Daemon {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The daemon's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` if the daemon has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the daemon's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL after [`STOP_GRACE`]. Returns once
    /// the leader is reaped and no process of the group is left.
    pub fn stop(&mut self) -> StopReport {
        let pgid = Pid::from_raw(self.child.id() as i32);
        let started = Instant::now();
        let _ = killpg(pgid, Signal::SIGTERM);
        let mut killed = false;
        loop {
            let leader_gone = matches!(self.child.try_wait(), Ok(Some(_)) | Err(_));
            let group_gone = matches!(killpg(pgid, None), Err(Errno::ESRCH));
            if leader_gone && group_gone {
                break;
            }
            if !killed && started.elapsed() > STOP_GRACE {
                let _ = killpg(pgid, Signal::SIGKILL);
                killed = true;
            }
            if started.elapsed() > STOP_GRACE * 2 {
                return StopReport {
                    name: self.name.clone(),
                    killed,
                    left_running: true,
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        StopReport {
            name: self.name.clone(),
            killed,
            left_running: false,
        }
    }
}

/// What stopping one daemon took.
#[derive(Debug, Clone)]
pub struct StopReport {
    pub name: String,
    /// SIGTERM was not enough.
    pub killed: bool,
    /// Even SIGKILL did not empty the group in time (a process stuck in the kernel).
    pub left_running: bool,
}

/// The last `lines` lines of a file, or an empty string if it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
