//! Test helpers for the oracles' tests (the archive builders are in `oci::archive::testutil`,
//! which knows nothing of findings).

use std::collections::BTreeSet;

use crate::verify::{Finding, Severity};

/// The (code, severity) pairs of some findings.
pub(crate) fn codes(findings: &[Finding]) -> BTreeSet<(&'static str, Severity)> {
    findings
        .iter()
        .map(|f| (f.code.as_str(), f.severity))
        .collect()
}
