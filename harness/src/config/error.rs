//! [`ConfigError`]: every way a matrix or scenario file can be wrong, with the file, the
//! position (when known) and the field path, printed as `path:line:col: field: message`.
//!
//! One type serves both files and both passes (YAML shape errors from serde-saphyr and semantic
//! errors from resolution), so the binary reports all configuration problems the same way and
//! maps them to one exit code.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

/// A 1-based line and column in a YAML file (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    /// Converts a serde-saphyr location; `None` for its "unknown" location (line 0).
    pub(crate) fn from_location(location: Location) -> Option<Self> {
        // serde-saphyr counts in u32 internally; saturate rather than wrap if that changes.
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        (location.line() != 0).then(|| Self {
            line: clamp(location.line()),
            column: clamp(location.column()),
        })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A configuration file that cannot be used, and where it goes wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}{kind}", self.prefix())]
pub struct ConfigError {
    /// The file as it was given to the loader (not canonicalized, so messages match what the
    /// user typed).
    pub path: PathBuf,
    /// Where in the file, when the problem has a place (a missing file or an empty matrix
    /// selection does not).
    pub position: Option<Position>,
    /// The field path inside the document, such as `steps[1].load`; `None` for the whole file.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// An error about the whole file.
    pub(crate) fn new(path: &Path, kind: ConfigErrorKind) -> Self {
        Self {
            path: path.to_path_buf(),
            position: None,
            field: None,
            kind,
        }
    }

    /// An error about one field, at the place serde-saphyr recorded for it.
    pub(crate) fn at(
        path: &Path,
        location: Location,
        field: impl Into<String>,
        kind: ConfigErrorKind,
    ) -> Self {
        let field = field.into();
        Self {
            path: path.to_path_buf(),
            position: Position::from_location(location),
            field: (!field.is_empty()).then_some(field),
            kind,
        }
    }

    fn prefix(&self) -> String {
        let mut out = self.path.display().to_string();
        if let Some(position) = self.position {
            out.push_str(&format!(":{position}"));
        }
        out.push_str(": ");
        if let Some(field) = &self.field {
            out.push_str(field);
            out.push_str(": ");
        }
        out
    }
}

/// What is wrong with a configuration file. Messages are lowercase fragments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read. The I/O error is part of the message rather than a
    /// `source()`, so a one-line report still says why.
    #[error("cannot read file: {0}")]
    Read(std::io::Error),
    /// The YAML is malformed or does not have the expected shape (unknown key, wrong type,
    /// missing field). The text is serde-saphyr's user-facing message.
    #[error("{0}")]
    Yaml(String),
    #[error("not a regular file")]
    NotAFile,
    #[error("larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("not UTF-8 (an invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },

    // Scenario files.
    #[error("name {name:?} does not match the file stem {stem:?}")]
    NameMismatch { name: String, stem: String },
    #[error("{what} {value:?} must match [a-z0-9-]+")]
    InvalidIdent { what: &'static str, value: String },
    #[error("duplicate {what} {value:?}")]
    Duplicate { what: &'static str, value: String },
    #[error("unknown fixture {name:?} (known: {})", list(known))]
    UnknownFixture { name: String, known: Vec<String> },
    #[error("unknown step {id:?} (known: {})", list(known))]
    UnknownStep { id: String, known: Vec<String> },
    #[error("step has no action (expected one of: {})", .expected.join(", "))]
    MissingAction { expected: &'static [&'static str] },
    #[error("step has more than one action ({}); split it into one step per action", .found.join(", "))]
    MultipleActions { found: Vec<&'static str> },
    #[error("checks nothing (set at least one of {})", .accepted.join(", "))]
    NothingClaimed { accepted: &'static [&'static str] },
    #[error("{key:?} is not a claim of a {kind} step (it claims: {})", .accepted.join(", "))]
    NotAClaim {
        key: String,
        kind: &'static str,
        accepted: &'static [&'static str],
    },
    #[error("expected {expected}")]
    WrongType { expected: &'static str },
    #[error("{0}")]
    UnknownValue(Box<UnknownValue>),
    #[error("selects no cell of {matrix} (cells: {})", list(cells))]
    SelectsNoCell { matrix: String, cells: Vec<String> },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("invalid fixture: {0}")]
    Fixture(String),
    #[error("scenario has no steps")]
    NoSteps,
    #[error("must not be empty")]
    Empty,
    #[error("expected an integer from 1 to {max}, found {value:?}")]
    InvalidRepeat { value: String, max: u32 },
    #[error("invalid duration {value:?}: {reason}")]
    InvalidDuration { value: String, reason: &'static str },
    #[error(transparent)]
    VersionConstraint(#[from] crate::config::selector::VersionConstraintError),
    /// A `${` that is not a usable variable (config/vars.rs).
    #[error("{0}")]
    Variable(Box<crate::config::vars::VariableError>),
    #[error(
        "name {name:?} does not belong to the file: in a file of several scenarios every name is {stem:?} or starts with \"{stem}-\""
    )]
    NameNotOfFile { name: String, stem: String },
    #[error("duplicate scenario name {name:?} (also in {})", .first.display())]
    DuplicateScenario { name: String, first: PathBuf },
    #[error("the file holds {count} scenarios, where one is expected")]
    NotOneScenario { count: usize },

    // Matrix files.
    #[error("axis has no values")]
    EmptyAxis,
    #[error("key {key:?} is not a matrix axis (axes: {})", list(axes))]
    NotAnAxis { key: String, axes: Vec<String> },
    #[error("cell has no {key:?} value (set it in axes or in this include entry)")]
    MissingCellKey { key: &'static str },
    #[error("unknown runtime {0:?} (expected docker, podman or containerd)")]
    UnknownRuntime(String),
    #[error("duplicate cell id {id:?} (also produced by {first})")]
    DuplicateCell { id: String, first: String },
    #[error("the matrix expands to no cells")]
    EmptyMatrix,
    #[error(
        "the matrix expands to {count} cells, more than the {max} allowed (GitHub Actions' own cap)"
    )]
    TooManyCells { count: u64, max: usize },
    #[error("no cell matches {filter:?} (available: {})", list(available))]
    NoMatchingCell {
        filter: String,
        available: Vec<String>,
    },
}

/// A selector or matrix value no runtime accepts (boxed in [`ConfigErrorKind`] to keep
/// errors small).
#[derive(Debug)]
pub struct UnknownValue {
    /// `store` or `builder`.
    pub what: &'static str,
    pub value: String,
    /// The runtime whose values it was checked against, if the context names one.
    pub runtime: Option<&'static str>,
    pub known: Vec<&'static str>,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.what, self.value)?;
        if let Some(r) = self.runtime {
            write!(f, " for {r}")?;
        }
        write!(f, " (known: {})", self.known.join(", "))
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_path_position_field_and_message() {
        let err = ConfigError {
            path: "scenarios/podman3.yaml".into(),
            position: Some(Position {
                line: 14,
                column: 11,
            }),
            field: Some("steps[1].load".into()),
            kind: ConfigErrorKind::UnknownFixture {
                name: "hybird".into(),
                known: vec!["hybrid".into(), "tag-only-oci".into()],
            },
        };
        assert_eq!(
            err.to_string(),
            r#"scenarios/podman3.yaml:14:11: steps[1].load: unknown fixture "hybird" (known: hybrid, tag-only-oci)"#
        );
    }

    #[test]
    fn display_omits_missing_parts() {
        let err = ConfigError::new(Path::new("matrix.yaml"), ConfigErrorKind::EmptyMatrix);
        assert_eq!(
            err.to_string(),
            "matrix.yaml: the matrix expands to no cells"
        );
        let err = ConfigError::at(
            Path::new("m.yaml"),
            Location::UNKNOWN,
            "",
            ConfigErrorKind::UnknownFixture {
                name: "x".into(),
                known: vec![],
            },
        );
        assert_eq!(
            err.to_string(),
            r#"m.yaml: unknown fixture "x" (known: none)"#
        );
    }
}
