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
    FileSpec::new(path, content)
}

/// A two-layer image with a name and a run config.
pub(crate) fn sample_spec(layout: LayoutKind) -> FixtureSpec {
    let layers = vec![
        LayerSpec {
            files: vec![
                file("etc/hello", "hello\n"),
                file("etc/os-release", "ID=craft\n"),
            ],
            ..Default::default()
        },
        LayerSpec {
            files: vec![FileSpec {
                path: "usr/local/bin/app".into(),
                content: "#!/bin/sh\necho app\n".into(),
                generate: None,
                mode: Some(0o755),
            }],
            ..Default::default()
        },
    ];
    FixtureSpec {
        name: Some("dangerzone.rocks/dangerzone:latest".into()),
        config: ImageConfigSpec {
            cmd: Some(vec!["/usr/local/bin/app".into()]),
            entrypoint: None,
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
            labels: [("org.example.fixture".to_string(), "sample".to_string())].into(),
        },
        ..FixtureSpec::new(layout, layers)
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

/// A spec from YAML, as a scenario would write it.
pub(crate) fn yaml(spec: &str) -> FixtureSpec {
    serde_saphyr::from_str(spec).unwrap_or_else(|e| panic!("bad test spec: {e}\n{spec}"))
}

/// The error a spec gives, as text.
pub(crate) fn craft_error(spec: &FixtureSpec) -> String {
    let mut out = Vec::new();
    let err = write_archive(spec, &mut out).expect_err("spec is invalid");
    assert!(out.is_empty(), "nothing is written for an invalid spec");
    err.to_string()
}

/// Parses a member's content as JSON.
pub(crate) fn parse(member: &TarMember) -> Value {
    serde_json::from_slice(&member.data)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", member.name))
}

/// The names of the members, in order.
pub(crate) fn names(members: &[TarMember]) -> Vec<&str> {
    members.iter().map(|m| m.name.as_str()).collect()
}

/// Checks every fact of an archive with `index.json` against its bytes, as an independent
/// reader would: the target, the index (platform manifests in order, then attestations), and
/// for each present platform its manifest, config and layers, decompressing each layer to
/// check its DiffID against the config. Omitted platforms must have no blobs.
pub(crate) fn check_facts(members: &[TarMember], facts: &CraftedArchive) {
    use crate::craft::compress::tests::decompress;

    let has = |d: &Digest| {
        members
            .iter()
            .any(|m| m.name == format!("blobs/sha256/{}", d.hex()))
    };
    let target = &json(members, "index.json")["manifests"][0];
    let target_digest = match &facts.index {
        Some(index) => {
            let doc = parse(blob(members, index.digest.as_str()));
            let mut want: Vec<&Digest> = facts
                .platforms
                .iter()
                .map(|p| &p.manifest.as_ref().unwrap().digest)
                .collect();
            want.extend(
                facts
                    .platforms
                    .iter()
                    .filter_map(|p| p.attestation.as_ref().map(|a| &a.digest)),
            );
            let got: Vec<&str> = doc["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["digest"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = want.iter().map(|d| d.as_str()).collect();
            assert_eq!(got, want, "index lists platforms, then attestations");
            &index.digest
        }
        None => &facts.manifest.as_ref().unwrap().digest,
    };
    assert_eq!(target["digest"], target_digest.as_str());
    check_descriptor(members, target);

    for p in &facts.platforms {
        let manifest = &p.manifest.as_ref().unwrap().digest;
        if !p.present {
            assert!(
                !has(manifest) && !has(&p.config.digest),
                "{} omitted",
                p.platform
            );
            continue;
        }
        let doc = parse(blob(members, manifest.as_str()));
        assert_eq!(check_descriptor(members, &doc["config"]), p.config.digest);
        let config = parse(blob(members, p.config.digest.as_str()));
        let descs = doc["layers"].as_array().unwrap();
        assert_eq!(descs.len(), p.layers.len());
        for (i, (desc, layer)) in descs.iter().zip(&p.layers).enumerate() {
            assert_eq!(check_descriptor(members, desc), layer.digest);
            assert_eq!(desc["mediaType"].as_str(), layer.media_type.as_deref());
            let stored = &blob(members, layer.digest.as_str()).data;
            let tar = decompress(stored, layer.compression);
            assert_eq!(
                Digest::sha256(&tar),
                layer.diff_id,
                "{} layer {i}",
                p.platform
            );
            assert_eq!(config["rootfs"]["diff_ids"][i], layer.diff_id.as_str());
        }
        if let Some(a) = &p.attestation {
            let doc = parse(blob(members, a.digest.as_str()));
            check_descriptor(members, &doc["config"]);
            check_descriptor(members, &doc["layers"][0]);
        }
    }
}

/// The parsed config of the primary image (`<hex>.json` in a docker-archive, a blob elsewhere).
pub(crate) fn config_doc(members: &[TarMember], facts: &CraftedArchive) -> Value {
    let name = match facts.layout {
        LayoutKind::DockerArchive => format!("{}.json", facts.config.digest.hex()),
        _ => crate::craft::write::Member::blob_path(&facts.config.digest),
    };
    parse(member(members, &name))
}

/// The parsed manifest blob of the primary image.
pub(crate) fn manifest_doc(members: &[TarMember], facts: &CraftedArchive) -> Value {
    parse(blob(
        members,
        facts.manifest.as_ref().unwrap().digest.as_str(),
    ))
}
