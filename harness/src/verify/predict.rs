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
//! | `containerd` | `index.json` (containerd v1.6 `import.go` `imageName`, no ref translator) | `io.containerd.image.name`, else `ref.name` verbatim; neither: no image record |
//!
//! `NormalizeName` (containers/common `libimage/normalize.go`) is the Podman style of
//! [`crate::reference::stored`]: a name without a registry becomes `localhost/<name>`.
//! These rules were checked against Docker 20.10, Podman 4.3.1 and containerd 1.6.20 by
//! `scenarios/podman3.yaml`; the Podman 3.4 and Docker containerd-store rows come from the
//! upstream code and REGRESSIONS.md and are checked where those versions run.

use serde::Serialize;

use crate::reference::{Style, stored};

/// The naming facts of an archive that the loaders read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveNaming {
    /// `manifest.json` is present.
    pub has_manifest_json: bool,
    /// `index.json` is present.
    pub has_index_json: bool,
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
        Family::Containerd => {
            if !n.has_index_json {
                return fails(family, "no index.json: not an OCI layout");
            }
            let names: Vec<String> = n
                .index_entries
                .iter()
                .filter_map(|e| e.image_name.clone().or_else(|| e.ref_name.clone()))
                .collect();
            let rule = if names.is_empty() {
                "no name annotation: no image record"
            } else {
                "io.containerd.image.name, else org.opencontainers.image.ref.name verbatim"
            };
            loads(family, names, rule)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid() -> ArchiveNaming {
        ArchiveNaming {
            has_manifest_json: true,
            has_index_json: true,
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
