//! The platform's typical large value, for compression tests and benchmarks alike: a JSON list
//! of flow states (a `flow:state:*` cache), deterministic so every run sees the same bytes.
//! (benches/compression.rs includes this file by path.)

/// A JSON list of flow states of about `bytes` bytes, like the platform's `flow:state:*` caches.
pub fn flow_states(bytes: usize) -> Vec<u8> {
    let mut out = String::from("[");
    let mut i = 0u64;
    let mut x: u64 = 0x2545F4914F6CDD1D;
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i > 0 {
            out.push(',');
        }
        let states = ["pending", "running", "succeeded", "failed", "retrying"];
        out.push_str(&format!(
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
        ));
        i += 1;
    }
    out.push(']');
    out.into_bytes()
}
