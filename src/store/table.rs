//! The embedded store's command table: every command it implements, with arity and flags,
//! gathered from the per-type modules. Lookup is by ASCII-case-insensitive name, no allocation.

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
    let mut buf = [0u8; 32];
    let lower = crate::command::lowercase_into(name, &mut buf)?;
    TABLE.get(lower).copied()
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
    fn names_are_lowercase_and_arities_sane() {
        for spec in all() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{}", spec.name);
        }
    }
}
