//! Checks the load-name predictions of [`crate::verify::predict`] against every real load, so
//! the model behind `harness inspect`'s predictions is tested on every cell of every scenario.
//! A difference is a `load-prediction-divergence` finding in the step, and so in its snapshot.

use std::collections::BTreeSet;

use super::LoadObservation;
use crate::config::Outcome;
use crate::craft::CraftedArchive;
use crate::steps::observe::Finding;
use crate::verify::predict::{ArchiveNaming, Family, IndexNames, predict_one};

/// The naming facts of a crafted archive.
pub fn naming_of(facts: &CraftedArchive) -> ArchiveNaming {
    ArchiveNaming {
        has_manifest_json: facts.layout.has_manifest_json(),
        has_index_json: facts.layout.has_index_json(),
        // Every crafted layout with an index.json has `oci-layout` 1.0.0, and one with a
        // manifest.json lists the one image.
        oci_layout_version: facts.layout.has_index_json().then(|| "1.0.0".into()),
        manifest_json_items: usize::from(facts.layout.has_manifest_json()),
        repo_tags: facts.names.repo_tags.clone(),
        index_entries: facts
            .names
            .index_entries
            .iter()
            .map(|e| IndexNames {
                image_name: e.image_name.clone(),
                ref_name: e.ref_name.clone(),
            })
            .collect(),
    }
}

/// A finding when the load in `obs` did not do what the model predicts for `family`.
pub fn check_load(
    family: Family,
    naming: &ArchiveNaming,
    obs: &LoadObservation,
) -> Option<Finding> {
    let predicted = predict_one(family, naming);
    let observed: BTreeSet<&str> = obs
        .images
        .iter()
        .flat_map(|i| i.names.iter().map(String::as_str))
        .collect();
    let expected: BTreeSet<&str> = predicted.names.iter().map(String::as_str).collect();
    let agrees = match (predicted.outcome, obs.outcome) {
        ("error", Outcome::Error) => true,
        ("loads", Outcome::Loaded) => observed == expected,
        _ => false,
    };
    (!agrees).then(|| Finding {
        code: "load-prediction-divergence".into(),
        message: format!(
            "{}: the {} model predicts {} {:?} ({}), the runtime {} {:?}",
            obs.id,
            family.as_str(),
            predicted.outcome,
            predicted.names,
            predicted.rule,
            super::outcome_word(obs.outcome),
            observed
        ),
    })
}
