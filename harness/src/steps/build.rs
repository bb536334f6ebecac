//! The `build` step: build a repository build context (`scenarios/contexts/<name>/`, packed by
//! [`pack_context`]) with the cell's builder, tag the result, and observe what was built: the
//! builder that ran and its version, the image's ID and which digest it is, the config
//! digest, the manifest digest where the store keeps one, and the layers' DiffIDs. With
//! `rebuild` (the default) it builds again from the same inputs without the builder's cache
//! and records which digests repeat: reproducibility is an observation, not an assumption.
//!
//! ```yaml
//! - id: build-busybox
//!   build:
//!     context: busybox              # scenarios/contexts/busybox/
//!     tag: example.test/built:v1
//!     args: { GREETING: hi }        # build args (optional)
//!     source_date_epoch: 0          # SOURCE_DATE_EPOCH build arg, and buildah's timestamp
//!     # rebuild: false              # skip the reproducibility rebuild (default true)
//!   expect:
//!     - outcome: built              # built | error; also error_contains: "..."
//!       id_is: config               # config | manifest | index
//!     - when: { runtime: podman }
//!       reproducible: true          # config (and manifest) digests repeat on the rebuild
//! ```
//!
//! **Where the digests come from.** The ID and names come from the runtime's image inspect.
//! The config digest and DiffIDs come from saving the built image back (`docker save`, libpod
//! `images/export` as docker-archive) and reading that archive with the harness's own reader,
//! so they are digests of bytes, not fields a runtime reported; the archive's error findings
//! are the step's findings. The manifest digest is the one the store keeps: Podman's `Digest`,
//! the manifest in the archive of Docker's containerd image store (which saves the stored
//! manifest). Docker's classic store keeps no manifest (Docker >= 25 writes one into the
//! archive at save time, which is not the store's), so it has none.
//!
//! Built digests are not a fixture's, so they are shown as symbols named after the step:
//! `config(build-busybox)`, `layer(build-busybox)[2]`; a rebuild's digest that differs is
//! `config(build-busybox rebuild)`. Snapshots stay stable whether or not a builder is
//! reproducible, and still show which digest the ID is and what repeated.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::observe::{DigestRole, ErrorObservation, Finding};
use super::{Contradiction, ResolveContext, StepContext, StepError, StepKind};
use crate::build::{BuildRequest, BuilderKind, Built, default_builder, pack_context};
use crate::config::{ClaimReader, ConfigError, ConfigErrorKind, IdRole, require_something};
use crate::oci::Digest;
use crate::runtime::{ApiRejection, BoxFuture, RuntimeError, SaveFormat};
use crate::verify::predict::Family;

/// The `build` step kind.
pub struct Build;

/// `build: { context, tag, args, source_date_epoch, rebuild }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    context: Spanned<String>,
    tag: Spanned<String>,
    #[serde(default)]
    args: BTreeMap<String, String>,
    #[serde(default)]
    source_date_epoch: Option<i64>,
    #[serde(default)]
    rebuild: Option<bool>,
}

/// A resolved build: the context directory exists and has a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildAction {
    /// The context's name (`busybox`).
    pub context: String,
    /// Its directory, `contexts/<name>/` beside the scenario file.
    #[serde(skip)]
    pub dir: PathBuf,
    pub tag: String,
    pub args: BTreeMap<String, String>,
    pub source_date_epoch: Option<i64>,
    /// Build a second time, without cache, to observe reproducibility (default true).
    pub rebuild: bool,
}

/// What a build resulted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildOutcome {
    Built,
    Error,
}

/// What an expectation or known issue can claim about a build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuildClaim {
    pub outcome: Option<BuildOutcome>,
    /// Which digest of the built image its ID is.
    pub id_is: Option<IdRole>,
    /// A substring of the builder's error message; implies `outcome: error`.
    pub error_contains: Option<String>,
    /// Whether the rebuild gave the same config digest (and manifest digest, where the store
    /// keeps one).
    pub reproducible: Option<bool>,
}

/// The built image as observed, digests as symbols named after the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltImage {
    /// Its names, sorted.
    pub names: Vec<String>,
    /// The ID, as a symbol where it is one of the built digests.
    pub id: String,
    /// Which digest the ID is.
    pub id_is: Option<DigestRole>,
    /// The config digest (of the saved config's bytes).
    pub config: String,
    /// The manifest digest the store keeps, if it keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The layers' DiffIDs, in order.
    pub layers: Vec<String>,
}

/// What the rebuild from the same inputs gave, digest by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebuild {
    /// The rebuild's image, with its digests' symbols: the first build's where they repeat.
    pub image: BuiltImage,
    /// The config digest repeated, and so did the manifest digest where there is one.
    pub reproducible: bool,
    /// Which of the layers' DiffIDs repeated, in order (a shorter list: the layer count
    /// differed).
    pub layers_repeat: Vec<bool>,
}

/// What a build observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildObservation {
    pub id: String,
    /// `build busybox as example.test/built:v1`.
    pub action: String,
    pub outcome: BuildOutcome,
    /// The builder that ran.
    pub builder: BuilderKind,
    /// Its version, where the runtime reports one.
    pub builder_version: Option<String>,
    /// What was sent that decides the result: the `SOURCE_DATE_EPOCH` build arg and the
    /// builder's own options (buildah's `timestamp`, `isolation`). The driver reports them
    /// with a built image, so a failed build has none here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObservation>,
    /// Boxed, like `rebuild`, to keep [`Observation`](super::Observation) small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Box<BuiltImage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<Box<Rebuild>>,
    /// Error findings of the harness's archive oracles on the saved image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

const CLAIMS: &[&str] = &["outcome", "id_is", "error_contains", "reproducible"];

impl StepKind for Build {
    const KEY: &'static str = "build";
    const CLAIMS: &'static [&'static str] = CLAIMS;
    type Raw = RawBuild;
    type Action = BuildAction;
    type Claim = BuildClaim;
    type Observation = BuildObservation;

    fn resolve(
        raw: Spanned<RawBuild>,
        cx: &ResolveContext<'_>,
    ) -> Result<BuildAction, ConfigError> {
        let raw = raw.value;
        let name = &raw.context.value;
        // A name, not a path: contexts live in one directory, and a scenario cannot reach
        // outside the repository through one.
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
            && !name.starts_with('.');
        if !valid {
            return Err(cx.error(
                raw.context.referenced,
                "build.context",
                ConfigErrorKind::InvalidIdent {
                    what: "context",
                    value: name.clone(),
                },
            ));
        }
        let dir = cx
            .path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("contexts")
            .join(name);
        if !dir.join("Dockerfile").is_file() {
            return Err(cx.error(
                raw.context.referenced,
                "build.context",
                ConfigErrorKind::Fixture(format!(
                    "no build context {name:?}: {} has no Dockerfile",
                    dir.display()
                )),
            ));
        }
        if raw.tag.value.is_empty() {
            return Err(cx.error(raw.tag.referenced, "build.tag", ConfigErrorKind::Empty));
        }
        Ok(BuildAction {
            context: name.clone(),
            dir,
            tag: raw.tag.value,
            args: raw.args,
            source_date_epoch: raw.source_date_epoch,
            rebuild: raw.rebuild.unwrap_or(true),
        })
    }

    fn resolve_claim(r: &mut ClaimReader<'_>) -> Result<BuildClaim, ConfigError> {
        let outcome: Option<BuildOutcome> = r.take_choice("outcome")?;
        let id_is: Option<IdRole> = r.take_choice("id_is")?;
        let error_contains = r.take_string("error_contains")?;
        let reproducible = match r.take_string("reproducible")? {
            None => None,
            Some(s) => match s.value.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    return Err(r.error(
                        s.referenced,
                        "reproducible",
                        ConfigErrorKind::WrongType {
                            expected: "true or false",
                        },
                    ));
                }
            },
        };
        require_something(
            r,
            &[
                outcome.is_some(),
                id_is.is_some(),
                error_contains.is_some(),
                reproducible.is_some(),
            ],
            CLAIMS,
        )?;
        if outcome == Some(BuildOutcome::Built) && error_contains.is_some() {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "error_contains cannot be combined with outcome: built",
            )));
        }
        let refused = outcome == Some(BuildOutcome::Error) || error_contains.is_some();
        if refused && (id_is.is_some() || reproducible.is_some()) {
            return Err(r.error_here(ConfigErrorKind::Conflict(
                "id_is and reproducible describe a built image and cannot be combined with a failed build",
            )));
        }
        if let Some(text) = &error_contains
            && text.value.is_empty()
        {
            return Err(r.error(text.referenced, "error_contains", ConfigErrorKind::Empty));
        }
        Ok(BuildClaim {
            outcome,
            id_is,
            error_contains: error_contains.map(|e| e.value),
            reproducible,
        })
    }

    fn describe(action: &BuildAction) -> String {
        format!("build {} as {}", action.context, action.tag)
    }

    fn run<'a>(
        id: &'a str,
        action: &'a BuildAction,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<BuildObservation, StepError>> {
        Box::pin(run(id, action, cx))
    }

    fn contradictions(claim: &BuildClaim, obs: &BuildObservation) -> Vec<Contradiction> {
        let mut out = Vec::new();
        let mut push = |claim, message| out.push(Contradiction::of(claim, message));
        if let Some(want) = claim.outcome
            && want != obs.outcome
        {
            let why = obs
                .error
                .as_ref()
                .map(|e| format!(": {}", e.message))
                .unwrap_or_default();
            push(
                "outcome",
                format!(
                    "{}: expected outcome {want:?}, got {:?}{why}",
                    obs.id, obs.outcome
                ),
            );
        }
        if let Some(want) = claim.id_is {
            let want = match want {
                IdRole::Config => DigestRole::Config,
                IdRole::Manifest => DigestRole::Manifest,
                IdRole::Index => DigestRole::Index,
            };
            let got = obs.image.as_ref().and_then(|i| i.id_is);
            if got != Some(want) {
                push(
                    "id_is",
                    format!(
                        "{}: expected the ID to be the {} digest, got {}",
                        obs.id,
                        want.as_str(),
                        match (&obs.image, got) {
                            (None, _) => "no image",
                            (Some(_), None) => "no digest of what was built",
                            (Some(_), Some(r)) => r.as_str(),
                        }
                    ),
                );
            }
        }
        if let Some(want) = &claim.error_contains {
            match &obs.error {
                Some(e) if e.message.contains(want.as_str()) => {}
                Some(e) => push(
                    "error_contains",
                    format!(
                        "{}: expected an error containing {want:?}, got {:?}",
                        obs.id, e.message
                    ),
                ),
                None => push(
                    "error_contains",
                    format!(
                        "{}: expected an error containing {want:?}, but it built",
                        obs.id
                    ),
                ),
            }
        }
        if let Some(want) = claim.reproducible {
            let got = obs.rebuild.as_ref().map(|r| r.reproducible);
            if got != Some(want) {
                push(
                    "reproducible",
                    format!(
                        "{}: expected the rebuild {} the digests, {}",
                        obs.id,
                        if want { "to repeat" } else { "not to repeat" },
                        match got {
                            None => "but there was no rebuild".to_string(),
                            Some(true) => "and they repeated".to_string(),
                            Some(false) => "and they differ".to_string(),
                        }
                    ),
                );
            }
        }
        out
    }

    /// A known issue that claims the build fails also explains why the facts of a built
    /// image (`id_is`, `reproducible`) do not hold.
    fn explains(known: &BuildClaim, c: &Contradiction) -> bool {
        let claims_failure =
            known.outcome == Some(BuildOutcome::Error) || known.error_contains.is_some();
        Self::asserted(known).contains(&c.claim)
            || (claims_failure && matches!(c.claim, "outcome" | "id_is" | "reproducible"))
    }

    fn id(obs: &BuildObservation) -> &str {
        &obs.id
    }

    fn findings(obs: &BuildObservation) -> &[Finding] {
        &obs.findings
    }
}

/// The digests of one built image, as the harness read them back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Digests {
    names: Vec<String>,
    id: String,
    config: Digest,
    manifest: Option<Digest>,
    index: Option<Digest>,
    layers: Vec<Digest>,
}

async fn run(
    id: &str,
    action: &BuildAction,
    cx: &StepContext<'_>,
) -> Result<BuildObservation, StepError> {
    let facts = cx.facts;
    let builder = match cx
        .builder
        .or_else(|| default_builder(facts.runtime, &facts.version))
    {
        Some(b) => b,
        None => {
            return Err(RuntimeError::Unsupported {
                runtime: facts.runtime,
                operation: "build".into(),
            }
            .into());
        }
    };
    let scratch = crate::runtime::teardown::InstanceRoot::create_named("build-")
        .map_err(|e| StepError::Precondition(format!("{id}: cannot create a temp dir: {e}")))?;
    let context = scratch.path().join("context.tar");
    {
        let (dir, out) = (action.dir.clone(), context.clone());
        tokio::task::spawn_blocking(move || pack_context(&dir, &out))
            .await
            .map_err(|e| StepError::Precondition(format!("{id}: packing the context: {e}")))?
            .map_err(|e| {
                StepError::Precondition(format!(
                    "{id}: cannot pack context {}: {e}",
                    action.context
                ))
            })?;
    }
    let mut request = BuildRequest {
        context,
        tag: action.tag.clone(),
        builder,
        build_args: action.args.clone(),
        source_date_epoch: action.source_date_epoch,
        no_cache: false,
    };
    let mut obs = BuildObservation {
        id: id.to_string(),
        action: Build::describe(action),
        outcome: BuildOutcome::Error,
        builder,
        builder_version: None,
        options: Vec::new(),
        error: None,
        image: None,
        rebuild: None,
        findings: Vec::new(),
    };
    obs.builder_version = cx.runtime.builder_version(builder).await?;
    let built = match build_once(cx, &request, scratch.path(), "first").await? {
        Err(r) => {
            obs.error = Some(cx.redact.rejection(&r));
            return Ok(finish(obs, scratch));
        }
        Ok(built) => built,
    };
    obs.outcome = BuildOutcome::Built;
    obs.builder = built.0.builder;
    obs.options = sent_options(&request, &built.0);
    obs.findings.extend(built.2.clone());
    let first = built.1;
    let symbols = Symbols::new(id, &first);
    obs.image = Some(Box::new(symbols.image(&first, cx)));
    if action.rebuild {
        // A builder that records times at one-second granularity would repeat them by
        // coincidence if the rebuild ran within the same second; starting it a second after
        // the first build ended rules that out, so what repeats is what the inputs decide.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        request.no_cache = true;
        match build_once(cx, &request, scratch.path(), "rebuild").await? {
            Err(r) => {
                // The same inputs built once: a refusal now is the rebuild's outcome, and
                // the build is not reproducible.
                obs.error = Some(cx.redact.rejection(&r));
                obs.outcome = BuildOutcome::Error;
            }
            Ok((_, again, findings)) => {
                obs.findings.extend(findings);
                let layers_repeat = again
                    .layers
                    .iter()
                    .zip(&first.layers)
                    .map(|(a, b)| a == b)
                    .collect();
                obs.rebuild = Some(Box::new(Rebuild {
                    image: symbols.image(&again, cx),
                    reproducible: again.config == first.config
                        && again.manifest == first.manifest
                        && again.index == first.index,
                    layers_repeat,
                }));
            }
        }
    }
    Ok(finish(obs, scratch))
}

/// Removes the step's temp dir (its drop deletes it off the async workers).
fn finish(
    obs: BuildObservation,
    scratch: crate::runtime::teardown::InstanceRoot,
) -> BuildObservation {
    drop(scratch);
    obs
}

/// What was sent that decides the result, for the record.
fn sent_options(request: &BuildRequest, built: &Built) -> Vec<String> {
    let mut out: Vec<String> = request
        .source_date_epoch
        .map(|e| format!("build-arg SOURCE_DATE_EPOCH={e}"))
        .into_iter()
        .collect();
    out.extend(built.options.iter().cloned());
    out
}

/// One build, then its digests read back. `Ok(Err(_))`: the builder refused.
async fn build_once(
    cx: &StepContext<'_>,
    request: &BuildRequest,
    scratch: &std::path::Path,
    label: &str,
) -> Result<Result<(Built, Digests, Vec<Finding>), ApiRejection>, StepError> {
    let built = match cx.runtime.build_image(request).await? {
        Ok(b) => b,
        Err(r) => return Ok(Err(r)),
    };
    let Some(record) = cx.runtime.inspect_image(&built.id).await? else {
        return Err(StepError::Precondition(format!(
            "the build reported image {} but the store has no such image",
            built.id
        )));
    };
    // Save it back and read what was stored, with the harness's own reader.
    let archive = scratch.join(format!("{label}.tar"));
    if let Err(r) = cx
        .runtime
        .save_image(
            std::slice::from_ref(&request.tag),
            SaveFormat::DockerArchive,
            &archive,
        )
        .await?
    {
        return Err(StepError::Precondition(format!(
            "saving the built image {} back failed: {}",
            request.tag, r.message
        )));
    }
    let path = archive.clone();
    let inspection = tokio::task::spawn_blocking(move || crate::verify::inspect_path(&path))
        .await
        .map_err(|e| StepError::Precondition(format!("reading the saved image: {e}")))?
        .map_err(|e| StepError::Precondition(format!("reading the saved image: {e}")))?;
    let _ = std::fs::remove_file(&archive);
    let report = &inspection.report;
    let image = report.images.first();
    let manifest = image.and_then(|i| i.manifests.iter().find(|m| !m.attestation));
    let config = manifest
        .and_then(|m| m.config.as_ref())
        .and_then(|c| c.digest.clone())
        .ok_or_else(|| {
            StepError::Precondition(format!(
                "the saved image {} has no config the harness can read",
                request.tag
            ))
        })?;
    let layers = manifest
        .map(|m| m.layers.iter().filter_map(|l| l.diff_id.clone()).collect())
        .unwrap_or_default();
    // The manifest the store keeps (see the module docs).
    let (manifest, index) = match cx.facts.family {
        Family::Podman | Family::Podman34 => (
            record.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
            None,
        ),
        Family::DockerContainerd | Family::Containerd => (
            manifest.and_then(|m| m.digest.clone()),
            image.and_then(|i| i.index_digest.clone()),
        ),
        Family::DockerClassic => (None, None),
    };
    let findings = inspection
        .findings
        .iter()
        .filter(|f| f.severity == crate::verify::Severity::Error)
        .map(|f| Finding {
            code: f.code.to_string(),
            message: cx.redact.text(&f.message),
        })
        .collect();
    let mut names = record.names.clone();
    names.sort();
    Ok(Ok((
        built,
        Digests {
            names,
            id: record.id,
            config,
            manifest,
            index,
            layers,
        },
        findings,
    )))
}

/// Names the first build's digests after the step, so snapshots show roles, not hex.
struct Symbols {
    by_hex: BTreeMap<String, String>,
    step: String,
}

impl Symbols {
    fn new(step: &str, first: &Digests) -> Symbols {
        let mut by_hex = BTreeMap::new();
        by_hex.insert(first.config.hex().to_string(), format!("config({step})"));
        if let Some(m) = &first.manifest {
            by_hex.insert(m.hex().to_string(), format!("manifest({step})"));
        }
        if let Some(i) = &first.index {
            by_hex.insert(i.hex().to_string(), format!("index({step})"));
        }
        for (n, l) in first.layers.iter().enumerate() {
            by_hex
                .entry(l.hex().to_string())
                .or_insert(format!("layer({step})[{n}]"));
        }
        Symbols {
            by_hex,
            step: step.to_string(),
        }
    }

    /// The symbol of `d`: the first build's, or `<role>(<step> rebuild)`.
    fn of(&self, d: &Digest, role: &str, n: Option<usize>) -> String {
        match self.by_hex.get(d.hex()) {
            Some(s) => s.clone(),
            None => match n {
                Some(n) => format!("{role}({} rebuild)[{n}]", self.step),
                None => format!("{role}({} rebuild)", self.step),
            },
        }
    }

    fn image(&self, d: &Digests, cx: &StepContext<'_>) -> BuiltImage {
        let hex = d.id.rsplit(':').next().unwrap_or(&d.id);
        let (id_is, id) = if hex == d.config.hex() {
            (Some(DigestRole::Config), self.of(&d.config, "config", None))
        } else if d.manifest.as_ref().is_some_and(|m| m.hex() == hex) {
            let m = d.manifest.as_ref().expect("checked");
            (Some(DigestRole::Manifest), self.of(m, "manifest", None))
        } else if d.index.as_ref().is_some_and(|i| i.hex() == hex) {
            let i = d.index.as_ref().expect("checked");
            (Some(DigestRole::Index), self.of(i, "index", None))
        } else {
            (None, cx.redact.text(&d.id))
        };
        BuiltImage {
            names: d.names.clone(),
            id,
            id_is,
            config: self.of(&d.config, "config", None),
            manifest: d.manifest.as_ref().map(|m| self.of(m, "manifest", None)),
            layers: d
                .layers
                .iter()
                .enumerate()
                .map(|(n, l)| self.of(l, "layer", Some(n)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn digests(config: char, layers: &[char]) -> Digests {
        Digests {
            names: vec!["a.test/x:1".into()],
            id: digest(config).to_string(),
            config: digest(config),
            manifest: None,
            index: None,
            layers: layers.iter().map(|c| digest(*c)).collect(),
        }
    }

    fn obs(rebuild: Option<bool>) -> BuildObservation {
        BuildObservation {
            id: "b".into(),
            action: "build busybox as a.test/x:1".into(),
            outcome: BuildOutcome::Built,
            builder: BuilderKind::Buildah,
            builder_version: None,
            options: vec![],
            error: None,
            image: Some(Box::new(BuiltImage {
                names: vec![],
                id: "config(b)".into(),
                id_is: Some(DigestRole::Config),
                config: "config(b)".into(),
                manifest: None,
                layers: vec![],
            })),
            rebuild: rebuild.map(|r| {
                Box::new(Rebuild {
                    image: BuiltImage {
                        names: vec![],
                        id: "config(b)".into(),
                        id_is: Some(DigestRole::Config),
                        config: "config(b)".into(),
                        manifest: None,
                        layers: vec![],
                    },
                    reproducible: r,
                    layers_repeat: vec![],
                })
            }),
            findings: vec![],
        }
    }

    #[test]
    fn symbols_name_the_first_builds_digests_and_mark_what_the_rebuild_changed() {
        let first = digests('a', &['1', '2']);
        let s = Symbols::new("b", &first);
        assert_eq!(s.of(&digest('a'), "config", None), "config(b)");
        assert_eq!(s.of(&digest('2'), "layer", Some(1)), "layer(b)[1]");
        assert_eq!(s.of(&digest('c'), "config", None), "config(b rebuild)");
        assert_eq!(s.of(&digest('3'), "layer", Some(1)), "layer(b rebuild)[1]");
    }

    #[test]
    fn claims_hold_or_name_what_differs() {
        let claim = BuildClaim {
            outcome: Some(BuildOutcome::Built),
            id_is: Some(IdRole::Config),
            reproducible: Some(true),
            ..Default::default()
        };
        assert!(Build::contradictions(&claim, &obs(Some(true))).is_empty());
        let bad = Build::contradictions(&claim, &obs(Some(false)));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].claim, "reproducible");
        let none = Build::contradictions(&claim, &obs(None));
        assert!(none[0].message.contains("no rebuild"), "{none:?}");
        let manifest = BuildClaim {
            id_is: Some(IdRole::Manifest),
            ..Default::default()
        };
        let bad = Build::contradictions(&manifest, &obs(None));
        assert!(bad[0].message.contains("got config"), "{bad:?}");
    }

    #[test]
    fn an_observation_reads_back_as_a_build_from_json() {
        let o = super::super::Observation::Build(obs(Some(false)));
        let json = serde_json::to_string(&o).unwrap();
        let back: super::super::Observation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn a_context_is_a_name_with_a_dockerfile_beside_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("contexts/ok")).unwrap();
        std::fs::write(dir.path().join("contexts/ok/Dockerfile"), "FROM scratch\n").unwrap();
        let scenario = dir.path().join("s.yaml");
        let fixtures = BTreeMap::new();
        let (rootfs, produced) = (BTreeMap::new(), Default::default());
        let cx = ResolveContext {
            path: &scenario,
            field: "steps[0]",
            fixtures: &fixtures,
            rootfs: &rootfs,
            produced: &produced,
        };
        let raw = |context: &str| {
            let yaml = format!("{{ context: {context:?}, tag: a.test/x:1 }}");
            serde_saphyr::from_str::<Spanned<RawBuild>>(&yaml).unwrap()
        };
        let ok = Build::resolve(raw("ok"), &cx).unwrap();
        assert_eq!(ok.dir, dir.path().join("contexts/ok"));
        assert!(ok.rebuild, "rebuilds by default");
        for bad in ["../ok", "missing", ""] {
            let err = Build::resolve(raw(bad), &cx).unwrap_err().to_string();
            assert!(err.contains("steps[0].build.context"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_failure_claim_explains_the_facts_of_a_built_image() {
        let failure = BuildClaim {
            outcome: Some(BuildOutcome::Error),
            ..Default::default()
        };
        let about = |claim| Contradiction::of(claim, String::new());
        assert!(Build::explains(&failure, &about("reproducible")));
        assert!(Build::explains(&failure, &about("id_is")));
        assert!(!Build::explains(&failure, &about("error_contains")));
    }
}
