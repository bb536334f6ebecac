//! `matrix.yaml` -> [`Matrix`]: the runtime cells every scenario runs on.
//!
//! The file is `axes` / `exclude` / `include`, expanded with GitHub Actions semantics (see
//! `expand.rs`) so that the same matrix can be pasted into a workflow's `strategy.matrix` and
//! mean the same jobs. Each resulting combination must then say which runtime, version and
//! store it is; anything else it says is kept in [`Cell::extra`] for drivers that want it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{ConfigError, ConfigErrorKind, Position};
use super::expand::{self, Combination, RawAxes, RawEntry};
use super::yaml;
pub use crate::runtime::RuntimeKind;

/// The expanded matrix: every cell, in expansion order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// Never empty; ids are unique.
    pub cells: Vec<Cell>,
    /// The file it was loaded from.
    pub source: PathBuf,
}

/// One runtime configuration a scenario runs on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    /// `<runtime>-<version>-<store>[-<builder>][-<api>][-<provider>]`, lowercased, with every character outside
    /// `[a-z0-9._-]` replaced by `-`. Unique within a matrix; used in snapshot names, CLI
    /// filters and CI job names.
    pub id: String,
    pub runtime: RuntimeKind,
    /// The runtime version to run; `host` means the binary installed on this machine.
    pub version: String,
    /// The storage driver or image store (`overlay2`, `vfs`, `overlayfs`, ...).
    pub store: String,
    /// The image builder, for scenarios that build (`buildkit`, `classic`, `buildah`).
    pub builder: Option<String>,
    /// The API the cell's steps go through when it is not the runtime's default one
    /// (`compat` for Podman's Docker-compatible API, `ctr` for containerd's CLI; see
    /// `runtime/api.rs`). `None` is the default API; naming the default is the same as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Every other key the matrix gave this cell.
    pub extra: BTreeMap<String, String>,
}

/// Reads and expands a matrix file.
pub fn load_matrix(path: &Path) -> Result<Matrix, ConfigError> {
    parse_matrix(&yaml::read(path)?, path)
}

/// Expands matrix YAML; `path` is used in error messages and kept as [`Matrix::source`].
pub fn parse_matrix(src: &str, path: &Path) -> Result<Matrix, ConfigError> {
    let raw: RawMatrix = yaml::parse(src, path)?;
    let combinations = expand::expand(path, raw.axes.as_ref(), &raw.exclude, &raw.include)?;
    if combinations.is_empty() {
        return Err(ConfigError::new(path, ConfigErrorKind::EmptyMatrix));
    }
    let mut cells = Vec::with_capacity(combinations.len());
    let mut seen: HashMap<String, String> = HashMap::new();
    for combination in combinations {
        let cell = cell(path, &combination)?;
        let origin = match Position::from_location(combination.origin) {
            Some(at) => format!("{} at {at}", combination.origin_field),
            None => combination.origin_field.clone(),
        };
        if let Some(first) = seen.get(&cell.id) {
            return Err(ConfigError::at(
                path,
                combination.origin,
                combination.origin_field,
                ConfigErrorKind::DuplicateCell {
                    id: cell.id,
                    first: first.clone(),
                },
            ));
        }
        seen.insert(cell.id.clone(), origin);
        cells.push(cell);
    }
    Ok(Matrix {
        cells,
        source: path.to_path_buf(),
    })
}

/// `matrix.yaml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    #[serde(default)]
    axes: Option<Spanned<RawAxes>>,
    #[serde(default)]
    exclude: Vec<RawEntry>,
    #[serde(default)]
    include: Vec<RawEntry>,
}

fn cell(path: &Path, c: &Combination) -> Result<Cell, ConfigError> {
    let required = |key: &'static str| {
        let value = c.values.get(key).ok_or_else(|| {
            ConfigError::at(
                path,
                c.origin,
                c.origin_field.as_str(),
                ConfigErrorKind::MissingCellKey { key },
            )
        })?;
        non_empty(path, value)
    };
    let runtime_value = required("runtime")?;
    let runtime = runtime_value.text.parse::<RuntimeKind>().map_err(|e| {
        let kind = ConfigErrorKind::UnknownRuntime(e.0);
        ConfigError::at(path, runtime_value.at, runtime_value.field.as_str(), kind)
    })?;
    let version = required("version")?.text.clone();
    let store_value = required("store")?;
    super::selector::check_store(
        path,
        store_value.field.as_str(),
        Some(runtime),
        &Spanned::new(store_value.text.clone(), store_value.at, store_value.at),
    )?;
    let store = store_value.text.clone();
    let builder = c
        .values
        .get("builder")
        .map(|b| {
            let b = non_empty(path, b)?;
            super::selector::check_builder(
                path,
                b.field.as_str(),
                &Spanned::new(b.text.clone(), b.at, b.at),
            )?;
            Ok::<_, ConfigError>(b.text.clone())
        })
        .transpose()?;
    let api = c
        .values
        .get("api")
        .map(|a| {
            let a = non_empty(path, a)?;
            super::selector::check_api(
                path,
                a.field.as_str(),
                Some(runtime),
                &Spanned::new(a.text.clone(), a.at, a.at),
            )?;
            Ok::<_, ConfigError>(a.text.clone())
        })
        .transpose()?
        .filter(|a| a != crate::runtime::api::default_api(runtime));
    let extra = c
        .values
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "runtime" | "version" | "store" | "builder" | "api"
            )
        })
        .map(|(k, v)| (k.clone(), v.text.clone()))
        .collect();

    // A cell from another provider than the default names it, so a host cell and a socket
    // cell of the same runtime, version and store get different ids.
    let provider = match c.values.get("provider") {
        Some(p) => {
            let p = non_empty(path, p)?;
            if crate::runtime::provider::by_name(&p.text).is_none() {
                return Err(ConfigError::at(
                    path,
                    p.at,
                    p.field.as_str(),
                    ConfigErrorKind::UnknownValue(Box::new(super::error::UnknownValue {
                        what: "provider",
                        value: p.text.clone(),
                        runtime: None,
                        known: crate::runtime::provider::PROVIDERS
                            .iter()
                            .map(|p| p.name())
                            .collect(),
                    })),
                ));
            }
            Some(p.text.as_str()).filter(|p| *p != crate::runtime::provider::DEFAULT_PROVIDER)
        }
        None => None,
    };
    let mut id = format!("{runtime}-{version}-{store}");
    for part in [builder.as_deref(), api.as_deref(), provider]
        .into_iter()
        .flatten()
    {
        id.push('-');
        id.push_str(part);
    }
    Ok(Cell {
        id: cell_id(&id),
        runtime,
        version,
        store,
        builder,
        api,
        extra,
    })
}

fn non_empty<'a>(path: &Path, value: &'a expand::Value) -> Result<&'a expand::Value, ConfigError> {
    if value.text.trim().is_empty() {
        return Err(ConfigError::at(
            path,
            value.at,
            value.field.as_str(),
            ConfigErrorKind::Empty,
        ));
    }
    Ok(value)
}

/// Lowercases and replaces every character outside `[a-z0-9._-]` with `-`, so an id is safe
/// in file names, CI job names and shell arguments.
fn cell_id(raw: &str) -> String {
    raw.to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect()
}

impl Matrix {
    /// The cells picked by `filters`, in matrix order and each once. A filter is a cell id or
    /// a glob over ids (`*` any run of characters, `?` one character: `podman-*`). No filters
    /// selects every cell; a filter that matches nothing is an error listing the ids there are.
    pub fn select(&self, filters: &[String]) -> Result<Vec<&Cell>, ConfigError> {
        if filters.is_empty() {
            return Ok(self.cells.iter().collect());
        }
        for filter in filters {
            if !self.cells.iter().any(|c| glob_match(filter, &c.id)) {
                return Err(ConfigError::new(
                    &self.source,
                    ConfigErrorKind::NoMatchingCell {
                        filter: filter.clone(),
                        available: self.cells.iter().map(|c| c.id.clone()).collect(),
                    },
                ));
            }
        }
        Ok(self
            .cells
            .iter()
            .filter(|c| filters.iter().any(|f| glob_match(f, &c.id)))
            .collect())
    }

    /// The cell with this exact id.
    pub fn cell(&self, id: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.id == id)
    }
}

/// Matches `text` against a glob of `*` and `?` (no character classes: ids are plain).
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in `text` it currently stops matching.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn parse(src: &str) -> Result<Matrix, ConfigError> {
        parse_matrix(src, Path::new("matrix.yaml"))
    }

    fn ids(m: &Matrix) -> Vec<&str> {
        m.cells.iter().map(|c| c.id.as_str()).collect()
    }

    const EXAMPLE: &str = "\
# example
axes:
  runtime: [docker, podman]
  version: [host]
  store: [overlay2, overlay, vfs]
exclude:
  - { runtime: docker, store: overlay }
  - { runtime: podman, store: overlay2 }
include:
  - { runtime: containerd, version: host, store: overlayfs }
";

    #[test]
    fn example_expands_to_cells() {
        let m = parse(EXAMPLE).unwrap();
        assert_eq!(
            ids(&m),
            [
                "docker-host-overlay2",
                "docker-host-vfs",
                "podman-host-overlay",
                "podman-host-vfs",
                "containerd-host-overlayfs",
            ]
        );
        assert_eq!(m.cells[4].runtime, RuntimeKind::Containerd);
        assert_eq!(m.source, Path::new("matrix.yaml"));
    }

    #[test]
    fn a_provider_other_than_host_is_part_of_the_id() {
        let m = parse(
            "axes: { runtime: [docker], version: [host], store: [vfs], provider: [host, socket] }\n",
        )
        .unwrap();
        assert_eq!(ids(&m), ["docker-host-vfs", "docker-host-vfs-socket"]);
    }

    #[test]
    fn a_non_default_api_is_part_of_the_id_and_the_default_is_no_api() {
        let m = parse(
            "axes: { runtime: [podman], version: [host], store: [vfs], api: [libpod, compat] }\n\
             include: [{ runtime: containerd, version: host, store: native, api: ctr }]\n",
        )
        .unwrap();
        assert_eq!(
            ids(&m),
            [
                "podman-host-vfs",
                "podman-host-vfs-compat",
                "containerd-host-native-ctr"
            ]
        );
        assert_eq!(m.cells[0].api, None);
        assert_eq!(m.cells[1].api.as_deref(), Some("compat"));
        assert!(m.cells.iter().all(|c| !c.extra.contains_key("api")));
    }

    #[test]
    fn builder_and_extra_keys() {
        let m = parse(
            "axes: { runtime: [docker], version: ['25.0'], store: [overlay2], builder: [buildkit, classic] }
include: [{ builder: classic, note: legacy }, { debug: true }]",
        )
        .unwrap();
        assert_eq!(
            ids(&m),
            [
                "docker-25.0-overlay2-buildkit",
                "docker-25.0-overlay2-classic"
            ]
        );
        assert_eq!(m.cells[0].builder.as_deref(), Some("buildkit"));
        assert_eq!(
            m.cells[0].extra,
            BTreeMap::from([("debug".into(), "true".into())])
        );
        assert_eq!(
            m.cells[1].extra,
            BTreeMap::from([
                ("debug".into(), "true".into()),
                ("note".into(), "legacy".into())
            ])
        );
    }

    #[rstest]
    #[case("docker-host-overlay2", "docker-host-overlay2")]
    #[case("podman-4.3.1-VFS", "podman-4.3.1-vfs")]
    #[case("docker-20.10.24+dfsg1-overlay2", "docker-20.10.24-dfsg1-overlay2")]
    #[case("containerd-v1.7/rc 1-overlayfs", "containerd-v1.7-rc-1-overlayfs")]
    #[case("docker-host-zfs-buildkit_0", "docker-host-zfs-buildkit_0")]
    fn id_generation(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(cell_id(raw), expected);
    }

    #[rstest]
    #[case::unknown_top_level_key(
        "axes: { runtime: [docker], version: [host], store: [vfs] }\nincludes: []\n",
        "matrix.yaml:2:1: includes: unknown field `includes`, expected one of axes, exclude, include"
    )]
    #[case::unknown_runtime(
        "axes:\n  runtime: [docker, dockr]\n  version: [host]\n  store: [vfs]\n",
        r#"matrix.yaml:2:21: axes.runtime[1]: unknown runtime "dockr" (expected docker, podman or containerd)"#
    )]
    #[case::missing_store(
        "axes: { runtime: [docker], version: [host], store: [vfs] }\ninclude:\n  - { runtime: podman, version: host }\n",
        r#"matrix.yaml:3:5: include[0]: cell has no "store" value (set it in axes or in this include entry)"#
    )]
    #[case::duplicate_id(
        "axes: { runtime: [docker], version: [host, HOST], store: [vfs] }\n",
        r#"matrix.yaml:1:7: axes: duplicate cell id "docker-host-vfs" (also produced by axes at 1:7)"#
    )]
    #[case::unknown_store(
        "axes: { runtime: [docker], version: [host], store: [vfs, VFS] }\n",
        r#"matrix.yaml:1:58: axes.store[1]: unknown store "VFS" for docker (known: overlay2, fuse-overlayfs, btrfs, zfs, vfs, devicemapper, aufs, overlay, containerd, overlayfs, native, stargz)"#
    )]
    #[case::store_of_another_runtime(
        "axes: { runtime: [containerd], version: [host], store: [overlay2] }\n",
        r#"matrix.yaml:1:57: axes.store[0]: unknown store "overlay2" for containerd (known: overlayfs, native, btrfs, zfs, devmapper, aufs, blockfile, erofs, stargz)"#
    )]
    #[case::unknown_provider(
        "axes: { runtime: [docker], version: [host], store: [vfs] }\ninclude: [{ provider: sockt }]\n",
        r#"matrix.yaml:2:23: include[0].provider: unknown provider "sockt" (known: host, socket, debian, container)"#
    )]
    #[case::unknown_builder(
        "axes: { runtime: [docker], version: [host], store: [vfs], builder: [buildkitt] }\n",
        r#"matrix.yaml:1:69: axes.builder[0]: unknown builder "buildkitt" (known: buildkit, classic, buildah)"#
    )]
    #[case::api_of_another_runtime(
        "axes: { runtime: [docker], version: [host], store: [vfs], api: [compat] }\n",
        r#"matrix.yaml:1:65: axes.api[0]: unknown api "compat" for docker (known: engine)"#
    )]
    #[case::duplicate_from_include(
        "axes: { runtime: [docker], version: [host], store: [vfs] }\ninclude:\n  - { runtime: docker, version: Host, store: vfs }\n",
        r#"matrix.yaml:3:5: include[0]: duplicate cell id "docker-host-vfs" (also produced by axes at 1:7)"#
    )]
    #[case::empty_expansion(
        "axes: { runtime: [docker], version: [host], store: [vfs] }\nexclude: [{ runtime: docker }]\n",
        "matrix.yaml: the matrix expands to no cells"
    )]
    #[case::empty_file_is_no_matrix("{}\n", "matrix.yaml: the matrix expands to no cells")]
    #[case::wrong_type(
        "axes:\n  runtime: docker\n",
        "matrix.yaml:2:12: axes.runtime: expected sequence start"
    )]
    #[case::empty_value(
        "axes: { runtime: [docker], version: [''], store: [vfs] }\n",
        "matrix.yaml:1:38: axes.version[0]: must not be empty"
    )]
    fn errors(#[case] src: &str, #[case] expected: &str) {
        assert_eq!(parse(src).unwrap_err().to_string(), expected);
    }

    #[rstest]
    #[case::all(&[], &["docker-host-overlay2", "docker-host-vfs", "podman-host-overlay", "podman-host-vfs", "containerd-host-overlayfs"])]
    #[case::exact(&["podman-host-vfs"], &["podman-host-vfs"])]
    #[case::glob(&["podman-*"], &["podman-host-overlay", "podman-host-vfs"])]
    #[case::glob_middle(&["*-host-vfs"], &["docker-host-vfs", "podman-host-vfs"])]
    #[case::question_mark(&["docker-host-vf?"], &["docker-host-vfs"])]
    #[case::overlapping_in_matrix_order(&["*-vfs", "docker-*"], &["docker-host-overlay2", "docker-host-vfs", "podman-host-vfs"])]
    fn select(#[case] filters: &[&str], #[case] expected: &[&str]) {
        let m = parse(EXAMPLE).unwrap();
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let picked: Vec<&str> = m
            .select(&filters)
            .unwrap()
            .into_iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(picked, expected);
    }

    #[test]
    fn select_nothing_lists_available() {
        let m = parse(EXAMPLE).unwrap();
        let err = m
            .select(&["docker-host-overlay2".into(), "podman-5*".into()])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"matrix.yaml: no cell matches "podman-5*" (available: docker-host-overlay2, docker-host-vfs, podman-host-overlay, podman-host-vfs, containerd-host-overlayfs)"#
        );
    }

    #[rstest]
    #[case("*", "", true)]
    #[case("a*b*c", "aXbYbZc", true)]
    #[case("a*b", "aXbYc", false)]
    #[case("*vfs", "docker-host-vfs", true)]
    #[case("docker", "docker-host", false)]
    #[case("d?cker*", "docker-host", true)]
    fn globs(#[case] pattern: &str, #[case] text: &str, #[case] expected: bool) {
        assert_eq!(glob_match(pattern, text), expected);
    }

    #[test]
    fn load_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("matrix.yaml");
        std::fs::write(&path, EXAMPLE).unwrap();
        assert_eq!(load_matrix(&path).unwrap().cells.len(), 5);
        let missing = dir.path().join("nope.yaml");
        let err = load_matrix(&missing).unwrap_err();
        assert!(matches!(err.kind, ConfigErrorKind::Read(_)), "{err}");
    }
}
