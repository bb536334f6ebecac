//! The image oracles: every reference in an image (target, manifests, config, layers) against
//! the member that holds it, the config's DiffIDs against the decompressed layers, and the
//! two views of a hybrid archive (`manifest.json` and `index.json`) against each other.

use std::collections::BTreeSet;

use crate::oci::Digest;
use crate::oci::archive::media::{self, MediaKind};
use crate::oci::archive::{
    ArchiveReport, Compression, ImageReport, LayerReport, ManifestReport, StoredBlob,
};
use crate::verify::{Finding, FindingCode as Code, Severity};

pub(crate) fn check_images(r: &ArchiveReport, out: &mut Vec<Finding>) {
    for image in &r.images {
        if let Some(t) = &image.target {
            let subject = format!("index.json manifests[{}]", image.index_json_entries[0]);
            match &t.blob {
                None => out.push(Finding::new(
                    Code::BlobMissing,
                    subject.clone(),
                    format!("the target {} is not in the archive", t.digest),
                )),
                Some(b) => size(&subject, t.size, b, out),
            }
            if let Some(mt) = &t.media_type {
                media_type(&subject, mt, out);
            }
        }
        for m in &image.manifests {
            manifest(r, m, out);
        }
    }
    hybrid(r, out);
    layer_sources(r, out);
}

fn size(subject: &str, claimed: u64, blob: &StoredBlob, out: &mut Vec<Finding>) {
    if claimed != blob.size {
        out.push(Finding::new(
            Code::SizeMismatch,
            subject,
            format!(
                "the descriptor says {claimed} bytes, {} holds {}",
                blob.member, blob.size
            ),
        ));
    }
}

fn media_type(subject: &str, mt: &str, out: &mut Vec<Finding>) {
    if media::kind(mt).is_none() {
        out.push(Finding::new(
            Code::UnknownMediaType,
            subject,
            format!("unknown media type {mt:?}"),
        ));
    }
    if let Some(why) = media::nonstandard(mt) {
        out.push(Finding::new(
            Code::NonstandardMediaType,
            subject,
            format!("{mt}: {why}"),
        ));
    }
}

fn manifest(r: &ArchiveReport, m: &ManifestReport, out: &mut Vec<Finding>) {
    let name = match &m.digest {
        Some(d) => format!("manifest {d}"),
        None => "manifest.json".to_string(),
    };
    // Content that may legitimately be absent: other platforms of an index (containerd
    // exports only what it holds) and attestations.
    let partial = m.parent_index.is_some() || m.attestation;
    if m.digest.is_some() {
        match &m.blob {
            None => {
                let (severity, why) = if partial {
                    (
                        Severity::Warning,
                        ": runtimes cannot use this platform (containerd exports only the platforms it holds)",
                    )
                } else {
                    (Severity::Error, "")
                };
                let platform = m
                    .platform
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                out.push(
                    Finding::new(
                        Code::BlobMissing,
                        name,
                        format!("the manifest{platform} is not in the archive{why}"),
                    )
                    .with_severity(severity),
                );
                return;
            }
            Some(b) => size(&name, m.size.unwrap_or(b.size), b, out),
        }
        if let Some(mt) = &m.media_type {
            media_type(&name, mt, out);
        }
    }
    let missing = |subject: String, digest: Option<&Digest>, path: Option<&String>| match path {
        Some(p) => Finding::new(
            Code::MemberMissing,
            subject,
            format!("{p:?} is not in the archive"),
        ),
        None => Finding::new(
            Code::BlobMissing,
            subject,
            format!(
                "{} is not in the archive",
                digest.map_or("the blob".into(), |d| d.to_string())
            ),
        )
        .with_severity(if m.attestation {
            Severity::Warning
        } else {
            Severity::Error
        }),
    };

    if let Some(c) = &m.config {
        let subject = format!("{name} config");
        match &c.blob {
            None => out.push(missing(subject.clone(), c.digest.as_ref(), c.path.as_ref())),
            Some(b) => {
                if c.path.is_none() {
                    size(&subject, c.size.unwrap_or(b.size), b, out);
                }
                // A config that could not be parsed says nothing (invalid-json says why).
                let parsed = r.member(&b.member).is_some_and(|c| c.json_error.is_none());
                if parsed && !m.attestation {
                    if c.diff_ids.len() != m.layers.len() {
                        out.push(Finding::new(
                            Code::LayerCountMismatch,
                            subject.clone(),
                            format!(
                                "the config lists {} diff_id(s), the {} {} layer(s): {}",
                                c.diff_ids.len(),
                                if c.path.is_some() {
                                    "manifest.json item"
                                } else {
                                    "manifest"
                                },
                                m.layers.len(),
                                if c.path.is_some() {
                                    "docker load fails (\"layers length mismatch\"), so does \
                                     containers/image (\"Inconsistent layer count\")"
                                } else {
                                    "layers and DiffIDs cannot be paired"
                                }
                            ),
                        ));
                    }
                    if m.platform
                        .as_ref()
                        .is_none_or(|p| p.os.is_empty() || p.architecture.is_empty())
                    {
                        out.push(Finding::new(
                            Code::PlatformMissing,
                            subject.clone(),
                            "neither the descriptor nor the config names an OS and architecture: \
                             platform matching cannot select this image",
                        ));
                    }
                }
            }
        }
        if let (Some(mt), false) = (&c.media_type, m.attestation) {
            media_type(&subject, mt, out);
        }
    }

    for (i, l) in m.layers.iter().enumerate() {
        let subject = match &l.path {
            Some(_) => format!("manifest.json Layers[{i}]"),
            None => format!("{name} layers[{i}]"),
        };
        let Some(b) = &l.blob else {
            let external = l
                .media_type
                .as_deref()
                .and_then(media::kind)
                .is_some_and(|k| matches!(k, MediaKind::ExternalLayer(_)));
            let f = missing(subject, l.digest.as_ref(), l.path.as_ref());
            out.push(if external {
                f.with_severity(Severity::Info)
            } else {
                f
            });
            continue;
        };
        if l.path.is_none() {
            size(&subject, l.size.unwrap_or(b.size), b, out);
        }
        if !m.attestation {
            layer(&subject, l, b, out);
        }
    }
}

fn layer(subject: &str, l: &LayerReport, b: &StoredBlob, out: &mut Vec<Finding>) {
    if let (Some(diff_id), Some(actual)) = (&l.diff_id, &b.uncompressed_digest)
        && diff_id != actual
    {
        let hint = if *diff_id == b.digest && b.compression != Compression::None {
            format!(
                "; it is the digest of the {} bytes as stored, not of the tar (podman#25593)",
                b.compression
            )
        } else {
            String::new()
        };
        out.push(Finding::new(
            Code::DiffidMismatch,
            subject,
            format!(
                "the config's diff_id is {diff_id}, the decompressed layer hashes to {actual}{hint}; \
                 docker load fails (\"invalid diffID\"), ctr import too (\"wrong diff id \
                 calculated on extraction\")"
            ),
        ));
    }
    let Some(mt) = &l.media_type else { return };
    media_type(subject, mt, out);
    if let Some(expected) = media::layer_compression(mt)
        && expected != b.compression
    {
        out.push(Finding::new(
            Code::MediaTypeCompressionMismatch,
            subject,
            format!(
                "the media type {mt} says {expected}, the bytes are {}",
                b.compression
            ),
        ));
    }
}

/// `manifest.json` and `index.json` must describe the same images: the same config, the same
/// layers in the same order, the same names.
fn hybrid(r: &ArchiveReport, out: &mut Vec<Finding>) {
    let (Some(items), Some(index)) = (&r.manifest_json, &r.index_json) else {
        return;
    };
    if index.manifests_null {
        return; // index-manifests-null says it.
    }
    let disagree = |subject: String, message: String| {
        Finding::new(Code::ManifestJsonIndexDisagree, subject, message)
    };
    for image in &r.images {
        match (
            image.index_json_entries.first(),
            image.manifest_json_items.is_empty(),
        ) {
            (Some(e), true) => out.push(disagree(
                format!("index.json manifests[{e}]"),
                "no manifest.json item has this image's config: docker-archive readers \
                 (Docker classic store, Podman's fallback) do not see it"
                    .into(),
            )),
            (None, false) => out.push(disagree(
                format!("manifest.json[{}]", image.manifest_json_items[0]),
                "this item's config belongs to no index.json image: OCI readers (containerd, \
                 Podman) do not see it"
                    .into(),
            )),
            _ => {}
        }
        for &i in &image.manifest_json_items {
            let Some(item) = items.get(i) else { continue };
            join(r, image, i, item, out);
        }
        names_disagree(image, out);
    }
}

fn join(
    r: &ArchiveReport,
    image: &ImageReport,
    i: usize,
    item: &crate::oci::archive::ManifestJsonItem,
    out: &mut Vec<Finding>,
) {
    let subject = format!("manifest.json[{i}]");
    let config = r.resolve(&item.config).and_then(|m| m.digest.clone());
    if image.index_json_entries.is_empty() {
        return;
    }
    if let Some(m) = image
        .manifests
        .iter()
        .find(|m| m.config.as_ref().and_then(|c| c.digest.clone()) == config)
    {
        let from_item: Vec<Option<Digest>> = item
            .layers
            .iter()
            .map(|p| r.resolve(p).and_then(|m| m.digest.clone()))
            .collect();
        let from_manifest: Vec<Option<Digest>> =
            m.layers.iter().map(|l| l.digest.clone()).collect();
        if from_item.len() != from_manifest.len() {
            out.push(Finding::new(
                Code::LayerCountMismatch,
                subject.clone(),
                format!(
                    "manifest.json lists {} layer(s), index.json's manifest {}",
                    from_item.len(),
                    from_manifest.len()
                ),
            ));
        } else if let Some(j) = (0..from_item.len()).find(|&j| from_item[j] != from_manifest[j]) {
            out.push(Finding::new(
                Code::ManifestJsonIndexDisagree,
                subject.clone(),
                format!(
                    "Layers[{j}] ({}) holds {}, index.json's manifest says {}",
                    item.layers[j],
                    show(from_item[j].as_ref()),
                    show(from_manifest[j].as_ref())
                ),
            ));
        }
    }
}

/// At most this many names are listed in one finding; the rest are counted. Findings name
/// what differs, so their size does not grow with the archive (an archive of many tags whose
/// every finding listed every tag printed gigabytes).
const NAMES_SHOWN: usize = 8;

/// One finding per image when `manifest.json`'s RepoTags and `index.json`'s
/// `io.containerd.image.name` name it differently, naming only the names on one side alone.
fn names_disagree(image: &ImageReport, out: &mut Vec<Finding>) {
    let Some(&first) = image.manifest_json_items.first() else {
        return;
    };
    if image.index_json_entries.is_empty() {
        return;
    }
    let tags = normalized(&image.names.repo_tags);
    let names = normalized(&image.names.image_names);
    if names.is_empty() || tags == names {
        return;
    }
    let only_tags: Vec<&String> = tags.difference(&names).collect();
    let only_names: Vec<&String> = names.difference(&tags).collect();
    out.push(Finding::new(
        Code::ManifestJsonIndexDisagree,
        format!("manifest.json[{first}]"),
        format!(
            "RepoTags alone name {}, index.json's io.containerd.image.name alone names {}: \
             Docker's classic store and containerd name the image differently",
            summarize(&only_tags),
            summarize(&only_names)
        ),
    ));
}

/// `["a", "b"]`, or the first [`NAMES_SHOWN`] and how many more; `nothing` when empty.
fn summarize(names: &[&String]) -> String {
    if names.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<&&String> = names.iter().take(NAMES_SHOWN).collect();
    match names.len().saturating_sub(NAMES_SHOWN) {
        0 => format!("{shown:?}"),
        more => format!("{shown:?} and {more} more"),
    }
}

fn show(d: Option<&Digest>) -> String {
    d.map_or("nothing".into(), |d| d.to_string())
}

/// Names as distribution/reference's `ParseNormalizedNamed` canonicalizes them, so
/// `alpine:latest` and `docker.io/library/alpine:latest` compare equal.
fn normalized(names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| {
            crate::reference::parse_normalized_named(n)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| n.clone())
        })
        .collect()
}

/// Docker >= 25 lists every layer, uncompressed, in `LayerSources`.
fn layer_sources(r: &ArchiveReport, out: &mut Vec<Finding>) {
    for (i, item) in r.manifest_json.iter().flatten().enumerate() {
        let n = item
            .layer_sources
            .values()
            .filter(|s| {
                s.media_type.as_deref().and_then(media::layer_compression)
                    == Some(Compression::None)
            })
            .count();
        if n > 0 {
            out.push(Finding::new(
                Code::LayerSourcesUncompressed,
                format!("manifest.json[{i}] LayerSources"),
                format!(
                    "LayerSources lists {n} uncompressed layer(s), as Docker >= 25 does: \
                     go-containerregistry < 0.19 fails on them (\"unknown blob\", \
                     go-containerregistry#1870)"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oci::archive::testutil::{
        TestImage, TestLayer, containerd_hybrid, docker_v24, names, oci_archive,
    };
    use crate::oci::media_type;
    use crate::verify::Inspection;

    fn findings(r: &Inspection, code: Code) -> Vec<&Finding> {
        r.findings.iter().filter(|f| f.code == code).collect()
    }

    /// podman#25593: the DiffID of an xz layer taken as the digest of the compressed file.
    #[test]
    fn diffid_of_compressed_bytes_names_the_mistake() {
        let layer = TestLayer::new(&[("a", "b")], Compression::Zstd, media::OCI_LAYER_ZSTD);
        let config = json!({"os": "linux", "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest().to_string()]}});
        let r = Inspection::of(
            oci_archive(&TestImage::with_config(vec![layer], &config), json!({})).read(),
        );
        let [f] = findings(&r, Code::DiffidMismatch)[..] else {
            panic!("{:#?}", r.findings)
        };
        assert!(f.message.contains("zstd bytes as stored"), "{}", f.message);
        assert!(f.subject.ends_with("layers[0]"));
    }

    #[test]
    fn familiar_and_full_names_agree() {
        let (mut a, _) = containerd_hybrid();
        a.edit_json("index.json", |v| {
            v["manifests"][0]["annotations"]["io.containerd.image.name"] =
                json!("docker.io/library/alpine:latest");
        })
        .edit_json("manifest.json", |v| {
            v[0]["RepoTags"] = json!(["alpine:latest"])
        });
        let r = Inspection::of(a.read());
        assert_eq!(
            findings(&r, Code::ManifestJsonIndexDisagree),
            Vec::<&Finding>::new()
        );
    }

    #[test]
    fn hybrid_images_missing_from_one_side_disagree() {
        // A second manifest.json item whose config no index.json image has.
        let (mut a, _) = containerd_hybrid();
        let other = TestImage::one_layer();
        other.add_blobs(&mut a);
        let item = json!({
            "Config": format!("blobs/sha256/{}", other.config_digest().hex()),
            "RepoTags": ["other.test/x:1"],
            "Layers": [format!("blobs/sha256/{}", other.layers[0].digest().hex())],
        });
        a.edit_json("manifest.json", |v| v.as_array_mut().unwrap().push(item));
        let r = Inspection::of(a.read());
        let subjects: Vec<&str> = findings(&r, Code::ManifestJsonIndexDisagree)
            .iter()
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(subjects, ["manifest.json[1]"], "{:#?}", r.findings);
        assert_eq!(r.report.images.len(), 2);
    }

    #[test]
    fn layer_count_of_manifest_json_and_index_disagree() {
        let (mut a, f) = containerd_hybrid();
        let layer = format!("blobs/sha256/{}", f.amd64.layers[0].digest().hex());
        a.edit_json("manifest.json", |v| v[0]["Layers"] = json!([layer, layer]));
        let r = Inspection::of(a.read());
        let subjects: Vec<&str> = findings(&r, Code::LayerCountMismatch)
            .iter()
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(subjects, ["manifest.json[0]"], "{:#?}", r.findings);
    }

    #[test]
    fn an_unparsable_config_says_nothing_about_layers_or_platform() {
        let image = TestImage::one_layer();
        let mut a = oci_archive(&image, names("a.test/x:1", "a.test/x:1"));
        // Same name, other bytes that are not JSON: what the bytes show, nothing derived from
        // a config that could not be read (no layer-count-mismatch, no platform-missing).
        a.replace(
            &format!("blobs/sha256/{}", image.config_digest().hex()),
            "{not json",
        );
        let r = Inspection::of(a.read());
        let codes: Vec<Code> = r.findings.iter().map(|f| f.code).collect();
        let want = [Code::DigestMismatch, Code::SizeMismatch, Code::InvalidJson];
        assert_eq!(codes, want, "{:#?}", r.findings);
    }

    #[test]
    fn foreign_layers_may_be_absent() {
        let layer = TestLayer::new(
            &[("a", "b")],
            Compression::Gzip,
            media::DOCKER_FOREIGN_LAYER,
        );
        let image = TestImage::new(vec![layer], "windows", "amd64");
        let mut a = oci_archive(&image, names("a.test/x:1", "a.test/x:1"));
        a.remove(&format!("blobs/sha256/{}", image.layers[0].digest().hex()));
        let r = Inspection::of(a.read());
        let [f] = findings(&r, Code::BlobMissing)[..] else {
            panic!("{:#?}", r.findings)
        };
        assert_eq!(f.severity, Severity::Info);
    }

    #[test]
    fn docker_archive_layer_sources_give_the_media_type() {
        let image = TestImage::new(
            vec![TestLayer::new(
                &[("a", "b")],
                Compression::Gzip,
                media_type::OCI_LAYER_GZIP,
            )],
            "linux",
            "amd64",
        );
        let l = &image.layers[0];
        let source = json!({"mediaType": media_type::OCI_LAYER_TAR, "size": 1, "digest": l.digest().to_string()});
        let r = Inspection::of(
            docker_v24(&image, "app:1")
                .edit_json("manifest.json", |v| {
                    v[0]["LayerSources"] = json!({l.diff_id().to_string(): source})
                })
                .read(),
        );
        let layer = &r.report.images[0].manifests[0].layers[0];
        assert_eq!(layer.media_type.as_deref(), Some(media_type::OCI_LAYER_TAR));
        assert_eq!(findings(&r, Code::MediaTypeCompressionMismatch).len(), 1);
    }
}
