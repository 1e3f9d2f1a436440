//! The policy chain: layers between a client's connection and whoever serves its commands
//! (tenants and auth, the command-cost budget, compression, the slow log, metrics).
//!
//! Invariants every policy keeps:
//! - `request` runs exactly once per command, in chain order, before it is routed; an `Err`
//!   answers that one command (in its place in the reply order) and it goes no further.
//! - `reply` runs, in reverse chain order, only for commands some policy asked to see replies for
//!   (`request` returned [`Verdict::rewrite_reply`]), and only when some policy with a `reply`
//!   may change that reply (`leaves_reply` says which raw frames it would leave alone);
//!   untouched replies pass byte for byte, unparsed.
//! - `completed` runs once per command that reached a backend, after its reply, with the round
//!   trip time; policies must not block or allocate much there (it is on every command's path).
//! - Policies are synchronous: the I/O is async, the rewrites are not. A policy is built from
//!   its configuration section and shared by all connections; a reload builds a new chain
//!   ([`crate::reload`]) that connections take between batches ([`swap`]).

pub mod auth;
pub mod budget;
pub mod budget_config;
pub mod budget_shared;
pub mod budget_window;
pub mod compress;
pub mod compress_codec;
pub mod compress_config;
pub mod compress_script;
mod compress_sort;
mod compress_user_scripts;
pub mod slowlog;
mod slowlog_format;
pub mod swap;
pub mod tenant;
mod tenant_keys;
mod tenant_lua;
mod tenant_reload;
mod tenant_reply;
pub mod transaction;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::command::Command;
use crate::protocol::Reply;

/// Who answered a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    Upstream,
    Store,
}

impl Served {
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Upstream => "upstream",
            Served::Store => "store",
        }
    }
}

/// What the chain decided about a command it let through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Some policy must see (and may rewrite) the reply.
    pub rewrite_reply: bool,
}

/// Per-connection state the policies keep (authentication, tenant).
#[derive(Clone, Debug, Default)]
pub struct PolicySession {
    /// The client authenticated (or no authentication is configured).
    pub authenticated: bool,
    /// The tenant's user name, once authenticated as one.
    pub tenant: Option<Arc<str>>,
    /// The tenant's key prefix.
    pub prefix: Option<Bytes>,
    /// Which tenant layer last confirmed the credentials this session authenticated with (a
    /// reload that changes or removes them signs the session out; see [`tenant`]).
    pub auth_generation: u64,
    /// The client's MULTI ... EXEC as the chain sees it.
    pub transaction: transaction::Transaction,
}

/// A command that was answered by a backend.
pub struct Completed<'a> {
    /// The command as the client sent it (before any policy rewrote it).
    pub cmd: &'a Command,
    pub elapsed: Duration,
    pub served: Served,
    /// The reply was an error.
    pub error: bool,
    /// The reply carried nothing: a nil, an empty array/map/set, or the integer 0 (for a read,
    /// a miss).
    pub empty: bool,
    pub session: &'a PolicySession,
}

/// One layer. See the module doc for the invariants.
pub trait Policy: Send + Sync {
    /// Inspects or rewrites a request; `Err(reply)` answers it here.
    fn request(&self, _session: &mut PolicySession, _cmd: &mut Command) -> Result<Verdict, Reply> {
        Ok(Verdict::default())
    }

    /// Rewrites the reply to a request this policy asked to see.
    fn reply(&self, _session: &PolicySession, _cmd: &Command, _reply: &mut Reply) {}

    /// Whether `reply` does anything (false: the chain neither calls it nor `leaves_reply`).
    /// Defaults to true, the safe answer; policies that keep the default `reply` may say false.
    fn rewrites_replies(&self) -> bool {
        true
    }

    /// Whether `reply` would leave the reply to `cmd` exactly as it is, judged from its raw
    /// `frame` as the backend sent it (then the frame is passed on without being parsed).
    /// `false`, the default, is always safe.
    fn leaves_reply(&self, _session: &PolicySession, _cmd: &Command, _frame: &[u8]) -> bool {
        false
    }

    /// Rewrites an out-of-band push (a pub/sub message) before the client sees it.
    fn push(&self, _session: &PolicySession, _push: &mut Reply) {}

    /// Whether this policy rewrites pushes (so they must be parsed).
    fn rewrites_pushes(&self) -> bool {
        false
    }

    /// Observes a command that was answered (the slow log, metrics).
    fn completed(&self, _done: &Completed) {}

    /// Observes a command the chain answered itself (some policy's `request` returned `Err`),
    /// with that answer: an error (a refusal) or not (AUTH, SLOWLOG answered by the sidecar).
    fn refused(&self, _session: &PolicySession, _cmd: &Command, _answer: &Reply) {}

    /// Whether `completed` does anything (if no policy observes, commands are not tracked).
    fn observes(&self) -> bool {
        false
    }

    /// Whether `request` may rewrite commands (then the client's original is kept for
    /// `completed`). Defaults to true, the safe answer; observers override it.
    fn rewrites_requests(&self) -> bool {
        true
    }

    /// Whether `request` does anything (false: the chain does not call it). Defaults to true,
    /// the safe answer; policies that keep the default `request` may say false.
    fn inspects_requests(&self) -> bool {
        true
    }
}

/// The configured policies, in order.
#[derive(Clone, Default)]
pub struct Chain {
    policies: Vec<Arc<dyn Policy>>,
    /// The policies whose `request` does something, in chain order (it runs for every command).
    inspecting: Vec<Arc<dyn Policy>>,
    /// The policies whose `reply` does something, in chain order.
    rewriting: Vec<Arc<dyn Policy>>,
    observes: bool,
    rewrites_pushes: bool,
    rewrites_requests: bool,
}

impl Chain {
    pub fn new(policies: Vec<Arc<dyn Policy>>) -> Chain {
        let observes = policies.iter().any(|p| p.observes());
        let rewrites_pushes = policies.iter().any(|p| p.rewrites_pushes());
        let rewrites_requests = policies.iter().any(|p| p.rewrites_requests());
        let inspecting = policies
            .iter()
            .filter(|p| p.inspects_requests())
            .cloned()
            .collect();
        let rewriting = policies
            .iter()
            .filter(|p| p.rewrites_replies())
            .cloned()
            .collect();
        Chain {
            policies,
            inspecting,
            rewriting,
            observes,
            rewrites_pushes,
            rewrites_requests,
        }
    }

    /// Runs every policy's `request` in order; the first `Err` answers the command.
    pub fn request(
        &self,
        session: &mut PolicySession,
        cmd: &mut Command,
    ) -> Result<Verdict, Reply> {
        let mut verdict = Verdict::default();
        for policy in &self.inspecting {
            let v = policy.request(session, cmd)?;
            verdict.rewrite_reply |= v.rewrite_reply;
        }
        Ok(verdict)
    }

    /// Runs every policy's `reply` in reverse order.
    pub fn reply(&self, session: &PolicySession, cmd: &Command, reply: &mut Reply) {
        for policy in self.rewriting.iter().rev() {
            policy.reply(session, cmd, reply);
        }
    }

    /// Whether [`Chain::reply`] would leave the reply in the raw `frame` as it is.
    pub fn leaves_reply(&self, session: &PolicySession, cmd: &Command, frame: &[u8]) -> bool {
        self.rewriting
            .iter()
            .all(|p| p.leaves_reply(session, cmd, frame))
    }

    pub fn push(&self, session: &PolicySession, push: &mut Reply) {
        for policy in self.policies.iter().rev() {
            policy.push(session, push);
        }
    }

    pub fn completed(&self, done: &Completed) {
        for policy in &self.policies {
            policy.completed(done);
        }
    }

    /// Runs every policy's `refused` for a command the chain answered itself with `answer`.
    pub fn refused(&self, session: &PolicySession, cmd: &Command, answer: &Reply) {
        for policy in &self.policies {
            policy.refused(session, cmd, answer);
        }
    }

    /// Whether commands must be tracked to their replies (some policy observes them).
    pub fn observes(&self) -> bool {
        self.observes
    }

    pub fn rewrites_pushes(&self) -> bool {
        self.rewrites_pushes
    }

    /// Whether some policy may rewrite requests (so the original must be kept for observers).
    pub fn rewrites_requests(&self) -> bool {
        self.rewrites_requests && self.observes
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuse;
    impl Policy for Refuse {
        fn request(&self, _: &mut PolicySession, cmd: &mut Command) -> Result<Verdict, Reply> {
            if cmd.is("flushall") {
                return Err(Reply::error("ERR refused"));
            }
            Ok(Verdict {
                rewrite_reply: cmd.is("get"),
            })
        }
        fn reply(&self, _: &PolicySession, _: &Command, reply: &mut Reply) {
            *reply = Reply::bulk("rewritten");
        }
    }

    #[test]
    fn the_first_refusal_answers_and_verdicts_combine() {
        let chain = Chain::new(vec![Arc::new(Refuse)]);
        let mut session = PolicySession::default();
        assert!(chain
            .request(&mut session, &mut Command::from_strs(&["FLUSHALL"]))
            .is_err());
        let verdict = chain
            .request(&mut session, &mut Command::from_strs(&["GET", "k"]))
            .unwrap();
        assert!(verdict.rewrite_reply);
        let mut reply = Reply::Nil;
        chain.reply(&session, &Command::from_strs(&["GET", "k"]), &mut reply);
        assert_eq!(reply, Reply::bulk("rewritten"));
    }
}
