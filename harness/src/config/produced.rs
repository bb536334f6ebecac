//! Produced fixtures (issue 9, item 5): a fixture that a runtime writes instead of the harness.
//!
//! ```yaml
//! fixtures:
//!   docker26-build:
//!     produced_by: { runtime: docker, version: "26.1", store: containerd }
//!     build: busybox               # scenarios/contexts/busybox (or load: <a crafted fixture>)
//!     tag: example.test/produced:v1
//!     save: docker-archive         # or oci-archive
//!   docker26-push:
//!     produced_by: { runtime: docker, version: "26.1", store: containerd }
//!     load: base
//!     tag: example.test/produced:v2
//!     push: true                   # what its push landed in a registry, instead of a save
//! ```
//!
//! With `push: true` the producer pushes `tag` to a registry of its own, and the fixture is
//! what landed there, byte for byte, as an OCI layout archive (`runtime/registry/export.rs`);
//! a consuming cell `publish`es it to its registry and pulls it, so every runtime pulls what
//! every other pushed.
//!
//! A fixture entry is a produced one when its first key is one of the produced keys
//! (`produced_by`, `build`, `load`, `tag`, `save`), which no crafted spec has; otherwise it is
//! a crafted spec. The entry is read by replaying that first key into the chosen type's own
//! deserializer, so both keep serde-saphyr's positions in their errors (an untagged enum would
//! buffer the value and lose them). How produced fixtures are run, cached and shared is
//! `run/produce.rs`.

use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::error::{ConfigError, ConfigErrorKind, UnknownValue};
use crate::craft::{FixtureSpec, RootfsSpec};
use crate::runtime::{RuntimeKind, SaveFormat};

/// The keys of a produced fixture, in documented order.
pub(crate) const PRODUCED_KEYS: &[&str] = &[
    "produced_by",
    "build",
    "load",
    "import",
    "tag",
    "save",
    "push",
    "builder",
];

/// One `fixtures:` entry as written: a crafted image archive, a crafted rootfs tarball
/// (`{ rootfs: ... }`, see `craft/rootfs.rs`), or produced by a runtime. Which one is decided
/// by the first key only; the rest of the mapping goes to that form's own reader, so its
/// errors keep their fields and positions.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum RawFixture {
    Crafted(FixtureSpec),
    Rootfs(RootfsSpec),
    Produced(RawProduced),
}

/// A produced fixture as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProduced {
    produced_by: RawProducer,
    #[serde(default)]
    build: Option<Spanned<String>>,
    #[serde(default)]
    load: Option<Spanned<String>>,
    /// A rootfs fixture of the same scenario, imported (named `tag`) then saved.
    #[serde(default)]
    import: Option<Spanned<String>>,
    tag: Spanned<String>,
    #[serde(default)]
    save: Option<Spanned<SaveFormat>>,
    /// `true`: push `tag` to a registry and hand over what landed, instead of a save.
    #[serde(default)]
    push: Option<Spanned<bool>>,
    /// With `build`: the builder (default: the runtime's own default, as its CLI's).
    #[serde(default)]
    builder: Option<crate::build::BuilderKind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProducer {
    runtime: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    store: Spanned<String>,
    #[serde(default)]
    api: Option<Spanned<String>>,
}

/// The runtime, version and store that produce a fixture: a cell of its own, started through
/// the normal provider path (`version` resolves to the host or a Debian suite as a matrix
/// cell's does).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Producer {
    pub runtime: RuntimeKind,
    /// `host` by default.
    pub version: String,
    pub store: String,
    /// The API the producer goes through, when not the runtime's default (`api: ctr` saves
    /// with `ctr images export`; see runtime/api.rs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

/// What the producer makes the image from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProducedFrom {
    /// `build: NAME`: the build context `contexts/NAME` beside the scenario file, packed by
    /// `build::pack_context`.
    Build {
        context: String,
        #[serde(skip)]
        dir: PathBuf,
        /// `None`: the producer's default builder.
        #[serde(skip_serializing_if = "Option::is_none")]
        builder: Option<crate::build::BuilderKind>,
    },
    /// `load: FIXTURE`: a crafted fixture of the same scenario, loaded then saved again.
    Load { fixture: String },
    /// `import: FIXTURE`: a rootfs fixture of the same scenario, imported as `tag` then saved
    /// (R2's round trip: what the importing runtime stored, as others read it).
    Import { fixture: String },
}

/// A produced fixture, resolved: the producer's runtime and store are valid, the context
/// exists or the loaded fixture is a crafted one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProducedFixture {
    pub producer: Producer,
    pub from: ProducedFrom,
    /// The name the producer gives the image and saves it by.
    pub tag: String,
    /// `docker-archive` by default; `oci-archive` with `push` (the layout the harness writes
    /// what landed in).
    pub save: SaveFormat,
    /// Pushed to a registry instead of saved: the artifact is what landed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub push: bool,
}

impl<'de> Deserialize<'de> for RawFixture {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFixture;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a fixture spec (crafted, or produced_by a runtime)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFixture, A::Error> {
                let first: Option<String> = map.next_key()?;
                if first.as_deref() == Some("rootfs") {
                    let spec: RootfsSpec = map.next_value()?;
                    if let Some(other) = map.next_key::<String>()? {
                        return Err(de::Error::custom(format!(
                            "a rootfs fixture has only the key `rootfs`, found `{other}` too"
                        )));
                    }
                    return Ok(RawFixture::Rootfs(spec));
                }
                let produced = first.as_deref().is_some_and(|k| PRODUCED_KEYS.contains(&k));
                let replay = de::value::MapAccessDeserializer::new(Replay { first, map });
                if produced {
                    RawProduced::deserialize(replay).map(RawFixture::Produced)
                } else {
                    FixtureSpec::deserialize(replay).map(RawFixture::Crafted)
                }
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A map whose first key was already read: it hands that key out again, then the rest.
struct Replay<A> {
    first: Option<String>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(k) => seed
                .deserialize(IntoDeserializer::<A::Error>::into_deserializer(k))
                .map(Some),
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

impl RawProduced {
    /// Checks the producer and its source: `crafted` are the scenario's crafted fixture names.
    pub(crate) fn resolve(
        self,
        path: &Path,
        field: &str,
        crafted: &std::collections::BTreeMap<String, FixtureSpec>,
        rootfs: &std::collections::BTreeMap<String, crate::craft::RootfsSpec>,
    ) -> Result<ProducedFixture, ConfigError> {
        let err = |at, sub: &str, kind| ConfigError::at(path, at, format!("{field}.{sub}"), kind);
        let p = self.produced_by;
        let runtime: RuntimeKind =
            p.runtime
                .value
                .parse()
                .map_err(|e: crate::runtime::UnknownRuntime| {
                    err(
                        p.runtime.referenced,
                        "produced_by.runtime",
                        ConfigErrorKind::Yaml(e.to_string()),
                    )
                })?;
        if let Some(api) = &p.api {
            super::selector::check_api(
                path,
                &format!("{field}.produced_by.api"),
                Some(runtime),
                api,
            )?;
        }
        let api = p
            .api
            .map(|a| a.value)
            .filter(|a| a != crate::runtime::api::default_api(runtime));
        let stores = crate::runtime::accepts::stores(runtime);
        if !stores.contains(&p.store.value.as_str()) {
            return Err(err(
                p.store.referenced,
                "produced_by.store",
                ConfigErrorKind::UnknownValue(Box::new(UnknownValue {
                    what: "store",
                    value: p.store.value,
                    runtime: Some(runtime.as_str()),
                    known: stores.to_vec(),
                })),
            ));
        }
        let sources = [
            self.build.as_ref().map(|b| ("build", b)),
            self.load.as_ref().map(|l| ("load", l)),
            self.import.as_ref().map(|i| ("import", i)),
        ];
        let mut given = sources.iter().flatten();
        let Some(&(key, source)) = given.next() else {
            return Err(err(
                self.tag.referenced,
                "build",
                ConfigErrorKind::Conflict("a produced fixture needs build, load or import"),
            ));
        };
        if let Some((second, other)) = given.next() {
            return Err(err(
                other.referenced,
                second,
                ConfigErrorKind::Conflict("a produced fixture has one of build, load and import"),
            ));
        }
        let from = match key {
            "build" => {
                let base = path.parent().unwrap_or(Path::new("."));
                let dir = base.join("contexts").join(&source.value);
                if source.value.contains('/') || !dir.join("Dockerfile").is_file() {
                    return Err(err(
                        source.referenced,
                        "build",
                        ConfigErrorKind::Fixture(format!(
                            "no build context {} (a directory with a Dockerfile under contexts/)",
                            dir.display()
                        )),
                    ));
                }
                ProducedFrom::Build {
                    context: source.value.clone(),
                    dir,
                    builder: self.builder,
                }
            }
            "load" => {
                if !crafted.contains_key(&source.value) {
                    return Err(err(
                        source.referenced,
                        "load",
                        ConfigErrorKind::UnknownFixture {
                            name: source.value.clone(),
                            known: crafted.keys().cloned().collect(),
                        },
                    ));
                }
                ProducedFrom::Load {
                    fixture: source.value.clone(),
                }
            }
            _ => {
                if !rootfs.contains_key(&source.value) {
                    return Err(err(
                        source.referenced,
                        "import",
                        ConfigErrorKind::UnknownFixture {
                            name: source.value.clone(),
                            known: rootfs.keys().cloned().collect(),
                        },
                    ));
                }
                ProducedFrom::Import {
                    fixture: source.value.clone(),
                }
            }
        };
        if self.tag.value.is_empty() {
            return Err(err(self.tag.referenced, "tag", ConfigErrorKind::Empty));
        }
        let push = self.push.as_ref().is_some_and(|p| p.value);
        if push && let Some(save) = &self.save {
            return Err(err(
                save.referenced,
                "save",
                ConfigErrorKind::Conflict(
                    "a pushed fixture is what landed in the registry: no save",
                ),
            ));
        }
        Ok(ProducedFixture {
            producer: Producer {
                runtime,
                version: p
                    .version
                    .unwrap_or_else(|| crate::runtime::provider::HOST_VERSION.to_string()),
                store: p.store.value,
                api,
            },
            from,
            tag: self.tag.value,
            save: match (push, self.save) {
                (true, _) => SaveFormat::OciArchive,
                (false, save) => save.map_or(SaveFormat::DockerArchive, |s| s.value),
            },
            push,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_entries_are_rootfs_or_image_specs_and_image_errors_keep_their_field() {
        use crate::craft::Compression;
        let d: RawFixture = serde_saphyr::from_str(
            "rootfs: { compression: zstd, files: [{ path: a, content: b }] }",
        )
        .unwrap();
        assert!(matches!(
            d,
            RawFixture::Rootfs(RootfsSpec {
                compression: Compression::Zstd,
                ..
            })
        ));
        let d: RawFixture = serde_saphyr::from_str("layout: oci-archive\nlayers: []").unwrap();
        assert!(matches!(d, RawFixture::Crafted(_)));
        let err = serde_saphyr::from_str::<RawFixture>("layout: oci\nlayers: []").unwrap_err();
        assert!(err.to_string().contains("unknown variant `oci`"), "{err}");
        let err = serde_saphyr::from_str::<RawFixture>(
            "rootfs: { files: [{ path: a }] }\nlayout: oci-archive",
        )
        .unwrap_err();
        assert!(err.to_string().contains("only the key `rootfs`"), "{err}");
        let err = serde_saphyr::from_str::<RawFixture>("rootfs: { files: [], compresion: xz }")
            .unwrap_err();
        assert!(err.to_string().contains("compresion"), "{err}");
    }
    use crate::config::{ProducedFrom, parse_scenario};
    use std::path::Path;

    const CRAFTED: &str = "  hybrid:\n    layout: docker-oci-hybrid\n    name: example.test/x:v1\n    layers: [{ files: [{ path: x, content: x }] }]\n";

    fn scenario(fixtures: &str) -> String {
        format!(
            "name: s\nsummary: s\nfixtures:\n{CRAFTED}{fixtures}steps:\n  - id: l\n    load: again\n"
        )
    }

    #[test]
    fn a_produced_fixture_is_told_from_a_crafted_one_by_its_first_key() {
        let s = parse_scenario(
            &scenario("  again:\n    produced_by: { runtime: podman, store: overlay }\n    load: hybrid\n    tag: example.test/again:v1\n"),
            Path::new("scenarios/s.yaml"),
        )
        .unwrap();
        assert_eq!(s.fixtures.keys().collect::<Vec<_>>(), ["hybrid"]);
        let p = &s.produced["again"];
        assert_eq!(p.producer.version, "host");
        assert_eq!(
            p.from,
            ProducedFrom::Load {
                fixture: "hybrid".into()
            }
        );
        assert_eq!(p.save, crate::runtime::SaveFormat::DockerArchive);
    }

    #[rstest::rstest]
    #[case::unknown_produced_key(
        "  again:\n    produced_by: { runtime: podman, store: overlay }\n    laod: hybrid\n    tag: t\n",
        "s.yaml:10:5: fixtures.again.laod: unknown field `laod`"
    )]
    #[case::unknown_store(
        "  again:\n    produced_by: { runtime: podman, store: overlay2 }\n    load: hybrid\n    tag: t\n",
        "s.yaml:9:44: fixtures.again.produced_by.store: unknown store \"overlay2\" for podman"
    )]
    #[case::unknown_crafted_fixture(
        "  again:\n    produced_by: { runtime: docker, store: vfs }\n    load: nope\n    tag: t\n",
        "s.yaml:10:11: fixtures.again.load: unknown fixture \"nope\""
    )]
    #[case::no_context(
        "  again:\n    produced_by: { runtime: docker, store: vfs }\n    build: nope\n    tag: t\n",
        "s.yaml:10:12: fixtures.again.build: invalid fixture: no build context"
    )]
    #[case::push_and_save(
        "  again:\n    produced_by: { runtime: docker, store: vfs }\n    load: hybrid\n    tag: t\n    push: true\n    save: oci-archive\n",
        "s.yaml:13:11: fixtures.again.save: a pushed fixture is what landed in the registry: no save"
    )]
    #[case::crafted_errors_keep_their_positions(
        "  again:\n    layout: oci\n    layers: []\n",
        "s.yaml:9:13: fixtures.again.layout: unknown variant `oci`"
    )]
    fn errors_point_at_the_field(#[case] fixtures: &str, #[case] want: &str) {
        let e = parse_scenario(&scenario(fixtures), Path::new("scenarios/s.yaml")).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
}
