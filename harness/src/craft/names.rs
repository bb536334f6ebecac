//! Which names a fixture writes where: `manifest.json` `RepoTags`, `repositories`, and the two
//! `index.json` annotations that decide what Podman 3.4 versus Podman >= 4 call the image (R1).
//!
//! Names are taken verbatim: no `docker.io/` or `library/` is added, because fixtures must be
//! able to carry exactly the names a runtime would meet, and reference normalization belongs to
//! the code that compares what runtimes report. The only parsing is the split into repository
//! and tag, at the last `:` after the last `/` (so `localhost:5000/app` has no tag), with Docker's
//! default tag `latest` when there is none (`reference.TagNameOnly`).

use crate::craft::{CraftError, FixtureSpec, LayoutKind};

/// `spec.name` split into repository and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    pub repo: String,
    pub tag: String,
}

impl ImageRef {
    pub(crate) fn parse(name: &str) -> Result<Self, CraftError> {
        let invalid = |reason| CraftError::InvalidName {
            name: name.to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("empty name"));
        }
        if name.contains('@') {
            return Err(invalid("digest references are not supported; use a tag"));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains whitespace or control characters"));
        }
        let after_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match name[after_slash..].rfind(':') {
            Some(i) => (&name[..after_slash + i], &name[after_slash + i + 1..]),
            None => (name, "latest"),
        };
        if repo.is_empty() || repo.ends_with('/') {
            return Err(invalid("empty repository"));
        }
        if tag.is_empty() {
            return Err(invalid("empty tag after ':'"));
        }
        Ok(Self {
            repo: repo.to_string(),
            tag: tag.to_string(),
        })
    }

    /// `repo:tag`, as moby's `reference.FamiliarString` / `ref.String()` would print a tagged
    /// reference (here without normalization).
    pub(crate) fn full(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }
}

/// One `index.json` descriptor's name annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// `io.containerd.image.name`.
    pub image_name: Option<String>,
    /// `org.opencontainers.image.ref.name`.
    pub ref_name: Option<String>,
}

/// The names resolved from a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamePlan {
    /// `name`, or every entry of `names`, in spec order: `RepoTags` and `repositories`.
    pub refs: Vec<ImageRef>,
    /// One per `index.json` descriptor: one per name, as moby's `saveSession.save` and
    /// containerd's `WithManifest(target, names...)` write them, or one unnamed descriptor.
    /// Empty for `docker-archive`, which has no `index.json`.
    pub entries: Vec<IndexEntry>,
}

impl NamePlan {
    /// Resolves the annotation rules:
    ///
    /// - `ref_name`: the override, else the tag alone, as moby's `saveSession.save` and
    ///   containerd's `ociReferenceName` write it, in every layout.
    /// - `image_name`: the override, else, for the hybrid layouts, the full name (moby writes
    ///   `ref.String()`, containerd `addNameAnnotation(name)`). A pure OCI archive carries it
    ///   only when asked for, so the tag-only OCI archive of R1 can be written.
    /// - An override of `""` omits that annotation; with several names no other override is
    ///   accepted, since it would give every descriptor the same name.
    pub(crate) fn resolve(spec: &FixtureSpec) -> Result<Self, CraftError> {
        let invalid = |field: &str, reason: &str| CraftError::InvalidSpec {
            field: field.to_string(),
            reason: reason.to_string(),
        };
        if spec.name.is_some() && !spec.names.is_empty() {
            return Err(invalid("names", "give either name or names, not both"));
        }
        let mut refs = Vec::new();
        for name in spec.name.iter().chain(&spec.names) {
            let r = ImageRef::parse(name)?;
            if refs.contains(&r) {
                return Err(invalid("names", &format!("{name:?} is listed twice")));
            }
            refs.push(r);
        }
        for (field, value) in [
            ("ref_name", &spec.ref_name),
            ("image_name", &spec.image_name),
        ] {
            match value.as_deref() {
                Some(_) if spec.layout == LayoutKind::DockerArchive => {
                    return Err(invalid(
                        field,
                        "docker-archive has no index.json to annotate",
                    ));
                }
                Some(v) if !v.is_empty() && refs.len() > 1 => {
                    return Err(invalid(
                        field,
                        "with several names only \"\" (omit) is accepted",
                    ));
                }
                _ => {}
            }
        }
        let full_by_default = matches!(
            spec.layout,
            LayoutKind::DockerOciHybrid | LayoutKind::ContainerdHybrid
        );
        let pick = |over: &Option<String>, default: Option<String>| match over.as_deref() {
            Some("") => None,
            Some(s) => Some(s.to_string()),
            None => default,
        };
        let entries = if !spec.layout.has_index_json() {
            Vec::new()
        } else if refs.is_empty() {
            vec![IndexEntry {
                image_name: pick(&spec.image_name, None),
                ref_name: pick(&spec.ref_name, None),
            }]
        } else {
            refs.iter()
                .map(|r| IndexEntry {
                    image_name: pick(&spec.image_name, full_by_default.then(|| r.full())),
                    ref_name: pick(&spec.ref_name, Some(r.tag.clone())),
                })
                .collect()
        };
        Ok(Self { refs, entries })
    }

    /// `RepoTags` as written: every name, verbatim.
    pub(crate) fn repo_tags(&self) -> Vec<String> {
        self.refs.iter().map(ImageRef::full).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::LayerSpec;

    #[test]
    fn names_split_at_the_last_colon_after_the_last_slash() {
        let table: &[(&str, &str, &str)] = &[
            ("app", "app", "latest"),
            ("app:1.0", "app", "1.0"),
            (
                "dangerzone.rocks/dangerzone:latest",
                "dangerzone.rocks/dangerzone",
                "latest",
            ),
            ("localhost:5000/app", "localhost:5000/app", "latest"),
            ("localhost:5000/app:v2", "localhost:5000/app", "v2"),
            (
                "docker.io/library/alpine:3",
                "docker.io/library/alpine",
                "3",
            ),
        ];
        for &(name, repo, tag) in table {
            let r = ImageRef::parse(name).unwrap();
            assert_eq!(
                (r.repo.as_str(), r.tag.as_str()),
                (repo, tag),
                "name {name:?}"
            );
        }
    }

    #[test]
    fn bad_names_are_rejected_with_a_reason() {
        let table: &[(&str, &str)] = &[
            ("", "empty name"),
            ("app@sha256:abc", "digest references"),
            ("app:", "empty tag"),
            (":tag", "empty repository"),
            ("reg/:tag", "empty repository"),
            ("my app", "whitespace"),
        ];
        for &(name, want) in table {
            let err = ImageRef::parse(name).unwrap_err().to_string();
            assert!(err.contains(want), "name {name:?}: {err}");
            assert!(err.contains(&format!("{name:?}")), "{err}");
        }
    }

    fn spec(
        layout: LayoutKind,
        name: Option<&str>,
        ref_name: Option<&str>,
        image_name: Option<&str>,
    ) -> FixtureSpec {
        FixtureSpec {
            name: name.map(Into::into),
            ref_name: ref_name.map(Into::into),
            image_name: image_name.map(Into::into),
            ..FixtureSpec::new(layout, vec![LayerSpec::default()])
        }
    }

    #[test]
    fn annotation_rules() {
        use LayoutKind::{ContainerdHybrid as C, DockerOciHybrid as H, OciArchive as O};
        type Row = (
            LayoutKind,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        // (layout, name, ref_name override, image_name override) -> (image_name, ref_name)
        let table: &[Row] = &[
            // Docker >= 25: full name and the tag alone.
            (
                H,
                Some("dz.rocks/dz:latest"),
                None,
                None,
                Some("dz.rocks/dz:latest"),
                Some("latest"),
            ),
            (
                H,
                Some("app"),
                None,
                None,
                Some("app:latest"),
                Some("latest"),
            ),
            (H, None, None, None, None, None),
            (H, Some("app:1"), Some(""), Some(""), None, None),
            (
                H,
                Some("app:1"),
                Some("custom"),
                Some("other:2"),
                Some("other:2"),
                Some("custom"),
            ),
            // R1's tag-only OCI archive: ref.name only.
            (O, None, Some("latest"), None, None, Some("latest")),
            (O, Some("app:1"), None, None, None, Some("1")),
            (
                O,
                Some("app:1"),
                None,
                Some("app:1"),
                Some("app:1"),
                Some("1"),
            ),
            (O, None, None, None, None, None),
            // containerd's addNameAnnotation: both, like moby.
            (C, Some("app:1"), None, None, Some("app:1"), Some("1")),
            (C, None, None, None, None, None),
        ];
        for &(layout, name, ref_o, img_o, want_img, want_ref) in table {
            let plan = NamePlan::resolve(&spec(layout, name, ref_o, img_o)).unwrap();
            assert_eq!(plan.entries.len(), 1);
            let entry = &plan.entries[0];
            assert_eq!(
                (entry.image_name.as_deref(), entry.ref_name.as_deref()),
                (want_img, want_ref),
                "{layout:?} name={name:?} ref={ref_o:?} image={img_o:?}"
            );
        }
    }

    /// R1: two tags in one archive give one index.json descriptor each and both RepoTags.
    #[test]
    fn several_names_give_one_entry_each() {
        let mut s = spec(LayoutKind::ContainerdHybrid, None, None, None);
        s.names = vec!["a.test/x:1".into(), "b.test/y:2".into()];
        let plan = NamePlan::resolve(&s).unwrap();
        assert_eq!(plan.repo_tags(), ["a.test/x:1", "b.test/y:2"]);
        let entries: Vec<(Option<&str>, Option<&str>)> = plan
            .entries
            .iter()
            .map(|e| (e.image_name.as_deref(), e.ref_name.as_deref()))
            .collect();
        assert_eq!(
            entries,
            [
                (Some("a.test/x:1"), Some("1")),
                (Some("b.test/y:2"), Some("2"))
            ]
        );

        s.layout = LayoutKind::DockerArchive;
        let plan = NamePlan::resolve(&s).unwrap();
        assert!(plan.entries.is_empty(), "docker-archive has no index.json");
        assert_eq!(plan.refs.len(), 2);
    }

    #[test]
    fn name_conflicts_are_errors_naming_the_field() {
        type Edit = fn(&mut FixtureSpec);
        let table: &[(Edit, &str)] = &[
            (
                |s| s.names = vec!["b:1".into()],
                "invalid names: give either name or names, not both",
            ),
            (
                |s| {
                    s.name = None;
                    s.names = vec!["b:1".into(), "b:1".into()];
                },
                r#"invalid names: "b:1" is listed twice"#,
            ),
            (
                |s| {
                    s.name = None;
                    s.names = vec!["b:1".into(), "c:1".into()];
                    s.ref_name = Some("x".into());
                },
                "invalid ref_name: with several names",
            ),
            (
                |s| {
                    s.layout = LayoutKind::DockerArchive;
                    s.image_name = Some("".into());
                },
                "invalid image_name: docker-archive has no index.json",
            ),
        ];
        for (edit, want) in table {
            let mut s = spec(LayoutKind::OciArchive, Some("a:1"), None, None);
            edit(&mut s);
            let err = NamePlan::resolve(&s).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
