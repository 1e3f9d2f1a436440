//! Upstream replies: frame_len and parse_reply never panic and agree on lengths; encoding is
//! a fixed point and canonical frames re-encode byte for byte (`tests/decode_checks/mod.rs`).
#![no_main]

#[path = "../../tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_reply(data);
});
