//! [`Selector`]: the `when:` of an expectation or known issue, which picks the cells it applies
//! to; and [`VersionConstraint`], its `version` key.
//!
//! The version constraint is checked against the version the runtime *reports* (`podman
//! version`, the Engine API's `Version`), not the matrix's `version` value: a cell with
//! `version: host` runs whatever is installed, and only the observed string says which
//! behaviour to expect. Only the leading dotted numbers of that string take part, compared
//! numerically component by component (`20.10.24+dfsg1` is 20.10.24, `v1.7.13` is 1.7.13,
//! `25.0.0-rc.1` is 25.0.0), because distribution suffixes and pre-release tags do not change
//! which upstream behaviour a build has.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::error::{ConfigError, ConfigErrorKind, UnknownValue};
use super::matrix::{Cell, RuntimeKind};

/// Which cells something applies to. Every key that is set must match; an empty selector
/// matches every cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selector {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionConstraint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    /// The API the cell goes through (`libpod`, `compat`, `grpc`, `ctr`, `engine`): a cell
    /// without `api:` is on its runtime's default API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

/// The API `cell` goes through: its `api`, or its runtime's default.
fn cell_api(cell: &Cell) -> &str {
    cell.api
        .as_deref()
        .unwrap_or_else(|| crate::runtime::api::default_api(cell.runtime))
}

impl Selector {
    /// Whether this selector picks `cell`, whose runtime reported `observed_version`.
    pub fn matches(&self, cell: &Cell, observed_version: &str) -> bool {
        self.runtime.is_none_or(|r| r == cell.runtime)
            && self.store.as_ref().is_none_or(|s| *s == cell.store)
            && self
                .builder
                .as_ref()
                .is_none_or(|b| cell.builder.as_ref() == Some(b))
            && self.api.as_deref().is_none_or(|a| a == cell_api(cell))
            && self
                .version
                .as_ref()
                .is_none_or(|v| v.matches(observed_version))
    }

    /// Whether this selector can match `cell` at all, before any instance reports its version:
    /// runtime, store and builder must match; a version constraint is checked against the
    /// cell's version only when the cell names one (`host` can be any version).
    pub fn may_match(&self, cell: &Cell) -> bool {
        self.runtime.is_none_or(|r| r == cell.runtime)
            && self.store.as_ref().is_none_or(|s| *s == cell.store)
            && self
                .builder
                .as_ref()
                .is_none_or(|b| cell.builder.as_ref() == Some(b))
            && self.api.as_deref().is_none_or(|a| a == cell_api(cell))
            && self.version.as_ref().is_none_or(|v| {
                cell.version == "host"
                    || v.matches(&cell.version)
                    || v.may_match_prefix(&cell.version)
            })
    }

    /// Whether this selector has no keys and so matches every cell.
    pub fn is_all(&self) -> bool {
        *self == Self::default()
    }
}

/// `when:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSelector {
    runtime: Option<RuntimeKind>,
    version: Option<Spanned<String>>,
    store: Option<Spanned<String>>,
    builder: Option<Spanned<String>>,
    api: Option<Spanned<String>>,
}

impl RawSelector {
    /// Resolves the selector found at `field` (such as `steps[0].expect[1].when`).
    pub(crate) fn resolve(
        self,
        path: &std::path::Path,
        field: &str,
    ) -> Result<Selector, ConfigError> {
        let version = self
            .version
            .map(|v| {
                v.value.parse::<VersionConstraint>().map_err(|e| {
                    ConfigError::at(path, v.referenced, format!("{field}.version"), e.into())
                })
            })
            .transpose()?;
        // A value no runtime accepts would make the selector match no cell, silently.
        if let Some(store) = &self.store {
            check_store(path, &format!("{field}.store"), self.runtime, store)?;
        }
        if let Some(builder) = &self.builder {
            check_builder(path, &format!("{field}.builder"), builder)?;
        }
        if let Some(api) = &self.api {
            check_api(path, &format!("{field}.api"), self.runtime, api)?;
        }
        Ok(Selector {
            runtime: self.runtime,
            version,
            store: self.store.map(|s| s.value),
            builder: self.builder.map(|b| b.value),
            api: self.api.map(|a| a.value),
        })
    }
}

/// `applies_to:` of a step or a scenario: one selector, or a list of them of which any may
/// pick the cell. Empty (the key absent) applies everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AppliesTo(pub Vec<Selector>);

impl AppliesTo {
    /// Whether it picks `cell`, whose runtime reported `observed_version`.
    pub fn matches(&self, cell: &Cell, observed_version: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|s| s.matches(cell, observed_version))
    }

    /// Whether it may pick `cell` before an instance reports its version
    /// ([`Selector::may_match`]); `false` means it picks the cell at no version.
    pub fn may_match(&self, cell: &Cell) -> bool {
        self.0.is_empty() || self.0.iter().any(|s| s.may_match(cell))
    }

    /// Whether it applies to every cell.
    pub fn is_all(&self) -> bool {
        self.0.is_empty() || self.0.iter().any(Selector::is_all)
    }
}

/// `applies_to:` as written: a selector mapping or a sequence of them.
#[derive(Debug)]
pub(crate) enum RawAppliesTo {
    One(Box<RawSelector>),
    Any(Vec<RawSelector>),
}

impl<'de> Deserialize<'de> for RawAppliesTo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAppliesTo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a selector (runtime, version, store, builder, api) or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let one = RawSelector::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawAppliesTo::One(Box::new(one)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::<RawSelector>::deserialize(SeqAccessDeserializer::new(seq))
                    .map(RawAppliesTo::Any)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl RawAppliesTo {
    /// Resolves the `applies_to` at `field` (`steps[0].applies_to`, `applies_to`); an empty
    /// list is refused, since it would apply nowhere.
    pub(crate) fn resolve(
        raw: Spanned<Self>,
        path: &std::path::Path,
        field: &str,
    ) -> Result<AppliesTo, ConfigError> {
        match raw.value {
            RawAppliesTo::One(s) => Ok(AppliesTo(vec![s.resolve(path, field)?])),
            RawAppliesTo::Any(list) if list.is_empty() => Err(ConfigError::at(
                path,
                raw.referenced,
                field,
                ConfigErrorKind::Empty,
            )),
            RawAppliesTo::Any(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, s)| s.resolve(path, &format!("{field}[{i}]")))
                .collect::<Result<_, _>>()
                .map(AppliesTo),
        }
    }
}

/// Checks a `store` value against what `runtime` (or, with none, any runtime) accepts.
pub(crate) fn check_store(
    path: &std::path::Path,
    field: &str,
    runtime: Option<RuntimeKind>,
    store: &Spanned<String>,
) -> Result<(), ConfigError> {
    use crate::runtime::accepts;
    let (ok, known) = match runtime {
        Some(r) => (
            accepts::stores(r).contains(&store.value.as_str()),
            accepts::stores(r).to_vec(),
        ),
        None => (
            accepts::any_accepts_store(&store.value),
            accepts::all_stores(),
        ),
    };
    if ok {
        return Ok(());
    }
    Err(ConfigError::at(
        path,
        store.referenced,
        field,
        ConfigErrorKind::UnknownValue(Box::new(UnknownValue {
            what: "store",
            value: store.value.clone(),
            runtime: runtime.map(RuntimeKind::as_str),
            known,
        })),
    ))
}

/// Checks an `api` value against the APIs `runtime` (or, with none, any runtime) has.
pub(crate) fn check_api(
    path: &std::path::Path,
    field: &str,
    runtime: Option<RuntimeKind>,
    api: &Spanned<String>,
) -> Result<(), ConfigError> {
    use crate::runtime::api;
    let known = match runtime {
        Some(r) => api::apis(r).to_vec(),
        None => api::all_apis(),
    };
    if known.contains(&api.value.as_str()) {
        return Ok(());
    }
    Err(ConfigError::at(
        path,
        api.referenced,
        field,
        ConfigErrorKind::UnknownValue(Box::new(UnknownValue {
            what: "api",
            value: api.value.clone(),
            runtime: runtime.map(RuntimeKind::as_str),
            known,
        })),
    ))
}

/// Checks a `builder` value against the builders the harness drives.
pub(crate) fn check_builder(
    path: &std::path::Path,
    field: &str,
    builder: &Spanned<String>,
) -> Result<(), ConfigError> {
    let known = crate::runtime::accepts::BUILDERS;
    if known.contains(&builder.value.as_str()) {
        return Ok(());
    }
    Err(ConfigError::at(
        path,
        builder.referenced,
        field,
        ConfigErrorKind::UnknownValue(Box::new(UnknownValue {
            what: "builder",
            value: builder.value.clone(),
            runtime: None,
            known: known.to_vec(),
        })),
    ))
}

/// A constraint on a reported runtime version: `*`, an exact version `4.3.1`, a prefix glob
/// `3.4.*`, or comparisons `>=4`, `<25`, `>4.0`, `<=5`, `=4.3.1`; clauses joined by `,` must all
/// hold (`>=4.0,<5`). Missing components count as zero, so `=4` is `4.0.0` and `<25` excludes
/// `25.0.0` but includes `24.99`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConstraint {
    text: String,
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    Any,
    /// The leading components equal these (`3.4.*`).
    Prefix(Vec<u64>),
    Compare(Op, Vec<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a `version:` constraint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version constraint {constraint:?}: {reason}")]
pub struct VersionConstraintError {
    pub constraint: String,
    pub reason: &'static str,
}

impl VersionConstraint {
    /// The constraint as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `version` (as a runtime reports it) satisfies every clause. A version without a
    /// leading number (`dev`, empty) satisfies only `*`.
    pub fn matches(&self, version: &str) -> bool {
        let observed = leading_numbers(version);
        self.clauses.iter().all(|clause| match clause {
            Clause::Any => true,
            Clause::Prefix(prefix) => observed
                .as_ref()
                .is_some_and(|o| o.len() >= prefix.len() && o[..prefix.len()] == prefix[..]),
            Clause::Compare(op, wanted) => observed.as_ref().is_some_and(|o| {
                let ord = compare(o, wanted);
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                }
            }),
        })
    }
}

impl VersionConstraint {
    /// Whether some version starting with the components of `label` (`4.3` -> `4.3.*`) could
    /// satisfy this constraint; used for cells that ask for a version by prefix. Conservative:
    /// true unless every clause compares against the label's components alone and fails.
    fn may_match_prefix(&self, label: &str) -> bool {
        let Some(prefix) = leading_numbers(label) else {
            return true;
        };
        self.clauses.iter().all(|clause| match clause {
            Clause::Any => true,
            Clause::Prefix(p) => {
                let n = p.len().min(prefix.len());
                p[..n] == prefix[..n]
            }
            Clause::Compare(op, wanted) => {
                let n = wanted.len().min(prefix.len());
                let ord = compare(&prefix[..n], &wanted[..n]);
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Lt | Op::Le => ord != Ordering::Greater,
                    Op::Gt | Op::Ge => ord != Ordering::Less,
                }
            }
        })
    }
}

impl FromStr for VersionConstraint {
    type Err = VersionConstraintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| VersionConstraintError {
            constraint: text.to_owned(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(fail("it is empty"));
        }
        let clauses = text
            .split(',')
            .map(|part| parse_clause(part.trim()).map_err(fail))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            clauses,
        })
    }
}

fn parse_clause(part: &str) -> Result<Clause, &'static str> {
    if part.is_empty() {
        return Err("empty clause between commas");
    }
    if part == "*" {
        return Ok(Clause::Any);
    }
    // Two-character operators first, so `>=` is not read as `>` followed by `=4`.
    let (op, rest) = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ]
    .into_iter()
    .find_map(|(token, op)| part.strip_prefix(token).map(|rest| (Some(op), rest.trim())))
    .unwrap_or((None, part));
    if let Some(prefix) = rest.strip_suffix(".*") {
        if op.is_some() {
            return Err("a comparison cannot use a wildcard");
        }
        return Ok(Clause::Prefix(numbers(prefix)?));
    }
    if rest.contains('*') {
        return Err("`*` is allowed only alone or as the last component (`3.4.*`)");
    }
    Ok(Clause::Compare(op.unwrap_or(Op::Eq), numbers(rest)?))
}

fn numbers(text: &str) -> Result<Vec<u64>, &'static str> {
    if text.is_empty() {
        return Err("expected a version number");
    }
    text.split('.')
        .map(|c| {
            if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
                Err("expected dot-separated numbers such as 4.3.1")
            } else {
                c.parse().map_err(|_| "version component too large")
            }
        })
        .collect()
}

/// The leading `N(.N)*` of a reported version ([`crate::runtime::Version::parse`]); `None` if
/// there is none.
fn leading_numbers(version: &str) -> Option<Vec<u64>> {
    let numbers = crate::runtime::Version::parse(version).0;
    (!numbers.is_empty()).then_some(numbers)
}

/// Compares component-wise, treating missing components as zero.
fn compare(a: &[u64], b: &[u64]) -> Ordering {
    (0..a.len().max(b.len()))
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

impl fmt::Display for VersionConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for VersionConstraint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("*", "4.3.1", true)]
    #[case("*", "dev", true)]
    #[case("4.3.1", "4.3.1", true)]
    #[case("4.3.1", "4.3.10", false)]
    #[case("4.3.1", "4.3.1-rc1", true)]
    #[case("4", "4.0.0", true)]
    #[case("4", "4.3.1", false)]
    #[case("=4.3", "4.3.0", true)]
    #[case("3.4.*", "3.4.4", true)]
    #[case("3.4.*", "3.4", true)]
    #[case("3.4.*", "3.40.1", false)]
    #[case("3.4.*", "3.5.0", false)]
    #[case("3.*", "3", true)]
    #[case(">=4", "4.3.1", true)]
    #[case(">=4", "3.4.4", false)]
    #[case(">=4", "4", true)]
    #[case("<25", "20.10.24+dfsg1", true)]
    #[case("<25", "24.99", true)]
    #[case("<25", "25.0.0", false)]
    #[case("<25", "25.0.0-rc.1", false)]
    #[case("< 25", "24.0.7", true)]
    #[case(">25", "25.0.1", true)]
    #[case(">25", "25", false)]
    #[case("<=5", "5.0.0", true)]
    #[case("<=5", "5.0.1", false)]
    #[case(">=4.0,<5", "4.9.3", true)]
    #[case(">=4.0,<5", "5.0.0", false)]
    #[case(">=4.0, <5", "3.4.4", false)]
    #[case(">=1.7", "v1.7.13", true)]
    #[case(">=20.10", "20.10.24+dfsg1", true)]
    #[case("10.*", "10+ds1", true)]
    #[case(">=4", "dev", false)]
    #[case(">=4", "", false)]
    #[case("3.4.*", "unknown", false)]
    fn version_matching(#[case] constraint: &str, #[case] observed: &str, #[case] expected: bool) {
        let c: VersionConstraint = constraint.parse().unwrap();
        assert_eq!(c.matches(observed), expected, "{constraint} vs {observed}");
    }

    #[rstest]
    #[case("", "it is empty")]
    #[case(" ", "it is empty")]
    #[case(">=", "expected a version number")]
    #[case(">=4,", "empty clause between commas")]
    #[case("latest", "expected dot-separated numbers such as 4.3.1")]
    #[case("4.x", "expected dot-separated numbers such as 4.3.1")]
    #[case("=>4", "expected dot-separated numbers such as 4.3.1")]
    #[case(">=3.*", "a comparison cannot use a wildcard")]
    #[case(
        "3.*.1",
        "`*` is allowed only alone or as the last component (`3.4.*`)"
    )]
    #[case("~4", "expected dot-separated numbers such as 4.3.1")]
    fn version_constraint_errors(#[case] constraint: &str, #[case] reason: &str) {
        let err = constraint.parse::<VersionConstraint>().unwrap_err();
        assert_eq!(err.reason, reason, "{constraint}");
    }

    fn cell(runtime: RuntimeKind, store: &str, builder: Option<&str>) -> Cell {
        Cell {
            id: String::new(),
            runtime,
            version: "host".into(),
            store: store.into(),
            builder: builder.map(Into::into),
            api: None,
            extra: BTreeMap::new(),
        }
    }

    #[rstest]
    #[case::empty_matches_all("{}", RuntimeKind::Docker, None, "1", true)]
    #[case::runtime("{ runtime: podman }", RuntimeKind::Podman, None, "4.3.1", true)]
    #[case::other_runtime("{ runtime: podman }", RuntimeKind::Docker, None, "4.3.1", false)]
    #[case::runtime_and_version(
        "{ runtime: podman, version: '>=4' }",
        RuntimeKind::Podman,
        None,
        "3.4.4",
        false
    )]
    #[case::store("{ store: vfs }", RuntimeKind::Docker, None, "1", true)]
    #[case::other_store("{ store: overlay2 }", RuntimeKind::Docker, None, "1", false)]
    #[case::builder(
        "{ builder: buildkit }",
        RuntimeKind::Docker,
        Some("buildkit"),
        "1",
        true
    )]
    #[case::no_builder("{ builder: buildkit }", RuntimeKind::Docker, None, "1", false)]
    fn selector_matching(
        #[case] yaml: &str,
        #[case] runtime: RuntimeKind,
        #[case] builder: Option<&str>,
        #[case] observed: &str,
        #[case] expected: bool,
    ) {
        let raw: RawSelector = serde_saphyr::from_str(yaml).unwrap();
        let selector = raw.resolve(std::path::Path::new("s.yaml"), "when").unwrap();
        assert_eq!(
            selector.matches(&cell(runtime, "vfs", builder), observed),
            expected
        );
    }

    #[rstest]
    #[case::default_api_without_api_key("{ api: libpod }", None, true)]
    #[case::named_api("{ api: compat }", Some("compat"), true)]
    #[case::default_is_not_compat("{ api: compat }", None, false)]
    #[case::compat_is_not_libpod("{ api: libpod }", Some("compat"), false)]
    fn api_matching(#[case] yaml: &str, #[case] api: Option<&str>, #[case] expected: bool) {
        let raw: RawSelector = serde_saphyr::from_str(yaml).unwrap();
        let selector = raw.resolve(std::path::Path::new("s.yaml"), "when").unwrap();
        let cell = Cell {
            api: api.map(Into::into),
            ..cell(RuntimeKind::Podman, "overlay", None)
        };
        assert_eq!(selector.matches(&cell, "5.4.2"), expected);
        assert_eq!(selector.may_match(&cell), expected);
    }

    #[test]
    fn an_api_the_runtime_lacks_is_refused_where_it_is_written() {
        let raw: RawSelector = serde_saphyr::from_str("runtime: docker\napi: ctr\n").unwrap();
        let err = raw
            .resolve(std::path::Path::new("s.yaml"), "steps[0].expect[0].when")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"s.yaml:2:6: steps[0].expect[0].when.api: unknown api "ctr" for docker (known: engine)"#
        );
    }

    #[test]
    fn bad_constraint_names_the_version_field() {
        let raw: RawSelector = serde_saphyr::from_str("runtime: podman\nversion: '>=x'\n").unwrap();
        let err = raw
            .resolve(std::path::Path::new("s.yaml"), "steps[0].expect[0].when")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"s.yaml:2:10: steps[0].expect[0].when.version: invalid version constraint ">=x": expected dot-separated numbers such as 4.3.1"#
        );
    }
}
