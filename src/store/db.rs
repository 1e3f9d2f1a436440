//! One numbered database: the keyspace, with expiry both lazy (on access) and active (a sweep),
//! and the figures eviction needs: each entry's measured size and last access time.

use std::collections::BTreeSet;

use bytes::Bytes;
use indexmap::IndexMap;

use super::evict::entry_size;
use super::value::Value;

/// A key's value and its absolute expiry time in Unix milliseconds (`None`: no TTL), with the
/// size it was last measured at and when it was last looked up (the LRU clock, Unix ms).
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub expires_at: Option<u64>,
    size: u64,
    lru: u64,
}

impl Entry {
    /// Unix ms of the last lookup of this key (or of its creation).
    pub fn last_access(&self) -> u64 {
        self.lru
    }
}

/// Keyspace hits and misses for INFO stats: a lookup counts while `counting` is set, which
/// [`super::exec::run`] does for the commands that do not write (Redis counts its read
/// lookups: GET, MGET's keys, EXISTS, TYPE, TTL...).
#[derive(Default, Debug)]
pub struct ReadStats {
    pub counting: bool,
    pub hits: u64,
    pub misses: u64,
}

/// A keyspace. Invariants: every key with `expires_at` has exactly one `(time, key)` pair in
/// `expiries`; a key whose time has passed is never returned by a lookup (it is removed first);
/// `used` is the sum of the entries' `size` (each measured when stored or re-measured).
/// The map is indexed so eviction can sample random keys in O(1).
#[derive(Default, Debug)]
pub struct Db {
    map: IndexMap<Bytes, Entry, ahash::RandomState>,
    expiries: BTreeSet<(u64, Bytes)>,
    used: u64,
    pub reads: ReadStats,
    /// The index of the entry [`Db::entry`] found last (it may have moved since; only a hint).
    hint: usize,
}

impl Db {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with a TTL (for INFO keyspace).
    pub fn expiring(&self) -> usize {
        self.expiries.len()
    }

    /// Estimated bytes held by this database's keys and values.
    pub fn used_memory(&self) -> u64 {
        self.used
    }

    /// Measures `key`'s value again after a change made in place; no-op if the key is gone.
    pub fn remeasure(&mut self, key: &[u8]) {
        // The key just looked up (the usual case: a command changed the key it found) is
        // checked by comparing the key, without hashing it again.
        let index = match self.map.get_index(self.hint) {
            Some((k, _)) if k[..] == *key => Some(self.hint),
            _ => self.map.get_index_of(key),
        };
        if let Some(entry) = index.map(|i| &mut self.map[i]) {
            let size = entry_size(key, &entry.value);
            self.used = self.used - entry.size + size;
            entry.size = size;
        }
    }

    /// When `key` was last accessed, without counting this as an access.
    pub fn entry_lru(&self, key: &[u8]) -> Option<u64> {
        self.map.get(key).map(|e| e.lru)
    }

    /// The key at position `index` (any order), with its entry; for random sampling.
    pub fn at(&self, index: usize) -> Option<(&Bytes, &Entry)> {
        self.map.get_index(index)
    }

    /// The live entry at `key`.
    /// A lookup counts as an access for LRU eviction.
    pub fn entry(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        // One hash lookup: the expiry is checked on the entry found.
        let index = match self.map.get_index_of(key) {
            Some(i) if self.map[i].expires_at.is_some_and(|at| at <= now) => {
                self.remove(key);
                None
            }
            found => found,
        };
        if self.reads.counting {
            match index {
                Some(_) => self.reads.hits += 1,
                None => self.reads.misses += 1,
            }
        }
        let index = index?;
        self.hint = index;
        let entry = &mut self.map[index];
        entry.lru = now;
        Some(entry)
    }

    /// Replaces the value of live key `key` in place, measuring it (nothing to re-measure
    /// after), as an access. Returns the key's expiry, or the value back if the key is absent.
    pub fn replace(&mut self, key: &[u8], value: Value, now: u64) -> Result<Option<u64>, Value> {
        let Some(entry) = self.entry(key, now) else {
            return Err(value);
        };
        let size = entry_size(key, &value);
        let old = std::mem::replace(&mut entry.size, size);
        entry.value = value;
        let expires_at = entry.expires_at;
        self.used = self.used - old + size;
        Ok(expires_at)
    }

    /// The live value at `key`.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&mut Value> {
        self.entry(key, now).map(|e| &mut e.value)
    }

    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.entry(key, now).is_some()
    }

    /// Stores `value` at `key`, replacing any value and TTL, with the TTL given.
    pub fn set(&mut self, key: Bytes, value: Value, expires_at: Option<u64>) {
        if let Some(old) = self.map.get(&key).and_then(|e| e.expires_at) {
            self.expiries.remove(&(old, key.clone()));
        }
        if let Some(at) = expires_at {
            self.expiries.insert((at, key.clone()));
        }
        let size = entry_size(&key, &value);
        // The access clock of a stored key is the time it is written, as Redis's `createObject`.
        let entry = Entry {
            value,
            expires_at,
            size,
            lru: super::now_ms(),
        };
        self.used += size;
        if let Some(old) = self.map.insert(key, entry) {
            self.used -= old.size;
        }
    }

    /// Stores `value` at `key`, keeping the TTL of the value it replaces (if live).
    pub fn set_keep_ttl(&mut self, key: Bytes, value: Value, now: u64) {
        let ttl = self.entry(&key, now).and_then(|e| e.expires_at);
        self.set(key, value, ttl);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let entry = self.map.swap_remove(key)?;
        self.used -= entry.size;
        if let Some(at) = entry.expires_at {
            self.expiries.remove(&(at, Bytes::copy_from_slice(key)));
        }
        Some(entry.value)
    }

    /// Sets or clears the TTL of a live key; false if the key does not exist.
    pub fn set_expiry(&mut self, key: &[u8], expires_at: Option<u64>, now: u64) -> bool {
        let Some(entry) = self.entry(key, now) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.expires_at, expires_at);
        let key = Bytes::copy_from_slice(key);
        if let Some(old) = old {
            self.expiries.remove(&(old, key.clone()));
        }
        if let Some(at) = expires_at {
            self.expiries.insert((at, key));
        }
        true
    }

    /// Removes keys whose TTL has passed, at most `limit` of them; returns the keys removed.
    pub fn expire_due(&mut self, now: u64, limit: usize) -> Vec<Bytes> {
        let mut removed = Vec::new();
        while removed.len() < limit {
            let Some((at, key)) = self.expiries.first().cloned() else {
                break;
            };
            if at > now {
                break;
            }
            self.remove(&key);
            removed.push(key);
        }
        removed
    }

    /// Every key, live or not yet swept (callers filter with `entry` when it matters).
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.map.keys()
    }

    /// Iterates over live entries without removing expired ones.
    pub fn iter_live(&self, now: u64) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.map
            .iter()
            .filter(move |(_, e)| e.expires_at.is_none_or(|at| at > now))
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.expiries.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_lazily_and_actively() {
        let mut db = Db::default();
        db.set("a".into(), Value::Str("1".into()), Some(100));
        db.set("b".into(), Value::Str("2".into()), Some(200));
        db.set("c".into(), Value::Str("3".into()), None);
        assert!(db.get(b"a", 99).is_some());
        assert!(db.get(b"a", 100).is_none(), "lazily expired at its time");
        assert_eq!(db.expire_due(250, 10), vec![Bytes::from("b")]);
        assert!(db.replace(b"b", Value::Str("x".into()), 250).is_err());
        assert_eq!((db.len(), db.expiring()), (1, 0));
    }

    #[test]
    fn replacing_a_value_clears_or_keeps_ttl() {
        let mut db = Db::default();
        db.set("a".into(), Value::Str("1".into()), Some(100));
        db.set_keep_ttl("a".into(), Value::Str("2".into()), 0);
        assert_eq!(db.entry(b"a", 0).unwrap().expires_at, Some(100));
        let used = db.used_memory();
        assert_eq!(
            db.replace(b"a", Value::Str("22".into()), 0).ok(),
            Some(Some(100))
        );
        assert_eq!(db.used_memory(), used + 1, "measured in place");
        db.remeasure(b"a");
        assert_eq!(db.used_memory(), used + 1);
        db.set("a".into(), Value::Str("3".into()), None);
        assert_eq!(
            (db.entry(b"a", 0).unwrap().expires_at, db.expiring()),
            (None, 0)
        );
    }
}
