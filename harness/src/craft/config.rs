//! The image config blob, shaped like the configs runtimes meet most: those BuildKit writes.
//!
//! BuildKit's `patchImageConfig` (exporter/containerimage/writer.go) re-marshals the config
//! through a Go `map[string]json.RawMessage`, so the top-level keys of real-world configs are
//! sorted (`architecture`, `config`, `created`, `history`, `os`, `rootfs`, `variant`), while the
//! nested `config` object keeps the field order of image-spec's `ImageConfig` (`Env`,
//! `Entrypoint`, `Cmd`, `Labels`, each omitted when empty). We write the same shape.
//!
//! Determinism: `created` and every history entry's `created` are the Unix epoch
//! (`1970-01-01T00:00:00Z`), history has one fixed entry per layer, and the bytes come from
//! [`gojson`](super::gojson) (compact, Go string escaping, no trailing newline).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::craft::{CraftError, ImageConfigSpec};
use crate::oci::Digest;

/// The fixed creation time of every crafted image and history entry.
pub(crate) const CREATED: &str = "1970-01-01T00:00:00Z";

/// `os/arch[/variant]`, default `linux/amd64`. Serializes as image-spec's `Platform`
/// (`architecture`, `os`, `variant` if any), the shape of a descriptor's `platform`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    pub(crate) fn parse(platform: Option<&str>) -> Result<Self, CraftError> {
        let Some(s) = platform else {
            return Ok(Self {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            });
        };
        let invalid = |reason| CraftError::InvalidPlatform {
            platform: s.to_string(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(invalid("expected os/arch or os/arch/variant"));
        }
        if parts
            .iter()
            .any(|p| p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid("empty component or whitespace"));
        }
        Ok(Self {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

/// Top-level keys in sorted order, as BuildKit's `patchImageConfig` leaves them.
#[derive(Serialize)]
struct ConfigDoc<'a> {
    architecture: &'a str,
    config: RunConfig<'a>,
    created: &'static str,
    history: Vec<History>,
    os: &'a str,
    rootfs: RootFs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

/// image-spec `ImageConfig` field order; every field `omitempty`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    env: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    entrypoint: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    cmd: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

/// image-spec `History` field order.
#[derive(Serialize)]
struct History {
    created: &'static str,
    created_by: String,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: &'a [Digest],
}

/// The config blob's bytes for an image with these layers (`diff_ids`, bottom first).
pub(crate) fn config_json(
    spec: &ImageConfigSpec,
    platform: &Platform,
    diff_ids: &[Digest],
) -> Vec<u8> {
    let doc = ConfigDoc {
        architecture: &platform.architecture,
        config: RunConfig {
            env: &spec.env,
            entrypoint: spec.entrypoint.as_deref().unwrap_or_default(),
            cmd: spec.cmd.as_deref().unwrap_or_default(),
            labels: &spec.labels,
        },
        created: CREATED,
        history: (0..diff_ids.len())
            .map(|i| History {
                created: CREATED,
                created_by: format!("harness craft layer {i}"),
            })
            .collect(),
        os: &platform.os,
        rootfs: RootFs {
            kind: "layers",
            diff_ids,
        },
        variant: platform.variant.as_deref(),
    };
    super::gojson::marshal(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn minimal_config_is_exact() {
        let json = config_json(
            &ImageConfigSpec::default(),
            &Platform::parse(None).unwrap(),
            &[digest('a')],
        );
        let want = format!(
            concat!(
                r#"{{"architecture":"amd64","config":{{}},"created":"1970-01-01T00:00:00Z","#,
                r#""history":[{{"created":"1970-01-01T00:00:00Z","created_by":"harness craft layer 0"}}],"#,
                r#""os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#
            ),
            "a".repeat(64)
        );
        assert_eq!(String::from_utf8(json).unwrap(), want);
    }

    #[test]
    fn run_config_fields_use_docker_names_and_order() {
        let spec = ImageConfigSpec {
            cmd: Some(vec!["--flag".into()]),
            entrypoint: Some(vec!["/bin/app".into()]),
            env: vec!["A=<b>".into()],
            labels: [("z".to_string(), "1".to_string()), ("a".into(), "2".into())].into(),
        };
        let platform = Platform::parse(Some("linux/arm64/v8")).unwrap();
        let json =
            String::from_utf8(config_json(&spec, &platform, &[digest('a'), digest('b')])).unwrap();
        assert!(
            json.contains(
                r#""config":{"Env":["A=\u003cb\u003e"],"Entrypoint":["/bin/app"],"Cmd":["--flag"],"Labels":{"a":"2","z":"1"}}"#
            ),
            "{json}"
        );
        assert!(json.ends_with(r#"]},"variant":"v8"}"#), "{json}");
        assert!(
            json.contains(r#""created_by":"harness craft layer 1""#),
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["architecture"], "arm64");
        assert_eq!(v["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn platforms_parse_or_fail_with_a_reason() {
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        );
        let ok: &[Row] = &[
            ("linux/amd64", "linux", "amd64", None),
            ("linux/arm/v7", "linux", "arm", Some("v7")),
        ];
        for &(s, os, arch, variant) in ok {
            let p = Platform::parse(Some(s)).unwrap();
            assert_eq!(
                (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
                (os, arch, variant)
            );
        }
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            let err = Platform::parse(Some(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid platform {bad:?}")),
                "{err}"
            );
        }
    }
}
