//! `cargo fuzz run matrix`: [`harness::fuzzing::matrix`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzzing::matrix(data));
