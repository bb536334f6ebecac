//! Configuration: `matrix.yaml` (the runtime cells) and `scenarios/*.yaml` (what to run on
//! them), loaded into values the runner can trust.
//!
//! Parsing has two passes, as in ripgrep's low-level/high-level arguments and nextest's config.
//! The first pass is serde: the YAML becomes `Raw*` types that mirror the file exactly, with
//! serde-saphyr [`Spanned`](serde_saphyr::Spanned) positions on the values later checks need.
//! Shape errors (bad YAML, unknown keys, wrong types) stop there, already with a line and column.
//! The second pass resolves what the file *means*: matrix expansion, cross-references (a step's
//! fixture, a known issue's step), uniqueness, version constraints. It produces [`Matrix`] /
//! [`Cell`] and [`Scenario`] values whose invariants hold by construction, so the runner never
//! re-validates and every semantic error can still point at `file:line:col` and a field path.
//! Doing both in one serde pass would either lose positions (custom `Deserialize` impls cannot
//! see other parts of the document) or spread `Spanned` wrappers through the types the runner
//! uses.
//!
//! A scenario file may hold several scenarios (`---`-separated YAML documents) and use
//! variables (`${cell.runtime}` ...; [`vars`]), which are substituted per cell by resolving the
//! scenario again with that cell's values ([`Scenario::for_cell`]).
//!
//! Every error is a [`ConfigError`], printed as `path:line:col: field: message`.

mod claim;
mod error;
mod expand;
mod matrix;
pub mod produced;
mod scenario;
pub mod schema;
mod selector;
mod step;
pub mod vars;
mod yaml;

pub(crate) use claim::ClaimFields;
pub use claim::{ClaimReader, Expectation, IdRole, Outcome, Site, Trials, require_something};
pub use error::{ConfigError, ConfigErrorKind, Position};
pub use matrix::{Cell, Matrix, RuntimeKind, load_matrix, parse_matrix};
pub use produced::{ProducedFixture, ProducedFrom, Producer};
pub use scenario::{
    KnownIssue, Scenario, check_unique_names, load_scenario, load_scenarios, parse_scenario,
    parse_scenarios,
};
pub use selector::{AppliesTo, Selector, VersionConstraint, VersionConstraintError};
pub use step::Step;

/// Loads a standalone fixture spec (`harness craft SPEC.yaml`): the same language as a
/// scenario's `fixtures:` entries, with errors that name file, line, column and field.
pub fn load_fixture_spec(path: &std::path::Path) -> Result<crate::craft::FixtureSpec, ConfigError> {
    let src = yaml::read(path)?;
    yaml::parse(&src, path)
}
