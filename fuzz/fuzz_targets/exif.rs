//! Fuzz target `exif`: see `exif` in core/tests/support/fuzz_checks.rs (shared with the replay test).
#![no_main]

#[path = "../../core/tests/support/fuzz_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::exif(data);
});
