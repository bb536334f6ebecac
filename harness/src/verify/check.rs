//! [`check`]: the entry point that runs every oracle, and the layout oracles (which metadata
//! files exist and what they say at the top level). Members are checked in `members.rs`,
//! images in `images.rs`.

use crate::oci::annotation;
use crate::oci::archive::ArchiveReport;
use crate::verify::{Finding, FindingCode as Code, Severity};
use crate::verify::{images, members};

/// Runs every oracle over a report. Findings come most severe first, then by code and
/// subject, so the order is stable for snapshots.
pub fn check(report: &ArchiveReport) -> Vec<Finding> {
    let mut out = Vec::new();
    layout(report, &mut out);
    index_graph(report, &mut out);
    members::check_members(report, &mut out);
    images::check_images(report, &mut out);
    out.sort_by(|a, b| {
        (a.severity, a.code, &a.subject, &a.message)
            .cmp(&(b.severity, b.code, &b.subject, &b.message))
    });
    out.dedup();
    out
}

/// The descriptor graph's cycles and the bounds the walk met.
fn index_graph(r: &ArchiveReport, out: &mut Vec<Finding>) {
    for digest in &r.index_graph.cycles {
        out.push(Finding::new(
            Code::IndexCycle,
            format!("index {digest}"),
            "the index lists itself or an index above it; a reader that follows indexes \
             without a visited set never finishes",
        ));
    }
    if r.index_graph.truncated {
        out.push(Finding::new(
            Code::IndexGraphTruncated,
            "index.json",
            format!(
                "the descriptor graph has more than {} descriptors or indexes nested deeper \
                 than four levels; what lies beyond was not followed or checked",
                crate::oci::archive::MAX_DESCRIPTORS
            ),
        ));
    }
}

fn layout(r: &ArchiveReport, out: &mut Vec<Finding>) {
    let has = |p: &str| r.member(p).is_some();
    if r.layout == crate::oci::archive::LayoutKind::Unknown {
        out.push(Finding::new(
            Code::UnrecognizedLayout,
            "archive",
            "no manifest.json, index.json or oci-layout: no loader can read this archive",
        ));
    }
    if has("index.json") && !has("oci-layout") {
        let (severity, who) = if has("manifest.json") {
            (
                Severity::Warning,
                "containerd's ImportIndex ignores index.json and imports it as a docker-archive",
            )
        } else {
            (
                Severity::Error,
                "containerd's ImportIndex refuses it (\"unrecognized image format\")",
            )
        };
        out.push(
            Finding::new(
                Code::OciLayoutMissing,
                "oci-layout",
                format!("index.json without oci-layout: {who}"),
            )
            .with_severity(severity),
        );
    }
    if has("oci-layout") && !has("index.json") {
        out.push(Finding::new(
            Code::IndexJsonMissing,
            "index.json",
            "oci-layout without index.json: containerd fails (\"missing index.json in OCI layout\")",
        ));
    }
    if let Some(layout) = &r.oci_layout
        && layout.version.as_deref() != Some("1.0.0")
    {
        out.push(Finding::new(
            Code::BadOciLayoutVersion,
            "oci-layout",
            format!(
                "imageLayoutVersion is {:?}, not \"1.0.0\": containerd fails (\"unsupported OCI version\")",
                layout.version.as_deref().unwrap_or("")
            ),
        ));
    }
    if r.manifest_json_null {
        out.push(Finding::new(
            Code::ManifestJsonNull,
            "manifest.json",
            "manifest.json is null: moby refuses it (\"manifest cannot be null (but can be [])\")",
        ));
    }
    if let Some(index) = &r.index_json {
        if index.manifests_null {
            out.push(Finding::new(
                Code::IndexManifestsNull,
                "index.json",
                "index.json \"manifests\" is null or missing (Docker 25.0.0-25.0.2 saving by ID, \
                 moby#47210): OCI readers find no image",
            ));
        }
        for (i, d) in index.manifests.iter().enumerate() {
            let Some(ref_name) = d.annotations.get(annotation::REF_NAME) else {
                continue;
            };
            if !ref_name.contains('/') && !ref_name.contains(':') {
                out.push(Finding::new(
                    Code::RefNameTagOnly,
                    format!("index.json manifests[{i}]"),
                    format!(
                        "org.opencontainers.image.ref.name is the tag alone ({ref_name:?}): \
                         Podman 3.4 names the image localhost/{ref_name}:latest (REGRESSIONS.md R1)"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::*;
    use crate::oci::Digest;
    use crate::oci::archive::testutil::{
        ArchiveBuilder, TarEntry, TestImage, TestLayer, compress, containerd_hybrid, crafted,
        docker_v24, layer_tar, names, nested_indexes, oci_archive, podman_docker_archive, raw_tar,
        self_referencing_index,
    };
    use crate::oci::archive::{Compression, read_archive};
    use crate::oci::media_type;
    use crate::verify::testutil::codes;

    /// The findings on a tar.
    fn findings(tar: &[u8]) -> Vec<Finding> {
        check(&read_archive(tar).unwrap())
    }

    fn full_names() -> Value {
        names("example.test/app:1", "example.test/app:1")
    }

    fn oci(image: &TestImage) -> ArchiveBuilder {
        oci_archive(image, full_names())
    }

    fn layer_path(image: &TestImage) -> String {
        format!("blobs/sha256/{}", image.layers[0].digest().hex())
    }

    fn with_layer(files: &[(&str, TarEntry)], c: Compression, mt: &str) -> TestImage {
        let tar = raw_tar(files);
        let layer = TestLayer {
            stored: compress(c, &tar),
            tar,
            media_type: mt.into(),
        };
        TestImage::new(vec![layer], "linux", "amd64")
    }

    type Case = (&'static str, fn() -> Vec<u8>, Code, Severity);

    /// One archive per finding code (and per severity context), each provoking it.
    const CASES: &[Case] = &[
        (
            "layer blob removed",
            || {
                let i = TestImage::one_layer();
                oci(&i).remove(&layer_path(&i)).tar()
            },
            Code::BlobMissing,
            Severity::Error,
        ),
        (
            "containerd platform never pulled",
            || containerd_hybrid().0.tar(),
            Code::BlobMissing,
            Severity::Warning,
        ),
        (
            "manifest.json layer path removed",
            || {
                let a = docker_v24(&TestImage::one_layer(), "app:1");
                let p = a
                    .entries
                    .iter()
                    .find(|(p, _)| p.ends_with("layer.tar"))
                    .unwrap()
                    .0
                    .clone();
                a.clone().remove(&p).tar()
            },
            Code::MemberMissing,
            Severity::Error,
        ),
        (
            "blob bytes replaced",
            || {
                let i = TestImage::one_layer();
                oci(&i)
                    .replace(&layer_path(&i), layer_tar(&[("x", "y")]))
                    .tar()
            },
            Code::DigestMismatch,
            Severity::Error,
        ),
        (
            "descriptor size off by one",
            || {
                let i = TestImage::one_layer().edit_manifest(|m| {
                    let n = m["layers"][0]["size"].as_u64().unwrap();
                    m["layers"][0]["size"] = json!(n + 1);
                });
                oci(&i).tar()
            },
            Code::SizeMismatch,
            Severity::Error,
        ),
        (
            "diff_id of the compressed bytes (R2)",
            || {
                let layer =
                    TestLayer::new(&[("a", "b")], Compression::Xz, media_type::OCI_LAYER_TAR);
                let config = json!({"os": "linux", "architecture": "amd64",
                "rootfs": {"type": "layers", "diff_ids": [layer.digest().to_string()]}});
                oci(&TestImage::with_config(vec![layer], &config)).tar()
            },
            Code::DiffidMismatch,
            Severity::Error,
        ),
        (
            "two diff_ids, one layer",
            || {
                let l = TestLayer::plain(&[("a", "b")]);
                let d = l.diff_id().to_string();
                let config = json!({"os": "linux", "architecture": "amd64",
                "rootfs": {"type": "layers", "diff_ids": [d, d]}});
                oci(&TestImage::with_config(vec![l], &config)).tar()
            },
            Code::LayerCountMismatch,
            Severity::Error,
        ),
        (
            "index.json manifests null (moby#47210)",
            || {
                oci(&TestImage::one_layer())
                    .edit_json("index.json", |v| v["manifests"] = Value::Null)
                    .tar()
            },
            Code::IndexManifestsNull,
            Severity::Error,
        ),
        (
            "manifest.json null",
            || {
                docker_v24(&TestImage::one_layer(), "app:1")
                    .replace("manifest.json", "null")
                    .tar()
            },
            Code::ManifestJsonNull,
            Severity::Error,
        ),
        (
            "RepoTags name another image",
            || {
                containerd_hybrid()
                    .0
                    .edit_json("manifest.json", |v| {
                        v[0]["RepoTags"] = json!(["other.test/app:2"])
                    })
                    .tar()
            },
            Code::ManifestJsonIndexDisagree,
            Severity::Error,
        ),
        (
            "manifest.json layer is another blob",
            || {
                let (mut a, f) = containerd_hybrid();
                let config = format!("blobs/sha256/{}", f.amd64.config_digest().hex());
                a.edit_json("manifest.json", |v| v[0]["Layers"] = json!([config]))
                    .tar()
            },
            Code::ManifestJsonIndexDisagree,
            Severity::Error,
        ),
        (
            "ref.name is the tag alone (R1)",
            || oci_archive(&TestImage::one_layer(), names("example.test/app:1", "1")).tar(),
            Code::RefNameTagOnly,
            Severity::Warning,
        ),
        (
            "gzip bytes, tar media type",
            || {
                let i = with_layer(
                    &[("a", TarEntry::file("b"))],
                    Compression::Gzip,
                    media_type::OCI_LAYER_TAR,
                );
                oci(&i).tar()
            },
            Code::MediaTypeCompressionMismatch,
            Severity::Error,
        ),
        (
            "unknown layer media type",
            || {
                let i = with_layer(
                    &[("a", TarEntry::file("b"))],
                    Compression::None,
                    "application/x-weird",
                );
                oci(&i).tar()
            },
            Code::UnknownMediaType,
            Severity::Warning,
        ),
        (
            "docker zstd media type",
            || {
                let mt = crate::oci::archive::media::DOCKER_LAYER_ZSTD;
                oci(&with_layer(
                    &[("a", TarEntry::file("b"))],
                    Compression::Zstd,
                    mt,
                ))
                .tar()
            },
            Code::NonstandardMediaType,
            Severity::Warning,
        ),
        (
            "Docker 25 LayerSources",
            || {
                let i = TestImage::one_layer();
                let l = &i.layers[0];
                let source = json!({"mediaType": media_type::OCI_LAYER_TAR,
                "size": l.stored.len(), "digest": l.digest().to_string()});
                docker_v24(&i, "app:1")
                    .edit_json("manifest.json", |v| {
                        v[0]["LayerSources"] = json!({l.diff_id().to_string(): source})
                    })
                    .tar()
            },
            Code::LayerSourcesUncompressed,
            Severity::Info,
        ),
        (
            "archive member escapes",
            || oci(&TestImage::one_layer()).file("../evil", "x").tar(),
            Code::UnsafePath,
            Severity::Error,
        ),
        (
            "layer entry written through a symlink",
            || {
                let files = [
                    ("etc", TarEntry::Symlink("/etc".into())),
                    ("etc/passwd", TarEntry::file("x")),
                ];
                oci(&with_layer(
                    &files,
                    Compression::Gzip,
                    media_type::OCI_LAYER_GZIP,
                ))
                .tar()
            },
            Code::UnsafePath,
            Severity::Error,
        ),
        (
            "absolute layer entry",
            || {
                oci(&with_layer(
                    &[("/etc/x", TarEntry::file("x"))],
                    Compression::None,
                    media_type::OCI_LAYER_TAR,
                ))
                .tar()
            },
            Code::UnsafePath,
            Severity::Warning,
        ),
        (
            "index.json twice, different content",
            || {
                let mut a = oci(&TestImage::one_layer());
                let first = a.get_json("index.json");
                a.edit_json("index.json", |v| v["annotations"] = json!({"x": "y"}));
                a.json("index.json", &first).tar()
            },
            Code::DuplicateEntry,
            Severity::Error,
        ),
        (
            "layer entry twice",
            || {
                let files = [("a", TarEntry::file("1")), ("a", TarEntry::file("2"))];
                oci(&with_layer(
                    &files,
                    Compression::None,
                    media_type::OCI_LAYER_TAR,
                ))
                .tar()
            },
            Code::DuplicateEntry,
            Severity::Warning,
        ),
        (
            "index.json not JSON",
            || {
                oci(&TestImage::one_layer())
                    .replace("index.json", "{")
                    .tar()
            },
            Code::InvalidJson,
            Severity::Error,
        ),
        (
            "manifest digest not sha256",
            || {
                let i = TestImage::one_layer()
                    .edit_manifest(|m| m["layers"][0]["digest"] = json!("sha256:XYZ"));
                oci(&i).tar()
            },
            Code::InvalidJson,
            Severity::Error,
        ),
        (
            "config over the buffering limit",
            || {
                let l = TestLayer::plain(&[("a", "b")]);
                let config = json!({"os": "linux", "architecture": "amd64",
                "rootfs": {"type": "layers", "diff_ids": [l.diff_id().to_string()]},
                "config": {"Labels": {"big": "x".repeat(5 << 20)}}});
                oci(&TestImage::with_config(vec![l], &config)).tar()
            },
            Code::JsonTooLarge,
            Severity::Error,
        ),
        (
            "corrupt gzip layer",
            || {
                let mut layer = TestLayer::new(
                    &[("a", &"b".repeat(4096))],
                    Compression::Gzip,
                    media_type::OCI_LAYER_GZIP,
                );
                let n = layer.stored.len();
                layer.stored[n / 2] ^= 0xff;
                layer.stored[n / 2 + 1] ^= 0xff;
                oci(&TestImage::new(vec![layer], "linux", "amd64")).tar()
            },
            Code::LayerUnreadable,
            Severity::Error,
        ),
        (
            "dangling archive symlink",
            || {
                oci(&TestImage::one_layer())
                    .link("extra.tar", TarEntry::Symlink("gone.tar".into()))
                    .tar()
            },
            Code::LinkUnresolved,
            Severity::Error,
        ),
        (
            "oci-archive without oci-layout",
            || oci(&TestImage::one_layer()).remove("oci-layout").tar(),
            Code::OciLayoutMissing,
            Severity::Error,
        ),
        (
            "hybrid without oci-layout",
            || containerd_hybrid().0.remove("oci-layout").tar(),
            Code::OciLayoutMissing,
            Severity::Warning,
        ),
        (
            "oci-layout without index.json",
            || oci(&TestImage::one_layer()).remove("index.json").tar(),
            Code::IndexJsonMissing,
            Severity::Error,
        ),
        (
            "oci-layout version 2",
            || {
                oci(&TestImage::one_layer())
                    .replace("oci-layout", r#"{"imageLayoutVersion":"2.0.0"}"#)
                    .tar()
            },
            Code::BadOciLayoutVersion,
            Severity::Error,
        ),
        (
            "config without os",
            || {
                let l = TestLayer::plain(&[("a", "b")]);
                let config =
                    json!({"rootfs": {"type": "layers", "diff_ids": [l.diff_id().to_string()]}});
                oci(&TestImage::with_config(vec![l], &config)).tar()
            },
            Code::PlatformMissing,
            Severity::Warning,
        ),
        (
            "no metadata at all",
            || ArchiveBuilder::default().file("hello.txt", "hi").tar(),
            Code::UnrecognizedLayout,
            Severity::Error,
        ),
        (
            "an index listing itself",
            || self_referencing_index().tar(),
            Code::IndexCycle,
            Severity::Error,
        ),
        (
            "an index wider than the reader follows",
            || wide_index().tar(),
            Code::IndexGraphTruncated,
            Severity::Warning,
        ),
    ];

    /// An index listing more manifests than the reader follows.
    fn wide_index() -> ArchiveBuilder {
        let many: Vec<Value> = (0..crate::oci::archive::MAX_DESCRIPTORS + 10)
            .map(|i| {
                json!({"mediaType": media_type::OCI_MANIFEST,
                       "digest": Digest::sha256(i.to_string().as_bytes()).to_string(), "size": 2})
            })
            .collect();
        let wide = serde_json::to_vec(&json!({"schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX, "manifests": many}))
        .unwrap();
        let mut a = ArchiveBuilder::default();
        let d = a.blob(&wide);
        a.json(
            "index.json",
            &json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
            "manifests": [{"mediaType": media_type::OCI_INDEX, "digest": d.to_string(),
                           "size": wide.len()}]}),
        );
        a.file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#);
        a
    }

    #[test]
    fn every_finding_code_is_provoked() {
        for (name, build, code, severity) in CASES {
            let found = findings(&build());
            assert!(
                found
                    .iter()
                    .any(|f| f.code == *code && f.severity == *severity),
                "{name}: want {code} ({}), got {found:#?}",
                severity.as_str(),
            );
        }
        for code in Code::ALL {
            assert!(CASES.iter().any(|c| c.2 == code), "no case provokes {code}");
        }
    }

    /// Clean archives of every layout and of every producer the reader's tests model: no
    /// errors, and only the warnings that describe the producer (R1's tag-only ref.name, R5's
    /// LayerSources, the platforms containerd never pulled).
    #[test]
    fn clean_archives_have_no_findings_but_their_producers_traits() {
        let image = TestImage::one_layer();
        let cases: [(&str, Vec<u8>, &[Code]); 9] = [
            ("oci-archive with full names", oci(&image).tar(), &[]),
            ("docker 24", docker_v24(&image, "app:1").tar(), &[]),
            (
                "podman docker-archive, symlinked layer",
                podman_docker_archive(&image).0.tar(),
                &[],
            ),
            (
                "nested indexes without media types",
                nested_indexes(&image).0.tar(),
                &[],
            ),
            (
                "oci-archive, tag-only ref.name",
                oci_archive(&image, names("a.test/x:1", "1")).tar(),
                &[Code::RefNameTagOnly],
            ),
            (
                "containerd hybrid",
                containerd_hybrid().0.tar(),
                &[Code::BlobMissing, Code::RefNameTagOnly],
            ),
            (
                "crafted oci-archive",
                crafted("oci-archive").0,
                &[Code::RefNameTagOnly],
            ),
            (
                "crafted docker-oci-hybrid",
                crafted("docker-oci-hybrid").0,
                &[Code::RefNameTagOnly, Code::LayerSourcesUncompressed],
            ),
            (
                "crafted containerd-hybrid",
                crafted("containerd-hybrid").0,
                &[Code::RefNameTagOnly],
            ),
        ];
        for (name, tar, want) in cases {
            let found = findings(&tar);
            let got: Vec<Code> = found.iter().map(|f| f.code).collect();
            assert_eq!(got, want, "{name}: {found:#?}");
            assert!(
                found.iter().all(|f| f.severity != Severity::Error),
                "{name}"
            );
        }
    }

    /// Each layer compression under its own media type is clean; bzip2 and xz have none, and
    /// under the tar media type (what R2's importers wrote) they are a mismatch.
    #[test]
    fn layer_compressions_against_their_media_types() {
        let table = [
            (Compression::Gzip, media_type::OCI_LAYER_GZIP, false),
            (
                Compression::Zstd,
                "application/vnd.oci.image.layer.v1.tar+zstd",
                false,
            ),
            (Compression::Bzip2, media_type::OCI_LAYER_TAR, true),
            (Compression::Xz, media_type::OCI_LAYER_TAR, true),
        ];
        for (c, mt, mismatch) in table {
            let layer = TestLayer::new(&[("etc/hello", "hello\n"), ("etc/x", "x")], c, mt);
            let image = TestImage::new(vec![layer], "linux", "amd64");
            let found = findings(&oci_archive(&image, json!({})).tar());
            let want: BTreeSet<_> = if mismatch {
                [("media-type-compression-mismatch", Severity::Error)].into()
            } else {
                BTreeSet::new()
            };
            assert_eq!(codes(&found), want, "{c}: {found:#?}");
        }
    }

    #[test]
    fn an_empty_archive_is_an_unrecognized_layout() {
        assert_eq!(
            codes(&findings(b"")),
            [("unrecognized-layout", Severity::Error)].into()
        );
    }

    /// An index stored under a name its bytes do not hash to, listing itself.
    #[test]
    fn a_self_referencing_index_is_a_digest_mismatch_and_a_cycle() {
        let found = findings(&self_referencing_index().tar());
        assert!(
            found.iter().any(|f| f.code == Code::DigestMismatch),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.code == Code::IndexCycle && f.severity == Severity::Error),
            "{found:#?}"
        );
    }

    /// Issue 13, item 3: 35 KB of tags printed 950 MB, because every item's finding listed
    /// every tag. A finding names what differs, once per image, summarized past a limit.
    #[test]
    fn name_findings_stay_small_whatever_the_tag_count() {
        let tags: Vec<String> = (0..3000).map(|i| format!("a.test/app:{i}")).collect();
        let tar = containerd_hybrid()
            .0
            .edit_json("manifest.json", |v| v[0]["RepoTags"] = json!(tags))
            .tar();
        let found: Vec<Finding> = findings(&tar)
            .into_iter()
            .filter(|f| f.code == Code::ManifestJsonIndexDisagree)
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        let message = &found[0].message;
        assert!(message.len() < 1024, "{} bytes: {message}", message.len());
        assert!(message.contains("and 2992 more"), "{message}");
    }

    /// Issue 13, item 5: a small layer that decompresses to far more than a thousand times its
    /// size stops being read at the bound, as a layer-unreadable finding that says why.
    #[test]
    fn a_decompression_bomb_layer_is_cut_off_and_reported() {
        let zeros = vec![0u8; 96 << 20];
        let image = with_layer(
            &[("zeros", TarEntry::File(zeros))],
            Compression::Zstd,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        );
        assert!(
            image.layers[0].stored.len() < 64 << 10,
            "a bomb: small stored, huge tar"
        );
        let found = findings(&oci(&image).tar());
        let bomb = found
            .iter()
            .find(|f| f.code == Code::LayerUnreadable)
            .unwrap_or_else(|| panic!("{found:#?}"));
        assert!(
            bomb.message.contains("expands more than 1024x"),
            "{}",
            bomb.message
        );
    }

    /// Issue 13, item 1: an index listing itself a thousand times (and index.json listing it
    /// a thousand times) is followed once per image, not a thousand to the fourth power.
    #[test]
    fn an_index_listing_itself_many_times_is_followed_once() {
        let name = Digest::sha256(b"anything");
        let entry =
            json!({"mediaType": media_type::OCI_INDEX, "digest": name.to_string(), "size": 1});
        let index = json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
                           "manifests": vec![entry.clone(); 1000]});
        let mut a = ArchiveBuilder::default();
        a.json(&format!("blobs/sha256/{}", name.hex()), &index);
        a.json("index.json", &index);
        a.file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#);
        let report = a.read();
        assert_eq!(report.index_graph.cycles, [name]);
        assert!(
            report.index_graph.descriptors <= 2,
            "{:?}",
            report.index_graph
        );
        assert!(codes(&check(&report)).contains(&("index-cycle", Severity::Error)));
    }

    /// More descriptors than the reader follows: it stops at the bound and says so.
    #[test]
    fn a_graph_wider_than_the_bound_is_truncated_and_says_so() {
        let a = wide_index();
        let report = a.read();
        assert!(report.index_graph.truncated);
        assert_eq!(
            report.index_graph.descriptors,
            crate::oci::archive::MAX_DESCRIPTORS
        );
        assert_eq!(
            report.images[0].manifests.len(),
            crate::oci::archive::MAX_DESCRIPTORS - 1
        );
        assert!(codes(&check(&report)).contains(&("index-graph-truncated", Severity::Warning)));
    }

    #[test]
    fn findings_are_sorted_most_severe_first() {
        let r = findings(&(CASES[1].1)());
        let mut a = oci(&TestImage::one_layer());
        a.file("../evil", "x").replace("index.json", "{");
        let r2 = findings(&a.tar());
        for r in [r, r2] {
            let keys: Vec<_> = r.iter().map(|f| (f.severity, f.code)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
        }
    }
}
