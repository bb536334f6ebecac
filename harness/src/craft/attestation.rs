//! BuildKit attestation manifests: what `docker buildx build` (and Docker >= 29's default
//! builds) add to an image index next to each platform's manifest, and what Docker's
//! containerd store keeps and saves.
//!
//! Follows BuildKit `exporter/containerimage/writer.go` `commitAttestationsManifest` (image
//! manifest mode, the default; not the OCI-artifact mode with `subject`):
//!
//! - one layer per in-toto statement, media type `application/vnd.in-toto+json`, annotated
//!   with `in-toto.io/predicate-type`; the statement is `json.Marshal(intoto.Statement)`;
//! - a config `{"architecture":"unknown","os":"unknown","config":{},"rootfs":{...}}` whose
//!   DiffIDs are the statements' digests (`attestationsConfig`);
//! - the manifest, indented, and in the index a descriptor with platform `unknown/unknown` and
//!   the annotations `vnd.docker.reference.type: attestation-manifest` and
//!   `vnd.docker.reference.digest: <the platform manifest's digest>`.
//!
//! The statement is a minimal SLSA v0.2 provenance, deterministic (no times, no materials):
//! BuildKit's `mode=min` shape without the build-specific parts. Its subjects are what
//! BuildKit's `purl.RefToPURL` makes of each image name, without reference normalization
//! (`pkg:docker/<namespace>/<name>@<tag>?platform=linux%2Famd64`); no name, no subject. The
//! platform is in the predicate's `invocation.environment`, as BuildKit writes it, so each
//! platform's statement (and so its attestation manifest) differs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::craft::config::Platform;
use crate::craft::gojson;
use crate::craft::image::Blob;
use crate::craft::manifest::{Descriptor, JsonStyle, manifest_json};
use crate::craft::names::ImageRef;
use crate::oci::{Digest, media_type};

/// in-toto's `PayloadType`, the attestation layers' media type.
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";
const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v0.2";
/// BuildKit `util/attestation` `DockerAnnotationReferenceType` and its default value.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// The blobs of one attestation manifest, and the manifest's bytes before the image builder
/// seals them (defects may aim at the manifest).
pub(crate) struct AttestationParts {
    pub statement: Blob,
    pub config: Blob,
    pub manifest_json: Vec<u8>,
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    kind: &'static str,
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    subject: Vec<Subject>,
    predicate: Predicate<'a>,
}

#[derive(Serialize)]
struct Subject {
    name: String,
    digest: BTreeMap<&'static str, String>,
}

/// slsa02 `ProvenancePredicate` field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Predicate<'a> {
    builder: BTreeMap<&'static str, &'static str>,
    build_type: &'static str,
    invocation: Invocation<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    config_source: BTreeMap<&'static str, &'static str>,
    environment: BTreeMap<&'static str, &'a str>,
}

#[derive(Serialize)]
struct ImageDoc<'a> {
    architecture: &'static str,
    os: &'static str,
    config: BTreeMap<&'static str, &'static str>,
    rootfs: RootFs<'a>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: &'a [Digest],
}

/// The attestation of the manifest `subject` of an image for `platform`.
pub(crate) fn attestation_parts(
    subject: &Digest,
    platform: &Platform,
    refs: &[ImageRef],
) -> AttestationParts {
    let platform_str = platform.to_string();
    let statement = Statement {
        kind: "https://in-toto.io/Statement/v1",
        predicate_type: PREDICATE_TYPE,
        subject: refs
            .iter()
            .map(|r| Subject {
                name: purl(r, &platform_str),
                digest: [("sha256", subject.hex().to_string())].into(),
            })
            .collect(),
        predicate: Predicate {
            builder: [("id", "")].into(),
            build_type: "https://mobyproject.org/buildkit@v1",
            invocation: Invocation {
                config_source: BTreeMap::new(),
                environment: [("platform", platform_str.as_str())].into(),
            },
        },
    };
    let statement = Blob::new(gojson::marshal(&statement));
    let config = Blob::new(gojson::marshal(&ImageDoc {
        architecture: "unknown",
        os: "unknown",
        config: BTreeMap::new(),
        rootfs: RootFs {
            kind: "layers",
            diff_ids: std::slice::from_ref(&statement.digest),
        },
    }));
    let mut layer = statement.descriptor(IN_TOTO);
    layer
        .annotations
        .insert("in-toto.io/predicate-type", PREDICATE_TYPE.to_string());
    let manifest_json = manifest_json(
        &config.descriptor(media_type::OCI_CONFIG),
        &[layer],
        JsonStyle::Indent,
    );
    AttestationParts {
        statement,
        config,
        manifest_json,
    }
}

/// The index descriptor of an attestation manifest for the manifest `subject`.
pub(crate) fn attestation_descriptor(manifest: &Blob, subject: &Digest) -> Descriptor {
    let mut d = manifest.descriptor(media_type::OCI_MANIFEST);
    d.annotations = [
        (REFERENCE_DIGEST, subject.to_string()),
        (REFERENCE_TYPE, ATTESTATION_MANIFEST.to_string()),
    ]
    .into();
    d.platform = Some(Platform {
        architecture: "unknown".into(),
        os: "unknown".into(),
        variant: None,
    });
    d
}

/// `pkg:docker/<namespace>/<name>@<tag>?platform=<os>%2F<arch>`, as `purl.RefToPURL` builds it
/// from a familiar name (here the name as written).
fn purl(r: &ImageRef, platform: &str) -> String {
    format!(
        "pkg:docker/{}@{}?platform={}",
        r.repo,
        r.tag,
        platform.replace('/', "%2F")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_config_and_manifest_are_buildkits_shape() {
        let subject = Digest::sha256(b"manifest");
        let platform = Platform::parse(Some("linux/arm64")).unwrap();
        let refs = [ImageRef::parse("example.test/app:1").unwrap()];
        let parts = attestation_parts(&subject, &platform, &refs);

        let statement = String::from_utf8(parts.statement.bytes.clone()).unwrap();
        assert_eq!(
            statement,
            format!(
                concat!(
                    r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v0.2","#,
                    r#""subject":[{{"name":"pkg:docker/example.test/app@1?platform=linux%2Farm64","digest":{{"sha256":"{}"}}}}],"#,
                    r#""predicate":{{"builder":{{"id":""}},"buildType":"https://mobyproject.org/buildkit@v1","#,
                    r#""invocation":{{"configSource":{{}},"environment":{{"platform":"linux/arm64"}}}}}}}}"#
                ),
                subject.hex()
            )
        );
        assert_eq!(
            String::from_utf8(parts.config.bytes.clone()).unwrap(),
            format!(
                r#"{{"architecture":"unknown","os":"unknown","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
                parts.statement.digest
            )
        );
        let manifest: serde_json::Value = serde_json::from_slice(&parts.manifest_json).unwrap();
        assert_eq!(manifest["config"]["digest"], parts.config.digest.as_str());
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], IN_TOTO);
        assert_eq!(layer["digest"], parts.statement.digest.as_str());
        assert_eq!(
            layer["annotations"],
            serde_json::json!({"in-toto.io/predicate-type": PREDICATE_TYPE})
        );
        assert!(
            parts
                .manifest_json
                .starts_with(b"{\n  \"schemaVersion\": 2,")
        );
    }

    #[test]
    fn unnamed_images_have_no_subject_and_platforms_differ() {
        let subject = Digest::sha256(b"m");
        let amd = attestation_parts(&subject, &Platform::parse(None).unwrap(), &[]);
        let arm = attestation_parts(
            &subject,
            &Platform::parse(Some("linux/arm64")).unwrap(),
            &[],
        );
        assert!(String::from_utf8_lossy(&amd.statement.bytes).contains(r#""subject":[]"#));
        assert_ne!(amd.manifest_json, arm.manifest_json);
    }

    #[test]
    fn index_descriptor_points_at_the_subject() {
        let manifest = Blob::new(b"{}".to_vec());
        let subject = Digest::sha256(b"m");
        let d = attestation_descriptor(&manifest, &subject);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({
                "mediaType": media_type::OCI_MANIFEST,
                "digest": manifest.digest.as_str(),
                "size": 2,
                "annotations": {
                    "vnd.docker.reference.digest": subject.as_str(),
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            })
        );
    }
}
