//! The `remove` step: remove an image by name or ID as `docker rmi` / `podman rmi` /
//! `ctr images rm` do, and observe what the runtime said it untagged and deleted, and what
//! left the store. The semantics differ by runtime, which is the point of observing them:
//! Docker (moby `ImageService.ImageDelete`) and Podman (libimage `Image.remove`) *untag* a
//! name whose image has other names and *delete* the image with its last name; containerd
//! deletes one record (a record is a name) and leaves the content to garbage collection.
//!
//! ```yaml
//! - id: rm-second-name
//!   remove: example.test/save:second
//!   expect:
//!     - outcome: removed             # removed | not-found | error
//!       names_removed: [example.test/save:second]
//!       image_gone: false            # the image itself is still in the store
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{ErrorObservation, Finding};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, require_something};
use crate::runtime::{BoxFuture, RemoveOutcome};

/// The `remove` step kind.
pub struct Remove;

/// `remove: <name or ID>`, resolved: not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoveAction {
    pub name: String,
}

/// What the runtime answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemoveWord {
    Removed,
    NotFound,
    Error,
}

/// What an expectation or known issue can claim about a remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemoveClaim {
    pub outcome: Option<RemoveWord>,
    /// The exact set of names that left the store's listing.
    pub names_removed: Option<Vec<String>>,
    /// Whether an image (an ID) left the store.
    pub image_gone: Option<bool>,
    pub error_contains: Option<String>,
}

/// What a remove observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveObservation {
    pub id: String,
    /// `remove <name>`.
    pub action: String,
    pub outcome: RemoveWord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// What the runtime reported it untagged, as reported (symbols for known digests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untagged: Vec<String>,
    /// What the runtime reported it deleted (image IDs, layers), symbolic where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// Names in the listing before and not after, sorted.
    pub names_removed: Vec<String>,
    /// IDs in the listing before and not after, symbolic, sorted.
    pub images_gone: Vec<String>,
}

const CLAIMS: &[&str] = &["outcome", "names_removed", "image_gone", "error_contains"];

impl StepKind for Remove {
    const KEY: &'static str = "remove";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = String;
    type Action = RemoveAction;
    type Claim = RemoveClaim;
    type Observation = RemoveObservation;

    fn resolve(raw: Spanned<String>, cx: &ResolveContext<'_>) -> Result<RemoveAction, ConfigError> {
        if raw.value.is_empty() {
            return Err(cx.error(raw.referenced, "remove", ConfigErrorKind::Empty));
        }
        Ok(RemoveAction { name: raw.value })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<RemoveClaim, ConfigError> {
        let outcome: Option<RemoveWord> = r.take_choice("outcome")?;
        let names_removed = r.take_strings("names_removed")?;
        let image_gone = match r.take_string("image_gone")? {
            None => None,
            Some(s) if s.value == "true" => Some(true),
            Some(s) if s.value == "false" => Some(false),
            Some(s) => {
                return Err(r.error(
                    s.referenced,
                    "image_gone",
                    ConfigErrorKind::WrongType {
                        expected: "true or false",
                    },
                ));
            }
        };
        let error_contains = r.take_string("error_contains")?;
        require_something(
            r,
            &[
                outcome.is_some(),
                names_removed.is_some(),
                image_gone.is_some(),
                error_contains.is_some(),
            ],
            CLAIMS,
        )?;
        Ok(RemoveClaim {
            outcome,
            names_removed: names_removed.map(|n| {
                n.into_iter()
                    .map(|n| n.value)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            }),
            image_gone,
            error_contains: error_contains.map(|e| e.value),
        })
    }

    fn describe(action: &RemoveAction) -> String {
        format!("remove {}", action.name)
    }

    fn run<'a>(
        id: &'a str,
        action: &'a RemoveAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<RemoveObservation, StepError>> {
        Box::pin(async move {
            let rt = cx.runtime;
            let before = rt.list_images().await?;
            let outcome = rt.remove_image(&action.name).await?;
            let after = rt.list_images().await?;
            let book = cx.redact.book;
            let names = |list: &[crate::runtime::ImageRecord]| -> BTreeSet<String> {
                list.iter().flat_map(|i| i.names.iter().cloned()).collect()
            };
            let ids = |list: &[crate::runtime::ImageRecord]| -> BTreeSet<String> {
                list.iter().map(|i| i.id.clone()).collect()
            };
            let (after_names, after_ids) = (names(&after), ids(&after));
            let mut obs = RemoveObservation {
                id: id.to_string(),
                action: Self::describe(action),
                outcome: RemoveWord::Removed,
                error: None,
                untagged: Vec::new(),
                deleted: Vec::new(),
                names_removed: names(&before)
                    .into_iter()
                    .filter(|n| !after_names.contains(n))
                    .collect(),
                images_gone: {
                    let mut gone: Vec<String> = ids(&before)
                        .into_iter()
                        .filter(|i| !after_ids.contains(i))
                        .map(|i| book.symbol(&i))
                        .collect();
                    gone.sort();
                    gone
                },
            };
            match outcome {
                RemoveOutcome::Removed { untagged, deleted } => {
                    obs.untagged = untagged.iter().map(|u| cx.redact.text(u)).collect();
                    obs.deleted = deleted.iter().map(|d| cx.redact.text(d)).collect();
                }
                RemoveOutcome::NotFound(r) => {
                    obs.outcome = RemoveWord::NotFound;
                    obs.error = Some(cx.redact.rejection(&r));
                }
                RemoveOutcome::Error(r) => {
                    obs.outcome = RemoveWord::Error;
                    obs.error = Some(cx.redact.rejection(&r));
                }
            }
            Ok(obs)
        })
    }

    fn contradictions(claim: &RemoveClaim, obs: &RemoveObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let mut push = |claim, message| out.push(Contradiction::of(claim, message));
        if let Some(want) = claim.outcome
            && want != obs.outcome
        {
            push(
                "outcome",
                format!("{}: expected {want:?}, got {:?}", obs.id, obs.outcome),
            );
        }
        if let Some(want) = &claim.names_removed
            && *want != obs.names_removed
        {
            push(
                "names_removed",
                format!(
                    "{}: expected names removed {want:?}, got {:?}",
                    obs.id, obs.names_removed
                ),
            );
        }
        if let Some(want) = claim.image_gone
            && want == obs.images_gone.is_empty()
        {
            push(
                "image_gone",
                format!(
                    "{}: expected image_gone {want}, got images gone {:?}",
                    obs.id, obs.images_gone
                ),
            );
        }
        if let Some(want) = &claim.error_contains
            && !obs
                .error
                .as_ref()
                .is_some_and(|e| e.message.contains(want.as_str()))
        {
            push(
                "error_contains",
                format!(
                    "{}: expected an error containing {want:?}, got {:?}",
                    obs.id,
                    obs.error.as_ref().map(|e| &e.message)
                ),
            );
        }
        out
    }

    fn id(obs: &RemoveObservation) -> &str {
        &obs.id
    }

    fn findings(_: &RemoveObservation) -> &[Finding] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untag_and_delete_are_told_apart_by_what_left_the_store() {
        let untag = RemoveObservation {
            id: "r".into(),
            action: "remove a:2".into(),
            outcome: RemoveWord::Removed,
            error: None,
            untagged: vec!["a:2".into()],
            deleted: vec![],
            names_removed: vec!["a:2".into()],
            images_gone: vec![],
        };
        let claim = RemoveClaim {
            outcome: Some(RemoveWord::Removed),
            names_removed: Some(vec!["a:2".into()]),
            image_gone: Some(false),
            ..Default::default()
        };
        assert!(Remove::contradictions(&claim, &untag).is_empty());
        let delete = RemoveObservation {
            images_gone: vec!["config(f)".into()],
            ..untag
        };
        let bad = Remove::contradictions(&claim, &delete);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].claim, "image_gone");
    }
}
