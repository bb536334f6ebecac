//! Variables in scenario files: `${cell.runtime}` and the others of [`VARIABLES`], written in
//! the string values of `steps:` and `known_issues:`, and substituted per cell before that
//! cell's steps run. `$${` writes a literal `${` (everywhere in the file).
//!
//! Substitution happens inside deserialization, not on the text: `vars/de.rs` wraps
//! serde-saphyr's deserializer and rewrites each string value as it is visited. Positions
//! therefore stay those of the original file (an error in a substituted value is reported
//! where the value is written), a value never changes its YAML type (`${cell.version}` is a
//! string before and after), and a value with `:` or `#` in it cannot change the document's
//! shape. A scenario is resolved once at load with sample values ([`Values::sample`]) so that
//! its shape is checked before a run starts, and again per cell with that cell's values
//! ([`super::Scenario::for_cell`]), which checks what the substituted values make of it.
//!
//! Before either, `check` walks the file's YAML nodes and refuses an unknown variable, an
//! unterminated `${` and a variable outside `steps:`/`known_issues:` (in `fixtures:`, `name`,
//! `summary` ...), naming the file, the line and column of the `${`, and the field.

use std::fmt;
use std::path::Path;

use serde_saphyr::Spanned;

use super::error::{ConfigError, ConfigErrorKind, Position};
use super::matrix::Cell;
use super::yaml::{self, Node};

mod de;
pub(crate) use de::parse;

/// Every variable, as written.
pub const VARIABLES: &[&str] = &[
    "cell.id",
    "cell.runtime",
    "cell.version",
    "cell.store",
    "cell.api",
    "cell.builder",
    "cell.provider",
    "scenario.name",
];

/// The top-level keys whose string values may use variables.
const VARIABLE_KEYS: &[&str] = &["steps", "known_issues"];

/// What is wrong with a `${` (boxed in [`ConfigErrorKind::Variable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    /// `${name}` with a name not in [`VARIABLES`].
    Unknown(String),
    /// `${` with no `}` after it.
    Unterminated,
    /// A variable outside `steps:` and `known_issues:`.
    NotAllowed,
    /// A variable in a mapping key.
    InKey,
}

impl fmt::Display for VariableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => {
                let known: Vec<String> = VARIABLES.iter().map(|v| format!("${{{v}}}")).collect();
                write!(
                    f,
                    "unknown variable ${{{name}}} (known: {}; write $${{ for a literal ${{)",
                    known.join(", ")
                )
            }
            Self::Unterminated => {
                f.write_str("unterminated variable: `${` without a closing `}` (write $${ for a literal ${)")
            }
            Self::NotAllowed => f.write_str(
                "variables are allowed only in steps and known_issues, not here (write $${ for a literal ${)",
            ),
            Self::InKey => f.write_str(
                "variables are not allowed in keys (write $${ for a literal ${)",
            ),
        }
    }
}

/// The values of the `cell.*` variables (`scenario.name` is each document's own name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub id: String,
    pub runtime: String,
    pub version: String,
    pub store: String,
    pub api: String,
    pub builder: String,
    pub provider: String,
}

impl Values {
    /// The values for `cell`: the matrix's version value (`26.1`, `host`), its API with the
    /// runtime's default filled in, its builder or empty, its provider (default `host`).
    pub fn for_cell(cell: &Cell) -> Self {
        Self {
            id: cell.id.clone(),
            runtime: cell.runtime.to_string(),
            version: cell.version.clone(),
            store: cell.store.clone(),
            api: cell
                .api
                .clone()
                .unwrap_or_else(|| crate::runtime::api::default_api(cell.runtime).to_string()),
            builder: cell.builder.clone().unwrap_or_default(),
            provider: cell
                .extra
                .get("provider")
                .cloned()
                .unwrap_or_else(|| crate::runtime::provider::DEFAULT_PROVIDER.to_string()),
        }
    }

    /// Values of a plausible cell, for resolving a scenario at load before any cell is known:
    /// the shape of what the variables are written into is checked with these.
    pub fn sample() -> Self {
        Self {
            id: "docker-host-vfs".into(),
            runtime: "docker".into(),
            version: "host".into(),
            store: "vfs".into(),
            api: "engine".into(),
            builder: "buildkit".into(),
            provider: "host".into(),
        }
    }

    fn get<'a>(&'a self, name: &str, scenario: Option<&'a str>) -> Option<&'a str> {
        Some(match name {
            "cell.id" => &self.id,
            "cell.runtime" => &self.runtime,
            "cell.version" => &self.version,
            "cell.store" => &self.store,
            "cell.api" => &self.api,
            "cell.builder" => &self.builder,
            "cell.provider" => &self.provider,
            "scenario.name" => scenario?,
            _ => return None,
        })
    }
}

/// One piece of a string value.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// `$${`, a literal `${`.
    Escape,
    /// `${name}`.
    Var(&'a str),
    /// `${` and the rest of the value, with no `}`.
    Unterminated(&'a str),
}

/// Splits `s` into text, escapes and variables, each with its byte offset in `s`.
fn pieces(s: &str) -> Vec<(usize, Piece<'_>)> {
    let mut out = Vec::new();
    let (mut i, mut text_start) = (0, 0);
    let flush = |out: &mut Vec<_>, from: usize, to: usize| {
        if to > from {
            out.push((from, Piece::Text(&s[from..to])));
        }
    };
    while let Some(found) = s[i..].find("${") {
        let at = i + found;
        if at > text_start && s.as_bytes()[at - 1] == b'$' {
            flush(&mut out, text_start, at - 1);
            out.push((at - 1, Piece::Escape));
            i = at + 2;
            text_start = i;
            continue;
        }
        flush(&mut out, text_start, at);
        match s[at + 2..].find('}') {
            Some(end) => {
                out.push((at, Piece::Var(&s[at + 2..at + 2 + end])));
                i = at + 2 + end + 1;
            }
            None => {
                out.push((at, Piece::Unterminated(&s[at..])));
                i = s.len();
            }
        }
        text_start = i;
    }
    flush(&mut out, text_start, s.len());
    out
}

/// `s` with its escapes and known variables substituted; `None` when it has neither (nothing
/// to rewrite). Unknown variables are left as written ([`check`] refuses them first).
pub(crate) fn substitute(s: &str, values: &Values, scenario: Option<&str>) -> Option<String> {
    if !s.contains("${") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for (_, piece) in pieces(s) {
        match piece {
            Piece::Text(t) | Piece::Unterminated(t) => out.push_str(t),
            Piece::Escape => out.push_str("${"),
            Piece::Var(name) => match values.get(name, scenario) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    Some(out)
}

/// What [`check`] found in one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DocInfo {
    /// Its `name`, when that is a scalar.
    pub name: Option<String>,
    /// Whether it uses a variable (so it resolves differently per cell).
    pub uses_variables: bool,
}

/// Checks every `${` of every document in `docs` (the file `src`, parsed into nodes): only
/// known variables, terminated, and only in `steps:` and `known_issues:`.
pub(crate) fn check(
    src: &str,
    path: &Path,
    docs: &[Spanned<Node>],
) -> Result<Vec<DocInfo>, ConfigError> {
    docs.iter()
        .map(|doc| {
            let mut info = DocInfo::default();
            let Node::Map(entries) = &doc.value else {
                return Ok(info);
            };
            for (key, value) in entries {
                let mut field = String::new();
                yaml::push_key(&mut field, &key.value);
                check_key(src, path, key, &field)?;
                let allowed =
                    matches!(&key.value, Node::Scalar(k) if VARIABLE_KEYS.contains(&k.as_str()));
                if let (Node::Scalar(k), Node::Scalar(v)) = (&key.value, &value.value)
                    && k == "name"
                {
                    info.name = Some(v.clone());
                }
                info.uses_variables |= walk(src, path, value, allowed, &mut field)?;
            }
            Ok(info)
        })
        .collect()
}

/// Checks the subtree at `node` (field path `field`); returns whether it uses a variable.
fn walk(
    src: &str,
    path: &Path,
    node: &Spanned<Node>,
    allowed: bool,
    field: &mut String,
) -> Result<bool, ConfigError> {
    match &node.value {
        Node::Scalar(s) => check_scalar(src, path, node, s, allowed, field),
        Node::Seq(items) => {
            let mut uses = false;
            for (i, item) in items.iter().enumerate() {
                let len = field.len();
                field.push_str(&format!("[{i}]"));
                uses |= walk(src, path, item, allowed, field)?;
                field.truncate(len);
            }
            Ok(uses)
        }
        Node::Map(entries) => {
            let mut uses = false;
            for (key, value) in entries {
                let len = field.len();
                yaml::push_key(field, &key.value);
                check_key(src, path, key, field)?;
                uses |= walk(src, path, value, allowed, field)?;
                field.truncate(len);
            }
            Ok(uses)
        }
    }
}

fn check_key(src: &str, path: &Path, key: &Spanned<Node>, field: &str) -> Result<(), ConfigError> {
    let Node::Scalar(k) = &key.value else {
        return Ok(());
    };
    for (offset, piece) in pieces(k) {
        let kind = match piece {
            Piece::Text(_) | Piece::Escape => continue,
            Piece::Unterminated(_) => VariableError::Unterminated,
            Piece::Var(_) => VariableError::InKey,
        };
        return Err(error(src, path, key, k, offset, field, kind));
    }
    Ok(())
}

fn check_scalar(
    src: &str,
    path: &Path,
    node: &Spanned<Node>,
    s: &str,
    allowed: bool,
    field: &str,
) -> Result<bool, ConfigError> {
    let mut uses = false;
    for (offset, piece) in pieces(s) {
        let kind = match piece {
            Piece::Text(_) | Piece::Escape => continue,
            Piece::Unterminated(_) => VariableError::Unterminated,
            Piece::Var(_) if !allowed => VariableError::NotAllowed,
            Piece::Var(name) if !VARIABLES.contains(&name) => {
                VariableError::Unknown(name.to_string())
            }
            Piece::Var(_) => {
                uses = true;
                continue;
            }
        };
        return Err(error(src, path, node, s, offset, field, kind));
    }
    Ok(uses)
}

/// The error for the `${` at byte `offset` of the scalar `value`, at the place that `${` is
/// written.
fn error(
    src: &str,
    path: &Path,
    node: &Spanned<Node>,
    value: &str,
    offset: usize,
    field: &str,
    kind: VariableError,
) -> ConfigError {
    let mut err = ConfigError::at(
        path,
        node.referenced,
        field,
        ConfigErrorKind::Variable(Box::new(kind)),
    );
    if let Some(position) = written_at(src, node, value, offset) {
        err.position = Some(position);
    }
    err
}

/// Where in `src` the `${` at byte `offset` of the scalar `value` (which `node` is) is written:
/// the same-numbered `${` in the scalar's source text, counted from the scalar's start. `None`
/// when the source text does not show it (a double-quoted escape such as `\x24{`).
fn written_at(src: &str, node: &Spanned<Node>, value: &str, offset: usize) -> Option<Position> {
    // An escape `$${` holds one `${` in the value and one in the source text.
    let nth = value[..offset].matches("${").count();
    let span = node.referenced.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let end = match span.byte_len() {
        Some(len) if len > 0 => start + usize::try_from(len).ok()?,
        _ => src.len(),
    };
    let text = src.get(start..end.min(src.len()))?;
    let (at, _) = text.match_indices("${").nth(nth)?;
    let mut position = Position::from_location(node.referenced)?;
    for c in text[..at].chars() {
        if c == '\n' {
            position.line += 1;
            position.column = 1;
        } else {
            position.column += 1;
        }
    }
    Some(position)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rstest::rstest;

    use super::*;
    use crate::config::{RuntimeKind, Scenario, parse_scenarios};
    use crate::steps::Action;

    #[test]
    fn pieces_split_text_escapes_and_variables() {
        assert_eq!(
            pieces("a${cell.id}b$${c}${x"),
            [
                (0, Piece::Text("a")),
                (1, Piece::Var("cell.id")),
                (11, Piece::Text("b")),
                (12, Piece::Escape),
                (15, Piece::Text("c}")),
                (17, Piece::Unterminated("${x")),
            ]
        );
        assert_eq!(pieces("plain $ {x} $"), [(0, Piece::Text("plain $ {x} $"))]);
        assert_eq!(
            pieces("${a}$${b}"),
            [
                (0, Piece::Var("a")),
                (4, Piece::Escape),
                (7, Piece::Text("b}"))
            ]
        );
        assert_eq!(pieces("${}"), [(0, Piece::Var(""))]);
    }

    fn cell(runtime: RuntimeKind, version: &str) -> Cell {
        Cell {
            id: format!("{runtime}-{version}-vfs"),
            runtime,
            version: version.into(),
            store: "vfs".into(),
            builder: None,
            api: None,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn substitution_fills_every_variable_and_unescapes() {
        let mut podman = cell(RuntimeKind::Podman, "5.8");
        podman.extra.insert("provider".into(), "debian".into());
        let values = Values::for_cell(&podman);
        let all: Vec<String> = VARIABLES.iter().map(|v| format!("${{{v}}}")).collect();
        assert_eq!(
            substitute(&all.join(" "), &values, Some("s-x")).as_deref(),
            Some("podman-5.8-vfs podman 5.8 vfs libpod  debian s-x")
        );
        let mut docker = cell(RuntimeKind::Docker, "host");
        docker.builder = Some("classic".into());
        docker.api = Some("engine".into());
        assert_eq!(
            substitute(
                "${cell.builder}/${cell.api}/${cell.provider}",
                &Values::for_cell(&docker),
                None
            )
            .as_deref(),
            Some("classic/engine/host")
        );
        assert_eq!(
            substitute("$${cell.id} costs $5", &values, None).as_deref(),
            Some("${cell.id} costs $5")
        );
        assert_eq!(substitute("no variable", &values, None), None);
    }

    const FIXTURE: &str = "fixtures:\n  img:\n    layout: oci-archive\n    name: example.test/img:v1\n    layers: [{ files: [{ path: x, content: x }] }]\n";

    fn scenario(body: &str) -> String {
        format!("name: s\nsummary: s\n{FIXTURE}steps:\n  - id: load\n    load: img\n{body}")
    }

    fn err(src: &str) -> String {
        parse_scenarios(src, Path::new("scenarios/s.yaml"))
            .unwrap_err()
            .to_string()
    }

    // Lines: 1 name, 2 summary, 3-7 fixtures, 8 steps:, 9-10 the load step, 11 on: the body.
    #[rstest]
    #[case::unknown(
        "  - id: t\n    tag: { image: example.test/img:v1, refs: [{ ref: \"x/${cell.runtme}:v1\" }] }\n",
        "12:57: steps[1].tag.refs[0].ref: unknown variable ${cell.runtme} (known: ${cell.id}, ${cell.runtime}, ${cell.version}, ${cell.store}, ${cell.api}, ${cell.builder}, ${cell.provider}, ${scenario.name}; write $${ for a literal ${)"
    )]
    #[case::unknown_after_a_known_one(
        "  - id: t\n    tag:\n      image: example.test/img:v1\n      refs:\n        - ref: x/${cell.runtime}-${env.HOME}\n",
        "15:34: steps[1].tag.refs[0].ref: unknown variable ${env.HOME} (known: ${cell.id}, ${cell.runtime}, ${cell.version}, ${cell.store}, ${cell.api}, ${cell.builder}, ${cell.provider}, ${scenario.name}; write $${ for a literal ${)"
    )]
    #[case::unterminated(
        "  - id: t\n    inspect: 'example.test/${cell.runtime'\n",
        "12:28: steps[1].inspect: unterminated variable: `${` without a closing `}` (write $${ for a literal ${)"
    )]
    #[case::after_an_escape(
        "  - id: t\n    inspect: a$${b}${c\n",
        "12:20: steps[1].inspect: unterminated variable: `${` without a closing `}` (write $${ for a literal ${)"
    )]
    #[case::in_a_key(
        "    expect:\n      - outcome: loaded\n        x${cell.runtime}: x\n",
        "13:10: steps[0].expect[0][\"x${cell.runtime}\"]: variables are not allowed in keys (write $${ for a literal ${)"
    )]
    #[case::in_a_known_issue_unknown(
        "known_issues:\n  - { id: k, summary: s, step: load, outcome: error, error_contains: \"${cell}\" }\n",
        "12:71: known_issues[0].error_contains: unknown variable ${cell} (known: ${cell.id}, ${cell.runtime}, ${cell.version}, ${cell.store}, ${cell.api}, ${cell.builder}, ${cell.provider}, ${scenario.name}; write $${ for a literal ${)"
    )]
    fn variable_errors(#[case] body: &str, #[case] expected: &str) {
        assert_eq!(err(&scenario(body)), format!("scenarios/s.yaml:{expected}"));
    }

    const NOT_HERE: &str = "variables are allowed only in steps and known_issues, not here (write $${ for a literal ${)";

    #[rstest]
    #[case::name("name: s\n", "name: s-${cell.id}\n", "1:9: name")]
    #[case::summary("summary: s\n", "summary: on ${cell.runtime}\n", "2:13: summary")]
    #[case::fixture_name(
        "name: example.test/img:v1\n",
        "name: \"example.test/${cell.runtime}:v1\"\n",
        "6:25: fixtures.img.name"
    )]
    #[case::fixture_content(
        "content: x }",
        "content: \"echo\n        ${HOME}\" }",
        "8:9: fixtures.img.layers[0].files[0].content"
    )]
    #[case::regression(
        "summary: s\n",
        "summary: s\nregression: ${scenario.name}\n",
        "3:13: regression"
    )]
    fn variables_outside_steps_are_refused(
        #[case] from: &str,
        #[case] to: &str,
        #[case] expected: &str,
    ) {
        let src = scenario("");
        assert!(src.contains(from), "{from:?}");
        assert_eq!(
            err(&src.replacen(from, to, 1)),
            format!("scenarios/s.yaml:{expected}: {NOT_HERE}")
        );
    }

    #[test]
    fn an_escape_is_fine_everywhere_and_writes_a_literal() {
        let src = scenario("").replace("content: x", "content: \"$${HOME}\"")
            + "  - id: t\n    inspect: example.test/$${x}\n";
        let s = &parse_scenarios(&src, Path::new("s.yaml")).unwrap()[0];
        assert!(!s.uses_variables());
        let file = &s.fixtures["img"].layers[0].files[0];
        assert_eq!(file.content, "${HOME}");
        assert_eq!(s.steps[1].action.describe(), "inspect example.test/${x}");
    }

    fn tag_refs(s: &Scenario) -> Vec<String> {
        match &s.steps[1].action {
            Action::Tag(t) => t.refs.iter().map(|r| r.reference.clone()).collect(),
            other => panic!("{other:?}"),
        }
    }

    const TAG: &str = "  - id: tag\n    tag:\n      image: example.test/img:v1\n      refs:\n        - ref: example.test/${cell.runtime}:v${cell.version}\n        - ref: \"example.test/${scenario.name}:${cell.id}\"\n    expect:\n      - found: [\"example.test/${cell.runtime}:v${cell.version}\"]\n";

    #[test]
    fn each_cell_gets_its_own_values() {
        let s = &parse_scenarios(&scenario(TAG), Path::new("s.yaml")).unwrap()[0];
        assert!(s.uses_variables());
        // Loaded with the sample values.
        assert_eq!(
            tag_refs(s),
            [
                "example.test/docker:vhost",
                "example.test/s:docker-host-vfs"
            ]
        );
        let docker = cell(RuntimeKind::Docker, "26.1");
        let podman = cell(RuntimeKind::Podman, "host");
        let on_docker = s.for_cell(&docker).unwrap();
        let on_podman = s.for_cell(&podman).unwrap();
        assert_eq!(
            tag_refs(&on_docker),
            [
                "example.test/docker:v26.1",
                "example.test/s:docker-26.1-vfs"
            ]
        );
        assert_eq!(
            tag_refs(&on_podman),
            [
                "example.test/podman:vhost",
                "example.test/s:podman-host-vfs"
            ]
        );
        let crate::steps::Claim::Tag(claim) = &on_podman.steps[1].expect[0].claim else {
            panic!()
        };
        assert_eq!(
            claim.found,
            Some(vec!["example.test/podman:vhost".to_string()])
        );
        // Everything else is the loaded scenario's, positions included.
        assert_eq!(on_podman.steps[1].expect[0].site, s.steps[1].expect[0].site);
        assert_eq!(
            (on_podman.name.as_str(), &on_podman.fixtures),
            ("s", &s.fixtures)
        );
    }

    #[test]
    fn a_scenario_without_variables_is_itself_on_every_cell() {
        let s = &parse_scenarios(&scenario(""), Path::new("s.yaml")).unwrap()[0];
        assert!(!s.uses_variables());
        let on = s.for_cell(&cell(RuntimeKind::Docker, "host")).unwrap();
        assert!(matches!(on, std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn a_cell_whose_values_make_a_step_invalid_is_refused_where_the_value_is_written() {
        // `load:` names a fixture: with docker's value it is `img`... and with podman's not.
        let src = scenario("")
            .replace("  img:\n", "  docker:\n")
            .replace("    load: img\n", "    load: \"${cell.runtime}\"\n");
        let s = &parse_scenarios(&src, Path::new("scenarios/s.yaml")).unwrap()[0];
        s.for_cell(&cell(RuntimeKind::Docker, "host")).unwrap();
        let e = s.for_cell(&cell(RuntimeKind::Podman, "host")).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"scenarios/s.yaml:10:11: steps[0].load: unknown fixture "podman" (known: docker)"#
        );
        // A value that changes a typed field is that field's error too, not a different
        // document shape: the string stays one scalar.
        let src = scenario("    expect:\n      - { outcome: \"${cell.provider}\" }\n");
        let e = parse_scenarios(&src, Path::new("scenarios/s.yaml")).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "scenarios/s.yaml:12:20: steps[0].expect[0].outcome: unknown variant `host`"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_value_with_yaml_syntax_stays_one_string() {
        let mut c = cell(RuntimeKind::Docker, "host");
        c.id = "a: b # c".into();
        let src = scenario("  - id: t\n    inspect: x/${cell.id}\n");
        let s = &parse_scenarios(&src, Path::new("s.yaml")).unwrap()[0];
        assert_eq!(
            s.for_cell(&c).unwrap().steps[1].action.describe(),
            "inspect x/a: b # c"
        );
    }

    #[test]
    fn scenario_name_is_each_document_s_own() {
        let doc = |name: &str| {
            format!(
                "name: {name}\nsummary: s\n{FIXTURE}steps:\n  - id: load\n    load: img\n  - id: t\n    inspect: example.test/${{scenario.name}}:${{cell.store}}\n"
            )
        };
        let src = format!("{}---\n{}", doc("s"), doc("s-two"));
        let all = parse_scenarios(&src, Path::new("s.yaml")).unwrap();
        let c = cell(RuntimeKind::Containerd, "host");
        let got: Vec<String> = all
            .iter()
            .map(|s| s.for_cell(&c).unwrap().steps[1].action.describe())
            .collect();
        assert_eq!(
            got,
            [
                "inspect example.test/s:vfs",
                "inspect example.test/s-two:vfs"
            ]
        );
    }
}

#[cfg(test)]
mod readme {
    use std::path::Path;

    use crate::config::{RuntimeKind, parse_scenarios};

    /// The README's example of variables and several scenarios per file loads, and does per
    /// cell what its comments say.
    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("# scenarios/own-names.yaml\n").unwrap();
        let example = &readme[start..];
        let example = &example[..example.find("```").unwrap()];
        let all = parse_scenarios(example, Path::new("scenarios/own-names.yaml")).unwrap();
        let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["own-names", "own-names-absent"]);
        let cell = crate::config::Cell {
            id: "podman-host-vfs".into(),
            runtime: RuntimeKind::Podman,
            version: "host".into(),
            store: "vfs".into(),
            builder: None,
            api: None,
            extra: Default::default(),
        };
        let absent = all[1].for_cell(&cell).unwrap();
        assert_eq!(
            absent.steps[1].action.describe(),
            "inspect example.test/podman:v1"
        );
    }
}
