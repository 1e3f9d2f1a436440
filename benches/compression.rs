//! zstd and lz4 on the platform's values: a 100 KB JSON list of flow states (a `flow:state:*`
//! cache) and single flow states of 1 to 4 KB. Prints the stored size of each (header included),
//! then criterion times compression and restoration.
//!
//! Run: `cargo bench --profile dev --bench compression` (the codecs are optimized in the dev
//! profile, see Cargo.toml); figures in benches/RESULTS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_sidecar::policy::compress_codec::{compress, restore, Algorithm};

/// A JSON list of flow states of about `bytes` bytes (the same shape as tests/compression.rs).
fn flow_states(bytes: usize) -> Vec<u8> {
    let mut out = String::from("[");
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let states = ["pending", "running", "succeeded", "failed", "retrying"];
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if out.len() > 1 {
            out.push(',');
        }
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
    }
    out.push(']');
    out.into_bytes()
}

const CODECS: [(&str, Algorithm, i32); 4] = [
    ("zstd-1", Algorithm::Zstd, 1),
    ("zstd-3", Algorithm::Zstd, 3),
    ("zstd-6", Algorithm::Zstd, 6),
    ("lz4", Algorithm::Lz4, 0),
];

fn bench(c: &mut Criterion) {
    for size in [1024, 4096, 100 * 1024] {
        let value = flow_states(size);
        let mut group = c.benchmark_group(format!("flow_states_{}", value.len()));
        group.throughput(Throughput::Bytes(value.len() as u64));
        for (name, algorithm, level) in CODECS {
            let stored = compress(algorithm, level, &value);
            println!(
                "{} bytes with {name}: stored {} bytes ({:.1}% of the original)",
                value.len(),
                stored.len(),
                100.0 * stored.len() as f64 / value.len() as f64
            );
            assert_eq!(restore(&stored).unwrap(), value);
            group.bench_function(format!("compress/{name}"), |b| {
                b.iter(|| compress(algorithm, level, &value))
            });
            group.bench_function(format!("restore/{name}"), |b| b.iter(|| restore(&stored)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
