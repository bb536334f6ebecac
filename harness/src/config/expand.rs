//! Matrix expansion with GitHub Actions `strategy.matrix` semantics, on plain key/value
//! combinations (turning them into [`Cell`](super::Cell)s is `matrix.rs`'s job).
//!
//! The rules follow GitHub's workflow syntax reference, "Expanding or adding matrix
//! configurations" (`jobs.<job_id>.strategy.matrix.include` and `.exclude`,
//! <https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#jobsjob_idstrategymatrixinclude>):
//!
//! > For each object in the `include` list, the key:value pairs in the object will be added to
//! > each of the matrix combinations if none of the key:value pairs overwrite any of the original
//! > matrix values. If the object cannot be added to any of the matrix combinations, a new matrix
//! > combination will be created instead. Note that the original matrix values will not be
//! > overwritten, but added matrix values can be overwritten.
//!
//! > An excluded configuration only has to be a partial match for it to be excluded. All
//! > `include` combinations are processed after `exclude`.
//!
//! So: the cartesian product of the axes in the order written (the first axis varies slowest),
//! minus every combination an `exclude` entry matches on all of its keys, then each `include`
//! entry in order is merged into every remaining product combination whose axis values it agrees
//! with, or appended as a new combination if it agrees with none. Combinations appended by an
//! include are not candidates for later includes (the docs' `{fruit: banana}` and
//! `{fruit: banana, animal: cat}` stay two jobs). As on GitHub, with no axes every include entry
//! is its own combination, and an `exclude` key that is not an axis is an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::error::{ConfigError, ConfigErrorKind};
use super::yaml::OrderedMap;

/// `axes:` as written: axis name -> values, in order.
pub(crate) type RawAxes = OrderedMap<Vec<Spanned<String>>>;
/// One `exclude:` or `include:` entry as written.
pub(crate) type RawEntry = Spanned<OrderedMap<Spanned<String>>>;

/// One value of a combination and where it was written, so that later errors about it (an
/// unknown runtime, say) point at the right line.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub(crate) text: String,
    pub(crate) at: Location,
    pub(crate) field: String,
}

/// One expanded combination.
#[derive(Debug, Clone)]
pub(crate) struct Combination {
    pub(crate) values: BTreeMap<String, Value>,
    /// What produced it: the `axes` mapping or an `include` entry (for errors about the
    /// combination as a whole, such as a missing key).
    pub(crate) origin: Location,
    pub(crate) origin_field: String,
}

/// Expands `axes`, `exclude` and `include` as GitHub Actions does (see the module docs).
pub(crate) fn expand(
    path: &Path,
    axes: Option<&Spanned<RawAxes>>,
    exclude: &[RawEntry],
    include: &[RawEntry],
) -> Result<Vec<Combination>, ConfigError> {
    let axis_keys: Vec<String> = axes
        .map(|a| a.value.0.iter().map(|(k, _)| k.value.clone()).collect())
        .unwrap_or_default();

    let mut combinations = match axes {
        Some(axes) if !axes.value.0.is_empty() => product(path, axes)?,
        _ => Vec::new(),
    };

    for (index, entry) in exclude.iter().enumerate() {
        for (key, _) in &entry.value.0 {
            if !axis_keys.contains(&key.value) {
                return Err(ConfigError::at(
                    path,
                    key.referenced,
                    format!("exclude[{index}].{}", key.value),
                    ConfigErrorKind::NotAnAxis {
                        key: key.value.clone(),
                        axes: axis_keys.clone(),
                    },
                ));
            }
        }
        combinations.retain(|c| {
            !entry
                .value
                .0
                .iter()
                .all(|(k, v)| c.values.get(&k.value).is_some_and(|x| x.text == v.value))
        });
    }

    let originals = combinations.len();
    for (index, entry) in include.iter().enumerate() {
        let field = format!("include[{index}]");
        let agrees = |c: &Combination| {
            entry.value.0.iter().all(|(k, v)| {
                !axis_keys.contains(&k.value)
                    || c.values.get(&k.value).map(|x| &x.text) == Some(&v.value)
            })
        };
        let mut merged = false;
        for combination in combinations[..originals].iter_mut().filter(|c| agrees(c)) {
            merged = true;
            for (k, v) in &entry.value.0 {
                if !axis_keys.contains(&k.value) {
                    combination
                        .values
                        .insert(k.value.clone(), value(v, format!("{field}.{}", k.value)));
                }
            }
        }
        if !merged {
            combinations.push(Combination {
                values: entry
                    .value
                    .0
                    .iter()
                    .map(|(k, v)| (k.value.clone(), value(v, format!("{field}.{}", k.value))))
                    .collect(),
                origin: entry.referenced,
                origin_field: field,
            });
            if combinations.len() > MAX_CELLS {
                return Err(ConfigError::at(
                    path,
                    entry.referenced,
                    format!("include[{index}]"),
                    ConfigErrorKind::TooManyCells {
                        count: combinations.len() as u64,
                        max: MAX_CELLS,
                    },
                ));
            }
        }
    }
    Ok(combinations)
}

/// The most cells a matrix may have: 256, GitHub Actions' cap on the jobs of one matrix. The
/// product is counted before it is built, so a small file cannot ask for 10^10 cells.
pub(crate) const MAX_CELLS: usize = 256;

fn product(path: &Path, axes: &Spanned<RawAxes>) -> Result<Vec<Combination>, ConfigError> {
    let count = axes
        .value
        .0
        .iter()
        .fold(1u64, |n, (_, values)| n.saturating_mul(values.len() as u64));
    if count > MAX_CELLS as u64 {
        return Err(ConfigError::at(
            path,
            axes.referenced,
            "axes",
            ConfigErrorKind::TooManyCells {
                count,
                max: MAX_CELLS,
            },
        ));
    }
    let mut combinations = vec![Combination {
        values: BTreeMap::new(),
        origin: axes.referenced,
        origin_field: "axes".to_owned(),
    }];
    for (key, values) in &axes.value.0 {
        if values.is_empty() {
            return Err(ConfigError::at(
                path,
                key.referenced,
                format!("axes.{}", key.value),
                ConfigErrorKind::EmptyAxis,
            ));
        }
        // Outer loop over the combinations so far, inner over this axis's values: the axes
        // written first vary slowest, as in GitHub's job list.
        combinations = combinations
            .into_iter()
            .flat_map(|c| {
                values.iter().enumerate().map(move |(i, v)| {
                    let mut next = c.clone();
                    next.values.insert(
                        key.value.clone(),
                        value(v, format!("axes.{}[{i}]", key.value)),
                    );
                    next
                })
            })
            .collect();
    }
    Ok(combinations)
}

fn value(v: &Spanned<String>, field: String) -> Value {
    Value {
        text: v.value.clone(),
        at: v.referenced,
        field,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        axes: Option<Spanned<RawAxes>>,
        #[serde(default)]
        exclude: Vec<RawEntry>,
        #[serde(default)]
        include: Vec<RawEntry>,
    }

    fn run(yaml: &str) -> Result<Vec<BTreeMap<String, String>>, ConfigError> {
        let doc: Doc = serde_saphyr::from_str(yaml).unwrap();
        let combinations = expand(
            Path::new("m.yaml"),
            doc.axes.as_ref(),
            &doc.exclude,
            &doc.include,
        )?;
        Ok(combinations
            .into_iter()
            .map(|c| c.values.into_iter().map(|(k, v)| (k, v.text)).collect())
            .collect())
    }

    /// Parses `{a: 1, b: 2}; {c: 3}` into combinations.
    fn combos(text: &str) -> Vec<BTreeMap<String, String>> {
        text.split(';')
            .map(|c| serde_saphyr::from_str::<BTreeMap<String, String>>(c.trim()).unwrap())
            .collect()
    }

    #[rstest]
    // The first example under "Expanding or adding matrix configurations".
    #[case::docs_fruit_animal(
        "axes: { fruit: [apple, pear], animal: [cat, dog] }
include:
  - color: green
  - color: pink
    animal: cat
  - fruit: apple
    shape: circle
  - fruit: banana
  - fruit: banana
    animal: cat
",
        "{fruit: apple, animal: cat, color: pink, shape: circle};
         {fruit: apple, animal: dog, color: green, shape: circle};
         {fruit: pear, animal: cat, color: pink};
         {fruit: pear, animal: dog, color: green};
         {fruit: banana};
         {fruit: banana, animal: cat}"
    )]
    // "Example: Expanding configurations": npm is added to one job only.
    #[case::docs_expanding(
        "axes: { os: [windows-latest, ubuntu-latest], node: [14, 16] }
include: [{ os: windows-latest, node: 16, npm: 6 }]",
        "{os: windows-latest, node: 14};
         {os: windows-latest, node: 16, npm: 6};
         {os: ubuntu-latest, node: 14};
         {os: ubuntu-latest, node: 16}"
    )]
    // "Example: Adding configurations": 9 product jobs plus one new one.
    #[case::docs_adding(
        "axes: { os: [macos-latest, windows-latest, ubuntu-latest], version: [12, 14, 16] }
include: [{ os: windows-latest, version: 17 }]",
        "{os: macos-latest, version: 12}; {os: macos-latest, version: 14};
         {os: macos-latest, version: 16}; {os: windows-latest, version: 12};
         {os: windows-latest, version: 14}; {os: windows-latest, version: 16};
         {os: ubuntu-latest, version: 12}; {os: ubuntu-latest, version: 14};
         {os: ubuntu-latest, version: 16}; {os: windows-latest, version: 17}"
    )]
    // With no axes, every include entry is its own job.
    #[case::docs_includes_only(
        "include:
  - { site: production, datacenter: site-a }
  - { site: staging, datacenter: site-b }",
        "{site: production, datacenter: site-a}; {site: staging, datacenter: site-b}"
    )]
    // "Example: Excluding matrix configurations": 12 - 1 - 2 = 9 jobs.
    #[case::docs_excluding(
        "axes:
  os: [macos-latest, windows-latest]
  version: [12, 14, 16]
  environment: [staging, production]
exclude:
  - { os: macos-latest, version: 12, environment: production }
  - { os: windows-latest, version: 16 }",
        "{os: macos-latest, version: 12, environment: staging};
         {os: macos-latest, version: 14, environment: staging};
         {os: macos-latest, version: 14, environment: production};
         {os: macos-latest, version: 16, environment: staging};
         {os: macos-latest, version: 16, environment: production};
         {os: windows-latest, version: 12, environment: staging};
         {os: windows-latest, version: 12, environment: production};
         {os: windows-latest, version: 14, environment: staging};
         {os: windows-latest, version: 14, environment: production}"
    )]
    // "Example: Preventing a specific failing matrix job from failing a workflow run".
    #[case::docs_experimental(
        "axes: { node: [13, 14], os: [macos-latest, ubuntu-latest], experimental: [false] }
include: [{ node: 15, os: ubuntu-latest, experimental: true }]",
        "{node: 13, os: macos-latest, experimental: 'false'};
         {node: 13, os: ubuntu-latest, experimental: 'false'};
         {node: 14, os: macos-latest, experimental: 'false'};
         {node: 14, os: ubuntu-latest, experimental: 'false'};
         {node: 15, os: ubuntu-latest, experimental: 'true'}"
    )]
    // Includes run after excludes and can add an excluded combination back (as a new one).
    #[case::include_after_exclude(
        "axes: { a: [1, 2], b: [x, y] }
exclude: [{ a: 1 }]
include: [{ a: 1, b: x, extra: e }]",
        "{a: 2, b: x}; {a: 2, b: y}; {a: 1, b: x, extra: e}"
    )]
    // An include that matches fully adds no job (it only merges).
    #[case::full_match_merges(
        "axes: { os: [ubuntu, windows], node: [14, 16] }
include: [{ os: ubuntu, node: 14 }]",
        "{os: ubuntu, node: 14}; {os: ubuntu, node: 16}; {os: windows, node: 14}; {os: windows, node: 16}"
    )]
    // The example from DESIGN: runtime x version x store, with exclusions and an extra runtime.
    #[case::runtimes(
        "axes:
  runtime: [docker, podman]
  version: [host]
  store: [overlay2, overlay, vfs]
exclude:
  - { runtime: docker, store: overlay }
  - { runtime: podman, store: overlay2 }
include:
  - { runtime: containerd, version: host, store: overlayfs }",
        "{runtime: docker, version: host, store: overlay2};
         {runtime: docker, version: host, store: vfs};
         {runtime: podman, version: host, store: overlay};
         {runtime: podman, version: host, store: vfs};
         {runtime: containerd, version: host, store: overlayfs}"
    )]
    fn expansion(#[case] yaml: &str, #[case] expected: &str) {
        assert_eq!(run(yaml).unwrap(), combos(expected));
    }

    #[test]
    fn exclude_key_must_be_an_axis() {
        let err = run("axes: { a: [1] }\nexclude:\n  - { a: 1, b: 2 }\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"m.yaml:3:13: exclude[0].b: key "b" is not a matrix axis (axes: a)"#
        );
    }

    #[test]
    fn a_matrix_is_counted_before_it_is_expanded() {
        // Ten axes of ten values: 10^10 cells, from a file of a few hundred bytes.
        let axes: Vec<String> = (0..10)
            .map(|i| format!("a{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"))
            .collect();
        let err = run(&format!("axes: {{ {} }}\n", axes.join(", "))).unwrap_err();
        assert!(
            err.to_string()
                .contains("expands to 10000000000 cells, more than the 256 allowed"),
            "{err}"
        );
        let includes: Vec<String> = (0..257).map(|i| format!("  - {{ n: '{i}' }}\n")).collect();
        let err = run(&format!("include:\n{}", includes.concat())).unwrap_err();
        assert!(err.to_string().contains("257 cells"), "{err}");
        assert_eq!(
            run(&format!("include:\n{}", includes[..256].concat()))
                .unwrap()
                .len(),
            256
        );
    }

    #[test]
    fn empty_axis_is_an_error() {
        let err = run("axes:\n  a: [1]\n  b: []\n").unwrap_err();
        assert_eq!(err.to_string(), "m.yaml:3:3: axes.b: axis has no values");
    }

    #[test]
    fn values_remember_where_they_were_written() {
        let doc: Doc =
            serde_saphyr::from_str("axes:\n  a: [1, 2]\ninclude:\n  - { a: 2, b: z }\n").unwrap();
        let c = expand(Path::new("m.yaml"), doc.axes.as_ref(), &[], &doc.include).unwrap();
        let b = &c[1].values["b"];
        assert_eq!(
            (b.at.line(), b.at.column(), b.field.as_str()),
            (4, 16, "include[0].b")
        );
        let a = &c[1].values["a"];
        assert_eq!(
            (a.at.line(), a.at.column(), a.field.as_str()),
            (2, 10, "axes.a[1]")
        );
    }
}
