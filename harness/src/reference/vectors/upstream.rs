//! distribution/reference's test tables (and the containers/image fork's, libimage's
//! normalization tables, Go's `path.Match` table), replayed against the port.

use serde::Deserialize;

use super::{ErrSpec, Failures, err_matches, load};
use crate::reference::grammar::{anchored_identifier, grammar};
use crate::reference::*;

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[derive(Deserialize, Clone)]
struct ParseCase {
    /// Absent in a `port` override, which inherits the row's input.
    #[serde(default)]
    input: String,
    err: Option<ErrSpec>,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    digest: String,
    port: Option<Box<ParseCase>>,
}

/// TestReferenceParse: Parse(input) fails with err, or round-trips with the given parts.
fn check_reference_parse(dialect: Dialect, cases: Vec<ParseCase>, table: &str) {
    let mut f = Failures::default();
    for (i, case) in cases.into_iter().enumerate() {
        let want = match &case.port {
            Some(port) => ParseCase {
                input: case.input.clone(),
                ..(**port).clone()
            },
            None => case,
        };
        let got = dialect.parse(&want.input);
        match (&want.err, &got) {
            (Some(spec), Err(e)) => f.check(err_matches(e, spec), i, &want.input, || {
                format!("error {e:?}")
            }),
            (Some(spec), Ok(r)) => f.check(false, i, &want.input, || {
                format!("parsed as {r}, expected {spec:?}")
            }),
            (None, Err(e)) => f.check(false, i, &want.input, || format!("unexpected {e:?}")),
            (None, Ok(r)) => {
                let parts = (r.to_string(), r.name(), r.domain(), r.tag(), r.digest());
                let expected = (
                    want.input.clone(),
                    want.repository.clone(),
                    want.domain.as_str(),
                    opt(&want.tag),
                    opt(&want.digest),
                );
                f.check(parts == expected, i, &want.input, || {
                    format!("got {parts:?}, expected {expected:?}")
                });
            }
        }
    }
    f.assert_none(table);
}

#[test]
fn reference_parse() {
    let cases = load(data!("reference_parse.json"), 49);
    check_reference_parse(Dialect::Distribution, cases, "TestReferenceParse");
}

#[test]
fn legacy_reference_parse() {
    let cases = load(data!("legacy_reference_parse.json"), 27);
    check_reference_parse(
        Dialect::Legacy,
        cases,
        "containers/image TestReferenceParse",
    );
}

#[derive(Deserialize)]
struct InputErr {
    input: String,
    err: ErrSpec,
}

#[test]
fn with_name_failure() {
    let mut f = Failures::default();
    for (i, c) in load::<InputErr>(data!("with_name_failure.json"), 7)
        .iter()
        .enumerate()
    {
        let got = with_name(&c.input);
        f.check(
            got.as_ref().is_err_and(|e| err_matches(e, &c.err)),
            i,
            &c.input,
            || format!("{got:?}"),
        );
    }
    f.assert_none("TestWithNameFailure");
}

#[derive(Deserialize)]
struct DomainPath {
    input: String,
    domain: String,
    path: String,
}

fn check_domain_path(
    cases: &[DomainPath],
    parse: impl Fn(&str) -> Result<Reference, ReferenceError>,
    table: &str,
) {
    let mut f = Failures::default();
    for (i, c) in cases.iter().enumerate() {
        let got = parse(&c.input).map(|r| (r.domain().to_string(), r.path().to_string()));
        f.check(
            got.as_ref() == Ok(&(c.domain.clone(), c.path.clone())),
            i,
            &c.input,
            || format!("{got:?}"),
        );
    }
    f.assert_none(table);
}

#[test]
fn domain_and_path() {
    let cases = load(data!("domain_and_path.json"), 6);
    check_domain_path(&cases, with_name, "TestDomainAndPath");
}

#[test]
fn normalized_split_hostname() {
    let cases = load(data!("normalized_split_hostname.json"), 11);
    check_domain_path(
        &cases,
        parse_normalized_named,
        "TestNormalizedSplitHostname",
    );
}

#[derive(Deserialize)]
struct SerializationCase {
    input: String,
    err: Option<ErrSpec>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    digest: String,
}

#[test]
fn serialization() {
    let mut f = Failures::default();
    let cases: Vec<SerializationCase> = load(data!("serialization.json"), 4);
    for (i, c) in cases.iter().enumerate() {
        let got = parse(&c.input);
        let ok = match (&c.err, &got) {
            (Some(spec), Err(e)) => err_matches(e, spec),
            (None, Ok(r)) => {
                r.to_string() == c.input
                    && r.name() == c.name
                    && r.tag() == opt(&c.tag)
                    && r.digest() == opt(&c.digest)
            }
            _ => false,
        };
        f.check(ok, i, &c.input, || format!("{got:?}"));
    }
    f.assert_none("TestSerialization");
}

#[derive(Deserialize)]
struct Combine {
    name: String,
    digest: String,
    tag: String,
    combined: String,
}

#[test]
fn with_tag_and_with_digest() {
    let mut f = Failures::default();
    for (i, c) in load::<Combine>(data!("with_tag.json"), 5)
        .iter()
        .enumerate()
    {
        let got = with_name(&c.name).and_then(|n| {
            let n = if c.digest.is_empty() {
                n
            } else {
                n.with_digest(&c.digest)?
            };
            n.with_tag(&c.tag)
        });
        f.check(
            got.as_ref().map(ToString::to_string) == Ok(c.combined.clone()),
            i,
            &c.combined,
            || format!("{got:?}"),
        );
    }
    f.assert_none("TestWithTag");
    let mut f = Failures::default();
    for (i, c) in load::<Combine>(data!("with_digest.json"), 4)
        .iter()
        .enumerate()
    {
        let got = with_name(&c.name).and_then(|n| {
            let n = if c.tag.is_empty() {
                n
            } else {
                n.with_tag(&c.tag)?
            };
            n.with_digest(&c.digest)
        });
        f.check(
            got.as_ref().map(ToString::to_string) == Ok(c.combined.clone()),
            i,
            &c.combined,
            || format!("{got:?}"),
        );
    }
    f.assert_none("TestWithDigest");
}

#[derive(Deserialize)]
struct ParseNamedCase {
    input: String,
    err: Option<ErrSpec>,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    path: String,
}

#[test]
fn parse_named_requires_canonical_form() {
    let mut f = Failures::default();
    for (i, c) in load::<ParseNamedCase>(data!("parse_named.json"), 8)
        .iter()
        .enumerate()
    {
        let got = parse_named(&c.input);
        let ok = match (&c.err, &got) {
            (Some(spec), Err(e)) => err_matches(e, spec),
            (None, Ok(r)) => r.domain() == c.domain && r.path() == c.path,
            _ => false,
        };
        f.check(ok, i, &c.input, || format!("{got:?}"));
    }
    f.assert_none("TestParseNamed");
}

#[derive(Deserialize)]
struct Validity {
    input: String,
    valid: bool,
}

fn check_validity(dialect: Dialect, cases: &[Validity], table: &str) {
    let mut f = Failures::default();
    for (i, c) in cases.iter().enumerate() {
        let got = dialect.parse_normalized_named(&c.input);
        f.check(got.is_ok() == c.valid, i, &c.input, || format!("{got:?}"));
    }
    f.assert_none(table);
}

#[test]
fn validate_reference_and_remote_names() {
    let d = Dialect::Distribution;
    check_validity(
        d,
        &load(data!("validate_reference_name.json"), 41),
        "TestValidateReferenceName",
    );
    check_validity(
        d,
        &load(data!("validate_remote_name.json"), 21),
        "TestValidateRemoteName",
    );
    let l = Dialect::Legacy;
    let legacy = load(data!("legacy_validate_reference_name.json"), 23);
    check_validity(l, &legacy, "containers/image TestValidateReferenceName");
    let legacy = load(data!("legacy_validate_remote_name.json"), 21);
    check_validity(l, &legacy, "containers/image TestValidateRemoteName");
}

#[derive(Deserialize)]
struct RepositoryInfo {
    remote_name: String,
    familiar_name: String,
    full_name: String,
    ambiguous_name: String,
    domain: String,
}

fn check_repository_info(dialect: Dialect, cases: &[RepositoryInfo], table: &str) {
    let mut f = Failures::default();
    for (i, c) in cases.iter().enumerate() {
        let mut inputs = vec![&c.familiar_name, &c.full_name];
        if !c.ambiguous_name.is_empty() {
            inputs.push(&c.ambiguous_name);
        }
        for input in inputs {
            let got = dialect.parse_normalized_named(input).map(|r| {
                (
                    r.familiar_name(),
                    r.to_string(),
                    r.domain().to_string(),
                    r.path().to_string(),
                )
            });
            let want = (
                c.familiar_name.clone(),
                c.full_name.clone(),
                c.domain.clone(),
                c.remote_name.clone(),
            );
            f.check(got.as_ref() == Ok(&want), i, input, || format!("{got:?}"));
        }
    }
    f.assert_none(table);
}

#[test]
fn parse_repository_info() {
    let cases = load(data!("parse_repository_info.json"), 20);
    check_repository_info(Dialect::Distribution, &cases, "TestParseRepositoryInfo");
    let cases = load(data!("legacy_parse_repository_info.json"), 14);
    check_repository_info(
        Dialect::Legacy,
        &cases,
        "containers/image TestParseRepositoryInfo",
    );
}

#[derive(Deserialize)]
struct TagAndDigest {
    input: String,
    string: String,
    tagged: bool,
    digested: bool,
    familiar_string: String,
}

#[test]
fn parse_reference_with_tag_and_digest() {
    let c = &load::<TagAndDigest>(data!("parse_reference_with_tag_and_digest.json"), 1)[0];
    let r = parse_normalized_named(&c.input).unwrap();
    assert_eq!(r.to_string(), c.string);
    assert_eq!(r.tag().is_some(), c.tagged);
    assert_eq!(r.digest().is_some(), c.digested);
    assert_eq!(r.familiar_string(), c.familiar_string);
}

#[derive(Deserialize)]
struct InvalidComponents {
    invalid_name: String,
    base: String,
    invalid_tag: String,
    invalid_digest: String,
    tag_err: ErrSpec,
    digest_err: ErrSpec,
}

#[test]
fn invalid_reference_components() {
    let c = &load::<InvalidComponents>(data!("invalid_reference_components.json"), 1)[0];
    assert!(parse_normalized_named(&c.invalid_name).is_err());
    let base = parse_normalized_named(&c.base).unwrap();
    assert!(err_matches(
        &base.with_tag(&c.invalid_tag).unwrap_err(),
        &c.tag_err
    ));
    assert!(err_matches(
        &base.with_digest(&c.invalid_digest).unwrap_err(),
        &c.digest_err
    ));
}

#[derive(Deserialize)]
struct AnyCase {
    reference: String,
    equivalent: String,
    expected_digest: Option<String>,
}

#[test]
fn parse_any_reference_table() {
    let mut f = Failures::default();
    for (i, c) in load::<AnyCase>(data!("parse_any_reference.json"), 14)
        .iter()
        .enumerate()
    {
        let got = parse_any_reference(&c.reference);
        let want = match &c.expected_digest {
            Some(d) => Ok(AnyReference::Digest(d.clone())),
            None => parse(&c.equivalent).map(AnyReference::Named),
        };
        let printed = got.as_ref().map(ToString::to_string);
        f.check(
            got == want && printed == Ok(c.equivalent.clone()),
            i,
            &c.reference,
            || format!("{got:?}, expected {want:?}"),
        );
    }
    f.assert_none("TestParseAnyReference");
}

#[derive(Deserialize)]
struct MatchCase {
    reference: String,
    pattern: String,
    expected: bool,
    err: Option<String>,
}

#[test]
fn familiar_match_table() {
    let mut f = Failures::default();
    for (i, c) in load::<MatchCase>(data!("match.json"), 10)
        .iter()
        .enumerate()
    {
        let named = parse_any_reference(&c.reference).unwrap();
        let got = familiar_match(&c.pattern, &named).map_err(|e| e.to_string());
        let want = c.err.clone().map_or(Ok(c.expected), Err);
        f.check(got == want, i, &c.reference, || {
            format!("{got:?}, expected {want:?}")
        });
    }
    f.assert_none("TestMatch, TestMatchError");
}

#[derive(Deserialize)]
struct DockerRefCase {
    input: String,
    expected: String,
}

#[test]
fn parse_docker_ref_table() {
    let mut f = Failures::default();
    for (i, c) in load::<DockerRefCase>(data!("parse_docker_ref.json"), 11)
        .iter()
        .enumerate()
    {
        let got = parse_docker_ref(&c.input).map(|r| r.to_string());
        let reparses = parse(&c.expected).is_ok();
        f.check(
            got.as_ref() == Ok(&c.expected) && reparses,
            i,
            &c.input,
            || format!("{got:?}"),
        );
    }
    f.assert_none("TestParseDockerRef");
}

#[derive(Deserialize)]
struct RegexpCase {
    input: String,
    #[serde(rename = "match")]
    matches: bool,
    subs: Option<Vec<String>>,
}

/// Go's `checkRegexp`: a match covers the whole input and the groups equal `subs` (an
/// unmatched group is ""); a non-match finds nothing.
fn check_regexp(re: &regex::Regex, cases: &[RegexpCase], table: &str) {
    let mut f = Failures::default();
    for (i, c) in cases.iter().enumerate() {
        let got: Option<Vec<String>> = re.captures(&c.input).map(|m| {
            m.iter()
                .map(|g| g.map_or(String::new(), |g| g.as_str().to_string()))
                .collect()
        });
        let ok = match (&got, c.matches) {
            (Some(groups), true) => {
                groups[0] == c.input
                    && c.subs
                        .as_ref()
                        .is_none_or(|subs| groups[1..=subs.len()] == subs[..])
            }
            (None, false) => true,
            _ => false,
        };
        f.check(ok, i, &c.input, || format!("captures {got:?}"));
    }
    f.assert_none(table);
}

#[test]
fn regexp_tables() {
    let g = grammar(Dialect::Distribution);
    check_regexp(
        &g.anchored_domain,
        &load(data!("domain_regexp.json"), 30),
        "TestDomainRegexp",
    );
    let names = load(data!("full_name_regexp.json"), 63);
    check_regexp(&g.anchored_name, &names, "TestFullNameRegexp");
    let refs = load(data!("reference_regexp.json"), 12);
    check_regexp(&g.reference, &refs, "TestReferenceRegexp");
    let ids = load(data!("identifier_regexp.json"), 5);
    check_regexp(anchored_identifier(), &ids, "TestIdentifierRegexp");
}

#[derive(Deserialize)]
struct Expected {
    input: String,
    expected: String,
}

#[test]
fn libimage_normalize_tables() {
    let mut f = Failures::default();
    for (i, c) in load::<Expected>(data!("libimage_normalize_name.json"), 10)
        .iter()
        .enumerate()
    {
        let got = normalize_name(&c.input).map(|r| r.to_string());
        let ok = if c.expected.is_empty() {
            got.is_err()
        } else {
            got.as_ref() == Ok(&c.expected)
        };
        f.check(ok, i, &c.input, || format!("{got:?}"));
    }
    f.assert_none("libimage TestNormalizeName");
    let mut f = Failures::default();
    let cases = load::<Expected>(data!("libimage_normalize_tagged_digested.json"), 12);
    for (i, c) in cases.iter().enumerate() {
        let got = normalize_tagged_digested_string(&c.input);
        let ok = if c.expected.is_empty() {
            got.is_err()
        } else {
            got.as_ref() == Ok(&c.expected)
        };
        f.check(ok, i, &c.input, || format!("{got:?}"));
    }
    f.assert_none("libimage TestNormalizeTaggedDigestedString");
}
