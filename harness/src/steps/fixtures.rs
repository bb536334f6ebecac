//! [`Fixtures`]: a scenario's crafted archives, written once into a private temp dir and shared
//! by all its cells, with the [`DigestBook`] that turns their digests into symbols.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::observe::DigestBook;
use crate::config::Scenario;
use crate::craft::{CraftError, CraftedArchive, RootfsFacts};
use crate::runtime;

/// The fixtures of one scenario, crafted once into a private temp dir and shared by its cells.
pub struct Fixtures {
    /// Registered for teardown, so a signal removes it too (a `TempDir` would survive `exit`).
    _dir: runtime::teardown::InstanceRoot,
    archives: BTreeMap<String, (PathBuf, CraftedArchive)>,
    /// Rootfs tarballs (for `import`), by name.
    rootfs: BTreeMap<String, (PathBuf, RootfsFacts)>,
    book: DigestBook,
}

/// Failure to craft a scenario's fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("failed to create a temp dir for fixtures")]
    TempDir(#[source] std::io::Error),
    #[error("failed to craft fixture {name:?} of {}", scenario.display())]
    Craft {
        scenario: PathBuf,
        name: String,
        #[source]
        source: CraftError,
    },
}

impl Fixtures {
    /// Crafts every fixture of `scenario`.
    pub fn craft(scenario: &Scenario) -> Result<Fixtures, FixtureError> {
        let dir = runtime::teardown::InstanceRoot::create_named("fixtures-")
            .map_err(FixtureError::TempDir)?;
        let mut archives = BTreeMap::new();
        let mut book = DigestBook::default();
        for (name, spec) in &scenario.fixtures {
            let path = dir.path().join(format!("{name}.tar"));
            let facts = crate::craft::write_archive_to_path(spec, &path).map_err(|source| {
                FixtureError::Craft {
                    scenario: scenario.source.clone(),
                    name: name.clone(),
                    source,
                }
            })?;
            book.add(name, &facts);
            archives.insert(name.clone(), (path, facts));
        }
        let mut rootfs = BTreeMap::new();
        for (name, spec) in &scenario.rootfs {
            let path = dir.path().join(format!("{name}.rootfs"));
            let facts = crate::craft::write_rootfs_to_path(spec, &path).map_err(|source| {
                FixtureError::Craft {
                    scenario: scenario.source.clone(),
                    name: name.clone(),
                    source,
                }
            })?;
            book.add_rootfs(name, &facts);
            rootfs.insert(name.clone(), (path, facts));
        }
        Ok(Fixtures {
            _dir: dir,
            archives,
            rootfs,
            book,
        })
    }

    /// The archive path of fixture `name`. Resolution guarantees every fixture a step names
    /// exists.
    pub fn path(&self, name: &str) -> &Path {
        &self.archives[name].0
    }

    /// What crafting fixture `name` wrote.
    pub fn facts(&self, name: &str) -> &CraftedArchive {
        &self.archives[name].1
    }

    /// The file of rootfs fixture `name` (resolution guarantees it exists).
    pub fn rootfs_path(&self, name: &str) -> &Path {
        &self.rootfs[name].0
    }

    /// What crafting rootfs fixture `name` wrote.
    pub fn rootfs_facts(&self, name: &str) -> &RootfsFacts {
        &self.rootfs[name].1
    }

    /// Every fixture's facts, by name.
    pub fn all_facts(&self) -> BTreeMap<String, CraftedArchive> {
        self.archives
            .iter()
            .map(|(name, (_, facts))| (name.clone(), facts.clone()))
            .collect()
    }

    /// The digests of every fixture, for symbols.
    pub fn book(&self) -> &DigestBook {
        &self.book
    }
}
