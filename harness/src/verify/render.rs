//! [`render_text`]: the `harness inspect --format table` summary of an [`Inspection`].

use std::fmt::Write;

use crate::oci::Digest;
use crate::oci::archive::{ImageReport, LayerReport, ManifestReport};
use crate::verify::Inspection;
use crate::verify::predict::Prediction;

/// A readable summary: layout, images (names per source, digests, platforms, a layers
/// table), findings with their severity, and the predicted load names per runtime family.
pub fn render_text(inspection: &Inspection) -> String {
    let r = &inspection.report;
    let mut s = String::new();
    let tar = r
        .tar_size
        .map(|t| format!(", {t} bytes of tar"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "layout: {} ({}, compression {}, {} bytes{tar}, {} members)",
        r.layout.as_str(),
        match r.input {
            crate::oci::archive::InputKind::Tar => "tar",
            crate::oci::archive::InputKind::Directory => "directory",
        },
        r.compression,
        r.size,
        r.members.len()
    );
    for (n, image) in r.images.iter().enumerate() {
        image_text(&mut s, n, image);
    }
    if r.images.is_empty() {
        let _ = writeln!(s, "no images");
    }
    let findings = &inspection.findings;
    if findings.is_empty() {
        let _ = writeln!(s, "findings: none");
    } else {
        let _ = writeln!(s, "findings: {}", findings.len());
        for f in findings {
            let _ = writeln!(
                s,
                "  {:<7}  {}  {}: {}",
                f.severity.as_str(),
                f.code,
                f.subject,
                f.message
            );
        }
    }
    let _ = writeln!(s, "\npredicted load names:");
    for p in &inspection.predictions {
        prediction_row(&mut s, p);
    }
    escape_controls(&s)
}

/// The text with every control character but the line breaks the renderer itself writes
/// shown as an escape (`\x1b`, `\u{9b}`), as `ls` and `git` quote file names: names and
/// paths come from the archive, and an ESC or OSC sequence in one must not reach the
/// terminal.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push('\n'),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// `  <family>  <names>  [<rule>]`; `error` instead of names when the load is predicted to
/// fail, `(untagged)` when it loads without a name.
fn prediction_row(s: &mut String, p: &Prediction) {
    let what = if p.outcome == "error" {
        "error".to_string()
    } else if p.names.is_empty() {
        "(untagged)".to_string()
    } else {
        p.names.join(", ")
    };
    let _ = writeln!(s, "  {:<18} {what}  [{}]", p.family.as_str(), p.rule);
}

fn image_text(s: &mut String, n: usize, image: &ImageReport) {
    let _ = writeln!(s, "image {}:", n + 1);
    let names = &image.names;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(s, "  manifest.json RepoTags:    {}", list(&names.repo_tags));
    let _ = writeln!(
        s,
        "  io.containerd.image.name:  {}",
        list(&names.image_names)
    );
    let _ = writeln!(s, "  ref.name:                  {}", list(&names.ref_names));
    if let Some(t) = &image.target {
        let missing = if t.blob.is_none() { " (missing)" } else { "" };
        let _ = writeln!(
            s,
            "  target: {} {}{missing}",
            t.media_type.as_deref().unwrap_or("?"),
            t.digest
        );
    }
    if let Some(d) = &image.index_digest {
        let _ = writeln!(s, "  index: {d}");
    }
    for m in &image.manifests {
        manifest_text(s, m);
    }
}

fn manifest_text(s: &mut String, m: &ManifestReport) {
    let platform = m
        .platform
        .as_ref()
        .map_or("?".to_string(), |p| p.to_string());
    let attestation = if m.attestation { ", attestation" } else { "" };
    let missing = if m.digest.is_some() && m.blob.is_none() {
        " (missing)"
    } else {
        ""
    };
    match &m.digest {
        Some(d) => {
            let _ = writeln!(s, "  manifest {d} [{platform}{attestation}]{missing}");
        }
        None => {
            let _ = writeln!(s, "  manifest.json item [{platform}]");
        }
    }
    if let Some(c) = &m.config {
        let missing = if c.blob.is_none() { " (missing)" } else { "" };
        let _ = writeln!(
            s,
            "    config {}{missing}",
            c.digest.as_ref().map_or("?", Digest::as_str)
        );
    }
    if m.layers.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "    {:<3} {:<19} {:<19} {:<11} {:>12} {:>12}  media type",
        "#", "digest", "diff_id", "compression", "size", "uncompressed"
    );
    for (i, l) in m.layers.iter().enumerate() {
        layer_row(s, i, l);
    }
}

fn layer_row(s: &mut String, i: usize, l: &LayerReport) {
    let short = |d: Option<&Digest>| d.map_or("-".to_string(), |d| d.as_str()[..19].to_string());
    let (compression, size, uncompressed) = match &l.blob {
        Some(b) => (
            b.compression.as_str().to_string(),
            b.size.to_string(),
            b.uncompressed_size.map_or("?".into(), |u| u.to_string()),
        ),
        None => ("missing".into(), "-".into(), "-".into()),
    };
    let _ = writeln!(
        s,
        "    {:<3} {:<19} {:<19} {:<11} {:>12} {:>12}  {}",
        i,
        short(l.digest.as_ref()),
        short(l.diff_id.as_ref()),
        compression,
        size,
        uncompressed,
        l.media_type.as_deref().unwrap_or("-")
    );
}

#[cfg(test)]
mod tests {

    /// Issue 13, item 6: names from the archive reached the terminal raw.
    #[test]
    fn control_characters_from_the_archive_are_escaped() {
        assert_eq!(
            escape_controls("name \x1b]0;pwned\x07 \u{9b}31m ok\n"),
            "name \\u{1b}]0;pwned\\u{7} \\u{9b}31m ok\n"
        );
        assert_eq!(
            escape_controls("plain: a.test/x:1\n"),
            "plain: a.test/x:1\n"
        );
    }

    use super::*;
    use crate::oci::archive::testutil::containerd_hybrid;

    #[test]
    fn text_shows_layout_names_platforms_layers_findings_and_predictions() {
        let (a, f) = containerd_hybrid();
        let text = render_text(&Inspection::of(a.read()));
        let index = crate::oci::Digest::sha256(&f.index);
        for want in [
            "layout: containerd-hybrid (tar, compression none, ",
            "image 1:",
            "  manifest.json RepoTags:    example.test/app:1",
            "  io.containerd.image.name:  example.test/app:1",
            "  ref.name:                  1",
            &format!("  index: {index}"),
            &format!("  manifest {} [linux/amd64]", f.amd64.manifest_digest()),
            &format!(
                "  manifest {} [linux/arm64] (missing)",
                f.arm64.manifest_digest()
            ),
            "[unknown/unknown, attestation]",
            &format!("    config {}", f.amd64.config_digest()),
            "    #   digest              diff_id             compression",
            &format!(
                "    0   {} {} gzip",
                &f.amd64.layers[0].digest().as_str()[..19],
                &f.amd64.layers[0].diff_id().as_str()[..19]
            ),
            "findings: 2",
            "  warning  blob-missing  manifest sha256:",
            "  warning  ref-name-tag-only  index.json manifests[0]: ",
            "\npredicted load names:\n  docker-classic     example.test/app:1  [manifest.json RepoTags]\n",
            "  podman-3.4         localhost/1:latest  [",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
