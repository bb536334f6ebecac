//! `cargo fuzz run reference`: [`harness::fuzzing::reference`] on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzzing::reference(data));
