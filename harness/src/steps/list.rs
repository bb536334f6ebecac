//! The `list` step: the names and IDs in the store, as the runtime lists them (`docker
//! images -a`, libpod `GET /images/json?all=true`, containerd `Images.List`), with IDs as
//! symbols where they equal a fixture's digest.
//!
//! ```yaml
//! - id: list-all
//!   list: example.test/     # only names starting with this (empty or ~: every image)
//!   expect:
//!     - contains: [example.test/save:v1]   # names that must be listed
//!     - names: [example.test/save:v1]      # the exact set of listed names
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{DigestRole, Finding};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, require_something};
use crate::runtime::BoxFuture;

/// The `list` step kind.
pub struct List;

/// `list: <prefix>`, resolved (`""`: every image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListAction {
    pub prefix: String,
}

/// What an expectation or known issue can claim about a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListClaim {
    /// The exact set of names listed (after the prefix filter), sorted.
    pub names: Option<Vec<String>>,
    /// Names that must be among them.
    pub contains: Option<Vec<String>>,
    /// Names that must not be.
    pub not_contains: Option<Vec<String>>,
}

/// One listed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedImage {
    /// Its names that pass the filter, sorted.
    pub names: Vec<String>,
    /// The ID, symbolic where known.
    pub id: String,
    pub id_is: Option<DigestRole>,
}

/// What a listing observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListObservation {
    pub id: String,
    /// `list` or `list <prefix>`.
    pub action: String,
    /// Images with at least one name passing the filter (every image, named or not, without
    /// a filter), sorted by names then ID.
    pub images: Vec<ListedImage>,
}

const CLAIMS: &[&str] = &["names", "contains", "not_contains"];

impl StepKind for List {
    const KEY: &'static str = "list";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = Option<String>;
    type Action = ListAction;
    type Claim = ListClaim;
    type Observation = ListObservation;

    fn resolve(
        raw: Spanned<Option<String>>,
        _cx: &ResolveContext<'_>,
    ) -> Result<ListAction, ConfigError> {
        Ok(ListAction {
            prefix: raw.value.unwrap_or_default(),
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<ListClaim, ConfigError> {
        let sorted = |n: Option<Vec<Spanned<String>>>| {
            n.map(|n| {
                n.into_iter()
                    .map(|n| n.value)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
            })
        };
        let names = sorted(r.take_strings("names")?);
        let contains = sorted(r.take_strings("contains")?);
        let not_contains = sorted(r.take_strings("not_contains")?);
        require_something(
            r,
            &[names.is_some(), contains.is_some(), not_contains.is_some()],
            CLAIMS,
        )?;
        Ok(ListClaim {
            names,
            contains,
            not_contains,
        })
    }

    fn describe(action: &ListAction) -> String {
        if action.prefix.is_empty() {
            "list".into()
        } else {
            format!("list {}", action.prefix)
        }
    }

    fn run<'a>(
        id: &'a str,
        action: &'a ListAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<ListObservation, StepError>> {
        Box::pin(async move {
            let book = cx.redact.book;
            let mut images: Vec<ListedImage> = cx
                .runtime
                .list_images()
                .await?
                .into_iter()
                .filter_map(|i| {
                    let mut names: Vec<String> = i
                        .names
                        .iter()
                        .filter(|n| n.starts_with(&action.prefix))
                        .map(|n| cx.redact.text(n))
                        .collect();
                    names.sort();
                    (action.prefix.is_empty() || !names.is_empty()).then(|| ListedImage {
                        names,
                        id: book.symbol(&i.id),
                        id_is: book.lookup(&i.id).map(|(role, _)| role),
                    })
                })
                .collect();
            images.sort_by(|a, b| (&a.names, &a.id).cmp(&(&b.names, &b.id)));
            Ok(ListObservation {
                id: id.to_string(),
                action: Self::describe(action),
                images,
            })
        })
    }

    fn contradictions(claim: &ListClaim, obs: &ListObservation) -> Vec<Contradiction> {
        let listed: BTreeSet<&str> = obs
            .images
            .iter()
            .flat_map(|i| i.names.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        if let Some(want) = &claim.names
            && want.iter().map(String::as_str).ne(listed.iter().copied())
        {
            out.push(Contradiction::of(
                "names",
                format!("{}: expected names {want:?}, got {listed:?}", obs.id),
            ));
        }
        for name in claim.contains.iter().flatten() {
            if !listed.contains(name.as_str()) {
                out.push(Contradiction {
                    claim: "contains",
                    subject: Some(name.clone()),
                    message: format!("{}: {name} is not listed (listed: {listed:?})", obs.id),
                });
            }
        }
        for name in claim.not_contains.iter().flatten() {
            if listed.contains(name.as_str()) {
                out.push(Contradiction {
                    claim: "not_contains",
                    subject: Some(name.clone()),
                    message: format!("{}: {name} is listed", obs.id),
                });
            }
        }
        out
    }

    fn id(obs: &ListObservation) -> &str {
        &obs.id
    }

    fn findings(_: &ListObservation) -> &[Finding] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_containing_claims() {
        let obs = ListObservation {
            id: "l".into(),
            action: "list".into(),
            images: vec![ListedImage {
                names: vec!["a:1".into(), "b:1".into()],
                id: "config(f)".into(),
                id_is: Some(DigestRole::Config),
            }],
        };
        let ok = ListClaim {
            names: Some(vec!["a:1".into(), "b:1".into()]),
            contains: Some(vec!["a:1".into()]),
            not_contains: Some(vec!["c:1".into()]),
        };
        assert!(List::contradictions(&ok, &obs).is_empty());
        let bad = ListClaim {
            names: Some(vec!["a:1".into()]),
            contains: Some(vec!["c:1".into()]),
            not_contains: Some(vec!["b:1".into()]),
        };
        let keys: Vec<_> = List::contradictions(&bad, &obs)
            .iter()
            .map(|c| c.claim)
            .collect();
        assert_eq!(keys, ["names", "contains", "not_contains"]);
    }
}
