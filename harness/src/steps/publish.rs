//! The `publish` step: the harness itself places a fixture's image (an index with every
//! platform and attestation manifest it has, or a single manifest) in the cell's local
//! registry, byte for byte, so that runtimes can then pull it. No runtime takes part: this is
//! how R3's starting point, a complete multi-platform index in a registry, exists on machines
//! where nothing can be pulled.
//!
//! ```yaml
//! - id: publish
//!   publish: { fixture: multi, to: r3:v1 }
//!   expect:
//!     - landed_is: index
//! ```
//!
//! The fixture is a crafted or produced archive with an `index.json` (OCI archive layouts);
//! its first `index.json` entry is what the tag points at. Children are put by digest before
//! their parents (distribution refuses an index or manifest whose references are missing,
//! `ocischema`/`manifestlist` handlers' `verifyManifest`). The archive is read into memory, up
//! to [`MAX_ARCHIVE`]: fixtures are small.

use std::collections::HashMap;
use std::io::Read;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::push::{LandedObservation, landed_contradiction, observe_landed, registry_of, split_to};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, IdRole, require_something};
use crate::runtime::BoxFuture;

/// The `publish` step kind.
pub struct Publish;

/// The largest archive `publish` reads.
pub const MAX_ARCHIVE: u64 = 512 << 20;

/// `publish:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublish {
    fixture: Spanned<String>,
    to: Spanned<String>,
}

/// Put fixture `fixture` at `<registry>/<to>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishAction {
    pub fixture: String,
    /// `repository:tag`.
    pub to: String,
}

/// What an expectation can claim about a publish (the harness's own act: what landed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishClaim {
    pub landed_is: Option<IdRole>,
}

/// What a publish observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishObservation {
    pub id: String,
    /// `publish <fixture> to <registry>/<to>`.
    pub action: String,
    /// How many blobs (configs and layers) and manifests (every index and manifest) were put.
    pub blobs: usize,
    pub manifests: usize,
    /// What the registry serves for the tag afterwards.
    pub landed: Option<LandedObservation>,
}

const CLAIMS: &[&str] = &["landed_is"];

/// The archive's `index.json` and blobs, by digest.
struct Layout {
    index: Bytes,
    blobs: HashMap<String, Bytes>,
}

/// Reads `path` (a tar, or a gzip'd tar) into a [`Layout`].
fn read_layout(path: &std::path::Path) -> Result<Layout, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut head = [0u8; 2];
    let mut probe = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let gzip = probe.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b];
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(reader.take(MAX_ARCHIVE + 1));
    let (mut index, mut blobs, mut total) = (None, HashMap::new(), 0u64);
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let keep = name == "index.json" || name.starts_with("blobs/sha256/");
        if !keep {
            continue;
        }
        total += entry.size();
        if total > MAX_ARCHIVE {
            return Err(format!(
                "{}: more than {MAX_ARCHIVE} bytes of blobs: publish reads fixtures whole",
                path.display()
            ));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
        match name.strip_prefix("blobs/sha256/") {
            Some(hex) => {
                blobs.insert(format!("sha256:{hex}"), Bytes::from(bytes));
            }
            None => index = Some(Bytes::from(bytes)),
        }
    }
    let index = index.ok_or_else(|| {
        format!(
            "{}: no index.json (publish needs an OCI layout)",
            path.display()
        )
    })?;
    Ok(Layout { index, blobs })
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// What one publish put.
#[derive(Default)]
struct Put {
    blobs: usize,
    manifests: usize,
}

/// Puts the manifest or index `desc` and everything it references (children first) into
/// `repository`; `reference` is the tag for the top, the digest below it.
fn put_tree<'a>(
    client: &'a crate::runtime::registry::RegistryClient,
    layout: &'a Layout,
    repository: &'a str,
    desc: &'a Descriptor,
    reference: &'a str,
    put: &'a mut Put,
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let bytes = layout
            .blobs
            .get(&desc.digest)
            .ok_or_else(|| format!("the archive has no blob {}", desc.digest))?;
        let doc: Document = serde_json::from_slice(bytes)
            .map_err(|e| format!("{} does not parse: {e}", desc.digest))?;
        for child in doc.manifests.iter().flatten() {
            // A platform the archive does not carry (`omit_platforms`) is left out; the
            // registry then decides whether it takes the index without it.
            if layout.blobs.contains_key(&child.digest) {
                put_tree(client, layout, repository, child, &child.digest, put).await?;
            }
        }
        for blob in doc.config.iter().chain(&doc.layers) {
            let bytes = layout
                .blobs
                .get(&blob.digest)
                .ok_or_else(|| format!("the archive has no blob {}", blob.digest))?;
            if client
                .put_blob(repository, &blob.digest, bytes.clone())
                .await
                .map_err(|e| crate::run::error_chain(&e))?
            {
                put.blobs += 1;
            }
        }
        let media_type = match doc.media_type {
            Some(m) if !m.is_empty() => m,
            _ => desc.media_type.clone(),
        };
        client
            .put_manifest(repository, reference, &media_type, bytes.clone())
            .await
            .map_err(|e| crate::run::error_chain(&e))?;
        put.manifests += 1;
        Ok(())
    })
}

impl StepKind for Publish {
    const KEY: &'static str = "publish";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawPublish;
    type Action = PublishAction;
    type Claim = PublishClaim;
    type Observation = PublishObservation;

    fn resolve(
        raw: Spanned<RawPublish>,
        cx: &ResolveContext<'_>,
    ) -> Result<PublishAction, ConfigError> {
        let raw = raw.value;
        let fixture = raw.fixture;
        if !cx.has_fixture(&fixture.value) {
            return Err(cx.error(
                fixture.referenced,
                "publish.fixture",
                ConfigErrorKind::UnknownFixture {
                    name: fixture.value,
                    known: cx.fixture_names(),
                },
            ));
        }
        if let Some(spec) = cx.fixtures.get(&fixture.value)
            && !spec.layout.has_index_json()
        {
            return Err(cx.error(
                fixture.referenced,
                "publish.fixture",
                ConfigErrorKind::Conflict("publish needs a layout with index.json"),
            ));
        }
        if split_to(&raw.to.value).is_none() {
            return Err(cx.error(
                raw.to.referenced,
                "publish.to",
                ConfigErrorKind::Conflict("`to` must be repository:tag"),
            ));
        }
        Ok(PublishAction {
            fixture: fixture.value,
            to: raw.to.value,
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<PublishClaim, ConfigError> {
        let landed_is: Option<IdRole> = r.take_choice("landed_is")?;
        require_something(r, &[landed_is.is_some()], CLAIMS)?;
        Ok(PublishClaim { landed_is })
    }

    fn describe(action: &PublishAction) -> String {
        format!("publish {} to <registry>/{}", action.fixture, action.to)
    }

    fn run<'a>(
        id: &'a str,
        action: &'a PublishAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<PublishObservation, StepError>> {
        Box::pin(async move {
            let registry = registry_of(cx, "publish").await?;
            let failed = |why: String| {
                StepError::Precondition(format!("publishing {}: {why}", action.fixture))
            };
            let path = cx.fixtures.path(&action.fixture).to_path_buf();
            let layout = tokio::task::spawn_blocking(move || read_layout(&path))
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(failed)?;
            #[derive(Deserialize)]
            struct Index {
                manifests: Option<Vec<Descriptor>>,
            }
            let index: Index = serde_json::from_slice(&layout.index)
                .map_err(|e| failed(format!("index.json does not parse: {e}")))?;
            let top = index
                .manifests
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| failed("index.json lists nothing".into()))?;
            let (repo, tag) = split_to(&action.to).expect("resolved");
            let client = registry.client();
            let mut put = Put::default();
            put_tree(&client, &layout, repo, &top, tag, &mut put)
                .await
                .map_err(failed)?;
            let landed = client.landed(repo, tag).await.map_err(|e| {
                failed(format!(
                    "reading back what landed: {}",
                    crate::run::error_chain(&e)
                ))
            })?;
            Ok(PublishObservation {
                id: id.to_string(),
                action: Self::describe(action),
                blobs: put.blobs,
                manifests: put.manifests,
                landed: landed.as_ref().map(|l| observe_landed(l, cx.redact)),
            })
        })
    }

    fn contradictions(claim: &PublishClaim, obs: &PublishObservation) -> Vec<Contradiction> {
        claim
            .landed_is
            .and_then(|want| landed_contradiction(&obs.id, obs.landed.as_ref(), want))
            .map(|message| Contradiction::of("landed_is", message))
            .into_iter()
            .collect()
    }

    fn id(obs: &PublishObservation) -> &str {
        &obs.id
    }

    fn findings(_obs: &PublishObservation) -> &[super::Finding] {
        &[]
    }
}
