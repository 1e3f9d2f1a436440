//! Serving a client through the upstream.
//!
//! Pooled mode (the default): a batch's stateless commands become one [`Job`] on the client's
//! pool connection; replies come back as segments. Pinned mode: the client has a dedicated
//! connection, driven full duplex, with [`Pending`] matching replies (pub/sub included).
//!
//! Invariants: replies leave in request order — `order` (pooled) and `Pending` (pinned) hold a
//! slot per request, local replies included; the client moves between modes only when nothing
//! is in flight (commands that need the switch wait in `deferred`, and the client is not read
//! meanwhile), so no reply can overtake another.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::gate::{self, Gate};
use super::limits::{Idle, IdleTimer, OutputWatch};
use super::track::{finish_frame, push_frame, Tracked};
use super::{
    admit, may_read, parse_batch, read_lazily, release, shrink_if_idle, Carry, Exit, Shared,
    Signal, Signals, BACKPRESSURE_BYTES, READ_CHUNK,
};
use crate::command::Command;
use crate::policy::{Chain, PolicySession, Served};
use crate::protocol::{frame_len, FrameScanner, Protocol, Reply, RequestParser};
use crate::upstream::link::{write_or_flush, Outgoing, Reader, Writer, MAX_REPLY_DEPTH};
use crate::upstream::pending::{Pending, Route};
use crate::upstream::pool::{unavailable, Job, Segment};
use crate::upstream::routing::{classify, Class};
use crate::upstream::{Link, Upstream, UpstreamError};

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// The largest answered job's command list kept for the next job to reuse.
const SPARE_TRACKS: usize = 64;

enum Slot {
    /// A job on the pool connection, not yet fully answered; its commands when tracked.
    Job(VecDeque<Tracked>),
    /// A reply made by the sidecar, waiting for the replies before it.
    Local(Bytes),
}

/// A dedicated upstream connection and the state that keeps the client on it.
struct Pinned {
    reader: Reader,
    writer: Writer,
    rbuf: BytesMut,
    /// How far the incomplete reply at the start of `rbuf` has been scanned.
    scan: FrameScanner,
    out: Outgoing,
    pending: Pending,
    in_multi: bool,
    watching: bool,
    /// State that only ends with the client (SELECT, MONITOR, CLIENT TRACKING/REPLY).
    sticky: bool,
    /// Commands sent and not yet answered, when tracked.
    tracks: VecDeque<Tracked>,
    _permit: OwnedSemaphorePermit,
}

impl Pinned {
    fn state_ended(&self) -> bool {
        self.pending.is_empty()
            && !self.in_multi
            && !self.watching
            && !self.sticky
            && !self.pending.subscribed()
    }
}

struct Driver {
    upstream: Arc<Upstream>,
    id: u64,
    protocol: Protocol,
    name: Option<Bytes>,
    /// The pool connection of the jobs in flight (chosen again when none is).
    pool_conn: usize,
    /// Jobs sent to the pool whose last segment has not come back.
    jobs_in_flight: usize,
    segments_tx: mpsc::UnboundedSender<Segment>,
    order: VecDeque<Slot>,
    job: BytesMut,
    job_count: usize,
    job_tracks: VecDeque<Tracked>,
    /// An answered job's emptied `job_tracks`, for the next job to reuse.
    spare_tracks: VecDeque<Tracked>,
    /// Parses the client's requests, and takes back their argument vectors once answered.
    parser: RequestParser,
    pinned: Option<Pinned>,
    deferred: VecDeque<Tracked>,
    out: BytesMut,
    closing: bool,
    chain: Arc<Chain>,
    /// Track commands to their replies (policies are configured).
    track: bool,
    /// The client's and the sidecar's addresses, for CLIENT INFO.
    addrs: (String, String),
    /// CLIENT SETINFO LIB-NAME and LIB-VER.
    lib: (Option<Bytes>, Option<Bytes>),
    policy: PolicySession,
}

pub(super) async fn serve(
    socket: &mut TcpStream,
    upstream: &Arc<Upstream>,
    shared: &mut Shared,
    carry: Carry,
) -> Exit {
    let (segments_tx, mut segments) = mpsc::unbounded_channel();
    let chain = shared.chain.load();
    let mut d = Driver {
        pool_conn: 0,
        jobs_in_flight: 0,
        upstream: upstream.clone(),
        id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
        protocol: carry.protocol,
        name: carry.name,
        segments_tx,
        order: VecDeque::new(),
        job: BytesMut::new(),
        job_count: 0,
        job_tracks: VecDeque::new(),
        spare_tracks: VecDeque::new(),
        parser: RequestParser::default(),
        pinned: None,
        deferred: carry.cmds,
        out: BytesMut::new(),
        closing: false,
        track: !chain.is_empty(),
        addrs: (
            socket
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            socket
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        ),
        lib: (None, None),
        chain,
        policy: carry.policy,
    };
    let mut rbuf = carry.rbuf;
    let mut batch: Vec<super::Request> = Vec::new();
    let health = upstream.failover.as_ref().map(|f| f.health.clone());
    let mut signals = Signals::new(
        shared.shutdown.clone(),
        health.as_ref().map(|h| h.subscribe()),
    );
    let (mut client_r, mut client_w) = socket.split();
    let mut idle = IdleTimer::new(shared.idle_timeout);
    let mut output = OutputWatch::default();
    // The two sources woken for every request, polled only when they were (see [`Gate`]).
    let (mut segments_gate, mut read_gate) = (Gate::default(), Gate::default());

    let exit = loop {
        let quiet = d.order.is_empty() && d.job_count == 0;
        if quiet && health.as_ref().is_some_and(|h| h.serving_store()) {
            // The upstream is unreachable: hand the client to the fallback store once nothing
            // is in flight. State on a dedicated connection cannot move, so such a client closes.
            if d.pinned.as_ref().is_some_and(|p| !p.pending.is_empty()) {
                // Its replies (or errors) are still coming.
            } else if d.out.is_empty() {
                if d.pinned.take().is_some_and(|p| !p.state_ended()) {
                    break Exit::Closed;
                }
                let cmds = std::mem::take(&mut d.deferred);
                break Exit::Switch(Carry {
                    rbuf,
                    cmds,
                    protocol: d.protocol,
                    name: d.name.take(),
                    policy: std::mem::take(&mut d.policy),
                });
            }
        }
        if !d.deferred.is_empty()
            && d.order.is_empty()
            && !health.as_ref().is_some_and(|h| h.serving_store())
        {
            d.run_deferred().await;
        }
        let in_flight =
            !d.order.is_empty() || d.pinned.as_ref().is_some_and(|p| !p.pending.is_empty());
        if d.closing && !in_flight && d.deferred.is_empty() && d.out.is_empty() {
            break Exit::Closed;
        }
        let read_client = !d.closing
            && d.deferred.is_empty()
            && may_read(rbuf.len(), d.out.len(), &shared.limits);
        // Exempt from the idle timeout: a client owed replies (a blocking command included),
        // or holding a subscription or MONITOR.
        let busy = in_flight
            || !d.deferred.is_empty()
            || d.pinned
                .as_ref()
                .is_some_and(|p| p.sticky || p.pending.subscribed());
        let command_timeout = d.upstream.config.command_timeout;
        let pin_deadline = d
            .pinned
            .as_ref()
            .and_then(|p| p.pending.deadline(command_timeout));
        // The dedicated connection is not read while the client is this far behind.
        let (pin_read, pin_write) = match d.pinned.as_mut() {
            Some(p) => (
                (d.out.len() < BACKPRESSURE_BYTES).then_some((&mut p.reader, &mut p.rbuf)),
                p.out.work(true).map(|work| (&mut p.writer, work)),
            ),
            None => (None, None),
        };
        let (has_pin, pin_writes) = (pin_read.is_some(), pin_write.is_some());
        tokio::select! {
            biased;
            signal = signals.next(), if !d.closing => if signal == Signal::Shutdown {
                d.closing = true;
            },
            Some(segment) = std::future::poll_fn(|cx| segments_gate.poll_with(cx, |cx| segments.poll_recv(cx))) => {
                d.apply_segment(segment);
                while let Ok(segment) = segments.try_recv() {
                    d.apply_segment(segment);
                }
                write_now(&client_w, &mut d.out, &mut idle);
            }
            read = async move { let (r, buf) = pin_read.expect("guarded"); r.read_buf(buf).await }, if has_pin => {
                match read {
                    Ok(n) if n > 0 => {
                        d.pinned.as_mut().expect("guarded").pending.progressed();
                        d.route_pinned();
                        let subscribed = d.pinned.as_ref().is_some_and(|p| p.pending.subscribed());
                        if subscribed && output.exceeded(&shared.pubsub_output_limit, d.out.len()) {
                            tracing::warn!(client = d.id, pending = d.out.len(), "closing a subscriber that does not read: output buffer limit reached");
                            crate::metrics::limit_enforced("output_buffer");
                            break Exit::Closed;
                        }
                    }
                    Ok(_) => d.lose_pinned(&UpstreamError::Closed),
                    Err(e) => d.lose_pinned(&UpstreamError::Io(e)),
                }
            }
            written = async move { let (w, buf) = pin_write.expect("guarded"); write_or_flush(w, buf).await }, if pin_writes => {
                match written {
                    Ok(Some(n)) if n > 0 => {
                        let p = d.pinned.as_mut().expect("guarded");
                        p.out.wrote(n, &mut p.writer);
                    }
                    Ok(None) => d.pinned.as_mut().expect("guarded").out.flushed(),
                    Ok(Some(_)) => d.lose_pinned(&UpstreamError::Closed),
                    Err(e) => d.lose_pinned(&UpstreamError::Io(e)),
                }
            }
            _ = sleep_until_some(pin_deadline), if pin_deadline.is_some() => {
                d.lose_pinned(&UpstreamError::Timeout(command_timeout.as_millis() as u64));
            }
            written = client_w.write(&d.out), if !d.out.is_empty() => match written {
                Ok(n) if n > 0 => {
                    crate::metrics::sent(n);
                    d.out.advance(n);
                    idle.active();
                }
                _ => break Exit::Closed,
            },
            read = gate::through(&mut read_gate, read_lazily(&mut client_r, &mut rbuf)), if read_client => match read {
                Ok(0) | Err(_) => break Exit::Closed,
                Ok(n) => {
                    crate::metrics::received(n);
                    idle.active();
                    let fatal = parse_batch(&mut d.parser, &mut rbuf, &shared.limits, &mut batch);
                    shared.chain.refresh(&mut d.chain);
                    for request in batch.drain(..) {
                        if d.closing {
                            break;
                        }
                        let tracked = admit(&d.chain, &mut d.policy, request);
                        if let Some(tracked) = d.route(tracked) {
                            d.pin_and_send(tracked).await;
                        }
                    }
                    d.flush_job();
                    if let Some(error) = fatal {
                        d.emit_local(Reply::error(error.reply_text()));
                        d.closing = true;
                    }
                    write_now(&client_w, &mut d.out, &mut idle);
                    shrink_if_idle(&mut rbuf);
                }
            },
            due = idle.expired() => match due {
                Idle::Release => {
                    release(&mut rbuf);
                    release(&mut d.out);
                    if d.job_count == 0 {
                        release(&mut d.job);
                    }
                    d.spare_tracks = VecDeque::new();
                    d.parser.release();
                }
                Idle::Timeout if busy => idle.active(),
                Idle::Timeout => {
                    tracing::debug!(client = d.id, "closing an idle client");
                    crate::metrics::limit_enforced("idle_timeout");
                    break Exit::Closed;
                }
            },
        }
    };
    let _ = client_w.flush().await;
    exit
}

/// Writes the replies the socket takes at once, not after another turn of the loop; what it
/// does not take (and any error) is left to the write branch.
fn write_now(client_w: &tokio::net::tcp::WriteHalf<'_>, out: &mut BytesMut, idle: &mut IdleTimer) {
    if out.is_empty() {
        return;
    }
    if let Ok(n) = client_w.try_write(out) {
        crate::metrics::sent(n);
        out.advance(n);
        idle.active();
    }
}

impl Driver {
    /// Routes one command: answered here, added to the pool job, sent on the pinned
    /// connection, or deferred until nothing is in flight.
    async fn dispatch(&mut self, tracked: Tracked) {
        if let Some(tracked) = self.route(tracked) {
            self.pin_and_send(tracked).await;
        }
    }

    /// Takes a dedicated connection for `tracked` and sends it there (or answers why not). Its
    /// future is boxed: connecting is rare, and the per-command path then never builds (and
    /// moves) a future with room for a whole connection handshake.
    async fn pin_and_send(&mut self, tracked: Tracked) {
        match Box::pin(self.pin()).await {
            Ok(()) => self.send_pinned(tracked),
            Err(reply) => self.emit_local(reply),
        }
    }

    /// [`Driver::dispatch`] without waiting: returns the command if it needs a dedicated
    /// connection first.
    fn route(&mut self, tracked: Tracked) -> Option<Tracked> {
        let cmd = &tracked.cmd;
        let to_store = self
            .upstream
            .failover
            .as_ref()
            .is_some_and(|f| f.health.serving_store());
        if !self.deferred.is_empty() || (to_store && self.pinned.is_none()) {
            self.flush_job();
            self.deferred.push_back(tracked);
            return None;
        }
        if let Some(answer) = tracked.answer {
            self.flush_job();
            self.emit_local(answer);
            return None;
        }
        let class = classify(cmd);
        if self.pinned.is_some() && !(class == Class::Local && !cmd.is("reset") && !cmd.is("hello"))
        {
            self.send_pinned(tracked);
            return None;
        }
        let quiet = self.order.is_empty() && self.job_count == 0;
        match class {
            Class::Pool => {
                cmd.encode(&mut self.job);
                self.job_count += 1;
                if self.track {
                    self.job_tracks.push_back(Tracked {
                        started: Some(Instant::now()),
                        ..tracked
                    });
                }
            }
            Class::Local if (cmd.is("hello") || cmd.is("reset")) && !quiet => {
                self.flush_job();
                self.deferred.push_back(tracked);
            }
            Class::Local => {
                self.flush_job();
                let reply = self.local(&tracked.cmd);
                self.emit_local(reply);
            }
            Class::Pin if !quiet => {
                self.flush_job();
                self.deferred.push_back(tracked);
            }
            Class::Pin => return Some(tracked),
        }
        None
    }

    /// Re-dispatches the deferred commands now that nothing is in flight.
    async fn run_deferred(&mut self) {
        let cmds = std::mem::take(&mut self.deferred);
        for tracked in cmds {
            self.dispatch(tracked).await;
        }
        self.flush_job();
    }

    /// Sends the batch's pooled commands as one job.
    fn flush_job(&mut self) {
        if self.job_count == 0 {
            return;
        }
        let job = Job {
            data: self.job.split().freeze(),
            count: self.job_count,
            reply_to: self.segments_tx.clone(),
        };
        self.job_count = 0;
        self.order.push_back(Slot::Job(std::mem::replace(
            &mut self.job_tracks,
            std::mem::take(&mut self.spare_tracks),
        )));
        let pool = self.upstream.pool(self.protocol);
        if self.jobs_in_flight == 0 {
            // Free to move: no reply is owed on the connection used before.
            self.pool_conn = pool.pick();
        }
        self.jobs_in_flight += 1;
        pool.submit(self.pool_conn, job);
    }

    fn apply_segment(&mut self, segment: Segment) {
        match self.order.front_mut() {
            Some(Slot::Job(tracks)) if !tracks.is_empty() => {
                // Tracked: each reply goes through the chain with its command. The segment holds
                // `replies` whole replies, so the last one is what is left (and a segment of
                // one reply, the usual one, is not scanned again).
                let mut rest = segment.data.clone();
                for i in 1..=segment.replies {
                    let frame = if i == segment.replies {
                        std::mem::take(&mut rest)
                    } else {
                        match frame_len(&rest, MAX_REPLY_DEPTH) {
                            Ok(Some(len)) => rest.split_to(len),
                            _ => break,
                        }
                    };
                    let Some(mut tracked) = tracks.pop_front() else {
                        break;
                    };
                    finish_frame(
                        &self.chain,
                        &self.policy,
                        &tracked,
                        &frame,
                        self.protocol,
                        Served::Upstream,
                        &mut self.out,
                    );
                    self.parser.recycle(std::mem::take(&mut tracked.cmd.args));
                }
            }
            _ => self.out.extend_from_slice(&segment.data),
        }
        if segment.done {
            debug_assert!(matches!(self.order.front(), Some(Slot::Job(_))));
            self.jobs_in_flight -= 1;
            if let Some(Slot::Job(mut tracks)) = self.order.pop_front() {
                // Kept only if small: a deep pipeline's would hold its memory until idle.
                if tracks.capacity() <= SPARE_TRACKS {
                    tracks.clear();
                    self.spare_tracks = tracks;
                }
            }
            while let Some(Slot::Local(_)) = self.order.front() {
                if let Some(Slot::Local(reply)) = self.order.pop_front() {
                    self.out.extend_from_slice(&reply);
                }
            }
        }
    }

    /// Queues a reply made here behind the replies still owed.
    fn emit_local(&mut self, reply: Reply) {
        let bytes = reply.to_bytes(self.protocol);
        if let Some(p) = &mut self.pinned {
            p.pending.local(bytes);
            release_locals(&mut p.pending, &mut self.out);
        } else if self.order.is_empty() {
            self.out.extend_from_slice(&bytes);
        } else {
            self.order.push_back(Slot::Local(bytes));
        }
    }

    /// Takes a dedicated connection, speaking the client's protocol.
    async fn pin(&mut self) -> Result<(), Reply> {
        let limit = self.upstream.config.dedicated;
        let Ok(permit) = self.upstream.dedicated.clone().try_acquire_owned() else {
            return Err(Reply::error(format!(
                "ERR no dedicated upstream connection left: all {limit} are held by clients in MULTI, blocking or subscribed"
            )));
        };
        let link = Link::connect(&self.upstream.config, self.protocol)
            .await
            .map_err(|e| Reply::error(format!("ERR upstream unavailable: {e}")))?;
        self.pinned = Some(Pinned {
            reader: link.reader,
            writer: link.writer,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            scan: FrameScanner::default(),
            out: Outgoing::with_capacity(READ_CHUNK),
            pending: Pending::default(),
            in_multi: false,
            watching: false,
            sticky: false,
            tracks: VecDeque::new(),
            _permit: permit,
        });
        Ok(())
    }

    fn send_pinned(&mut self, tracked: Tracked) {
        let p = self.pinned.as_mut().expect("pinned");
        let cmd = &tracked.cmd;
        if cmd.is("quit") {
            p.pending.local(Reply::ok().to_bytes(self.protocol));
            release_locals(&mut p.pending, &mut self.out);
            self.closing = true;
            return;
        }
        if cmd.is("multi") {
            p.in_multi = true;
        } else if cmd.is("exec") || cmd.is("discard") || cmd.is("reset") {
            p.in_multi = false;
            p.watching = false;
            if cmd.is("reset") {
                p.sticky = false;
                p.pending.reset_subscriptions();
                self.protocol = Protocol::Resp2;
                self.name = None;
            }
        } else if cmd.is("watch") {
            p.watching = true;
        } else if cmd.is("unwatch") {
            p.watching = false;
        } else if cmd.is("select")
            || cmd.is("monitor")
            || (cmd.is("client") && classify(cmd) == Class::Pin)
        {
            p.sticky = true;
        } else if cmd.is("hello") {
            match cmd.args.get(1).map(|v| &v[..]) {
                Some(b"3") => self.protocol = Protocol::Resp3,
                Some(b"2") => self.protocol = Protocol::Resp2,
                _ => {}
            }
        }
        cmd.encode(&mut p.out.buf);
        p.pending.sent(cmd);
        if self.track {
            p.tracks.push_back(Tracked {
                started: Some(Instant::now()),
                ..tracked
            });
        }
    }

    /// Moves complete replies from the pinned connection to the client; unpins when the state
    /// that pinned the client has ended.
    fn route_pinned(&mut self) {
        let p = self.pinned.as_mut().expect("pinned");
        loop {
            match p.scan.scan(&p.rbuf, MAX_REPLY_DEPTH) {
                Ok(Some(len)) => {
                    let frame = p.rbuf.split_to(len).freeze();
                    match p.pending.route(&frame) {
                        Route::Reply if self.track => match p.tracks.pop_front() {
                            Some(tracked) => finish_frame(
                                &self.chain,
                                &self.policy,
                                &tracked,
                                &frame,
                                self.protocol,
                                Served::Upstream,
                                &mut self.out,
                            ),
                            None => self.out.extend_from_slice(&frame),
                        },
                        Route::Reply => self.out.extend_from_slice(&frame),
                        Route::PartialReply | Route::Push => push_frame(
                            &self.chain,
                            &self.policy,
                            &frame,
                            self.protocol,
                            &mut self.out,
                        ),
                    }
                    release_locals(&mut p.pending, &mut self.out);
                }
                Ok(None) => break,
                Err(e) => return self.lose_pinned(&UpstreamError::Protocol(e)),
            }
        }
        if p.state_ended() {
            self.pinned = None;
        }
    }

    /// The dedicated connection failed: everything owed on it is answered with an error. A
    /// subscribed client is closed, since its subscriptions are gone.
    fn lose_pinned(&mut self, error: &UpstreamError) {
        tracing::warn!(error = %error, "dedicated upstream connection lost");
        let Some(mut p) = self.pinned.take() else {
            return;
        };
        let was_subscribed = p.pending.subscribed();
        let failed = unavailable(&error.to_string());
        for slot in p.pending.fail_all() {
            self.out
                .extend_from_slice(slot.as_deref().unwrap_or(&failed));
        }
        if was_subscribed {
            self.closing = true;
        }
    }

    /// Answers the commands the sidecar handles itself.
    fn local(&mut self, cmd: &Command) -> Reply {
        if cmd.is("quit") {
            self.closing = true;
            return Reply::ok();
        }
        if cmd.is("reset") {
            self.protocol = Protocol::Resp2;
            self.name = None;
            return Reply::status("RESET");
        }
        if cmd.is("auth") {
            // Client credentials are not checked until [auth] or tenants are configured.
            return Reply::ok();
        }
        if cmd.is("hello") {
            return self.hello(cmd);
        }
        let sub = cmd
            .args
            .get(1)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        match (sub.as_slice(), cmd.args.len()) {
            (b"setname", 3) => {
                self.name = (!cmd.args[2].is_empty()).then(|| Bytes::copy_from_slice(&cmd.args[2]));
                Reply::ok()
            }
            (b"getname", 2) => self.name.clone().map(Reply::Bulk).unwrap_or(Reply::Nil),
            (b"setinfo", 4) => {
                let value = Bytes::copy_from_slice(&cmd.args[3]);
                if cmd.arg_is(2, "lib-name") {
                    self.lib = (Some(value), self.lib.1.take());
                } else if cmd.arg_is(2, "lib-ver") {
                    self.lib.1 = Some(value);
                }
                Reply::ok()
            }
            (b"id", 2) => Reply::Int(self.id as i64),
            (b"info", 2) => {
                let text = |b: &Option<Bytes>| {
                    String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
                };
                let line = format!(
                    "id={} addr={} laddr={} name={} db=0 sub=0 psub=0 ssub=0 multi=-1 cmd=client|info user=default resp={} lib-name={} lib-ver={}\n",
                    self.id,
                    self.addrs.0,
                    self.addrs.1,
                    text(&self.name),
                    if self.protocol == Protocol::Resp3 { 3 } else { 2 },
                    text(&self.lib.0),
                    text(&self.lib.1),
                );
                Reply::Verbatim(Bytes::from(line))
            }
            _ => Reply::error(format!(
                "ERR wrong number of arguments for 'client|{}' command",
                String::from_utf8_lossy(&sub)
            )),
        }
    }

    fn hello(&mut self, cmd: &Command) -> Reply {
        let mut protocol = self.protocol;
        if let Some(version) = cmd.args.get(1) {
            protocol = match &version[..] {
                b"2" => Protocol::Resp2,
                b"3" => Protocol::Resp3,
                v if crate::protocol::request::parse_int(v).is_some() => {
                    return Reply::error("NOPROTO unsupported protocol version")
                }
                _ => return Reply::error("ERR Protocol version is not an integer or out of range"),
            };
        }
        let mut i = 2;
        while i < cmd.args.len() {
            if cmd.arg_is(i, "auth") && i + 2 < cmd.args.len() {
                i += 3;
            } else if cmd.arg_is(i, "setname") && i + 1 < cmd.args.len() {
                self.name = Some(Bytes::copy_from_slice(&cmd.args[i + 1]));
                i += 2;
            } else {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&cmd.args[i])
                ));
            }
        }
        self.protocol = protocol;
        let field = |k: &'static str, v: Reply| (Reply::bulk(k), v);
        Reply::Map(vec![
            field("server", Reply::bulk("redis")),
            field("version", Reply::bulk(crate::store::REDIS_VERSION)),
            field(
                "proto",
                Reply::Int(if protocol == Protocol::Resp3 { 3 } else { 2 }),
            ),
            field("id", Reply::Int(self.id as i64)),
            field("mode", Reply::bulk("standalone")),
            field("role", Reply::bulk("master")),
            field("modules", Reply::Array(vec![])),
        ])
    }
}

fn release_locals(pending: &mut Pending, out: &mut BytesMut) {
    while let Some(local) = pending.take_ready_local() {
        out.extend_from_slice(&local);
    }
}

/// Sleeps until `deadline` (forever without one).
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
