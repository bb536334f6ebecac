//! The Docker-archive half of containerd 1.6's `images/archive.ImportIndex`: an archive with a
//! `manifest.json` and no `oci-layout` (Docker <= 24 `docker save`, v1.1/v1.2) gets one
//! Docker schema 2 manifest per `manifest.json` entry, built from the config and layer members
//! it names, and one index entry per `RepoTags` tag, named by `normalizeReference`
//! (`reference/docker.ParseDockerRef`). These are the pure parts; the driver writes the
//! manifests and reads back what `ImportIndex` reads back.
//!
//! containerd 1.7's `ImportIndex` is the same (only `labels.LabelUncompressed` replaces the
//! literal label key). 1.7's `ctr images import` still runs it client-side by default (its
//! `--local` is a `BoolTFlag`); 2.x's ctr sends the stream to the Transfer service
//! (`core/transfer/local.importStream`, server-side), which calls the same `ImportIndex` and
//! names records through `transfer/image.Store` (`WithNamedPrefix`), not `Client.Import`'s
//! `imageName`.

use std::collections::HashMap;

use serde_json::Value;

use super::archive::OciDescriptor;
use super::platform::Platform;
use crate::oci::annotation;
use crate::reference::Dialect;

pub(super) const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub(super) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// One `manifest.json` entry as `ImportIndex` decodes it: `struct { Config string; RepoTags
/// []string; Layers []string }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DockerItem {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(v: &Value, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        kind(v)
    )
}

/// Decodes `manifest.json` as Go's `encoding/json` decodes it into `ImportIndex`'s `mfsts`:
/// `null` leaves it nil (`None`); field names match case-insensitively, a later key wins; a
/// `null` field or element keeps its zero value; any other type is an error.
pub(super) fn decode_manifest_json(v: &Value) -> Result<Option<Vec<DockerItem>>, String> {
    const ITEMS: &str = "[]struct { Config string; RepoTags []string; Layers []string }";
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        other => return Err(type_error(other, ITEMS)),
    };
    let string = |v: &Value| match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        other => Err(type_error(other, "string")),
    };
    let strings = |v: &Value| match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|e| string(e).map(Option::unwrap_or_default))
            .collect(),
        other => Err(type_error(other, "[]string")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut d = DockerItem::default();
        match item {
            Value::Null => {}
            Value::Object(fields) => {
                for (key, value) in fields {
                    if key.eq_ignore_ascii_case("Config") {
                        if let Some(s) = string(value)? {
                            d.config = s;
                        }
                    } else if key.eq_ignore_ascii_case("RepoTags") {
                        d.repo_tags = strings(value)?;
                    } else if key.eq_ignore_ascii_case("Layers") {
                        d.layers = strings(value)?;
                    }
                }
            }
            other => return Err(type_error(other, "struct")),
        }
        out.push(d);
    }
    Ok(Some(out))
}

/// The layer media type `resolveLayers` gives a layer from its first bytes
/// (`compression.DecompressStream`'s detection): uncompressed is the Docker layer type, and
/// anything compressed, zstd included, the Docker *gzip* layer type.
pub(super) fn layer_media_type(head: &[u8]) -> &'static str {
    match detect_compression(head) {
        false => DOCKER_LAYER,
        true => DOCKER_LAYER_GZIP,
    }
}

/// `compression.DetectCompression`: gzip's magic `1f 8b 08`, a zstd frame `28 b5 2f fd`, or a
/// zstd skippable frame (`0x184D2A5?` little-endian, with 8 bytes there).
fn detect_compression(head: &[u8]) -> bool {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return true;
    }
    head.len() >= 8
        && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) & 0xFFFF_FFF0 == 0x184D_2A50
}

/// A descriptor as Go's `json.Marshal` writes an `ocispec.Descriptor` with only media type,
/// digest and size set.
fn descriptor_json(d: &OciDescriptor) -> Value {
    let mut m = serde_json::Map::new();
    if !d.media_type.is_empty() {
        m.insert("mediaType".into(), d.media_type.clone().into());
    }
    m.insert("digest".into(), d.digest.clone().into());
    m.insert("size".into(), d.size.into());
    Value::Object(m)
}

/// The bytes `ImportIndex` writes for the manifest of one entry (`writeManifest` of its
/// anonymous struct: `schemaVersion`, `mediaType`, `config`, `layers`, in that order).
pub(super) fn manifest_bytes(config: &OciDescriptor, layers: &[OciDescriptor]) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("schemaVersion".into(), 2.into());
    m.insert(
        "mediaType".into(),
        crate::oci::media_type::DOCKER_MANIFEST.into(),
    );
    m.insert("config".into(), descriptor_json(config));
    m.insert(
        "layers".into(),
        Value::Array(layers.iter().map(descriptor_json).collect()),
    );
    serde_json::to_vec(&Value::Object(m)).expect("a JSON value serializes")
}

/// The platform `images.Platforms` resolves from an image config: `OS` and `Architecture` of
/// the `ocispec.Image` it unmarshals (keys matched case-insensitively, as Go does), normalized.
/// Only those two fields are decoded here; Go decodes the whole `ocispec.Image` and would also
/// fail on a mistyped field elsewhere in the config.
pub(super) fn config_platform(bytes: &[u8]) -> Result<Platform, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let Value::Object(fields) = &v else {
        return match v {
            Value::Null => Ok(Platform::default().normalized()),
            other => Err(type_error(&other, "v1.Image")),
        };
    };
    let mut p = Platform::default();
    for (key, value) in fields {
        let slot = if key.eq_ignore_ascii_case("os") {
            &mut p.os
        } else if key.eq_ignore_ascii_case("architecture") {
            &mut p.architecture
        } else {
            continue;
        };
        match value {
            Value::String(s) => *slot = s.clone(),
            Value::Null => {}
            other => return Err(type_error(other, "string")),
        }
    }
    // The Windows rule (an empty `OSVersion` gets the host's) changes nothing on Linux, where
    // `platforms.DefaultSpec()` has no OS version.
    Ok(Platform {
        os: p.os,
        architecture: p.architecture,
        ..Default::default()
    }
    .normalized())
}

/// `normalizeReference`: `ParseDockerRef` of containerd's own copy of docker/distribution's
/// reference package (`reference/docker`, the [legacy dialect](Dialect::Legacy)), as a string.
pub(super) fn normalize_reference(reference: &str) -> Result<String, String> {
    Dialect::Legacy
        .parse_docker_ref(reference)
        .map(|r| r.to_string())
        .map_err(|e| format!("normalize image ref {reference:?}: {e}"))
}

/// `ociReferenceName`: the object of containerd's `reference.Parse` (what follows the first
/// `:` or `@` after the host, without a leading `:`), or the name itself when it does not parse
/// (no host). Only called on normalized names, which always have a host.
pub(super) fn oci_reference_name(name: &str) -> String {
    let Some((_, path)) = name.split_once('/') else {
        return name.to_string();
    };
    match path.find([':', '@']) {
        Some(i) => path[i..]
            .strip_prefix(':')
            .unwrap_or(&path[i..])
            .to_string(),
        None => String::new(),
    }
}

/// The index entries `ImportIndex` writes for one entry's manifest: one without annotations if
/// it has no `RepoTags`, else one per tag, named by the normalized reference.
pub(super) fn index_entries(
    manifest: &OciDescriptor,
    repo_tags: &[String],
) -> Result<Vec<OciDescriptor>, String> {
    if repo_tags.is_empty() {
        return Ok(vec![manifest.clone()]);
    }
    repo_tags
        .iter()
        .map(|tag| {
            let normalized = normalize_reference(tag)?;
            let mut d = manifest.clone();
            d.annotations = HashMap::from([
                (
                    annotation::REF_NAME.to_string(),
                    oci_reference_name(&normalized),
                ),
                (annotation::IMAGE_NAME.to_string(), normalized),
            ]);
            Ok(d)
        })
        .collect()
}

/// Go's `path.Join(path.Dir(name), target)`: where `ImportIndex` resolves a symlink member.
pub(super) fn symlink_target(name: &str, target: &str) -> String {
    let dir = name.rfind('/').map_or(".", |i| &name[..i]);
    super::archive::go_path_clean(&format!("{dir}/{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_json_decodes_like_encoding_json() {
        let v: Value = serde_json::from_str(
            r#"[{"config":"a.json","RepoTags":null,"Layers":["l/layer.tar",null]},null,
                {"Config":"x","CONFIG":"y","RepoTags":["r:1"]}]"#,
        )
        .unwrap();
        let items = decode_manifest_json(&v).unwrap().unwrap();
        assert_eq!(
            items,
            [
                DockerItem {
                    config: "a.json".into(),
                    repo_tags: vec![],
                    layers: vec!["l/layer.tar".into(), String::new()],
                },
                DockerItem::default(),
                DockerItem {
                    config: "y".into(),
                    repo_tags: vec!["r:1".into()],
                    layers: vec![],
                },
            ]
        );
        assert_eq!(decode_manifest_json(&Value::Null).unwrap(), None);
        assert_eq!(
            decode_manifest_json(&serde_json::json!([])).unwrap(),
            Some(vec![])
        );
        let err = decode_manifest_json(&serde_json::json!({"Config": "a"})).unwrap_err();
        assert!(err.starts_with("json: cannot unmarshal object"), "{err}");
        let err = decode_manifest_json(&serde_json::json!([{"Config": 1}])).unwrap_err();
        assert!(err.contains("number into Go value of type string"), "{err}");
    }

    #[test]
    fn compressed_layers_are_all_the_gzip_type() {
        assert_eq!(layer_media_type(b""), DOCKER_LAYER);
        assert_eq!(layer_media_type(b"etc/\0\0\0\0\0\0"), DOCKER_LAYER);
        assert_eq!(layer_media_type(&[0x1f, 0x8b, 0x08, 0]), DOCKER_LAYER_GZIP);
        assert_eq!(
            layer_media_type(&[0x28, 0xb5, 0x2f, 0xfd]),
            DOCKER_LAYER_GZIP
        );
        let skippable = [0x5e, 0x2a, 0x4d, 0x18, 0, 0, 0, 0];
        assert_eq!(layer_media_type(&skippable), DOCKER_LAYER_GZIP);
        assert_eq!(layer_media_type(&skippable[..7]), DOCKER_LAYER);
    }

    #[test]
    fn manifests_are_marshalled_as_go_marshals_them() {
        let d = |mt: &str, digest: &str, size| OciDescriptor {
            media_type: mt.into(),
            digest: digest.into(),
            size,
            ..Default::default()
        };
        let bytes = manifest_bytes(
            &d(crate::oci::media_type::DOCKER_CONFIG, "sha256:c", 3),
            &[d(DOCKER_LAYER, "sha256:l", 10)],
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c","size":3},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","digest":"sha256:l","size":10}]}"#
        );
        let empty = String::from_utf8(manifest_bytes(&d("", "sha256:c", 3), &[])).unwrap();
        assert!(empty.ends_with(r#""config":{"digest":"sha256:c","size":3},"layers":[]}"#));
    }

    #[test]
    fn references_are_normalized_by_parse_docker_ref() {
        let table = [
            ("foo", "docker.io/library/foo:latest", "latest"),
            (
                "dangerzone.rocks/dangerzone:latest",
                "dangerzone.rocks/dangerzone:latest",
                "latest",
            ),
            ("user/foo:1", "docker.io/user/foo:1", "1"),
            ("localhost:5000/foo", "localhost:5000/foo:latest", "latest"),
        ];
        for (input, want, object) in table {
            let got = normalize_reference(input).unwrap();
            assert_eq!(got, want, "{input}");
            assert_eq!(oci_reference_name(&got), object, "{input}");
        }
        let digested = format!("foo:1@sha256:{}", "a".repeat(64));
        let got = normalize_reference(&digested).unwrap();
        assert_eq!(
            got,
            format!("docker.io/library/foo@sha256:{}", "a".repeat(64))
        );
        assert_eq!(
            oci_reference_name(&got),
            format!("@sha256:{}", "a".repeat(64))
        );
        let err = normalize_reference("Foo/bar").unwrap_err();
        assert!(
            err.starts_with("normalize image ref \"Foo/bar\": "),
            "{err}"
        );
    }

    #[test]
    fn platforms_come_from_the_config() {
        let p = config_platform(br#"{"Architecture":"x86_64","os":"Linux","variant":"v9"}"#);
        assert_eq!(
            p.unwrap().to_json().to_string(),
            r#"{"architecture":"amd64","os":"linux"}"#
        );
        assert_eq!(
            config_platform(br#"{"architecture":"arm"}"#)
                .unwrap()
                .to_json()
                .to_string(),
            r#"{"architecture":"arm","os":"","variant":"v7"}"#
        );
        assert!(config_platform(b"{").is_err());
        assert!(config_platform(br#"{"os":1}"#).is_err());
    }

    #[test]
    fn symlinks_resolve_like_path_join() {
        assert_eq!(
            symlink_target("b/layer.tar", "../a/layer.tar"),
            "a/layer.tar"
        );
        assert_eq!(symlink_target("layer.tar", "a/layer.tar"), "a/layer.tar");
        assert_eq!(symlink_target("./b/x", "./y"), "b/y");
    }
}
