//! `harness doctor`: what this machine can run, and how to get what it cannot.
//!
//! [`diagnose`] gathers a [`Doctor`] report: for each runtime, the host's version (from the
//! binary's `--version`, no daemon started) and the version each Debian suite carries (from
//! [`sources`]'s cached index reads), with whether that suite's root filesystem is already
//! cached, and the stores the runtime accepts ([`accepts`]). Each missing piece comes with the
//! exact command that gets it. [`render_text`] draws the table; the report serializes as the
//! JSON of `--format json`.
//!
//! A root filesystem counts as cached when `$XDG_CACHE_HOME/harness/rootfs/` has an entry
//! `<suite>-<key>` (the `debian` provider's layout, `provider/debian/rootfs.rs`: entries only
//! appear there once complete; builds in progress are hidden `.<key>.tmp-*` directories).
//!
//! The exit code ([`Doctor::exit_code`]) is 0 when every runtime has at least one source, and
//! 1 otherwise.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RuntimeKind;
use super::accepts;
use super::sources::{self, IndexError, Resolver, SuiteIndex};

/// Everything `harness doctor` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    /// `$XDG_CACHE_HOME/harness`: indexes in `index/`, root filesystems in `rootfs/`.
    pub cache_dir: String,
    /// [`sources::MIRROR_ENV`], if set (`None`: mmdebstrap's default mirror).
    pub mirror: Option<String>,
    pub suites: Vec<SuiteReport>,
    pub runtimes: Vec<RuntimeReport>,
    /// What is missing, each with the command that gets it.
    pub missing: Vec<Missing>,
}

/// One Debian suite: its index and its cached root filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    /// When the index entry was read (seconds since the Unix epoch), if it could be.
    pub index_fetched_at: Option<u64>,
    /// Why the index could not be read.
    pub index_error: Option<String>,
    /// The cached root filesystem's entry directory name (`trixie-0123456789abcdef`).
    pub rootfs: Option<String>,
}

/// One runtime: where it can come from here.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeReport {
    pub runtime: RuntimeKind,
    /// Its Debian package (`docker.io`).
    pub package: &'static str,
    /// The installed version, `None` if it is not installed.
    pub host: Option<String>,
    /// Why there is no host version (not installed, `--version` failed).
    pub host_error: Option<String>,
    /// The version each suite carries, in suite order (suites without the package are left
    /// out).
    pub debian: Vec<SuiteVersion>,
    /// The `store` values it accepts ([`accepts::stores`]).
    pub stores: Vec<&'static str>,
    /// How many sources it has here (the host, plus each suite that carries it).
    pub sources: usize,
}

/// A runtime's version in one suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteVersion {
    pub suite: String,
    /// The upstream version, what a cell's `version` matches (`26.1.5+dfsg1`).
    pub version: String,
    /// The full Debian package version (`26.1.5+dfsg1-9+deb13u1+b1`).
    pub package_version: String,
    /// Whether the suite's root filesystem is cached.
    pub rootfs_cached: bool,
    /// The package's version in the cached root filesystem (its entry's `packages` file),
    /// when that differs from the index's: the tree was built before the suite moved on.
    pub rootfs_package_version: Option<String>,
}

/// A missing piece and the command that gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub what: String,
    pub command: String,
}

impl Doctor {
    /// 0 when every runtime has at least one source here, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.runtimes.iter().any(|r| r.sources == 0))
    }

    /// The report as pretty JSON (`--format json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("doctor report serializes")
    }
}

/// The packages a plain install of `runtime` needs on the host, as `scripts/install-deps`
/// installs them: the daemon, its OCI runtime, and what it probes for.
fn host_packages(runtime: RuntimeKind) -> &'static str {
    match runtime {
        RuntimeKind::Docker => "docker.io containerd runc iptables",
        RuntimeKind::Podman => "podman crun conmon uidmap",
        RuntimeKind::Containerd => "containerd runc",
    }
}

/// The command that builds `suite`'s root filesystem into the cache: `harness provision`
/// for the cells of that suite (the `debian` provider's own mmdebstrap run, keyed and locked
/// as a run would build it). `mirror` is [`sources::MIRROR_ENV`]'s value, passed on.
pub fn rootfs_command(suite: &str, mirror: Option<&str>) -> String {
    let mirror = mirror
        .map(|m| format!("{}='{m}' ", sources::MIRROR_ENV))
        .unwrap_or_default();
    format!("{mirror}harness provision   # builds {suite} and every other suite matrix.yaml needs")
}

/// Printed under the missing root filesystems: how they get into the cache otherwise.
pub const ROOTFS_NOTE: &str = "A run also builds a missing root filesystem on first use \
     (mmdebstrap, a minute or two); `harness provision` does it ahead, with progress.";

/// The cached root filesystem entry of `suite` in `rootfs_dir`: a directory named
/// `<suite>-<key>` whose key has no further `-` (so `bookworm` does not claim a
/// `bookworm-backports-<key>` entry).
pub fn cached_rootfs(rootfs_dir: &Path, suite: &str) -> Option<String> {
    let prefix = format!("{suite}-");
    let mut names: Vec<String> = std::fs::read_dir(rootfs_dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|key| !key.is_empty() && !key.contains('-'))
        })
        .collect();
    names.sort();
    names.pop()
}

/// `package`'s version as a cache entry recorded it at build time (its `packages` file:
/// `<package>\t<version>` lines, `dpkg-query -W` of the tree).
fn recorded_version(entry: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(entry.join("packages")).ok()?;
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(p, _)| *p == package)
        .map(|(_, v)| v.trim().to_string())
}

/// Gathers the report: host versions, every suite's index (cached or read, in parallel) and
/// the root filesystems cached in `rootfs_dir`.
pub fn diagnose(resolver: &Resolver, rootfs_dir: &Path) -> Doctor {
    let indexes = resolver.indexes();
    let hosts: Vec<_> = RuntimeKind::ALL
        .iter()
        .map(|r| (*r, sources::host_version(*r)))
        .collect();
    assemble(resolver, rootfs_dir, hosts, &indexes)
}

/// [`diagnose`] from what it gathered (separate, so the report's logic is testable without
/// binaries or an archive).
fn assemble(
    resolver: &Resolver,
    rootfs_dir: &Path,
    hosts: Vec<(RuntimeKind, Result<String, sources::HostError>)>,
    indexes: &[(String, Result<SuiteIndex, IndexError>)],
) -> Doctor {
    let mut missing = Vec::new();
    let suites: Vec<SuiteReport> = indexes
        .iter()
        .map(|(suite, index)| SuiteReport {
            suite: suite.clone(),
            index_fetched_at: index.as_ref().ok().map(|i| i.fetched_at),
            index_error: index.as_ref().err().map(|e| e.to_string()),
            rootfs: cached_rootfs(rootfs_dir, suite),
        })
        .collect();
    let mut tool_missing = false;
    for (suite, index) in indexes {
        match index {
            Err(IndexError::ToolMissing) => tool_missing = true,
            Err(IndexError::BadSuite(_)) => missing.push(Missing {
                what: format!("a suite name instead of {suite:?}"),
                command: format!(
                    "{}=bullseye,bookworm,trixie,sid (or unset it for those)",
                    sources::SUITES_ENV
                ),
            }),
            // The error itself is on the suite's line.
            Err(_) => missing.push(Missing {
                what: format!("the {suite} package index"),
                command: "harness doctor --refresh".into(),
            }),
            Ok(_) => {}
        }
    }
    if tool_missing {
        missing.push(Missing {
            what: "mmdebstrap, which reads the Debian suites' indexes and builds their root \
                   filesystems"
                .into(),
            command: "apt-get install mmdebstrap".into(),
        });
    }
    let mut runtimes = Vec::new();
    for (runtime, host) in hosts {
        let package = sources::package(runtime);
        let debian: Vec<SuiteVersion> = indexes
            .iter()
            .zip(&suites)
            .filter_map(|((suite, index), report)| {
                let v = index.as_ref().ok()?.version_of(package)?;
                let built = report
                    .rootfs
                    .as_ref()
                    .and_then(|entry| recorded_version(&rootfs_dir.join(entry), package));
                Some(SuiteVersion {
                    suite: suite.clone(),
                    version: sources::upstream_version(v).to_string(),
                    package_version: v.to_string(),
                    rootfs_cached: report.rootfs.is_some(),
                    rootfs_package_version: built.filter(|b| b != v),
                })
            })
            .collect();
        if host.is_err() {
            missing.push(Missing {
                what: format!("{runtime} on the host"),
                command: format!(
                    "scripts/install-deps (or: apt-get install {})",
                    host_packages(runtime)
                ),
            });
        }
        runtimes.push(RuntimeReport {
            runtime,
            package,
            sources: usize::from(host.is_ok()) + debian.len(),
            host: host.as_ref().ok().cloned(),
            host_error: host.as_ref().err().map(|e| e.to_string()),
            debian,
            stores: accepts::stores(runtime).to_vec(),
        });
    }
    for s in &suites {
        if s.rootfs.is_none() && s.index_error.is_none() {
            missing.push(Missing {
                what: format!("the {} root filesystem", s.suite),
                command: rootfs_command(&s.suite, resolver.mirror.as_deref()),
            });
        }
    }
    Doctor {
        cache_dir: resolver
            .cache_dir
            .parent()
            .unwrap_or(&resolver.cache_dir)
            .display()
            .to_string(),
        mirror: resolver.mirror.clone(),
        suites,
        runtimes,
        missing,
    }
}

/// `$XDG_CACHE_HOME/harness/rootfs`, where the `debian` provider caches root filesystems.
pub fn rootfs_dir() -> PathBuf {
    sources::cache_root().join("rootfs")
}

/// The report as a terminal table; ANSI colours when `color`.
pub fn render_text(d: &Doctor, color: bool) -> String {
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    // Cells are (text, colour code); widths come from the text alone.
    let mut rows: Vec<[(String, &str); 5]> = Vec::new();
    for r in &d.runtimes {
        let host = match &r.host {
            Some(v) => (v.clone(), "32"),
            None => ("not installed".to_string(), "31"),
        };
        rows.push([
            (r.runtime.to_string(), ""),
            ("host".into(), ""),
            host,
            ("-".into(), ""),
            ("-".into(), ""),
        ]);
        for v in &r.debian {
            let rootfs = match (&v.rootfs_package_version, v.rootfs_cached) {
                (Some(built), _) => (format!("cached (built with {built})"), "33"),
                (None, true) => ("cached".to_string(), "32"),
                (None, false) => ("not cached".to_string(), "33"),
            };
            rows.push([
                (r.runtime.to_string(), ""),
                (v.suite.clone(), ""),
                (v.version.clone(), "32"),
                (v.package_version.clone(), ""),
                rootfs,
            ]);
        }
        if r.sources == 0 {
            rows.push([
                (r.runtime.to_string(), ""),
                ("(none)".into(), ""),
                ("no source".into(), "31"),
                ("-".into(), ""),
                ("-".into(), ""),
            ]);
        }
    }
    let header = [
        "RUNTIME",
        "SOURCE",
        "VERSION",
        "PACKAGE VERSION",
        "ROOT FILESYSTEM",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, (text, _)) in widths.iter_mut().zip(row) {
            *w = (*w).max(text.len());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, &str)>| {
        let last = cells.len() - 1;
        let mut l = String::new();
        for (i, ((text, code), w)) in cells.into_iter().zip(widths).enumerate() {
            let padded = if i == last {
                text.clone()
            } else {
                format!("{text:<w$}  ")
            };
            if code.is_empty() {
                l.push_str(&padded);
            } else {
                // Colour the word, not the padding.
                l.push_str(&paint(&text, code));
                l.push_str(&padded[text.len()..]);
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header.iter().map(|h| (h.to_string(), "")).collect()));
    for row in rows {
        out.push_str(&line(row.to_vec()));
    }
    out.push('\n');
    for r in &d.runtimes {
        out.push_str(&format!("{} stores: {}\n", r.runtime, r.stores.join(", ")));
    }
    out.push('\n');
    out.push_str(&format!("cache: {}\n", d.cache_dir));
    out.push_str(&format!(
        "mirror: {}\n",
        d.mirror
            .as_deref()
            .unwrap_or("mmdebstrap's default (set HARNESS_DEBIAN_MIRROR to choose one)")
    ));
    for s in &d.suites {
        let index = match (&s.index_fetched_at, &s.index_error) {
            (Some(at), _) => format!("index read {}", ago(*at)),
            (None, Some(e)) => paint(&format!("index unavailable: {e}"), "31"),
            (None, None) => "index unavailable".into(),
        };
        let rootfs = match &s.rootfs {
            Some(name) => format!("root filesystem rootfs/{name}"),
            None => "no root filesystem".into(),
        };
        out.push_str(&format!("  {}: {index}; {rootfs}\n", s.suite));
    }
    if !d.missing.is_empty() {
        out.push_str("\nmissing:\n");
        for m in &d.missing {
            out.push_str(&format!("  {}:\n    {}\n", m.what, m.command));
        }
        if d.missing
            .iter()
            .any(|m| m.what.ends_with(" root filesystem"))
        {
            out.push_str(&format!("\n{ROOTFS_NOTE}\n"));
        }
    }
    out
}

/// `fetched_at` as "N min ago" (or hours, days).
fn ago(fetched_at: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = now.saturating_sub(fetched_at);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::runtime::provider::ProviderError;
    use crate::runtime::sources::HostError;

    fn index(suite: &str, packages: &[(&str, &str)]) -> (String, Result<SuiteIndex, IndexError>) {
        (
            suite.into(),
            Ok(SuiteIndex {
                suite: suite.into(),
                fetched_at: 1_700_000_000,
                mirror: None,
                packages: packages
                    .iter()
                    .map(|(p, v)| (p.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                missing: vec![],
            }),
        )
    }

    fn not_installed(binary: &str) -> Result<String, HostError> {
        Err(HostError::NotInstalled(ProviderError::BinaryNotFound {
            binary: binary.into(),
            env: "X".into(),
        }))
    }

    #[test]
    fn cached_root_filesystems_are_entries_named_after_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "trixie-0123456789abcdef",
            ".sid-0123456789abcdef.tmp-42",
            "bookworm-backports-0123456789abcdef",
        ] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("bullseye-0123456789abcdef.lock"), "").unwrap();
        let cached = |s| cached_rootfs(dir.path(), s);
        assert_eq!(cached("trixie").as_deref(), Some("trixie-0123456789abcdef"));
        assert_eq!(cached("sid"), None, "a build in progress");
        assert_eq!(cached("bookworm"), None, "another suite's entry");
        assert_eq!(cached("bullseye"), None, "a lock file");
        assert_eq!(
            cached("bookworm-backports").as_deref(),
            Some("bookworm-backports-0123456789abcdef")
        );
        assert_eq!(cached_rootfs(&dir.path().join("absent"), "trixie"), None);
    }

    /// Podman is on no suite and not installed: the report says so, with the command that
    /// installs it, and exits 1; a suite whose index cannot be read asks for mmdebstrap.
    #[test]
    fn a_runtime_without_a_source_fails_the_doctor_and_says_how_to_get_it() {
        let cache = tempfile::tempdir().unwrap();
        let rootfs = cache.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("trixie-0123456789abcdef")).unwrap();
        std::fs::write(
            rootfs.join("trixie-0123456789abcdef/packages"),
            "containerd\t1.7.24~ds1-6\ndocker.io\t26.1.5+dfsg1-9+deb13u1+b1\n",
        )
        .unwrap();
        let mut resolver = Resolver::new(cache.path().join("index"));
        resolver.mirror = None;
        let indexes = [
            index(
                "trixie",
                &[
                    ("docker.io", "26.1.5+dfsg1-9+deb13u1+b1"),
                    ("containerd", "1.7.24~ds1-6+deb13u1"),
                ],
            ),
            index("sid", &[("docker.io", "28.5.2+dfsg4-5")]),
            ("forky".into(), Err(IndexError::ToolMissing)),
        ];
        let hosts = vec![
            (RuntimeKind::Docker, Ok("20.10.24+dfsg1".to_string())),
            (RuntimeKind::Podman, not_installed("podman")),
            (RuntimeKind::Containerd, not_installed("containerd")),
        ];
        let d = assemble(&resolver, &rootfs, hosts, &indexes);
        assert_eq!(d.exit_code(), 1);
        let sources: Vec<_> = d.runtimes.iter().map(|r| r.sources).collect();
        assert_eq!(sources, [3, 0, 1]);
        let docker = &d.runtimes[0];
        assert_eq!(docker.debian[0].version, "26.1.5+dfsg1");
        assert!(docker.debian[0].rootfs_cached);
        assert_eq!(
            docker.debian[0].rootfs_package_version, None,
            "the same version"
        );
        assert_eq!(
            d.runtimes[2].debian[0].rootfs_package_version.as_deref(),
            Some("1.7.24~ds1-6"),
            "built before the suite's update"
        );
        assert!(!docker.debian[1].rootfs_cached);
        assert_eq!(docker.stores, accepts::stores(RuntimeKind::Docker));
        let what: Vec<_> = d.missing.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "mmdebstrap, which reads the Debian suites' indexes and builds their root \
                 filesystems",
                "podman on the host",
                "containerd on the host",
                "the sid root filesystem",
            ]
        );
        assert_eq!(d.missing[0].command, "apt-get install mmdebstrap");
        assert_eq!(
            d.missing[1].command,
            "scripts/install-deps (or: apt-get install podman crun conmon uidmap)"
        );
        assert!(
            d.missing[3].command.starts_with("harness provision ")
                && d.missing[3].command.contains(" builds sid "),
            "{}",
            d.missing[3].command
        );

        let text = render_text(&d, false);
        let table: Vec<&str> = text.lines().take(7).collect();
        assert_eq!(
            table,
            [
                "RUNTIME     SOURCE  VERSION         PACKAGE VERSION            ROOT FILESYSTEM",
                "docker      host    20.10.24+dfsg1  -                          -",
                "docker      trixie  26.1.5+dfsg1    26.1.5+dfsg1-9+deb13u1+b1  cached",
                "docker      sid     28.5.2+dfsg4    28.5.2+dfsg4-5             not cached",
                "podman      host    not installed   -                          -",
                "podman      (none)  no source       -                          -",
                "containerd  host    not installed   -                          -",
            ]
        );
        assert!(!text.contains('\x1b'));
        assert!(
            text.contains("  cached (built with 1.7.24~ds1-6)\n"),
            "{text}"
        );
        assert!(text.contains("  forky: index unavailable: mmdebstrap is not installed"));
        assert!(text.contains("  trixie: index read "));
        assert!(text.contains("root filesystem rootfs/trixie-0123456789abcdef"));
        assert!(text.contains("\nmissing:\n  mmdebstrap, "));
        assert!(text.contains("\n  podman on the host:\n    scripts/install-deps (or: "));
        assert!(text.ends_with(&format!("\n\n{ROOTFS_NOTE}\n")));

        let colored = render_text(&d, true);
        assert!(colored.contains("\x1b[31mnot installed\x1b[0m   -"));
        // Colour codes do not shift the columns: without them the text is the same.
        let plain = regex::Regex::new("\x1b\\[[0-9]+m").unwrap();
        assert_eq!(plain.replace_all(&colored, ""), text);

        let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(json["runtimes"][0]["debian"][0]["suite"], "trixie");
        assert_eq!(json["runtimes"][1]["host"], serde_json::Value::Null);
        assert_eq!(json["suites"][0]["rootfs"], "trixie-0123456789abcdef");
    }

    #[test]
    fn every_runtime_with_a_source_passes() {
        let cache = tempfile::tempdir().unwrap();
        let resolver = Resolver::new(cache.path().join("index"));
        let indexes = [index("trixie", &[("podman", "5.4.2+ds1-2+b2")])];
        let hosts = vec![
            (RuntimeKind::Docker, Ok("20.10.24+dfsg1".to_string())),
            (RuntimeKind::Podman, not_installed("podman")),
            (RuntimeKind::Containerd, Ok("1.6.20~ds1".to_string())),
        ];
        let d = assemble(&resolver, &cache.path().join("rootfs"), hosts, &indexes);
        assert_eq!(d.exit_code(), 0);
    }
}
