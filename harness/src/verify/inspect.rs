//! [`Inspection`]: what `harness inspect` says about one archive. The reader's facts (an
//! [`ArchiveReport`], which judges nothing), the oracles' [`Finding`]s over those facts, and
//! the name each runtime family would give the archive on load ([`Prediction`]s).
//!
//! This is where facts meet verdicts: `oci::archive` reads, [`check`] judges, and
//! [`predict`] models the loaders, so the reader depends on neither. [`inspect_path`] and
//! [`inspect_archive`] do all three.
//!
//! The JSON document (`harness inspect --format json`, [`Inspection::to_json`]) is stable: the
//! report's fields in their declared order, then `findings`, then `predictions`. The report
//! is flattened into the document rather than nested under a key, because that is the shape
//! the document had when the report still carried its findings; `tests/archives.rs` compares
//! the output with committed examples byte for byte.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::oci::archive::{ArchiveReport, ReadError, read_archive, read_path};
use crate::verify::predict::{ArchiveNaming, Prediction, predict};
use crate::verify::{Finding, Severity, check};

/// One archive, inspected: facts, findings and predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// What the reader found in the archive.
    #[serde(flatten)]
    pub report: ArchiveReport,
    /// What the oracles found, most severe first ([`check`]).
    pub findings: Vec<Finding>,
    /// Each runtime family's predicted load, in [`Family::ALL`](crate::verify::predict::Family::ALL)
    /// order ([`predict`]).
    pub predictions: Vec<Prediction>,
}

impl Inspection {
    /// Runs the oracles and the load predictions over a report.
    pub fn of(report: ArchiveReport) -> Inspection {
        let findings = check(&report);
        let predictions = predict(&ArchiveNaming::of_report(&report));
        Inspection {
            report,
            findings,
            predictions,
        }
    }

    /// At least one finding is an error (`harness inspect` exits 1).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The stable JSON document, pretty-printed (without a trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an inspection serializes")
    }

    /// Writes the JSON document of [`Inspection::to_json`] to `out` as it is serialized, with a
    /// trailing newline: the document is never held in memory whole.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
        serde_json::to_writer_pretty(&mut out, self).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// Reads an archive stream (see [`read_archive`]) and inspects it.
pub fn inspect_archive(reader: impl Read) -> Result<Inspection, ReadError> {
    read_archive(reader).map(Inspection::of)
}

/// Reads an archive file or an OCI layout directory (see [`read_path`]) and inspects it.
pub fn inspect_path(path: &Path) -> Result<Inspection, ReadError> {
    read_path(path).map(Inspection::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::testutil::{
        TestImage, compress, crafted, names, oci_archive, shuffles,
    };
    use crate::oci::archive::{Compression, LayoutKind};
    use crate::verify::FindingCode;

    #[test]
    fn the_streamed_json_is_the_document_plus_a_newline() {
        let (plain, _) = crafted("docker-oci-hybrid");
        let inspection = inspect_archive(plain.as_slice()).unwrap();
        let mut streamed = Vec::new();
        inspection.write_json(&mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            format!("{}\n", inspection.to_json())
        );
    }

    /// The findings are a function of the archive's content, not of how it is stored: whole-
    /// archive compression, member order and a directory instead of a tar change nothing.
    #[test]
    fn findings_do_not_depend_on_how_the_archive_is_stored() {
        let (plain, _) = crafted("docker-oci-hybrid");
        let want = inspect_archive(plain.as_slice()).unwrap();
        assert!(!want.findings.is_empty(), "the hybrid has traits to find");
        for c in [
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let got = inspect_archive(compress(c, &plain).as_slice()).unwrap();
            assert_eq!(got.findings, want.findings, "{c}");
            assert_eq!(got.predictions, want.predictions, "{c}");
        }
        for shuffled in shuffles(&plain) {
            let got = inspect_archive(shuffled.as_slice()).unwrap();
            assert_eq!(got.findings, want.findings, "shuffled");
        }

        let a = oci_archive(&TestImage::one_layer(), names("example.test/app:1", "1"));
        let dir = tempfile::tempdir().unwrap();
        a.write_dir(dir.path());
        let from_dir = inspect_path(dir.path()).unwrap();
        assert_eq!(from_dir.report.layout, LayoutKind::OciLayoutDir);
        let from_tar = inspect_archive(a.tar().as_slice()).unwrap();
        assert_eq!(from_dir.findings, from_tar.findings);
        assert_eq!(
            from_tar.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
            [FindingCode::RefNameTagOnly]
        );
    }

    #[test]
    fn an_error_finding_is_what_has_errors_means() {
        let clean = inspect_archive(
            oci_archive(&TestImage::one_layer(), names("a.test/x:1", "a.test/x:1"))
                .tar()
                .as_slice(),
        )
        .unwrap();
        assert_eq!((clean.findings.len(), clean.has_errors()), (0, false));
        let warned = inspect_archive(
            oci_archive(&TestImage::one_layer(), names("a.test/x:1", "1"))
                .tar()
                .as_slice(),
        )
        .unwrap();
        assert_eq!((warned.findings.len(), warned.has_errors()), (1, false));
        let empty = inspect_archive(&b""[..]).unwrap();
        assert!(empty.has_errors());
    }

    /// The document is the report's fields, then `findings`, then `predictions`.
    #[test]
    fn the_document_flattens_the_report_and_appends_findings_and_predictions() {
        let (bytes, _) = crafted("oci-archive");
        let inspection = inspect_archive(bytes.as_slice()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&inspection.to_json()).unwrap();
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let report = serde_json::to_value(&inspection.report).unwrap();
        let mut want: Vec<&str> = report
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        want.extend(["findings", "predictions"]);
        assert_eq!(keys, want);
        assert_eq!(doc["predictions"].as_array().unwrap().len(), 5);
    }
}
