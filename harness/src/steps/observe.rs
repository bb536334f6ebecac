//! The parts of observations shared by step kinds, in a form that is stable across runs: digests the harness can explain
//! are shown symbolically (`config(hybrid)`), and volatile text (instance paths, temp names) is
//! redacted, so the snapshot of an observation shows which digest an ID *is*.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::craft::CraftedArchive;
use crate::runtime::{ApiRejection, ImageRecord};

/// Which blob of a fixture a digest (or an image ID) equals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestRole {
    Config,
    Manifest,
    Index,
    Layer,
}

impl DigestRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestRole::Config => "config",
            DigestRole::Manifest => "manifest",
            DigestRole::Index => "index",
            DigestRole::Layer => "layer",
        }
    }
}

/// Every digest of every crafted fixture, by hex, with its role and fixture name.
#[derive(Debug, Default, Clone)]
pub struct DigestBook {
    by_hex: BTreeMap<String, (DigestRole, String)>,
}

impl DigestBook {
    /// Records the digests of one crafted fixture.
    pub fn add(&mut self, fixture: &str, facts: &CraftedArchive) {
        let mut put = |hex: &str, role| {
            self.by_hex
                .entry(hex.to_string())
                .or_insert((role, fixture.to_string()));
        };
        put(facts.config.digest.hex(), DigestRole::Config);
        if let Some(manifest) = &facts.manifest {
            put(manifest.digest.hex(), DigestRole::Manifest);
        }
        if let Some(index) = &facts.index {
            put(index.digest.hex(), DigestRole::Index);
        }
        for layer in &facts.layers {
            put(layer.digest.hex(), DigestRole::Layer);
            put(layer.diff_id.hex(), DigestRole::Layer);
        }
    }

    /// The role and fixture of a digest or ID (`sha256:<hex>` or bare hex), if known.
    pub fn lookup(&self, digest_or_id: &str) -> Option<(DigestRole, &str)> {
        let hex = digest_or_id.rsplit(':').next().unwrap_or(digest_or_id);
        self.by_hex.get(hex).map(|(r, f)| (*r, f.as_str()))
    }

    /// `config(hybrid)` for a known digest; the input unchanged otherwise.
    pub fn symbol(&self, digest_or_id: &str) -> String {
        match self.lookup(digest_or_id) {
            Some((role, fixture)) => format!("{}({fixture})", role.as_str()),
            None => digest_or_id.to_string(),
        }
    }

    /// Replaces every known `sha256:<hex>` and bare 64-hex run in `text` by its symbol.
    pub fn symbolize_text(&self, text: &str) -> String {
        static HEX: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = HEX
            .get_or_init(|| regex::Regex::new(r"(sha256:)?\b[0-9a-f]{64}\b").expect("valid regex"));
        re.replace_all(text, |c: &regex::Captures| self.symbol(&c[0]))
            .into_owned()
    }
}

/// One image that a step produced or changed, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageObservation {
    /// Names (RepoTags), sorted.
    pub names: Vec<String>,
    /// The ID, symbolic where known (`config(hybrid)`).
    pub id: String,
    /// Which digest of the loaded fixture the ID equals, if any.
    pub id_is: Option<DigestRole>,
    /// Podman's Digest, symbolic where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// RepoDigests, symbolic where known.
    pub repo_digests: Vec<String>,
}

/// Something the harness noticed that no runtime reported as an error: a runtime doing other
/// than the harness's own model of it predicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code: `reference-model-divergence`, `load-prediction-divergence`.
    pub code: String,
    pub message: String,
}

/// A runtime's refusal, redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObservation {
    pub status: Option<u16>,
    /// Our classification, where the step classifies refusals (tag steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub message: String,
}

/// Removes values that change from run to run and say nothing about behaviour.
pub struct Redactor<'a> {
    pub root: &'a Path,
    pub book: &'a DigestBook,
}

impl Redactor<'_> {
    /// Instance paths become `<root>`, numbered temp names lose their numbers, digests become
    /// symbols where the harness can explain them.
    pub fn text(&self, s: &str) -> String {
        static TEMP: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let root = self.root.display().to_string();
        let s = if root.is_empty() {
            s.to_string()
        } else {
            s.replace(&root, "<root>")
        };
        // moby's `docker load` extracts into `os.MkdirTemp(.., "docker-import-")`, whose suffix
        // is a random uint32 in decimal (any length). Add patterns here only as they are seen.
        let re =
            TEMP.get_or_init(|| regex::Regex::new(r"(docker-import)-[0-9]+").expect("valid regex"));
        let s = re.replace_all(&s, "$1-<n>");
        // moby's builder-next serves an uploaded build context at a fake URL,
        // `http://build-context-<random session-like ID>` (`builder/builder-next/builder.go`),
        // and a failed fetch of it names the machine's DNS resolver.
        static CONTEXT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = CONTEXT.get_or_init(|| {
            regex::Regex::new(r"(build-context)-[a-z0-9]+|( on )[0-9a-f.:\[\]]+:53:")
                .expect("valid regex")
        });
        let s = re.replace_all(&s, |c: &regex::Captures| match (c.get(1), c.get(2)) {
            (Some(m), _) => format!("{}-<id>", m.as_str()),
            (_, Some(on)) => format!("{}<resolver>:", on.as_str()),
            _ => c[0].to_string(),
        });
        self.book.symbolize_text(&s)
    }

    pub fn rejection(&self, r: &ApiRejection) -> ErrorObservation {
        ErrorObservation {
            status: r.status,
            class: None,
            message: self.text(&r.message),
        }
    }
}

/// The images in `after` that are new or have names they lacked in `before`.
pub fn changed_images<'a>(
    before: &[ImageRecord],
    after: &'a [ImageRecord],
) -> Vec<&'a ImageRecord> {
    after
        .iter()
        .filter(|a| match before.iter().find(|b| b.id == a.id) {
            None => true,
            Some(b) => {
                a.names.iter().any(|n| !b.names.contains(n)) || a.repo_digests != b.repo_digests
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_roots_and_random_temp_names_and_symbolizes_digests() {
        let mut book = DigestBook::default();
        let hex = "9f8c7b3bb8aa84351c1686ed064b0d92f5201a7e6a4153638551cb69952e686e";
        book.by_hex
            .insert(hex.into(), (DigestRole::Config, "hybrid".into()));
        let r = Redactor {
            root: Path::new("/tmp/harness-Ab12Cd"),
            book: &book,
        };
        assert_eq!(
            r.text("open /tmp/harness-Ab12Cd/data/tmp/docker-import-7/blobs/json: no such file"),
            "open <root>/data/tmp/docker-import-<n>/blobs/json: no such file"
        );
        assert_eq!(
            r.text(&format!("Loaded image ID: sha256:{hex}")),
            "Loaded image ID: config(hybrid)"
        );
        assert_eq!(r.text(hex), "config(hybrid)");
        assert_eq!(
            r.text("Get \"http://build-context-wmaon8lw\": dial tcp: lookup build-context-wmaon8lw on 10.255.255.53:53: no such host"),
            "Get \"http://build-context-<id>\": dial tcp: lookup build-context-<id> on <resolver>: no such host"
        );
        let unknown = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(
            r.text(unknown),
            unknown,
            "unexplained digests stay as they are"
        );
    }

    #[test]
    fn changed_images_are_new_ids_or_new_names() {
        let rec = |id: &str, names: &[&str]| ImageRecord {
            id: id.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            digest: None,
            repo_digests: vec![],
        };
        let before = vec![rec("a", &["x:1"]), rec("b", &["y:1"])];
        let after = vec![rec("a", &["x:1"]), rec("b", &["y:1", "z:1"]), rec("c", &[])];
        let ids: Vec<&str> = changed_images(&before, &after)
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
