//! The values a key can hold, one variant per Redis type.

use std::collections::VecDeque;

use bytes::Bytes;
use indexmap::{IndexMap, IndexSet};

use super::stream::Stream;
use super::zset::ZSet;

/// Hash maps inside values keep insertion order, as Redis's small (listpack) encodings do, so
/// HGETALL and SMEMBERS of small values answer in the order redis-server does.
pub type Hash = IndexMap<Bytes, Bytes, ahash::RandomState>;
pub type Set = IndexSet<Bytes, ahash::RandomState>;

/// A stored value. Invariant: aggregates are never empty while stored (a command that empties
/// one removes the key, as Redis does).
#[derive(Clone, Debug)]
pub enum Value {
    Str(Bytes),
    List(VecDeque<Bytes>),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    Stream(Box<Stream>),
}

impl Value {
    /// The name `TYPE` answers with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// An estimate of the memory this value holds, for `maxmemory` accounting.
    pub fn approx_size(&self) -> usize {
        const OVERHEAD: usize = 16;
        match self {
            Value::Str(b) => b.len() + OVERHEAD,
            Value::List(l) => l.iter().map(|e| e.len() + OVERHEAD).sum(),
            Value::Hash(h) => h
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2 * OVERHEAD)
                .sum(),
            Value::Set(s) => s.iter().map(|m| m.len() + OVERHEAD).sum(),
            Value::ZSet(z) => z.approx_size(),
            Value::Stream(s) => s.approx_size(),
        }
    }
}
