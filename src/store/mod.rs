//! The embedded Redis-compatible store: the primary when no upstream is configured, the
//! fallback during an upstream outage.
//!
//! Concurrency model: all data sits behind one mutex, taken once per client batch, so every
//! command (and every MULTI/EXEC and script) runs atomically, as in Redis's single thread.
//! Handlers are plain synchronous functions over a [`Ctx`]; nothing in here awaits.
//!
//! Layout: [`db`] keyspace and expiry, [`value`] the types, [`table`] the command table,
//! [`exec`] the executor (MULTI/EXEC, WATCH, blocking), one module per command family.

pub mod aof;
pub mod args;
pub mod blocking;
pub mod db;
mod dump;
pub mod evict;
pub mod exec;
pub mod glob;
pub mod scan;
pub mod table;
pub mod value;

mod admin;
mod clients;
mod hashes;
mod hashes_random;
mod info;
mod keys;
mod keys_expire;
mod lists;
mod lists_blocking;
mod lists_pos;
pub mod monitor;
pub mod pubsub;
mod pubsub_cmds;
mod registry;
pub mod scripting;
mod scripting_api;
mod scripting_call;
mod scripting_conv;
mod scripting_lua;
mod server;
pub use server::REDIS_VERSION;
mod sets;
mod sets_algebra;
mod stream;
mod stream_claim;
mod stream_cmds;
mod stream_group_cmds;
mod stream_groups;
mod stream_id;
mod stream_info;
mod stream_listpack;
mod stream_read;
mod strings;
mod strings_edit;
mod strings_float;
mod strings_float_big;
mod zset;
mod zset_cmds;
mod zset_num;
mod zset_pop;
mod zset_range;
mod zset_setops;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;

pub use blocking::BlockSpec;
pub use db::Db;
pub use exec::{Outcome, Session};
pub use value::Value;

use crate::protocol::Protocol;

/// Number of databases SELECT can choose from, as Redis's default.
pub const DATABASES: usize = 16;

/// Settings of the embedded store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Memory limit for stored data in bytes; 0 means none.
    pub maxmemory: u64,
    /// What to do past `maxmemory`.
    pub policy: evict::Policy,
    /// A script running longer is stopped with an error (None: never). Redis answers BUSY to
    /// others meanwhile and offers SCRIPT KILL; here a script holds the store (and, with one
    /// thread, every client), so it is stopped instead of hanging the sidecar.
    pub script_time_limit: Option<std::time::Duration>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            maxmemory: 256 * 1024 * 1024,
            policy: evict::Policy::default(),
            script_time_limit: Some(std::time::Duration::from_secs(5)),
        }
    }
}

/// A cloneable handle to the store; every clone sees the same data.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
}

/// Everything behind the store's lock.
pub struct State {
    pub dbs: Vec<Db>,
    pub blocking: blocking::Blocking,
    pub watches: exec::Watches,
    pub pubsub: pubsub::PubSub,
    pub scripts: scripting::Scripts,
    pub config: StoreConfig,
    /// The wall clock for the batch being executed (set by the executor; None outside a batch).
    pub clock: Option<u64>,
    /// Where writes are journaled while the store stands in for the upstream.
    pub journal: Option<std::sync::Arc<crate::failover::Journal>>,
    /// Count of changes since start (Redis's `server.dirty`).
    pub dirty: u64,
    /// Eviction pool and counters.
    pub evictor: evict::Evictor,
    /// Keys changed by the running command, re-measured when it ends.
    pub touched: evict::Touched,
    /// A file is being loaded: no eviction, no OOM refusals.
    pub loading: bool,
    /// Clients in MONITOR mode.
    pub monitors: monitor::Monitors,
    next_client_id: u64,
}

/// What a command handler sees of the client that sent it. Cloneable: a blocked command keeps
/// a copy to run with when it is woken.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub protocol: Protocol,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    /// Set by QUIT: close the connection once the reply is written.
    pub closing: bool,
    /// Running inside MULTI/EXEC or a script: commands must not block.
    pub no_block: bool,
    /// Channels plus patterns this client is subscribed to (RESP2 restricts commands while > 0).
    pub subscriptions: usize,
    /// Where pub/sub messages for this client go; the connection drains it. Bounded: a
    /// subscriber that stops reading is disconnected rather than buffered without limit.
    pub pushes: Option<tokio::sync::mpsc::Sender<crate::protocol::Reply>>,
    /// The client's address and the address it connected to (`embedded` when not over TCP).
    pub addr: std::sync::Arc<str>,
    pub laddr: std::sync::Arc<str>,
    /// In MONITOR mode: it sees every command (through `pushes`).
    pub monitoring: bool,
}

impl Client {
    /// Subscribed or monitoring: data arrives unasked, so the client may sit idle and must
    /// read what it is sent.
    pub fn receives_pushes(&self) -> bool {
        self.subscriptions > 0 || self.monitoring
    }
}

/// A handler's view of the store for one command.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub client: &'a mut Client,
    /// The command's time, Unix milliseconds; fixed for the whole command.
    pub now: u64,
    /// Set by a blocking command that found nothing to serve; see [`BlockSpec`].
    pub block: Option<BlockSpec>,
}

impl Ctx<'_> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.state.dbs[self.client.db]
    }

    /// Records a change to `key` in the client's database: WATCHers are invalidated.
    pub fn touch(&mut self, key: &[u8]) {
        self.state.dirty += 1;
        self.state.touched.push(self.client.db, key);
        self.state.watches.touch(self.client.db, key);
    }

    /// [`Ctx::touch`] for a change the handler already measured (stored through
    /// [`Db::replace`] or [`Db::set`], nothing changed after): the executor has nothing to
    /// re-measure for maxmemory.
    pub fn touch_measured(&mut self, key: &[u8]) {
        self.state.dirty += 1;
        self.state.watches.touch(self.client.db, key);
    }

    /// Records that `key` received data (a push, an add): blocked clients on it get served.
    pub fn key_ready(&mut self, key: &[u8]) {
        self.state.blocking.key_ready(self.client.db, key);
    }

    /// Asks the executor to block this client (see [`BlockSpec`]); the handler then returns the
    /// reply for when the wait times out (or for MULTI and scripts, where nothing blocks).
    pub fn block_on(&mut self, spec: BlockSpec) {
        self.block = Some(spec);
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        let state = State {
            dbs: (0..DATABASES).map(|_| Db::default()).collect(),
            blocking: Default::default(),
            watches: Default::default(),
            pubsub: Default::default(),
            scripts: Default::default(),
            config,
            journal: None,
            clock: None,
            dirty: 0,
            evictor: Default::default(),
            touched: Default::default(),
            loading: false,
            monitors: monitor::Monitors::default(),
            next_client_id: 1,
        };
        Store {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
            }),
        }
    }

    /// A new client of this store (one per connection).
    pub fn client(&self) -> Client {
        let mut state = self.shared.state.lock();
        let id = state.next_client_id;
        state.next_client_id += 1;
        Client {
            id,
            db: 0,
            protocol: Protocol::Resp2,
            name: None,
            lib_name: None,
            lib_ver: None,
            closing: false,
            no_block: false,
            subscriptions: 0,
            pushes: None,
            addr: std::sync::Arc::from("embedded"),
            laddr: std::sync::Arc::from("embedded"),
            monitoring: false,
        }
    }

    /// Runs `f` with the store locked. Callers must not await while holding it (they cannot:
    /// the closure is synchronous).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.shared.state.lock())
    }

    /// Executes `cmds` as one client would, replies discarded (loading a journal or a file).
    /// Nothing is evicted or refused for memory while loading.
    pub fn load(&self, cmds: &[crate::command::Command]) {
        let mut session = Session::new(self.client());
        self.load_with(&mut session, cmds);
        session.close(self);
    }

    /// Like [`Store::load`], with a session that lives across calls (a file loaded in chunks
    /// keeps its SELECT and MULTI state).
    pub fn load_with(&self, session: &mut Session, cmds: &[crate::command::Command]) {
        self.with_state(|s| s.loading = true);
        let mut outcomes = Vec::new();
        let mut done = 0;
        while done < cmds.len() {
            let n = session.execute(self, &cmds[done..], &mut outcomes);
            done += n.max(1);
            outcomes.clear();
        }
        self.with_state(|s| s.loading = false);
    }

    /// Removes keys whose TTL passed, a bounded number per database; the active half of expiry.
    pub fn expire_sweep(&self, per_db: usize) -> usize {
        let now = now_ms();
        self.with_state(|state| {
            let mut removed = 0;
            for db in 0..state.dbs.len() {
                for key in state.dbs[db].expire_due(now, per_db) {
                    state.watches.touch(db, &key);
                    removed += 1;
                }
            }
            removed
        })
    }
}
