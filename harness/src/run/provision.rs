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
use crate::runtime::provider::debian::rootfs::{Cache, RootfsSpec};
use crate::runtime::provider::debian::{self, SUITE_OPTION};

/// The Debian suites `cells` need, in first-use order, each once (run
/// [`super::Session::resolve_sources`] first so versioned cells name theirs).
pub fn suites_of(cells: &[Cell]) -> Vec<String> {
    let mut suites: Vec<String> = Vec::new();
    for cell in cells {
        if cell.extra.get("provider").map(String::as_str) == Some(debian::NAME)
            && let Some(suite) = cell.extra.get(SUITE_OPTION)
            && !suites.contains(suite)
        {
            suites.push(suite.clone());
        }
    }
    suites
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
}

/// Builds (or finds) each suite's root filesystem, calling `progress` before each.
pub fn provision(suites: &[String], progress: impl Fn(&str, bool)) -> Vec<Provisioned> {
    suites
        .iter()
        .map(|suite| {
            let cached = debian::cached(suite).is_some();
            progress(suite, cached);
            let started = Instant::now();
            let entry = debian::provision(suite).map(|e| e.dir);
            Provisioned {
                suite: suite.clone(),
                entry,
                cached,
                took: started.elapsed(),
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
                "{}  {}  {} ({:.1}s)\n",
                p.suite,
                if p.cached { "cached" } else { "built" },
                dir.display(),
                p.took.as_secs_f64()
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
    fn the_suites_of_debian_cells_each_once_in_order() {
        let cells = [
            cell(&[("provider", "debian"), ("suite", "trixie")]),
            cell(&[]),
            cell(&[("provider", "debian"), ("suite", "sid")]),
            cell(&[("provider", "debian"), ("suite", "trixie")]),
            cell(&[("provider", "socket"), ("suite", "bullseye")]),
        ];
        assert_eq!(suites_of(&cells), ["trixie", "sid"]);
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
}
