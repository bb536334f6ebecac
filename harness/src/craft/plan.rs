//! The second pass over a spec: [`Plan::resolve`] turns what the YAML says into what the
//! archive will hold, or an error naming the field.
//!
//! It decides which platforms the image has and which is primary (the first one not omitted:
//! the one `manifest.json` and the single-image facts describe), which layers each platform
//! gets, whether `index.json` points at an image index, and what each defect is aimed at.
//! Building ([`image`](super::image)) then never has to check anything: every combination it
//! meets is one the plan accepted.

use crate::craft::config::Platform;
use crate::craft::defect::{ArchiveFile, BlobKind, DefectKind, DefectSpec, Target};
use crate::craft::gotar;
use crate::craft::names::NamePlan;
use crate::craft::{Compression, CraftError, FixtureSpec, LayoutKind};

/// A validated spec.
pub(crate) struct Plan<'s> {
    pub spec: &'s FixtureSpec,
    pub names: NamePlan,
    /// In index order.
    pub platforms: Vec<PlatformPlan>,
    /// The first present platform.
    pub primary: usize,
    /// Whether the image is an image index (`platforms` or `attestations` given).
    pub index: bool,
    pub defects: Vec<Aimed>,
}

/// One platform's image.
pub(crate) struct PlatformPlan {
    pub platform: Platform,
    /// False for `omit_platforms`: listed in the index, no blobs written.
    pub present: bool,
    /// Indices into `spec.layers`, bottom first.
    pub layers: Vec<usize>,
}

/// A defect and what it is aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Aimed {
    pub kind: DefectKind,
    pub aim: Aim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Aim {
    /// The primary image or `index.json` as a whole.
    Image,
    File(ArchiveFile),
    Blob(BlobKey),
    /// `unsafe-path`: an extra entry in `spec.layers[layer]`.
    Entry {
        layer: usize,
        path: String,
    },
}

/// A blob, resolved to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobKey {
    Index,
    Manifest(usize),
    Config(usize),
    Attestation(usize),
    /// `spec.layers[spec]`, named through `platforms[platform]`. Layers are shared between
    /// platforms, so defects on the blob apply wherever it is used; `diffid-mismatch` changes
    /// that platform's config only.
    Layer {
        platform: usize,
        spec: usize,
    },
}

impl BlobKey {
    /// Whether two keys name the same stored blob.
    fn same_blob(self, other: BlobKey) -> bool {
        match (self, other) {
            (BlobKey::Layer { spec: a, .. }, BlobKey::Layer { spec: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

impl<'s> Plan<'s> {
    pub(crate) fn resolve(spec: &'s FixtureSpec) -> Result<Self, CraftError> {
        if spec.layers.is_empty() {
            return Err(CraftError::NoLayers);
        }
        let names = NamePlan::resolve(spec)?;
        let layout = spec.layout;
        let index_layout = |field: &str| {
            invalid(
                field,
                format!(
                    "{} holds one platform per image; use oci-archive or containerd-hybrid",
                    layout.as_str()
                ),
            )
        };

        let list: Vec<Platform> = match (&spec.platform, &spec.platforms) {
            (Some(_), Some(_)) => return Err(invalid("platforms", "exclusive with platform")),
            (None, Some(_)) if !layout.can_hold_index() => return Err(index_layout("platforms")),
            (None, Some(list)) if list.is_empty() => {
                return Err(invalid(
                    "platforms",
                    "empty list; leave it out for one platform",
                ));
            }
            (None, Some(list)) => unique(list, "platforms")?,
            (p, None) => vec![Platform::parse(p.as_deref())?],
        };
        if spec.attestations && !layout.can_hold_index() {
            return Err(index_layout("attestations"));
        }
        if !spec.omit_platforms.is_empty() && spec.platforms.is_none() {
            return Err(invalid("omit_platforms", "needs platforms"));
        }
        let omitted = unique(&spec.omit_platforms, "omit_platforms")?;
        for p in &omitted {
            if !list.contains(p) {
                return Err(invalid(
                    "omit_platforms",
                    format!("{p} is not in platforms"),
                ));
            }
        }

        let mut platforms: Vec<PlatformPlan> = list
            .into_iter()
            .map(|platform| PlatformPlan {
                present: !omitted.contains(&platform),
                platform,
                layers: Vec::new(),
            })
            .collect();
        for (i, layer) in spec.layers.iter().enumerate() {
            if layer.media_type.is_some() && layout == LayoutKind::DockerArchive {
                let field = format!("layers[{i}].media_type");
                return Err(invalid(&field, "docker-archive has no descriptors"));
            }
            if layer.media_type.as_deref() == Some("") {
                return Err(invalid(&format!("layers[{i}].media_type"), "empty"));
            }
            let only = match &layer.platform {
                None => None,
                Some(_) if spec.platforms.is_none() => {
                    return Err(invalid(&format!("layers[{i}].platform"), "needs platforms"));
                }
                Some(p) => {
                    let p = Platform::parse(Some(p))?;
                    if !platforms.iter().any(|pp| pp.platform == p) {
                        let field = format!("layers[{i}].platform");
                        return Err(invalid(&field, format!("{p} is not in platforms")));
                    }
                    Some(p)
                }
            };
            for pp in &mut platforms {
                if only.as_ref().is_none_or(|p| *p == pp.platform) {
                    pp.layers.push(i);
                }
            }
        }
        if let Some(empty) = platforms.iter().find(|p| p.layers.is_empty()) {
            let reason = format!("{} has no layers", empty.platform);
            return Err(invalid("platforms", reason));
        }
        let Some(primary) = platforms.iter().position(|p| p.present) else {
            return Err(invalid(
                "omit_platforms",
                "omits every platform; keep at least one",
            ));
        };

        let mut plan = Plan {
            spec,
            names,
            platforms,
            primary,
            index: spec.platforms.is_some() || spec.attestations,
            defects: Vec::new(),
        };
        for (i, d) in spec.defects.iter().enumerate() {
            let err = |reason: String| CraftError::InvalidDefect {
                index: i,
                code: d.kind().name(),
                reason,
            };
            let aimed = Aimed {
                kind: d.kind(),
                aim: plan.aim(d).map_err(err)?,
            };
            if let Some(j) = plan.defects.iter().position(|e| conflict(e, &aimed)) {
                let other = plan.defects[j].kind.name();
                return Err(err(format!("contradicts defects[{j}] ({other})")));
            }
            plan.defects.push(aimed);
        }
        Ok(plan)
    }

    /// Whether a defect of `kind` is aimed at the blob `key` (a layer by its stored blob,
    /// except `diffid-mismatch`, which is per platform).
    pub(crate) fn hits(&self, kind: DefectKind, key: BlobKey) -> bool {
        self.defects.iter().any(|d| {
            d.kind == kind
                && match d.aim {
                    Aim::Blob(k) if kind == DefectKind::DiffidMismatch => k == key,
                    Aim::Blob(k) => k.same_blob(key),
                    _ => false,
                }
        })
    }

    /// Whether a defect of `kind` is in the spec (for those aimed at the whole image).
    pub(crate) fn has(&self, kind: DefectKind) -> bool {
        self.defects.iter().any(|d| d.kind == kind)
    }

    fn aim(&self, defect: &DefectSpec) -> Result<Aim, String> {
        let layout = self.spec.layout;
        let target = defect.target().map(|t| self.target(t)).transpose()?;
        let layer = |aim: &Option<Aim>| match aim {
            Some(Aim::Blob(BlobKey::Layer { spec, .. })) => Ok(*spec),
            _ => Err("takes a layer (layer N)".to_string()),
        };
        let blob = |aim: Option<Aim>| match aim {
            Some(a @ Aim::Blob(_)) => Ok(a),
            _ => Err("takes a blob, not a file".to_string()),
        };
        let no_descriptors = || Err("docker-archive has no descriptors".to_string());
        Ok(match defect {
            DefectSpec::BlobMissing(_) => blob(target)?,
            DefectSpec::DigestMismatch(_) => {
                if layout == LayoutKind::DockerArchive && layer(&target).is_ok() {
                    return Err("docker-archive names layers by v1 ID, not by digest".into());
                }
                blob(target)?
            }
            DefectSpec::SizeMismatch(_) if layout == LayoutKind::DockerArchive => {
                return no_descriptors();
            }
            DefectSpec::SizeMismatch(_) => blob(target)?,
            DefectSpec::DiffidMismatch(_) => {
                let i = layer(&target)?;
                if self.spec.layers[i].compression == Compression::None {
                    return Err(format!(
                        "layers[{i}] is uncompressed, so its blob digest is its DiffID; \
                         set its compression"
                    ));
                }
                blob(target)?
            }
            DefectSpec::MediaTypeCompressionMismatch(_) => {
                let i = layer(&target)?;
                if layout == LayoutKind::DockerArchive {
                    return no_descriptors();
                }
                if self.spec.layers[i].media_type.is_some() {
                    return Err(format!("layers[{i}] sets media_type already"));
                }
                blob(target)?
            }
            DefectSpec::InvalidJson(_) => match target {
                Some(Aim::Blob(BlobKey::Layer { .. })) => {
                    return Err("takes a JSON file or blob, not a layer".into());
                }
                Some(aim) => aim,
                None => unreachable!("invalid-json has a target"),
            },
            DefectSpec::DuplicateEntry(_) => target.expect("duplicate-entry has a target"),
            DefectSpec::LayerCountMismatch => Aim::Image,
            DefectSpec::IndexManifestsNull if !layout.has_index_json() => {
                return Err(format!("{} has no index.json", layout.as_str()));
            }
            DefectSpec::ManifestJsonIndexDisagree
                if !(layout.has_index_json() && layout.has_manifest_json()) =>
            {
                let reason = "needs both manifest.json and index.json (a hybrid layout)";
                return Err(reason.into());
            }
            DefectSpec::IndexManifestsNull | DefectSpec::ManifestJsonIndexDisagree => Aim::Image,
            DefectSpec::ManifestLayersReordered | DefectSpec::ManifestLayersEmpty
                if layout == LayoutKind::DockerArchive =>
            {
                return Err("docker-archive has no manifest blob".into());
            }
            DefectSpec::ManifestLayersReordered => {
                let primary = &self.platforms[self.primary];
                let n = primary.layers.len();
                let distinct = primary
                    .layers
                    .iter()
                    .map(|&i| &self.spec.layers[i])
                    .collect::<Vec<_>>();
                // Reversed, the order must differ: two layers or more, not all the same.
                if n < 2 || distinct.iter().all(|l| *l == distinct[0]) {
                    return Err(format!(
                        "needs two different layers in {}, it has {n}",
                        primary.platform
                    ));
                }
                Aim::Image
            }
            DefectSpec::ManifestLayersEmpty => Aim::Image,
            DefectSpec::UnsafePath(u) => {
                if u.layer >= self.spec.layers.len() {
                    let n = self.spec.layers.len();
                    return Err(format!("layer {} does not exist ({n} layers)", u.layer));
                }
                if !self
                    .platforms
                    .iter()
                    .any(|p| p.present && p.layers.contains(&u.layer))
                {
                    return Err(format!("layers[{}] is only in omitted platforms", u.layer));
                }
                let escapes = u.path.starts_with('/') || u.path.split('/').any(|c| c == "..");
                if !escapes {
                    return Err(format!(
                        "path {:?} stays inside the root; use a '..' component or a leading '/'",
                        u.path
                    ));
                }
                if !gotar::fits_ustar(&u.path) {
                    return Err(format!("path {:?} does not fit a ustar header", u.path));
                }
                Aim::Entry {
                    layer: u.layer,
                    path: u.path.clone(),
                }
            }
        })
    }

    fn target(&self, target: &Target) -> Result<Aim, String> {
        let layout = self.spec.layout;
        let (platform, kind) = match target {
            Target::File(file) => {
                let exists = match file {
                    ArchiveFile::IndexJson | ArchiveFile::OciLayout => layout.has_index_json(),
                    ArchiveFile::ManifestJson => layout.has_manifest_json(),
                    ArchiveFile::Repositories => {
                        layout.has_repositories() && !self.names.refs.is_empty()
                    }
                };
                if !exists {
                    let unnamed = if *file == ArchiveFile::Repositories && layout.has_repositories()
                    {
                        " (unnamed image)"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "{}{unnamed} has no {}",
                        layout.as_str(),
                        file.name()
                    ));
                }
                return Ok(Aim::File(*file));
            }
            Target::Blob { platform, kind } => (platform, *kind),
        };
        let p = match platform {
            None => self.primary,
            Some(s) => {
                let parsed = Platform::parse(Some(s)).map_err(|e| e.to_string())?;
                self.platforms
                    .iter()
                    .position(|pp| pp.platform == parsed)
                    .ok_or_else(|| format!("{s} is not a platform of this image"))?
            }
        };
        let pp = &self.platforms[p];
        if !pp.present {
            let p = &pp.platform;
            return Err(format!(
                "{p} is in omit_platforms: its blobs are not written"
            ));
        }
        Ok(Aim::Blob(match kind {
            BlobKind::Index if platform.is_some() => {
                return Err("the index belongs to no platform".into());
            }
            BlobKind::Index if !self.index => {
                return Err("the image has no index (set platforms or attestations)".into());
            }
            BlobKind::Index => BlobKey::Index,
            BlobKind::Manifest if layout == LayoutKind::DockerArchive => {
                return Err("docker-archive has no manifest blob".into());
            }
            BlobKind::Manifest => BlobKey::Manifest(p),
            BlobKind::Config => BlobKey::Config(p),
            BlobKind::Attestation if !self.spec.attestations => {
                return Err("the image has no attestations (set attestations: true)".into());
            }
            BlobKind::Attestation => BlobKey::Attestation(p),
            BlobKind::Layer(n) => match pp.layers.get(n) {
                Some(&spec) => BlobKey::Layer { platform: p, spec },
                None => {
                    let (platform, len) = (&pp.platform, pp.layers.len());
                    return Err(format!("{platform} has {len} layers, no layer {n}"));
                }
            },
        }))
    }
}

/// Whether `new` repeats `old`, or aims at a blob `old` leaves out.
fn conflict(old: &Aimed, new: &Aimed) -> bool {
    if old == new {
        return true;
    }
    let missing = |a: &Aimed, b: &Aimed| {
        a.kind == DefectKind::BlobMissing
            && b.kind != DefectKind::DiffidMismatch
            && matches!((&a.aim, &b.aim), (Aim::Blob(x), Aim::Blob(y)) if x.same_blob(*y))
    };
    // A manifest cannot both list its layers reversed and list none.
    let layers = |a: &Aimed| {
        matches!(
            a.kind,
            DefectKind::ManifestLayersReordered | DefectKind::ManifestLayersEmpty
        )
    };
    missing(old, new) || missing(new, old) || (layers(old) && layers(new))
}

fn invalid(field: &str, reason: impl Into<String>) -> CraftError {
    CraftError::InvalidSpec {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Parses a list of platforms, rejecting repeats.
fn unique(list: &[String], field: &str) -> Result<Vec<Platform>, CraftError> {
    let mut out: Vec<Platform> = Vec::new();
    for s in list {
        let p = Platform::parse(Some(s))?;
        if out.contains(&p) {
            return Err(invalid(field, format!("{p} is listed twice")));
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::craft::testutil::{craft_error, yaml};

    const BASE: &str = "layers: [{files: [{path: a, content: a}]}, {files: [], compression: gzip}]";

    /// Every rejected combination names the field or defect at fault.
    #[test]
    fn invalid_combinations_name_the_field() {
        let table: &[(&str, &str)] = &[
            (
                "layout: docker-oci-hybrid\nplatforms: [linux/amd64]",
                "invalid platforms: docker-oci-hybrid holds one platform per image",
            ),
            (
                "layout: docker-archive\nattestations: true",
                "invalid attestations: docker-archive holds one platform per image",
            ),
            (
                "layout: oci-archive\nplatform: linux/amd64\nplatforms: [linux/amd64]",
                "invalid platforms: exclusive with platform",
            ),
            (
                "layout: oci-archive\nplatforms: []",
                "invalid platforms: empty list",
            ),
            (
                "layout: oci-archive\nplatforms: [linux/amd64, linux/amd64]",
                "invalid platforms: linux/amd64 is listed twice",
            ),
            (
                "layout: oci-archive\nplatforms: [linux]",
                "invalid platform \"linux\"",
            ),
            (
                "layout: oci-archive\nomit_platforms: [linux/amd64]",
                "invalid omit_platforms: needs platforms",
            ),
            (
                "layout: oci-archive\nplatforms: [linux/amd64]\nomit_platforms: [linux/arm64]",
                "invalid omit_platforms: linux/arm64 is not in platforms",
            ),
            (
                "layout: oci-archive\nplatforms: [linux/amd64]\nomit_platforms: [linux/amd64]",
                "invalid omit_platforms: omits every platform",
            ),
            (
                "layout: docker-archive\nlayers: [{files: [], media_type: x}]",
                "invalid layers[0].media_type: docker-archive has no descriptors",
            ),
            (
                "layout: oci-archive\nlayers: [{files: [], platform: linux/arm64}]",
                "invalid layers[0].platform: needs platforms",
            ),
            (
                "layout: oci-archive\nplatforms: [linux/amd64, linux/arm64]\n\
                 layers: [{files: [], platform: linux/arm64}]",
                "invalid platforms: linux/amd64 has no layers",
            ),
            (
                "layout: docker-archive\nname: a\nref_name: x",
                "invalid ref_name: docker-archive has no index.json",
            ),
        ];
        for (spec, want) in table {
            let full = if spec.contains("layers:") {
                spec.to_string()
            } else {
                format!("{spec}\n{BASE}")
            };
            let err = craft_error(&yaml(&full));
            assert!(err.starts_with(want), "{spec}\n=> {err}");
        }
    }
}
