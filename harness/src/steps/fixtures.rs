//! [`Fixtures`]: a scenario's crafted archives, written once into a private temp dir and shared
//! by all its cells, with the [`DigestBook`] that turns their digests into symbols; and its
//! produced fixtures (`run/produce.rs`), made on first use by a cell and shared the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::observe::{DigestBook, Redactor};
use crate::config::{ProducedFixture, ProducedFrom, Scenario};
use crate::craft::{CraftError, CraftedArchive, RootfsFacts};
use crate::results::{SnapshotCheck, Status};
use crate::run::produce::{self, ProduceEnv, ProducedArtifact};
use crate::run::snapshot;
use crate::runtime;
use std::sync::Arc;

/// The fixtures of one scenario, crafted once into a private temp dir and shared by its cells.
pub struct Fixtures {
    /// Registered for teardown, so a signal removes it too (a `TempDir` would survive `exit`).
    _dir: runtime::teardown::InstanceRoot,
    archives: BTreeMap<String, (PathBuf, CraftedArchive)>,
    /// Rootfs tarballs (for `import`), by name.
    rootfs: BTreeMap<String, (PathBuf, RootfsFacts)>,
    book: DigestBook,
    /// Produced fixtures by name, each made once (per key, see `run/produce.rs`) when the
    /// first cell asks.
    produced: BTreeMap<String, ProducedSlot>,
}

/// One produced fixture of a scenario.
struct ProducedSlot {
    fixture: ProducedFixture,
    ready: tokio::sync::OnceCell<Result<ReadyProduced, Status>>,
}

/// A produced fixture ready to load, and what checking its snapshot found.
#[derive(Clone)]
struct ReadyProduced {
    artifact: Arc<ProducedArtifact>,
    /// A missing or differing `produced__<name>` snapshot: fails the consuming cells.
    snapshot_problem: Option<String>,
}

/// What a producer made, as its snapshot shows it (`snapshots/produced__<fixture>.snap`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProducedObservation {
    pub fixture: String,
    pub producer: crate::config::Producer,
    pub from: ProducedFrom,
    pub tag: String,
    /// How the producer saved it; `None` for a pushed fixture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save: Option<runtime::SaveFormat>,
    /// For a pushed fixture: what landed in the producer's registry. `digest_is` and
    /// `rewritten` compare it with the scenario's crafted fixtures (did the pusher send the
    /// image it was given, or build its own manifest?); its digests are symbols of this
    /// fixture, whose archive holds exactly what landed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<super::push::LandedObservation>,
    /// The producer's image ID, symbolic (`config(<fixture>)` where it is the config digest).
    pub image_id: String,
    pub archive: super::save::ArchiveObservation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<super::observe::Finding>,
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
        let produced = scenario
            .produced
            .iter()
            .map(|(name, fixture)| {
                let slot = ProducedSlot {
                    fixture: fixture.clone(),
                    ready: tokio::sync::OnceCell::new(),
                };
                (name.clone(), slot)
            })
            .collect();
        Ok(Fixtures {
            _dir: dir,
            archives,
            rootfs,
            book,
            produced,
        })
    }

    /// Makes (or finds made) every produced fixture, once per scenario, and checks each one's
    /// snapshot. `Ok` holds the snapshot problems (which fail the consuming cell); `Err` is the
    /// consuming cell's status (a `skip` with the producer's reason, or an `error`).
    pub async fn produce(&self, env: &ProduceEnv) -> Result<Vec<String>, Status> {
        let mut problems = Vec::new();
        for (name, slot) in &self.produced {
            let ready = slot
                .ready
                .get_or_init(|| self.produce_one(name, &slot.fixture, env))
                .await
                .clone()?;
            problems.extend(ready.snapshot_problem);
        }
        Ok(problems)
    }

    async fn produce_one(
        &self,
        name: &str,
        fixture: &ProducedFixture,
        env: &ProduceEnv,
    ) -> Result<ReadyProduced, Status> {
        let crafted = match &fixture.from {
            ProducedFrom::Load { fixture } => self.archives.get(fixture).map(|a| a.0.as_path()),
            ProducedFrom::Import { fixture } => self.rootfs.get(fixture).map(|a| a.0.as_path()),
            ProducedFrom::Build { .. } => None,
        };
        let artifact = produce::produce(fixture, crafted, env).await?;
        // The snapshot: digests as symbols of the crafted fixtures and of this one.
        let mut book = self.book.clone();
        book.add(name, &artifact.facts);
        let redact = Redactor {
            root: Path::new(""),
            book: &book,
            registry: None,
        };
        let pushed = artifact.landed.as_ref().map(|landed| {
            let mut obs = super::push::observe_landed(landed, &redact);
            obs.digest_is = self.book.lookup(&landed.digest).map(|(role, _)| role);
            obs.rewritten = obs.digest_is.is_none();
            obs
        });
        let (archive, findings) = super::save::inspect_artifact(artifact.archive.clone(), &redact)
            .await
            .map_err(|e| {
                Status::error(
                    crate::results::ErrorKind::Runtime,
                    format!("produced fixture {name}: {e}"),
                )
            })?;
        let obs = ProducedObservation {
            fixture: name.to_string(),
            producer: fixture.producer.clone(),
            from: fixture.from.clone(),
            tag: fixture.tag.clone(),
            save: (!fixture.push).then_some(fixture.save),
            pushed,
            image_id: book.symbol(&artifact.image_id),
            archive,
            findings,
        };
        let mut body = serde_saphyr::to_string(&obs).expect("observations serialize to YAML");
        while body.ends_with('\n') {
            body.pop();
        }
        let snap = format!("produced__{name}");
        let builder = match &fixture.from {
            ProducedFrom::Build { .. } => "default",
            ProducedFrom::Load { .. } | ProducedFrom::Import { .. } => "craft",
        };
        let checked = snapshot::check(
            &env.opts.snapshot_dir,
            &snap,
            &body,
            &snapshot::SnapshotInfo {
                runtime: &artifact.runtime,
                builder,
            },
            env.opts.snapshots,
        )
        .map_err(|e| {
            Status::error(
                crate::results::ErrorKind::Snapshot,
                format!("failed to check snapshot {snap}: {e}"),
            )
        })?;
        let snapshot_problem = match checked {
            SnapshotCheck::Mismatch { new_file, .. } => Some(format!(
                "snapshot {snap} of the produced fixture differs (observed written to {})",
                new_file.display()
            )),
            SnapshotCheck::Missing { new_file } => Some(format!(
                "no snapshot {snap} of the produced fixture yet (observed written to {}; review it)",
                new_file.display()
            )),
            _ => None,
        };
        tracing::info!(
            fixture = name,
            key = %artifact.key,
            cache_hit = artifact.cache_hit,
            produce_ms = artifact.produce_ms,
            "produced fixture ready"
        );
        Ok(ReadyProduced {
            artifact,
            snapshot_problem,
        })
    }

    /// The produced fixture `name`, made. The runner produces every one before a cell's steps
    /// run, so a step never sees one that is not.
    fn ready(&self, name: &str) -> &ReadyProduced {
        match self.produced.get(name).and_then(|s| s.ready.get()) {
            Some(Ok(ready)) => ready,
            _ => panic!("produced fixture {name} is used before it is produced"),
        }
    }

    /// The archive path of fixture `name`. Resolution guarantees every fixture a step names
    /// exists.
    pub fn path(&self, name: &str) -> &Path {
        match self.archives.get(name) {
            Some((path, _)) => path,
            None => &self.ready(name).artifact.archive,
        }
    }

    /// What crafting fixture `name` wrote, or what its producer wrote, read back.
    pub fn facts(&self, name: &str) -> &CraftedArchive {
        match self.archives.get(name) {
            Some((_, facts)) => facts,
            None => &self.ready(name).artifact.facts,
        }
    }

    /// The file of rootfs fixture `name` (resolution guarantees it exists).
    pub fn rootfs_path(&self, name: &str) -> &Path {
        &self.rootfs[name].0
    }

    /// What crafting rootfs fixture `name` wrote.
    pub fn rootfs_facts(&self, name: &str) -> &RootfsFacts {
        &self.rootfs[name].1
    }

    /// The produced fixture `name`'s artifact, once made (for tests and reports: producer
    /// time, cache hits).
    pub fn produced_artifact(&self, name: &str) -> Option<Arc<ProducedArtifact>> {
        match self.produced.get(name)?.ready.get()? {
            Ok(ready) => Some(ready.artifact.clone()),
            Err(_) => None,
        }
    }

    /// Every fixture's facts, by name (produced ones once made).
    pub fn all_facts(&self) -> BTreeMap<String, CraftedArchive> {
        let mut all: BTreeMap<String, CraftedArchive> = self
            .archives
            .iter()
            .map(|(name, (_, facts))| (name.clone(), facts.clone()))
            .collect();
        for (name, slot) in &self.produced {
            if let Some(Ok(ready)) = slot.ready.get() {
                all.insert(name.clone(), ready.artifact.facts.clone());
            }
        }
        all
    }

    /// The digests of every fixture, produced ones (once made) included, for a cell's symbols.
    pub fn cell_book(&self) -> DigestBook {
        let mut book = self.book.clone();
        for (name, slot) in &self.produced {
            if let Some(Ok(ready)) = slot.ready.get() {
                book.add(name, &ready.artifact.facts);
                // Builds are not reproducible here (timestamps), nor are imports: the config
                // records the time of the import (moby `ImageService.ImportImage`;
                // containers/image `tarball.Reference.NewImageSource`, which Podman's import
                // uses). So what a runtime derives from such an artifact (Podman's manifest
                // digest, containerd's ID) differs from one production to the next.
                if matches!(
                    slot.fixture.from,
                    ProducedFrom::Build { .. } | ProducedFrom::Import { .. }
                ) {
                    book.mark_volatile(name);
                }
            }
        }
        book
    }

    /// The digests of every fixture, for symbols.
    pub fn book(&self) -> &DigestBook {
        &self.book
    }
}
