//! Read hits and misses by key namespace: how the platform's caches (`cache:flow`, `flow:state`)
//! check their hit rates.
//!
//! A key's namespace is its leading `:`-separated segments, at most two, without the key's last
//! segment (`flow:state:42` -> `flow:state`, `lock:job-7` -> `lock`, `plain` -> `none`).
//! Invariants: at most [`MAX_LABEL_VALUES`] namespaces get their own series; later ones, and
//! names that are long or not UTF-8, count as `other`. Counting a known namespace takes a read
//! lock and allocates nothing.

use std::sync::LazyLock;

use metrics::{Counter, Label};
use parking_lot::RwLock;

use super::names::{self, MAX_LABEL_VALUES, OTHER};

/// Namespaces longer than this count as `other`.
const MAX_NAMESPACE_LEN: usize = 64;
/// The namespace of keys with no `:`.
pub const NONE: &str = "none";

struct Pair {
    hits: Counter,
    misses: Counter,
}

impl Pair {
    fn new(namespace: &str) -> Pair {
        let label = || vec![Label::new("namespace", namespace.to_string())];
        Pair {
            hits: super::counter(&names::READ_HITS, label()),
            misses: super::counter(&names::READ_MISSES, label()),
        }
    }

    fn count(&self, hit: bool) {
        if hit {
            self.hits.increment(1);
        } else {
            self.misses.increment(1);
        }
    }
}

static KNOWN: LazyLock<RwLock<ahash::AHashMap<Box<[u8]>, Pair>>> =
    LazyLock::new(|| RwLock::new(ahash::AHashMap::new()));
static OTHERS: LazyLock<Pair> = LazyLock::new(|| Pair::new(OTHER));

/// The namespace of `key` (see the module doc), as a slice of it.
pub fn namespace(key: &[u8]) -> &[u8] {
    let Some(last) = key.iter().rposition(|b| *b == b':') else {
        return NONE.as_bytes();
    };
    let head = &key[..last];
    match head.iter().position(|b| *b == b':') {
        Some(first) => match head[first + 1..].iter().position(|b| *b == b':') {
            Some(second) => &head[..first + 1 + second],
            None => head,
        },
        None => head,
    }
}

/// Counts a read of `key` that found something (`hit`) or nothing.
pub fn record(key: &[u8], hit: bool) {
    let ns = namespace(key);
    if let Some(pair) = KNOWN.read().get(ns) {
        return pair.count(hit);
    }
    let valid = !ns.is_empty() && ns.len() <= MAX_NAMESPACE_LEN && std::str::from_utf8(ns).is_ok();
    if !valid {
        return OTHERS.count(hit);
    }
    let mut known = KNOWN.write();
    if !known.contains_key(ns) && known.len() >= MAX_LABEL_VALUES {
        drop(known);
        return OTHERS.count(hit);
    }
    known
        .entry(ns.into())
        .or_insert_with(|| Pair::new(std::str::from_utf8(ns).expect("checked")))
        .count(hit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_at_most_two_leading_segments() {
        let ns = |k: &str| String::from_utf8(namespace(k.as_bytes()).to_vec()).unwrap();
        assert_eq!(ns("flow:state:42"), "flow:state");
        assert_eq!(ns("cache:flow:abc:def"), "cache:flow");
        assert_eq!(ns("lock:job-7"), "lock");
        assert_eq!(ns("plain"), "none");
        assert_eq!(ns(":x"), "");
        assert_eq!(ns("a::b"), "a:");
    }
}
