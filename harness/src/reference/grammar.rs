//! The reference grammar as regular expressions, composed exactly as Go composes them, in both
//! [dialects](Dialect).
//!
//! distribution/reference `regexp.go` (v0.6.0, unchanged in behaviour at HEAD 0965666):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | \[ IPv6address \]
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! path             := path-component ['/' path-component]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := digest-algorithm ":" digest-hex
//! identifier       := /[a-f0-9]{64}/
//! ```
//!
//! The legacy grammar (docker/distribution v2.8 `reference/regexp.go`, kept verbatim by
//! containers/image `docker/reference/regexp.go`) has no bracketed IPv6 host and writes the
//! dash separator as `[-]*`, which accepts the same language.
//!
//! Go's `\w` is ASCII-only while the `regex` crate's is Unicode, so the tag pattern spells the
//! class out. Go's `FindStringSubmatch` and the `regex` crate's `captures` both use
//! leftmost-first (Perl) preference, so the capture groups split a name at the same place.

use std::sync::OnceLock;

use regex::Regex;

use super::Dialect;

/// `alphanumeric`: the atom of path components, lower case only.
const ALPHANUMERIC: &str = "[a-z0-9]+";
/// `separator`: one period, one or two underscores, or any number of dashes.
const SEPARATOR: &str = "(?:[._]|__|[-]+)";
/// The legacy `separatorRegexp`, with `[-]*`.
const LEGACY_SEPARATOR: &str = "(?:[._]|__|[-]*)";
/// `domainNameComponent`.
const DOMAIN_NAME_COMPONENT: &str = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
/// `optionalPort`.
const OPTIONAL_PORT: &str = "(?::[0-9]+)?";
/// `tag`, with Go's ASCII `\w` written out.
const TAG: &str = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
/// `digestPat`.
const DIGEST: &str = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}";
/// `identifier`.
const IDENTIFIER: &str = "([a-f0-9]{64})";
/// `ipv6address`: brackets around hex digits and colons; zones and IPv4-mapped forms are
/// deliberately excluded.
const IPV6_ADDRESS: &str = r"\[(?:[a-fA-F0-9:]+)\]";

/// `optional`: a non-capturing group made optional.
fn optional(parts: &[&str]) -> String {
    format!("(?:{})?", parts.concat())
}

/// `anyTimes`: a non-capturing group repeated any number of times.
fn any_times(parts: &[&str]) -> String {
    format!("(?:{})*", parts.concat())
}

/// The legacy `repeated`: a non-capturing group repeated at least once.
fn repeated(parts: &[&str]) -> String {
    format!("(?:{})+", parts.concat())
}

/// `capture`: a capturing group.
fn capture(parts: &[&str]) -> String {
    format!("({})", parts.concat())
}

/// `anchored`: start and end anchors.
fn anchored(parts: &[&str]) -> String {
    format!("^{}$", parts.concat())
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("reference grammar patterns are valid")
}

/// The compiled regular expressions one dialect's parser uses.
#[derive(Debug)]
pub(crate) struct Grammar {
    /// `referenceRegexp`: anchored, capturing name, tag and digest.
    pub(crate) reference: Regex,
    /// `anchoredNameRegexp`: anchored, capturing domain and path.
    pub(crate) anchored_name: Regex,
    /// `^` + `domainAndPort` (`DomainRegexp`) + `$`, as `TestDomainRegexp` anchors it.
    pub(crate) anchored_domain: Regex,
}

impl Grammar {
    /// distribution/reference `regexp.go`.
    fn distribution() -> Self {
        let domain_name = format!(
            "{DOMAIN_NAME_COMPONENT}{}",
            any_times(&[r"\.", DOMAIN_NAME_COMPONENT])
        );
        let host = format!("(?:{domain_name}|{IPV6_ADDRESS})");
        let domain_and_port = format!("{host}{OPTIONAL_PORT}");
        let path_component = format!("{ALPHANUMERIC}{}", any_times(&[SEPARATOR, ALPHANUMERIC]));
        let remote_name = format!(
            "{path_component}{}",
            any_times(&["/", path_component.as_str()])
        );
        let name = format!(
            "{}{remote_name}",
            optional(&[domain_and_port.as_str(), "/"])
        );
        Self::assemble(&domain_and_port, &name, &remote_name)
    }

    /// docker/distribution v2.8 `reference/regexp.go` = containers/image
    /// `docker/reference/regexp.go`.
    fn legacy() -> Self {
        let name_component = format!(
            "{ALPHANUMERIC}{}",
            optional(&[&repeated(&[LEGACY_SEPARATOR, ALPHANUMERIC])])
        );
        let domain = format!(
            "{DOMAIN_NAME_COMPONENT}{}{}",
            optional(&[&repeated(&[r"\.", DOMAIN_NAME_COMPONENT])]),
            optional(&[":", "[0-9]+"])
        );
        let remote_name = format!(
            "{name_component}{}",
            optional(&[&repeated(&["/", name_component.as_str()])])
        );
        let name = format!("{}{remote_name}", optional(&[domain.as_str(), "/"]));
        Self::assemble(&domain, &name, &remote_name)
    }

    fn assemble(domain: &str, name: &str, remote_name: &str) -> Self {
        let reference = anchored(&[
            &capture(&[name]),
            &optional(&[":", &capture(&[TAG])]),
            &optional(&["@", &capture(&[DIGEST])]),
        ]);
        let anchored_name = anchored(&[
            &optional(&[&capture(&[domain]), "/"]),
            &capture(&[remote_name]),
        ]);
        Self {
            reference: compile(&reference),
            anchored_name: compile(&anchored_name),
            anchored_domain: compile(&anchored(&[domain])),
        }
    }
}

impl Dialect {
    /// Whether `s` is a registry domain as the grammar defines it: `DomainRegexp`, anchored
    /// (a host name, an IPv4 address or, in the distribution dialect, a bracketed IPv6
    /// address, with an optional port). This is the shape, not `splitDockerDomain`'s decision
    /// of whether a first component *is* a domain.
    pub fn matches_domain(self, s: &str) -> bool {
        grammar(self).anchored_domain.is_match(s)
    }
}

/// The grammar of one dialect, compiled once.
pub(crate) fn grammar(dialect: Dialect) -> &'static Grammar {
    static DISTRIBUTION: OnceLock<Grammar> = OnceLock::new();
    static LEGACY: OnceLock<Grammar> = OnceLock::new();
    match dialect {
        Dialect::Distribution => DISTRIBUTION.get_or_init(Grammar::distribution),
        Dialect::Legacy => LEGACY.get_or_init(Grammar::legacy),
    }
}

/// `anchoredTagRegexp` (the same in both dialects).
pub(crate) fn anchored_tag() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| compile(&anchored(&[TAG])))
}

/// `anchoredDigestRegexp` (the same in both dialects).
pub(crate) fn anchored_digest() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| compile(&anchored(&[DIGEST])))
}

/// `anchoredIdentifierRegexp` (the same in both dialects).
pub(crate) fn anchored_identifier() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| compile(&anchored(&[IDENTIFIER])))
}

/// Go's `strings.ToLower`: per-rune simple lower-case mapping. Rust's `to_lowercase` applies
/// the full mapping, whose only multi-character lower case is U+0130 (`İ` -> `i̇`); Go maps it
/// to a plain `i`.
pub(crate) fn go_to_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\u{130}' {
            out.push('i');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_groups_match_go() {
        // TestFullNameRegexp checks NumSubexp() == 2 and TestReferenceRegexp == 3.
        for dialect in [Dialect::Distribution, Dialect::Legacy] {
            let g = grammar(dialect);
            assert_eq!(g.anchored_name.captures_len() - 1, 2, "{dialect:?}");
            assert_eq!(g.reference.captures_len() - 1, 3, "{dialect:?}");
        }
    }

    #[test]
    fn tag_word_class_is_ascii() {
        assert!(anchored_tag().is_match("Tag_1.0-rc"));
        assert!(!anchored_tag().is_match("tàg"));
    }

    #[test]
    fn go_to_lower_maps_dotted_capital_i_to_plain_i() {
        assert_eq!(go_to_lower("İMAGE"), "image");
        assert_eq!(go_to_lower("\u{212a}"), "k");
    }
}
