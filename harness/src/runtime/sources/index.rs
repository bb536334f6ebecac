//! Reading one Debian suite's package index: `mmdebstrap --verbose --variant=apt --simulate
//! --include=...` (see the parent module's doc for why), and parsing what apt printed: the
//! `Inst PACKAGE (VERSION ...)` lines of its simulated install, and the packages it could not
//! find. Commands run bounded in time, in their own process group, with output in files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::PACKAGES;

/// How long reading one suite's index may take: 300 s (about 13 s here).
pub const INDEX_TIMEOUT: Duration = Duration::from_secs(300);

/// apt's option that accepts a Release file past its `Valid-Until` date.
const NO_VALID_UNTIL: &str = "Acquire::Check-Valid-Until \"false\"";

/// What one suite's package index says about [`PACKAGES`], as cached in
/// `$XDG_CACHE_HOME/harness/index/<suite>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteIndex {
    pub suite: String,
    /// When the index was read, in seconds since the Unix epoch.
    pub fetched_at: u64,
    /// [`MIRROR_ENV`](super::MIRROR_ENV) when it was read (`None`: mmdebstrap's default). An entry read from
    /// another mirror than the one now set is read again.
    pub mirror: Option<String>,
    /// Package name to the full version apt would install (`docker.io` ->
    /// `26.1.5+dfsg1-9+deb13u1+b1`).
    pub packages: BTreeMap<String, String>,
    /// Packages of [`PACKAGES`] the suite does not have.
    pub missing: Vec<String>,
}

impl SuiteIndex {
    /// The full version of `package` in this suite, if it has it.
    pub fn version_of(&self, package: &str) -> Option<&str> {
        self.packages.get(package).map(String::as_str)
    }

    /// How long ago the index was read.
    pub fn age(&self) -> Duration {
        Duration::from_secs(unix_now().saturating_sub(self.fetched_at))
    }
}

/// Every `Inst PACKAGE [OLD] (VERSION ORIGINS [ARCH])` line of apt's simulated install (what
/// `mmdebstrap --verbose --simulate` prints), as package -> version.
pub fn parse_simulate(output: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(' ') else {
            continue;
        };
        // An upgrade names the installed version first, in brackets: `Inst foo [1.0] (1.1 ...)`.
        let Some(open) = rest.find('(') else {
            continue;
        };
        if let Some(version) = rest[open + 1..].split_whitespace().next() {
            found.insert(name.to_string(), version.trim_end_matches(')').to_string());
        }
    }
    found
}

/// The packages apt says it cannot install at all: `E: Unable to locate package X` and
/// `E: Package 'X' has no installation candidate`.
pub fn parse_unlocatable(output: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in output.lines() {
        let name = if let Some(n) = line.strip_prefix("E: Unable to locate package ") {
            n.trim()
        } else if let Some(rest) = line.strip_prefix("E: Package '") {
            match rest.split_once("' has no installation candidate") {
                Some((n, _)) => n,
                None => continue,
            }
        } else {
            continue;
        };
        if !names.iter().any(|x| x == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// Failure to read a suite's package index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("mmdebstrap is not installed (apt-get install mmdebstrap)")]
    ToolMissing,
    #[error("the suite name {0:?} is not a plain name (letters, digits, '.', '-', '_')")]
    BadSuite(String),
    #[error("failed to run mmdebstrap for {suite}")]
    Spawn {
        suite: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mmdebstrap --simulate for {suite} failed ({status}): {tail}")]
    Failed {
        suite: String,
        status: String,
        tail: String,
    },
    #[error("mmdebstrap --simulate for {suite} did not finish within {after:?}")]
    TimedOut { suite: String, after: Duration },
    #[error("failed to {what} {}", path.display())]
    Cache {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads `suite`'s index with `mmdebstrap --variant=apt --simulate` (see the module doc).
/// Packages apt cannot find are recorded as missing and the read is repeated without them,
/// so one package dropped from a suite does not hide the others.
/// `work_dir` makes an empty directory for each mmdebstrap run (deleted on drop).
pub(super) fn fetch_index(
    mmdebstrap: &Path,
    suite: &str,
    mirror: Option<&str>,
    work_dir: impl Fn() -> Result<tempfile::TempDir, IndexError>,
) -> Result<SuiteIndex, IndexError> {
    let mut wanted: Vec<&str> = PACKAGES.to_vec();
    let mut missing = Vec::new();
    loop {
        let tmp = work_dir()?;
        let mut cmd = Command::new(mmdebstrap);
        cmd.args(["--verbose", "--variant=apt", "--simulate"])
            .arg(format!("--include={}", wanted.join(",")))
            .arg(format!("--aptopt={NO_VALID_UNTIL}"))
            .arg(suite)
            .arg(tmp.path().join("root"));
        if let Some(m) = mirror {
            cmd.arg(m);
        }
        let out = run_bounded(&mut cmd, INDEX_TIMEOUT, Some(tmp.path())).map_err(|e| match e {
            BoundedError::TimedOut => IndexError::TimedOut {
                suite: suite.into(),
                after: INDEX_TIMEOUT,
            },
            BoundedError::Io(source) => IndexError::Spawn {
                suite: suite.into(),
                source,
            },
        })?;
        if out.status.success() {
            let installs = parse_simulate(&out.stderr);
            let mut packages = BTreeMap::new();
            for p in wanted {
                match installs.get(p) {
                    Some(v) => {
                        packages.insert(p.to_string(), v.clone());
                    }
                    None => missing.push(p.to_string()),
                }
            }
            return Ok(SuiteIndex {
                suite: suite.into(),
                fetched_at: unix_now(),
                mirror: mirror.map(String::from),
                packages,
                missing,
            });
        }
        let gone: Vec<String> = parse_unlocatable(&out.stderr)
            .into_iter()
            .filter(|p| wanted.contains(&p.as_str()))
            .collect();
        if gone.is_empty() {
            return Err(IndexError::Failed {
                suite: suite.into(),
                status: out.status.to_string(),
                tail: first_errors(&out.stderr),
            });
        }
        wanted.retain(|p| !gone.iter().any(|g| g == p));
        missing.extend(gone);
        if wanted.is_empty() {
            return Ok(SuiteIndex {
                suite: suite.into(),
                fetched_at: unix_now(),
                mirror: mirror.map(String::from),
                packages: BTreeMap::new(),
                missing,
            });
        }
    }
}

/// What a bounded command printed.
pub(super) struct Output {
    pub(super) status: std::process::ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum BoundedError {
    #[error("timed out")]
    TimedOut,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs `cmd` in its own process group with output captured to files (in `dir`, or a temp
/// dir), killing the whole group if it has not finished after `timeout`.
pub(super) fn run_bounded(
    cmd: &mut Command,
    timeout: Duration,
    dir: Option<&Path>,
) -> Result<Output, BoundedError> {
    use std::os::unix::process::CommandExt;
    let own = match dir {
        Some(_) => None,
        None => Some(tempfile::tempdir()?),
    };
    let dir = dir.unwrap_or_else(|| own.as_ref().expect("own temp dir").path());
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .process_group(0)
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            return Err(BoundedError::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(Output {
        status,
        stdout: read(&out_path)?,
        stderr: read(&err_path)?,
    })
}

/// apt's and mmdebstrap's first two `E:` lines (the cause comes first; the last ones only say
/// that mmdebstrap failed), or the last lines if there are none.
fn first_errors(text: &str) -> String {
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E: "))
        .take(2)
        .collect();
    if errors.is_empty() {
        tail(text, 3)
    } else {
        errors.join(" | ")
    }
}

/// The last `n` non-empty lines of `text`, joined by " | ".
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runtime::sources::tests::data;

    /// The captured `mmdebstrap --verbose --simulate` output of each suite (see
    /// tests/data/sources/README.md) gives these versions.
    #[rstest::rstest]
    #[case("bullseye", ["20.10.5+dfsg1-1+deb11u4", "3.0.1+dfsg1-3+deb11u5", "1.4.13~ds1-1~deb11u6", "1.19.6+dfsg1-1+b6", "2.7.1+ds2-7+deb11u1"])]
    #[case("bookworm", ["20.10.24+dfsg1-1+deb12u1+b6", "4.3.1+ds1-8+deb12u1+b3", "1.6.20~ds1-1+deb12u3", "1.28.2+ds1-3+deb12u1+b3", "2.8.2+ds1-1"])]
    #[case("trixie", ["26.1.5+dfsg1-9+deb13u1+b1", "5.4.2+ds1-2+b2", "1.7.24~ds1-6+deb13u1", "1.39.3+ds1-1+b7", "2.8.3+ds1-2+b8"])]
    #[case("sid", ["28.5.2+dfsg4-5", "5.8.6+ds1-3", "2.1.9+ds1-5", "1.43.2+ds1-3+b1", "2.8.3+ds1-3"])]
    fn simulate_output_gives_each_packages_version(
        #[case] suite: &str,
        #[case] versions: [&str; 5],
    ) {
        let found = parse_simulate(&data(&format!("mmdebstrap-simulate-{suite}.txt")));
        for (package, version) in PACKAGES.iter().zip(versions) {
            assert_eq!(
                found.get(*package).map(String::as_str),
                Some(version),
                "{suite} {package}"
            );
        }
        // Every other package of the install is there too, epochs kept.
        assert!(found.len() > 100, "{}", found.len());
        assert!(found.values().any(|v| v.contains(':')));
    }

    #[test]
    fn simulate_lines_of_every_shape_parse() {
        let out = "\
Inst libc6 (2.41-12+deb13u5 Debian:13.8/stable [amd64]) []
Inst libcap2 (1:2.75-10+deb13u1+b3 Debian:13.8/stable [amd64])
Inst foo [1.0-1] (1.1-1 Debian:unstable [amd64])
Conf libc6 (2.41-12+deb13u5 Debian:13.8/stable [amd64])
I: Inst not-a-line (9)
";
        let found = parse_simulate(out);
        assert_eq!(
            found,
            BTreeMap::from([
                ("foo".into(), "1.1-1".into()),
                ("libc6".into(), "2.41-12+deb13u5".into()),
                ("libcap2".into(), "1:2.75-10+deb13u1+b3".into()),
            ])
        );
    }

    #[test]
    fn a_package_apt_cannot_find_is_named() {
        let out = data("mmdebstrap-simulate-missing-package.txt");
        assert_eq!(parse_unlocatable(&out), ["no-such-package-xyz"]);
        assert_eq!(
            first_errors(&out),
            "E: Unable to locate package no-such-package-xyz | E: setup failed: E: apt-get \
             --yes -oAPT::Get::Simulate=true install -oAPT::Status-Fd=<$fd> \
             -oDpkg::Use-Pty=false docker.io no-such-package-xyz failed"
        );
        // mmdebstrap simulated the essential set before it tried the includes.
        assert!(!parse_simulate(&out).contains_key("docker.io"));
        assert_eq!(
            parse_unlocatable("E: Package 'docker.io' has no installation candidate\n"),
            ["docker.io"]
        );
    }
}
