//! zstd and lz4 on the platform's values: a 100 KB JSON list of flow states (a `flow:state:*`
//! cache) and single flow states of 1 to 4 KB. Prints the stored size of each (header included),
//! then criterion times compression and restoration.
//!
//! Then the values hashes and streams hold (`small_values`): what compressing each hash field or
//! stream entry field on its own would save. Kinds, from the seeds' key patterns:
//! - `sse:connections`-style hash fields: one flow state's JSON per field;
//! - `flow:meta:*`-style hash fields: one flow state's own fields, one per hash field;
//! - `flow:events:*` stream entries: `event_type`, `payload` (a flow state's JSON), `timestamp`,
//!   `source`, `correlation_id`, each field compressed on its own.
//!
//! Prints, per kind, the mean value size, the share zstd-1 and lz4 would store (header
//! included) and how many values pass the default 1,024-byte threshold; criterion times one
//! flow-state field.
//!
//! Run: `cargo bench --profile dev --bench compression` (the codecs are optimized in the dev
//! profile, see Cargo.toml); figures in benches/RESULTS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_sidecar::policy::compress_codec::{compress, restore, Algorithm};

#[path = "../tests/support/flow_states.rs"]
mod flow_states;
use flow_states::{flow_state_objects, flow_states};

const CODECS: [(&str, Algorithm, i32); 4] = [
    ("zstd-1", Algorithm::Zstd, 1),
    ("zstd-3", Algorithm::Zstd, 3),
    ("zstd-6", Algorithm::Zstd, 6),
    ("lz4", Algorithm::Lz4, 0),
];

/// How many of each small value are measured.
const SAMPLES: usize = 1000;

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

/// A flow state's top-level fields as a `flow:meta:*` hash holds them: strings unquoted,
/// numbers as text, the nested node as JSON.
fn fields_of(state: &[u8]) -> Vec<Vec<u8>> {
    let serde_json::Value::Object(map) = serde_json::from_slice(state).expect("flow state JSON")
    else {
        unreachable!("a flow state is an object")
    };
    map.into_iter()
        .map(|(_, v)| match v {
            serde_json::Value::String(s) => s.into_bytes(),
            other => other.to_string().into_bytes(),
        })
        .collect()
}

/// A `flow:events:*` entry's field values, as the seeds' publisher writes them.
fn stream_entry(i: usize, payload: &[u8]) -> Vec<Vec<u8>> {
    vec![
        b"state_changed".to_vec(),
        payload.to_vec(),
        format!(
            "2024-05-{:02}T12:{:02}:{:02}.{:06}",
            1 + i % 28,
            i % 60,
            i % 59,
            i * 7919 % 1_000_000
        )
        .into_bytes(),
        b"system".to_vec(),
        format!(
            "{:08x}-4c1e-4b7a-9d2f-{:012x}",
            i * 2_654_435_761 % (1 << 32),
            i * 40_503
        )
        .into_bytes(),
    ]
}

fn small_values(c: &mut Criterion) {
    let states = flow_state_objects(SAMPLES);
    let kinds: [(&str, Vec<Vec<u8>>); 3] = [
        (
            "hash field: one flow state (sse:connections style)",
            states.clone(),
        ),
        (
            "hash field: one field of a flow state (flow:meta style)",
            states.iter().flat_map(|s| fields_of(s)).collect(),
        ),
        (
            "stream entry field (flow:events)",
            states
                .iter()
                .enumerate()
                .flat_map(|(i, s)| stream_entry(i, s))
                .collect(),
        ),
    ];
    println!("| values | count | mean size | zstd-1 stores | lz4 stores | over 1,024 B |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (kind, values) in &kinds {
        let total: usize = values.iter().map(Vec::len).sum();
        let stored = |algorithm, level| -> usize {
            values
                .iter()
                .map(|v| compress(algorithm, level, v).len())
                .sum()
        };
        let (zstd, lz4) = (stored(Algorithm::Zstd, 1), stored(Algorithm::Lz4, 0));
        println!(
            "| {kind} | {} | {:.0} B | {:.1}% | {:.1}% | {} |",
            values.len(),
            total as f64 / values.len() as f64,
            100.0 * zstd as f64 / total as f64,
            100.0 * lz4 as f64 / total as f64,
            values.iter().filter(|v| v.len() > 1024).count()
        );
    }
    let state = &states[0];
    let mut group = c.benchmark_group(format!("flow_state_field_{}", state.len()));
    group.throughput(Throughput::Bytes(state.len() as u64));
    for (name, algorithm, level) in [CODECS[0], CODECS[3]] {
        let stored = compress(algorithm, level, state);
        assert_eq!(restore(&stored).unwrap(), *state);
        group.bench_function(format!("compress/{name}"), |b| {
            b.iter(|| compress(algorithm, level, state))
        });
        group.bench_function(format!("restore/{name}"), |b| b.iter(|| restore(&stored)));
    }
    group.finish();
}

criterion_group!(benches, bench, small_values);
criterion_main!(benches);
