//! Pub/sub state: who is subscribed to which channel, pattern and shard channel, and message
//! delivery. The commands are in [`super::pubsub_cmds`].
//!
//! Subscriptions are keyed by client id here, never stored in [`super::Client`] (which is
//! cloned into blocked waiters); the client only carries its total count, for the executor's
//! RESP2 subscribed mode.
//!
//! Delivery is `try_send` on the subscriber's bounded push queue: a subscriber whose queue is
//! full is a slow reader, and the message is dropped for it and counted in
//! [`PubSub::dropped`] (Redis would buffer up to its output-buffer limit and then disconnect it;
//! disconnecting slow readers is the connection layer's job).

use std::collections::HashMap;

use bytes::Bytes;
use indexmap::{IndexMap, IndexSet};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::glob;
use super::registry::Registry;
use crate::protocol::Reply;

pub(super) use super::pubsub_cmds::COMMANDS;

/// A client's push queue, if it has one (connections do; internal clients may not).
pub type PushTx = Option<mpsc::Sender<Reply>>;

/// The three subscription namespaces of Redis 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

struct Subscriber {
    id: u64,
    tx: PushTx,
}

/// What one client is subscribed to, in subscription order.
#[derive(Default)]
struct ClientSubs {
    channels: IndexSet<Bytes>,
    patterns: IndexSet<Bytes>,
    shard: IndexSet<Bytes>,
}

impl ClientSubs {
    fn set(&mut self, kind: Kind) -> &mut IndexSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

/// Subscriptions of every client, by channel, pattern and shard channel; plus the registry of
/// live clients (see [`Registry`]), which shares this per-client slot of the store's state.
///
/// Invariant: `(client, name)` is in `by_client[client].<kind>` exactly when a subscriber with
/// that client id is in the `<kind>` map under `name`; no map holds an empty subscriber list.
#[derive(Default)]
pub struct PubSub {
    channels: HashMap<Bytes, Vec<Subscriber>>,
    patterns: IndexMap<Bytes, Vec<Subscriber>>,
    shard: HashMap<Bytes, Vec<Subscriber>>,
    by_client: HashMap<u64, ClientSubs>,
    /// Messages dropped because the subscriber's push queue was full (slow readers).
    pub dropped: u64,
    /// Live clients and server statistics, for CLIENT LIST and INFO.
    pub clients: Registry,
}

impl PubSub {
    fn map(&mut self, kind: Kind) -> &mut dyn SubscriberMap {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Subscribes client `id` to `name`; false if it already was.
    pub fn subscribe(&mut self, kind: Kind, id: u64, tx: &PushTx, name: Bytes) -> bool {
        if !self
            .by_client
            .entry(id)
            .or_default()
            .set(kind)
            .insert(name.clone())
        {
            return false;
        }
        self.map(kind)
            .list(name)
            .push(Subscriber { id, tx: tx.clone() });
        true
    }

    /// Unsubscribes client `id` from `name`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, kind: Kind, id: u64, name: &[u8]) -> bool {
        let Some(subs) = self.by_client.get_mut(&id) else {
            return false;
        };
        if !subs.set(kind).shift_remove(name) {
            return false;
        }
        if subs.is_empty() {
            self.by_client.remove(&id);
        }
        self.map(kind).remove(id, name);
        true
    }

    /// What client `id` is subscribed to in `kind`, in subscription order.
    pub fn subscribed(&mut self, kind: Kind, id: u64) -> Vec<Bytes> {
        self.by_client
            .get_mut(&id)
            .map(|s| s.set(kind).iter().cloned().collect())
            .unwrap_or_default()
    }

    /// (channels, patterns, shard channels) client `id` is subscribed to.
    pub fn counts(&self, id: u64) -> (usize, usize, usize) {
        self.by_client.get(&id).map_or((0, 0, 0), |s| {
            (s.channels.len(), s.patterns.len(), s.shard.len())
        })
    }

    /// The count a (un)subscribe confirmation carries: channels + patterns, or shard channels.
    pub fn confirmation_count(&self, kind: Kind, id: u64) -> usize {
        let (c, p, s) = self.counts(id);
        match kind {
            Kind::Shard => s,
            _ => c + p,
        }
    }

    /// Drops every subscription of client `id` without confirmations (RESET).
    pub fn unsubscribe_all(&mut self, id: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.subscribed(kind, id) {
                self.unsubscribe(kind, id, &name);
            }
        }
    }

    /// Drops every subscription of client `id` and forgets the client (it disconnected).
    pub fn remove_client(&mut self, id: u64) {
        self.unsubscribe_all(id);
        self.clients.remove(id);
    }

    /// Publishes `payload` on `channel` (a plain or a shard channel): `message`/`smessage` to
    /// its subscribers, then `pmessage` to every matching pattern's subscribers (plain channels
    /// only). Messages for client `local` are appended to `out` instead of being queued, so the
    /// caller can write them before its reply as Redis does. Returns the number of receivers.
    pub fn publish(
        &mut self,
        shard: bool,
        channel: &Bytes,
        payload: &Bytes,
        local: Option<u64>,
        out: &mut Vec<Reply>,
    ) -> usize {
        let mut receivers = 0;
        let mut dropped = 0;
        let (kind, subs) = if shard {
            ("smessage", self.shard.get(channel))
        } else {
            ("message", self.channels.get(channel))
        };
        for sub in subs.into_iter().flatten() {
            let msg = Reply::Push(vec![
                Reply::bulk(kind),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ]);
            dropped += deliver(sub, msg, local, out);
            receivers += 1;
        }
        if !shard {
            for (pattern, subs) in &self.patterns {
                if !glob::matches(pattern, channel) {
                    continue;
                }
                for sub in subs {
                    let msg = Reply::Push(vec![
                        Reply::bulk("pmessage"),
                        Reply::Bulk(pattern.clone()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(payload.clone()),
                    ]);
                    dropped += deliver(sub, msg, local, out);
                    receivers += 1;
                }
            }
        }
        self.dropped += dropped;
        receivers
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern` if given.
    pub fn active(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = if shard { &self.shard } else { &self.channels };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c)))
            .cloned()
            .collect()
    }

    /// Subscribers of `channel` (or shard channel), patterns excluded.
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard { &self.shard } else { &self.channels };
        map.get(channel).map_or(0, Vec::len)
    }

    /// Distinct patterns with at least one subscriber.
    pub fn numpat(&self) -> usize {
        self.patterns.len()
    }

    /// Distinct plain channels with at least one subscriber.
    pub fn numchannels(&self) -> usize {
        self.channels.len()
    }

    /// Distinct shard channels with at least one subscriber.
    pub fn numshard(&self) -> usize {
        self.shard.len()
    }
}

/// Sends `msg` to `sub` (or into `out` when `sub` is the `local` client); 1 if it was dropped.
fn deliver(sub: &Subscriber, msg: Reply, local: Option<u64>, out: &mut Vec<Reply>) -> u64 {
    if local == Some(sub.id) {
        out.push(msg);
        return 0;
    }
    match &sub.tx {
        Some(tx) => match tx.try_send(msg) {
            Err(TrySendError::Full(_)) => 1,
            // Closed: the client is leaving; its subscriptions go when it is removed.
            Err(TrySendError::Closed(_)) | Ok(()) => 0,
        },
        None => 0,
    }
}

/// The channel and pattern maps, seen alike.
trait SubscriberMap {
    fn list(&mut self, name: Bytes) -> &mut Vec<Subscriber>;
    fn remove(&mut self, id: u64, name: &[u8]);
}

impl SubscriberMap for HashMap<Bytes, Vec<Subscriber>> {
    fn list(&mut self, name: Bytes) -> &mut Vec<Subscriber> {
        self.entry(name).or_default()
    }

    fn remove(&mut self, id: u64, name: &[u8]) {
        if let Some(subs) = self.get_mut(name) {
            subs.retain(|s| s.id != id);
            if subs.is_empty() {
                HashMap::remove(self, name);
            }
        }
    }
}

impl SubscriberMap for IndexMap<Bytes, Vec<Subscriber>> {
    fn list(&mut self, name: Bytes) -> &mut Vec<Subscriber> {
        self.entry(name).or_default()
    }

    fn remove(&mut self, id: u64, name: &[u8]) {
        if let Some(subs) = self.get_mut(name) {
            subs.retain(|s| s.id != id);
            if subs.is_empty() {
                self.shift_remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn subscribe_and_unsubscribe_keep_both_sides_consistent() {
        let mut ps = PubSub::default();
        assert!(ps.subscribe(Kind::Channel, 1, &None, b("a")));
        assert!(!ps.subscribe(Kind::Channel, 1, &None, b("a")));
        assert!(ps.subscribe(Kind::Pattern, 1, &None, b("a*")));
        assert!(ps.subscribe(Kind::Shard, 1, &None, b("s")));
        assert_eq!(ps.counts(1), (1, 1, 1));
        assert_eq!(ps.confirmation_count(Kind::Channel, 1), 2);
        assert_eq!(ps.confirmation_count(Kind::Shard, 1), 1);
        assert!(ps.unsubscribe(Kind::Channel, 1, b"a"));
        assert!(!ps.unsubscribe(Kind::Channel, 1, b"a"));
        assert_eq!(ps.numchannels(), 0);
        ps.remove_client(1);
        assert_eq!(ps.counts(1), (0, 0, 0));
        assert_eq!(ps.numpat(), 0);
        assert_eq!(ps.numshard(), 0);
        assert!(ps.by_client.is_empty());
    }

    #[test]
    fn publish_reaches_channels_then_patterns_and_drops_for_full_queues() {
        let mut ps = PubSub::default();
        let (tx, mut rx) = mpsc::channel(1);
        let tx = Some(tx);
        ps.subscribe(Kind::Channel, 1, &tx, b("news"));
        ps.subscribe(Kind::Pattern, 1, &tx, b("n*"));
        ps.subscribe(Kind::Pattern, 2, &None, b("x*"));
        let mut local = Vec::new();
        assert_eq!(ps.publish(false, &b("news"), &b("hi"), None, &mut local), 2);
        assert_eq!(ps.dropped, 1, "queue of 1: the pmessage is dropped");
        let first = rx.try_recv().unwrap();
        assert_eq!(
            first,
            Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk("news"),
                Reply::bulk("hi")
            ])
        );
        assert_eq!(
            ps.publish(false, &b("news"), &b("x"), Some(1), &mut local),
            2
        );
        assert_eq!(
            local.len(),
            2,
            "the publisher's own messages come back to it"
        );
        assert_eq!(ps.publish(true, &b("news"), &b("x"), None, &mut local), 0);
    }
}
