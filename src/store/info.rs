//! INFO: Redis's sections and field names, with the values the embedded store knows.
//!
//! Fields Redis reports that have no meaning here (fork, allocator details) are left out;
//! counters the store does not keep (keyspace hits/misses, expired keys) read 0.
//! `used_memory` is the store's own running estimate, the figure maxmemory is enforced against
//! (see [`used_memory`]); `evicted_keys` counts LRU evictions. One field is the
//! sidecar's own: `pubsub_dropped_messages` in Stats, messages dropped for slow subscribers.

use std::fmt::Write as _;

use bytes::Bytes;

use super::db::ReadStats;
use super::server::REDIS_VERSION;
use super::{Ctx, State};
use crate::protocol::Reply;

/// Every section, in the order Redis prints them; `true` if part of the default set.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

use super::evict::BASE_MEMORY;
/// Per-key overhead on top of key and value sizes (dict entry, object header, expiry).
const KEY_OVERHEAD: u64 = 48;

/// Estimated memory of one key and its value, for MEMORY USAGE.
pub fn key_memory(key: &[u8], value: &super::Value) -> u64 {
    key.len() as u64 + value.approx_size() as u64 + KEY_OVERHEAD
}

/// Estimated bytes used by all data: the running total the store keeps for maxmemory (see
/// [`super::evict`]).
pub fn used_memory(state: &State) -> u64 {
    super::evict::used_memory(state)
}

/// Bytes as Redis's `bytesToHuman`: `512B`, `1.50K`, `2.00M`, ...
pub fn human(bytes: u64) -> String {
    let units = [
        (1u64 << 50, 'P'),
        (1 << 40, 'T'),
        (1 << 30, 'G'),
        (1 << 20, 'M'),
        (1 << 10, 'K'),
    ];
    for (size, unit) in units {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

/// CPU seconds (user, system) of this process, from /proc; zeros where unavailable.
fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || {
        fields
            .next()
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    let user = next();
    (user, next())
}

/// Resident memory of the process in bytes, from /proc; 0 where unavailable.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A stable 40-hex-digit id for this process (Redis's run_id / replid).
fn run_id(state: &State) -> String {
    let seed = state.pubsub.clients.started_ms ^ u64::from(std::process::id()).rotate_left(32);
    let mut x = seed | 1;
    let mut id = String::with_capacity(40);
    while id.len() < 40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let _ = write!(id, "{:016x}", x);
    }
    id.truncate(40);
    id
}

fn section(ctx: &mut Ctx, name: &str, out: &mut String) {
    let state = &*ctx.state;
    let reg = &state.pubsub.clients;
    let mut f = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match name {
        "server" => {
            let uptime = reg.started.elapsed().as_secs();
            f("redis_version", &REDIS_VERSION);
            f("redis_git_sha1", &"00000000");
            f("redis_git_dirty", &0);
            f("redis_mode", &"standalone");
            f(
                "os",
                &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            f("arch_bits", &(usize::BITS));
            f("process_id", &std::process::id());
            f("process_supervised", &"no");
            f("run_id", &run_id(state));
            f("server_time_usec", &(ctx.now * 1000));
            f("uptime_in_seconds", &uptime);
            f("uptime_in_days", &(uptime / 86400));
            f("hz", &10);
            f("configured_hz", &10);
            f("config_file", &"");
            f("io_threads_active", &0);
        }
        "clients" => {
            f("connected_clients", &reg.count_with(ctx.client.id));
            f("cluster_connections", &0);
            f("maxclients", &10000);
            f("blocked_clients", &state.blocking.len());
            f("tracking_clients", &0);
            f("clients_in_timeout_table", &0);
        }
        "memory" => {
            let used = used_memory(state);
            let peak = used.max(reg.memory_peak);
            let rss = rss();
            let max = state.config.maxmemory;
            f("used_memory", &used);
            f("used_memory_human", &human(used));
            f("used_memory_rss", &rss);
            f("used_memory_rss_human", &human(rss));
            f("used_memory_peak", &peak);
            f("used_memory_peak_human", &human(peak));
            f("used_memory_startup", &BASE_MEMORY);
            f("used_memory_dataset", &(used - BASE_MEMORY));
            f("maxmemory", &max);
            f("maxmemory_human", &human(max));
            f("maxmemory_policy", &state.config.policy.as_str());
            f("mem_allocator", &"libc");
            ctx.state.pubsub.clients.memory_peak = peak;
        }
        "persistence" => {
            f("loading", &0);
            f("async_loading", &0);
            f(
                "rdb_changes_since_last_save",
                &state.dirty.saturating_sub(reg.dirty_at_save),
            );
            f("rdb_bgsave_in_progress", &0);
            f("rdb_last_save_time", &reg.last_save);
            f("rdb_last_bgsave_status", &"ok");
            let aof = state.journal.as_ref().filter(|j| j.is_aof());
            f("aof_enabled", &u8::from(aof.is_some()));
            f("aof_rewrite_in_progress", &0);
            f("aof_rewrite_scheduled", &0);
            f("aof_last_bgrewrite_status", &"ok");
            f("aof_last_write_status", &"ok");
        }
        "stats" => {
            f("total_connections_received", &reg.connections);
            f("total_commands_processed", &reg.commands);
            f("instantaneous_ops_per_sec", &0);
            f("rejected_connections", &0);
            f("expired_keys", &0);
            f("evicted_keys", &state.evictor.evicted);
            let reads = |count: fn(&ReadStats) -> u64| {
                state.dbs.iter().map(|d| count(&d.reads)).sum::<u64>()
            };
            f("keyspace_hits", &reads(|r| r.hits));
            f("keyspace_misses", &reads(|r| r.misses));
            f("pubsub_channels", &state.pubsub.numchannels());
            f("pubsub_patterns", &state.pubsub.numpat());
            f("pubsubshard_channels", &state.pubsub.numshard());
            f("total_error_replies", &0);
            f("pubsub_dropped_messages", &state.pubsub.dropped);
        }
        "replication" => {
            f("role", &"master");
            f("connected_slaves", &0);
            f("master_failover_state", &"no-failover");
            f("master_replid", &run_id(state));
            f("master_replid2", &"0".repeat(40));
            f("master_repl_offset", &0);
            f("second_repl_offset", &-1);
            f("repl_backlog_active", &0);
            f("repl_backlog_size", &1048576);
            f("repl_backlog_first_byte_offset", &0);
            f("repl_backlog_histlen", &0);
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            f("used_cpu_sys", &format!("{sys:.6}"));
            f("used_cpu_user", &format!("{user:.6}"));
            f("used_cpu_sys_children", &"0.000000");
            f("used_cpu_user_children", &"0.000000");
        }
        "cluster" => f("cluster_enabled", &0),
        "keyspace" => {
            for (i, db) in state
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, db)| !db.is_empty())
            {
                let value = format!("keys={},expires={},avg_ttl=0", db.len(), db.expiring());
                f(&format!("db{i}"), &value);
            }
        }
        _ => {} // modules, commandstats, errorstats, latencystats: nothing tracked
    }
}

/// `INFO [section ...]`: a Verbatim reply (bulk in RESP2) of `# Section` blocks separated by a
/// blank line, in Redis's section order whatever the request order.
pub fn info(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let mut wanted: Vec<bool> = SECTIONS
        .iter()
        .map(|(_, d)| *d && argv.len() == 1)
        .collect();
    for arg in &argv[1..] {
        let arg = arg.to_ascii_lowercase();
        for (i, (name, default)) in SECTIONS.iter().enumerate() {
            wanted[i] |= match &arg[..] {
                b"all" | b"everything" => true,
                b"default" => *default,
                other => other == name.as_bytes(),
            };
        }
    }
    let mut out = String::new();
    for (i, (name, _)) in SECTIONS.iter().enumerate().filter(|(i, _)| wanted[*i]) {
        if i > 0 && !out.is_empty() {
            out.push_str("\r\n");
        }
        let mut title = name.to_string();
        title[..1].make_ascii_uppercase();
        if *name == "cpu" {
            title = "CPU".into();
        }
        let _ = write!(out, "# {title}\r\n");
        section(ctx, name, &mut out);
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_read_like_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(256 * 1024 * 1024), "256.00M");
    }
}
