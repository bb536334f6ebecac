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
    /// A rootfs tarball fixture's file as written (compressed), which is not a DiffID unless
    /// it is uncompressed; its decompressed tar is the fixture's `layer`.
    Rootfs,
}

impl DigestRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestRole::Config => "config",
            DigestRole::Manifest => "manifest",
            DigestRole::Index => "index",
            DigestRole::Layer => "layer",
            DigestRole::Rootfs => "rootfs",
        }
    }
}

/// Every digest of every crafted fixture, by hex, with its role and fixture name.
#[derive(Debug, Default, Clone)]
pub struct DigestBook {
    by_hex: BTreeMap<String, (DigestRole, String)>,
    /// Every (hex, fixture) pair with its role: a produced fixture often shares digests with
    /// the crafted one it was made from, and a load of it should still see which of *its*
    /// digests an ID is.
    by_fixture: BTreeMap<(String, String), DigestRole>,
    /// Fixtures whose bytes change from one production to the next (built by a runtime whose
    /// build is not reproducible): a digest a runtime derives from them that the harness cannot
    /// explain is shown as `unexplained(<fixture>)`, so snapshots stay stable.
    volatile: std::collections::BTreeSet<String>,
}

impl DigestBook {
    /// Records the digests of one crafted fixture.
    pub fn add(&mut self, fixture: &str, facts: &CraftedArchive) {
        let mut put = |hex: &str, role| {
            self.by_hex
                .entry(hex.to_string())
                .or_insert((role, fixture.to_string()));
            self.by_fixture
                .entry((hex.to_string(), fixture.to_string()))
                .or_insert(role);
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

    /// Records the digests of one rootfs tarball fixture: its decompressed tar as `layer`
    /// (the DiffID), the file as written as `rootfs` (the same digest when uncompressed).
    pub fn add_rootfs(&mut self, fixture: &str, facts: &crate::craft::RootfsFacts) {
        for (digest, role) in [
            (&facts.diff_id, DigestRole::Layer),
            (&facts.digest, DigestRole::Rootfs),
        ] {
            self.by_hex
                .entry(digest.hex().to_string())
                .or_insert((role, fixture.to_string()));
        }
    }

    /// The role and fixture of a digest or ID (`sha256:<hex>` or bare hex), if known.
    pub fn lookup(&self, digest_or_id: &str) -> Option<(DigestRole, &str)> {
        let hex = digest_or_id.rsplit(':').next().unwrap_or(digest_or_id);
        self.by_hex.get(hex).map(|(r, f)| (*r, f.as_str()))
    }

    /// The role of a digest or ID among the digests of `fixture`, if it is one of them.
    pub fn role_in(&self, digest_or_id: &str, fixture: &str) -> Option<DigestRole> {
        let hex = digest_or_id.rsplit(':').next().unwrap_or(digest_or_id);
        self.by_fixture
            .get(&(hex.to_string(), fixture.to_string()))
            .copied()
    }

    /// Marks `fixture` as one whose digests change from one production to the next.
    pub fn mark_volatile(&mut self, fixture: &str) {
        self.volatile.insert(fixture.to_string());
    }

    /// [`DigestBook::symbolize_text`] for text about fixture `fixture`: where that fixture is
    /// volatile, digests the book cannot explain become `unexplained(<fixture>)`.
    pub fn symbolize_in(&self, text: &str, fixture: &str) -> String {
        static HEX: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let text = self.symbolize_text(text);
        if !self.volatile.contains(fixture) {
            return text;
        }
        let re = HEX
            .get_or_init(|| regex::Regex::new(r"(sha256:)?\b[0-9a-f]{64}\b").expect("valid regex"));
        re.replace_all(&text, format!("unexplained({fixture})").as_str())
            .into_owned()
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
    /// The local registry, whose `host:port` becomes `<registry>` once it has started.
    pub registry: Option<&'a crate::runtime::registry::RegistrySlot>,
}

impl Redactor<'_> {
    /// Instance paths become `<root>`, other harness temp roots `<tmp>`, numbered temp names
    /// lose their numbers, ctr's dated import prefix loses its date, loopback ports become
    /// `<port>`, and digests become symbols where the harness can explain them. Each pattern
    /// names the upstream code that makes the value; add patterns only as they are seen.
    pub fn text(&self, s: &str) -> String {
        static PATTERNS: std::sync::OnceLock<Vec<(regex::Regex, &'static str)>> =
            std::sync::OnceLock::new();
        let root = self.root.display().to_string();
        let mut s = if root.is_empty() || root == "/" {
            s.to_string()
        } else {
            s.replace(&root, "<root>")
        };
        // The cell's registry is `<registry>`, before the loopback-port pattern would make it
        // `127.0.0.1:<port>`.
        if let Some(host) = self.registry.and_then(|r| r.host()) {
            s = s.replace(&host, crate::runtime::registry::PLACEHOLDER);
        }
        let patterns = PATTERNS.get_or_init(|| {
            [
                // moby's `docker load` extracts into `os.MkdirTemp(.., "docker-import-")`, whose
                // suffix is a random uint32 in decimal (any length).
                (r"(docker-import)-[0-9]+", "$1-<n>"),
                // Podman's API spools uploads and exports into `os.CreateTemp("", "api_load.tar")`
                // / `"api.tar"` (pkg/api/handlers/libpod/images.go): the random suffix is decimal.
                // The service's own load path spools into `libpod-images-load.tar` the same
                // way (ImagesLoad, by version), and containers/image unpacks an oci-archive
                // candidate into `tmpdir.MkDirBigFileTemp(sys, "oci")`, prefix
                // `container_images_` (internal/tmpdir/tmpdir.go).
                (
                    r"\b(api_load\.tar|api\.tar|libpod-images-load\.tar|container_images_oci)[0-9]+",
                    "$1<n>",
                ),
                // Older containers/image unpacks it into `os.MkdirTemp(<big files dir>, "oci")`
                // (oci/archive/reader.go NewReader), named in its refusals.
                (r"(/oci)[0-9]+/", "$1<n>/"),
                // Another harness temp root (a fixtures dir, another instance, the producer's):
                // `tempfile`'s six random alphanumerics after our prefix, with the path before it.
                (
                    r"(/[^\s:\x22']*)?/harness-([a-z]*-)?[A-Za-z0-9]{6}\b",
                    "<tmp>",
                ),
                // ctr's default base name for a tag-only ref.name, `import-<date>`
                // (cmd/ctr/commands/images/import.go: `fmt.Sprintf("import-%s",
                // time.Now().Format("2006-01-02"))`).
                (r"\bimport-[0-9]{4}-[0-9]{2}-[0-9]{2}\b", "import-<date>"),
                // buildah raising its rlimits under chroot isolation, refused by the service's
                // own limits: which limit it tries first varies (a Go map), and the limits
                // are the machine's (buildah `chroot/run_linux.go` setRlimits).
                (
                    r#"setting "RLIMIT_[A-Z]+" limit to soft=[0-9]+,hard=[0-9]+ \(was soft=[0-9]+,hard=[0-9]+\)"#,
                    r#"setting "RLIMIT_<name>" limit to <limits>"#,
                ),
                // A push missing content names the first missing blob it meets, and
                // containerd's push walks an index's children concurrently
                // (`images.Dispatch` with a limiter, core/remotes/handlers.go `PushContent`),
                // so which platform's manifest it is varies from run to run (R3).
                (
                    r"(content digest) sha256:[0-9a-f]{64}(: not found)",
                    "$1 <digest>$2",
                ),
                // containerd's unpack mounts each snapshot under `os.MkdirTemp(..,
                // "containerd-mount")` (core/mount/temp.go `WithTempMount`): a random decimal
                // suffix; and names the extraction's snapshot key `extract-<nanos>-<4 base64url
                // chars>` (core/unpack/unpacker.go `uniquePart`).
                (r"\b(containerd-mount)[0-9]+", "$1<n>"),
                (r"\b(extract)-[0-9]+-[A-Za-z0-9_-]{4}", "$1-<n>"),
                // A loopback port chosen at run time (the local registry, a daemon's listener).
                (r"(127\.0\.0\.1|\[::1\]):[0-9]{2,5}\b", "$1:<port>"),
            ]
            .into_iter()
            .map(|(re, with)| (regex::Regex::new(re).expect("valid regex"), with))
            .collect()
        });
        for (re, with) in patterns {
            s = re.replace_all(&s, *with).into_owned();
        }
        // A pusher uploads blobs concurrently, so which blob's request a failing push names
        // first (`Head "https://<registry>/v2/pushpull/blobs/sha256:..."`, containerd 1.7)
        // varies from run to run: the blob of a registry blob URL is redacted.
        static BLOB: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let blob = BLOB.get_or_init(|| {
            regex::Regex::new(r#"(/v2/[^"\s]+/blobs/)(uploads/)?[^"\s?]+"#).expect("valid regex")
        });
        let s = blob.replace_all(&s, "$1<blob>");
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

impl From<crate::config::IdRole> for DigestRole {
    fn from(r: crate::config::IdRole) -> DigestRole {
        match r {
            crate::config::IdRole::Config => DigestRole::Config,
            crate::config::IdRole::Manifest => DigestRole::Manifest,
            crate::config::IdRole::Index => DigestRole::Index,
        }
    }
}

/// One image record as observed after an inspect or a pull: names and RepoDigests redacted
/// (the registry's host, ctr's dated names) and sorted, digests as symbols, and which digest
/// of any fixture the ID is.
pub fn observe_image(record: &ImageRecord, redact: &Redactor<'_>) -> ImageObservation {
    let book = redact.book;
    let mut names: Vec<String> = record.names.iter().map(|n| redact.text(n)).collect();
    names.sort();
    let mut repo_digests: Vec<String> =
        record.repo_digests.iter().map(|d| redact.text(d)).collect();
    repo_digests.sort();
    ImageObservation {
        names,
        id: book.symbol(&record.id),
        id_is: book.lookup(&record.id).map(|(role, _)| role),
        digest: record.digest.as_deref().map(|d| book.symbol(d)),
        repo_digests,
    }
}

/// The `names` and `id_is` claims about the one image a step observed (inspect, pull), as
/// `(claim key, message)` contradictions.
pub fn image_contradictions(
    step: &str,
    image: Option<&ImageObservation>,
    names: Option<&[String]>,
    id_is: Option<crate::config::IdRole>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(want) = names {
        let got: Vec<&str> = image
            .iter()
            .flat_map(|i| i.names.iter().map(String::as_str))
            .collect();
        if want.iter().map(String::as_str).ne(got.iter().copied()) {
            out.push((
                "names",
                format!("{step}: expected names {want:?}, got {got:?}"),
            ));
        }
    }
    if let Some(want) = id_is.map(DigestRole::from) {
        let got = image.and_then(|i| i.id_is);
        if got != Some(want) {
            out.push((
                "id_is",
                format!(
                    "{step}: expected the ID to be the {} digest, got {}",
                    want.as_str(),
                    got.map_or("no known digest", DigestRole::as_str)
                ),
            ));
        }
    }
    out
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
            registry: None,
        };
        assert_eq!(
            r.text("open /tmp/harness-Ab12Cd/data/tmp/docker-import-7/blobs/json: no such file"),
            "open <root>/data/tmp/docker-import-<n>/blobs/json: no such file"
        );
        assert_eq!(
            r.text(
                "parsing \"localhost/tmp/harness-Ab12Cd/tmp/libpod-images-load.tar2319777464\": x\n * oci-archive: loading index: open /var/tmp/oci4058649186/index.json: no such file"
            ),
            "parsing \"localhost<root>/tmp/libpod-images-load.tar<n>\": x\n * oci-archive: loading index: open /var/tmp/oci<n>/index.json: no such file"
        );
        assert_eq!(
            r.text(&format!("Loaded image ID: sha256:{hex}")),
            "Loaded image ID: config(hybrid)"
        );
        assert_eq!(r.text(hex), "config(hybrid)");
        assert_eq!(
            r.text(&format!(
                "Head \"https://127.0.0.1:5000/v2/a/b/blobs/sha256:{hex}\": http: x"
            )),
            // Without a registry of the cell's own, a loopback port is `<port>`.
            "Head \"https://127.0.0.1:<port>/v2/a/b/blobs/<blob>\": http: x"
        );
        assert_eq!(
            r.text("Get \"http://build-context-wmaon8lw\": dial tcp: lookup build-context-wmaon8lw on 10.255.255.53:53: no such host"),
            "Get \"http://build-context-<id>\": dial tcp: lookup build-context-<id> on <resolver>: no such host"
        );
        assert_eq!(
            r.text("failed to extract layer (x) to overlayfs as \"extract-229759908-MXYe layer(x)\": mount callback failed on /m/containerd-mount4205970068: unexpected EOF"),
            "failed to extract layer (x) to overlayfs as \"extract-<n> layer(x)\": mount callback failed on /m/containerd-mount<n>: unexpected EOF"
        );
        let unknown = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(
            r.text(unknown),
            unknown,
            "unexplained digests stay as they are"
        );
    }

    fn plain() -> (DigestBook, &'static Path) {
        (DigestBook::default(), Path::new("/tmp/harness-Ab12Cd"))
    }

    #[test]
    fn digests_derived_from_a_volatile_fixture_are_unexplained_but_known_ones_stay_symbols() {
        let mut book = DigestBook::default();
        let known = "9f8c7b3bb8aa84351c1686ed064b0d92f5201a7e6a4153638551cb69952e686e";
        let other = "0000000000000000000000000000000000000000000000000000000000000001";
        book.by_hex
            .insert(known.into(), (DigestRole::Config, "built".into()));
        let text = format!("x@sha256:{other} sha256:{known}");
        assert_eq!(
            book.symbolize_in(&text, "built"),
            text.replace(&format!("sha256:{known}"), "config(built)")
        );
        book.mark_volatile("built");
        assert_eq!(
            book.symbolize_in(&text, "built"),
            "x@unexplained(built) config(built)"
        );
        assert_eq!(
            book.symbolize_in(&format!("sha256:{other}"), "crafted"),
            format!("sha256:{other}"),
            "only the volatile fixture's own text"
        );
    }

    #[rstest::rstest]
    #[case::podman_upload_spool(
        "open /var/tmp/api_load.tar3344556677: no space left on device",
        "open /var/tmp/api_load.tar<n>: no space left on device"
    )]
    #[case::podman_export_spool("/var/tmp/api.tar12 gone", "/var/tmp/api.tar<n> gone")]
    #[case::ctr_dated_import_name("import-2026-12-01:latest", "import-<date>:latest")]
    #[case::ctr_dated_name_in_a_reference(
        "docker.io/library/import-2026-01-31:v1",
        "docker.io/library/import-<date>:v1"
    )]
    #[case::another_harness_root(
        "open /tmp/harness-fixtures-Zx81Qa/hybrid.tar: denied",
        "open <tmp>/hybrid.tar: denied"
    )]
    #[case::another_instance_root(
        "dial unix /var/tmp/x/harness-Q1w2E3/docker.sock",
        "dial unix <tmp>/docker.sock"
    )]
    #[case::loopback_port(
        "Get http://127.0.0.1:41235/v2/: connection refused",
        "Get http://<port-host>/v2/: connection refused"
    )]
    #[case::ipv6_loopback_port("[::1]:5000/x:1", "[::1]:<port>/x:1")]
    #[case::buildah_rlimit(
        r#"setting "RLIMIT_NPROC" limit to soft=1048576,hard=1048576 (was soft=96363,hard=96363): operation not permitted"#,
        r#"setting "RLIMIT_<name>" limit to <limits>: operation not permitted"#
    )]
    #[case::own_root_first(
        "/tmp/harness-Ab12Cd/run/x and /tmp/harness-Zz99Yy/y",
        "<root>/run/x and <tmp>/y"
    )]
    fn volatile_values_are_redacted(#[case] input: &str, #[case] want: &str) {
        let (book, root) = plain();
        let r = Redactor {
            root,
            book: &book,
            registry: None,
        };
        let want = want.replace("<port-host>", "127.0.0.1:<port>");
        assert_eq!(r.text(input), want);
    }

    #[rstest::rstest]
    #[case::registry_name_port_is_a_name("localhost:5000/foo:v1")]
    #[case::import_without_a_date("import-latest:v1")]
    #[case::a_tag_with_digits("example.test/api.tar:1")]
    #[case::harness_word("harness-run is a word")]
    fn stable_values_are_left_alone(#[case] input: &str) {
        let (book, root) = plain();
        let r = Redactor {
            root,
            book: &book,
            registry: None,
        };
        assert_eq!(r.text(input), input);
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
