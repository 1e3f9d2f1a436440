//! Read hits and misses by key namespace: how the platform's caches (`cache:flow`, `flow:state`)
//! check their hit rates.
//!
//! A key's namespace is its leading `:`-separated segments, at most two, without the key's last
//! segment (`flow:state:42` -> `flow:state`, `lock:job-7` -> `lock`, `plain` -> `none`).
//! Invariants: at most [`MAX_LABEL_VALUES`] namespaces get their own series; later ones, and
//! names that are long or not UTF-8, count as `other`. A namespace gets an index the first time
//! it is seen (the only time the global registry is write-locked); each thread keeps a small
//! map namespace -> index (at most [`MAX_LABEL_VALUES`] entries), so counting a known namespace
//! takes no lock and allocates nothing; the counts live in the shards ([`super::shards`]) and
//! reach the exported series at scrape time ([`export`]).

use std::cell::RefCell;
use std::sync::{LazyLock, OnceLock};

use metrics::{Counter, Label};
use parking_lot::RwLock;

use super::names::{self, MAX_LABEL_VALUES, OTHER};
use super::shards::{self, NAMESPACES};

/// Namespaces longer than this count as `other`.
const MAX_NAMESPACE_LEN: usize = 64;
/// The namespace of keys with no `:`.
pub const NONE: &str = "none";
/// The index of `other`.
pub const OTHER_INDEX: usize = MAX_LABEL_VALUES;

/// The namespaces with their own series, by index.
#[derive(Default)]
struct Registry {
    index: ahash::AHashMap<Box<[u8]>, usize>,
    names: Vec<Box<str>>,
}

impl Registry {
    fn full(&self) -> bool {
        self.names.len() >= MAX_LABEL_VALUES
    }
}

static KNOWN: LazyLock<RwLock<Registry>> = LazyLock::new(RwLock::default);

/// A thread's copy of part of the registry; `complete` once the registry was full when copied
/// (it never changes after that, so a miss is `other`).
#[derive(Default)]
struct Cache {
    map: ahash::AHashMap<Box<[u8]>, usize>,
    complete: bool,
    /// The last namespace looked up and its index (a run of reads often stays in one); the
    /// buffer is reused, so a change of namespace allocates nothing.
    last: (Vec<u8>, Option<usize>),
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

fn valid(ns: &[u8]) -> bool {
    !ns.is_empty() && ns.len() <= MAX_NAMESPACE_LEN && std::str::from_utf8(ns).is_ok()
}

/// The index of valid namespace `ns` (registering it if there is room), and whether the
/// registry is full.
fn register(ns: &[u8]) -> (usize, bool) {
    {
        let known = KNOWN.read();
        if let Some(i) = known.index.get(ns) {
            return (*i, known.full());
        }
        if known.full() {
            return (OTHER_INDEX, true);
        }
    }
    let mut known = KNOWN.write();
    if let Some(i) = known.index.get(ns) {
        return (*i, known.full());
    }
    if known.full() {
        return (OTHER_INDEX, true);
    }
    let i = known.names.len();
    known
        .names
        .push(std::str::from_utf8(ns).expect("valid").into());
    known.index.insert(ns.into(), i);
    (i, known.full())
}

/// The index of namespace `ns` in the shards (`OTHER_INDEX` for `other`).
pub fn index(ns: &[u8]) -> usize {
    let cached = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        if let (last, Some(i)) = &cache.last {
            if last[..] == *ns {
                return *i;
            }
        }
        if let Some(&i) = cache.map.get(ns) {
            let (last, index) = &mut cache.last;
            last.clear();
            last.extend_from_slice(ns);
            *index = Some(i);
            return i;
        }
        if cache.complete || !valid(ns) {
            return OTHER_INDEX;
        }
        let (i, full) = register(ns);
        if full {
            cache.map = KNOWN.read().index.clone();
            cache.complete = true;
        } else if i != OTHER_INDEX {
            cache.map.insert(ns.into(), i);
        }
        i
    });
    // During thread teardown (no cache any more): ask the registry.
    cached.unwrap_or_else(|_| match valid(ns) {
        true => register(ns).0,
        false => OTHER_INDEX,
    })
}

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
    let i = index(namespace(key));
    shards::with(|shard| shard.read(i, hit));
}

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
}

/// The exported series, by index, registered once the namespace was read.
static SERIES: [OnceLock<Pair>; NAMESPACES] = [const { OnceLock::new() }; NAMESPACES];

/// Copies the shards' counts into the exported series (called before each render).
pub(super) fn export() {
    let reads = shards::reads();
    let known = KNOWN.read();
    for (i, [hits, misses]) in reads.into_iter().enumerate() {
        let name = match known.names.get(i) {
            Some(name) => &**name,
            None if i == OTHER_INDEX => OTHER,
            None => continue,
        };
        if hits + misses == 0 {
            continue;
        }
        let pair = SERIES[i].get_or_init(|| Pair::new(name));
        pair.hits.absolute(hits);
        pair.misses.absolute(misses);
    }
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

    #[test]
    fn namespaces_past_the_bound_count_as_other_on_every_thread() {
        // The names the policy's test uses too: whichever runs first fills the registry.
        let name = |i: usize| format!("ns-unit-{i}:x");
        let given: Vec<usize> = (0..MAX_LABEL_VALUES + 5)
            .map(|i| index(name(i).as_bytes()))
            .collect();
        assert!(given.iter().all(|i| *i <= OTHER_INDEX));
        assert!(given.iter().filter(|i| **i == OTHER_INDEX).count() >= 5);
        let mut named: Vec<usize> = given
            .iter()
            .copied()
            .filter(|i| *i != OTHER_INDEX)
            .collect();
        named.sort_unstable();
        named.dedup();
        assert_eq!(
            named.len(),
            given.iter().filter(|i| **i != OTHER_INDEX).count(),
            "one index per namespace"
        );
        std::thread::spawn(move || {
            for (i, expected) in given.iter().enumerate() {
                assert_eq!(index(name(i).as_bytes()), *expected, "{}", name(i));
            }
            assert_eq!(index(b"ns-unit-late:x"), OTHER_INDEX);
            assert_eq!(index(b"\xff\xfe"), OTHER_INDEX);
            assert_eq!(index(b""), OTHER_INDEX);
        })
        .join()
        .unwrap();
        assert_eq!(index(b"ns-unit-late:x"), OTHER_INDEX);
    }
}
