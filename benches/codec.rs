//! Decoding and encoding a pipelined batch of 1,000 mixed commands, as the sidecar's hot path
//! does it: parse every request of a read, encode every reply of the batch.
//!
//! Run: `cargo bench --bench codec`

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redis_sidecar::command::encode_args;
use redis_sidecar::protocol::{frame_len, Limits, Protocol, Reply, RequestParser};

/// 1,000 commands shaped like the platform's traffic: cache reads and writes, stream appends,
/// hash updates, rate-limiter sorted sets, lock acquisition.
fn mixed_batch() -> BytesMut {
    let mut out = BytesMut::new();
    let json = br#"{"status":"running","step":3,"updated_at":"2026-11-23T10:00:00Z"}"#;
    for i in 0..1000 {
        let id = format!("{i:08}");
        match i % 5 {
            0 => encode_args(
                &[&b"GET"[..], format!("flow:state:{id}").as_bytes()],
                &mut out,
            ),
            1 => encode_args(
                &[
                    &b"SET"[..],
                    format!("flow:state:{id}").as_bytes(),
                    json,
                    b"EX",
                    b"3600",
                ],
                &mut out,
            ),
            2 => encode_args(
                &[
                    &b"XADD"[..],
                    format!("flow:events:{id}").as_bytes(),
                    b"MAXLEN",
                    b"~",
                    b"1000",
                    b"*",
                    b"type",
                    b"step",
                    b"data",
                    json,
                ],
                &mut out,
            ),
            3 => encode_args(
                &[&b"HSET"[..], b"sse:connections", id.as_bytes(), b"1"],
                &mut out,
            ),
            _ => encode_args(
                &[
                    &b"ZADD"[..],
                    format!("rate_limit:{id}").as_bytes(),
                    b"1732356000000",
                    id.as_bytes(),
                ],
                &mut out,
            ),
        }
    }
    out
}

fn replies() -> Vec<Reply> {
    let json =
        Bytes::from_static(br#"{"status":"running","step":3,"updated_at":"2026-11-23T10:00:00Z"}"#);
    (0..1000)
        .map(|i| match i % 5 {
            0 => Reply::Bulk(json.clone()),
            1 => Reply::ok(),
            2 => Reply::bulk("1732356000000-0"),
            3 => Reply::Int(1),
            _ => Reply::Array(vec![Reply::bulk("a"), Reply::Double(1.5), Reply::Nil]),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let input = mixed_batch();
    let mut group = c.benchmark_group("batch_of_1000");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("decode_requests", |b| {
        let mut parser = RequestParser::default();
        let limits = Limits::default();
        b.iter_batched(
            || input.clone(),
            |mut buf| {
                let mut n = 0;
                while let Some(cmd) = parser.next(&mut buf, &limits).unwrap() {
                    n += cmd.args.len();
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    let replies = replies();
    for (name, proto) in [
        ("encode_replies_resp2", Protocol::Resp2),
        ("encode_replies_resp3", Protocol::Resp3),
    ] {
        group.bench_function(name, |b| {
            let mut out = BytesMut::with_capacity(128 * 1024);
            b.iter(|| {
                out.clear();
                for r in &replies {
                    r.encode(proto, &mut out);
                }
                out.len()
            })
        });
    }
    let mut encoded = BytesMut::new();
    for r in &replies {
        r.encode(Protocol::Resp2, &mut encoded);
    }
    group.bench_function("frame_upstream_replies", |b| {
        b.iter(|| {
            let mut rest = &encoded[..];
            let mut n = 0;
            while let Some(len) = frame_len(rest, 64).unwrap() {
                rest = &rest[len..];
                n += 1;
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
