//! Per-command handles: a counter per outcome and a latency histogram for each command name the
//! embedded store knows, plus `other` for every name it does not.
//!
//! Invariants: the set of `command` label values is fixed (the store's table and `other`), so
//! clients cannot grow it; finding a command's handles lowercases into a stack buffer and looks
//! up a table built once (no allocation); each handle is registered on first use, so commands
//! never used add no series to the exposition.

use std::sync::{LazyLock, OnceLock};

use metrics::{Counter, Histogram, Label};

use super::names::{self, OTHER};

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    /// Answered by a policy of the sidecar (refused by the budget, not authenticated, ...).
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

/// The handles of one command name.
pub struct Slot {
    /// The `command` label value (lowercase, from the store's table, or `other`).
    pub name: &'static str,
    /// Whether a reply of this command tells a hit from a miss (see [`READS`]).
    pub read: bool,
    outcomes: [OnceLock<Counter>; 3],
    latency: OnceLock<Histogram>,
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
    fn new(name: &'static str) -> Slot {
        Slot {
            name,
            read: READS.contains(&name),
            outcomes: Default::default(),
            latency: OnceLock::new(),
        }
    }

    /// Counts one command ending with `outcome`.
    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize]
            .get_or_init(|| {
                super::counter(
                    &names::COMMANDS,
                    vec![
                        Label::from_static_parts("command", self.name),
                        Label::from_static_parts("outcome", outcome.as_str()),
                    ],
                )
            })
            .increment(1);
    }

    /// Records one round trip, in seconds.
    pub fn record_latency(&self, seconds: f64) {
        self.latency
            .get_or_init(|| {
                super::histogram(
                    &names::COMMAND_DURATION,
                    vec![Label::from_static_parts("command", self.name)],
                )
            })
            .record(seconds);
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
        slots: names.into_iter().map(Slot::new).collect(),
        index,
        longest,
    }
});

/// The handles for the command named `name` (any ASCII case), or `other`'s.
pub fn slot(name: &[u8]) -> &'static Slot {
    let table = &*TABLE;
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
    &table.slots[found.copied().unwrap_or(other)]
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
