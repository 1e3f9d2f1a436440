//! maxmemory: what each key costs, and eviction when the store holds more than the limit.
//!
//! Accounting: every [`Db`](super::Db) keeps the sum of its entries' sizes, measured when a key is
//! stored and re-measured after each command for the keys it touched ([`Touched`]), so the total
//! is known without walking the keyspace. Large collections are measured from a sample of 32
//! elements (an estimate, bounded work per write); the figure is the store's own, independent of
//! the allocator and of RSS.
//!
//! Eviction (`allkeys-lru`): as Redis, sample 5 random keys of every non-empty database into a
//! pool of the 16 least recently used candidates seen, and evict the oldest, until used memory is
//! at most `maxmemory`. Invariants: an evicted key invalidates its WATCHers and, when the store
//! keeps an append-only file, is logged there as a DEL (so a restart does not bring it back);
//! nothing is evicted while a file is being loaded.

use bytes::Bytes;
use rand::Rng;

use super::table::{Spec, DENY_OOM};
use super::{State, Value};
use crate::protocol::Reply;

/// Redis's reply to a command refused for memory (`shared.oomerr`).
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Bytes a fresh store accounts for before any key (Redis's `used_memory_startup` is similar).
pub const BASE_MEMORY: u64 = 900 * 1024;

/// Keys sampled per database per eviction round (Redis's `maxmemory-samples` default).
const SAMPLES: usize = 5;
/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
const POOL: usize = 16;
/// Collections up to this many elements are measured exactly; larger ones from a sample.
const EXACT_UP_TO: usize = 64;
/// Elements measured in a large collection.
const SAMPLED: usize = 32;

/// What happens when used memory passes `maxmemory`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Evict the least recently used keys, any key (the seeds' redis.conf).
    #[default]
    AllKeysLru,
    /// Refuse commands that may grow memory with an OOM error.
    NoEviction,
}

impl Policy {
    /// Parses Redis's policy names (only the two supported).
    pub fn parse(text: &str) -> Option<Policy> {
        match text.to_ascii_lowercase().as_str() {
            "allkeys-lru" => Some(Policy::AllKeysLru),
            "noeviction" => Some(Policy::NoEviction),
            _ => None,
        }
    }

    /// The name as Redis prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::AllKeysLru => "allkeys-lru",
            Policy::NoEviction => "noeviction",
        }
    }
}

/// Estimated bytes of one key with its value: the figure maxmemory counts.
pub fn entry_size(key: &[u8], value: &Value) -> u64 {
    const OVERHEAD: u64 = 16;
    let value_size = match value {
        Value::Str(b) => b.len() as u64 + OVERHEAD,
        Value::List(l) => sampled(l.len(), |i| l[i].len() as u64 + OVERHEAD),
        Value::Hash(h) => sampled(h.len(), |i| {
            h.get_index(i)
                .map_or(0, |(k, v)| (k.len() + v.len()) as u64 + 2 * OVERHEAD)
        }),
        Value::Set(s) => sampled(s.len(), |i| {
            s.get_index(i).map_or(0, |m| m.len() as u64 + OVERHEAD)
        }),
        Value::ZSet(z) if z.len() <= EXACT_UP_TO => z.approx_size() as u64,
        Value::ZSet(z) => {
            let sample: u64 = z
                .iter()
                .take(SAMPLED)
                .map(|(m, _)| m.len() as u64 + 48)
                .sum();
            sample * z.len() as u64 / SAMPLED as u64
        }
        Value::Stream(s) => s.approx_size() as u64,
    };
    key.len() as u64 + value_size + 48
}

/// The sum of `size(i)` over `0..len`: exact when small, else extrapolated from evenly spaced
/// elements.
fn sampled(len: usize, size: impl Fn(usize) -> u64) -> u64 {
    if len <= EXACT_UP_TO {
        return (0..len).map(size).sum();
    }
    let step = len / SAMPLED;
    let sample: u64 = (0..SAMPLED).map(|i| size(i * step)).sum();
    sample * len as u64 / SAMPLED as u64
}

/// Keys a command changed, recorded by `Ctx::touch` so the executor can re-measure them after
/// the command (handlers change values in place). Reuses its buffers: no allocation per key
/// once warm.
#[derive(Default)]
pub struct Touched {
    bytes: Vec<u8>,
    /// (database, end of the key in `bytes`).
    keys: Vec<(usize, usize)>,
}

impl Touched {
    /// Records that `key` in `db` changed.
    pub fn push(&mut self, db: usize, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.keys.push((db, self.bytes.len()));
    }

    /// Re-measures every recorded key in `dbs` and forgets them.
    #[inline]
    pub fn remeasure(&mut self, dbs: &mut [super::Db]) {
        // Most commands change nothing (reads) or measured what they stored.
        if !self.keys.is_empty() {
            self.remeasure_keys(dbs);
        }
    }

    fn remeasure_keys(&mut self, dbs: &mut [super::Db]) {
        let mut start = 0;
        for &(db, end) in &self.keys {
            dbs[db].remeasure(&self.bytes[start..end]);
            start = end;
        }
        self.keys.clear();
        self.bytes.clear();
        if self.bytes.capacity() > 64 * 1024 {
            self.bytes.shrink_to(4096);
        }
    }
}

struct Candidate {
    db: usize,
    key: Bytes,
    lru: u64,
}

/// The eviction pool and counters; lives in the store's state.
#[derive(Default)]
pub struct Evictor {
    /// Sorted by last access, oldest first.
    pool: Vec<Candidate>,
    /// Keys evicted since start (INFO stats `evicted_keys`).
    pub evicted: u64,
}

/// Estimated memory used by the store: the base plus every database's keys.
pub fn used_memory(state: &State) -> u64 {
    BASE_MEMORY + state.dbs.iter().map(|db| db.used_memory()).sum::<u64>()
}

/// Whether `spec` may grow memory: Redis's `denyoom` flag. The store's table flags some
/// families; the others Redis flags are listed here.
pub fn denies_oom(spec: &Spec) -> bool {
    const ALSO: &[&str] = &[
        "hset",
        "hsetnx",
        "hmset",
        "hincrby",
        "hincrbyfloat",
        "zadd",
        "zincrby",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
        "sunionstore",
        "sinterstore",
        "sdiffstore",
        "xadd",
        "setbit",
        "bitfield",
        "bitop",
        "pfadd",
        "pfmerge",
        "geoadd",
        "restore",
        "sort",
    ];
    spec.has(DENY_OOM) || ALSO.contains(&spec.name)
}

/// Evicts keys until used memory is at most `maxmemory`. Returns false when it cannot get there
/// (policy `noeviction`, or no key left); callers then refuse commands that [`denies_oom`].
pub fn free_memory(state: &mut State) -> bool {
    let max = state.config.maxmemory;
    if max == 0 || state.loading {
        return true;
    }
    let mut used = used_memory(state);
    if used <= max {
        return true;
    }
    if state.config.policy == Policy::NoEviction {
        return false;
    }
    let mut rng = rand::thread_rng();
    while used > max {
        let Some((db, key)) = pick(state, &mut rng) else {
            return false;
        };
        state.dbs[db].remove(&key);
        state.watches.touch(db, &key);
        state.evictor.evicted += 1;
        if let Some(journal) = state.journal.as_ref().filter(|j| j.is_aof()) {
            journal.append_in_db(db, &[Bytes::from_static(b"DEL"), key]);
        }
        used = used_memory(state);
    }
    true
}

/// The least recently used key among the pool and fresh samples; None if the store is empty.
fn pick(state: &mut State, rng: &mut impl Rng) -> Option<(usize, Bytes)> {
    for _ in 0..2 {
        fill_pool(state, rng);
        while !state.evictor.pool.is_empty() {
            let c = state.evictor.pool.remove(0);
            // A candidate accessed (or deleted) since it was sampled is no longer one.
            let current = state.dbs[c.db].entry_lru(&c.key);
            if current == Some(c.lru) {
                return Some((c.db, c.key));
            }
        }
    }
    None
}

fn fill_pool(state: &mut State, rng: &mut impl Rng) {
    let State { dbs, evictor, .. } = state;
    for (index, db) in dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
        for _ in 0..SAMPLES {
            let Some((key, entry)) = db.at(rng.gen_range(0..db.len())) else {
                continue;
            };
            let lru = entry.last_access();
            let pool = &mut evictor.pool;
            if pool.len() >= POOL && pool.last().is_some_and(|w| w.lru <= lru) {
                continue;
            }
            if pool.iter().any(|c| c.db == index && c.key == key) {
                continue;
            }
            let at = pool.partition_point(|c| c.lru <= lru);
            pool.insert(
                at,
                Candidate {
                    db: index,
                    key: key.clone(),
                    lru,
                },
            );
            pool.truncate(POOL);
        }
    }
}

/// The error reply for a command refused for memory.
pub fn oom() -> Reply {
    Reply::error(OOM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreConfig};

    #[test]
    fn sizes_of_large_collections_are_estimated_close() {
        let list: std::collections::VecDeque<Bytes> = (0..10_000)
            .map(|i| Bytes::from(format!("{i:08}")))
            .collect();
        let exact: u64 = list.iter().map(|e| e.len() as u64 + 16).sum();
        let estimate = entry_size(b"k", &Value::List(list)) - 49;
        assert!(
            estimate.abs_diff(exact) < exact / 20,
            "{estimate} vs {exact}"
        );
    }

    #[test]
    fn evicts_the_least_recently_used_until_under_the_limit() {
        let store = Store::new(StoreConfig {
            maxmemory: BASE_MEMORY + 100 * 1000,
            ..StoreConfig::default()
        });
        store.with_state(|state| {
            for i in 0..200 {
                let value = Value::Str(Bytes::from(vec![b'x'; 900]));
                state.dbs[0].set(Bytes::from(format!("k{i}")), value, None);
            }
            assert!(used_memory(state) > state.config.maxmemory);
            assert!(free_memory(state));
            assert!(used_memory(state) <= state.config.maxmemory);
            // Each key costs about 968 bytes: about 103 fit.
            let left = state.dbs[0].len() as u64;
            assert!((95..=103).contains(&left), "{left} keys left");
            assert_eq!(state.evictor.evicted, 200 - left);
        });
    }

    #[test]
    fn noeviction_refuses() {
        let store = Store::new(StoreConfig {
            maxmemory: BASE_MEMORY + 1000,
            policy: Policy::NoEviction,
            ..StoreConfig::default()
        });
        store.with_state(|state| {
            let value = Value::Str(Bytes::from(vec![b'x'; 2000]));
            state.dbs[0].set(Bytes::from("k"), value, None);
            assert!(!free_memory(state));
            assert_eq!(state.dbs[0].len(), 1);
        });
    }
}
