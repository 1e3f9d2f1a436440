//! Streams: the data (entries by id), their grouping into Redis's listpack nodes, and the
//! stream command table (handlers live in `stream_cmds`, `stream_read`, `stream_group_cmds` and
//! `stream_info`; consumer groups in `stream_groups`).
//!
//! Redis keeps a stream as a radix tree of listpack "nodes" of up to 100 entries or 4096 bytes,
//! and approximate trimming (`MAXLEN ~`) only removes whole nodes. To trim exactly as
//! redis-server does, [`Stream`] keeps a model of those nodes: which ids each one holds and how
//! many bytes its listpack takes.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::stream_groups::Group;
use super::stream_listpack::{lp_entry_size, lp_int_size, lp_str_size, trie_nodes};
use super::table::{Spec, BLOCKING, DENY_OOM, WRITE};
use super::{stream_claim as cl, stream_cmds as c, stream_group_cmds as g};
use super::{stream_info as i, stream_read as r};
use crate::protocol::Reply;

pub use super::stream_id::StreamId;

/// The stream commands.
pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("xadd", -5, WRITE | DENY_OOM, c::xadd),
    Spec::new("xlen", 2, 0, c::xlen),
    Spec::new("xrange", -4, 0, c::xrange),
    Spec::new("xrevrange", -4, 0, c::xrevrange),
    Spec::new("xdel", -3, WRITE, c::xdel),
    Spec::new("xtrim", -4, WRITE, c::xtrim),
    Spec::new("xread", -4, BLOCKING, r::xread),
    Spec::new("xreadgroup", -7, WRITE | BLOCKING, r::xreadgroup),
    Spec::new("xgroup", -2, WRITE | DENY_OOM, g::xgroup),
    Spec::new("xack", -4, WRITE, g::xack),
    Spec::new("xpending", -3, 0, g::xpending),
    Spec::new("xclaim", -6, WRITE, cl::xclaim),
    Spec::new("xautoclaim", -6, WRITE, cl::xautoclaim),
    Spec::new("xinfo", -2, 0, i::xinfo),
];

/// Redis's `stream-node-max-entries` default: entries (live or deleted) per node.
const NODE_MAX_ENTRIES: u32 = 100;
/// Redis's `stream-node-max-bytes` default: a node's listpack size limit.
const NODE_MAX_BYTES: usize = 4096;
/// Bytes of an empty listpack: 6 header bytes and the end marker.
const LP_EMPTY: usize = 7;

/// One listpack node of Redis's stream encoding, keyed in [`Stream::nodes`] by its master id
/// (the id of the first entry added to it). Invariants: it holds every entry whose id is at least
/// its master id and below the next node's; `live + deleted <= NODE_MAX_ENTRIES`; `bytes` is the
/// size Redis's listpack would have (deleted entries keep their bytes).
#[derive(Clone, Debug)]
struct Node {
    master_fields: Vec<Bytes>,
    live: u32,
    deleted: u32,
    bytes: usize,
    last_id: StreamId,
}

/// How to trim: keep at most `MaxLen` entries, or drop the entries below `MinId`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    MaxLen(u64),
    MinId(StreamId),
}

/// A trim request as XADD and XTRIM parse it. `limit` 0 means unlimited.
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    pub strategy: Strategy,
    pub approx: bool,
    pub limit: u64,
}

/// A stream. Invariants: `entries` holds the live entries, every id in it is at most `last_id`;
/// `first_id` is the first live id (0-0 when empty); every live entry lies in exactly one node;
/// `max_deleted_id` is the largest id XDEL removed; `entries_added` counts every XADD ever.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub entries: BTreeMap<StreamId, Vec<(Bytes, Bytes)>>,
    nodes: BTreeMap<StreamId, Node>,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name (Redis keeps them in a radix tree: byte order).
    pub groups: BTreeMap<Bytes, Group>,
    size: usize,
}

fn fields_size(fields: &[(Bytes, Bytes)]) -> usize {
    fields
        .iter()
        .map(|(f, v)| f.len() + v.len() + 32)
        .sum::<usize>()
        + 48
}

impl Stream {
    /// An estimate of the memory the stream holds, for `maxmemory` accounting.
    pub fn approx_size(&self) -> usize {
        64 + self.size
    }

    /// Number of live entries (XLEN).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No live entries (the key may still exist: streams outlive their entries).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The id of the last live entry, or 0-0 (Redis's `streamLastValidID`).
    pub fn last_valid_id(&self) -> StreamId {
        self.entries.keys().next_back().copied().unwrap_or_default()
    }

    /// Appends an entry; the caller has checked `id > last_id`.
    pub fn append(&mut self, id: StreamId, fields: Vec<(Bytes, Bytes)>) {
        let total: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        let tail = self.nodes.iter_mut().next_back().filter(|(_, n)| {
            n.bytes + total < NODE_MAX_BYTES && n.live + n.deleted < NODE_MAX_ENTRIES
        });
        match tail {
            Some((master, node)) => {
                let same = node.master_fields.len() == fields.len()
                    && node
                        .master_fields
                        .iter()
                        .zip(&fields)
                        .all(|(m, (f, _))| m == f);
                node.bytes += lp_entry_size(id, *master, &fields, same);
                node.live += 1;
                node.last_id = id;
            }
            None => {
                let master_fields: Vec<Bytes> = fields.iter().map(|(f, _)| f.clone()).collect();
                let n = master_fields.len() as i64;
                let mut bytes = LP_EMPTY + lp_int_size(1) + 2 * lp_int_size(0) + lp_int_size(n);
                bytes += master_fields.iter().map(|f| lp_str_size(f)).sum::<usize>();
                bytes += lp_entry_size(id, id, &fields, true);
                let node = Node {
                    master_fields,
                    live: 1,
                    deleted: 0,
                    bytes,
                    last_id: id,
                };
                self.nodes.insert(id, node);
            }
        }
        self.size += fields_size(&fields);
        self.entries.insert(id, fields);
        self.entries_added += 1;
        self.last_id = id;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    /// Removes one live entry as XDEL does (without the first-id bookkeeping); false if absent.
    pub fn remove(&mut self, id: StreamId) -> bool {
        let Some(fields) = self.entries.remove(&id) else {
            return false;
        };
        self.size = self.size.saturating_sub(fields_size(&fields));
        if let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() {
            if node.live <= 1 {
                self.nodes.remove(&master);
            } else {
                node.live -= 1;
                node.deleted += 1;
            }
        }
        true
    }

    /// Sets `first_id` to the first live id (0-0 when empty).
    pub fn refresh_first_id(&mut self) {
        self.first_id = self.entries.keys().next().copied().unwrap_or_default();
    }

    /// Trims as Redis's `streamTrim`: whole nodes from the front, then (unless approximate)
    /// entries inside the first node left. Returns how many entries were removed.
    pub fn trim(&mut self, trim: &Trim) -> u64 {
        let mut removed = 0u64;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            let length = self.entries.len() as u64;
            if let Strategy::MaxLen(max) = trim.strategy {
                if length <= max {
                    break;
                }
            }
            let live = node.live as u64;
            if trim.limit != 0 && removed + live > trim.limit {
                break;
            }
            let whole = match trim.strategy {
                Strategy::MaxLen(max) => length - live >= max,
                Strategy::MinId(min) => node.last_id < min,
            };
            let ids: Vec<StreamId> = self
                .entries
                .range(master..=node.last_id)
                .map(|(id, _)| *id)
                .collect();
            if whole {
                self.nodes.remove(&master);
                for id in ids {
                    if let Some(fields) = self.entries.remove(&id) {
                        self.size = self.size.saturating_sub(fields_size(&fields));
                    }
                }
                removed += live;
                continue;
            }
            if trim.approx {
                break;
            }
            let mut in_node = 0u32;
            for id in ids {
                let stop = match trim.strategy {
                    Strategy::MaxLen(max) => self.entries.len() as u64 <= max,
                    Strategy::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if let Some(fields) = self.entries.remove(&id) {
                    self.size = self.size.saturating_sub(fields_size(&fields));
                }
                in_node += 1;
            }
            if let Some(node) = self.nodes.get_mut(&master) {
                node.live -= in_node;
                node.deleted += in_node;
            }
            removed += in_node as u64;
            break;
        }
        if removed > 0 {
            self.refresh_first_id();
        }
        removed
    }

    /// Whether a tombstone (an XDELeted id) may lie in `start..=end` (Redis's
    /// `streamRangeHasTombstones`; `None` bounds are open).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.entries.is_empty() || self.max_deleted_id == StreamId::MIN {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id` (Redis's `streamEstimateDistanceFromFirstEverEntry`):
    /// -1 when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.entries.is_empty() && id <= self.last_id {
            return added;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return -1,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id == StreamId::MIN || self.max_deleted_id < self.first_id {
            let length = self.entries.len() as i64;
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return added - length,
                std::cmp::Ordering::Equal => return added - length + 1,
                std::cmp::Ordering::Greater => {}
            }
        }
        -1
    }

    /// Number of listpack nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Nodes of the radix tree that indexes the listpacks by 128-bit big-endian master id
    /// (XINFO's `radix-tree-nodes`): the size of the compressed trie over those keys.
    pub fn radix_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|id| id.encode()).collect();
        if keys.is_empty() {
            return 1;
        }
        trie_nodes(&keys, 0)
    }
}

/// An entry as replies show it: `[id, [field, value, ...]]`.
pub fn entry_reply(id: StreamId, fields: &[(Bytes, Bytes)]) -> Reply {
    let mut flat = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields {
        flat.push(Reply::Bulk(f.clone()));
        flat.push(Reply::Bulk(v.clone()));
    }
    Reply::Array(vec![id.reply(), Reply::Array(flat)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn fill(n: u64) -> Stream {
        let mut s = Stream::default();
        for i in 1..=n {
            s.append(id(i, 0), vec![("type".into(), "x".into())]);
        }
        s
    }

    #[test]
    fn nodes_hold_one_hundred_small_entries() {
        let s = fill(250);
        assert_eq!(s.node_count(), 3);
        let mut s = s;
        let trim = Trim {
            strategy: Strategy::MaxLen(10),
            approx: true,
            limit: 10000,
        };
        assert_eq!(s.trim(&trim), 200);
        assert_eq!((s.len(), s.first_id), (50, id(201, 0)));
    }

    #[test]
    fn exact_trim_marks_entries_inside_a_node() {
        let mut s = fill(150);
        let trim = Trim {
            strategy: Strategy::MaxLen(10),
            approx: false,
            limit: 0,
        };
        assert_eq!(s.trim(&trim), 140);
        assert_eq!((s.len(), s.node_count()), (10, 1));
        let minid = Trim {
            strategy: Strategy::MinId(id(145, 0)),
            approx: false,
            limit: 0,
        };
        assert_eq!(s.trim(&minid), 4);
        assert_eq!(s.first_id, id(145, 0));
    }

    #[test]
    fn big_entries_split_nodes_by_bytes() {
        let mut s = Stream::default();
        let big = Bytes::from(vec![b'x'; 1000]);
        for i in 1..=10 {
            s.append(id(i, 0), vec![("d".into(), big.clone())]);
        }
        assert_eq!(s.node_count(), 3, "four entries of ~1 KB fill a 4 KB node");
        assert_eq!(s.radix_nodes(), 8, "as redis-server reports");
    }

    #[test]
    fn removing_the_last_live_entry_of_a_node_drops_it() {
        let mut s = fill(3);
        assert!(s.remove(id(2, 0)) && s.remove(id(1, 0)) && s.remove(id(3, 0)));
        assert_eq!((s.node_count(), s.radix_nodes()), (0, 1));
        assert!(!s.remove(id(3, 0)));
    }

    #[test]
    fn radix_node_count_follows_a_compressed_trie() {
        let s = fill(1);
        assert_eq!(s.radix_nodes(), 2);
    }
}
