//! Claims as written: the `expect:` items of a step and the claim part of a known issue, held
//! as [`ClaimFields`] until the step kind that owns them reads them with a [`ClaimReader`].
//!
//! Which claims exist depends on the step's kind (`names` describes a loaded image, `found` a
//! tag step's lookups), and a known issue names its step by id, so the kind is known only after
//! the steps are resolved. So the first pass keeps every key except `when` as a positioned
//! YAML node, and the second pass hands them to the kind (`crate::steps`), which takes the keys
//! it understands; any key left over is an error naming the key, its position and the claims
//! the kind does accept. Adding a step kind therefore adds no field here.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::error::{ConfigError, ConfigErrorKind};
use super::selector::{RawSelector, Selector};
use super::yaml::Node;
use crate::steps;

/// What a step should produce on the cells `when` selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// Which cells this applies to; empty = all.
    pub when: Selector,
    /// What it claims, typed by the step's kind.
    pub claim: steps::Claim,
    /// On a repeated step, whether the claim must hold for every trial (default) or for at
    /// least one.
    #[serde(skip_serializing_if = "Trials::is_all")]
    pub trials: Trials,
    /// Where it is written, for reports about it after loading.
    #[serde(skip)]
    pub site: Site,
}

/// Where an expectation or known issue is written: its position and field path, for problems
/// found after the file loaded (a selector that selects no cell of the matrix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    pub position: Option<super::Position>,
    /// `steps[0].expect[1]`, `known_issues[0]`.
    pub field: String,
}

impl Site {
    pub(crate) fn new(at: Location, field: impl Into<String>) -> Site {
        Site {
            position: super::Position::from_location(at),
            field: field.into(),
        }
    }
}

/// `trials:` of an expectation on a repeated step (`repeat: N`): which trials its claim must
/// hold for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trials {
    /// Every trial (the default).
    #[default]
    All,
    /// At least one trial.
    Any,
}

impl Trials {
    /// Whether this is the default, `all`.
    pub fn is_all(&self) -> bool {
        *self == Trials::All
    }
}

/// Whether a step's runtime call succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Loaded,
    Error,
}

/// Which digest an image ID is: of the config (Docker's classic store, Podman), of the
/// manifest, or of the index (containerd image store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdRole {
    Config,
    Manifest,
    Index,
}

/// The claim keys of one expectation or known issue, as written, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimFields(pub(crate) Vec<(Spanned<String>, Spanned<Node>)>);

impl ClaimFields {
    /// Starts reading these fields for the claim at `at` / `field` (`steps[0].expect[1]`).
    pub(crate) fn reader<'a>(
        self,
        path: &'a Path,
        at: Location,
        field: &'a str,
        kind: &'static str,
    ) -> ClaimReader<'a> {
        ClaimReader {
            path,
            at,
            field,
            kind,
            fields: self.0,
        }
    }
}

/// Reads a claim's fields on behalf of a step kind: [`ClaimReader::reject_others`] refuses the
/// keys the kind does not claim, then each `take_*` removes one key and checks its shape.
pub struct ClaimReader<'a> {
    path: &'a Path,
    at: Location,
    field: &'a str,
    kind: &'static str,
    fields: Vec<(Spanned<String>, Spanned<Node>)>,
}

impl ClaimReader<'_> {
    fn take(&mut self, key: &str) -> Option<Spanned<Node>> {
        let i = self.fields.iter().position(|(k, _)| k.value == key)?;
        Some(self.fields.remove(i).1)
    }

    /// An error about the sub-field `sub` of this claim (`names[2]`), or the claim itself
    /// (`""`), at `at`.
    pub fn error(&self, at: Location, sub: &str, kind: ConfigErrorKind) -> ConfigError {
        let field = if sub.is_empty() {
            self.field.to_owned()
        } else {
            format!("{}.{sub}", self.field)
        };
        ConfigError::at(self.path, at, field, kind)
    }

    /// An error about the claim as a whole.
    pub fn error_here(&self, kind: ConfigErrorKind) -> ConfigError {
        self.error(self.at, "", kind)
    }

    /// A string value.
    pub fn take_string(&mut self, key: &str) -> Result<Option<Spanned<String>>, ConfigError> {
        let Some(node) = self.take(key) else {
            return Ok(None);
        };
        match node.value {
            Node::Scalar(s) => Ok(Some(Spanned::new(s, node.referenced, node.defined))),
            _ => Err(self.error(
                node.referenced,
                key,
                ConfigErrorKind::WrongType {
                    expected: "a string",
                },
            )),
        }
    }

    /// A sequence of strings.
    pub fn take_strings(&mut self, key: &str) -> Result<Option<Vec<Spanned<String>>>, ConfigError> {
        let Some(node) = self.take(key) else {
            return Ok(None);
        };
        let Node::Seq(items) = node.value else {
            return Err(self.error(
                node.referenced,
                key,
                ConfigErrorKind::WrongType {
                    expected: "a sequence of strings",
                },
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item.value {
                Node::Scalar(s) => Ok(Spanned::new(s, item.referenced, item.defined)),
                _ => Err(self.error(
                    item.referenced,
                    &format!("{key}[{i}]"),
                    ConfigErrorKind::WrongType {
                        expected: "a string",
                    },
                )),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// One of the unit variants of `T` (`id_is: config`), named as serde names them.
    pub fn take_choice<T: DeserializeOwned>(
        &mut self,
        key: &str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(text) = self.take_string(key)? else {
            return Ok(None);
        };
        let de = de::value::StrDeserializer::<de::value::Error>::new(&text.value);
        T::deserialize(de).map(Some).map_err(|e| {
            // serde quotes the alternatives in backticks; serde-saphyr's own messages, which
            // users see for every other field, list them plain.
            let message = e.to_string();
            let message = match message.split_once("expected one of ") {
                Some((head, tail)) => format!("{head}expected one of {}", tail.replace('`', "")),
                None => message,
            };
            self.error(text.referenced, key, ConfigErrorKind::Yaml(message))
        })
    }

    /// Rejects the first key that is not in `accepted`: it is not a claim of this step kind.
    /// Called before the kind reads its keys, so a misplaced claim is reported as such rather
    /// than as a claim that checks nothing.
    pub fn reject_others(&self, accepted: &'static [&'static str]) -> Result<(), ConfigError> {
        match self
            .fields
            .iter()
            .find(|(k, _)| !accepted.contains(&k.value.as_str()))
        {
            None => Ok(()),
            Some((key, _)) => Err(self.error(
                key.referenced,
                &key.value,
                ConfigErrorKind::NotAClaim {
                    key: key.value.clone(),
                    kind: self.kind,
                    accepted,
                },
            )),
        }
    }
}

/// One `expect:` item as written: `when`, `trials`, and the claim keys for the step kind to
/// read.
#[derive(Debug)]
pub(crate) struct RawExpectation {
    pub(crate) when: Option<RawSelector>,
    pub(crate) trials: Option<Spanned<Trials>>,
    pub(crate) claims: ClaimFields,
}

impl RawExpectation {
    /// Resolves the expectation at `field` (`steps[0].expect[1]`) against the step's action;
    /// `repeated` says whether the step has `repeat:` above 1, without which `trials` means
    /// nothing and is refused.
    pub(crate) fn resolve(
        raw: Spanned<Self>,
        path: &Path,
        field: &str,
        action: &steps::Action,
        repeated: bool,
    ) -> Result<Expectation, ConfigError> {
        let (at, raw) = (raw.referenced, raw.value);
        let when = match raw.when {
            Some(when) => when.resolve(path, &format!("{field}.when"))?,
            None => Selector::default(),
        };
        let trials = match raw.trials {
            Some(t) if !repeated => {
                return Err(ConfigError::at(
                    path,
                    t.referenced,
                    format!("{field}.trials"),
                    ConfigErrorKind::Conflict(
                        "trials applies only to a step with repeat: 2 or more (this step runs once)",
                    ),
                ));
            }
            Some(t) => t.value,
            None => Trials::All,
        };
        let claim = action.resolve_claim(raw.claims, path, at, field)?;
        Ok(Expectation {
            when,
            claim,
            trials,
            site: Site::new(at, field),
        })
    }
}

impl<'de> Deserialize<'de> for RawExpectation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawExpectation;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an expectation (a mapping of `when`, `trials` and claims)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut when, mut trials) = (None, None);
                let mut claims = ClaimFields::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "when" => when = Some(map.next_value()?),
                        "trials" => trials = Some(map.next_value()?),
                        _ => claims.0.push((key, map.next_value()?)),
                    }
                }
                Ok(RawExpectation {
                    when,
                    trials,
                    claims,
                })
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Checks that a claim with these keys set asserts something, naming what it could assert.
pub fn require_something(
    reader: &ClaimReader<'_>,
    set: &[bool],
    accepted: &'static [&'static str],
) -> Result<(), ConfigError> {
    if set.iter().any(|s| *s) {
        Ok(())
    } else {
        Err(reader.error_here(ConfigErrorKind::NothingClaimed { accepted }))
    }
}
