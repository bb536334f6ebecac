//! [`RefReport`]: one row of `harness ref`, everything the models say about one input.

use serde::Serialize;

use super::{AnyReference, ReferenceError, Style, parse_any_reference, stored};

/// An error as reported: its stable code and its exact (Go) message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefErrorReport {
    pub code: String,
    pub message: String,
}

impl From<&ReferenceError> for RefErrorReport {
    fn from(e: &ReferenceError) -> Self {
        Self {
            code: e.kind.code().to_string(),
            message: e.to_string(),
        }
    }
}

/// What the reference rules and one runtime style make of an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefReport {
    /// The input as given.
    pub input: String,
    /// Whether `ParseAnyReference` (distribution/reference rules) accepts it.
    pub valid: bool,
    /// Why not, when it does not.
    pub error: Option<RefErrorReport>,
    /// `Domain()` of the normalized reference (`docker.io` for `foo`).
    pub domain: Option<String>,
    /// `Path()` of the normalized reference (`library/foo` for `foo`).
    pub path: Option<String>,
    /// The tag as written; no `latest` is added.
    pub tag: Option<String>,
    /// The digest: as written, or `sha256:<hex>` for a bare ID.
    pub digest: Option<String>,
    /// `String()` of the normalized reference, without `latest` added
    /// (`docker.io/library/foo:v1`); for an ID, the digest.
    pub canonical: Option<String>,
    /// `FamiliarString` (`foo:v1`); for an ID, the digest.
    pub familiar: Option<String>,
    /// What a runtime of the style stores when tagging with the input ([`stored`]).
    pub stored: Option<String>,
    /// Why the style refuses to tag with it.
    pub stored_error: Option<RefErrorReport>,
}

/// Reports on `input` for `style`.
///
/// `valid`, `error` and the parsed fields come from distribution/reference's
/// `ParseAnyReference` for every style, so rows for different styles are comparable. That
/// is `ParseNormalizedNamed` except for inputs that are image IDs: a bare 64-hex string, which
/// `ParseNormalizedNamed` refuses, and a digest such as `sha256:<hex>`, which it would read as
/// a Docker Hub repository named `sha256`. Both are reported as valid IDs with only `digest`,
/// `canonical` and `familiar` set (to the digest), as Docker's image commands treat them.
/// Tagging with them is a separate question, answered by `stored`.
pub fn report(input: &str, style: Style) -> RefReport {
    let mut row = RefReport {
        input: input.to_string(),
        valid: false,
        error: None,
        domain: None,
        path: None,
        tag: None,
        digest: None,
        canonical: None,
        familiar: None,
        stored: None,
        stored_error: None,
    };
    match parse_any_reference(input) {
        Ok(AnyReference::Named(r)) => {
            row.valid = true;
            row.domain = Some(r.domain().to_string());
            row.path = Some(r.path().to_string());
            row.tag = r.tag().map(str::to_string);
            row.digest = r.digest().map(str::to_string);
            row.canonical = Some(r.to_string());
            row.familiar = Some(r.familiar_string());
        }
        Ok(AnyReference::Digest(d)) => {
            row.valid = true;
            row.digest = Some(d.clone());
            row.canonical = Some(d.clone());
            row.familiar = Some(d);
        }
        Err(e) => row.error = Some(RefErrorReport::from(&e)),
    }
    match stored(style, input) {
        Ok(name) => row.stored = Some(name),
        Err(e) => row.stored_error = Some(RefErrorReport::from(&e)),
    }
    row
}

/// The text `harness ref` prints for `reports`: each input, then its parts (or why it is
/// invalid), then what the `style`'s store records.
pub fn render_text(reports: &[RefReport], style: Style) -> String {
    use std::fmt::Write as _;
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "{}", r.input);
        match &r.error {
            None => {
                let _ = writeln!(out, "  valid      yes");
                let _ = writeln!(out, "  domain     {}", dash(&r.domain));
                let _ = writeln!(out, "  path       {}", dash(&r.path));
                let _ = writeln!(out, "  tag        {}", dash(&r.tag));
                let _ = writeln!(out, "  digest     {}", dash(&r.digest));
                let _ = writeln!(out, "  canonical  {}", dash(&r.canonical));
                let _ = writeln!(out, "  familiar   {}", dash(&r.familiar));
            }
            Some(e) => {
                let _ = writeln!(out, "  valid      no: {} ({})", e.message, e.code);
            }
        }
        let _ = match (&r.stored, &r.stored_error) {
            (Some(s), _) => writeln!(out, "  stored     {s}  ({})", style.as_str()),
            (None, Some(e)) => writeln!(
                out,
                "  stored     refused by {}: {} ({})",
                style.as_str(),
                e.message,
                e.code
            ),
            (None, None) => writeln!(out, "  stored     -"),
        };
    }
    out
}

#[cfg(test)]
mod tests {

    /// The text the README shows for `harness ref --style podman bastion.io/foo:local FOO`.
    #[test]
    fn text_matches_the_readme_example() {
        let reports = [
            report("bastion.io/foo:local", Style::Podman),
            report("FOO", Style::Podman),
        ];
        let text = render_text(&reports, Style::Podman);
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("bastion.io/foo:local\n  valid      yes")
            .unwrap();
        let end = start + readme[start..].find("```").unwrap();
        assert_eq!(text, &readme[start..end]);
    }

    use super::*;

    #[test]
    fn reports_the_r4_reference_on_every_style() {
        let docker = report("bastion.io/foo:local", Style::Docker);
        assert!(docker.valid);
        assert_eq!(docker.domain.as_deref(), Some("bastion.io"));
        assert_eq!(docker.path.as_deref(), Some("foo"));
        assert_eq!(docker.canonical.as_deref(), Some("bastion.io/foo:local"));
        assert_eq!(docker.stored.as_deref(), Some("bastion.io/foo:local"));
        let podman = report("foo", Style::Podman);
        assert_eq!(podman.canonical.as_deref(), Some("docker.io/library/foo"));
        assert_eq!(podman.familiar.as_deref(), Some("foo"));
        assert_eq!(podman.stored.as_deref(), Some("localhost/foo:latest"));
    }

    #[test]
    fn a_bare_id_is_a_valid_digest_that_docker_will_not_tag_with() {
        let id = "0d409d33b27e47423b049f7f863faa08655a8c901749c2b25b93ca67d01a470d";
        let row = report(id, Style::Docker);
        assert!(row.valid);
        assert_eq!(row.digest, Some(format!("sha256:{id}")));
        assert_eq!(row.domain, None);
        assert_eq!(row.stored, None);
        assert_eq!(
            row.stored_error.map(|e| e.code),
            Some("hex-identifier".to_string())
        );
    }

    #[test]
    fn serializes_exactly_the_documented_fields() {
        let json = serde_json::to_value(report("foo@@bar", Style::Containerd)).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "input",
                "valid",
                "error",
                "domain",
                "path",
                "tag",
                "digest",
                "canonical",
                "familiar",
                "stored",
                "stored_error"
            ]
        );
        assert_eq!(json["error"]["code"], "invalid-format");
        assert_eq!(json["stored"], "foo@@bar");
    }
}
