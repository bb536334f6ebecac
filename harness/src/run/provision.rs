//! `harness provision`: build the cached root filesystems a set of cells needs ahead of a run,
//! list the cache, and prune entries no current recipe uses.
//!
//! A run builds what it is missing on first use anyway (under a lock, so parallel processes
//! build once); provisioning first makes that cost visible, with progress, and keeps it out of
//! the first cells' time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Cell;
use crate::runtime::ProviderError;
use crate::runtime::provider::debian::rootfs::{self, Cache, RootfsSpec};
use crate::runtime::provider::debian::{self, SUITE_OPTION};

/// The Debian suites `cells` need, in first-use order, each once (run
/// [`super::Session::resolve_sources`] first so versioned cells name theirs).
pub fn suites_of(cells: &[Cell]) -> Vec<String> {
    let mut suites: Vec<String> = Vec::new();
    use crate::runtime::provider::container;
    for cell in cells {
        // A container cell without an image builds its image from the suite's tree.
        let provider = cell.extra.get("provider").map(String::as_str);
        let from_suite = provider == Some(debian::NAME)
            || (provider == Some(container::NAME)
                && !cell.extra.contains_key(container::IMAGE_OPTION));
        if from_suite
            && let Some(suite) = cell.extra.get(SUITE_OPTION)
            && !suites.contains(suite)
        {
            suites.push(suite.clone());
        }
    }
    suites
}

/// The Debian suites a run of `prepared` on `cells` starts from and the cache lacks, in
/// first-use order: those of the cells some scenario may apply to and whose provider can start
/// here ([`crate::runtime::Provider::available`]: with mmdebstrap missing, the cells are skips
/// that say so, and nothing is built).
pub fn missing_for_run(cells: &[Cell], prepared: &super::session::Prepared) -> Vec<String> {
    let runnable: Vec<Cell> = cells
        .iter()
        .filter(|c| prepared.iter().any(|(s, _)| s.applies_to.may_match(c)))
        .filter(|c| {
            let spec = super::instance_spec(c);
            crate::runtime::provider::for_spec(&spec).is_ok_and(|p| p.available(&spec).is_ok())
        })
        .cloned()
        .collect();
    suites_of(&runnable)
        .into_iter()
        .filter(|suite| debian::cached(suite).is_none())
        .collect()
}

/// What provisioning one suite did.
#[derive(Debug)]
pub struct Provisioned {
    pub suite: String,
    /// The cache entry, or why there is none.
    pub entry: Result<PathBuf, ProviderError>,
    /// Whether it was already cached.
    pub cached: bool,
    pub took: Duration,
    /// Bytes of the entry a build made (of what it had written when it failed); `None` for a
    /// cached entry, or when nothing could be measured.
    pub bytes: Option<u64>,
}

/// What [`provision`] reports as it goes, for a progress display
/// ([`crate::report::progress`]). `index` counts from 1 to `count`, the number of suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionEvent {
    /// A suite is looked at: cached, or about to be built (or waited for: another process may
    /// hold the build's lock).
    Started {
        index: usize,
        count: usize,
        suite: String,
        cached: bool,
    },
    /// A build in progress, measured about twice a second (less often when a measure takes
    /// longer than a tenth of a second): the bytes its directory holds and
    /// mmdebstrap's latest phase ([`rootfs::build_state`]).
    Building {
        index: usize,
        count: usize,
        suite: String,
        bytes: u64,
        phase: Option<String>,
    },
    /// A suite is done, built or not.
    Finished {
        index: usize,
        count: usize,
        suite: String,
        cached: bool,
        ok: bool,
        bytes: Option<u64>,
        took: Duration,
    },
}

/// How often a build in progress is measured.
const POLL: Duration = Duration::from_millis(500);

/// Builds (or finds) each suite's root filesystem, telling `progress` as it goes.
pub fn provision(suites: &[String], progress: impl Fn(ProvisionEvent) + Sync) -> Vec<Provisioned> {
    let cache = Cache::default_location().ok();
    provision_with(
        suites,
        &Steps {
            cached: &|suite| debian::cached(suite).is_some(),
            build: &|suite| debian::provision(suite).map(|e| e.dir),
            measure: &|suite| {
                let cache = cache.as_ref()?;
                rootfs::build_state(&cache.dir, &RootfsSpec::new(suite))
            },
            poll: POLL,
        },
        &progress,
    )
}

/// What [`provision_with`] does to a suite (the debian provider's functions, or a test's).
struct Steps<'a> {
    cached: &'a (dyn Fn(&str) -> bool + Sync),
    build: &'a (dyn Fn(&str) -> Result<PathBuf, ProviderError> + Sync),
    measure: &'a (dyn Fn(&str) -> Option<rootfs::BuildState> + Sync),
    poll: Duration,
}

/// [`provision`] with its steps given: while a suite builds, a second thread measures the
/// build every `steps.poll` and reports it, until the build returns.
fn provision_with(
    suites: &[String],
    steps: &Steps<'_>,
    progress: &(dyn Fn(ProvisionEvent) + Sync),
) -> Vec<Provisioned> {
    let count = suites.len();
    suites
        .iter()
        .enumerate()
        .map(|(i, suite)| {
            let index = i + 1;
            let cached = (steps.cached)(suite);
            progress(ProvisionEvent::Started {
                index,
                count,
                suite: suite.clone(),
                cached,
            });
            let started = Instant::now();
            let (entry, measured) = if cached {
                ((steps.build)(suite), None)
            } else {
                let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
                std::thread::scope(|scope| {
                    let poller = scope.spawn(move || {
                        let mut last = None;
                        let mut wait = steps.poll;
                        // Until the build returns (and drops its end of the channel).
                        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                            done_rx.recv_timeout(wait)
                        {
                            let began = Instant::now();
                            let measured = (steps.measure)(suite);
                            // A measure walks the tree (20,000 files, 0.2 s, for a suite near
                            // its end): at most a fifth of the poller's time goes to it.
                            wait = steps.poll.max(began.elapsed() * 4);
                            if let Some(state) = measured {
                                last = Some(state.bytes);
                                progress(ProvisionEvent::Building {
                                    index,
                                    count,
                                    suite: suite.clone(),
                                    bytes: state.bytes,
                                    phase: state.phase,
                                });
                            }
                        }
                        last
                    });
                    let entry = (steps.build)(suite);
                    drop(done_tx);
                    (entry, poller.join().unwrap_or(None))
                })
            };
            let bytes = match &entry {
                // The finished entry, measured once (the build removes apt's downloads at
                // its end, so the last measure of the build is not its size).
                Ok(dir) if !cached => Some(rootfs::tree_size(dir)),
                Ok(_) => None,
                Err(_) => measured,
            };
            let took = started.elapsed();
            progress(ProvisionEvent::Finished {
                index,
                count,
                suite: suite.clone(),
                cached,
                ok: entry.is_ok(),
                bytes,
                took,
            });
            Provisioned {
                suite: suite.clone(),
                entry,
                cached,
                took,
                bytes,
            }
        })
        .collect()
}

/// One entry of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The entry's directory name (`<suite>-<key>`).
    pub name: String,
    pub dir: PathBuf,
    /// Whether the current recipe of its suite builds exactly this entry; a stale one was
    /// built with another package list or mmdebstrap options.
    pub current: bool,
    /// The runtimes' package versions recorded at build time.
    pub versions: Vec<(String, String)>,
}

/// Every entry of the cache (not the locks or builds in progress), sorted by name.
pub fn list() -> Result<Vec<Listed>, std::io::Error> {
    let cache = Cache::default_location().map_err(std::io::Error::other)?;
    let Ok(entries) = std::fs::read_dir(&cache.dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let Some((suite, _key)) = name.rsplit_once('-') else {
            continue;
        };
        let current = RootfsSpec::new(suite).key() == name;
        let entry = debian::rootfs::Entry { dir: e.path() };
        let versions = ["docker.io", "podman", "containerd"]
            .iter()
            .filter_map(|p| entry.package_version(p).map(|v| (p.to_string(), v)))
            .collect();
        out.push(Listed {
            name,
            dir: e.path(),
            current,
            versions,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes every entry no current recipe builds, with its lock file; returns what it removed.
/// An entry in use by a running instance of an older harness would lose its tree: prune when
/// no run is going.
pub fn prune() -> Result<Vec<PathBuf>, std::io::Error> {
    let mut removed = Vec::new();
    for entry in list()?.into_iter().filter(|e| !e.current) {
        std::fs::remove_dir_all(&entry.dir)?;
        let lock = entry.dir.with_file_name(format!("{}.lock", entry.name));
        let _ = std::fs::remove_file(lock);
        removed.push(entry.dir);
    }
    Ok(removed)
}

/// `harness provision --list`: one line per entry, `<suite>-<key>  current|stale  versions`.
pub fn render_list(entries: &[Listed]) -> String {
    if entries.is_empty() {
        return "no cached root filesystems\n".into();
    }
    entries
        .iter()
        .map(|e| {
            let versions: Vec<String> =
                e.versions.iter().map(|(p, v)| format!("{p} {v}")).collect();
            let state = if e.current { "current" } else { "stale" };
            format!("{}  {state}  {}\n", e.name, versions.join(", "))
        })
        .collect()
}

/// The lines `harness provision` prints for what it provisioned (stdout), and the errors
/// (stderr).
pub fn render_provisioned(results: &[Provisioned]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut errors = Vec::new();
    for p in results {
        match &p.entry {
            Ok(dir) => out.push_str(&format!(
                "{}  {}  {} ({:.1}s{})\n",
                p.suite,
                if p.cached { "cached" } else { "built" },
                dir.display(),
                p.took.as_secs_f64(),
                p.bytes
                    .map(|b| format!(", {}", indicatif::HumanBytes(b)))
                    .unwrap_or_default()
            )),
            Err(e) => errors.push(format!("{}: {}", p.suite, super::error_chain(e))),
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(extra: &[(&str, &str)]) -> Cell {
        Cell {
            id: "c".into(),
            runtime: crate::config::RuntimeKind::Docker,
            version: "26.1".into(),
            store: "overlay2".into(),
            builder: None,
            api: None,
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_suites_of_debian_and_suite_built_container_cells_each_once_in_order() {
        let cells = [
            cell(&[("provider", "debian"), ("suite", "trixie")]),
            cell(&[]),
            cell(&[("provider", "debian"), ("suite", "sid")]),
            cell(&[("provider", "debian"), ("suite", "trixie")]),
            cell(&[("provider", "socket"), ("suite", "bullseye")]),
            cell(&[("provider", "container"), ("suite", "bookworm")]),
            cell(&[
                ("provider", "container"),
                ("suite", "buster"),
                ("image", "docker:25.0.0-dind"),
            ]),
        ];
        // A container cell built from a suite needs it; one with an image does not.
        assert_eq!(suites_of(&cells), ["trixie", "sid", "bookworm"]);
    }

    #[test]
    fn listing_says_current_or_stale_with_the_versions() {
        let entries = [Listed {
            name: "trixie-0123456789abcdef".into(),
            dir: PathBuf::from("/c/trixie-0123456789abcdef"),
            current: false,
            versions: vec![("docker.io".into(), "26.1.5+dfsg1-9".into())],
        }];
        assert_eq!(
            render_list(&entries),
            "trixie-0123456789abcdef  stale  docker.io 26.1.5+dfsg1-9\n"
        );
        assert_eq!(render_list(&[]), "no cached root filesystems\n");
    }

    /// A build that writes over time is measured while it runs and once more when done; a
    /// cached suite is not measured; a failed build keeps what was measured last.
    #[test]
    fn provisioning_reports_each_suite_and_the_bytes_a_build_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir_of = |suite: &str| tmp.path().join(suite);
        let build = |suite: &str| -> Result<PathBuf, ProviderError> {
            let dir = dir_of(suite);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..6 {
                std::fs::write(dir.join(format!("f{i}")), vec![0u8; 1000]).unwrap();
                std::thread::sleep(Duration::from_millis(40));
            }
            if suite == "bad" {
                return Err(ProviderError::Unavailable {
                    provider: "debian",
                    reason: "mmdebstrap failed".into(),
                });
            }
            // The build's last act shrinks it (apt's downloads removed).
            std::fs::remove_file(dir.join("f0")).unwrap();
            Ok(dir)
        };
        let measure = |suite: &str| {
            let dir = dir_of(suite);
            dir.is_dir().then(|| rootfs::BuildState {
                bytes: rootfs::tree_size(&dir),
                phase: Some("extracting archives".into()),
            })
        };
        let steps = Steps {
            cached: &|suite| suite == "old",
            build: &|suite| {
                if suite == "old" {
                    Ok(PathBuf::from("/cache/old"))
                } else {
                    build(suite)
                }
            },
            measure: &measure,
            poll: Duration::from_millis(20),
        };
        let events = std::sync::Mutex::new(Vec::new());
        let suites: Vec<String> = ["old", "new", "bad"].map(String::from).into();
        let results = provision_with(&suites, &steps, &|e| events.lock().unwrap().push(e));
        let events = events.into_inner().unwrap();
        assert!(results[0].cached && results[0].bytes.is_none());
        assert_eq!(results[1].bytes, Some(5000), "the finished entry's size");
        assert!(results[2].entry.is_err());
        assert_eq!(
            results[2].bytes,
            Some(6000),
            "the last measure of the failed build"
        );
        assert_eq!(
            events[0],
            ProvisionEvent::Started {
                index: 1,
                count: 3,
                suite: "old".into(),
                cached: true
            }
        );
        let building: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ProvisionEvent::Building {
                    suite,
                    bytes,
                    index: 2,
                    ..
                } if suite == "new" => Some(*bytes),
                _ => None,
            })
            .collect();
        assert!(building.len() >= 2, "measured while building: {events:?}");
        assert!(building.windows(2).all(|w| w[0] <= w[1]), "{building:?}");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ProvisionEvent::Building { suite, .. } if suite == "old")),
            "a cached suite is not built"
        );
        let finished: Vec<(&str, bool)> = events
            .iter()
            .filter_map(|e| match e {
                ProvisionEvent::Finished { suite, ok, .. } => Some((suite.as_str(), *ok)),
                _ => None,
            })
            .collect();
        assert_eq!(finished, [("old", true), ("new", true), ("bad", false)]);
        // Nothing is reported for a suite after it finished.
        let last_new = events
            .iter()
            .rposition(|e| matches!(e, ProvisionEvent::Building { suite, .. } | ProvisionEvent::Finished { suite, .. } if suite == "new"))
            .unwrap();
        assert!(matches!(events[last_new], ProvisionEvent::Finished { .. }));
        let (out, errors) = render_provisioned(&results);
        assert!(out.contains("new  built  "), "{out}");
        assert!(out.contains(", 4.88 KiB)\n"), "{out}");
        assert_eq!(errors.len(), 1, "{errors:?}");
    }
}
