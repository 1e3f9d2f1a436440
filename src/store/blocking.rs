//! Blocked clients (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, ...), served in arrival order.
//!
//! A blocking handler that finds nothing calls [`super::Ctx::block_on`] and returns its timeout
//! reply. The executor parks the command here. When a later command makes a key ready, the
//! executor re-runs the parked commands for that key oldest first, under the same lock, and sends
//! each one's reply down its channel: the first client to block is the first served, as in Redis.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::Client;
use crate::protocol::Reply;

/// What a blocked command waits for.
#[derive(Clone, Debug)]
pub struct BlockSpec {
    /// Keys whose readiness wakes the command.
    pub keys: Vec<Bytes>,
    /// How long to wait; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The arguments to re-run with, when they differ from the original (XREAD's `$` becomes the
    /// last id at the time of blocking).
    pub rerun_args: Option<Vec<Bytes>>,
}

/// A parked command.
pub struct Waiter {
    pub client: Client,
    pub args: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    pub reply_to: oneshot::Sender<Reply>,
}

/// The parked commands, indexed by the keys they wait on.
#[derive(Default)]
pub struct Blocking {
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    ready: VecDeque<(usize, Bytes)>,
    next_id: u64,
}

impl Blocking {
    /// Parks a command; returns its id for [`Blocking::cancel`].
    pub fn park(&mut self, waiter: Waiter) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        for key in &waiter.keys {
            self.by_key
                .entry((waiter.client.db, key.clone()))
                .or_default()
                .push_back(id);
        }
        self.waiters.insert(id, waiter);
        id
    }

    /// Removes a parked command (timed out, or its client left); None if it was already served.
    pub fn cancel(&mut self, id: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        for key in &waiter.keys {
            let slot = (waiter.client.db, key.clone());
            if let Some(queue) = self.by_key.get_mut(&slot) {
                queue.retain(|w| *w != id);
                if queue.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(waiter)
    }

    /// Notes that `key` in `db` may now serve a parked command.
    pub fn key_ready(&mut self, db: usize, key: &[u8]) {
        if !self.by_key.is_empty() && self.by_key.contains_key(&(db, Bytes::copy_from_slice(key))) {
            self.ready.push_back((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Whether some key is ready (cheap: checked after every command).
    #[inline]
    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next ready key, if any.
    pub fn next_ready(&mut self) -> Option<(usize, Bytes)> {
        self.ready.pop_front()
    }

    /// Ids of the commands parked on `key`, oldest first.
    pub fn parked_on(&self, db: usize, key: &Bytes) -> Vec<u64> {
        self.by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn waiter_mut(&mut self, id: u64) -> Option<&mut Waiter> {
        self.waiters.get_mut(&id)
    }

    /// Number of blocked clients (INFO clients).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}
