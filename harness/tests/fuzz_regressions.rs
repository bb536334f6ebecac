//! Replays every input kept under `harness/tests/data/fuzz/<target>/` through the same entry
//! point its `cargo fuzz` target runs (`harness::fuzzing`): the inputs that once crashed a
//! target (kept by `scripts/fuzz`, named `crash-*`, `timeout-*` or `oom-*`), and a few seeds so
//! every target is exercised. A panic (a crash, or a broken property) fails the test, naming the
//! input.

use std::path::Path;

#[test]
fn every_kept_fuzz_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    for name in harness::fuzzing::TARGETS {
        let run = harness::fuzzing::target(name).expect("a listed target");
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{}: no input to replay", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} panics (replay with `cargo fuzz run {name} {}`)",
                input.display(),
                input.display()
            );
        }
    }
}

#[test]
fn the_targets_are_the_fuzz_crates_binaries() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"))
            .unwrap();
    for name in harness::fuzzing::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no target {name}"
        );
    }
    assert!(harness::fuzzing::target("nothing").is_none());
}
