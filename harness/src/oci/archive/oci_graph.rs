//! Following `index.json` through image indexes to platform manifests, their configs and
//! layers, as containerd's `images.Manifest` / `images.Children` walk and containers/image's
//! `oci/layout` reader do. Which kind a descriptor's target is comes from its media type, else
//! from the blob's own `mediaType`, else from its shape (`manifests` means an index), because
//! some producers omit media types.

use crate::oci::Digest;
use crate::oci::annotation;
use crate::oci::archive::build::{Builder, push_unique};
use crate::oci::archive::json::{RawConfig, RawDescriptor, RawManifest, RawPlatform};
use crate::oci::archive::media::{self, MediaKind};
use crate::oci::archive::{
    BlobRef, ConfigReport, ImageNames, ImageReport, LayerReport, ManifestReport, MemberRole,
    StoredBlob,
};

/// How deep image indexes may nest before the reader stops following them.
const MAX_INDEX_DEPTH: usize = 4;

/// How many descriptors the reader follows in one archive, all images together: 4096. Each is
/// followed once per image (an index listed again, or a manifest listed twice, adds nothing),
/// and an index that lists itself or an ancestor is a cycle, recorded and not followed; this
/// bound is what is left for a wide graph, so a small archive cannot make the walk take
/// minutes or its report grow without end.
pub const MAX_DESCRIPTORS: usize = 4096;

/// One image's walk through the descriptor graph.
#[derive(Default)]
struct Walk {
    /// The indexes from the image's target down to the current one.
    ancestors: Vec<Digest>,
    /// Every descriptor this image's walk has followed.
    followed: std::collections::HashSet<Digest>,
}

impl Builder {
    /// `index.json` entries -> images, one per distinct target digest.
    pub(crate) fn oci_images(&mut self, entries: &[RawDescriptor]) -> Vec<ImageReport> {
        let mut groups: Vec<(Digest, Vec<usize>)> = Vec::new();
        for (i, d) in entries.iter().enumerate() {
            match groups.iter_mut().find(|(g, _)| *g == d.digest) {
                Some((_, idxs)) => idxs.push(i),
                None => groups.push((d.digest.clone(), vec![i])),
            }
        }
        groups
            .into_iter()
            .map(|(_, idxs)| {
                let mut names = ImageNames::default();
                for &i in &idxs {
                    let d = &entries[i];
                    push_unique(&mut names.image_names, d.annotation(annotation::IMAGE_NAME));
                    push_unique(&mut names.ref_names, d.annotation(annotation::REF_NAME));
                }
                let target = &entries[idxs[0]];
                let mut walk = Walk::default();
                let (is_index, stored, manifests) = self.descend(target, None, &mut walk);
                ImageReport {
                    index_json_entries: idxs,
                    manifest_json_items: Vec::new(),
                    names,
                    target: Some(BlobRef {
                        media_type: target.media_type.clone(),
                        digest: target.digest.clone(),
                        size: target.size,
                        blob: stored,
                    }),
                    index_digest: is_index.then(|| target.digest.clone()),
                    manifests,
                }
            })
            .collect()
    }

    /// Follows `desc`: an image index to its manifests (recursively), a manifest to itself.
    /// Returns whether it is an index, its blob, and the manifests found; nothing for a
    /// descriptor this image's walk already followed, or one past [`MAX_DESCRIPTORS`].
    fn descend(
        &mut self,
        desc: &RawDescriptor,
        parent: Option<&Digest>,
        walk: &mut Walk,
    ) -> (bool, Option<StoredBlob>, Vec<ManifestReport>) {
        if walk.ancestors.contains(&desc.digest) {
            if !self.graph.cycles.contains(&desc.digest) {
                self.graph.cycles.push(desc.digest.clone());
            }
            return (true, None, Vec::new());
        }
        if !walk.followed.insert(desc.digest.clone()) {
            return (false, None, Vec::new());
        }
        if self.graph.descriptors >= MAX_DESCRIPTORS {
            self.graph.truncated = true;
            return (false, None, Vec::new());
        }
        self.graph.descriptors += 1;
        let found = self.blob(&desc.digest, MemberRole::Manifest);
        let parsed = found
            .as_ref()
            .and_then(|(i, _)| self.parse::<RawManifest>(*i, MemberRole::Manifest));
        let declared = desc
            .media_type
            .as_deref()
            .or(parsed.as_ref().and_then(|p| p.media_type.as_deref()))
            .and_then(media::kind);
        let is_index = match declared {
            Some(MediaKind::Index) => true,
            Some(_) => false,
            None => parsed.as_ref().is_some_and(|p| p.manifests.is_some()),
        };
        let stored = found.map(|(_, s)| s);
        if !is_index {
            let m = self.manifest(desc, parent, stored.clone(), parsed);
            return (false, stored, vec![m]);
        }
        if let Some(s) = &stored {
            let i = self.by_path[&s.member];
            self.scan.members[i].role = Some(MemberRole::Index);
        }
        let mut manifests = Vec::new();
        let children = parsed.and_then(|p| p.manifests).unwrap_or_default();
        if walk.ancestors.len() < MAX_INDEX_DEPTH {
            walk.ancestors.push(desc.digest.clone());
            for child in &children {
                manifests.extend(self.descend(child, Some(&desc.digest), walk).2);
            }
            walk.ancestors.pop();
        } else if !children.is_empty() {
            self.graph.truncated = true;
        }
        (true, stored, manifests)
    }

    fn manifest(
        &mut self,
        desc: &RawDescriptor,
        parent: Option<&Digest>,
        stored: Option<StoredBlob>,
        parsed: Option<RawManifest>,
    ) -> ManifestReport {
        let platform = desc.platform.as_ref().map(RawPlatform::report);
        let attestation = desc.annotation(media::REFERENCE_TYPE)
            == Some(media::ATTESTATION_MANIFEST)
            || platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
        let media_type = desc
            .media_type
            .clone()
            .or_else(|| parsed.as_ref().and_then(|p| p.media_type.clone()));
        let parsed = parsed.unwrap_or_default();
        let (config, raw_config) = match &parsed.config {
            Some(c) => {
                let found = self.blob(&c.digest, MemberRole::Config);
                let raw = found
                    .as_ref()
                    .and_then(|(i, _)| self.parse::<RawConfig>(*i, MemberRole::Config))
                    .unwrap_or_default();
                let report = ConfigReport {
                    digest: Some(c.digest.clone()),
                    media_type: c.media_type.clone(),
                    size: Some(c.size),
                    path: None,
                    blob: found.map(|(_, s)| s),
                    platform: raw.platform(),
                    diff_ids: raw.diff_ids(),
                };
                (Some(report), raw)
            }
            None => (None, RawConfig::default()),
        };
        let diff_ids = raw_config.diff_ids();
        let layers = parsed
            .layers
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, l)| LayerReport {
                digest: Some(l.digest.clone()),
                size: Some(l.size),
                media_type: l.media_type.clone(),
                diff_id: diff_ids.get(i).cloned(),
                path: None,
                blob: self.blob(&l.digest, MemberRole::Layer).map(|(_, s)| s),
            })
            .collect();
        ManifestReport {
            digest: Some(desc.digest.clone()),
            media_type,
            size: Some(desc.size),
            parent_index: parent.cloned(),
            platform: platform.or_else(|| raw_config.platform()),
            attestation,
            blob: stored,
            config,
            layers,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::oci::Digest;
    use crate::oci::archive::testutil::{
        TestImage, containerd_hybrid, names, nested_indexes, oci_archive, self_referencing_index,
        stored,
    };
    use crate::oci::archive::{Compression, LayoutKind, MemberRole};

    #[test]
    fn containerd_hybrid_with_an_index_attestation_and_a_missing_platform() {
        let (a, f) = containerd_hybrid();
        let r = a.read();
        assert_eq!(r.layout, LayoutKind::ContainerdHybrid);
        let [img] = r.images.as_slice() else {
            panic!("one image")
        };
        assert_eq!(img.index_digest, Some(Digest::sha256(&f.index)));
        assert_eq!(img.names.repo_tags, ["example.test/app:1"]);
        assert_eq!(img.names.image_names, ["example.test/app:1"]);
        assert_eq!(img.names.ref_names, ["1"]);
        assert_eq!(img.manifest_json_items, [0]);
        let [amd64, arm64, att] = img.manifests.as_slice() else {
            panic!("three manifests")
        };
        assert_eq!(amd64.digest, Some(f.amd64.manifest_digest()));
        assert_eq!(amd64.parent_index, img.index_digest);
        let l = &amd64.layers[0];
        let b = stored(&l.blob);
        assert_eq!(b.compression, Compression::Gzip);
        assert_eq!(b.digest, f.amd64.layers[0].digest());
        assert_eq!(
            b.uncompressed_digest.as_ref(),
            Some(&f.amd64.layers[0].diff_id())
        );
        assert_eq!(
            b.uncompressed_size,
            Some(f.amd64.layers[0].tar.len() as u64)
        );
        assert_eq!(arm64.digest, Some(f.arm64.manifest_digest()));
        assert!(arm64.blob.is_none() && arm64.config.is_none());
        assert_eq!(arm64.platform.as_ref().unwrap().to_string(), "linux/arm64");
        assert!(att.attestation && !amd64.attestation);
        assert_eq!(att.digest, Some(f.attestation.manifest_digest()));
    }
    #[test]
    fn oci_archive_by_hand() {
        let image = TestImage::one_layer();
        let r = oci_archive(&image, names("example.test/app:1", "example.test/app:1")).read();
        assert_eq!(r.layout, LayoutKind::OciArchive);
        assert_eq!(
            r.oci_layout.as_ref().unwrap().version.as_deref(),
            Some("1.0.0")
        );
        let img = &r.images[0];
        assert_eq!(
            img.manifests[0].config.as_ref().unwrap().digest,
            Some(image.config_digest())
        );
        assert!(img.manifest_json_items.is_empty());
    }

    /// Some producers omit media types: the blob's shape decides. Indexes may nest.
    #[test]
    fn nested_indexes_without_media_types_are_followed() {
        let image = TestImage::one_layer();
        let (a, inner, outer) = nested_indexes(&image);
        let r = a.read();

        let img = &r.images[0];
        assert_eq!(img.index_digest, Some(Digest::sha256(&outer)));
        let [m] = img.manifests.as_slice() else {
            panic!("one manifest")
        };
        assert_eq!(m.parent_index, Some(Digest::sha256(&inner)));
        assert_eq!(m.digest, Some(image.manifest_digest()));
        assert_eq!(
            m.config.as_ref().unwrap().digest,
            Some(image.config_digest())
        );
        let roles: Vec<_> = [&inner, &outer]
            .iter()
            .map(|b| {
                r.member(&format!("blobs/sha256/{}", Digest::sha256(b).hex()))
                    .unwrap()
                    .role
            })
            .collect();
        assert_eq!(roles, [Some(MemberRole::Index), Some(MemberRole::Index)]);
    }

    /// A blob whose content lists its own name (possible only with a wrong name) does not
    /// send the walk round forever.
    #[test]
    fn self_referencing_index_terminates() {
        let r = self_referencing_index().read();
        assert_eq!(r.images.len(), 1);
        let target = r.images[0].target.as_ref().unwrap();
        let blob = stored(&target.blob);
        assert_ne!(blob.digest, target.digest, "the name cannot be the digest");
    }
}
