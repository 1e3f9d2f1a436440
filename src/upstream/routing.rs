//! Which upstream connection a command may use.
//!
//! Stateless commands share the pool. Commands that create connection state (a transaction, a
//! block, subscriptions, a selected database, MONITOR) need a connection of the client's own for
//! as long as the state lasts. A few connection commands are answered by the sidecar itself,
//! since sending them over a shared connection would change it for everyone.

use crate::command::{lowercase_into, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Any pool connection will do.
    Pool,
    /// Needs a dedicated connection.
    Pin,
    /// Answered by the sidecar (HELLO, AUTH, QUIT, RESET, CLIENT SETNAME/GETNAME/SETINFO/ID).
    Local,
}

/// The class of `cmd`; no allocation.
pub fn classify(cmd: &Command) -> Class {
    let mut buf = [0u8; 16];
    let Some(name) = lowercase_into(cmd.name(), &mut buf) else {
        return Class::Pool;
    };
    match name {
        b"hello" | b"auth" | b"quit" | b"reset" => Class::Local,
        b"client" => match cmd
            .args
            .get(1)
            .and_then(|s| lowercase_into(s, &mut [0u8; 16]).map(|s| s.to_vec()))
            .as_deref()
        {
            Some(b"setname" | b"getname" | b"setinfo" | b"id" | b"info") => Class::Local,
            Some(b"reply" | b"tracking" | b"caching" | b"no-evict" | b"no-touch") => Class::Pin,
            _ => Class::Pool,
        },
        b"multi" | b"watch" | b"select" | b"monitor" | b"wait" | b"waitaof" | b"sync"
        | b"psync" => Class::Pin,
        b"blpop" | b"brpop" | b"blmove" | b"brpoplpush" | b"blmpop" | b"bzpopmin" | b"bzpopmax"
        | b"bzmpop" => Class::Pin,
        b"subscribe" | b"psubscribe" | b"ssubscribe" | b"unsubscribe" | b"punsubscribe"
        | b"sunsubscribe" => Class::Pin,
        b"xread" | b"xreadgroup" => {
            if cmd
                .args
                .iter()
                .skip(1)
                .any(|a| a.eq_ignore_ascii_case(b"block"))
            {
                Class::Pin
            } else {
                Class::Pool
            }
        }
        _ => Class::Pool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(args: &[&str]) -> Class {
        classify(&Command::from_strs(args))
    }

    #[test]
    fn classifies_stateful_commands() {
        assert_eq!(class(&["GET", "k"]), Class::Pool);
        assert_eq!(class(&["multi"]), Class::Pin);
        assert_eq!(class(&["BRPOP", "celery", "1"]), Class::Pin);
        assert_eq!(
            class(&["XREAD", "COUNT", "1", "STREAMS", "s", "0"]),
            Class::Pool
        );
        assert_eq!(
            class(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]),
            Class::Pin
        );
        assert_eq!(class(&["client", "setname", "x"]), Class::Local);
        assert_eq!(class(&["CLIENT", "TRACKING", "on"]), Class::Pin);
        assert_eq!(class(&["CLIENT", "LIST"]), Class::Pool);
        assert_eq!(class(&["HELLO", "3"]), Class::Local);
        assert_eq!(class(&["averyveryverylongcommandname"]), Class::Pool);
    }

    /// Every command issue 4 names as holding connection state pins its client, in any case;
    /// their non-blocking forms (XREAD and XREADGROUP without BLOCK) stay pooled.
    #[test]
    fn every_command_with_connection_state_pins() {
        let pinned: &[&[&str]] = &[
            &["BLPOP", "q", "0"],
            &["brpop", "q", "1"],
            &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
            &["BZPOPMIN", "z", "0"],
            &["bzpopmax", "z", "0.5"],
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
            &["xread", "count", "1", "block", "100", "streams", "s", "$"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
            &["WAIT", "0", "100"],
            &["SUBSCRIBE", "ch"],
            &["PSUBSCRIBE", "ch:*"],
            &["SSUBSCRIBE", "ch"],
            &["UNSUBSCRIBE"],
            &["PUNSUBSCRIBE", "ch:*"],
            &["SUNSUBSCRIBE", "ch"],
            &["CLIENT", "TRACKING", "ON"],
            &["client", "tracking", "on", "bcast", "prefix", "k:"],
            &["MONITOR"],
            &["MULTI"],
            &["WATCH", "k"],
        ];
        for args in pinned {
            assert_eq!(class(args), Class::Pin, "{args:?} must pin");
        }
        let pooled: &[&[&str]] = &[
            &["XREAD", "STREAMS", "s", "0"],
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
            &["LPOP", "q"],
            &["ZPOPMIN", "z"],
            &["PUBLISH", "ch", "m"],
        ];
        for args in pooled {
            assert_eq!(class(args), Class::Pool, "{args:?} stays pooled");
        }
    }
}
