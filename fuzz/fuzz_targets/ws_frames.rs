#![no_main]

// The property lives with the regression tests, which replay the inputs it failed on.
#[path = "../../tests/fuzz_support/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ws_frames(data));
