//! zstd and lz4 on the platform's values: a 100 KB JSON list of flow states (a `flow:state:*`
//! cache) and single flow states of 1 to 4 KB. Prints the stored size of each (header included),
//! then criterion times compression and restoration.
//!
//! Run: `cargo bench --profile dev --bench compression` (the codecs are optimized in the dev
//! profile, see Cargo.toml); figures in benches/RESULTS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_sidecar::policy::compress_codec::{compress, restore, Algorithm};

#[path = "../tests/support/flow_states.rs"]
mod flow_states;
use flow_states::flow_states;

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
