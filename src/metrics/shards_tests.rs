//! Tests of the shards: sums over threads, shards outliving their threads, the histogram text.
//!
//! The process's shards are shared with every other test of the library, so the tests on them
//! use commands no other test runs (LASTSAVE, TIME) and compare deltas.

use super::*;
use crate::metrics::commands;
use crate::metrics::export::histogram;
use std::sync::Barrier;

fn ok_count(index: usize) -> u64 {
    commands()[index].outcomes[Outcome::Ok as usize]
}

#[test]
fn counts_from_two_threads_are_summed() {
    let index = commands::slot(b"LASTSAVE").index;
    let before = ok_count(index);
    let barrier = Barrier::new(2);
    let addrs: Vec<usize> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..1000 {
                        with(|shard| shard.command(index, Outcome::Ok, None));
                    }
                    let addr = with(|shard| shard as *const Shard as usize);
                    barrier.wait(); // both threads hold their shard at once
                    addr
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_ne!(addrs[0], addrs[1], "each thread writes its own shard");
    assert_eq!(ok_count(index) - before, 2000);
}

#[test]
fn a_thread_that_exits_keeps_its_counts_and_its_shard_is_reused() {
    let index = commands::slot(b"LASTSAVE").index;
    let before = commands()[index].outcomes[Outcome::Error as usize];
    std::thread::spawn(move || {
        for _ in 0..7 {
            with(|shard| shard.command(index, Outcome::Error, None));
        }
    })
    .join()
    .unwrap();
    let after = commands()[index].outcomes[Outcome::Error as usize];
    assert_eq!(after - before, 7, "the exited thread's counts are kept");

    let shards = count();
    for _ in 0..50 {
        std::thread::spawn(move || with(|shard| shard.command(index, Outcome::Refused, None)))
            .join()
            .unwrap();
    }
    // Other tests may start a few threads meanwhile; without reuse this would grow by 50.
    assert!(count() <= shards + 8, "{shards} -> {}", count());
}

#[test]
fn a_released_shard_is_given_to_the_next_acquirer_with_its_counts() {
    let pool = Pool::new();
    let first = pool.acquire();
    first.command(0, Outcome::Ok, Some(Duration::from_micros(30)));
    first.read(3, true);
    pool.release(first);
    let second = pool.acquire();
    assert!(std::ptr::eq(first, second), "the free shard is reused");
    assert!(
        !std::ptr::eq(second, pool.acquire()),
        "held shards are not shared"
    );
    let sums = sum_commands(&pool.shards());
    assert_eq!(sums[0].outcomes, [1, 0, 0]);
    assert_eq!(sums[0].timed(), 1);
    assert_eq!(pool.shards().len(), 2);
}

#[test]
fn latencies_land_in_their_bucket() {
    let pool = Pool::new();
    let shard = pool.acquire();
    for micros in [10, 50, 51, 100, 4_999_999, 5_000_000, 5_000_001] {
        shard.command(1, Outcome::Ok, Some(Duration::from_micros(micros)));
    }
    shard.command(1, Outcome::Refused, None);
    let t = &sum_commands(&[shard])[1];
    assert_eq!(t.outcomes, [7, 0, 1]);
    assert_eq!(t.buckets[0], 2, "<= 50 µs");
    assert_eq!(t.buckets[1], 2, "(50 µs, 100 µs]");
    assert_eq!(t.buckets[LE - 2], 2, "(2.5 s, 5 s]");
    assert_eq!(t.buckets[LE - 1], 1, "+Inf");
    assert_eq!(t.timed(), 7, "refusals have no latency");
    assert_eq!(t.sum_nanos, 15_000_211_000);
}

#[test]
fn the_rendered_histogram_is_cumulative_and_counts_every_command() {
    let pool = Pool::new();
    let shard = pool.acquire();
    let n = 40u64;
    for i in 0..n {
        shard.command(2, Outcome::Ok, Some(Duration::from_micros(i * i * 300)));
    }
    let sums = sum_commands(&[shard]);
    let text = histogram([("get", &sums[2])].into_iter());
    let name = "redis_sidecar_command_duration_seconds";
    assert_eq!(text.matches(&format!("# TYPE {name} histogram")).count(), 1);
    let value = |line: &str| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{command=\"get\"")))
        .map(value)
        .collect();
    assert_eq!(buckets.len(), LE);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{text}");
    assert!(buckets[0] < buckets[LE - 1], "spread over buckets: {text}");
    let count = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}_count{{command=\"get\"}}")))
        .map(value);
    assert_eq!(count, Some(n as f64));
    assert_eq!(buckets[LE - 1], n as f64, "+Inf holds every command");
    assert!(text.contains(&format!(
        "{name}_bucket{{command=\"get\",le=\"0.00005\"}} 1\n"
    )));
    assert!(text.contains(&format!(
        "{name}_bucket{{command=\"get\",le=\"+Inf\"}} {n}\n"
    )));
    let sum: u64 = (0..n).map(|i| i * i * 300).sum();
    let written = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}_sum{{command=\"get\"}}")))
        .map(value);
    assert!(
        written.is_some_and(|s| (s - sum as f64 / 1e6).abs() < 1e-9),
        "{text}"
    );
    assert_eq!(
        histogram(std::iter::empty()),
        "",
        "nothing timed, nothing written"
    );
}

#[test]
fn the_exposition_has_one_histogram_family_and_promtool_accepts_it() {
    let index = commands::slot(b"TIME").index;
    for _ in 0..3 {
        with(|shard| shard.command(index, Outcome::Ok, Some(Duration::from_micros(70))));
    }
    let text = crate::metrics::render();
    let name = "redis_sidecar_command_duration_seconds";
    assert_eq!(
        text.matches(&format!("# TYPE {name} ")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches(&format!("# HELP {name} ")).count(),
        1,
        "{text}"
    );
    assert!(text.contains(&format!("{name}_bucket{{command=\"time\",le=\"0.0001\"}}")));
    assert!(text.contains(r#"redis_sidecar_commands_total{command="time",outcome="ok"}"#));
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: exposition not checked by it");
        return;
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // Exit 1 (and "error while linting") is a parse failure, 3 a lint problem: neither may occur.
    assert!(out.status.success(), "{out:?}\n{text}");
}
