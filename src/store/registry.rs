//! The registry of live clients and server counters, for CLIENT LIST and INFO.
//!
//! The store does not see connections open, only commands: a client is registered by the
//! executor after its first command ([`Registry::record`]) and removed when it disconnects
//! ([`super::pubsub::PubSub::remove_client`]).

use std::time::Instant;

use bytes::Bytes;
use indexmap::IndexMap;

use super::{now_ms, Client};
use crate::protocol::Protocol;

/// Commands whose CLIENT LIST `cmd=` names the subcommand too (`client|list`). A `match`, not a
/// list: it runs for every command, and compiles to a length switch and fixed-size compares.
fn container(name: &str) -> bool {
    matches!(
        name,
        "client"
            | "config"
            | "pubsub"
            | "object"
            | "memory"
            | "command"
            | "script"
            | "function"
            | "xinfo"
            | "xgroup"
            | "acl"
            | "cluster"
    )
}

/// What the registry remembers of a client, as of its last command.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// The client's address and the address it connected to.
    pub addr: Option<(std::sync::Arc<str>, std::sync::Arc<str>)>,
    pub name: Option<Bytes>,
    pub db: usize,
    pub resp: u8,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub created_ms: u64,
    pub last_ms: u64,
    pub cmd: &'static str,
    pub sub: Option<Bytes>,
    pub no_evict: bool,
    pub no_touch: bool,
}

/// Live clients by id and server-wide counters (CLIENT LIST sorts by id, i.e. connection
/// order). Invariant: holds exactly the clients that ran a command and have not disconnected.
pub struct Registry {
    /// Hashed, not ordered: [`Registry::record`] finds the client for every command. Indexed,
    /// so `last` can point at the client of the last command (a batch is one client's).
    pub(super) clients: IndexMap<u64, Meta, ahash::RandomState>,
    /// The index in `clients` of the last client recorded (checked before use: only a hint).
    last: usize,
    /// When the store started.
    pub started: Instant,
    /// The same, Unix ms.
    pub started_ms: u64,
    /// Highest `used_memory` INFO reported.
    pub memory_peak: u64,
    /// Commands executed (INFO total_commands_processed).
    pub commands: u64,
    /// Clients ever registered (INFO total_connections_received).
    pub connections: u64,
    /// Unix seconds of the last SAVE (or of the start).
    pub last_save: u64,
    /// `State::dirty` at the last SAVE.
    pub dirty_at_save: u64,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            clients: IndexMap::default(),
            last: 0,
            started: Instant::now(),
            started_ms: now_ms(),
            memory_peak: 0,
            commands: 0,
            connections: 0,
            last_save: now_ms() / 1000,
            dirty_at_save: 0,
        }
    }
}

impl Registry {
    /// Notes that `client` ran command `name` with `argv`, at `now` (Unix ms). Called by the
    /// executor after every command.
    pub fn record(&mut self, client: &Client, name: &'static str, argv: &[Bytes], now: u64) {
        self.commands += 1;
        let meta = match self.clients.get_index_mut(self.last) {
            Some((id, meta)) if *id == client.id => meta,
            _ => {
                let entry = self.clients.entry(client.id);
                self.last = entry.index();
                entry.or_insert_with(|| Meta {
                    created_ms: now,
                    ..Meta::default()
                })
            }
        };
        let first = meta.cmd.is_empty();
        if first {
            self.connections += 1;
            meta.addr = Some((client.addr.clone(), client.laddr.clone()));
        }
        // Name, database, protocol and library change only through these commands: the
        // common command updates two fields and compares nothing.
        if first || matches!(name, "client" | "select" | "hello" | "reset" | "swapdb") {
            meta.name.clone_from(&client.name);
            meta.db = client.db;
            meta.resp = resp(client.protocol);
            meta.lib_name.clone_from(&client.lib_name);
            meta.lib_ver.clone_from(&client.lib_ver);
        }
        meta.last_ms = now;
        meta.cmd = name;
        let container = container(name);
        if meta.sub.is_some() || container {
            meta.sub = match argv.get(1) {
                Some(sub) if container => Some(Bytes::from(sub.to_ascii_lowercase())),
                _ => None,
            };
        }
    }

    /// Forgets client `id` (it disconnected).
    pub fn remove(&mut self, id: u64) {
        self.clients.swap_remove(&id);
    }

    /// Number of live clients, counting `caller` even before its first command completes.
    pub fn count_with(&self, caller: u64) -> usize {
        self.clients.len() + usize::from(!self.clients.contains_key(&caller))
    }

    /// The entry of client `id`, created if needed (for flags set by CLIENT).
    pub fn meta_mut(&mut self, id: u64) -> &mut Meta {
        self.clients.entry(id).or_default()
    }

    /// Resets the statistics CONFIG RESETSTAT clears.
    pub fn reset_stats(&mut self) {
        self.commands = 0;
        self.connections = 0;
    }
}

pub fn resp(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Resp2 => 2,
        Protocol::Resp3 => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_clients_and_counts_commands() {
        let mut reg = Registry::default();
        let mut client = crate::store::Store::new(Default::default()).client();
        client.id = 7;
        reg.record(
            &client,
            "client",
            &[Bytes::from("CLIENT"), Bytes::from("LIST")],
            5,
        );
        reg.record(&client, "get", &[Bytes::from("GET"), Bytes::from("k")], 9);
        assert_eq!((reg.commands, reg.connections), (2, 1));
        assert_eq!(reg.count_with(7), 1);
        assert_eq!(reg.count_with(8), 2);
        let meta = &reg.clients[&7];
        assert_eq!(
            (meta.cmd, meta.sub.is_none(), meta.created_ms, meta.last_ms),
            ("get", true, 5, 9)
        );
        client.id = 8;
        reg.record(&client, "set", &[Bytes::from("SET")], 10);
        client.id = 7;
        reg.record(&client, "ping", &[Bytes::from("PING")], 11);
        assert_eq!((reg.clients[&7].cmd, reg.clients[&8].cmd), ("ping", "set"));
        assert_eq!(
            (reg.clients[&7].last_ms, reg.clients[&7].created_ms),
            (11, 5)
        );
        reg.remove(7);
        assert_eq!(reg.count_with(7), 2);
        reg.record(&client, "get", &[Bytes::from("GET")], 12);
        assert_eq!(
            reg.clients[&7].created_ms, 12,
            "a new entry after a removal"
        );
        assert_eq!(reg.clients[&8].cmd, "set");
    }
}
