//! Upstream test tables replayed from `tests/data/reference/`, one data file per Go test
//! table. Each test checks every row and fails once, listing every failing row with its index
//! and input.
//!
//! * [`upstream`]: distribution/reference's `reference_test.go`, `normalize_test.go` and
//!   `regexp_test.go`, the same tables from the containers/image fork, libimage's
//!   `normalize_test.go`, and Go's `path.Match` table.
//! * [`styles`]: the R4 style table, libimage's `TestTag`, moby's tag tests, the dialect
//!   differences, and a no-panic sweep standing in for the fuzz target.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::ReferenceError;

/// The text of a data file.
macro_rules! data {
    ($file:literal) => {
        include_str!(concat!("../../../tests/data/reference/", $file))
    };
}

mod styles;
mod upstream;

#[derive(Deserialize)]
struct Table<T> {
    cases: Vec<T>,
}

/// Loads a data file's rows; `expected` guards against rows silently disappearing.
fn load<T: DeserializeOwned>(json: &str, expected: usize) -> Vec<T> {
    let table: Table<T> = serde_json::from_str(json).expect("data file parses");
    assert_eq!(
        table.cases.len(),
        expected,
        "number of rows in the data file"
    );
    table.cases
}

/// Collects failing rows and reports them all at once.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, row: usize, input: &str, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(format!("row {row} ({input:?}): {}", what()));
        }
    }

    fn assert_none(self, table: &str) {
        assert!(
            self.0.is_empty(),
            "{table}: {} failing rows:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// An expected error: its code and its exact message.
#[derive(Deserialize, Clone, Debug, PartialEq)]
struct ErrSpec {
    code: String,
    message: String,
}

impl ErrSpec {
    fn of(e: &ReferenceError) -> Self {
        Self {
            code: e.kind.code().to_string(),
            message: e.to_string(),
        }
    }
}

fn err_matches(e: &ReferenceError, spec: &ErrSpec) -> bool {
    ErrSpec::of(e) == *spec
}
