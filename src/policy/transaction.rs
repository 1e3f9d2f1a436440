//! What the policy chain remembers of a client's MULTI ... EXEC, so that a transaction keeps
//! Redis's promises through the policies:
//!
//! - **All or nothing.** A command answered by the chain with an error while queuing (the
//!   budget refused it, a tenant may not run it, it was oversized) never reaches the backend,
//!   so the backend would run the rest. In Redis a queuing error aborts the transaction, so the
//!   sidecar does the same: that EXEC goes to the backend as DISCARD and is answered
//!   `-EXECABORT Transaction discarded because of previous errors.`
//! - **Replies rewritten per command.** EXEC's reply holds one reply per queued command; each
//!   goes through the chain with its own command, as it would outside a transaction (a
//!   tenant's KEYS un-prefixed, a compressed GET restored).
//!
//! Invariant: [`Transaction::step`] sees every request of the connection once, in order, after
//! the chain and before routing; an [`ExecPlan`] travels with the EXEC it was made for.

use std::mem;

use crate::command::Command;
use crate::protocol::Reply;

use super::{Chain, PolicySession};

/// Redis's answer to EXEC after a queuing error.
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// The chain's view of the connection's transaction.
#[derive(Clone, Debug, Default)]
pub struct Transaction {
    open: bool,
    /// A queued command was answered with an error by the chain.
    aborted: bool,
    /// Per queued command, the command when some policy rewrites its reply.
    queued: Vec<Option<Command>>,
}

/// What to do with the reply of one EXEC.
#[derive(Clone, Debug)]
pub enum ExecPlan {
    /// The transaction was aborted: the EXEC was sent as DISCARD, whose OK becomes this error.
    Abort(Reply),
    /// EXEC's array: the reply at position i goes through the chain with `queued[i]`.
    Replies(Vec<Option<Command>>),
}

/// A request after the chain, as [`Transaction::step`] sees it.
pub struct Step<'a> {
    /// The command as it will be sent (the chain may have rewritten it).
    pub cmd: &'a mut Command,
    /// Some policy asked to see the reply.
    pub rewrite_reply: bool,
    /// The error the chain answered the request with, if it refused it.
    pub refusal: Option<&'a Reply>,
}

impl Transaction {
    /// Between MULTI and EXEC/DISCARD.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Follows MULTI ... EXEC/DISCARD/RESET; returns the plan for an EXEC that needs one, and
    /// then rewrites an aborted EXEC into DISCARD. An EXEC the chain refused is such an EXEC
    /// too (the transaction must end on the backend), answered as Redis answers an EXEC it
    /// rejects: `-EXECABORT Transaction discarded because of: <the refusal>`.
    pub fn step(&mut self, step: Step) -> Option<ExecPlan> {
        let cmd = &*step.cmd;
        if !self.open {
            if step.refusal.is_none() && cmd.is("multi") {
                self.open = true;
            }
            return None;
        }
        if cmd.is("exec") {
            let queued = mem::take(&mut self.queued);
            let aborted = mem::take(&mut self.aborted);
            self.open = false;
            let abort = match step.refusal {
                Some(refusal) => Some(Reply::error(format!(
                    "EXECABORT Transaction discarded because of: {}",
                    error_line(refusal)
                ))),
                None => aborted.then(|| Reply::error(EXECABORT)),
            };
            if let Some(reply) = abort {
                *step.cmd = Command::from_strs(&["DISCARD"]);
                return Some(ExecPlan::Abort(reply));
            }
            return queued
                .iter()
                .any(Option::is_some)
                .then_some(ExecPlan::Replies(queued));
        }
        if step.refusal.is_some() {
            self.aborted = true;
        } else if cmd.is("discard") || cmd.is("reset") {
            *self = Transaction::default();
        } else if !(cmd.is("multi") || cmd.is("watch")) {
            // MULTI and WATCH inside MULTI are answered with an error and not queued.
            self.queued
                .push(step.rewrite_reply.then(|| step.cmd.clone()));
        }
        None
    }
}

/// An error reply's line without its `-` and CRLF (`ERR ...`).
fn error_line(reply: &Reply) -> String {
    match reply {
        Reply::Error(line) => String::from_utf8_lossy(line).into_owned(),
        Reply::Raw(frame) => String::from_utf8_lossy(frame)
            .trim_start_matches('-')
            .trim_end()
            .to_owned(),
        _ => String::new(),
    }
}

impl ExecPlan {
    /// Applies the plan to the reply of the EXEC it was made for.
    pub fn apply(&self, chain: &Chain, session: &PolicySession, reply: &mut Reply) {
        match self {
            // DISCARD's OK; an error (the backend was lost) stays what it is.
            ExecPlan::Abort(abort) if !reply.is_error() => *reply = abort.clone(),
            ExecPlan::Abort(_) => {}
            ExecPlan::Replies(queued) => {
                // A nil (WATCH fired) or an error (EXECABORT from the backend) has no parts.
                if let Reply::Array(items) = reply {
                    if items.len() == queued.len() {
                        for (item, cmd) in items.iter_mut().zip(queued) {
                            if let Some(cmd) = cmd {
                                chain.reply(session, cmd, item);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(
        t: &mut Transaction,
        words: &[&str],
        rewrite_reply: bool,
        refused: bool,
    ) -> (Command, Option<ExecPlan>) {
        let mut cmd = Command::from_strs(words);
        let refusal = Reply::error("ERR max daily request limit exceeded");
        let plan = t.step(Step {
            cmd: &mut cmd,
            rewrite_reply,
            refusal: refused.then_some(&refusal),
        });
        (cmd, plan)
    }

    #[test]
    fn a_refusal_while_queuing_turns_exec_into_discard() {
        let mut t = Transaction::default();
        step(&mut t, &["MULTI"], false, false);
        step(&mut t, &["SET", "a", "1"], false, false);
        step(&mut t, &["SMEMBERS", "s"], false, true);
        let (cmd, plan) = step(&mut t, &["EXEC"], false, false);
        assert!(cmd.is("discard"));
        assert!(matches!(plan, Some(ExecPlan::Abort(r)) if r == Reply::error(EXECABORT)));
        // The next transaction starts clean.
        step(&mut t, &["MULTI"], false, false);
        let (cmd, plan) = step(&mut t, &["EXEC"], false, false);
        assert!(cmd.is("exec"));
        assert!(plan.is_none());
    }

    #[test]
    fn a_refused_exec_still_ends_the_transaction() {
        let mut t = Transaction::default();
        step(&mut t, &["MULTI"], false, false);
        step(&mut t, &["SET", "a", "1"], false, false);
        let (cmd, plan) = step(&mut t, &["EXEC"], false, true);
        assert!(cmd.is("discard"));
        let want = Reply::error(
            "EXECABORT Transaction discarded because of: ERR max daily request limit exceeded",
        );
        assert!(matches!(plan, Some(ExecPlan::Abort(r)) if r == want));
        let (cmd, _) = step(&mut t, &["GET", "a"], false, false);
        assert!(cmd.is("get"));
        let (_, plan) = step(&mut t, &["EXEC"], false, false);
        assert!(plan.is_none(), "no transaction is open");
    }

    #[test]
    fn a_refusal_outside_a_transaction_aborts_nothing() {
        let mut t = Transaction::default();
        step(&mut t, &["SMEMBERS", "s"], false, true);
        step(&mut t, &["MULTI"], false, false);
        let (cmd, _) = step(&mut t, &["EXEC"], false, false);
        assert!(cmd.is("exec"));
    }

    #[test]
    fn exec_carries_the_queued_commands_whose_replies_are_rewritten() {
        let mut t = Transaction::default();
        step(&mut t, &["MULTI"], false, false);
        step(&mut t, &["SET", "a", "1"], false, false);
        step(&mut t, &["WATCH", "a"], false, false);
        step(&mut t, &["KEYS", "*"], true, false);
        let (_, plan) = step(&mut t, &["EXEC"], false, false);
        let Some(ExecPlan::Replies(queued)) = plan else {
            panic!("a plan for EXEC's replies, got {plan:?}");
        };
        assert_eq!(queued.len(), 2, "WATCH is not queued");
        assert!(queued[0].is_none());
        assert_eq!(
            queued[1].as_ref().map(|c| c.args.clone()),
            Some(Command::from_strs(&["KEYS", "*"]).args)
        );
    }

    #[test]
    fn discard_and_reset_forget_the_transaction() {
        for end in ["DISCARD", "RESET"] {
            let mut t = Transaction::default();
            step(&mut t, &["MULTI"], false, false);
            step(&mut t, &["GET", "a"], false, true);
            step(&mut t, &[end], false, false);
            step(&mut t, &["MULTI"], false, false);
            let (cmd, plan) = step(&mut t, &["EXEC"], false, false);
            assert!(cmd.is("exec"), "after {end}");
            assert!(plan.is_none());
        }
    }

    #[test]
    fn the_abort_plan_keeps_errors_and_replaces_ok() {
        let chain = Chain::default();
        let session = PolicySession::default();
        let abort = ExecPlan::Abort(Reply::error(EXECABORT));
        let mut ok = Reply::ok();
        abort.apply(&chain, &session, &mut ok);
        assert_eq!(ok, Reply::error(EXECABORT));
        let mut lost = Reply::error("ERR upstream unavailable: closed");
        abort.apply(&chain, &session, &mut lost);
        assert_eq!(lost, Reply::error("ERR upstream unavailable: closed"));
    }
}
