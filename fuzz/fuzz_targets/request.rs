//! Client requests: no panic, re-encoding round-trips, chunked parsing agrees with whole
//! parsing (the properties are in `tests/decode_checks/mod.rs`).
#![no_main]

#[path = "../../tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size of the incremental parse; the rest is the input.
    if let Some((&chunk, input)) = data.split_first() {
        checks::check_requests(input, usize::from(chunk % 16) + 1);
    }
});
