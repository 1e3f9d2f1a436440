//! The platform's typical values, for compression tests and benchmarks alike: a JSON list of flow
//! states (a `flow:state:*` cache) and the single flow states it is made of (what a hash field or
//! a stream entry's `payload` holds), deterministic so every run sees the same bytes.
//! (benches/compression.rs includes this file by path.)

/// A JSON list of flow states of about `bytes` bytes, like the platform's `flow:state:*` caches.
#[allow(dead_code)] // each including crate uses some of these
pub fn flow_states(bytes: usize) -> Vec<u8> {
    let mut out = String::from("[");
    for (i, state) in states().enumerate() {
        if out.len() >= bytes {
            break;
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&state);
    }
    out.push(']');
    out.into_bytes()
}

/// The first `n` flow states of [`flow_states`]' list, one JSON object each.
#[allow(dead_code)]
pub fn flow_state_objects(n: usize) -> Vec<Vec<u8>> {
    states().take(n).map(String::into_bytes).collect()
}

/// Flow states, one JSON object each, from a fixed xorshift sequence.
fn states() -> impl Iterator<Item = String> {
    let mut x: u64 = 0x2545F4914F6CDD1D;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let states = ["pending", "running", "succeeded", "failed", "retrying"];
        format!(
            r#"{{"flow_id":"flow-{:08x}","workspace_id":"ws-{}","state":"{}","step":{},"attempt":{},"updated_at":"2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z","node":{{"id":"node-{}","type":"{}","duration_ms":{}}},"error":null}}"#,
            x as u32,
            x % 17,
            states[(x % 5) as usize],
            x % 40,
            x % 3,
            1 + x % 28,
            x % 24,
            x % 60,
            (x >> 8) % 60,
            x % 1000,
            x % 97,
            ["http", "llm", "code", "branch"][(x % 4) as usize],
            x % 5000
        )
    })
}
