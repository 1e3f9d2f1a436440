//! The executor: runs a client's batch under one lock, with Redis's transaction semantics
//! (MULTI/EXEC/DISCARD, WATCH/UNWATCH), RESP2 subscribed-mode rules, and blocking commands.
//!
//! Invariants: one [`Outcome`] per command executed, in order; a batch stops at the first
//! blocked command (the client's later commands run only after it is answered, as in Redis);
//! clients parked on a key are served, oldest first, before the lock is released.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::blocking::Waiter;
use super::table::{self, Spec};
use super::{args, evict, now_ms, Client, Ctx, State, Store};
use crate::command::Command;
use crate::protocol::Reply;

/// Which sessions watch which keys.
#[derive(Default)]
pub struct Watches {
    by_key: HashMap<(usize, Bytes), Vec<Arc<AtomicBool>>>,
}

impl Watches {
    /// Marks every session watching `key` in `db` as dirty.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(flags) = self.by_key.get(&(db, Bytes::copy_from_slice(key))) {
            flags.iter().for_each(|f| f.store(true, Ordering::Relaxed));
        }
    }

    /// Marks every session watching any key of `db` (or of every db, with `None`) as dirty.
    pub fn touch_db(&mut self, db: Option<usize>) {
        for ((d, _), flags) in &self.by_key {
            if db.is_none_or(|db| db == *d) {
                flags.iter().for_each(|f| f.store(true, Ordering::Relaxed));
            }
        }
    }

    fn add(&mut self, db: usize, key: Bytes, flag: &Arc<AtomicBool>) {
        let flags = self.by_key.entry((db, key)).or_default();
        if !flags.iter().any(|f| Arc::ptr_eq(f, flag)) {
            flags.push(flag.clone());
        }
    }

    fn remove(&mut self, db: usize, key: &Bytes, flag: &Arc<AtomicBool>) {
        let slot = (db, key.clone());
        if let Some(flags) = self.by_key.get_mut(&slot) {
            flags.retain(|f| !Arc::ptr_eq(f, flag));
            if flags.is_empty() {
                self.by_key.remove(&slot);
            }
        }
    }
}

/// The result of one command.
pub enum Outcome {
    Reply(Reply),
    /// The command is parked; await [`Blocked::wait`] for its reply.
    Blocked(Blocked),
}

/// A parked command's pending reply. Dropping it un-parks the command.
pub struct Blocked {
    store: Store,
    id: u64,
    rx: Option<oneshot::Receiver<Reply>>,
    timeout: Option<Duration>,
    timeout_reply: Option<Reply>,
}

impl Blocked {
    /// The reply: the command's result once a key serves it, or its timeout reply.
    pub async fn wait(mut self) -> Reply {
        // `rx` stays in `self` while waiting: if this future is dropped (the client left), Drop
        // un-parks the command, so it cannot swallow a later push.
        let rx = self.rx.as_mut().expect("waited once");
        let served = match self.timeout {
            Some(t) => tokio::time::timeout(t, &mut *rx).await.ok(),
            None => Some(rx.await),
        };
        let mut rx = self.rx.take().expect("waited once");
        if let Some(Ok(reply)) = served {
            return reply;
        }
        // Timed out: un-park, unless it was served between the timer and the lock.
        if self
            .store
            .with_state(|s| s.blocking.cancel(self.id))
            .is_none()
        {
            if let Ok(reply) = rx.try_recv() {
                return reply;
            }
        }
        self.timeout_reply.take().unwrap_or(Reply::NilArray)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.store.with_state(|s| s.blocking.cancel(self.id));
        }
    }
}

/// One connection's state in the store: the client, its transaction and its watched keys.
pub struct Session {
    pub client: Client,
    /// How long each command of the last `execute` took in the store (for the slow log).
    pub timings: Vec<std::time::Duration>,
    multi: Option<Multi>,
    watched: Vec<(usize, Bytes)>,
    watch_dirty: Arc<AtomicBool>,
    /// Used memory was found within `maxmemory` during this batch, and nothing that may grow it
    /// ran since: the next command need not measure it again (a run of reads measures once).
    memory_ok: bool,
}

struct Multi {
    queued: Vec<Command>,
    /// A queued command was refused (unknown, wrong arity): EXEC answers EXECABORT.
    failed: bool,
}

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

impl Session {
    pub fn new(client: Client) -> Session {
        Session {
            client,
            timings: Vec::new(),
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            memory_ok: false,
        }
    }

    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Executes commands from `cmds` in order under one lock, pushing an outcome for each, until
    /// one blocks, QUIT, or a protocol change. Returns how many were executed.
    pub fn execute(&mut self, store: &Store, cmds: &[Command], out: &mut Vec<Outcome>) -> usize {
        self.execute_if(store, cmds, out, || true)
    }

    /// Like [`Session::execute`], but executes nothing unless `allowed` holds once the store is
    /// locked (the fallback checks that the store still stands in for the upstream).
    pub fn execute_if(
        &mut self,
        store: &Store,
        cmds: &[Command],
        out: &mut Vec<Outcome>,
        allowed: impl FnOnce() -> bool,
    ) -> usize {
        let mut state = store.shared.state.lock();
        self.timings.clear();
        if !allowed() {
            return 0;
        }
        // The batch reads the wall clock once (Redis caches it per command; a batch takes
        // microseconds), restored when the lock is released.
        state.clock = Some(now_ms());
        // Other clients ran commands since this session's last batch.
        self.memory_ok = false;
        let mut started = std::time::Instant::now();
        let protocol = self.client.protocol;
        for (done, cmd) in cmds.iter().enumerate() {
            let outcome = self.execute_one(store, &mut state, cmd);
            if state.blocking.any_ready() {
                serve_blocked(&mut state);
            }
            // One clock read per command: its end is the next command's start.
            let now = std::time::Instant::now();
            self.timings.push(now - started);
            started = now;
            let blocked = matches!(outcome, Outcome::Blocked(_));
            out.push(outcome);
            // A HELLO that changed the protocol ends the run: later replies encode differently.
            if blocked || self.client.closing || self.client.protocol != protocol {
                state.clock = None;
                return done + 1;
            }
        }
        state.clock = None;
        cmds.len()
    }

    fn execute_one(&mut self, store: &Store, state: &mut State, cmd: &Command) -> Outcome {
        let name = cmd.name();
        let Some(spec) = table::lookup(name) else {
            // EXEC runs writes.
            self.memory_ok = false;
            if let Some(reply) = self.transaction_command(state, cmd) {
                if !state.monitors.is_empty() {
                    state.monitors.feed(&self.client, "", &cmd.args, false);
                }
                return Outcome::Reply(reply);
            }
            self.fail_multi();
            return Outcome::Reply(unknown_command(&cmd.args));
        };
        if !spec.arity_ok(cmd.args.len()) {
            self.fail_multi();
            return Outcome::Reply(args::wrong_arity(name));
        }
        if self.client.subscriptions > 0
            && self.client.protocol == crate::protocol::Protocol::Resp2
            && spec.flags & table::PUBSUB == 0
        {
            return Outcome::Reply(Reply::error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        if cmd.is("reset") {
            // RESET's session half: leave MULTI, forget WATCHes; the handler resets the client.
            self.multi = None;
            self.unwatch(state);
        }
        // As Redis's processCommand: free memory before any command when over the limit, and
        // refuse one that may grow memory if that failed; inside MULTI, queuing anything is
        // refused (the queue grows) and the transaction fails.
        if state.config.maxmemory > 0 && !self.memory_ok {
            if evict::free_memory(state) {
                self.memory_ok = true;
            } else {
                let queuing = self.multi.is_some() && !cmd.is("quit") && !cmd.is("reset");
                if queuing || evict::denies_oom(spec) {
                    self.fail_multi();
                    return Outcome::Reply(evict::oom());
                }
            }
        }
        if spec.has(table::WRITE) || spec.name.starts_with("eval") {
            // The next command measures memory again, after this one's growth.
            self.memory_ok = false;
        }
        if let Some(multi) = &mut self.multi {
            if spec.flags & table::NO_MULTI == 0 {
                multi.queued.push(cmd.clone());
                return Outcome::Reply(Reply::status("QUEUED"));
            }
        }
        let (reply, block) = run_shown(state, &mut self.client, spec, &cmd.args);
        match block {
            Some(block) if !self.client.no_block => {
                let (tx, rx) = oneshot::channel();
                let waiter = Waiter {
                    client: self.client.clone(),
                    args: block.rerun_args.unwrap_or_else(|| cmd.args.clone()),
                    keys: block.keys,
                    reply_to: tx,
                };
                let id = state.blocking.park(waiter);
                Outcome::Blocked(Blocked {
                    store: store.clone(),
                    id,
                    rx: Some(rx),
                    timeout: block.timeout,
                    timeout_reply: Some(reply),
                })
            }
            _ => Outcome::Reply(reply),
        }
    }

    fn fail_multi(&mut self) {
        if let Some(multi) = &mut self.multi {
            multi.failed = true;
        }
    }

    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH: they act on the session, not on data.
    fn transaction_command(&mut self, state: &mut State, cmd: &Command) -> Option<Reply> {
        let arity = |ok: bool| {
            if ok {
                None
            } else {
                Some(args::wrong_arity(cmd.name()))
            }
        };
        let reply = if cmd.is("multi") {
            arity(cmd.args.len() == 1).unwrap_or_else(|| {
                if self.multi.is_some() {
                    args::err("ERR MULTI calls can not be nested")
                } else {
                    self.multi = Some(Multi {
                        queued: Vec::new(),
                        failed: false,
                    });
                    Reply::ok()
                }
            })
        } else if cmd.is("exec") {
            arity(cmd.args.len() == 1).unwrap_or_else(|| self.exec(state))
        } else if cmd.is("discard") {
            arity(cmd.args.len() == 1).unwrap_or_else(|| match self.multi.take() {
                Some(_) => {
                    self.unwatch(state);
                    Reply::ok()
                }
                None => args::err("ERR DISCARD without MULTI"),
            })
        } else if cmd.is("watch") {
            arity(cmd.args.len() >= 2).unwrap_or_else(|| {
                if self.multi.is_some() {
                    return args::err("ERR WATCH inside MULTI is not allowed");
                }
                for key in &cmd.args[1..] {
                    let key = args::owned(key);
                    state
                        .watches
                        .add(self.client.db, key.clone(), &self.watch_dirty);
                    self.watched.push((self.client.db, key));
                }
                Reply::ok()
            })
        } else if cmd.is("unwatch") {
            arity(cmd.args.len() == 1).unwrap_or_else(|| {
                self.unwatch(state);
                Reply::ok()
            })
        } else {
            return None;
        };
        Some(reply)
    }

    fn exec(&mut self, state: &mut State) -> Reply {
        let Some(multi) = self.multi.take() else {
            return args::err("ERR EXEC without MULTI");
        };
        let dirty = self.watch_dirty.load(Ordering::Relaxed);
        self.unwatch(state);
        // As Redis, memory is checked before the transaction's own state.
        let grows = || {
            multi
                .queued
                .iter()
                .any(|c| table::lookup(c.name()).is_some_and(evict::denies_oom))
        };
        if state.config.maxmemory > 0 && !evict::free_memory(state) && grows() {
            return Reply::error(format!(
                "EXECABORT Transaction discarded because of: {}",
                evict::OOM
            ));
        }
        if multi.failed {
            return args::err(EXECABORT);
        }
        if dirty {
            return Reply::NilArray;
        }
        self.client.no_block = true;
        // A transaction replays as one: its journaled writes are wrapped in MULTI/EXEC.
        let journal = state.journal.clone();
        if let Some(journal) = &journal {
            journal.append_in_db(self.client.db, &["MULTI"]);
        }
        let replies = multi
            .queued
            .iter()
            .map(|cmd| match table::lookup(cmd.name()) {
                Some(spec) => run_shown(state, &mut self.client, spec, &cmd.args).0,
                None => unknown_command(&cmd.args),
            })
            .collect();
        self.client.no_block = false;
        if let Some(journal) = &journal {
            journal.append_in_db(self.client.db, &["EXEC"]);
        }
        Reply::Array(replies)
    }

    fn unwatch(&mut self, state: &mut State) {
        for (db, key) in self.watched.drain(..) {
            state.watches.remove(db, &key, &self.watch_dirty);
        }
        self.watch_dirty.store(false, Ordering::Relaxed);
    }

    /// Releases what the session holds in the store (watches, subscriptions); call when the
    /// client leaves.
    pub fn close(&mut self, store: &Store) {
        store.with_state(|state| {
            self.unwatch(state);
            state.pubsub.remove_client(self.client.id);
            state.monitors.remove(self.client.id);
        });
    }
}

/// [`run`] for a command a client sent, shown to monitors: a command once it ran, but a script
/// before the commands it runs (the order Redis shows them in).
fn run_shown(
    state: &mut State,
    client: &mut Client,
    spec: &Spec,
    argv: &[Bytes],
) -> (Reply, Option<super::BlockSpec>) {
    let script = spec.name.starts_with("eval");
    if script && !state.monitors.is_empty() {
        state.monitors.feed(client, spec.name, argv, false);
    }
    let ran = run(state, client, spec, argv);
    if !script && !state.monitors.is_empty() {
        state.monitors.feed(client, spec.name, argv, false);
    }
    ran
}

/// Runs one command's handler; returns its reply and the block it asked for, if any.
pub fn run(
    state: &mut State,
    client: &mut Client,
    spec: &Spec,
    argv: &[Bytes],
) -> (Reply, Option<super::BlockSpec>) {
    let now = state.clock.unwrap_or_else(now_ms);
    let mut ctx = Ctx {
        state,
        client,
        now,
        block: None,
    };
    let dirty = ctx.state.dirty;
    // Keyspace hits and misses count the lookups of commands that only read (saved and
    // restored: a script's commands run through here inside the EVAL's run).
    let db = ctx.client.db;
    // MEMORY USAGE finds its key without counting, as Redis's does.
    let counting = !spec.has(table::WRITE) && spec.name != "memory";
    let was_counting = std::mem::replace(&mut ctx.state.dbs[db].reads.counting, counting);
    let reply = (spec.handler)(&mut ctx, argv).unwrap_or_else(|e| e);
    ctx.state.dbs[db].reads.counting = was_counting;
    ctx.state
        .pubsub
        .clients
        .record(ctx.client, spec.name, argv, ctx.now);
    // Journal what changed data, by effect: a script's writes are journaled as the commands it
    // ran (each through here), not as the EVAL. In fallback the store holds only what was
    // written during the outage, so a DEL or UNLINK of a key only the upstream has (a lock
    // being released) changes nothing here, yet must still delete it there: it is journaled
    // whatever it answered.
    let changed = ctx.state.dirty != dirty;
    let blind_delete = matches!(spec.name, "del" | "unlink");
    if (changed || blind_delete) && spec.has(table::WRITE) && !spec.name.starts_with("eval") {
        if let Some(journal) = ctx
            .state
            .journal
            .as_ref()
            .filter(|j| changed || !j.is_aof())
        {
            let entries = if journal.is_aof() {
                super::aof::entries(argv, &reply, ctx.now)
            } else {
                crate::failover::rewrite::for_replay(argv, &reply, ctx.now)
            };
            for entry in entries {
                journal.append_in_db(ctx.client.db, &entry);
            }
        }
    }
    // Handlers change values in place: re-measure what this command touched for maxmemory.
    let State { touched, dbs, .. } = &mut *ctx.state;
    touched.remeasure(dbs);
    (reply, ctx.block)
}

/// Re-runs parked commands for every key that became ready, oldest first.
fn serve_blocked(state: &mut State) {
    while let Some((db, key)) = state.blocking.next_ready() {
        for id in state.blocking.parked_on(db, &key) {
            let Some(waiter) = state.blocking.waiter_mut(id) else {
                continue;
            };
            let (mut client, argv) = (waiter.client.clone(), waiter.args.clone());
            let Some(spec) = table::lookup(&argv[0]) else {
                continue;
            };
            let (reply, block) = run(state, &mut client, spec, &argv);
            if block.is_none() {
                if let Some(waiter) = state.blocking.cancel(id) {
                    let _ = waiter.reply_to.send(reply);
                }
            }
        }
    }
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` in Redis's words.
pub fn unknown_command(argv: &[Bytes]) -> Reply {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&argv[0])
    );
    for arg in argv.iter().skip(1) {
        msg.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
        if msg.len() > 128 {
            break;
        }
    }
    Reply::error(msg)
}
