//! Where a runtime version can come from: [`resolve`] takes a runtime and a cell's `version`
//! (a prefix such as `26.1`, or `host`) and answers with a [`Source`]: the host's installed
//! binary if its version matches, else the first Debian suite whose package index carries a
//! matching version.
//!
//! **Host versions** are read without starting a daemon: `dockerd --version`, `podman
//! --version`, `containerd --version`, from the binaries the host provider would start
//! ([`provider::find_binary`], so `HARNESS_DOCKERD`, `HARNESS_PODMAN` and `HARNESS_CONTAINERD`
//! apply here too).
//!
//! **Debian versions** are read from the suites' package indexes, never written down here:
//! `mmdebstrap --variant=apt --simulate --include=docker.io,podman,...` initialises only apt's
//! package cache for the suite, and with `--verbose` prints the `Inst PACKAGE (VERSION ...)`
//! lines of apt's simulated install, which are the versions a root filesystem built by the
//! `debian` provider (also mmdebstrap) would get, security and updates suites included. This
//! way mmdebstrap chooses the mirror, as it does for the provider; `HARNESS_DEBIAN_MIRROR`
//! overrides it (passed as mmdebstrap's MIRROR argument, the same variable the provider
//! reads). A Release past its `Valid-Until` is accepted (`Acquire::Check-Valid-Until
//! "false"`): frozen copies of the archive serve such files for `sid`. One suite takes about
//! 13 s to read cold (all four in parallel: about 15 s), so the result is cached per suite in
//! `$XDG_CACHE_HOME/harness/index/<suite>.json` for [`INDEX_MAX_AGE`]. Processes that read the
//! same suite at once take turns on a lock file, so one reads the index and the others use its
//! result; the cache file itself is replaced atomically (a temp file, then a rename), so a
//! reader never sees half a file. mmdebstrap works in a `.fetch-<suite>-*` directory beside the
//! entries (about 60 MB of package lists while it runs), removed when it finishes; one left by
//! a killed process is removed by the next reader of that suite.
//!
//! **Matching.** A Debian package version is `[EPOCH:]UPSTREAM[-REVISION]`
//! (`20.10.24+dfsg1-1+deb12u1+b6`, `1:2.75-10`); a cell's `version` is matched against the
//! upstream part, as a prefix on component boundaries ([`provider::version_matches`]): `26.1`
//! matches `26.1.5+dfsg1-9`, `4.3` does not match `4.30.1-1`. The full package version is kept
//! in the [`Source`], for results and for the provider's cache key.
//!
//! **Suites** are [`DEFAULT_SUITES`], in that order (oldest first, so a version two suites
//! carry resolves to the more stable one), unless `HARNESS_DEBIAN_SUITES` lists others.

mod index;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::index::{INDEX_TIMEOUT, IndexError, SuiteIndex, parse_simulate, parse_unlocatable};
use self::index::{fetch_index, run_bounded, tail, unix_now};
use super::provider::{self, HOST_VERSION, ProviderError, version_matches};
use super::{RuntimeKind, teardown};

/// The Debian suites considered, oldest first: four generations of every runtime (see
/// DESIGN.md). Overridden by [`SUITES_ENV`].
pub const DEFAULT_SUITES: &[&str] = &["bullseye", "bookworm", "trixie", "sid"];

/// Lists the suites to consider instead of [`DEFAULT_SUITES`], separated by commas or spaces,
/// in order of preference.
pub const SUITES_ENV: &str = "HARNESS_DEBIAN_SUITES";

/// A mirror for mmdebstrap (its MIRROR argument: a URI, a `deb ...` line or a sources file).
/// Unset, mmdebstrap picks Debian's default itself.
pub const MIRROR_ENV: &str = "HARNESS_DEBIAN_MIRROR";

/// Overrides the path of `mmdebstrap` (the `debian` provider reads it too).
pub const MMDEBSTRAP_ENV: &str = "HARNESS_MMDEBSTRAP";

/// The packages whose versions each suite's index entry records: the three runtimes
/// ([`package`]), and the builder and registry later issues use.
pub const PACKAGES: &[&str] = &[
    "docker.io",
    "podman",
    "containerd",
    "buildah",
    "docker-registry",
];

/// How long a cached index entry is used before it is read again: one day. Suites move
/// slowly (a point release, a security update); `harness doctor --refresh` forces a read.
pub const INDEX_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// How long `BINARY --version` may take: 10 s.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The Debian package that ships `runtime`.
pub fn package(runtime: RuntimeKind) -> &'static str {
    match runtime {
        RuntimeKind::Docker => "docker.io",
        RuntimeKind::Podman => "podman",
        RuntimeKind::Containerd => "containerd",
    }
}

/// The binary whose `--version` says the host's version of `runtime`, and the environment
/// variable that overrides its path (the host provider's).
fn host_binary(runtime: RuntimeKind) -> (&'static str, &'static str) {
    match runtime {
        RuntimeKind::Docker => ("dockerd", "HARNESS_DOCKERD"),
        RuntimeKind::Podman => ("podman", "HARNESS_PODMAN"),
        RuntimeKind::Containerd => ("containerd", "HARNESS_CONTAINERD"),
    }
}

/// Where a runtime version comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Source {
    /// The binary installed on this machine (the `host` provider), which reports `version`.
    Host { version: String },
    /// A root filesystem of Debian `suite` (the `debian` provider), where `package` is at
    /// `package_version` (`26.1.5+dfsg1-9+deb13u1+b1`).
    Debian {
        suite: String,
        package: String,
        package_version: String,
    },
}

impl Source {
    /// The provider that gives this source (`host`, `debian`).
    pub fn provider(&self) -> &'static str {
        match self {
            Source::Host { .. } => "host",
            Source::Debian { .. } => "debian",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Host { version } => write!(f, "host ({version})"),
            Source::Debian {
                suite,
                package,
                package_version,
            } => write!(f, "debian {suite} ({package} {package_version})"),
        }
    }
}

/// The upstream part of a Debian package version: without the epoch (`1:`) and the Debian
/// revision (from the last `-`), as dpkg splits it (deb-version(7)): `26.1.5+dfsg1-9+deb13u1`
/// is `26.1.5+dfsg1`, `1:2.75-10` is `2.75`, a native `5.23.2` stays itself.
pub fn upstream_version(package_version: &str) -> &str {
    let v = match package_version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        _ => package_version,
    };
    v.rfind('-').map_or(v, |i| &v[..i])
}

/// Whether the cell version `wanted` (a prefix) matches the package version
/// `package_version`'s upstream part.
pub fn package_version_matches(wanted: &str, package_version: &str) -> bool {
    version_matches(wanted, upstream_version(package_version))
}

/// The version in `BINARY --version`'s output, as the running daemon reports it:
/// - `Docker version 20.10.24+dfsg1, build 5d6db84` is `20.10.24+dfsg1`;
/// - `podman version 4.3.1` is `4.3.1`;
/// - `containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3` is
///   `1.6.20~ds1` (its third field, `version.Version`; upstream builds print `v1.7.24`, whose
///   `v` is dropped as containerd's Version API has it).
pub fn parse_host_version(runtime: RuntimeKind, output: &str) -> Option<String> {
    let line = output.lines().find(|l| !l.trim().is_empty())?.trim();
    let version = match runtime {
        RuntimeKind::Docker => {
            let rest = line.strip_prefix("Docker version ")?;
            rest.split(',').next()?.trim()
        }
        RuntimeKind::Podman => line
            .strip_prefix("podman version ")?
            .split_whitespace()
            .next()?,
        RuntimeKind::Containerd => {
            let mut fields = line.split_whitespace();
            (fields.next()? == "containerd").then_some(())?;
            let v = fields.nth(1)?;
            v.strip_prefix('v').unwrap_or(v)
        }
    };
    (!version.is_empty()).then(|| version.to_string())
}

/// Why the host's version of a runtime is not known.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    NotInstalled(ProviderError),
    #[error("failed to run {binary} --version: {reason}")]
    Failed { binary: String, reason: String },
    #[error("{binary} --version printed no version: {output:?}")]
    Unparsable { binary: String, output: String },
}

/// The version of the installed `runtime`, from its binary's `--version` (no daemon started).
/// Docker also needs a containerd for the host provider: one missing is
/// [`HostError::NotInstalled`] too.
pub fn host_version(runtime: RuntimeKind) -> Result<String, HostError> {
    let (binary, env) = host_binary(runtime);
    let path = provider::find_binary(binary, env).map_err(HostError::NotInstalled)?;
    if runtime == RuntimeKind::Docker {
        provider::find_binary("containerd", "HARNESS_CONTAINERD")
            .map_err(HostError::NotInstalled)?;
    }
    let failed = |reason: String| HostError::Failed {
        binary: binary.into(),
        reason,
    };
    let mut cmd = Command::new(&path);
    cmd.arg("--version");
    let out = run_bounded(&mut cmd, VERSION_TIMEOUT, None).map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!("{}: {}", out.status, tail(&out.stderr, 3))));
    }
    parse_host_version(runtime, &out.stdout).ok_or_else(|| HostError::Unparsable {
        binary: binary.into(),
        output: out.stdout.trim().to_string(),
    })
}

/// Why a version has no source.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// `host` was asked for and the runtime is not installed (or says no version).
    #[error("{runtime} is not installed here: {source}")]
    HostUnavailable {
        runtime: RuntimeKind,
        #[source]
        source: HostError,
    },
    /// Neither the host nor any suite has a matching version; `tried` says what each has.
    #[error("no source has {runtime} {wanted} (host: {host}; {tried})")]
    NoSource {
        runtime: RuntimeKind,
        wanted: String,
        host: String,
        tried: String,
    },
}

impl ResolveError {
    /// Always `true`: a version no source has is a reason to skip (outside CI), not the
    /// harness breaking. Kept as a method so a future variant can say otherwise.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ResolveError::HostUnavailable { .. } | ResolveError::NoSource { .. } => true,
        }
    }
}

/// Reads and caches suites' package indexes and resolves versions against them. Build it with
/// [`Resolver::from_env`]; the fields are public so tests and `harness doctor` can adjust it.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// The suites, in order of preference. Default: [`SUITES_ENV`] or [`DEFAULT_SUITES`].
    pub suites: Vec<String>,
    /// mmdebstrap's MIRROR argument. Default: [`MIRROR_ENV`], else none (mmdebstrap's own).
    pub mirror: Option<String>,
    /// Where index entries are cached. Default: `$XDG_CACHE_HOME/harness/index`.
    pub cache_dir: PathBuf,
    /// How old a cached entry may be. Default: [`INDEX_MAX_AGE`].
    pub max_age: Duration,
    /// Read every index again, ignoring entries cached before this resolver was made.
    /// Default: `false`.
    pub refresh: bool,
    /// The `mmdebstrap` to run. Default: `None`, which is [`MMDEBSTRAP_ENV`] or the one on
    /// `PATH`.
    pub mmdebstrap: Option<PathBuf>,
    created_at: u64,
}

/// The harness's cache directory: `$XDG_CACHE_HOME/harness`, or `~/.cache/harness` when
/// `XDG_CACHE_HOME` is unset or empty (the same rule as the `debian` provider's root
/// filesystem cache, so both live side by side).
pub fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".cache")
        });
    base.join("harness")
}

/// The suites named by [`SUITES_ENV`]'s value `value`, or [`DEFAULT_SUITES`] when it names
/// none.
pub fn suites_from(value: Option<&str>) -> Vec<String> {
    let listed: Vec<String> = value
        .unwrap_or_default()
        .split([',', ' ', '\t', '\n'])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if listed.is_empty() {
        DEFAULT_SUITES.iter().map(|s| s.to_string()).collect()
    } else {
        listed
    }
}

impl Resolver {
    /// A resolver as the environment says (see the fields' defaults).
    pub fn from_env() -> Resolver {
        Resolver::new(cache_root().join("index"))
    }

    /// A resolver caching in `cache_dir`, otherwise as the environment says.
    pub fn new(cache_dir: PathBuf) -> Resolver {
        Resolver {
            suites: suites_from(std::env::var(SUITES_ENV).ok().as_deref()),
            mirror: std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty()),
            cache_dir,
            max_age: INDEX_MAX_AGE,
            refresh: false,
            mmdebstrap: None,
            created_at: unix_now(),
        }
    }

    /// Where `runtime` at `wanted` (a version prefix or `host`) comes from: `host` is the
    /// installed binary; otherwise the installed binary if it matches, else the first suite
    /// (in [`Resolver::suites`] order) whose index has a matching version. Indexes are only
    /// read when the host does not match.
    pub fn resolve(&self, runtime: RuntimeKind, wanted: &str) -> Result<Source, ResolveError> {
        let host = host_version(runtime);
        if wanted == HOST_VERSION {
            return host
                .map(|version| Source::Host { version })
                .map_err(|source| ResolveError::HostUnavailable { runtime, source });
        }
        if let Ok(version) = &host
            && version_matches(wanted, version)
        {
            return Ok(Source::Host {
                version: version.clone(),
            });
        }
        choose(runtime, wanted, host.as_deref().ok(), &self.indexes())
    }

    /// Every suite's index, read in parallel (cached entries are used when fresh).
    pub fn indexes(&self) -> Vec<(String, Result<SuiteIndex, IndexError>)> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .suites
                .iter()
                .map(|suite| (suite, scope.spawn(|| self.index(suite))))
                .collect();
            handles
                .into_iter()
                .map(|(suite, h)| (suite.clone(), h.join().expect("index thread panicked")))
                .collect()
        })
    }

    /// `suite`'s index: the cached entry if it is fresh, else read with mmdebstrap and cached.
    /// Processes reading the same suite take turns on `<suite>.lock`, so the second finds the
    /// first's fresh entry instead of reading the index again.
    pub fn index(&self, suite: &str) -> Result<SuiteIndex, IndexError> {
        if !is_plain_name(suite) {
            return Err(IndexError::BadSuite(suite.into()));
        }
        let path = self.cache_dir.join(format!("{suite}.json"));
        if let Some(cached) = self.cached(&path) {
            return Ok(cached);
        }
        let cache = |what| {
            let path = path.clone();
            move |source| IndexError::Cache { what, path, source }
        };
        std::fs::create_dir_all(&self.cache_dir).map_err(cache("create"))?;
        let lock_path = self.cache_dir.join(format!("{suite}.lock"));
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(cache("open the lock of"))?;
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| cache("lock")(std::io::Error::from(errno)))?;
        if let Some(cached) = self.cached(&path) {
            return Ok(cached);
        }
        let mmdebstrap = match &self.mmdebstrap {
            Some(p) => p.clone(),
            None => provider::find_binary("mmdebstrap", MMDEBSTRAP_ENV)
                .map_err(|_| IndexError::ToolMissing)?,
        };
        // mmdebstrap works in `.fetch-<suite>-XXXXXX` beside the entries; one left by a process
        // that was killed is removed here, where no other process can be using it (the lock is
        // held), unless something is mounted in it.
        let work_prefix = format!(".fetch-{suite}-");
        for stale in std::fs::read_dir(&self.cache_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = stale.path();
            if stale
                .file_name()
                .to_string_lossy()
                .starts_with(&work_prefix)
                && teardown::mounts_under(&p).is_ok_and(|m| m.is_empty())
            {
                let _ = std::fs::remove_dir_all(&p);
            }
        }
        let work = |source| IndexError::Cache {
            what: "create a work directory in",
            path: self.cache_dir.clone(),
            source,
        };
        let index = fetch_index(&mmdebstrap, suite, self.mirror.as_deref(), || {
            tempfile::Builder::new()
                .prefix(&work_prefix)
                .tempdir_in(&self.cache_dir)
                .map_err(work)
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{suite}.json."))
            .tempfile_in(&self.cache_dir)
            .map_err(cache("write"))?;
        let json = serde_json::to_string_pretty(&index).expect("index serializes");
        tmp.write_all(format!("{json}\n").as_bytes())
            .map_err(cache("write"))?;
        // Readable by everyone, like the rest of a cache (NamedTempFile creates it 0600).
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(cache("write"))?;
        tmp.persist(&path).map_err(|e| cache("write")(e.error))?;
        Ok(index)
    }

    /// The entry at `path`, if it exists, parses, is for this mirror and is fresh.
    fn cached(&self, path: &Path) -> Option<SuiteIndex> {
        let text = std::fs::read_to_string(path).ok()?;
        let index: SuiteIndex = serde_json::from_str(&text).ok()?;
        let fresh = if self.refresh {
            index.fetched_at >= self.created_at
        } else {
            index.age() <= self.max_age
        };
        let complete = PACKAGES
            .iter()
            .all(|p| index.packages.contains_key(*p) || index.missing.iter().any(|m| m == p));
        (fresh && complete && index.mirror == self.mirror).then_some(index)
    }
}

/// Whether `suite` can name a cache file: ASCII letters, digits, `.`, `-`, `_`, not starting
/// with `.` (suite names such as `bookworm-backports` all are).
fn is_plain_name(suite: &str) -> bool {
    !suite.is_empty()
        && !suite.starts_with('.')
        && suite
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// [`Resolver::resolve`] with [`Resolver::from_env`].
pub fn resolve(runtime: RuntimeKind, wanted: &str) -> Result<Source, ResolveError> {
    Resolver::from_env().resolve(runtime, wanted)
}

/// The resolution rule, given what is known: the host's version if it matches, else the first
/// suite in `indexes` whose package for `runtime` matches `wanted`.
pub fn choose(
    runtime: RuntimeKind,
    wanted: &str,
    host: Option<&str>,
    indexes: &[(String, Result<SuiteIndex, IndexError>)],
) -> Result<Source, ResolveError> {
    if let Some(version) = host
        && (wanted == HOST_VERSION || version_matches(wanted, version))
    {
        return Ok(Source::Host {
            version: version.to_string(),
        });
    }
    let package = package(runtime);
    let mut tried = Vec::new();
    for (suite, index) in indexes {
        match index {
            Ok(index) => match index.version_of(package) {
                Some(v) if package_version_matches(wanted, v) => {
                    return Ok(Source::Debian {
                        suite: suite.clone(),
                        package: package.into(),
                        package_version: v.into(),
                    });
                }
                Some(v) => tried.push(format!("{suite}: {v}")),
                None => tried.push(format!("{suite}: no {package}")),
            },
            Err(e) => tried.push(format!("{suite}: {e}")),
        }
    }
    Err(ResolveError::NoSource {
        runtime,
        wanted: wanted.into(),
        host: host.unwrap_or("not installed").to_string(),
        tried: tried.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A file of `harness/tests/data/sources/`.
    pub(super) fn data(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/sources")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[rstest::rstest]
    #[case("26.1.5+dfsg1-9+deb13u1+b1", "26.1.5+dfsg1")]
    #[case("20.10.24+dfsg1-1+deb12u1+b6", "20.10.24+dfsg1")]
    #[case("1:2.75-10+deb13u1+b3", "2.75")]
    #[case("2:6.3.0+dfsg-3", "6.3.0+dfsg")]
    #[case("1.7.24~ds1-6+deb13u1", "1.7.24~ds1")]
    #[case("5.23.2", "5.23.2")]
    #[case("1:1.3.dfsg+really1.3.1-1+deb13u1", "1.3.dfsg+really1.3.1")]
    #[case("1.0-beta-2", "1.0-beta")]
    fn upstream_version_drops_epoch_and_revision(#[case] full: &str, #[case] upstream: &str) {
        assert_eq!(upstream_version(full), upstream);
    }

    #[rstest::rstest]
    #[case("26.1", "26.1.5+dfsg1-9", true)]
    #[case("26.1.5", "26.1.5+dfsg1-9+deb13u1+b1", true)]
    #[case("26", "26.1.5+dfsg1-9", true)]
    #[case("20.10.24", "20.10.24+dfsg1-1+deb12u1+b6", true)]
    #[case("1.7", "1.7.24~ds1-6+deb13u1", true)]
    #[case("2.75", "1:2.75-10", true)]
    #[case("26.1.5+dfsg1", "26.1.5+dfsg1-9", true)]
    #[case("2.1", "2.10.0-1", false)]
    #[case("26.1.5+dfsg1-9", "26.1.5+dfsg1-9", false)]
    #[case("1", "1:2.75-10", false)]
    #[case("20.10.2", "20.10.24+dfsg1-1", false)]
    #[case("5.4", "5.8.6+ds1-3", false)]
    fn cell_versions_match_the_upstream_part(
        #[case] wanted: &str,
        #[case] full: &str,
        #[case] matches: bool,
    ) {
        assert_eq!(package_version_matches(wanted, full), matches);
    }

    #[test]
    fn host_versions_parse_from_each_binarys_output() {
        use RuntimeKind::*;
        for (runtime, file, version) in [
            (Docker, "dockerd-version.txt", "20.10.24+dfsg1"),
            (Podman, "podman-version.txt", "4.3.1"),
            (Containerd, "containerd-version.txt", "1.6.20~ds1"),
        ] {
            assert_eq!(
                parse_host_version(runtime, &data(file)).as_deref(),
                Some(version),
                "{runtime}"
            );
        }
        let upstream = "containerd github.com/containerd/containerd/v2 v2.1.9 4c4f4ac7d7e4\n";
        assert_eq!(
            parse_host_version(Containerd, upstream).as_deref(),
            Some("2.1.9")
        );
        assert_eq!(
            parse_host_version(Docker, "Docker version 28.5.2, build ecc6942\n").as_deref(),
            Some("28.5.2")
        );
        assert_eq!(parse_host_version(Docker, "podman version 4.3.1"), None);
        assert_eq!(parse_host_version(Containerd, ""), None);
    }

    fn index(suite: &str, docker: &str) -> (String, Result<SuiteIndex, IndexError>) {
        (
            suite.to_string(),
            Ok(SuiteIndex {
                suite: suite.into(),
                fetched_at: 0,
                mirror: None,
                packages: BTreeMap::from([("docker.io".to_string(), docker.to_string())]),
                missing: vec![],
            }),
        )
    }

    #[test]
    fn the_host_wins_then_the_first_matching_suite() {
        use RuntimeKind::Docker;
        let host = "20.10.24+dfsg1";
        let indexes = [
            index("bookworm", "20.10.24+dfsg1-1+deb12u1+b6"),
            index("trixie", "26.1.5+dfsg1-9+deb13u1+b1"),
            index("forky", "26.1.5+dfsg1-9+b2"),
        ];
        assert_eq!(
            choose(Docker, "20.10.24", Some(host), &indexes).unwrap(),
            Source::Host {
                version: host.into()
            }
        );
        assert_eq!(
            choose(Docker, "host", Some(host), &indexes).unwrap(),
            Source::Host {
                version: host.into()
            }
        );
        assert_eq!(
            choose(Docker, "20.10", None, &indexes).unwrap(),
            Source::Debian {
                suite: "bookworm".into(),
                package: "docker.io".into(),
                package_version: "20.10.24+dfsg1-1+deb12u1+b6".into()
            }
        );
        let trixie = choose(Docker, "26.1", Some(host), &indexes).unwrap();
        assert_eq!(
            trixie.to_string(),
            "debian trixie (docker.io 26.1.5+dfsg1-9+deb13u1+b1)"
        );
        assert_eq!(trixie.provider(), "debian");
    }

    #[test]
    fn no_source_says_what_each_has() {
        let host = "20.10.24+dfsg1";
        let indexes = [
            index("trixie", "26.1.5+dfsg1-9+deb13u1+b1"),
            ("sid".to_string(), Err(IndexError::ToolMissing)),
        ];
        let err = choose(RuntimeKind::Docker, "25.0", Some(host), &indexes).unwrap_err();
        assert!(err.is_unavailable());
        assert_eq!(
            err.to_string(),
            "no source has docker 25.0 (host: 20.10.24+dfsg1; trixie: \
             26.1.5+dfsg1-9+deb13u1+b1; sid: mmdebstrap is not installed (apt-get install \
             mmdebstrap))"
        );
        let err = choose(RuntimeKind::Podman, "5.4", None, &indexes[..1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no source has podman 5.4 (host: not installed; trixie: no podman)"
        );
    }

    #[test]
    fn suites_come_from_the_environment_value_or_the_default() {
        assert_eq!(suites_from(None), DEFAULT_SUITES);
        assert_eq!(suites_from(Some("")), DEFAULT_SUITES);
        assert_eq!(suites_from(Some("trixie, sid")), ["trixie", "sid"]);
        assert_eq!(suites_from(Some("forky")), ["forky"]);
    }

    /// A cached entry is used while fresh, for the same mirror, and with every package
    /// accounted for; anything else is read again.
    #[test]
    fn cached_entries_are_used_only_while_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let mut resolver = Resolver::new(dir.path().to_path_buf());
        resolver.mirror = None;
        let path = dir.path().join("trixie.json");
        let mut entry = SuiteIndex {
            suite: "trixie".into(),
            fetched_at: unix_now() - 60,
            mirror: None,
            packages: PACKAGES
                .iter()
                .map(|p| (p.to_string(), "1.0-1".to_string()))
                .collect(),
            missing: vec![],
        };
        let write = |e: &SuiteIndex| std::fs::write(&path, serde_json::to_string(e).unwrap());
        write(&entry).unwrap();
        assert_eq!(resolver.cached(&path), Some(entry.clone()));
        // The same entry through index(): no mmdebstrap needed.
        assert_eq!(resolver.index("trixie").unwrap(), entry);

        resolver.refresh = true;
        assert_eq!(
            resolver.cached(&path),
            None,
            "refresh ignores older entries"
        );
        resolver.refresh = false;

        entry.fetched_at = unix_now() - INDEX_MAX_AGE.as_secs() - 1;
        write(&entry).unwrap();
        assert_eq!(resolver.cached(&path), None, "too old");

        entry.fetched_at = unix_now();
        entry.mirror = Some("file:///srv/mirror".into());
        write(&entry).unwrap();
        assert_eq!(resolver.cached(&path), None, "another mirror");

        entry.mirror = None;
        entry.packages.remove("buildah");
        write(&entry).unwrap();
        assert_eq!(resolver.cached(&path), None, "a package unaccounted for");
        entry.missing.push("buildah".into());
        write(&entry).unwrap();
        assert!(resolver.cached(&path).is_some());

        std::fs::write(&path, "{").unwrap();
        assert_eq!(resolver.cached(&path), None, "half a file");
    }

    /// A work directory left by a killed reader of the same suite is removed before the next
    /// read; another suite's is left to its own readers; a failed read leaves nothing.
    #[test]
    fn a_killed_readers_work_directory_is_removed_by_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut resolver = Resolver::new(dir.path().to_path_buf());
        resolver.mirror = None;
        resolver.mmdebstrap = Some(PathBuf::from("/bin/false"));
        for d in [".fetch-trixie-AbC123/root/etc", ".fetch-sid-XyZ789"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let err = resolver.index("trixie").unwrap_err();
        assert!(
            matches!(&err, IndexError::Failed { suite, .. } if suite == "trixie"),
            "{err:?}"
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".fetch-sid-XyZ789", "trixie.lock"]);
    }

    #[test]
    fn a_suite_name_that_is_not_a_plain_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let resolver = Resolver::new(dir.path().to_path_buf());
        for bad in ["../etc", "", ".hidden", "a/b", "sid trixie"] {
            let err = resolver.index(bad).unwrap_err();
            assert!(matches!(err, IndexError::BadSuite(_)), "{bad}: {err:?}");
        }
        assert!(is_plain_name("bookworm-backports"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn cache_root_follows_xdg_rules() {
        // Only read here: the environment is process-wide, so the test does not set it.
        let root = cache_root();
        assert!(root.ends_with("harness"), "{}", root.display());
    }
}
