//! Commands tracked from request to reply, so the policy chain sees both.
//!
//! Only used when policies are configured: without them replies pass through untouched and
//! nothing is tracked (the pass-through fast path).

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::command::Command;
use crate::policy::transaction::{ExecPlan, Step};
use crate::policy::{Chain, Completed, PolicySession, Served, Verdict};
use crate::protocol::{parse_reply, Protocol, Reply};

/// A command that passed the chain, on its way to a backend; or one the chain already answered
/// (`answer`), kept in line so its reply leaves in order.
pub struct Tracked {
    pub cmd: Command,
    pub verdict: Verdict,
    /// When it was sent (reset when a deferred command is finally sent).
    pub started: Option<Instant>,
    pub answer: Option<Reply>,
    /// The command as the client sent it, when a policy rewrote `cmd` (observers see this).
    pub original: Option<Command>,
    /// For an EXEC: what the chain does with its reply ([`crate::policy::transaction`]).
    pub exec: Option<Box<ExecPlan>>,
}

impl Tracked {
    pub fn new(cmd: Command, verdict: Verdict) -> Tracked {
        Tracked {
            cmd,
            verdict,
            started: None,
            answer: None,
            original: None,
            exec: None,
        }
    }

    /// A request answered without running (kept in line so the answer leaves in order).
    pub fn answered(reply: Reply) -> Tracked {
        Tracked {
            answer: Some(reply),
            // `cmd` is never run nor shown for an answered request; a command needs a name.
            ..Tracked::new(Command::from_strs(&["PING"]), Verdict::default())
        }
    }

    /// Lets the connection's transaction see this request (see [`transaction_plan`]).
    pub fn step_transaction(&mut self, session: &mut PolicySession) {
        if self.answer.as_ref().is_some_and(|a| !a.is_error()) {
            return;
        }
        let refusal = self.answer.take();
        let plan = transaction_plan(
            session,
            &mut self.cmd,
            self.verdict.rewrite_reply,
            refusal.as_ref(),
            &mut self.original,
        );
        match plan {
            // A refused EXEC is sent as DISCARD all the same.
            Some(plan) => self.exec = Some(plan),
            None => self.answer = refusal,
        }
    }

    /// Runs `cmd` through the chain: admitted, or answered by a policy.
    pub fn admit(chain: &Chain, session: &mut PolicySession, mut cmd: Command) -> Tracked {
        let before = chain.rewrites_requests().then(|| cmd.snapshot());
        match chain.request(session, &mut cmd) {
            Ok(verdict) => Tracked {
                original: before.and_then(|b| b.original(&cmd)),
                ..Tracked::new(cmd, verdict)
            },
            Err(reply) => {
                chain.refused(session, &cmd, &reply);
                Tracked {
                    answer: Some(reply),
                    ..Tracked::new(cmd, Verdict::default())
                }
            }
        }
    }
}

/// Lets the connection's transaction see a request after the chain ([`crate::policy::transaction`]):
/// a refusal (an error answered by the chain) while queuing aborts it, and an EXEC takes the
/// plan for its reply (rewritten into DISCARD when aborted; `original` then keeps the EXEC the
/// client sent, for observers).
pub fn transaction_plan(
    session: &mut PolicySession,
    cmd: &mut Command,
    rewrite_reply: bool,
    refusal: Option<&Reply>,
    original: &mut Option<Command>,
) -> Option<Box<ExecPlan>> {
    let exec = cmd.is("exec").then(|| cmd.clone());
    let plan = session.transaction.step(Step {
        cmd,
        rewrite_reply,
        refusal,
    })?;
    *original = original.take().or(exec);
    Some(Box::new(plan))
}

/// Appends the reply `frame` to `tracked` to `out`, rewritten by the chain if a policy asked to
/// see it, and reports the command as completed.
pub fn finish_frame(
    chain: &Chain,
    session: &PolicySession,
    tracked: &Tracked,
    frame: &Bytes,
    protocol: Protocol,
    served: Served,
    out: &mut BytesMut,
) {
    let rewrite = tracked.exec.is_some()
        || (tracked.verdict.rewrite_reply && !chain.leaves_reply(session, &tracked.cmd, frame));
    let mut error = frame.first() == Some(&b'-');
    match rewrite.then(|| parse_reply(frame)).flatten() {
        Some(mut reply) => {
            let plan = tracked.exec.as_deref();
            rewrite_reply(chain, session, (&tracked.cmd, plan), &mut reply);
            error = reply.is_error();
            reply.encode(protocol, out);
        }
        None => out.extend_from_slice(frame),
    }
    if chain.observes() {
        chain.completed(&Completed {
            cmd: tracked.original.as_ref().unwrap_or(&tracked.cmd),
            elapsed: tracked.started.map(|s| s.elapsed()).unwrap_or_default(),
            served,
            error,
            empty: crate::metrics::empty_frame(frame),
            session,
        });
    }
}

/// A reply through the chain: an EXEC's by its plan, any other by the command's policies.
fn rewrite_reply(
    chain: &Chain,
    session: &PolicySession,
    (cmd, plan): (&Command, Option<&ExecPlan>),
    reply: &mut Reply,
) {
    match plan {
        Some(plan) => plan.apply(chain, session, reply),
        None => chain.reply(session, cmd, reply),
    }
}

/// Appends an out-of-band frame (a pub/sub message), rewritten by the chain if a policy
/// rewrites pushes.
pub fn push_frame(
    chain: &Chain,
    session: &PolicySession,
    frame: &Bytes,
    protocol: Protocol,
    out: &mut BytesMut,
) {
    match chain
        .rewrites_pushes()
        .then(|| parse_reply(frame))
        .flatten()
    {
        Some(mut push) => {
            chain.push(session, &mut push);
            push.encode(protocol, out);
        }
        None => out.extend_from_slice(frame),
    }
}

/// A reply from the embedded store to `tracked`, through the chain, encoded into `out`.
pub fn finish_reply(
    chain: &Chain,
    session: &PolicySession,
    tracked: (&Command, Verdict, Option<&Command>, Option<&ExecPlan>),
    mut reply: Reply,
    elapsed: std::time::Duration,
    protocol: Protocol,
    out: &mut BytesMut,
) {
    let (cmd, verdict, original, plan) = tracked;
    if verdict.rewrite_reply || plan.is_some() {
        rewrite_reply(chain, session, (cmd, plan), &mut reply);
    }
    reply.encode(protocol, out);
    if chain.observes() {
        let error = reply.is_error();
        chain.completed(&Completed {
            cmd: original.unwrap_or(cmd),
            elapsed,
            served: Served::Store,
            error,
            empty: crate::metrics::empty_reply(&reply),
            session,
        });
    }
}
