//! Load-name predictions: the names each runtime family would give an archive on load, from a
//! model of each loader's rules. `harness inspect` prints them; scenarios check them against
//! what the real runtimes do, so a wrong rule shows up as a failing cell, not a silent lie.
//!
//! The families and the upstream code each rule follows:
//!
//! | family | reads | rule |
//! |---|---|---|
//! | `docker-classic` | `manifest.json` only (moby `image/tarexport/load.go` `Load`; without it `legacyLoad` needs `repositories` + `<id>/json`) | each `RepoTags` entry, normalized (`ParseNormalizedNamed`) and listed as `FamiliarString`; no manifest.json: error |
//! | `docker-containerd` | `index.json` through containerd's importer (moby `daemon/containerd/image_import.go` -> containerd `images/archive.ImportIndex`) | `io.containerd.image.name`, else `manifest.json` `RepoTags`; nothing: a dangling image |
//! | `podman-3.4` | oci-archive tried before docker-archive (c/common v0.44 `libimage/load.go`) | OCI: `org.opencontainers.image.ref.name` of `manifests[0]` only, through `NormalizeName` (R1: `latest` -> `localhost/latest:latest`); more than one image in the index: falls back to docker-archive `RepoTags` |
//! | `podman` (>= 4) | oci-archive first, preferring `io.containerd.image.name` (c/common v0.50 `libimage/load.go`) | `io.containerd.image.name`, else `ref.name`, through `NormalizeName`; no index.json: docker-archive `RepoTags` through `NormalizeName` |
//! | `containerd` | `oci-layout` + `index.json`, else `manifest.json` (containerd v1.6 `images/archive/importer.go` `ImportIndex`, then `import.go` `Client.Import` with `imageName` and no ref translator) | OCI layout: `io.containerd.image.name`, else `ref.name` verbatim, neither: no record; Docker archive: each `RepoTags` entry through `normalizeReference` (`ParseDockerRef`, `docker.io/library/foo:latest`), none: no record; an empty index, or neither layout: error |
//!
//! `NormalizeName` (containers/common `libimage/normalize.go`) is the Podman style of
//! [`crate::reference::stored`]: a name without a registry becomes `localhost/<name>`.
//! The containerd rules are conformance-tested against `ctr images import --no-unpack` of
//! containerd 1.6.20 (`tests/live/ctr_conformance.rs`); what they cannot see from names alone
//! is `Client.Import`'s platform filter (`platforms.Default()`): an archive with no entry for
//! the host's platform, or a missing manifest for it, is refused.
//! These rules were checked against Docker 20.10, Podman 4.3.1 and containerd 1.6.20 by
//! `scenarios/podman3.yaml`; the Podman 3.4 and Docker containerd-store rows come from the
//! upstream code and REGRESSIONS.md and are checked where those versions run.

use serde::Serialize;

use crate::reference::{Dialect, Style, stored};

/// The naming facts of an archive that the loaders read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveNaming {
    /// `manifest.json` is present.
    pub has_manifest_json: bool,
    /// `index.json` is present.
    pub has_index_json: bool,
    /// `oci-layout`'s `imageLayoutVersion`, when it has a non-empty one.
    pub oci_layout_version: Option<String>,
    /// How many entries `manifest.json` lists (0 when it is absent, `null` or empty).
    pub manifest_json_items: usize,
    /// `RepoTags` of every `manifest.json` entry, in order.
    pub repo_tags: Vec<String>,
    /// One entry per `index.json` manifest descriptor: its `io.containerd.image.name` and
    /// `org.opencontainers.image.ref.name` annotations.
    pub index_entries: Vec<IndexNames>,
}

impl ArchiveNaming {
    /// The naming facts of an archive as the reader found them.
    pub fn of_report(report: &crate::oci::archive::ArchiveReport) -> ArchiveNaming {
        use crate::oci::annotation::{IMAGE_NAME, REF_NAME};
        let items = report.manifest_json.as_deref().unwrap_or_default();
        let entries = report
            .index_json
            .as_ref()
            .map(|i| i.manifests.as_slice())
            .unwrap_or_default();
        ArchiveNaming {
            has_manifest_json: report.manifest_json.is_some() || report.manifest_json_null,
            has_index_json: report.index_json.is_some(),
            oci_layout_version: report
                .oci_layout
                .as_ref()
                .and_then(|l| l.version.clone())
                .filter(|v| !v.is_empty()),
            manifest_json_items: items.len(),
            repo_tags: items
                .iter()
                .flat_map(|i| i.repo_tags.iter().cloned())
                .collect(),
            index_entries: entries
                .iter()
                .map(|d| IndexNames {
                    image_name: d.annotations.get(IMAGE_NAME).cloned(),
                    ref_name: d.annotations.get(REF_NAME).cloned(),
                })
                .collect(),
        }
    }
}

/// The name annotations of one `index.json` descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexNames {
    pub image_name: Option<String>,
    pub ref_name: Option<String>,
}

/// A runtime family whose loader the harness models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    DockerClassic,
    DockerContainerd,
    #[serde(rename = "podman-3.4")]
    Podman34,
    Podman,
    Containerd,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::DockerClassic,
        Family::DockerContainerd,
        Family::Podman34,
        Family::Podman,
        Family::Containerd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::DockerClassic => "docker-classic",
            Family::DockerContainerd => "docker-containerd",
            Family::Podman34 => "podman-3.4",
            Family::Podman => "podman",
            Family::Containerd => "containerd",
        }
    }
}

/// What a family's loader is predicted to do with the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    pub family: Family,
    /// `loads` or `error`.
    pub outcome: &'static str,
    /// The names the loaded images get (empty: loaded untagged, or an error).
    pub names: Vec<String>,
    /// Which rule decided, in a sentence.
    pub rule: String,
}

fn loads(family: Family, names: Vec<String>, rule: impl Into<String>) -> Prediction {
    Prediction {
        family,
        outcome: "loads",
        names,
        rule: rule.into(),
    }
}

fn fails(family: Family, rule: impl Into<String>) -> Prediction {
    Prediction {
        family,
        outcome: "error",
        names: Vec::new(),
        rule: rule.into(),
    }
}

/// Names through a style's store normalization; names the style refuses are dropped (the
/// loader would fail on them, which the real runs show).
fn normalized(style: Style, names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .filter_map(|n| stored(style, &n).ok())
        .collect()
}

/// Predicts every family's load of an archive with these naming facts.
pub fn predict(n: &ArchiveNaming) -> Vec<Prediction> {
    Family::ALL.iter().map(|f| predict_one(*f, n)).collect()
}

/// Predicts one family's load.
pub fn predict_one(family: Family, n: &ArchiveNaming) -> Prediction {
    let repo_tags = || n.repo_tags.clone();
    match family {
        Family::DockerClassic => {
            if !n.has_manifest_json {
                return fails(
                    family,
                    "no manifest.json: the classic loader cannot read an OCI layout",
                );
            }
            loads(
                family,
                normalized(Style::Docker, repo_tags()),
                "manifest.json RepoTags",
            )
        }
        Family::DockerContainerd => {
            let names: Vec<String> = n
                .index_entries
                .iter()
                .filter_map(|e| e.image_name.clone())
                .collect();
            if !names.is_empty() {
                return loads(
                    family,
                    normalized(Style::Docker, names),
                    "index.json io.containerd.image.name",
                );
            }
            if n.has_manifest_json {
                return loads(
                    family,
                    normalized(Style::Docker, repo_tags()),
                    "manifest.json RepoTags",
                );
            }
            if n.has_index_json {
                return loads(family, Vec::new(), "no name annotation: a dangling image");
            }
            fails(family, "neither index.json nor manifest.json")
        }
        Family::Podman34 => {
            if n.has_index_json && n.index_entries.len() == 1 {
                let names = n.index_entries[0].ref_name.iter().cloned();
                return loads(
                    family,
                    normalized(Style::Podman, names),
                    "oci-archive first: org.opencontainers.image.ref.name only",
                );
            }
            if n.has_manifest_json {
                let why = if n.has_index_json {
                    "more than one image in the OCI index: falls back to docker-archive RepoTags"
                } else {
                    "docker-archive RepoTags"
                };
                return loads(family, normalized(Style::Podman, repo_tags()), why);
            }
            if n.has_index_json {
                return fails(
                    family,
                    "more than one image in the OCI index and no manifest.json",
                );
            }
            fails(family, "neither index.json nor manifest.json")
        }
        Family::Podman => {
            if n.has_index_json && n.index_entries.len() == 1 {
                let e = &n.index_entries[0];
                let (name, rule) = match (&e.image_name, &e.ref_name) {
                    (Some(full), _) => {
                        (Some(full.clone()), "oci-archive: io.containerd.image.name")
                    }
                    (None, Some(r)) => (
                        Some(r.clone()),
                        "oci-archive: org.opencontainers.image.ref.name",
                    ),
                    (None, None) => (None, "oci-archive without a name annotation: untagged"),
                };
                return loads(family, normalized(Style::Podman, name), rule);
            }
            if n.has_manifest_json {
                return loads(
                    family,
                    normalized(Style::Podman, repo_tags()),
                    "docker-archive RepoTags",
                );
            }
            fails(family, "no single-image OCI index and no manifest.json")
        }
        Family::Containerd => predict_containerd(n),
    }
}

/// containerd 1.6's `ImportIndex` then `Client.Import` (no ref translator): an OCI layout
/// when `oci-layout` has a version, else a Docker archive when `manifest.json` lists entries.
fn predict_containerd(n: &ArchiveNaming) -> Prediction {
    let family = Family::Containerd;
    if let Some(version) = &n.oci_layout_version {
        if version != "1.0.0" {
            return fails(family, format!("unsupported OCI version {version}"));
        }
        if !n.has_index_json {
            return fails(family, "missing index.json in OCI layout 1.0.0");
        }
        if n.index_entries.is_empty() {
            return fails(family, "an empty index.json: image might be filtered out");
        }
        // `imageName`: the containerd annotation when non-empty, else the ref name.
        let names: Vec<String> = n
            .index_entries
            .iter()
            .filter_map(|e| {
                let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
                non_empty(&e.image_name).or_else(|| non_empty(&e.ref_name))
            })
            .collect();
        let rule = if names.is_empty() {
            "OCI layout without a name annotation: no image record"
        } else {
            "OCI layout: io.containerd.image.name, else org.opencontainers.image.ref.name verbatim"
        };
        return loads(family, names, rule);
    }
    if n.manifest_json_items == 0 {
        return fails(
            family,
            "no oci-layout version and no manifest.json entries: unrecognized image format",
        );
    }
    // `normalizeReference`: ParseDockerRef of containerd's copy of docker/distribution's
    // reference package (the legacy dialect); one bad tag fails the whole import.
    let mut names = Vec::new();
    for tag in &n.repo_tags {
        match Dialect::Legacy.parse_docker_ref(tag) {
            Ok(r) => names.push(r.to_string()),
            Err(e) => return fails(family, format!("normalize image ref {tag:?}: {e}")),
        }
    }
    let rule = if names.is_empty() {
        "Docker archive without RepoTags: no image record"
    } else {
        "Docker archive: manifest.json RepoTags through ParseDockerRef"
    };
    loads(family, names, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid() -> ArchiveNaming {
        ArchiveNaming {
            has_manifest_json: true,
            has_index_json: true,
            oci_layout_version: Some("1.0.0".into()),
            manifest_json_items: 1,
            repo_tags: vec!["dangerzone.rocks/dangerzone:latest".into()],
            index_entries: vec![IndexNames {
                image_name: Some("dangerzone.rocks/dangerzone:latest".into()),
                ref_name: Some("latest".into()),
            }],
        }
    }

    fn tag_only_oci() -> ArchiveNaming {
        ArchiveNaming {
            has_index_json: true,
            oci_layout_version: Some("1.0.0".into()),
            index_entries: vec![IndexNames {
                image_name: None,
                ref_name: Some("latest".into()),
            }],
            ..Default::default()
        }
    }

    fn names(p: &[Prediction], f: Family) -> (&'static str, Vec<String>) {
        let p = p.iter().find(|p| p.family == f).unwrap();
        (p.outcome, p.names.clone())
    }

    /// R1, as observed here on Docker 20.10, Podman 4.3.1 and containerd 1.6.20
    /// (snapshots/podman3__*.snap), and as REGRESSIONS.md describes Podman 3.4.
    #[test]
    fn r1_hybrid_and_tag_only_archives() {
        let full = vec!["dangerzone.rocks/dangerzone:latest".to_string()];
        let p = predict(&hybrid());
        assert_eq!(names(&p, Family::DockerClassic), ("loads", full.clone()));
        assert_eq!(names(&p, Family::Podman), ("loads", full.clone()));
        assert_eq!(names(&p, Family::Containerd), ("loads", full.clone()));
        assert_eq!(
            names(&p, Family::Podman34),
            ("loads", vec!["localhost/latest:latest".to_string()])
        );

        let p = predict(&tag_only_oci());
        assert_eq!(names(&p, Family::DockerClassic).0, "error");
        assert_eq!(
            names(&p, Family::Podman),
            ("loads", vec!["localhost/latest:latest".to_string()])
        );
        assert_eq!(
            names(&p, Family::Containerd),
            ("loads", vec!["latest".to_string()])
        );
        assert_eq!(names(&p, Family::DockerContainerd), ("loads", vec![]));
    }

    #[test]
    fn two_images_in_a_hybrid_send_podman_3_4_to_docker_archive() {
        let mut n = hybrid();
        n.repo_tags = vec!["foo:1".into(), "bar:2".into()];
        n.index_entries.push(IndexNames {
            image_name: Some("docker.io/library/bar:2".into()),
            ref_name: Some("2".into()),
        });
        let p = predict_one(Family::Podman34, &n);
        assert_eq!(p.names, ["localhost/foo:1", "localhost/bar:2"]);
        assert!(p.rule.contains("more than one image"));
    }

    /// What `ctr images import --no-unpack` of containerd 1.6.20 does
    /// (tests/live/ctr_conformance.rs): a Docker archive's tags are normalized.
    #[test]
    fn containerd_imports_docker_archives_with_normalized_names() {
        let mut n = ArchiveNaming {
            has_manifest_json: true,
            manifest_json_items: 1,
            repo_tags: vec!["dangerzone.rocks/dangerzone:latest".into(), "foo".into()],
            ..Default::default()
        };
        let p = predict_one(Family::Containerd, &n);
        assert_eq!(
            (p.outcome, p.names.as_slice()),
            (
                "loads",
                &[
                    "dangerzone.rocks/dangerzone:latest".to_string(),
                    "docker.io/library/foo:latest".to_string()
                ][..]
            )
        );
        n.repo_tags = vec![];
        assert_eq!(
            names(&[predict_one(Family::Containerd, &n)], Family::Containerd),
            ("loads", vec![])
        );
        n.repo_tags = vec!["Foo/bar:1".into()];
        assert_eq!(predict_one(Family::Containerd, &n).outcome, "error");
        n.manifest_json_items = 0;
        n.repo_tags = vec![];
        assert_eq!(predict_one(Family::Containerd, &n).outcome, "error");
        // An empty index, or an unsupported layout version, is refused.
        let mut oci = tag_only_oci();
        oci.index_entries.clear();
        assert_eq!(predict_one(Family::Containerd, &oci).outcome, "error");
        let mut oci = tag_only_oci();
        oci.oci_layout_version = Some("2.0.0".into());
        assert_eq!(predict_one(Family::Containerd, &oci).outcome, "error");
        // An empty containerd annotation falls back to the ref name.
        let mut oci = tag_only_oci();
        oci.index_entries[0].image_name = Some(String::new());
        assert_eq!(predict_one(Family::Containerd, &oci).names, ["latest"]);
    }

    #[test]
    fn docker_lists_familiar_names() {
        let n = ArchiveNaming {
            has_manifest_json: true,
            repo_tags: vec!["docker.io/library/foo:1".into()],
            ..Default::default()
        };
        assert_eq!(predict_one(Family::DockerClassic, &n).names, ["foo:1"]);
        assert_eq!(
            predict_one(Family::Podman, &n).names,
            ["docker.io/library/foo:1"]
        );
    }
}
