//! The chain in force, replaceable while connections run (a configuration reload).
//!
//! Invariants:
//! - [`ChainSwap::replace`] publishes a new chain; every [`ChainCache`] sees it at its next
//!   [`ChainCache::refresh`], and no connection is interrupted.
//! - Checking for a new chain costs one atomic load (the generation); the lock is taken, and an
//!   `Arc` cloned, only when the generation changed.
//! - A connection uses one chain for a whole batch: it refreshes between batches, never while
//!   commands it admitted with one chain still wait for a reply rewrite that only that chain's
//!   layers would do. (Reloads never drop a layer that rewrites replies; see [`crate::reload`].)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::Chain;

/// The chain in force; shared by the server (which replaces it) and every connection.
pub struct ChainSwap {
    generation: AtomicU64,
    current: RwLock<Arc<Chain>>,
}

impl ChainSwap {
    /// A swap holding `chain` (generation 0).
    pub fn new(chain: Arc<Chain>) -> Arc<ChainSwap> {
        Arc::new(ChainSwap {
            generation: AtomicU64::new(0),
            current: RwLock::new(chain),
        })
    }

    /// Makes `chain` the one in force; returns the one it replaces.
    pub fn replace(&self, chain: Arc<Chain>) -> Arc<Chain> {
        let old = std::mem::replace(&mut *self.current.write(), chain);
        // Published after the chain: a reader that sees the new generation finds the new chain.
        self.generation.fetch_add(1, Ordering::Release);
        old
    }

    /// The chain in force now.
    pub fn current(&self) -> Arc<Chain> {
        self.current.read().clone()
    }

    /// A cache for one connection.
    pub fn cache(self: &Arc<Self>) -> ChainCache {
        ChainCache {
            swap: self.clone(),
            seen: u64::MAX,
        }
    }
}

/// One connection's view of a [`ChainSwap`]: remembers which generation it holds.
#[derive(Clone)]
pub struct ChainCache {
    swap: Arc<ChainSwap>,
    /// The generation of the chain the connection holds (`u64::MAX`: none loaded yet).
    seen: u64,
}

impl ChainCache {
    /// A cache over a swap that is never replaced (tests, tools).
    pub fn fixed(chain: Arc<Chain>) -> ChainCache {
        ChainSwap::new(chain).cache()
    }

    /// The chain in force now; later [`ChainCache::refresh`] calls compare against it.
    pub fn load(&mut self) -> Arc<Chain> {
        self.seen = self.swap.generation.load(Ordering::Acquire);
        self.swap.current()
    }

    /// Replaces `held` (a chain from [`ChainCache::load`]) if a newer one is in force. One
    /// atomic load when nothing changed.
    #[inline]
    pub fn refresh(&mut self, held: &mut Arc<Chain>) {
        let generation = self.swap.generation.load(Ordering::Acquire);
        if generation != self.seen {
            self.seen = generation;
            *held = self.swap.current();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_sees_a_replacement_at_its_next_refresh() {
        let first = Arc::new(Chain::default());
        let swap = ChainSwap::new(first.clone());
        let mut cache = swap.cache();
        let mut held = cache.load();
        assert!(Arc::ptr_eq(&held, &first));
        cache.refresh(&mut held);
        assert!(Arc::ptr_eq(&held, &first), "nothing replaced");
        let second = Arc::new(Chain::default());
        let old = swap.replace(second.clone());
        assert!(Arc::ptr_eq(&old, &first));
        assert!(Arc::ptr_eq(&held, &first), "held until refreshed");
        cache.refresh(&mut held);
        assert!(Arc::ptr_eq(&held, &second));
        drop(old);
        // The first chain is freed once no connection holds it.
        assert_eq!(Arc::strong_count(&first), 1);
    }
}
