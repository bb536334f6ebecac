//! The first pass shared by both files: YAML text -> raw serde types, with serde-saphyr's errors
//! turned into [`ConfigError`]s that carry the file, the position and the field path.
//!
//! serde-saphyr reports where an error is (line and column) but not which field it is in. For
//! that, the failing document is parsed a second time into a plain tree of [`Spanned`] nodes and
//! walked down to the error's position; the keys and indices on the way are the field path
//! (`steps[0].expect[1].outcome`). This costs a second parse, but only on the error path.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Error as YamlError, Location, MessageFormatter, Spanned};

use super::error::{ConfigError, ConfigErrorKind, Position};

/// The largest configuration file read: 1 MiB. The repository's own scenarios are a few KiB;
/// a larger file is a mistake (or an attack), and the limit keeps loading bounded.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads a configuration file to a string. Only regular files are read (a FIFO or a device
/// would block or never end), and at most [`MAX_CONFIG_BYTES`]. A file that is too large or not
/// UTF-8 is refused with the position where it goes wrong (and, for bad UTF-8, the field).
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let fail = |kind| ConfigError::new(path, kind);
    let meta = std::fs::metadata(path).map_err(|e| fail(ConfigErrorKind::Read(e)))?;
    if !meta.is_file() {
        return Err(fail(ConfigErrorKind::NotAFile));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(ConfigErrorKind::Read(e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(ConfigErrorKind::Read(e)))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        let lossy = String::from_utf8_lossy(&bytes[..MAX_CONFIG_BYTES as usize]);
        return Err(ConfigError {
            position: Some(end_position(&lossy)),
            ..fail(ConfigErrorKind::TooLarge {
                max: MAX_CONFIG_BYTES,
            })
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let at = end_position(&String::from_utf8_lossy(&bytes[..valid]));
        let field = locate(&String::from_utf8_lossy(&bytes), at, false)
            .map(|found| found.path)
            .filter(|p| !p.is_empty());
        ConfigError {
            position: Some(at),
            field,
            ..fail(ConfigErrorKind::NotUtf8 { offset: valid })
        }
    })
}

/// The position just after `text` (where the next character would be).
fn end_position(text: &str) -> Position {
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Position {
        line: clamp(line),
        column: clamp(column),
    }
}

/// Deserializes one YAML document into `T`.
pub(crate) fn parse<T: DeserializeOwned>(src: &str, path: &Path) -> Result<T, ConfigError> {
    serde_saphyr::from_str(src).map_err(|e| yaml_error(&e, src, path))
}

/// Deserializes every YAML document of `src` (documents separated by `---`) into a `T` each,
/// in order; empty documents are left out. Positions in errors count from the start of the
/// file, so they are right in every document.
pub(crate) fn parse_all<T: DeserializeOwned>(
    src: &str,
    path: &Path,
) -> Result<Vec<T>, ConfigError> {
    serde_saphyr::from_multiple(src).map_err(|e| yaml_error(&e, src, path))
}

/// Every document of `src` as a tree of positioned [`Node`]s (the documents [`parse_all`]
/// gives, in the same order).
pub(crate) fn documents(src: &str, path: &Path) -> Result<Vec<Spanned<Node>>, ConfigError> {
    parse_all(src, path)
}

fn yaml_error(err: &YamlError, src: &str, path: &Path) -> ConfigError {
    let inner = original(err);
    // The user formatter leaves out serde-saphyr's hints about Rust types and options, which
    // mean nothing to someone editing a scenario.
    let message = serde_saphyr::UserMessageFormatter
        .format_message(inner)
        .into_owned();
    let mut position = err.location().and_then(Position::from_location);
    let mut field = None;
    if let Some(target) = position {
        let missing_field = matches!(inner, YamlError::SerdeMissingField { .. });
        if let Some(found) = locate(src, target, missing_field) {
            if missing_field {
                // Point at the mapping that lacks the field, not at its last key.
                position = Some(found.start);
            }
            field = (!found.path.is_empty()).then_some(found.path);
        } else {
            field = locate_broken(src, target);
        }
    }
    ConfigError {
        path: path.to_path_buf(),
        position,
        field,
        kind: ConfigErrorKind::Yaml(message),
    }
}

/// Unwraps the snippet and alias wrappers around the error that actually happened.
fn original(err: &YamlError) -> &YamlError {
    match err {
        YamlError::WithSnippet { error, .. } | YamlError::AliasError { error, .. } => {
            original(error)
        }
        other => other,
    }
}

/// The node an error position falls in.
#[derive(Debug, PartialEq, Eq)]
struct Located {
    /// Its field path (`steps[0].expect[1].outcome`); empty for the document root.
    path: String,
    /// Where that node starts.
    start: Position,
}

/// Finds the node at `target`, or `None` when the document does not parse as YAML at all.
///
/// serde-saphyr positions a missing-field error at the last key of the mapping that lacks the
/// field, so with `missing_field` the walk stops at a mapping when `target` is one of its keys
/// instead of descending into that key.
fn locate(src: &str, target: Position, missing_field: bool) -> Option<Located> {
    // Pass duplicate keys through, so that a duplicate-key error can still be located.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    let docs: Vec<Spanned<Node>> = serde_saphyr::from_multiple_with_options(src, options).ok()?;
    // The document holding `target` is the last one that starts at or before it.
    let root = docs
        .iter()
        .rev()
        .find(|d| position(d.referenced) <= target)
        .or(docs.first())?;
    let mut path = String::new();
    let start = walk(root, target, missing_field, &mut path);
    Some(Located { path, start })
}

/// The field a syntax error is in, for a document that does not parse: the lines before the
/// error's line usually still do, and the error is in the innermost mapping or sequence they
/// leave open at its position (or in the value of a key they end with, `steps:`).
fn locate_broken(src: &str, target: Position) -> Option<String> {
    let line = usize::try_from(target.line).ok()?;
    // The error's own line first (a scanner error is often reported where a scalar starts,
    // before the character it stumbled on), then only the lines before it.
    let root = [line, line.saturating_sub(1)]
        .into_iter()
        .find_map(|keep| {
            let prefix: String = src.split_inclusive('\n').take(keep).collect();
            let options = serde_saphyr::options! {
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
            };
            serde_saphyr::from_str_with_options::<Spanned<Node>>(&prefix, options).ok()
        })?;
    let mut path = String::new();
    walk_open(&root, target, &mut path);
    (!path.is_empty()).then_some(path)
}

/// [`walk`] for [`locate_broken`]: descends only into containers, and into a key whose value
/// is empty.
fn walk_open(node: &Spanned<Node>, target: Position, path: &mut String) {
    match &node.value {
        Node::Map(entries) => {
            let Some((key, value)) = entries
                .iter()
                .rev()
                .find(|(key, _)| position(key.referenced) <= target)
            else {
                return;
            };
            match &value.value {
                Node::Scalar(text) if text.is_empty() => push_key(path, &key.value),
                Node::Scalar(_) => {}
                Node::Map(_) | Node::Seq(_) => {
                    push_key(path, &key.value);
                    walk_open(value, target, path);
                }
            }
        }
        Node::Seq(items) => {
            if let Some((index, item)) = items
                .iter()
                .enumerate()
                .rev()
                .find(|(_, item)| position(item.referenced) <= target)
                && !matches!(item.value, Node::Scalar(_))
            {
                path.push_str(&format!("[{index}]"));
                walk_open(item, target, path);
            }
        }
        Node::Scalar(_) => {}
    }
}

/// Descends from `node` towards `target`, appending to `path`; returns where the deepest node
/// reached starts.
fn walk(
    node: &Spanned<Node>,
    target: Position,
    missing_field: bool,
    path: &mut String,
) -> Position {
    let start = position(node.referenced);
    // Children appear in document order, so the child holding `target` is the last one that
    // starts at or before it.
    match &node.value {
        Node::Map(entries) => {
            let Some((key, value)) = entries
                .iter()
                .rev()
                .find(|(key, _)| position(key.referenced) <= target)
            else {
                return start;
            };
            if missing_field && position(key.referenced) == target {
                return start;
            }
            push_key(path, &key.value);
            if position(value.referenced) <= target {
                walk(value, target, missing_field, path)
            } else {
                position(key.referenced)
            }
        }
        Node::Seq(items) => match items
            .iter()
            .enumerate()
            .rev()
            .find(|(_, item)| position(item.referenced) <= target)
        {
            Some((index, item)) => {
                path.push_str(&format!("[{index}]"));
                walk(item, target, missing_field, path)
            }
            None => start,
        },
        Node::Scalar(_) => start,
    }
}

fn position(location: Location) -> Position {
    Position::from_location(location).unwrap_or(Position { line: 0, column: 0 })
}

/// Appends `.key`, or `["key"]` when the key would not read as one path segment.
pub(crate) fn push_key(path: &mut String, key: &Node) {
    let text = match key {
        Node::Scalar(text) => text.as_str(),
        Node::Seq(_) | Node::Map(_) => "?",
    };
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, path.is_empty()) {
        (true, true) => path.push_str(text),
        (true, false) => {
            path.push('.');
            path.push_str(text);
        }
        (false, _) => path.push_str(&format!("[{text:?}]")),
    }
}

/// Any YAML node, with positions on every node and key. Used to locate errors, and to hold a
/// claim's value until the step kind that owns the claim reads it ([`super::claim::ClaimFields`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Scalar(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

/// A YAML mapping with string keys, in the order written, with the position of every key.
///
/// Used where order carries meaning (matrix axes vary in the order written) or where an error
/// must point at a key. serde-saphyr rejects duplicate keys before this sees them.
#[derive(Debug)]
pub(crate) struct OrderedMap<V>(pub(crate) Vec<(Spanned<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const DOC: &str = "\
name: x
steps:
  - id: a
    expect:
      - outcome: error
      - { names: [a, b] }
  - load: b
fixtures:
  f:
    config:
      labels:
        org.example.x: y
";

    #[rstest]
    #[case::root_key(1, 1, false, "name", (1, 1))]
    #[case::root_value(1, 7, false, "name", (1, 7))]
    #[case::nested_value(5, 18, false, "steps[0].expect[0].outcome", (5, 18))]
    #[case::flow_seq_item(6, 22, false, "steps[0].expect[1].names[1]", (6, 22))]
    #[case::missing_field_last_key(4, 5, true, "steps[0]", (3, 5))]
    #[case::missing_field_flow(6, 11, true, "steps[0].expect[1]", (6, 9))]
    #[case::missing_field_root(8, 1, true, "", (1, 1))]
    #[case::same_place_not_missing(7, 5, false, "steps[1].load", (7, 5))]
    #[case::dotted_key(12, 9, false, r#"fixtures.f.config.labels["org.example.x"]"#, (12, 9))]
    fn locating(
        #[case] line: u32,
        #[case] column: u32,
        #[case] missing: bool,
        #[case] path: &str,
        #[case] start: (u32, u32),
    ) {
        let found = locate(DOC, Position { line, column }, missing).unwrap();
        assert_eq!(found.path, path);
        assert_eq!((found.start.line, found.start.column), start);
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read(&fifo).unwrap_err();
        assert!(matches!(err.kind, ConfigErrorKind::NotAFile), "{err}");
        assert!(
            err.to_string().ends_with("fifo.yaml: not a regular file"),
            "{err}"
        );
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            read(&big).unwrap_err().kind,
            ConfigErrorKind::TooLarge { .. }
        ));
        let ok = dir.path().join("ok.yaml");
        std::fs::write(&ok, "a: 1\n").unwrap();
        assert_eq!(read(&ok).unwrap(), "a: 1\n");
    }

    #[test]
    fn a_file_too_large_or_not_utf8_is_refused_where_it_goes_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        let line = "# 0123456789\n";
        let text = line.repeat(MAX_CONFIG_BYTES as usize / line.len() + 2);
        std::fs::write(&big, &text).unwrap();
        let err = read(&big).unwrap_err();
        let expected_line = MAX_CONFIG_BYTES as usize / line.len() + 1;
        let expected_column = MAX_CONFIG_BYTES as usize % line.len() + 1;
        assert_eq!(
            err.position,
            Some(Position {
                line: expected_line as u32,
                column: expected_column as u32
            }),
            "{err}"
        );
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, b"name: x\nsteps:\n  - id: \xff\xfe\n").unwrap();
        let err = read(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3:9: steps[0].id: not UTF-8 (an invalid byte at offset 23)",
                bad.display()
            )
        );
    }

    #[test]
    fn a_syntax_error_names_the_field_it_is_in() {
        let err = parse::<Doc>(
            "name: x\nsteps:\n  - id: a\n\tlod: b\n",
            Path::new("t.yaml"),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("steps[0]"), "{err}");
    }

    #[test]
    fn broken_yaml_is_not_located() {
        assert_eq!(locate("a: [", Position { line: 1, column: 4 }, false), None);
    }

    #[test]
    fn ordered_map_keeps_order_and_key_positions() {
        let map: OrderedMap<Vec<String>> =
            serde_saphyr::from_str("zeta: [1]\nalpha: [x, y]\n").unwrap();
        let keys: Vec<_> = map
            .0
            .iter()
            .map(|(k, _)| (k.value.as_str(), k.referenced.line(), k.referenced.column()))
            .collect();
        assert_eq!(keys, [("zeta", 1, 1), ("alpha", 2, 1)]);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        steps: Vec<Step>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Step {
        id: String,
    }

    #[rstest]
    #[case::unknown_key(
        "name: x\nsteps:\n  - id: a\n    lod: f\n",
        "t.yaml:4:5: steps[0].lod: unknown field `lod`, expected one of id"
    )]
    #[case::missing_in_empty_flow_map(
        "name: x\nsteps:\n  - id: a\n  - {}\n",
        "t.yaml:4:5: steps[1]: missing field `id`"
    )]
    #[case::missing_at_root("steps: []\n", "t.yaml:1:1: missing field `name`")]
    #[case::duplicate_key(
        "name: x\nsteps: []\nname: y\n",
        "t.yaml:3:1: name: duplicate mapping key `name` is not allowed here"
    )]
    #[case::wrong_type("name: x\nsteps: 5\n", "t.yaml:2:8: steps: expected sequence start")]
    #[case::syntax("name: x\nsteps: [\n", "t.yaml:2:8: unclosed bracket '['")]
    #[case::empty("", "t.yaml:1:1: unexpected end of file")]
    fn parse_errors(#[case] src: &str, #[case] expected: &str) {
        let err = parse::<Doc>(src, Path::new("t.yaml")).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
}
