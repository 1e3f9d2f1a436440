//! The embedded store's command table: every command it implements, with arity and flags,
//! gathered from the per-type modules. Lookup is by ASCII-case-insensitive name, no allocation.

use std::cell::Cell;
use std::sync::LazyLock;

use bytes::Bytes;

use super::Ctx;
use crate::protocol::Reply;

/// A command implementation. `args[0]` is the command name; arity was checked before the call.
/// `Err` carries an error reply, so handlers can use `?` on argument parsing.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> Result<Reply, Reply>;

/// The command may change data: it is journaled and counts for maxmemory.
pub const WRITE: u16 = 1;
/// The command may block the client ([`Ctx::block`]).
pub const BLOCKING: u16 = 1 << 1;
/// Allowed in RESP2 subscribed mode.
pub const PUBSUB: u16 = 1 << 2;
/// Not allowed inside MULTI (it is executed at once, like WATCH or MULTI itself).
pub const NO_MULTI: u16 = 1 << 3;
/// Not callable from scripts.
pub const NO_SCRIPT: u16 = 1 << 4;
/// May allocate memory: refused with OOM when over maxmemory and nothing can be evicted.
pub const DENY_OOM: u16 = 1 << 5;

/// One command. `arity` follows Redis: positive is exact, negative is a minimum (`-2`: 2 or more),
/// counting the name.
pub struct Spec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u16,
    pub handler: Handler,
}

impl Spec {
    pub const fn new(name: &'static str, arity: i32, flags: u16, handler: Handler) -> Spec {
        Spec {
            name,
            arity,
            flags,
            handler,
        }
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }
}

/// Keyed by the lowercase name's bytes, with aHash: the lookup runs for every command.
static TABLE: LazyLock<ahash::AHashMap<&'static [u8], &'static Spec>> = LazyLock::new(|| {
    let modules: &[&'static [Spec]] = &[
        super::server::COMMANDS,
        super::keys::COMMANDS,
        super::keys_expire::COMMANDS,
        super::strings::COMMANDS,
        super::strings_edit::COMMANDS,
        super::hashes::COMMANDS,
        super::hashes_random::COMMANDS,
        super::lists::COMMANDS,
        super::sets::COMMANDS,
        super::sets_algebra::COMMANDS,
        super::zset::COMMANDS,
        super::stream::COMMANDS,
        super::pubsub::COMMANDS,
        super::scripting::COMMANDS,
    ];
    let mut table = ahash::AHashMap::new();
    for spec in modules.iter().copied().flatten() {
        let previous = table.insert(spec.name.as_bytes(), spec);
        assert!(previous.is_none(), "command {} defined twice", spec.name);
    }
    table
});

/// The command named `name`, compared without regard to ASCII case.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    // Clients repeat command names: the thread's last name, as sent, is compared as one number
    // before lowercasing and hashing (a run of GETs hashes once).
    let packed = crate::command::packed_name(name);
    if packed != 0 {
        if let Ok(Some((last, spec))) = LAST.try_with(Cell::get) {
            if last == packed {
                return Some(spec);
            }
        }
    }
    let spec = lookup_uncached(name)?;
    if packed != 0 {
        let _ = LAST.try_with(|l| l.set(Some((packed, spec))));
    }
    Some(spec)
}

fn lookup_uncached(name: &[u8]) -> Option<&'static Spec> {
    let mut buf = [0u8; 32];
    let lower = crate::command::lowercase_into(name, &mut buf)?;
    TABLE.get(lower).copied()
}

thread_local! {
    /// The last name [`lookup`] found, packed ([`crate::command::packed_name`]), and its command.
    static LAST: Cell<Option<(u128, &'static Spec)>> = const { Cell::new(None) };
}

/// Every command, for COMMAND COUNT and the table test.
pub fn all() -> impl Iterator<Item = &'static Spec> {
    TABLE.values().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_case_insensitively() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }

    #[test]
    fn the_last_name_cache_answers_as_the_table_does() {
        for name in [
            &b"get"[..],
            b"get",
            b"GET",
            b"get\0",
            b"ge",
            b"set",
            b"nosuchcommand",
            b"get",
            b"",
            b"zrangebyscore",
            b"ZRANGEBYSCORE",
            b"zrangebyscore\0\0",
            b"xreadgroup",
            b"georadiusbymember",
            b"GEORADIUSBYMEMBER",
        ] {
            for _ in 0..2 {
                assert_eq!(
                    lookup(name).map(|s| s.name),
                    lookup_uncached(name).map(|s| s.name),
                    "{:?}",
                    String::from_utf8_lossy(name)
                );
            }
        }
    }

    #[test]
    fn names_are_lowercase_and_arities_sane() {
        for spec in all() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{}", spec.name);
        }
    }
}
