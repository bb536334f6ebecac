//! `cargo fuzz run scenario`: [`harness::fuzzing::scenario`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzzing::scenario(data));
