//! Per-thread shards of the per-command counts: each thread writes only its own shard, readers
//! (the `/metrics` scrape, the status page) sum every shard.
//!
//! Invariants: a shard has exactly one writer at a time (the thread holding it), so a write is a
//! relaxed load and store (no read-modify-write, no lock, no allocation) and no cache line is
//! shared between writers. A shard is never freed: when its thread exits it goes back to a free
//! list, counts kept, and the next new thread takes it, so counts are never lost and the number
//! of shards is bounded by the peak number of threads that recorded at once.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;

use super::commands::Outcome;
use super::latency;
use super::names::{LATENCY_BUCKETS, MAX_LABEL_VALUES};

/// Buckets of a command's latency histogram: one per [`LATENCY_BUCKETS`] bound, then `+Inf`.
pub const LE: usize = LATENCY_BUCKETS.len() + 1;
/// Namespace indexes: [`MAX_LABEL_VALUES`] named ones, then `other` (the last).
pub const NAMESPACES: usize = MAX_LABEL_VALUES + 1;

/// The bucket bounds in nanoseconds (a bucket holds the values `<=` its bound).
const BOUNDS_NANOS: [u64; LATENCY_BUCKETS.len()] = {
    let mut out = [0; LATENCY_BUCKETS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = (LATENCY_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    out
};

/// The counts of one command name in one shard.
struct CommandCells {
    /// By [`Outcome`].
    outcomes: [AtomicU64; 3],
    /// Not cumulative: each command in the one bucket its latency falls in.
    buckets: [AtomicU64; LE],
    sum_nanos: AtomicU64,
}

impl CommandCells {
    fn new() -> CommandCells {
        CommandCells {
            outcomes: Default::default(),
            buckets: Default::default(),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// One thread's counts (see the module doc).
#[repr(align(128))]
pub struct Shard {
    /// By command slot index ([`super::commands::Slot::index`]).
    commands: Box<[CommandCells]>,
    /// The status page's log-linear histogram ([`latency::BUCKETS`]).
    status: [AtomicU64; latency::BUCKETS],
    /// Read hits and misses by namespace index.
    namespaces: [[AtomicU64; 2]; NAMESPACES],
}

/// Adds `n` to a cell only its shard's holder writes.
#[inline]
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Shard {
    fn new() -> Shard {
        Shard {
            commands: (0..super::commands::len())
                .map(|_| CommandCells::new())
                .collect(),
            status: [const { AtomicU64::new(0) }; latency::BUCKETS],
            namespaces: [const { [AtomicU64::new(0), AtomicU64::new(0)] }; NAMESPACES],
        }
    }

    /// Counts one command of slot `command` ending with `outcome`, and its latency if it has one
    /// (refused commands have none). An index out of range counts nothing.
    #[inline]
    pub fn command(&self, command: usize, outcome: Outcome, elapsed: Option<Duration>) {
        let Some(cells) = self.commands.get(command) else {
            return;
        };
        bump(&cells.outcomes[outcome as usize], 1);
        if let Some(elapsed) = elapsed {
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            let bucket = BOUNDS_NANOS
                .iter()
                .position(|bound| nanos <= *bound)
                .unwrap_or(LE - 1);
            bump(&cells.buckets[bucket], 1);
            bump(&cells.sum_nanos, nanos);
            bump(&self.status[latency::index(nanos / 1000)], 1);
        }
    }

    /// Counts one read of namespace `index` (clamped to `other`) that found something or not.
    #[inline]
    pub fn read(&self, index: usize, hit: bool) {
        bump(
            &self.namespaces[index.min(NAMESPACES - 1)][usize::from(!hit)],
            1,
        );
    }
}

/// Every shard ever made, and those no thread holds now.
pub struct Pool {
    all: Mutex<Vec<&'static Shard>>,
    free: Mutex<Vec<&'static Shard>>,
}

impl Pool {
    /// An empty pool.
    pub const fn new() -> Pool {
        Pool {
            all: Mutex::new(Vec::new()),
            free: Mutex::new(Vec::new()),
        }
    }

    /// A shard for the caller alone (a free one, counts kept, or a new one) until [`release`].
    ///
    /// [`release`]: Pool::release
    pub fn acquire(&self) -> &'static Shard {
        if let Some(shard) = self.free.lock().pop() {
            return shard;
        }
        let shard: &'static Shard = Box::leak(Box::new(Shard::new()));
        self.all.lock().push(shard);
        shard
    }

    /// Gives back a shard from [`Pool::acquire`]; the caller must not write it afterwards.
    pub fn release(&self, shard: &'static Shard) {
        self.free.lock().push(shard);
    }

    /// Every shard, for summing.
    pub fn shards(&self) -> Vec<&'static Shard> {
        self.all.lock().clone()
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

/// The process's shards.
static POOL: Pool = Pool::new();

/// A thread's hold on its shard; dropping it (at thread exit) frees the shard.
struct Held(&'static Shard);

impl Drop for Held {
    fn drop(&mut self) {
        POOL.release(self.0);
    }
}

thread_local! {
    static LOCAL: Held = Held(POOL.acquire());
}

/// Runs `f` on the calling thread's shard. During thread teardown (the shard already given back)
/// it borrows a free shard for the call instead, so nothing is lost.
#[inline]
pub fn with<R>(f: impl FnOnce(&Shard) -> R) -> R {
    match LOCAL.try_with(|held| held.0) {
        Ok(shard) => f(shard),
        Err(_) => {
            let shard = POOL.acquire();
            let r = f(shard);
            POOL.release(shard);
            r
        }
    }
}

/// The number of shards made so far.
pub fn count() -> usize {
    POOL.all.lock().len()
}

/// One command's counts summed over the shards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandTotals {
    /// By [`Outcome`].
    pub outcomes: [u64; 3],
    /// Not cumulative, one per [`LATENCY_BUCKETS`] bound then `+Inf`.
    pub buckets: [u64; LE],
    pub sum_nanos: u64,
}

impl CommandTotals {
    /// Commands with a recorded latency (every outcome but refused).
    pub fn timed(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

fn sum_commands(shards: &[&Shard]) -> Vec<CommandTotals> {
    let mut out = vec![CommandTotals::default(); super::commands::len()];
    for shard in shards {
        for (total, cells) in out.iter_mut().zip(shard.commands.iter()) {
            for (t, c) in total.outcomes.iter_mut().zip(&cells.outcomes) {
                *t = t.wrapping_add(c.load(Relaxed));
            }
            for (t, c) in total.buckets.iter_mut().zip(&cells.buckets) {
                *t = t.wrapping_add(c.load(Relaxed));
            }
            total.sum_nanos = total.sum_nanos.wrapping_add(cells.sum_nanos.load(Relaxed));
        }
    }
    out
}

/// Every command's counts, by slot index.
pub fn commands() -> Vec<CommandTotals> {
    sum_commands(&POOL.shards())
}

/// Commands counted, by [`Outcome`], over every command name.
pub fn outcomes() -> [u64; 3] {
    let mut out = [0u64; 3];
    for shard in POOL.shards() {
        for cells in shard.commands.iter() {
            for (t, c) in out.iter_mut().zip(&cells.outcomes) {
                *t = t.wrapping_add(c.load(Relaxed));
            }
        }
    }
    out
}

/// The status page's histogram, bucket by bucket.
pub fn status_histogram() -> Vec<u64> {
    let mut out = vec![0u64; latency::BUCKETS];
    for shard in POOL.shards() {
        for (t, c) in out.iter_mut().zip(&shard.status) {
            *t = t.wrapping_add(c.load(Relaxed));
        }
    }
    out
}

/// Read hits and misses (`[hits, misses]`) by namespace index.
pub fn reads() -> Vec<[u64; 2]> {
    let mut out = vec![[0u64; 2]; NAMESPACES];
    for shard in POOL.shards() {
        for (t, c) in out.iter_mut().zip(&shard.namespaces) {
            t[0] = t[0].wrapping_add(c[0].load(Relaxed));
            t[1] = t[1].wrapping_add(c[1].load(Relaxed));
        }
    }
    out
}

#[cfg(test)]
#[path = "shards_tests.rs"]
mod tests;
