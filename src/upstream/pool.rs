//! The shared upstream pool: a few long-lived, pipelined connections that carry every client's
//! stateless commands.
//!
//! Each pool connection is a task. Clients send it [`Job`]s (a batch of encoded commands and
//! how many replies they owe); the task writes all jobs that are waiting with one write, so many
//! clients' commands are coalesced, and hands the replies back as [`Segment`]s in FIFO order. For
//! a near upstream, jobs arriving while enough jobs' replies are awaited wait for them and go out
//! together ([`Coalesce`]: Nagle's rule).
//! Invariants: a client's jobs in flight are all on one pool connection, so they are answered in
//! the order it sent them (a client picks a connection again only when it has none in flight,
//! see [`Pool::pick`]); every job gets exactly `count` replies, real ones or errors.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use super::coalesce::Coalesce;
use super::link::{write_or_flush, Link, Outgoing, Reader, Writer, MAX_REPLY_DEPTH};
use super::{UpstreamConfig, UpstreamError};
use crate::failover::Health;
use crate::protocol::{FrameScanner, Protocol, Reply};

/// Replies for one job, in order. `done` marks the job's last segment.
#[derive(Debug)]
pub struct Segment {
    /// `replies` complete replies, back to back.
    pub data: Bytes,
    pub replies: usize,
    pub done: bool,
}

/// A batch of one client's commands for a pool connection.
pub struct Job {
    /// The commands, RESP-encoded, back to back.
    pub data: Bytes,
    /// How many replies they owe (one per command: only single-reply commands are pooled).
    pub count: usize,
    pub reply_to: mpsc::UnboundedSender<Segment>,
}

/// After a failed connect, jobs are answered with the error at once for this long.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);
const READ_CHUNK: usize = 64 * 1024;

/// Jobs in flight on one connection before [`Pool::pick`] spills new clients to the next one.
/// Measured on loopback (benches/RESULTS.md): the more commands share a connection and its
/// writes, the less the upstream and the sidecar spend per command, so the pool fills its
/// first connection before using more; the others take over under load.
const SPILL: usize = 64;

/// Counts a job as in flight on its connection until it is answered or failed (dropped).
struct LoadGuard(Arc<AtomicUsize>);

impl LoadGuard {
    fn new(load: &Arc<AtomicUsize>) -> LoadGuard {
        load.fetch_add(1, Ordering::Relaxed);
        LoadGuard(load.clone())
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One pool connection as clients see it: its job queue and how many jobs it has in flight.
struct Lane {
    jobs: mpsc::UnboundedSender<(Job, LoadGuard)>,
    load: Arc<AtomicUsize>,
}

/// The pool for one protocol version.
pub struct Pool {
    lanes: Vec<Lane>,
}

impl Pool {
    /// Starts `config.connections` connection tasks; each connects on its first job.
    pub fn start(
        config: Arc<UpstreamConfig>,
        protocol: Protocol,
        health: Option<Arc<Health>>,
    ) -> Pool {
        let lanes = (0..config.connections.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_conn(config.clone(), protocol, rx, health.clone()));
                Lane {
                    jobs: tx,
                    load: Arc::default(),
                }
            })
            .collect();
        Pool { lanes }
    }

    /// The connection for a client with no job in flight: the first one with fewer than
    /// [`SPILL`] jobs in flight, else the least loaded.
    pub fn pick(&self) -> usize {
        let mut least = (usize::MAX, 0);
        for (i, lane) in self.lanes.iter().enumerate() {
            let load = lane.load.load(Ordering::Relaxed);
            if load < SPILL {
                return i;
            }
            if load < least.0 {
                least = (load, i);
            }
        }
        least.1
    }

    /// Queues a job on connection `conn`.
    pub fn submit(&self, conn: usize, job: Job) {
        let lane = &self.lanes[conn];
        let queued = (job, LoadGuard::new(&lane.load));
        if let Err(mpsc::error::SendError((job, _))) = lane.jobs.send(queued) {
            fail_job(job.reply_to, job.count, &UpstreamError::Closed);
        }
    }
}

struct InFlight {
    reply_to: mpsc::UnboundedSender<Segment>,
    remaining: usize,
    _load: LoadGuard,
}

struct Conn {
    reader: Reader,
    writer: Writer,
    rbuf: BytesMut,
    /// How far the incomplete reply at the start of `rbuf` has been scanned.
    scan: FrameScanner,
    out: Outgoing,
    /// When `out` may go out.
    coalesce: Coalesce,
    _counted: crate::metrics::UpstreamGuard,
}

async fn run_conn(
    config: Arc<UpstreamConfig>,
    protocol: Protocol,
    mut jobs: mpsc::UnboundedReceiver<(Job, LoadGuard)>,
    health: Option<Arc<Health>>,
) {
    let mut conn: Option<Conn> = None;
    let mut down: Option<(Instant, String)> = None;
    let mut fifo: VecDeque<InFlight> = VecDeque::new();
    let mut last_progress = Instant::now();
    // The command timeout: re-armed only when it fires early (progress moved the deadline on),
    // not on every read, which would cost a timer-wheel update per reply.
    let timeout = tokio::time::sleep(config.command_timeout);
    tokio::pin!(timeout);
    loop {
        let (reading, writing) = match conn.as_mut() {
            Some(c) => (
                Some((&mut c.reader, &mut c.rbuf)),
                c.out
                    .work(c.coalesce.may_write(fifo.len()))
                    .map(|work| (&mut c.writer, work)),
            ),
            None => (None, None),
        };
        let (can_read, can_write) = (reading.is_some(), writing.is_some());
        tokio::select! {
            biased;
            read = async move { let (r, buf) = reading.expect("guarded"); r.read_buf(buf).await }, if can_read => {
                let c = conn.as_mut().expect("guarded");
                let queued = fifo.len();
                let outcome = match read {
                    Ok(0) => Err(UpstreamError::Closed),
                    Ok(_) => deliver(&mut c.rbuf, &mut c.scan, &mut fifo),
                    Err(e) => Err(UpstreamError::Io(e)),
                };
                last_progress = Instant::now();
                c.coalesce.answered(queued - fifo.len(), last_progress);
                match outcome {
                    // Commands held for these replies go out now.
                    Ok(()) => write_now(c, fifo.len()),
                    Err(e) => lose(&mut conn, &mut fifo, &e, health.as_deref()),
                }
            }
            written = async move { let (w, buf) = writing.expect("guarded"); write_or_flush(w, buf).await }, if can_write => {
                match written {
                    Ok(Some(n)) if n > 0 => {
                        let c = conn.as_mut().expect("guarded");
                        wrote(c, n, fifo.len());
                    }
                    Ok(None) => conn.as_mut().expect("guarded").out.flushed(),
                    Ok(Some(_)) => lose(&mut conn, &mut fifo, &UpstreamError::Closed, health.as_deref()),
                    Err(e) => lose(&mut conn, &mut fifo, &UpstreamError::Io(e), health.as_deref()),
                }
            }
            job = jobs.recv() => {
                let Some(job) = job else { return };
                if fifo.is_empty() {
                    last_progress = Instant::now();
                }
                accept(job, &mut conn, &mut down, &mut fifo, &config, protocol, health.as_deref()).await;
                // Coalesce: everything already waiting goes out in the same write.
                while let Ok(job) = jobs.try_recv() {
                    accept(job, &mut conn, &mut down, &mut fifo, &config, protocol, health.as_deref()).await;
                }
                if let Some(c) = conn.as_mut() {
                    write_now(c, fifo.len());
                }
            }
            _ = &mut timeout, if !fifo.is_empty() => {
                let due = last_progress + config.command_timeout;
                if Instant::now() >= due {
                    let ms = config.command_timeout.as_millis() as u64;
                    lose(&mut conn, &mut fifo, &UpstreamError::Timeout(ms), health.as_deref());
                } else {
                    timeout.as_mut().reset(tokio::time::Instant::from_std(due));
                }
            }
        }
    }
}

/// Writes what the socket takes at once, not after another turn of the loop, if the write rule
/// lets it go (`queue`: the connection's jobs); the rest (and any error) is left to the write
/// branch, which waits with the task's own waker.
fn write_now(c: &mut Conn, queue: usize) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    while !c.out.buf.is_empty() && c.coalesce.may_write(queue) {
        match std::pin::Pin::new(&mut c.writer).poll_write(&mut cx, &c.out.buf) {
            std::task::Poll::Ready(Ok(n)) if n > 0 => wrote(c, n, queue),
            _ => break,
        }
    }
}

/// `n` bytes of `out` went out.
fn wrote(c: &mut Conn, n: usize, queue: usize) {
    crate::metrics::upstream_wrote();
    c.out.wrote(n, &mut c.writer);
    c.coalesce.wrote(c.out.buf.is_empty(), queue);
}

async fn accept(
    (job, load): (Job, LoadGuard),
    conn: &mut Option<Conn>,
    down: &mut Option<(Instant, String)>,
    fifo: &mut VecDeque<InFlight>,
    config: &UpstreamConfig,
    protocol: Protocol,
    health: Option<&Health>,
) {
    if conn.is_none() {
        // The monitor's PING proving the upstream back ends the backoff at once.
        let backing_off = down
            .as_ref()
            .is_some_and(|(until, _)| Instant::now() < *until)
            && health.is_none_or(|h| h.serving_store());
        if !backing_off {
            // Boxed: connecting is rare, and `accept` runs for every job.
            match Box::pin(Link::connect(config, protocol)).await {
                Ok(link) => {
                    *down = None;
                    *conn = Some(Conn {
                        reader: link.reader,
                        writer: link.writer,
                        rbuf: BytesMut::with_capacity(READ_CHUNK),
                        scan: FrameScanner::default(),
                        out: Outgoing::with_capacity(READ_CHUNK),
                        coalesce: Coalesce::new(config.coalesce_below_rtt),
                        _counted: crate::metrics::upstream_connected(),
                    });
                    tracing::debug!(upstream = %config.url, "pool connection established");
                }
                Err(e) => {
                    tracing::warn!(upstream = %config.url, error = %e, "upstream unavailable");
                    if let Some(health) = health.filter(|_| e.is_outage()) {
                        health.report_failure(&e.to_string());
                    }
                    *down = Some((Instant::now() + RECONNECT_BACKOFF, e.to_string()));
                }
            }
        }
    }
    match conn {
        Some(c) => {
            c.out.buf.extend_from_slice(&job.data);
            c.coalesce.queued(job.data.len());
            fifo.push_back(InFlight {
                reply_to: job.reply_to,
                remaining: job.count,
                _load: load,
            });
        }
        None => {
            let why = down
                .as_ref()
                .map(|(_, why)| why.clone())
                .unwrap_or_default();
            fail_job_text(job.reply_to, job.count, &why);
        }
    }
}

/// Splits complete replies off `rbuf` and sends them to their jobs, one segment per job per read.
/// Replies before an invalid (or unasked-for) one are still delivered, so that when the
/// connection is then lost every job is owed exactly its `remaining` replies: one per request.
/// `scan` goes with `rbuf`: what is left in it is the incomplete reply `scan` has scanned so far.
fn deliver(
    rbuf: &mut BytesMut,
    scan: &mut FrameScanner,
    fifo: &mut VecDeque<InFlight>,
) -> Result<(), UpstreamError> {
    let mut end = 0;
    // (offset where a job's segment ends, replies in it, job finished)
    let mut ends = Vec::new();
    let mut replies = 0;
    let mut finished = 0;
    let mut failed = None;
    loop {
        let len = match scan.scan(&rbuf[end..], MAX_REPLY_DEPTH) {
            Ok(Some(len)) => len,
            Ok(None) => break,
            Err(e) => {
                failed = Some(UpstreamError::Protocol(e));
                break;
            }
        };
        let Some(front) = fifo.get_mut(finished) else {
            failed = Some(UpstreamError::Unasked);
            break;
        };
        end += len;
        replies += 1;
        front.remaining -= 1;
        if front.remaining == 0 {
            ends.push((end, replies, true));
            replies = 0;
            finished += 1;
        }
    }
    if end > 0 {
        if replies > 0 {
            ends.push((end, replies, false));
        }
        let chunk = rbuf.split_to(end).freeze();
        let mut start = 0;
        for (at, replies, done) in ends {
            let segment = Segment {
                data: chunk.slice(start..at),
                replies,
                done,
            };
            let job = if done { fifo.pop_front() } else { None };
            if let Some(job) = job.as_ref().or(fifo.front()) {
                let _ = job.reply_to.send(segment);
            }
            start = at;
        }
    }
    failed.map_or(Ok(()), Err)
}

/// The connection failed: every job in flight gets an error for each reply it still owes.
fn lose(
    conn: &mut Option<Conn>,
    fifo: &mut VecDeque<InFlight>,
    error: &UpstreamError,
    health: Option<&Health>,
) {
    tracing::warn!(error = %error, "pool connection lost");
    if let Some(health) = health.filter(|_| error.is_outage()) {
        health.report_failure(&error.to_string());
    }
    *conn = None;
    for job in fifo.drain(..) {
        fail_job(job.reply_to, job.remaining, error);
    }
}

fn fail_job(reply_to: mpsc::UnboundedSender<Segment>, count: usize, error: &UpstreamError) {
    fail_job_text(reply_to, count, &error.to_string());
}

fn fail_job_text(reply_to: mpsc::UnboundedSender<Segment>, count: usize, why: &str) {
    let one = unavailable(why);
    let mut data = BytesMut::with_capacity(one.len() * count);
    for _ in 0..count {
        data.extend_from_slice(&one);
    }
    let _ = reply_to.send(Segment {
        data: data.freeze(),
        replies: count,
        done: true,
    });
}

/// The error a client sees for a request the upstream could not serve.
pub fn unavailable(why: &str) -> Bytes {
    Reply::error(format!("ERR upstream unavailable: {why}")).to_bytes(Protocol::Resp2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(reply_to: mpsc::UnboundedSender<Segment>, remaining: usize) -> InFlight {
        InFlight {
            reply_to,
            remaining,
            _load: LoadGuard::new(&Arc::default()),
        }
    }

    #[test]
    fn delivers_segments_per_job_in_order() {
        let (tx_a, mut rx_a) = mpsc::unbounded_channel();
        let (tx_b, mut rx_b) = mpsc::unbounded_channel();
        let mut fifo = VecDeque::from([in_flight(tx_a, 2), in_flight(tx_b, 2)]);
        let mut rbuf = BytesMut::from(&b"+OK\r\n:1\r\n$1\r\nx\r\n$3\r\nab"[..]);
        let mut scan = FrameScanner::default();
        deliver(&mut rbuf, &mut scan, &mut fifo).unwrap();
        let a = rx_a.try_recv().unwrap();
        assert_eq!(
            (&a.data[..], a.replies, a.done),
            (&b"+OK\r\n:1\r\n"[..], 2, true)
        );
        let b = rx_b.try_recv().unwrap();
        assert_eq!(
            (&b.data[..], b.replies, b.done),
            (&b"$1\r\nx\r\n"[..], 1, false)
        );
        assert_eq!(&rbuf[..], b"$3\r\nab", "the incomplete reply waits");
        rbuf.extend_from_slice(b"c\r\n");
        deliver(&mut rbuf, &mut scan, &mut fifo).unwrap();
        let b = rx_b.try_recv().unwrap();
        assert_eq!(
            (&b.data[..], b.replies, b.done),
            (&b"$3\r\nabc\r\n"[..], 1, true)
        );
        assert!(fifo.is_empty());
    }

    #[test]
    fn a_reply_over_many_reads_follows_the_ones_split_off_before_it() {
        let (tx_a, mut rx_a) = mpsc::unbounded_channel();
        let (tx_b, mut rx_b) = mpsc::unbounded_channel();
        let mut fifo = VecDeque::from([in_flight(tx_a, 2), in_flight(tx_b, 1)]);
        let reply = b"*3\r\n$5\r\nfirst\r\n*2\r\n:1\r\n:2\r\n$4\r\nlast\r\n";
        let mut rbuf = BytesMut::from(&b"+OK\r\n"[..]);
        let mut scan = FrameScanner::default();
        for piece in reply.chunks(3) {
            rbuf.extend_from_slice(piece);
            deliver(&mut rbuf, &mut scan, &mut fifo).unwrap();
        }
        rbuf.extend_from_slice(b":7\r\n");
        deliver(&mut rbuf, &mut scan, &mut fifo).unwrap();
        let a = rx_a.try_recv().unwrap();
        assert_eq!((&a.data[..], a.done), (&b"+OK\r\n"[..], false));
        let a = rx_a.try_recv().unwrap();
        assert_eq!((&a.data[..], a.done), (&reply[..], true));
        let b = rx_b.try_recv().unwrap();
        assert_eq!((&b.data[..], b.done), (&b":7\r\n"[..], true));
        assert!(rbuf.is_empty() && fifo.is_empty());
    }

    #[test]
    fn replies_before_garbage_reach_their_jobs() {
        let (tx_a, mut rx_a) = mpsc::unbounded_channel();
        let (tx_b, mut rx_b) = mpsc::unbounded_channel();
        let mut fifo = VecDeque::from([in_flight(tx_a, 1), in_flight(tx_b, 2)]);
        let mut rbuf = BytesMut::from(&b"$4\r\ngood\r\n:1\r\n!!!garbage\r\n"[..]);
        let mut scan = FrameScanner::default();
        assert!(matches!(
            deliver(&mut rbuf, &mut scan, &mut fifo),
            Err(UpstreamError::Protocol(_))
        ));
        let a = rx_a.try_recv().unwrap();
        assert_eq!((&a.data[..], a.done), (&b"$4\r\ngood\r\n"[..], true));
        let b = rx_b.try_recv().unwrap();
        assert_eq!((&b.data[..], b.done), (&b":1\r\n"[..], false));
        assert_eq!(fifo.len(), 1);
        assert_eq!(
            fifo[0].remaining, 1,
            "the error answers the one reply still owed"
        );
    }

    #[test]
    fn clients_share_the_first_connection_until_it_is_busy() {
        let lanes = (0..3)
            .map(|_| Lane {
                jobs: mpsc::unbounded_channel().0,
                load: Arc::default(),
            })
            .collect();
        let pool = Pool { lanes };
        assert_eq!(pool.pick(), 0);
        let busy: Vec<LoadGuard> = (0..SPILL)
            .map(|_| LoadGuard::new(&pool.lanes[0].load))
            .collect();
        assert_eq!(pool.pick(), 1, "the first is full: spill to the next");
        pool.lanes[1].load.store(SPILL + 5, Ordering::Relaxed);
        pool.lanes[2].load.store(SPILL + 1, Ordering::Relaxed);
        assert_eq!(pool.pick(), 0, "all busy: the least loaded");
        drop(busy);
        assert_eq!(
            pool.lanes[0].load.load(Ordering::Relaxed),
            0,
            "answered jobs no longer count"
        );
    }

    #[test]
    fn a_reply_nobody_asked_for_is_a_protocol_error() {
        let mut fifo = VecDeque::new();
        let mut rbuf = BytesMut::from(&b"+OK\r\n"[..]);
        let mut scan = FrameScanner::default();
        assert!(matches!(
            deliver(&mut rbuf, &mut scan, &mut fifo),
            Err(UpstreamError::Unasked)
        ));
    }
}
