//! Test helpers: sample specs, and reading a crafted archive back with the `tar` crate (an
//! independent reader, so tests do not trust our own writer to check itself).

use std::io::Read;

use serde_json::Value;

use crate::craft::{
    CraftedArchive, FileSpec, FixtureSpec, ImageConfigSpec, LayerSpec, LayoutKind, write_archive,
};
use crate::oci::Digest;

/// One member as the `tar` crate reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TarMember {
    pub name: String,
    pub mode: u32,
    pub is_dir: bool,
    pub mtime: u64,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub data: Vec<u8>,
}

pub(crate) fn read_members(bytes: &[u8]) -> Vec<TarMember> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("archive is readable")
        .map(|entry| {
            let mut entry = entry.expect("entry is readable");
            let h = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            TarMember {
                name: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                mode: h.mode().unwrap(),
                is_dir: h.entry_type().is_dir(),
                mtime: h.mtime().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                uname: h.username().unwrap().unwrap_or_default().to_string(),
                gname: h.groupname().unwrap().unwrap_or_default().to_string(),
                data,
            }
        })
        .collect()
}

/// The member called `name`, or a panic listing what there is.
pub(crate) fn member<'a>(members: &'a [TarMember], name: &str) -> &'a TarMember {
    members.iter().find(|m| m.name == name).unwrap_or_else(|| {
        let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
        panic!("no member {name:?} in {names:?}")
    })
}

pub(crate) fn json(members: &[TarMember], name: &str) -> Value {
    serde_json::from_slice(&member(members, name).data).unwrap()
}

pub(crate) fn blob<'a>(members: &'a [TarMember], digest: &str) -> &'a TarMember {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    member(members, &format!("blobs/sha256/{hex}"))
}

fn file(path: &str, content: &str) -> FileSpec {
    FileSpec {
        path: path.into(),
        content: content.into(),
        mode: None,
    }
}

/// A two-layer image with a name and a run config.
pub(crate) fn sample_spec(layout: LayoutKind) -> FixtureSpec {
    FixtureSpec {
        layout,
        name: Some("dangerzone.rocks/dangerzone:latest".into()),
        ref_name: None,
        image_name: None,
        platform: None,
        layers: vec![
            LayerSpec {
                files: vec![
                    file("etc/hello", "hello\n"),
                    file("etc/os-release", "ID=craft\n"),
                ],
            },
            LayerSpec {
                files: vec![FileSpec {
                    path: "usr/local/bin/app".into(),
                    content: "#!/bin/sh\necho app\n".into(),
                    mode: Some(0o755),
                }],
            },
        ],
        config: ImageConfigSpec {
            cmd: Some(vec!["/usr/local/bin/app".into()]),
            entrypoint: None,
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
            labels: [("org.example.fixture".to_string(), "sample".to_string())].into(),
        },
    }
}

pub(crate) fn write(spec: &FixtureSpec) -> (Vec<u8>, CraftedArchive, Vec<TarMember>) {
    let mut bytes = Vec::new();
    let facts = write_archive(spec, &mut bytes).expect("spec is valid");
    let members = read_members(&bytes);
    (bytes, facts, members)
}

/// Checks a descriptor (`mediaType`, `digest`, `size`) against the blob it names.
pub(crate) fn check_descriptor(members: &[TarMember], desc: &Value) -> Digest {
    let digest = desc["digest"].as_str().expect("descriptor has a digest");
    let blob = blob(members, digest);
    assert_eq!(
        Digest::sha256(&blob.data).as_str(),
        digest,
        "blob content matches its name"
    );
    assert_eq!(
        desc["size"].as_u64(),
        Some(blob.data.len() as u64),
        "size of {digest}"
    );
    Digest::parse(digest).unwrap()
}

/// Follows `index.json` -> manifest -> config and layers, checking every blob's presence,
/// digest and size, and that `rootfs.diff_ids` are the sha256 of the (uncompressed) layers.
pub(crate) fn check_oci_graph(members: &[TarMember]) {
    let index = json(members, "index.json");
    let manifests = index["manifests"]
        .as_array()
        .expect("manifests is an array");
    assert_eq!(manifests.len(), 1);
    check_descriptor(members, &manifests[0]);
    let manifest: Value =
        serde_json::from_slice(&blob(members, manifests[0]["digest"].as_str().unwrap()).data)
            .unwrap();
    check_descriptor(members, &manifest["config"]);
    let config: Value =
        serde_json::from_slice(&blob(members, manifest["config"]["digest"].as_str().unwrap()).data)
            .unwrap();
    let layer_digests: Vec<Value> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Value::String(check_descriptor(members, l).to_string()))
        .collect();
    assert_eq!(config["rootfs"]["diff_ids"], Value::Array(layer_digests));
}
