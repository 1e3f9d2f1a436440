//! Command slots: one for each command name the embedded store knows, plus `other` for every
//! name it does not; a slot's index addresses its counts in the shards ([`super::shards`]).
//!
//! Invariants: the set of `command` label values is fixed (the store's table and `other`), so
//! clients cannot grow it; finding a command's slot lowercases into a stack buffer and looks up
//! a table built once (no allocation); slot `i` is at index `i` of [`slots`].

use std::sync::LazyLock;

use super::names::OTHER;

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    /// Refused by a policy of the sidecar: answered with an error in the backend's place (the
    /// budget, not authenticated, ...). Its other answers (AUTH's OK) count as [`Outcome::Ok`].
    Refused,
}

impl Outcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
        }
    }
}

/// One command name.
pub struct Slot {
    /// The `command` label value (lowercase, from the store's table, or `other`).
    pub name: &'static str,
    /// Whether a reply of this command tells a hit from a miss (see [`READS`]).
    pub read: bool,
    /// Its position in [`slots`] (and in each shard's counts).
    pub index: usize,
}

/// Single-key reads whose reply says whether the key held something: a nil, an empty
/// aggregate or a 0 is a miss. (Multi-key reads such as MGET are not classified.)
pub const READS: &[&str] = &[
    "get",
    "getex",
    "getdel",
    "hget",
    "hgetall",
    "hexists",
    "exists",
    "smembers",
    "sismember",
    "scard",
    "zscore",
    "zrange",
    "zcard",
    "lrange",
    "lindex",
    "llen",
    "xrange",
    "xrevrange",
    "xlen",
    "hlen",
    "strlen",
];

impl Slot {
    fn new(index: usize, name: &'static str) -> Slot {
        Slot {
            name,
            read: READS.contains(&name),
            index,
        }
    }
}

struct Table {
    slots: Vec<Slot>,
    index: ahash::AHashMap<&'static [u8], usize>,
    longest: usize,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = crate::store::table::all().map(|s| s.name).collect();
    names.sort_unstable();
    names.push(OTHER);
    let index = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_bytes(), i))
        .collect();
    let longest = names.iter().map(|n| n.len()).max().unwrap_or(0);
    Table {
        slots: names
            .into_iter()
            .enumerate()
            .map(|(i, n)| Slot::new(i, n))
            .collect(),
        index,
        longest,
    }
});

/// Every slot, by index (`other` last).
pub fn slots() -> &'static [Slot] {
    &TABLE.slots
}

/// The number of slots.
pub fn len() -> usize {
    TABLE.slots.len()
}

/// The last name a thread looked up, as sent, and its slot: clients repeat commands, and a
/// byte comparison is cheaper than lowercasing and hashing (a GET-only run hits it every time).
#[derive(Clone, Copy)]
struct Last {
    len: usize,
    name: [u8; 16],
    index: usize,
}

thread_local! {
    static LAST: std::cell::Cell<Option<Last>> = const { std::cell::Cell::new(None) };
}

/// The slot of the command named `name` (any ASCII case), or `other`'s.
pub fn slot(name: &[u8]) -> &'static Slot {
    let table = &*TABLE;
    let last = LAST.try_with(|l| l.get()).ok().flatten();
    if let Some(last) = last.filter(|l| l.name.get(..l.len) == Some(name)) {
        return &table.slots[last.index];
    }
    let found = lookup(table, name);
    if name.len() <= 16 {
        let mut saved = [0u8; 16];
        saved[..name.len()].copy_from_slice(name);
        let _ = LAST.try_with(|l| {
            l.set(Some(Last {
                len: name.len(),
                name: saved,
                index: found,
            }))
        });
    }
    &table.slots[found]
}

/// The index of `name`'s slot in `table` (`other`'s if it has none).
fn lookup(table: &Table, name: &[u8]) -> usize {
    let mut lower = [0u8; 32];
    let found = (name.len() <= table.longest.min(lower.len()))
        .then(|| {
            let lower = &mut lower[..name.len()];
            for (dst, src) in lower.iter_mut().zip(name) {
                *dst = src.to_ascii_lowercase();
            }
            table.index.get(&lower[..])
        })
        .flatten();
    let other = table.slots.len() - 1;
    found.copied().unwrap_or(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_map_to_themselves_and_the_rest_to_other() {
        assert_eq!(slot(b"GeT").name, "get");
        assert_eq!(slot(b"xadd").name, "xadd");
        assert_eq!(slot(b"nosuchcommand").name, "other");
        assert_eq!(slot(&[b'g'; 200]).name, "other");
        assert_eq!(slot(b"\xff\xfe").name, "other");
        assert!(slot(b"GET").read && slot(b"hgetall").read && !slot(b"SET").read);
        for (i, s) in slots().iter().enumerate() {
            assert_eq!(s.index, i);
            assert_eq!(slot(s.name.as_bytes()).index, i);
        }
        assert_eq!(slot(b"nosuchcommand").index, len() - 1);
    }

    #[test]
    fn the_last_name_cache_never_answers_for_another_name() {
        for name in [
            "GET", "get", "SET", "GET", "GETEX", "GET", "nosuch", "GET", "zadd",
        ] {
            let expected = match name {
                "nosuch" => "other".to_string(),
                known => known.to_ascii_lowercase(),
            };
            assert_eq!(slot(name.as_bytes()).name, expected.as_str(), "{name}");
            assert_eq!(
                slot(name.as_bytes()).name,
                expected.as_str(),
                "{name}, again"
            );
        }
    }

    #[test]
    fn every_read_is_a_known_command() {
        for name in READS {
            assert_eq!(
                slot(name.as_bytes()).name,
                *name,
                "{name} is not in the table"
            );
        }
    }
}
