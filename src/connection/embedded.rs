//! Serving a client from the embedded store: as the primary (no upstream configured), or in
//! place of the upstream during an outage (`failover` is given).
//!
//! In fallback, the batch executes only if the store still stands in (checked under the store's
//! lock), and replies are written only after the writes they acknowledge are in the journal on
//! disk. When the upstream is back, the client is handed back with whatever it sent that has not
//! run; a client holding connection state (MULTI, a non-zero database, subscriptions) is closed
//! instead, so it reconnects cleanly.
//!
//! Replies are written without waiting for the client to read them: what the socket does not
//! take stays in `wbuf` and is written as the client reads, while the client is not read past
//! [`BACKPRESSURE_BYTES`](super::BACKPRESSURE_BYTES), and a subscriber is disconnected past its output limit.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::gate::{self, Gate};
use super::limits::{Idle, IdleTimer, OutputWatch};
use super::track::{finish_reply, transaction_plan, Tracked};
use super::{
    may_read, parse_batch, read_lazily, release, shrink_if_idle, Carry, Exit, Request, Shared,
    Signal, Signals,
};
use crate::command::Command;
use crate::failover::Failover;
use crate::policy::transaction::ExecPlan;
use crate::policy::{PolicySession, Verdict};
use crate::protocol::{Reply, RequestParser};
use crate::store::{Outcome, Session, Store};

/// Pub/sub messages queued for one client before it counts as a slow reader and is dropped.
const PUSH_QUEUE: usize = 16 * 1024;

pub(super) async fn serve(
    socket: &mut TcpStream,
    store: &Store,
    shared: &mut Shared,
    carry: Carry,
    failover: Option<&Failover>,
) -> Exit {
    let (push_tx, mut pushes) = mpsc::channel::<Reply>(PUSH_QUEUE);
    let mut client = store.client();
    client.pushes = Some(push_tx);
    client.protocol = carry.protocol;
    client.name = carry.name;
    if let (Ok(peer), Ok(local)) = (socket.peer_addr(), socket.local_addr()) {
        client.addr = peer.to_string().into();
        client.laddr = local.to_string().into();
    }
    let mut session = Session::new(client);
    let mut parser = RequestParser::default();
    let mut rbuf = carry.rbuf;
    let mut policy = carry.policy;
    let mut chain = shared.chain.load();
    // The batch: what runs in the store, with the verdicts, and the chain's own answers by the
    // position they go before.
    let mut batch: Vec<Command> = Vec::new();
    // Per command: the chain's verdict and, if a policy rewrote it, the client's original.
    let mut verdicts: Vec<Admitted> = Vec::new();
    let mut answers: VecDeque<(usize, Reply)> = VecDeque::new();
    let mut parsed: Vec<Request> = Vec::new();
    for tracked in carry.cmds {
        line_up(tracked, &mut batch, &mut verdicts, &mut answers);
    }
    let mut wbuf = BytesMut::new();
    let mut outcomes = Vec::new();
    let mut signals = Signals::new(
        shared.shutdown.clone(),
        failover.map(|f| f.health.subscribe()),
    );
    // Replies wait for their writes to be on disk: always in fallback, and with
    // `appendfsync always` when the store is the primary.
    let durable = failover.map(|f| f.journal.clone()).or_else(|| {
        store
            .with_state(|s| s.journal.clone())
            .filter(|j| j.fsync() == crate::failover::journal::Fsync::Always)
    });
    // Set when there is input to parse without reading first (carried over, or read while a
    // command was blocked).
    let mut unparsed = true;
    let mut idle = IdleTimer::new(shared.idle_timeout);
    let mut output = OutputWatch::default();
    // Polled only when they woke (see [`Gate`]).
    let (mut pushes_gate, mut read_gate) = (Gate::default(), Gate::default());
    let exit = 'conn: loop {
        if !unparsed {
            let (mut reader, mut writer) = socket.split();
            let read_more = may_read(rbuf.len(), wbuf.len(), &shared.limits);
            tokio::select! {
                biased;
                signal = signals.next() => if signal == Signal::Shutdown {
                    flush(socket, &mut wbuf).await;
                    break Exit::Closed;
                },
                Some(push) = std::future::poll_fn(|cx| pushes_gate.poll_with(cx, |cx| pushes.poll_recv(cx))) => {
                    let mut next = Some(push);
                    while let Some(mut push) = next {
                        if chain.rewrites_pushes() {
                            chain.push(&policy, &mut push);
                        }
                        push.encode(session.client.protocol, &mut wbuf);
                        next = pushes.try_recv().ok();
                    }
                    if session.client.receives_pushes()
                        && output.exceeded(&shared.pubsub_output_limit, wbuf.len())
                    {
                        tracing::warn!(client = session.client.id, pending = wbuf.len(), "closing a subscriber or monitor that does not read: output buffer limit reached");
                        crate::metrics::limit_enforced("output_buffer");
                        break Exit::Closed;
                    }
                    continue;
                }
                written = writer.write(&wbuf), if !wbuf.is_empty() => match written {
                    Ok(n) if n > 0 => {
                        crate::metrics::sent(n);
                        wbuf.advance(n);
                        idle.active();
                        continue;
                    }
                    _ => break Exit::Closed,
                },
                read = gate::through(&mut read_gate, read_lazily(&mut reader, &mut rbuf)), if read_more => match read {
                    Ok(0) | Err(_) => break Exit::Closed,
                    Ok(n) => {
                        crate::metrics::received(n);
                        idle.active();
                    }
                },
                due = idle.expired() => match due {
                    Idle::Release => {
                        release(&mut rbuf);
                        release(&mut wbuf);
                        parser.release();
                        continue;
                    }
                    Idle::Timeout if session.client.receives_pushes() => {
                        idle.active();
                        continue;
                    }
                    Idle::Timeout => {
                        tracing::debug!(client = session.client.id, "closing an idle client");
                        crate::metrics::limit_enforced("idle_timeout");
                        break Exit::Closed;
                    }
                }
            }
        }
        unparsed = false;
        shared.chain.refresh(&mut chain);
        let fatal = parse_batch(&mut parser, &mut rbuf, &shared.limits, &mut parsed);
        for request in parsed.drain(..) {
            admit_into(
                &chain,
                &mut policy,
                request,
                &mut batch,
                &mut verdicts,
                &mut answers,
            );
        }
        let appended = durable.as_ref().map(|j| j.appended());
        let mut done = 0;
        while done < batch.len() {
            let standing_in = || failover.is_none_or(|f| f.health.serving_store());
            let ran = session.execute_if(store, &batch[done..], &mut outcomes, standing_in);
            if ran == 0 {
                // The upstream is back: hand over what has not run.
                let rest = remaining(&mut batch, &mut verdicts, &mut answers, done);
                break 'conn hand_back(socket, &mut wbuf, &session, rbuf, rest, policy).await;
            }
            for (i, outcome) in outcomes.drain(..).enumerate() {
                while answers.front().is_some_and(|(at, _)| *at <= done + i) {
                    let (_, answer) = answers.pop_front().expect("checked");
                    answer.encode(session.client.protocol, &mut wbuf);
                }
                let reply = match outcome {
                    Outcome::Reply(reply) => reply,
                    Outcome::Blocked(blocked) => {
                        if socket.write_all(&wbuf).await.is_err() {
                            break 'conn Exit::Closed;
                        }
                        crate::metrics::sent(wbuf.len());
                        wbuf.clear();
                        let wait = blocked.wait();
                        tokio::pin!(wait);
                        loop {
                            tokio::select! {
                                reply = &mut wait => {
                                    idle.active();
                                    break reply;
                                }
                                signal = signals.next() => {
                                    if signal == Signal::Shutdown {
                                        break 'conn Exit::Closed;
                                    }
                                    if failover.is_some_and(|f| !f.health.serving_store()) {
                                        // Un-park (dropping the wait) and re-run it upstream.
                                        let rest = remaining(&mut batch, &mut verdicts, &mut answers, done + i);
                                        break 'conn hand_back(socket, &mut wbuf, &session, rbuf, rest, policy).await;
                                    }
                                }
                                // Watch the socket: a client that leaves un-parks its command.
                                // Through the same gate: a read polled with another waker
                                // would leave the gate waiting for a wake that never comes.
                                read = gate::through(&mut read_gate, read_lazily(socket, &mut rbuf)), if may_read(rbuf.len(), 0, &shared.limits) => match read {
                                    Ok(0) | Err(_) => break 'conn Exit::Closed,
                                    Ok(n) => {
                                        crate::metrics::received(n);
                                        unparsed = true;
                                    }
                                },
                            }
                        }
                    }
                };
                let k = done + i;
                let elapsed = session.timings.get(i).copied().unwrap_or_default();
                finish_reply(
                    &chain,
                    &policy,
                    (
                        &batch[k],
                        verdicts[k].0,
                        verdicts[k].1.as_ref(),
                        verdicts[k].2.as_deref(),
                    ),
                    reply,
                    elapsed,
                    session.client.protocol,
                    &mut wbuf,
                );
            }
            done += ran;
            if session.client.closing {
                break;
            }
        }
        for (_, answer) in answers.drain(..) {
            answer.encode(session.client.protocol, &mut wbuf);
        }
        for cmd in batch.drain(..) {
            parser.recycle(cmd.args);
        }
        verdicts.clear();
        if let (Some(journal), Some(before)) = (&durable, appended) {
            let now = journal.appended();
            if now > before {
                journal.durable(now).await;
            }
        }
        if let Some(error) = &fatal {
            Reply::error(error.reply_text()).encode(session.client.protocol, &mut wbuf);
        }
        if fatal.is_some() || session.client.closing {
            flush(socket, &mut wbuf).await;
            break Exit::Closed;
        }
        if !wbuf.is_empty() {
            // One write system call per batch; what the socket does not take waits in `wbuf`.
            match socket.try_write(&wbuf) {
                Ok(n) => {
                    crate::metrics::sent(n);
                    wbuf.advance(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break Exit::Closed,
            }
        }
        if failover.is_some_and(|f| !f.health.serving_store()) {
            break hand_back(socket, &mut wbuf, &session, rbuf, VecDeque::new(), policy).await;
        }
        shrink_if_idle(&mut rbuf);
    };
    session.close(store);
    exit
}

/// How long a closing client gets to take its last replies.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes what is left in `wbuf` before the connection closes (bounded by [`FLUSH_TIMEOUT`], so
/// a client that never reads cannot hold the connection open).
async fn flush(socket: &mut TcpStream, wbuf: &mut BytesMut) {
    if wbuf.is_empty() {
        return;
    }
    if let Ok(Ok(())) = tokio::time::timeout(FLUSH_TIMEOUT, socket.write_all(wbuf)).await {
        crate::metrics::sent(wbuf.len());
    }
    wbuf.clear();
}

/// Flushes what is written and hands the client to the upstream side, or closes it if it holds
/// state the upstream connection would not have.
async fn hand_back(
    socket: &mut TcpStream,
    wbuf: &mut BytesMut,
    session: &Session,
    rbuf: BytesMut,
    cmds: VecDeque<Tracked>,
    policy: PolicySession,
) -> Exit {
    if !wbuf.is_empty() && socket.write_all(wbuf).await.is_err() {
        return Exit::Closed;
    }
    crate::metrics::sent(wbuf.len());
    wbuf.clear();
    let client = &session.client;
    if session.in_multi() || client.db != 0 || client.receives_pushes() {
        return Exit::Closed;
    }
    Exit::Switch(Carry {
        rbuf,
        cmds,
        protocol: client.protocol,
        name: client.name.clone(),
        policy,
    })
}

/// Per command in the batch: the chain's verdict, the client's original if a policy rewrote
/// it, and an EXEC's plan for its reply.
type Admitted = (Verdict, Option<Command>, Option<Box<ExecPlan>>);

/// Adds a command to the batch, or its answer to the answers at its position.
fn line_up(
    tracked: Tracked,
    batch: &mut Vec<Command>,
    verdicts: &mut Vec<Admitted>,
    answers: &mut VecDeque<(usize, Reply)>,
) {
    match tracked.answer {
        Some(answer) => answers.push_back((batch.len(), answer)),
        None => {
            batch.push(tracked.cmd);
            verdicts.push((tracked.verdict, tracked.original, tracked.exec));
        }
    }
}

/// [`Tracked::admit`] then [`line_up`], without building a [`Tracked`] in between (this runs
/// for every command).
fn admit_into(
    chain: &crate::policy::Chain,
    policy: &mut PolicySession,
    request: Request,
    batch: &mut Vec<Command>,
    verdicts: &mut Vec<Admitted>,
    answers: &mut VecDeque<(usize, Reply)>,
) {
    let mut cmd = match request {
        Ok(cmd) => cmd,
        Err(refusal) => {
            if policy.transaction.is_open() {
                let mut skipped = Command::from_strs(&["PING"]);
                transaction_plan(policy, &mut skipped, false, Some(&refusal), &mut None);
            }
            return answers.push_back((batch.len(), refusal));
        }
    };
    let before = chain.rewrites_requests().then(|| cmd.snapshot());
    let (verdict, refusal) = match chain.request(policy, &mut cmd) {
        Ok(verdict) => (verdict, None),
        Err(reply) => {
            chain.refused(policy, &cmd, &reply);
            if !reply.is_error() {
                return answers.push_back((batch.len(), reply));
            }
            (Verdict::default(), Some(reply))
        }
    };
    let mut original = before.and_then(|b| b.original(&cmd));
    let exec = transaction_plan(
        policy,
        &mut cmd,
        verdict.rewrite_reply,
        refusal.as_ref(),
        &mut original,
    );
    match refusal {
        // A refused EXEC still runs, as DISCARD.
        Some(refusal) if exec.is_none() => answers.push_back((batch.len(), refusal)),
        _ => {
            batch.push(cmd);
            verdicts.push((verdict, original, exec));
        }
    }
}

/// The commands from `from` on, with the answers among them, in order (to hand over).
fn remaining(
    batch: &mut Vec<Command>,
    verdicts: &mut Vec<Admitted>,
    answers: &mut VecDeque<(usize, Reply)>,
    from: usize,
) -> VecDeque<Tracked> {
    let mut out = VecDeque::new();
    let cmds = batch.split_off(from.min(batch.len()));
    let kept = verdicts.split_off(from.min(verdicts.len()));
    for (offset, (cmd, (verdict, original, exec))) in cmds.into_iter().zip(kept).enumerate() {
        while answers.front().is_some_and(|(at, _)| *at <= from + offset) {
            let (_, answer) = answers.pop_front().expect("checked");
            out.push_back(Tracked::answered(answer));
        }
        out.push_back(Tracked {
            original,
            exec,
            ..Tracked::new(cmd, verdict)
        });
    }
    for (_, answer) in answers.drain(..) {
        out.push_back(Tracked::answered(answer));
    }
    out
}
