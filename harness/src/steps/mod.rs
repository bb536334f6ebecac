//! Step kinds: each kind of step (`load`, `tag`, ...) is one module behind [`StepKind`], which
//! owns everything about it: its YAML form, its resolved action, its typed claims, how it runs
//! against a runtime, its typed observation and how a claim is checked against it.
//!
//! A step kind is the one unit that spans the scenario file and the runtime call, on purpose:
//! the alternative (a field in the config layer, an arm in the runner, optional fields in a
//! shared observation, a flat claim valid for every kind) is what made `found:` on a load step
//! load fine and fail at run time. The config layer hands each step's action key and claim keys
//! to the kind (claims are read by the kind through [`ClaimReader`], so unknown claims of a kind
//! are load-time errors with a position), and the runner calls [`Action::run`].
//!
//! [`step_kinds!`] at the bottom is the registry: adding a kind is one new module implementing
//! [`StepKind`] plus one line there, which generates the [`Action`], [`Claim`] and
//! [`Observation`] enums and their dispatch.

pub mod build;
pub mod fixtures;
pub mod import;
pub mod inspect;
pub mod list;
pub mod load;
pub mod observe;
pub mod publish;
pub mod pull;
pub mod push;
pub mod remove;
pub mod save;
pub mod tag;

use std::fmt::Debug;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use crate::config::{ClaimReader, ConfigError};
use crate::craft::FixtureSpec;
use crate::runtime::{BoxFuture, InstanceFacts, Runtime, RuntimeError, RuntimeInfo};
pub use fixtures::Fixtures;
pub use observe::{DigestBook, DigestRole, ErrorObservation, Finding, ImageObservation, Redactor};

/// What resolving a step's action may look at.
pub struct ResolveContext<'a> {
    /// The scenario file, for errors.
    pub path: &'a Path,
    /// The step's field path (`steps[1]`).
    pub field: &'a str,
    /// The scenario's fixtures by name.
    pub fixtures: &'a std::collections::BTreeMap<String, FixtureSpec>,
    /// The scenario's rootfs tarball fixtures by name.
    pub rootfs: &'a std::collections::BTreeMap<String, crate::craft::RootfsSpec>,
    /// The names of its produced fixtures (`config/produced.rs`).
    pub produced: &'a std::collections::BTreeSet<String>,
}

impl ResolveContext<'_> {
    /// Whether `name` is a fixture of the scenario, crafted or produced.
    pub fn has_fixture(&self, name: &str) -> bool {
        self.fixtures.contains_key(name) || self.produced.contains(name)
    }

    /// Every fixture name, crafted and produced, sorted.
    pub fn fixture_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .fixtures
            .keys()
            .chain(self.produced.iter())
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// An error about `sub` of this step's action (`load`, `tag.refs`).
    pub fn error(
        &self,
        at: Location,
        sub: &str,
        kind: crate::config::ConfigErrorKind,
    ) -> ConfigError {
        ConfigError::at(self.path, at, format!("{}.{sub}", self.field), kind)
    }
}

/// What running a step may use: the instance's driver and facts, the scenario's fixtures, and
/// the redactor that makes observations stable.
pub struct StepContext<'a> {
    pub runtime: &'a dyn Runtime,
    /// What the instance reported about itself.
    pub info: &'a RuntimeInfo,
    /// What follows from that: runtime kind, parsed version, loader family, reference model.
    pub facts: &'a InstanceFacts,
    /// The cell's `builder`, for steps that build; `None`: the runtime's default.
    pub builder: Option<crate::build::BuilderKind>,
    pub fixtures: &'a Fixtures,
    pub redact: &'a Redactor<'a>,
    /// The local registry `push` and `pull` use: the run's, or the cell's own, started on
    /// first use.
    pub registry: &'a crate::runtime::registry::RegistrySlot,
}

/// Why a step could not produce an observation. A runtime *refusing* something is never one of
/// these: that is an observation.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The harness or the daemon broke (connection lost, a reply that does not parse).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The step's preconditions do not hold on this instance (the image to tag is not there),
    /// or undoing its effect failed, which would pollute later steps.
    #[error("{0}")]
    Precondition(String),
}

/// One way an observation contradicts a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contradiction {
    /// The claim key it is about (`names`, `outcome`, `found`), which with `subject` decides
    /// whether a known issue explains it.
    pub claim: &'static str,
    /// What within the claim it is about, where a claim lists several things (the name whose
    /// lookups a tag step's `found` is about).
    pub subject: Option<String>,
    /// A sentence, starting with the step id.
    pub message: String,
}

impl Contradiction {
    /// A contradiction of the claim key `claim` as a whole (no `subject`).
    pub fn of(claim: &'static str, message: String) -> Contradiction {
        Contradiction {
            claim,
            subject: None,
            message,
        }
    }
}

/// One kind of step. Implementors are unit types; the associated types carry the data.
pub trait StepKind: 'static {
    /// The YAML key of the action (`load`).
    const KEY: &'static str;
    /// The claim keys this kind understands, in the order documented.
    const CLAIMS: &'static [&'static str];
    /// The action's value as written (`load: hybrid` -> `String`).
    type Raw: DeserializeOwned;
    /// The resolved action, valid by construction.
    type Action: Clone + Debug + PartialEq + Eq + Serialize;
    /// What an expectation or a known issue can claim about this kind's observation.
    type Claim: Clone + Debug + PartialEq + Eq + Serialize;
    /// What running it observed; serializes to the snapshot and the JSON results, and reads
    /// back from them.
    type Observation: Clone + Debug + PartialEq + Eq + Serialize + DeserializeOwned;

    /// Checks the raw action against the scenario (fixtures exist, lists are not empty).
    fn resolve(
        raw: Spanned<Self::Raw>,
        cx: &ResolveContext<'_>,
    ) -> Result<Self::Action, ConfigError>;
    /// Reads this kind's claim keys (the caller has already refused keys not in `CLAIMS`).
    fn resolve_claim(claims: &mut ClaimReader<'_>) -> Result<Self::Claim, ConfigError>;
    /// `load hybrid`: the action in words, for observations and reports.
    fn describe(action: &Self::Action) -> String;
    /// Runs the action through the runtime's API.
    fn run<'a>(
        id: &'a str,
        action: &'a Self::Action,
        cx: &'a StepContext<'a>,
    ) -> BoxFuture<'a, Result<Self::Observation, StepError>>;
    /// The ways `obs` contradicts `claim`; empty when the claim holds.
    fn contradictions(claim: &Self::Claim, obs: &Self::Observation) -> Vec<Contradiction>;
    /// Whether a known issue claiming `known` (and reproducing) explains the contradiction
    /// `c`. By default it explains only contradictions of the claim keys it sets itself.
    fn explains(known: &Self::Claim, c: &Contradiction) -> bool {
        Self::asserted(known).contains(&c.claim)
    }
    /// The claim keys `claim` sets: those of [`StepKind::CLAIMS`] whose field is set (each
    /// claim type names its fields after the YAML keys, and serializes unset ones as null).
    fn asserted(claim: &Self::Claim) -> Vec<&'static str> {
        let value = serde_json::to_value(claim).expect("claims serialize");
        Self::CLAIMS
            .iter()
            .copied()
            .filter(|k| value.get(k).is_some_and(|v| !v.is_null()))
            .collect()
    }
    /// The step id an observation belongs to.
    fn id(obs: &Self::Observation) -> &str;
    /// Findings of the harness's own models on this observation.
    fn findings(obs: &Self::Observation) -> &[Finding];
}

/// A step whose action the instance's driver does not offer: recorded, not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedStep {
    pub id: String,
    pub action: String,
    /// Why it did not run (the driver's word for what it does not offer).
    pub skipped: String,
}

/// A step whose action ran several times (`repeat: N`): every distinct observation once, in
/// the order first seen, with how many trials produced it. Observations are redacted before
/// they are compared, so trials that differ only in volatile values are one outcome. The
/// counts add up to `repeat` unless a trial broke the cell (then they count the trials that
/// finished before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatedStep {
    /// How many times the step was to run.
    pub repeat: u32,
    /// Never empty.
    pub outcomes: Vec<TrialOutcome>,
}

/// One distinct observation of a repeated step and how many of its trials produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialOutcome {
    pub count: u32,
    pub observation: Observation,
}

impl RepeatedStep {
    /// A repeated step of `repeat` trials, none recorded yet.
    pub fn new(repeat: u32) -> RepeatedStep {
        RepeatedStep {
            repeat,
            outcomes: Vec::new(),
        }
    }

    /// Counts one trial's observation: one more of an outcome already seen, or a new one.
    pub fn record(&mut self, obs: Observation) {
        match self.outcomes.iter_mut().find(|o| o.observation == obs) {
            Some(seen) => seen.count += 1,
            None => self.outcomes.push(TrialOutcome {
                count: 1,
                observation: obs,
            }),
        }
    }

    /// How many trials were recorded.
    pub fn trials(&self) -> u32 {
        self.outcomes.iter().map(|o| o.count).sum()
    }
}

/// The registry. One line per kind: `Variant(module::Kind)`.
macro_rules! step_kinds {
    ($($variant:ident($kind:ty)),* $(,)?) => {
        /// A resolved step action, one variant per step kind.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Action {
            $($variant(<$kind as StepKind>::Action),)*
        }

        /// A claim, typed by the kind of the step it is about.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum Claim {
            $($variant(<$kind as StepKind>::Claim),)*
        }

        /// What one step observed, typed by its kind. Untagged, so the snapshot and JSON
        /// shape of each kind is its own observation's. Read back by its `action`, which
        /// starts with the kind's key (`load hybrid`, `save docker-archive x`): several kinds'
        /// observations have the same optional fields, so their shapes alone are ambiguous.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum Observation {
            $($variant(<$kind as StepKind>::Observation),)*
            /// The driver does not offer the action, or the step does not apply to the cell.
            Skipped(SkippedStep),
            /// The step ran several times (`repeat:`); its outcomes are never `Repeated`.
            Repeated(RepeatedStep),
        }

        impl<'de> Deserialize<'de> for Observation {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                let value = serde_json::Value::deserialize(deserializer)?;
                if value.get("skipped").is_some() {
                    return SkippedStep::deserialize(value)
                        .map(Observation::Skipped)
                        .map_err(D::Error::custom);
                }
                if value.get("repeat").is_some() && value.get("outcomes").is_some() {
                    return RepeatedStep::deserialize(value)
                        .map(Observation::Repeated)
                        .map_err(D::Error::custom);
                }
                let key = value
                    .get("action")
                    .and_then(|a| a.as_str())
                    .and_then(|a| a.split(' ').next())
                    .unwrap_or_default()
                    .to_string();
                $(
                    if key == <$kind as StepKind>::KEY {
                        return <<$kind as StepKind>::Observation>::deserialize(value)
                            .map(Observation::$variant)
                            .map_err(D::Error::custom);
                    }
                )*
                Err(D::Error::custom(format!(
                    "a step observation whose action {key:?} is no step kind's (known: {})",
                    KEYS.join(", ")
                )))
            }
        }

        /// A step's action as written, before resolution.
        #[derive(Debug)]
        pub(crate) enum RawAction {
            $($variant(Spanned<<$kind as StepKind>::Raw>),)*
        }

        /// Every action key, in registry order.
        pub const KEYS: &[&str] = &[$(<$kind as StepKind>::KEY),*];

        /// Every key a step mapping may have, for "unknown field" errors.
        pub(crate) const STEP_FIELDS: &[&str] =
            &["id", $(<$kind as StepKind>::KEY,)* "expect", "repeat", "timeout", "applies_to"];

        impl RawAction {
            /// Reads the value of action key `key` from a step mapping; `None` if `key` is not
            /// an action key.
            pub(crate) fn next_value<'de, A: serde::de::MapAccess<'de>>(
                key: &str,
                map: &mut A,
            ) -> Option<Result<RawAction, A::Error>> {
                match key {
                    $(k if k == <$kind as StepKind>::KEY => {
                        Some(map.next_value().map(RawAction::$variant))
                    })*
                    _ => None,
                }
            }

            /// The action key, as written.
            pub(crate) fn key(&self) -> &'static str {
                match self {
                    $(RawAction::$variant(_) => <$kind as StepKind>::KEY,)*
                }
            }

            pub(crate) fn resolve(self, cx: &ResolveContext<'_>) -> Result<Action, ConfigError> {
                match self {
                    $(RawAction::$variant(raw) => {
                        <$kind as StepKind>::resolve(raw, cx).map(Action::$variant)
                    })*
                }
            }
        }

        impl Action {
            /// The action key, as written in YAML.
            pub fn key(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => <$kind as StepKind>::KEY,)*
                }
            }

            /// The action in words (`load hybrid`).
            pub fn describe(&self) -> String {
                match self {
                    $(Action::$variant(a) => <$kind as StepKind>::describe(a),)*
                }
            }

            /// Reads the claim keys of an expectation or known issue about a step with this
            /// action.
            pub(crate) fn resolve_claim(
                &self,
                claims: crate::config::ClaimFields,
                path: &Path,
                at: Location,
                field: &str,
            ) -> Result<Claim, ConfigError> {
                match self {
                    $(Action::$variant(_) => {
                        let mut reader = claims.reader(path, at, field, <$kind as StepKind>::KEY);
                        reader.reject_others(<$kind as StepKind>::CLAIMS)?;
                        <$kind as StepKind>::resolve_claim(&mut reader).map(Claim::$variant)
                    })*
                }
            }

            /// Runs the action.
            pub async fn run(&self, id: &str, cx: &StepContext<'_>) -> Result<Observation, StepError> {
                match self {
                    $(Action::$variant(a) => {
                        <$kind as StepKind>::run(id, a, cx).await.map(Observation::$variant)
                    })*
                }
            }
        }

        impl Claim {
            /// The ways `obs` contradicts this claim. A claim about another kind of step than
            /// the one observed cannot come from a resolved scenario; it is reported as a
            /// contradiction rather than ignored.
            pub fn contradictions(&self, obs: &Observation) -> Vec<Contradiction> {
                match (self, obs) {
                    $((Claim::$variant(c), Observation::$variant(o)) => {
                        <$kind as StepKind>::contradictions(c, o)
                    })*
                    (_, Observation::Skipped(_)) => Vec::new(),
                    // Every trial's (the runner's verdict reads trials itself, for `trials`).
                    (c, Observation::Repeated(r)) => r
                        .outcomes
                        .iter()
                        .flat_map(|o| c.contradictions(&o.observation))
                        .collect(),
                    #[allow(unreachable_patterns)]
                    _ => vec![Contradiction {
                        claim: "kind",
                        subject: None,
                        message: format!("{}: the claim is about another kind of step", obs.id()),
                    }],
                }
            }

            /// Whether this claim, made by a reproduced known issue, explains the
            /// contradiction `c` (of a claim about the same step).
            pub fn explains(&self, c: &Contradiction) -> bool {
                match self {
                    $(Claim::$variant(k) => <$kind as StepKind>::explains(k, c),)*
                }
            }
        }

        impl Observation {
            /// The id of the step observed.
            pub fn id(&self) -> &str {
                match self {
                    $(Observation::$variant(o) => <$kind as StepKind>::id(o),)*
                    Observation::Skipped(s) => &s.id,
                    Observation::Repeated(r) => r.outcomes.first().map_or("", |o| o.observation.id()),
                }
            }

            /// Each distinct observation of the step with how many trials produced it: the
            /// outcomes of a repeated step, or this observation once.
            pub fn outcomes(&self) -> Vec<(&Observation, u32)> {
                match self {
                    Observation::Repeated(r) => {
                        r.outcomes.iter().map(|o| (&o.observation, o.count)).collect()
                    }
                    other => vec![(other, 1)],
                }
            }

            /// The harness's own findings on it.
            pub fn findings(&self) -> &[Finding] {
                match self {
                    $(Observation::$variant(o) => <$kind as StepKind>::findings(o),)*
                    Observation::Skipped(_) => &[],
                    // The first outcome's; each outcome holds its own.
                    Observation::Repeated(r) => r.outcomes.first().map_or(&[], |o| o.observation.findings()),
                }
            }
        }
    };
}

step_kinds! {
    Load(load::Load),
    Tag(tag::Tag),
    Inspect(inspect::Inspect),
    Import(import::Import),
    Save(save::Save),
    Remove(remove::Remove),
    List(list::List),
    Push(push::Push),
    Pull(pull::Pull),
    Build(build::Build),
    Publish(publish::Publish),
}
