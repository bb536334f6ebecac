//! The legacy v1 image JSON blobs that `docker save` (classic store, Docker >= 25) writes next to
//! the real blobs, one per layer, referenced by nothing in `index.json` or `manifest.json`; and
//! the same v1 images, which Docker <= 24 wrote as `<v1id>/json` and named its layer
//! directories after (`docker_archive.rs`).
//!
//! Moby still computes the pre-1.10 "v1 image" chain for backward compatibility
//! (`saveSession.saveImage`): for each layer it builds an `image.V1Image`, derives a v1 ID with
//! `v1.CreateID`, and `saveSession.saveConfig` writes `json.Marshal(v1Image)` to
//! `blobs/sha256/<sha256 of those bytes>`. A one-layer `docker save` therefore holds four blobs
//! (manifest, config, layer, this), as the listing in moby#47065 shows. Readers that list
//! `blobs/` meet these, so the hybrid layout writes them too.
//!
//! Per layer `i` (bottom first), following moby `image/tarexport/save.go` (v26 to v29 agree):
//!
//! - Every layer but the top gets `V1Image{Created: time.Unix(0, 0)}`; the top gets the
//!   `V1Image` part of the image config (`created`, `config`, `architecture`, `variant`, `os`).
//!   `ContainerConfig` is a struct without `omitempty` effect, so every blob carries a
//!   zero-valued `container_config`.
//! - `CreateID` marshals that value with `id` cleared, decodes it into a Go map, adds `layer_id`
//!   (the chain ID of layers `0..=i`) and `parent` (the previous v1 ID, `sha256:` form), and
//!   hashes the re-marshaled map (sorted keys).
//! - The blob is the value with `id` = that ID's hex, `parent` = the previous ID's hex, and `os`
//!   = the image's OS, in `V1Image` field order.
//!
//! `time.Unix(0, 0)` is the daemon's local time; we write it as UTC (`1970-01-01T00:00:00Z`),
//! as on a UTC host such as a CI runner.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::craft::ImageConfigSpec;
use crate::craft::config::{CREATED, Platform};
use crate::craft::gojson;
use crate::oci::Digest;

/// moby `image.V1Image` field order. `comment`, `container`, `docker_version`, `author` and
/// `Size` are always empty for crafted images and omitted (`omitempty`).
#[derive(Serialize)]
struct V1Image<'a> {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    parent: String,
    created: &'static str,
    container_config: ContainerConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<ContainerConfig<'a>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    architecture: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    os: &'a str,
}

/// moby `api/types/container.Config` as Go marshals it: fields without `omitempty` always
/// appear, nil slices and maps as `null`. The `omitempty` fields (`ExposedPorts`,
/// `Healthcheck`, `ArgsEscaped`, `NetworkDisabled`, `MacAddress`, `StopSignal`, `StopTimeout`,
/// `Shell`) are never set by fixtures and left out.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig<'a> {
    hostname: &'static str,
    domainname: &'static str,
    user: &'static str,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    env: Option<&'a [String]>,
    cmd: Option<&'a [String]>,
    image: &'static str,
    volumes: Option<()>,
    working_dir: &'static str,
    entrypoint: Option<&'a [String]>,
    on_build: Option<()>,
    labels: Option<&'a BTreeMap<String, String>>,
}

impl<'a> ContainerConfig<'a> {
    /// What Go decodes from the config's `config` object: fields the config omits (empty ones,
    /// see [`config_json`](super::config::config_json)) stay nil.
    fn from_spec(spec: &'a ImageConfigSpec) -> Self {
        let non_empty = |v: Option<&'a Vec<String>>| v.filter(|v| !v.is_empty()).map(Vec::as_slice);
        Self {
            env: non_empty(Some(&spec.env)),
            cmd: non_empty(spec.cmd.as_ref()),
            entrypoint: non_empty(spec.entrypoint.as_ref()),
            labels: Some(&spec.labels).filter(|l| !l.is_empty()),
            ..Self::default()
        }
    }
}

/// One layer's v1 image: its ID (`v1.CreateID`) and `json.Marshal` of it.
pub(crate) struct LegacyV1 {
    pub id: Digest,
    pub json: Vec<u8>,
}

/// The legacy blobs' bytes, one per layer, bottom first.
pub(crate) fn legacy_v1_blobs(
    diff_ids: &[Digest],
    config: &ImageConfigSpec,
    platform: &Platform,
) -> Vec<Vec<u8>> {
    legacy_v1_images(diff_ids, config, platform)
        .into_iter()
        .map(|v1| v1.json)
        .collect()
}

/// The v1 images, one per layer, bottom first: the blobs above, and Docker <= 24's
/// `<v1id>/json` files, which moby's `saveSession.saveImage` builds the same way.
pub(crate) fn legacy_v1_images(
    diff_ids: &[Digest],
    config: &ImageConfigSpec,
    platform: &Platform,
) -> Vec<LegacyV1> {
    let mut out = Vec::with_capacity(diff_ids.len());
    let mut parent: Option<Digest> = None;
    let mut chain: Option<Digest> = None;
    for (i, diff_id) in diff_ids.iter().enumerate() {
        let top = i + 1 == diff_ids.len();
        let chain_id = chain_id(chain.as_ref(), diff_id);
        let mut v1 = V1Image {
            id: String::new(),
            parent: String::new(),
            created: CREATED,
            container_config: ContainerConfig::default(),
            config: None,
            architecture: "",
            variant: None,
            os: "",
        };
        if top {
            v1.config = Some(ContainerConfig::from_spec(config));
            v1.architecture = &platform.architecture;
            v1.variant = platform.variant.as_deref();
            v1.os = &platform.os;
        }
        let id = create_id(&v1, &chain_id, parent.as_ref());
        v1.id = id.hex().to_string();
        v1.parent = parent
            .as_ref()
            .map(|p| p.hex().to_string())
            .unwrap_or_default();
        v1.os = &platform.os;
        out.push(LegacyV1 {
            id: id.clone(),
            json: gojson::marshal(&v1),
        });
        parent = Some(id);
        chain = Some(chain_id);
    }
    out
}

/// moby `layer.CreateChainID`: the first DiffID, then `sha256(parent + " " + diff_id)`.
fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::sha256(format!("{p} {diff_id}").as_bytes()),
    }
}

/// moby `image/v1.CreateID`.
fn create_id(v1: &V1Image<'_>, layer_id: &Digest, parent: Option<&Digest>) -> Digest {
    // `v1.id` is still empty here, as CreateID clears it; `parent` is only ever set after.
    let value = serde_json::to_value(v1).expect("V1Image serializes to a JSON object");
    let serde_json::Value::Object(fields) = value else {
        unreachable!("V1Image serializes to a JSON object")
    };
    // Decoding into map[string]*json.RawMessage and re-marshaling sorts the top-level keys and
    // keeps nested objects as they were marshaled (serde_json's preserve_order keeps our field
    // order inside them).
    let mut map: BTreeMap<String, serde_json::Value> = fields.into_iter().collect();
    map.insert("layer_id".into(), layer_id.as_str().into());
    if let Some(p) = parent {
        map.insert("parent".into(), p.as_str().into());
    }
    Digest::sha256(&gojson::marshal(&map))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZERO_CONTAINER_CONFIG: &str = concat!(
        r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"#,
        r#""AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"#,
        r#""Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"#,
        r#""Labels":null}"#
    );

    fn d(c: char) -> Digest {
        Digest::parse(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn zero_container_config_matches_go() {
        // The shape `docker inspect` shows for ContainerConfig of BuildKit-built images.
        assert_eq!(
            String::from_utf8(gojson::marshal(&ContainerConfig::default())).unwrap(),
            ZERO_CONTAINER_CONFIG
        );
    }

    #[test]
    fn blobs_chain_ids_and_parents() {
        let spec = ImageConfigSpec {
            cmd: Some(vec!["/bin/sh".into()]),
            ..Default::default()
        };
        let platform = Platform::parse(None).unwrap();
        let diff_ids = [d('a'), d('b')];
        let blobs = legacy_v1_blobs(&diff_ids, &spec, &platform);
        assert_eq!(blobs.len(), 2);

        // Bottom layer: no parent; its ID is the sha256 of the sorted CreateID document.
        let create_doc0 = format!(
            r#"{{"container_config":{ZERO_CONTAINER_CONFIG},"created":"1970-01-01T00:00:00Z","layer_id":"{}"}}"#,
            d('a')
        );
        let id0 = Digest::sha256(create_doc0.as_bytes());
        assert_eq!(
            String::from_utf8(blobs[0].clone()).unwrap(),
            format!(
                r#"{{"id":"{}","created":"1970-01-01T00:00:00Z","container_config":{ZERO_CONTAINER_CONFIG},"os":"linux"}}"#,
                id0.hex()
            )
        );

        // Top layer: chain ID of both layers, parent = bottom v1 ID, the run config, platform.
        let chain1 = Digest::sha256(format!("{} {}", d('a'), d('b')).as_bytes());
        let run_config = ZERO_CONTAINER_CONFIG.replace(r#""Cmd":null"#, r#""Cmd":["/bin/sh"]"#);
        let create_doc1 = format!(
            concat!(
                r#"{{"architecture":"amd64","config":{rc},"container_config":{zc},"#,
                r#""created":"1970-01-01T00:00:00Z","layer_id":"{chain}","os":"linux","parent":"{parent}"}}"#
            ),
            rc = run_config,
            zc = ZERO_CONTAINER_CONFIG,
            chain = chain1,
            parent = id0,
        );
        let id1 = Digest::sha256(create_doc1.as_bytes());
        assert_eq!(
            String::from_utf8(blobs[1].clone()).unwrap(),
            format!(
                concat!(
                    r#"{{"id":"{id}","parent":"{parent}","created":"1970-01-01T00:00:00Z","#,
                    r#""container_config":{zc},"config":{rc},"architecture":"amd64","os":"linux"}}"#
                ),
                id = id1.hex(),
                parent = id0.hex(),
                zc = ZERO_CONTAINER_CONFIG,
                rc = run_config,
            )
        );
    }

    #[test]
    fn empty_run_config_fields_stay_null() {
        let spec = ImageConfigSpec {
            cmd: Some(vec![]),
            env: vec!["A=1".into()],
            labels: [("k".to_string(), "v".to_string())].into(),
            ..Default::default()
        };
        let cc = String::from_utf8(gojson::marshal(&ContainerConfig::from_spec(&spec))).unwrap();
        assert!(cc.contains(r#""Env":["A=1"],"Cmd":null"#), "{cc}");
        assert!(cc.ends_with(r#""Labels":{"k":"v"}}"#), "{cc}");
    }
}
