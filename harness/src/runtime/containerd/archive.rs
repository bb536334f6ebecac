//! The archive side of the containerd import: the single streaming pass over the tar
//! ([`scan_archive`]), and the OCI documents it and the label walk read, each following the
//! containerd 1.6 function named on it (`images/archive/importer.go`, `import.go`,
//! `images/image.go`, `images/handlers.go`, `images/mediatypes.go`).
//!
//! The scan runs on a blocking thread and hands the driver what it finds in archive order:
//! every other regular member as a stream of chunks (the driver writes them to the content store
//! as they arrive, as `ImportIndex` ingests every member), symlinks, `index.json` whole, and
//! what `oci-layout` and `manifest.json` say. Nothing is buffered beyond a few chunks, nothing
//! is written to disk, and the file is read once.

use std::collections::HashMap;
use std::io::Read;

use containerd_client::types::Descriptor;
use serde::{Deserialize, Deserializer};
use tokio::sync::mpsc;

use super::docker_archive::{DockerItem, decode_manifest_json};
use super::platform::Platform;
use crate::oci::{annotation, media_type};

/// Bytes per chunk of a blob, and so per Content `Write` message (containerd accepts up to
/// 16 MiB per gRPC message).
pub(super) const CHUNK: usize = 1 << 20;
/// Largest `index.json`, `oci-layout`, `manifest.json`, or manifest read back, as containerd's
/// importer limits the JSON it decodes (`jsonLimit`).
pub(super) const JSON_LIMIT: usize = 20 << 20;

pub(super) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";

/// `Client.Import`'s `imageName` without a ref translator: the containerd name annotation, else
/// the OCI ref name as written; `None` when neither is set (no record is created).
pub(super) fn image_name(annotations: &HashMap<String, String>) -> Option<&str> {
    [annotation::IMAGE_NAME, annotation::REF_NAME]
        .iter()
        .filter_map(|k| annotations.get(*k))
        .map(String::as_str)
        .find(|n| !n.is_empty())
}

// ---------------------------------------------------------------------------------------------
// JSON documents, read as loosely as Go's encoding/json reads them into the ocispec types.

/// Go's encoding/json leaves a field at its zero value for `null`; serde would refuse it.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An OCI descriptor (the fields containerd's image records keep).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct OciDescriptor {
    #[serde(rename = "mediaType", default, deserialize_with = "nullable")]
    pub media_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub digest: String,
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: HashMap<String, String>,
    /// Not part of the image record (containerd's gRPC `Descriptor` has no platform), but
    /// what `images.FilterPlatforms` filters on.
    #[serde(default)]
    pub platform: Option<Platform>,
}

impl OciDescriptor {
    pub(super) fn to_proto(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: self.annotations.clone(),
        }
    }
}

/// A manifest or an index, with the fields `images.validateMediaType` looks at.
#[derive(Default, Deserialize)]
struct Document {
    #[serde(rename = "mediaType", default, deserialize_with = "nullable")]
    media_type: String,
    #[serde(default)]
    config: Option<OciDescriptor>,
    #[serde(default, deserialize_with = "nullable")]
    layers: Vec<OciDescriptor>,
    #[serde(default, deserialize_with = "nullable")]
    manifests: Vec<OciDescriptor>,
    #[serde(rename = "fsLayers", default, deserialize_with = "nullable")]
    fs_layers: Vec<serde::de::IgnoredAny>,
}

/// `ocispec.ImageLayout`, the `oci-layout` file; `None` when the key is absent or `null`
/// (Go's decoder then leaves the version an earlier `oci-layout` member set).
#[derive(Deserialize)]
struct ImageLayout {
    #[serde(rename = "imageLayoutVersion", default)]
    version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DocKind {
    Manifest,
    Index,
}

/// `images.Children` for a manifest or index blob: config then layers, or the manifests,
/// after `validateMediaType`'s checks; errors worded as containerd words them.
pub(super) fn children(
    bytes: &[u8],
    desc: &OciDescriptor,
    kind: DocKind,
) -> Result<Vec<OciDescriptor>, String> {
    let invalid =
        |e: &dyn std::fmt::Display| format!("children: invalid desc {}: {e}", desc.digest);
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| invalid(&e))?;
    let is_index = |mt: &str| mt == media_type::OCI_INDEX || mt == DOCKER_MANIFEST_LIST;
    let is_manifest =
        |mt: &str| mt == media_type::OCI_MANIFEST || mt == media_type::DOCKER_MANIFEST;
    if !doc.fs_layers.is_empty() {
        return Err(invalid(&"media-type: schema 1 not supported"));
    }
    let mt = &desc.media_type;
    match kind {
        DocKind::Manifest => {
            if !doc.manifests.is_empty() || is_index(&doc.media_type) {
                return Err(invalid(&format!(
                    "media-type: expected manifest but found index ({mt})"
                )));
            }
            Ok(doc.config.into_iter().chain(doc.layers).collect())
        }
        DocKind::Index => {
            if doc.config.is_some() || !doc.layers.is_empty() || is_manifest(&doc.media_type) {
                return Err(invalid(&format!(
                    "media-type: expected index but found manifest ({mt})"
                )));
            }
            Ok(doc.manifests)
        }
    }
}

/// The GC reference labels a parent gets for `children`, as `images.SetChildrenMappedLabels`
/// with `images.ChildGCLabels` computes them: the key prefix depends on the child's media type,
/// and a key gets the index of its child among those with the same prefix appended when that
/// index is above 0 or the prefix ends with `.`.
pub(super) fn gc_labels(children: &[OciDescriptor]) -> HashMap<String, String> {
    let mut counts: HashMap<&'static str, u32> = HashMap::new();
    let mut labels = HashMap::new();
    for child in children {
        let key = child_gc_label(&child.media_type);
        let idx = counts.entry(key).or_insert(0);
        let key = if *idx > 0 || key.ends_with('.') {
            format!("{key}{idx}")
        } else {
            key.to_string()
        };
        *idx += 1;
        labels.insert(key, child.digest.clone());
    }
    labels
}

/// `images.ChildGCLabels`.
fn child_gc_label(mt: &str) -> &'static str {
    const KNOWN_CONFIGS: [&str; 4] = [
        media_type::DOCKER_CONFIG,
        media_type::OCI_CONFIG,
        "application/vnd.containerd.container.criu.checkpoint.criu.tar",
        "application/vnd.containerd.container.checkpoint.config.v1+proto",
    ];
    const DOCKER_LAYERS: [&str; 4] = [
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ];
    if KNOWN_CONFIGS.contains(&mt) {
        return "containerd.io/gc.ref.content.config";
    }
    if mt == media_type::OCI_MANIFEST || mt == media_type::DOCKER_MANIFEST {
        return "containerd.io/gc.ref.content.m.";
    }
    // `images.IsLayerType`: OCI layers by prefix, Docker layers with any `+` suffix removed.
    let base = mt.split('+').next().unwrap_or_default();
    if mt.starts_with("application/vnd.oci.image.layer.") || DOCKER_LAYERS.contains(&base) {
        return "containerd.io/gc.ref.content.l.";
    }
    "containerd.io/gc.ref.content."
}

// ---------------------------------------------------------------------------------------------
// The single pass over the archive.

/// An archive member the import acts on, sent by the scan in archive order.
pub(super) enum Member {
    /// Any other regular file: `ImportIndex` ingests every one (`onUntarBlob`), since which
    /// of them a `manifest.json` names is known only once it has been read.
    Blob(ScannedBlob),
    /// `index.json`, whole. `ImportIndex` ingests it as a blob and reads it back; the harness
    /// keeps it in memory instead and does not store it (no record targets it).
    Index(Vec<u8>),
    /// `oci-layout`'s `imageLayoutVersion`, when it sets one.
    Layout(Option<String>),
    /// `manifest.json` as `ImportIndex` decodes it (`None`: the JSON `null`).
    DockerManifest(Option<Vec<DockerItem>>),
    /// A symlink member: its name as written, and `path.Join(path.Dir(name), linkname)`.
    Symlink { name: String, target: String },
}

/// A regular member, streamed.
pub(super) struct ScannedBlob {
    /// The cleaned member name (`blobs/sha256/<hex>`, `<v1id>/layer.tar`).
    pub name: String,
    /// The digest a `blobs/<alg>/<hex>` name declares, when it is a valid one. It only lets
    /// the write stop early when that blob is already stored; the blob is committed under the
    /// digest of its bytes, as `onUntarBlob` (which ignores the name) does.
    pub expected: Option<String>,
    /// The size in the tar header.
    pub size: u64,
    /// The bytes, in chunks of up to [`CHUNK`]; closed after the last one, or early when the
    /// scan failed inside the member. Dropping it makes the scan skip the rest of the member.
    pub data: mpsc::Receiver<Vec<u8>>,
}

/// Why the scan stopped.
#[derive(Debug)]
pub(super) enum ScanError {
    /// Reading the file failed: the harness's problem, not a refusal.
    Read(std::io::Error),
    /// The bytes are not an archive the importer accepts.
    Format(String),
}

/// What the pass found besides blobs.
#[derive(Default)]
pub(super) struct Found {
    pub index: Option<Vec<u8>>,
    pub layout: Option<String>,
    /// `None`: no `manifest.json`; `Some(None)`: the JSON `null` (Go's nil slice).
    pub docker_manifest: Option<Option<Vec<DockerItem>>>,
}

/// How `ImportIndex` reads the archive.
#[derive(Debug)]
pub(super) enum Plan {
    /// An OCI layout: the `index.json` entries.
    Oci(Vec<OciDescriptor>),
    /// A Docker archive: the `manifest.json` entries, to build manifests from.
    Docker(Vec<DockerItem>),
}

impl Found {
    /// `ImportIndex`'s decision: an OCI layout when `oci-layout` gives a version (it must be
    /// 1.0.0 and `index.json` must be there), else a Docker archive when `manifest.json`
    /// decoded to a non-nil list, else "unrecognized image format".
    pub(super) fn decide(self) -> Result<Plan, String> {
        match self.layout.filter(|v| !v.is_empty()) {
            Some(v) if v != "1.0.0" => Err(format!("unsupported OCI version {v}")),
            Some(_) => {
                let bytes = self.index.ok_or("missing index.json in OCI layout 1.0.0")?;
                let index: Document =
                    serde_json::from_slice(&bytes).map_err(|e| format!("index.json: {e}"))?;
                Ok(Plan::Oci(index.manifests))
            }
            None => match self.docker_manifest {
                Some(Some(items)) => Ok(Plan::Docker(items)),
                _ => Err("unrecognized image format".into()),
            },
        }
    }
}

/// Remembers the last error of the underlying reader, so a failure to read the file is told
/// apart from a malformed archive.
struct Tracked<R> {
    inner: R,
    error: std::rc::Rc<std::cell::Cell<Option<std::io::Error>>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.error
                .set(Some(std::io::Error::new(e.kind(), e.to_string())));
        })
    }
}

/// Reads the archive once, in order, sending what the import needs to `tx`: blobs as streams,
/// `index.json` whole, and what `oci-layout` and `manifest.json` say. Stops quietly when the
/// import stops listening. Like `ImportIndex`, only regular files count, by their
/// `path.Clean`ed names.
pub(super) fn scan_archive(file: impl Read, tx: &mpsc::Sender<Member>) -> Result<(), ScanError> {
    let read_error = std::rc::Rc::new(std::cell::Cell::new(None));
    let reader = Tracked {
        inner: std::io::BufReader::with_capacity(256 * 1024, file),
        error: read_error.clone(),
    };
    let fail = |e: std::io::Error| match read_error.take() {
        Some(read) => ScanError::Read(read),
        None => ScanError::Format(format!("failed to read archive: {e}")),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::Symlink {
            let link = entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let target = super::docker_archive::symlink_target(&raw, &link);
            if tx
                .blocking_send(Member::Symlink { name: raw, target })
                .is_err()
            {
                return Ok(());
            }
            continue;
        }
        if kind != tar::EntryType::Regular {
            continue;
        }
        let name = go_path_clean(&raw);
        let member = match name.as_str() {
            "oci-layout" => {
                let bytes = read_json_member(&mut entry).map_err(fail)?;
                let layout: ImageLayout = first_json(&bytes)
                    .map_err(|e| ScanError::Format(format!("untar oci layout {raw:?}: {e}")))?;
                Member::Layout(layout.version)
            }
            "manifest.json" => {
                let bytes = read_json_member(&mut entry).map_err(fail)?;
                let untar = |e| ScanError::Format(format!("untar manifest {raw:?}: {e}"));
                let value = first_json::<serde_json::Value>(&bytes).map_err(untar)?;
                Member::DockerManifest(decode_manifest_json(&value).map_err(untar)?)
            }
            "index.json" => {
                if entry.size() > JSON_LIMIT as u64 {
                    return Err(ScanError::Format(format!(
                        "harness: index.json is {} bytes, more than the {JSON_LIMIT} the \
                         containerd driver reads",
                        entry.size()
                    )));
                }
                Member::Index(read_json_member(&mut entry).map_err(fail)?)
            }
            _ => {
                let size = entry.size();
                let (data_tx, data) = mpsc::channel(2);
                let expected = declared_digest(&name);
                let blob = ScannedBlob {
                    name,
                    expected,
                    size,
                    data,
                };
                if tx.blocking_send(Member::Blob(blob)).is_err() {
                    return Ok(());
                }
                let mut remaining = size;
                while remaining > 0 {
                    let mut chunk = vec![0; remaining.min(CHUNK as u64) as usize];
                    let n = read_full(&mut entry, &mut chunk).map_err(fail)?;
                    if n < chunk.len() {
                        return Err(ScanError::Format(format!(
                            "failed to read archive: unexpected EOF in {raw:?}"
                        )));
                    }
                    remaining -= n as u64;
                    if data_tx.blocking_send(chunk).is_err() {
                        break; // the import skips this blob
                    }
                }
                continue;
            }
        };
        if tx.blocking_send(member).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Up to [`JSON_LIMIT`] bytes of a member, as `onUntarJSON`'s `io.LimitReader` reads them.
fn read_json_member(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(JSON_LIMIT as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Decodes the first JSON value in `bytes`, as a `json.Decoder` does (trailing bytes ignored).
fn first_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match serde_json::Deserializer::from_slice(bytes)
        .into_iter::<T>()
        .next()
    {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("EOF".into()),
    }
}

/// Fills `buf` unless the reader ends first; returns how much it read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The digest a `blobs/<algorithm>/<encoded>` name declares, if it is one go-digest accepts.
fn declared_digest(name: &str) -> Option<String> {
    let mut parts = name.split('/');
    let (Some("blobs"), Some(alg), Some(hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    };
    let lower_hex = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex.len() == len && lower_hex).then(|| format!("{alg}:{hex}"))
}

/// Go's `path.Clean`.
pub(super) fn go_path_clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|s| *s != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{FileSpec, FixtureSpec, LayerSpec, LayoutKind, write_archive};
    use crate::oci::annotation::{IMAGE_NAME, REF_NAME};
    use crate::runtime::containerd::docker_archive::DockerItem;

    fn desc(media_type: &str, digest: &str) -> OciDescriptor {
        OciDescriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            ..Default::default()
        }
    }

    #[test]
    fn gc_labels_follow_set_children_mapped_labels() {
        let manifest_children = [
            desc(media_type::OCI_CONFIG, "c"),
            desc(media_type::OCI_LAYER_TAR, "l0"),
            desc("application/vnd.docker.image.rootfs.diff.tar.gzip", "l1"),
            desc("application/vnd.oci.image.layer.v1.tar+zstd", "l2"),
        ];
        let want: HashMap<String, String> = [
            ("containerd.io/gc.ref.content.config", "c"),
            ("containerd.io/gc.ref.content.l.0", "l0"),
            ("containerd.io/gc.ref.content.l.1", "l1"),
            ("containerd.io/gc.ref.content.l.2", "l2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(gc_labels(&manifest_children), want);

        let index_children = [
            desc(media_type::OCI_MANIFEST, "m0"),
            desc(media_type::DOCKER_MANIFEST, "m1"),
            desc(media_type::OCI_INDEX, "i0"),
            desc("application/octet-stream", "x"),
            // A second config gets its index appended, as the first does not.
            desc(media_type::DOCKER_CONFIG, "c2"),
        ];
        let labels = gc_labels(&index_children);
        let get = |k: &str| labels.get(k).map(String::as_str);
        assert_eq!(get("containerd.io/gc.ref.content.m.0"), Some("m0"));
        assert_eq!(get("containerd.io/gc.ref.content.m.1"), Some("m1"));
        assert_eq!(get("containerd.io/gc.ref.content.0"), Some("i0"));
        assert_eq!(get("containerd.io/gc.ref.content.1"), Some("x"));
        assert_eq!(get("containerd.io/gc.ref.content.config"), Some("c2"));
    }

    #[test]
    fn image_name_prefers_the_containerd_annotation() {
        let ann = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        type Row = (
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
        );
        let table: &[Row] = &[
            (&[(IMAGE_NAME, "a/b:1"), (REF_NAME, "1")], Some("a/b:1")),
            (&[(REF_NAME, "latest")], Some("latest")),
            (&[(IMAGE_NAME, ""), (REF_NAME, "v2")], Some("v2")),
            (&[], None),
            (&[(IMAGE_NAME, ""), (REF_NAME, "")], None),
        ];
        for (pairs, want) in table {
            assert_eq!(image_name(&ann(pairs)), *want, "{pairs:?}");
        }
    }

    #[test]
    fn names_are_cleaned_like_go_path_clean() {
        let table = [
            ("blobs/sha256/abc", "blobs/sha256/abc"),
            ("./blobs//sha256/./abc", "blobs/sha256/abc"),
            ("blobs/x/../sha256/abc", "blobs/sha256/abc"),
            ("../index.json", "../index.json"),
            ("/index.json", "/index.json"),
            ("/../a", "/a"),
            ("", "."),
            ("./", "."),
        ];
        for (raw, want) in table {
            assert_eq!(go_path_clean(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn only_valid_digests_are_declared() {
        let hex64 = "a".repeat(64);
        assert_eq!(
            declared_digest(&format!("blobs/sha256/{hex64}")),
            Some(format!("sha256:{hex64}"))
        );
        let hex128 = "0".repeat(128);
        assert_eq!(
            declared_digest(&format!("blobs/sha512/{hex128}")),
            Some(format!("sha512:{hex128}"))
        );
        for bad in [
            format!("blobs/sha256/{}", "A".repeat(64)),
            format!("blobs/sha256/{}", "a".repeat(63)),
            format!("blobs/md5/{hex64}"),
            format!("blobs/sha256/{hex64}/x"),
            "blobs/sha256".to_string(),
        ] {
            assert_eq!(declared_digest(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn children_are_checked_like_validate_media_type() {
        let manifest = desc(media_type::OCI_MANIFEST, "sha256:m");
        let index = desc(media_type::OCI_INDEX, "sha256:i");
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:l","size":2}]}"#;
        let got = children(m, &manifest, DocKind::Manifest).unwrap();
        let digests: Vec<&str> = got.iter().map(|d| d.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:c", "sha256:l"]);

        let i = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:m","size":3,"annotations":null}]}"#;
        let got = children(i, &index, DocKind::Index).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].annotations.is_empty());

        let err = children(i, &manifest, DocKind::Manifest).unwrap_err();
        assert_eq!(
            err,
            "children: invalid desc sha256:m: media-type: expected manifest but found index \
             (application/vnd.oci.image.manifest.v1+json)"
        );
        let err = children(m, &index, DocKind::Index).unwrap_err();
        assert!(err.contains("expected index but found manifest"), "{err}");
        let err = children(br#"{"fsLayers":[{}]}"#, &manifest, DocKind::Manifest).unwrap_err();
        assert!(err.ends_with("schema 1 not supported"), "{err}");
    }

    #[test]
    fn the_layout_is_decided_as_import_index_decides_it() {
        let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:m","size":3,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let item = || DockerItem {
            config: "c.json".into(),
            ..Default::default()
        };
        let found = |layout: Option<&str>, index: Option<&[u8]>, docker: Option<Option<_>>| Found {
            index: index.map(<[u8]>::to_vec),
            layout: layout.map(String::from),
            docker_manifest: docker,
        };
        match found(Some("1.0.0"), Some(index), Some(Some(vec![item()]))).decide() {
            Ok(Plan::Oci(m)) => {
                assert_eq!(m.len(), 1, "OCI wins over manifest.json");
                assert_eq!(m[0].platform.as_ref().unwrap().architecture, "amd64");
            }
            other => panic!("{other:?}"),
        }
        let msg = |f: Found| f.decide().unwrap_err();
        assert_eq!(
            msg(found(Some("2.0.0"), Some(index), None)),
            "unsupported OCI version 2.0.0"
        );
        assert_eq!(
            msg(found(Some("1.0.0"), None, None)),
            "missing index.json in OCI layout 1.0.0"
        );
        // An empty version means no OCI layout; index.json alone is not enough.
        assert_eq!(
            msg(found(Some(""), Some(index), None)),
            "unrecognized image format"
        );
        // A `null` manifest.json is Go's nil slice: not a Docker archive either.
        assert_eq!(
            msg(found(None, None, Some(None))),
            "unrecognized image format"
        );
        match found(None, Some(index), Some(Some(vec![item()]))).decide() {
            Ok(Plan::Docker(items)) => assert_eq!(items, [item()]),
            other => panic!("{other:?}"),
        }
    }

    /// What the scan sent, with the digest of each blob's bytes as received.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Blob {
            name: String,
            expected: Option<String>,
            received: Option<String>,
        },
        Index,
        Layout(String),
        DockerManifest,
        Symlink,
    }

    /// Runs the scan on a thread, as the driver does, taking every blob unless `skip` names it.
    fn scan(bytes: Vec<u8>, skip: Option<&str>) -> (Vec<Seen>, Result<(), ScanError>) {
        let (tx, mut rx) = mpsc::channel(2);
        let scanner = std::thread::spawn(move || scan_archive(bytes.as_slice(), &tx));
        let mut seen = Vec::new();
        while let Some(member) = rx.blocking_recv() {
            seen.push(match member {
                Member::Blob(mut blob) => {
                    // `None` for a skipped blob, or one the scan stopped inside.
                    let received = (skip != Some(blob.name.as_str()))
                        .then(|| {
                            let mut bytes = Vec::new();
                            while let Some(chunk) = blob.data.blocking_recv() {
                                bytes.extend(chunk);
                            }
                            (bytes.len() as u64 == blob.size)
                                .then(|| crate::oci::Digest::sha256(&bytes).to_string())
                        })
                        .flatten();
                    Seen::Blob {
                        name: blob.name,
                        expected: blob.expected,
                        received,
                    }
                }
                Member::Index(_) => Seen::Index,
                Member::Layout(v) => Seen::Layout(v.unwrap_or_default()),
                Member::DockerManifest(_) => Seen::DockerManifest,
                Member::Symlink { .. } => Seen::Symlink,
            });
        }
        (seen, scanner.join().unwrap())
    }

    fn hybrid() -> (Vec<u8>, crate::craft::CraftedArchive) {
        let layers = vec![LayerSpec {
            files: vec![FileSpec::new("etc/scan", "scan\n")],
            ..Default::default()
        }];
        let spec = FixtureSpec {
            name: Some("example.test/scan:v1".into()),
            ..FixtureSpec::new(LayoutKind::DockerOciHybrid, layers)
        };
        let mut bytes = Vec::new();
        let facts = write_archive(&spec, &mut bytes).unwrap();
        (bytes, facts)
    }

    /// The digests of the blobs the scan sent, in archive order.
    fn blob_digests(seen: &[Seen]) -> Vec<&str> {
        seen.iter()
            .filter_map(|s| match s {
                Seen::Blob { expected, .. } => expected.as_deref(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_pass_streams_every_blob_with_its_declared_digest() {
        let (bytes, facts) = hybrid();
        let (seen, result) = scan(bytes, None);
        result.unwrap();
        for s in &seen {
            if let Seen::Blob {
                name,
                expected,
                received,
            } = s
            {
                // Every regular member is streamed; only `blobs/` names declare a digest.
                assert!(received.is_some(), "{s:?}");
                if name.starts_with("blobs/") {
                    assert!(expected.is_some(), "blob names are digests: {s:?}");
                    assert_eq!(expected, received);
                } else {
                    assert_eq!(expected, &None, "{s:?}");
                }
            }
        }
        let digests = blob_digests(&seen);
        for want in [
            &facts.config.digest,
            &facts.manifest.as_ref().unwrap().digest,
            &facts.layers[0].digest,
        ] {
            assert!(digests.contains(&want.as_str()), "{want} in {seen:?}");
        }
        assert!(seen.contains(&Seen::Index));
        assert!(seen.contains(&Seen::Layout("1.0.0".into())));
        assert!(seen.contains(&Seen::DockerManifest));
    }

    #[test]
    fn a_skipped_blob_does_not_stop_the_scan() {
        let (bytes, facts) = hybrid();
        let all = scan(bytes.clone(), None).0;
        let skip = format!("blobs/sha256/{}", facts.layers[0].digest.hex());
        let (seen, result) = scan(bytes, Some(&skip));
        result.unwrap();
        assert_eq!(blob_digests(&seen), blob_digests(&all));
        assert!(seen.contains(&Seen::Index));
    }

    #[test]
    fn a_truncated_archive_is_a_format_refusal() {
        let (bytes, _) = hybrid();
        let cut = bytes[..bytes.len() / 2].to_vec();
        let (_, result) = scan(cut, None);
        match result {
            Err(ScanError::Format(m)) => assert!(m.starts_with("failed to read archive"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_reader_is_a_read_error() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let (tx, _rx) = mpsc::channel(2);
        match scan_archive(Failing, &tx) {
            Err(ScanError::Read(e)) => assert_eq!(e.to_string(), "disk on fire"),
            other => panic!("{other:?}"),
        }
    }
}
