//! JUnit XML from a results document (`junit.xml`), written with `quick-junit`.
//!
//! One `<testsuite>` per scenario (in the order the document first names it) and one
//! `<testcase>` per scenario x cell: `name` is the cell's id, `classname` the scenario, so
//! CI viewers show `podman3::docker-host-vfs`, the name nextest and the terminal table use.
//! Each test case carries what the cell ran against as properties (the cell's wish and the
//! versions the daemon reported), its steps in `system-out`, and its duration.
//!
//! Statuses map onto JUnit's four outcomes:
//!
//! | harness | JUnit | text |
//! |---|---|---|
//! | `pass` | success | |
//! | `known` | success (the declared issue reproduced, as declared) | the issues in `system-out` |
//! | `fail` | `<failure type="fail">` | the reasons, then the snapshot diff |
//! | `fixed` | `<failure type="fixed">` | the issues that no longer reproduce |
//! | `skip` | `<skipped>` | the reason |
//! | `error` | `<error type="<error_kind>">` | the message |
//!
//! Nothing here reads a clock: the same document renders the same bytes.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{ran_against, status_lines, step_lines};
use crate::results::{CellResult, ResultsDoc, SnapshotCheck, Status};

/// The name of the `<testsuites>` element.
pub const REPORT_NAME: &str = "harness";

/// `doc` as JUnit XML.
pub fn render(doc: &ResultsDoc) -> String {
    let mut report = Report::new(REPORT_NAME);
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in &doc.results {
        let case = test_case(r);
        match suites.iter_mut().find(|s| s.name.as_str() == r.scenario) {
            Some(suite) => {
                suite.add_test_case(case);
            }
            None => {
                let mut suite = TestSuite::new(r.scenario.as_str());
                suite.add_test_case(case);
                suites.push(suite);
            }
        }
    }
    for suite in &mut suites {
        let ms: u64 = doc
            .results
            .iter()
            .filter(|r| r.scenario == suite.name.as_str())
            .map(|r| r.duration_ms)
            .sum();
        suite.set_time(Duration::from_millis(ms));
    }
    report.add_test_suites(suites);
    report.set_time(Duration::from_millis(
        doc.results.iter().map(|r| r.duration_ms).sum(),
    ));
    report.to_string().expect("a JUnit report serializes")
}

/// The failure text of `r`: every reason (multi-line ones kept whole), then the snapshot diff
/// when the snapshot differs.
pub fn failure_text(r: &CellResult) -> String {
    let mut text = status_lines(&r.status).join("\n");
    if let SnapshotCheck::Mismatch { diff, .. } = &r.snapshot {
        text.push_str("\n\nsnapshot diff (stored -> observed):\n");
        text.push_str(diff);
    }
    text
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn test_case(r: &CellResult) -> TestCase {
    let status = match &r.status {
        Status::Pass | Status::Known { .. } => TestCaseStatus::success(),
        Status::Fail { reasons } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = match reasons.as_slice() {
                [one] => first_line(one).to_string(),
                many => format!(
                    "{} reasons; the first: {}",
                    many.len(),
                    first_line(&many[0])
                ),
            };
            s.set_type("fail")
                .set_message(message)
                .set_description(failure_text(r));
            s
        }
        Status::Fixed { issues } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("fixed")
                .set_message(format!(
                    "known issue no longer reproduces: {}",
                    issues.join(", ")
                ))
                .set_description(failure_text(r));
            s
        }
        Status::Skip { reason } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(first_line(reason))
                .set_description(reason.as_str());
            s
        }
        Status::Error {
            error_kind,
            message,
        } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let kind = serde_json::to_value(error_kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            s.set_type(kind)
                .set_message(first_line(message))
                .set_description(message.as_str());
            s
        }
    };
    let mut case = TestCase::new(r.cell.id.as_str(), status);
    case.set_classname(r.scenario.as_str())
        .set_time(Duration::from_millis(r.duration_ms));
    case.add_properties(properties(r));
    let mut out = vec![
        format!("{} [{}]", r.name(), r.status.word()),
        format!("ran against: {}", ran_against(r)),
    ];
    if let Status::Known { .. } = r.status {
        out.extend(status_lines(&r.status));
    }
    out.extend(step_lines(r).into_iter().map(|l| format!("step {l}")));
    case.set_system_out(out.join("\n") + "\n");
    case
}

/// The cell's wish (`cell.*`) and what it ran against (`runtime.*`), as JUnit properties.
fn properties(r: &CellResult) -> Vec<Property> {
    let mut p = vec![
        Property::new("status", r.status.word()),
        Property::new("cell.runtime", r.cell.runtime.to_string()),
        Property::new("cell.version", r.cell.version.as_str()),
        Property::new("cell.store", r.cell.store.as_str()),
    ];
    if let Some(api) = &r.cell.api {
        p.push(Property::new("cell.api", api.as_str()));
    }
    p.push(Property::new("builder", r.builder.as_str()));
    p.push(Property::new("provider", r.provider.as_str()));
    if let Some(source) = &r.source {
        p.push(Property::new("source", source.as_str()));
    }
    if !r.hermetic {
        p.push(Property::new("hermetic", "false"));
    }
    if let Some(i) = &r.runtime {
        p.push(Property::new("runtime", i.runtime.to_string()));
        p.push(Property::new("runtime.version", i.version.as_str()));
        p.push(Property::new("runtime.api_version", i.api_version.as_str()));
        p.push(Property::new("runtime.store", i.store.as_str()));
        p.push(Property::new("runtime.api", i.api.as_str()));
    }
    p.push(Property::new("snapshot", snapshot_word(&r.snapshot)));
    p
}

fn snapshot_word(s: &SnapshotCheck) -> &'static str {
    match s {
        SnapshotCheck::Matched => "matched",
        SnapshotCheck::Mismatch { .. } => "mismatch",
        SnapshotCheck::Missing { .. } => "missing",
        SnapshotCheck::Updated { .. } => "updated",
        SnapshotCheck::Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/results/example.json");

    fn status_of(case: &TestCase) -> &'static str {
        match &case.status {
            TestCaseStatus::Success { .. } => "success",
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                ..
            } => "failure",
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ..
            } => "error",
            TestCaseStatus::Skipped { .. } => "skipped",
        }
    }

    /// The committed example (one result of every status) renders to XML that parses back
    /// with one test case per result, the counts JUnit readers show, and failure texts that
    /// hold the reasons and the snapshot diff.
    #[test]
    fn the_example_parses_back_with_counts_properties_and_failure_texts() {
        let doc = ResultsDoc::from_json(EXAMPLE).unwrap();
        let xml = render(&doc);
        let back = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(
            back.name.as_ref().map(|n| n.to_string()).as_deref(),
            Some(REPORT_NAME)
        );
        assert_eq!(back.tests, doc.results.len());
        let s = &doc.summary;
        assert_eq!(back.failures, s.fail + s.fixed, "{xml}");
        assert_eq!(back.errors, s.error);
        assert_eq!(back.skipped, s.skip);
        // Suites are the scenarios, in order of first appearance.
        let suites: Vec<&str> = back.test_suites.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(suites, ["podman3", "reference-expand"]);
        let cases: Vec<(&TestSuite, &TestCase)> = back
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter().map(move |c| (s, c)))
            .collect();
        assert_eq!(cases.len(), doc.results.len());
        for r in &doc.results {
            let (_, case) = cases
                .iter()
                .find(|(s, c)| {
                    s.name.as_str() == r.scenario
                        && c.name.as_str() == r.cell.id
                        && c.properties.iter().any(|p| {
                            p.name.as_str() == "status" && p.value.as_str() == r.status.word()
                        })
                })
                .unwrap_or_else(|| panic!("no test case for {} [{}]", r.name(), r.status.word()));
            assert_eq!(
                case.classname.as_ref().map(|c| c.as_str()),
                Some(r.scenario.as_str())
            );
            let want = match r.status {
                Status::Pass | Status::Known { .. } => "success",
                Status::Fail { .. } | Status::Fixed { .. } => "failure",
                Status::Error { .. } => "error",
                Status::Skip { .. } => "skipped",
            };
            assert_eq!(status_of(case), want, "{}", r.name());
            let prop = |name: &str| {
                case.properties
                    .iter()
                    .find(|p| p.name.as_str() == name)
                    .map(|p| p.value.as_str().to_string())
            };
            // The observed versions are properties.
            match &r.runtime {
                Some(i) => {
                    assert_eq!(prop("runtime.version"), Some(i.version.clone()));
                    assert_eq!(prop("runtime.api_version"), Some(i.api_version.clone()));
                    assert_eq!(prop("runtime.store"), Some(i.store.clone()));
                }
                None => assert_eq!(prop("runtime.version"), None),
            }
            assert_eq!(prop("provider"), Some(r.provider.clone()));
            assert_eq!(prop("cell.version"), Some(r.cell.version.clone()));
            if let TestCaseStatus::NonSuccess {
                description, ty, ..
            } = &case.status
            {
                let text = description.as_ref().unwrap().as_str();
                // An error's kind is the failure's type; its message is the text.
                let reasons = match &r.status {
                    Status::Error { message, .. } => vec![message.clone()],
                    other => status_lines(other),
                };
                for reason in reasons {
                    assert!(
                        text.contains(&reason),
                        "{}: {reason:?} not in {text}",
                        r.name()
                    );
                }
                if let SnapshotCheck::Mismatch { diff, .. } = &r.snapshot {
                    assert!(!diff.is_empty());
                    assert!(
                        text.contains(diff.trim_end()),
                        "{}: the diff is missing",
                        r.name()
                    );
                }
                let ty = ty.as_ref().unwrap().as_str();
                match &r.status {
                    Status::Error { .. } => assert_ne!(ty, ""),
                    other => assert_eq!(ty, other.word()),
                }
            }
            if let TestCaseStatus::Skipped { message, .. } = &case.status {
                let Status::Skip { reason } = &r.status else {
                    unreachable!()
                };
                assert_eq!(message.as_ref().unwrap().as_str(), first_line(reason));
            }
            // Every step is listed in system-out.
            let out = case.system_out.as_ref().unwrap().as_str();
            for step in &r.steps {
                assert!(
                    out.contains(&format!("step {}: ", step.id())),
                    "{}: {out}",
                    r.name()
                );
            }
        }
        // The same document renders the same bytes.
        assert_eq!(render(&doc), xml);
    }

    #[test]
    fn an_empty_document_is_an_empty_report() {
        let doc = ResultsDoc::new(Vec::new());
        let back = Report::deserialize_from_str(&render(&doc)).unwrap();
        assert_eq!(back.tests, 0);
        assert!(back.test_suites.is_empty());
    }
}
