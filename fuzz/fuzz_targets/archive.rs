//! `cargo fuzz run archive`: [`harness::fuzzing::archive`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzzing::archive(data));
