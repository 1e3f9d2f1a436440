//! Consumer groups: their pending entries lists (PEL), consumers, and the reads that deliver
//! entries to a consumer (XREADGROUP's new entries and history).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::stream::{entry_reply, Stream, StreamId};
use crate::protocol::Reply;

/// Redis's `SCG_INVALID_ENTRIES_READ`: the group's read counter is unknown.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A delivered, not yet acknowledged entry. Invariant: `consumer` names a consumer of the same
/// group whose `pel` holds this entry's id.
#[derive(Clone, Debug)]
pub struct Nack {
    pub consumer: Bytes,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer: when it was last served, and the ids pending for it.
#[derive(Clone, Debug)]
pub struct Consumer {
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group. Invariant: the union of its consumers' `pel`s is exactly the keys of
/// `pel`, each id in one consumer's; consumers are ordered by name as Redis's radix tree.
#[derive(Clone, Debug)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical count of entries read, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// A group with no consumers, delivering after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates the consumer `name` if missing; true if it did.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        let consumer = Consumer {
            seen_time: now,
            pel: BTreeSet::new(),
        };
        self.consumers
            .insert(Bytes::copy_from_slice(name), consumer);
        true
    }

    /// Removes a consumer and its pending entries; returns how many it had pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> usize {
        let Some(consumer) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        consumer.pel.len()
    }

    /// Acknowledges `id`; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(consumer) = self.consumers.get_mut(&nack.consumer) {
            consumer.pel.remove(&id);
        }
        true
    }

    /// Makes `id` pending for `consumer` (which must exist), creating the NACK or moving it from
    /// its previous owner; sets its delivery time and count as XREADGROUP does.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64) {
        let name = self.own(id, consumer);
        let nack = Nack {
            consumer: name,
            delivery_time: now,
            delivery_count: 1,
        };
        self.pel.insert(id, nack);
    }

    /// Moves (or puts) `id` into `consumer`'s PEL and returns the consumer's stored name; the
    /// group PEL entry is the caller's to update.
    pub fn own(&mut self, id: StreamId, consumer: &[u8]) -> Bytes {
        if let Some(old) = self.pel.get(&id).map(|n| n.consumer.clone()) {
            if let Some(prev) = self.consumers.get_mut(&old) {
                prev.pel.remove(&id);
            }
        }
        match self.consumers.get_key_value(consumer) {
            Some((name, _)) => {
                let name = name.clone();
                if let Some(c) = self.consumers.get_mut(&name) {
                    c.pel.insert(id);
                }
                name
            }
            None => Bytes::copy_from_slice(consumer),
        }
    }

    /// The group's lag (entries not yet delivered), None when it cannot be known.
    pub fn lag(&self, s: &Stream) -> Option<i64> {
        if s.entries_added == 0 {
            return Some(0);
        }
        if self.entries_read != INVALID_ENTRIES_READ
            && !s.range_has_tombstones(Some(self.last_id), None)
        {
            return Some(s.entries_added as i64 - self.entries_read);
        }
        match s.estimate_distance(self.last_id) {
            INVALID_ENTRIES_READ => None,
            read => Some(s.entries_added as i64 - read),
        }
    }
}

/// XREADGROUP `>`: up to `count` (0: all) entries after the group's last delivered id, each
/// made pending for `consumer` unless `noack`. The group and consumer must exist.
pub fn read_new(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    count: usize,
    noack: bool,
    now: u64,
) -> Vec<Reply> {
    let Some((name, mut g)) = s.groups.remove_entry(group) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(start) = g.last_id.incr() {
        for (id, fields) in s.entries.range(start..) {
            if count != 0 && out.len() >= count {
                break;
            }
            if *id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ
                    && !s.range_has_tombstones(Some(*id), None)
                {
                    g.entries_read += 1;
                } else if s.entries_added != 0 {
                    g.entries_read = s.estimate_distance(*id);
                }
                g.last_id = *id;
            }
            out.push(entry_reply(*id, fields));
            if !noack {
                g.deliver(*id, consumer, now);
            }
        }
    }
    s.groups.insert(name, g);
    out
}

/// XREADGROUP with an id: the consumer's pending entries after `start` (inclusive), up to
/// `count` (0: all); deleted entries show as `[id, nil]`. Each served one counts a delivery.
pub fn read_history(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: usize,
    now: u64,
) -> Vec<Reply> {
    let Some(g) = s.groups.get_mut(group) else {
        return Vec::new();
    };
    let Some(c) = g.consumers.get(consumer) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in c.pel.range(start..) {
        if count != 0 && out.len() >= count {
            break;
        }
        match s.entries.get(id) {
            Some(fields) => {
                out.push(entry_reply(*id, fields));
                if let Some(nack) = g.pel.get_mut(id) {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            None => out.push(Reply::Array(vec![id.reply(), Reply::NilArray])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_moves_entries_between_consumers() {
        let mut g = Group::new(StreamId::MIN, 0);
        let id = StreamId { ms: 1, seq: 0 };
        assert!(g.create_consumer(b"a", 0) && g.create_consumer(b"b", 0));
        assert!(!g.create_consumer(b"a", 5));
        g.deliver(id, b"a", 10);
        g.deliver(id, b"b", 20);
        assert!(g.consumers[&b"a"[..]].pel.is_empty());
        assert_eq!(g.pel[&id].consumer, Bytes::from("b"));
        assert_eq!(g.delete_consumer(b"b"), 1);
        assert!(g.pel.is_empty() && !g.ack(id));
    }
}
