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

/// The names resolved from a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamePlan {
    /// The tagged name, when `spec.name` is set.
    pub image_ref: Option<ImageRef>,
    /// `io.containerd.image.name` on the index descriptor.
    pub image_name: Option<String>,
    /// `org.opencontainers.image.ref.name` on the index descriptor.
    pub ref_name: Option<String>,
}

impl NamePlan {
    /// Resolves the annotation rules:
    ///
    /// - `ref_name`: the override, else the tag alone, as moby's `saveSession.save` and
    ///   containerd's `ociReferenceName` write it, in both layouts.
    /// - `image_name`: the override, else, for the hybrid layout only, the full name (moby writes
    ///   `ref.String()`). A pure OCI archive carries it only when asked for, so the tag-only OCI
    ///   archive of R1 can be written.
    /// - An override of `""` omits that annotation.
    pub(crate) fn resolve(spec: &FixtureSpec) -> Result<Self, CraftError> {
        let image_ref = spec.name.as_deref().map(ImageRef::parse).transpose()?;
        let ref_name = match spec.ref_name.as_deref() {
            Some("") => None,
            Some(s) => Some(s.to_string()),
            None => image_ref.as_ref().map(|r| r.tag.clone()),
        };
        let image_name = match spec.image_name.as_deref() {
            Some("") => None,
            Some(s) => Some(s.to_string()),
            None => match spec.layout {
                LayoutKind::DockerOciHybrid => image_ref.as_ref().map(ImageRef::full),
                LayoutKind::OciArchive => None,
            },
        };
        Ok(Self {
            image_ref,
            image_name,
            ref_name,
        })
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
            layout,
            name: name.map(Into::into),
            ref_name: ref_name.map(Into::into),
            image_name: image_name.map(Into::into),
            platform: None,
            layers: vec![LayerSpec { files: vec![] }],
            config: Default::default(),
        }
    }

    #[test]
    fn annotation_rules() {
        use LayoutKind::{DockerOciHybrid as H, OciArchive as O};
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
        ];
        for &(layout, name, ref_o, img_o, want_img, want_ref) in table {
            let plan = NamePlan::resolve(&spec(layout, name, ref_o, img_o)).unwrap();
            assert_eq!(
                (plan.image_name.as_deref(), plan.ref_name.as_deref()),
                (want_img, want_ref),
                "{layout:?} name={name:?} ref={ref_o:?} image={img_o:?}"
            );
        }
    }
}
