//! [`Claim`]: the observable facts a step should produce (an [`Expectation`]) or does produce
//! when a known upstream bug hits (a known issue), shared so both are checked the same way.
//!
//! A claim must assert something, and must not contradict itself: `names` and `id_is` describe
//! a loaded image, `error_contains` a failed call. Both rules are checked at load time so that a
//! scenario cannot pass vacuously.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::error::{ConfigError, ConfigErrorKind};
use super::selector::{RawSelector, Selector};

/// What a step should produce on the cells `when` selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// Which cells this applies to; empty = all.
    pub when: Selector,
    pub claim: Claim,
}

/// The observable facts an expectation (or a known issue) asserts. At least one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub outcome: Option<Outcome>,
    /// The exact set of names the image ends up with, sorted (compare sorted observed names).
    pub names: Option<Vec<String>>,
    /// Which digest the runtime reports as the image ID.
    pub id_is: Option<IdRole>,
    /// A substring of the runtime's error message; implies `outcome: error`.
    pub error_contains: Option<String>,
    /// Names a `tag` step's lookups must find the image by.
    pub found: Option<Vec<String>>,
    /// Names a `tag` step's lookups must not find the image by.
    pub not_found: Option<Vec<String>>,
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

/// The claim fields as written, shared by expectations and known issues. Both repeat them as
/// their own fields (see [`RawExpectation`]) and gather them here.
#[derive(Debug, Default)]
pub(crate) struct RawClaim {
    pub(crate) outcome: Option<Outcome>,
    pub(crate) names: Option<Vec<Spanned<String>>>,
    pub(crate) id_is: Option<IdRole>,
    pub(crate) error_contains: Option<Spanned<String>>,
    pub(crate) found: Option<Vec<String>>,
    pub(crate) not_found: Option<Vec<String>>,
}

impl RawClaim {
    /// Checks the claim written at `at` / `field` and builds the [`Claim`].
    pub(crate) fn resolve(
        self,
        path: &Path,
        at: Location,
        field: &str,
    ) -> Result<Claim, ConfigError> {
        let err = |at: Location, field: String, kind| ConfigError::at(path, at, field, kind);
        let Self {
            outcome,
            names,
            id_is,
            error_contains,
            found,
            not_found,
        } = self;
        if outcome.is_none()
            && names.is_none()
            && id_is.is_none()
            && error_contains.is_none()
            && found.is_none()
            && not_found.is_none()
        {
            return Err(err(at, field.to_owned(), ConfigErrorKind::NothingClaimed));
        }
        if outcome == Some(Outcome::Loaded) && error_contains.is_some() {
            return Err(err(
                at,
                field.to_owned(),
                ConfigErrorKind::Conflict("error_contains cannot be combined with outcome: loaded"),
            ));
        }
        if outcome == Some(Outcome::Error) && (names.is_some() || id_is.is_some()) {
            return Err(err(
                at,
                field.to_owned(),
                ConfigErrorKind::Conflict(
                    "names and id_is describe a loaded image and cannot be combined with outcome: error",
                ),
            ));
        }
        if let Some(text) = &error_contains
            && text.value.is_empty()
        {
            return Err(err(
                text.referenced,
                format!("{field}.error_contains"),
                ConfigErrorKind::Empty,
            ));
        }
        let names = names
            .map(|names| {
                let mut seen = BTreeSet::new();
                for (i, name) in names.iter().enumerate() {
                    if !seen.insert(name.value.as_str()) {
                        return Err(err(
                            name.referenced,
                            format!("{field}.names[{i}]"),
                            ConfigErrorKind::Duplicate {
                                what: "name",
                                value: name.value.clone(),
                            },
                        ));
                    }
                }
                Ok(seen.into_iter().map(str::to_owned).collect())
            })
            .transpose()?;
        Ok(Claim {
            outcome,
            names,
            id_is,
            error_contains: error_contains.map(|e| e.value),
            found,
            not_found,
        })
    }
}

/// One `expect:` item as written.
///
/// The claim fields are spelled out rather than `#[serde(flatten)]`ed from [`RawClaim`]:
/// flattening loses serde-saphyr's positions and does not work with `deny_unknown_fields`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectation {
    #[serde(default)]
    when: Option<RawSelector>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    names: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    id_is: Option<IdRole>,
    #[serde(default)]
    error_contains: Option<Spanned<String>>,
    #[serde(default)]
    found: Option<Vec<String>>,
    #[serde(default)]
    not_found: Option<Vec<String>>,
}

impl RawExpectation {
    /// Resolves the expectation at `field` (`steps[0].expect[1]`).
    pub(crate) fn resolve(
        raw: Spanned<Self>,
        path: &Path,
        field: &str,
    ) -> Result<Expectation, ConfigError> {
        let (at, raw) = (raw.referenced, raw.value);
        let when = match raw.when {
            Some(when) => when.resolve(path, &format!("{field}.when"))?,
            None => Selector::default(),
        };
        let claim = RawClaim {
            outcome: raw.outcome,
            names: raw.names,
            id_is: raw.id_is,
            error_contains: raw.error_contains,
            found: raw.found,
            not_found: raw.not_found,
        }
        .resolve(path, at, field)?;
        Ok(Expectation { when, claim })
    }
}
