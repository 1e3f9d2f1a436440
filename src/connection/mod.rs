//! One client connection: read, parse every complete request, serve the batch, write the
//! replies with one write.
//!
//! Invariants (for every backend): one reply per request, in request order; a protocol error
//! is answered with `-ERR Protocol error: ...` and then the connection closes, while every other
//! error (an oversized request included: it is skipped whole) answers that one request and the
//! connection goes on.

mod embedded;
mod forward;
mod gate;
pub mod limits;
mod track;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::command::Command;
use crate::policy::swap::ChainCache;
use crate::policy::{Chain, PolicySession};
use crate::protocol::{Limits, ParseError, Protocol, Reply, RequestParser};
use crate::store::Store;
use crate::upstream::Upstream;
use track::Tracked;

/// Who serves a client's commands.
#[derive(Clone)]
pub enum Backend {
    /// The in-process store (no upstream configured).
    Embedded(Store),
    /// A Redis server, through the shared pool (or a dedicated connection while pinned).
    Upstream(Arc<Upstream>),
}

/// What every connection shares.
#[derive(Clone)]
pub struct Shared {
    pub backend: Backend,
    pub limits: Limits,
    /// Close a client idle this long (None: never).
    pub idle_timeout: Option<std::time::Duration>,
    /// Disconnect a subscriber whose unsent output passes this.
    pub pubsub_output_limit: limits::OutputLimit,
    /// Becomes true when the server shuts down: stop reading, answer what is in flight, close.
    pub shutdown: watch::Receiver<bool>,
    /// The policy layers every command passes through; a reload may replace them, and each
    /// connection picks the new chain up between batches.
    pub chain: ChainCache,
}

/// What a client's read buffer is given when the socket is readable and the buffer has less
/// than a quarter of it free; it grows for large requests.
const READ_CHUNK: usize = 16 * 1024;
/// While this much is buffered for a client (unsent replies, unparsed requests), stop reading it.
const BACKPRESSURE_BYTES: usize = 32 * 1024 * 1024;

/// Whether a client may be read, with `unparsed` bytes of its input and `unsent` bytes of its
/// replies buffered: both under [`BACKPRESSURE_BYTES`], except that input may grow to
/// `max_request_bytes` (and a read more), because one request larger than the backpressure
/// bound can only be served once it has been read whole.
fn may_read(unparsed: usize, unsent: usize, limits: &Limits) -> bool {
    unsent < BACKPRESSURE_BYTES
        && unparsed < BACKPRESSURE_BYTES.max(limits.max_request_bytes + READ_CHUNK)
}

/// What a client takes along when it moves between the upstream and the fallback store.
#[derive(Default)]
pub struct Carry {
    /// Bytes read but not yet parsed.
    pub rbuf: BytesMut,
    /// Commands admitted by the policy chain but not yet run, in order.
    pub cmds: VecDeque<Tracked>,
    /// The client's standing with the policies (authentication, tenant).
    pub policy: PolicySession,
    pub protocol: Protocol,
    pub name: Option<Bytes>,
}

/// How a driver finished with a client.
pub enum Exit {
    Closed,
    /// The other side serves the client from now on.
    Switch(Carry),
}

/// Serves one client until it leaves, errs, or the server shuts down.
///
/// Each driver's future is boxed: a connection's task then holds only the driver it is in,
/// not room for the larger of the two (memory per idle connection).
pub async fn serve(mut socket: TcpStream, mut shared: Shared) {
    let _counted = crate::metrics::client_accepted();
    let _ = socket.set_nodelay(true);
    match shared.backend.clone() {
        Backend::Embedded(store) => {
            Box::pin(embedded::serve(
                &mut socket,
                &store,
                &mut shared,
                Carry::default(),
                None,
            ))
            .await;
        }
        Backend::Upstream(upstream) => {
            let mut carry = Carry::default();
            loop {
                let Exit::Switch(to_store) =
                    Box::pin(forward::serve(&mut socket, &upstream, &mut shared, carry)).await
                else {
                    return;
                };
                let Some(failover) = upstream.failover.as_deref() else {
                    return;
                };
                let Exit::Switch(to_upstream) = Box::pin(embedded::serve(
                    &mut socket,
                    &failover.store,
                    &mut shared,
                    to_store,
                    Some(failover),
                ))
                .await
                else {
                    return;
                };
                carry = to_upstream;
            }
        }
    }
}

/// One parsed request: a command, or the refusal of one that could be skipped (oversized).
type Request = Result<Command, Reply>;

/// Parses every complete request in `buf` into `batch`. A fatal parse error ends the batch: the
/// requests before it are still served, then the error is answered and the connection closed.
fn parse_batch(
    parser: &mut RequestParser,
    buf: &mut BytesMut,
    limits: &Limits,
    batch: &mut Vec<Request>,
) -> Option<ParseError> {
    loop {
        match parser.next(buf, limits) {
            Ok(Some(cmd)) => batch.push(Ok(cmd)),
            Ok(None) => return None,
            Err(e) if !e.is_fatal() => {
                tracing::debug!(error = %e, "refused a request");
                crate::metrics::limit_enforced("max_request_bytes");
                batch.push(Err(Reply::error(e.reply_text())));
            }
            Err(e) => {
                tracing::debug!(error = %e, "closing client after protocol error");
                return Some(e);
            }
        }
    }
}

/// Admits a parsed request through the chain (a refusal is already answered).
fn admit(chain: &Chain, policy: &mut PolicySession, request: Request) -> Tracked {
    let mut tracked = match request {
        Ok(cmd) => Tracked::admit(chain, policy, cmd),
        Err(refusal) => Tracked::answered(refusal),
    };
    tracked.step_transaction(policy);
    tracked
}

/// What interrupts a driver's wait for its client.
#[derive(Debug, PartialEq, Eq)]
enum Signal {
    /// The server is shutting down.
    Shutdown,
    /// The failover mode changed (upstream, fallback, replaying).
    Mode,
}

type ModeReceiver = Option<watch::Receiver<crate::failover::Mode>>;
type SignalWait =
    Pin<Box<dyn Future<Output = (Signal, watch::Receiver<bool>, ModeReceiver)> + Send>>;

/// Shutdown and failover-mode changes as one long-lived future. Waiting on a `watch` channel
/// registers a waiter under its lock, and polling a registered waiter takes the lock again, so
/// building `changed()` futures in every turn of a driver's loop cost about 1,500 instructions
/// per request (callgrind, forwarding at `-P 1`). This wait is built once (again only after it
/// fires), and polled only when its own waker fired: every other turn of the loop costs a
/// waker check and one atomic swap.
struct Signals {
    wait: SignalWait,
    gate: gate::Gate,
}

impl Signals {
    fn new(shutdown: watch::Receiver<bool>, mode: ModeReceiver) -> Signals {
        Signals {
            wait: Self::wait(shutdown, mode),
            gate: gate::Gate::default(),
        }
    }

    fn wait(mut shutdown: watch::Receiver<bool>, mut mode: ModeReceiver) -> SignalWait {
        Box::pin(async move {
            let mode_changed = async {
                let changed = match &mut mode {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => false,
                };
                if !changed {
                    // No failover, or a closed channel: it never signals.
                    std::future::pending::<()>().await;
                }
            };
            let signal = tokio::select! {
                biased;
                _ = shutdown.changed() => Signal::Shutdown,
                _ = mode_changed => Signal::Mode,
            };
            (signal, shutdown, mode)
        })
    }

    /// Completes with the next signal. Cancel-safe: the wait lives in `self`.
    async fn next(&mut self) -> Signal {
        std::future::poll_fn(|cx| {
            let (signal, shutdown, mode) =
                std::task::ready!(self.gate.poll(cx, self.wait.as_mut()));
            self.wait = Self::wait(shutdown, mode);
            Poll::Ready(signal)
        })
        .await
    }
}

/// Gives back a large read buffer once it is empty (after a big request).
fn shrink_if_idle(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 4 * READ_CHUNK {
        *buf = BytesMut::new();
    }
}

/// Gives back an empty buffer's memory: an idle connection holds no buffers.
fn release(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

thread_local! {
    /// The thread's read buffer for clients with nothing buffered (see [`read_lazily`]).
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Reads what the client has sent into `buf`. `Ok(0)`: the client closed. Cancel-safe.
///
/// A client with nothing buffered (the common case: whole requests arrive in one read) is read
/// into the thread's scratch buffer and `buf` gets an allocation the size of what arrived, so
/// connections hold no 16 KiB buffer each, even for a moment (as Redis 7.4's shared query
/// buffer). Only a client in the middle of a request reads straight into its own `buf`, which
/// then grows by [`READ_CHUNK`]s.
///
/// Reads go through `poll_read`, which marks the socket not ready after a short read, so the
/// next wait goes to epoll instead of costing a read system call that returns EAGAIN.
async fn read_lazily<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    if !buf.is_empty() {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        return reader.read_buf(buf).await;
    }
    std::future::poll_fn(|cx| {
        // The scratch buffer is borrowed only within one poll, never across a wait.
        SCRATCH.with_borrow_mut(|scratch| {
            let mut read = ReadBuf::new(scratch);
            match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    buf.extend_from_slice(read.filled());
                    Poll::Ready(Ok(read.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::failover::Mode;

    /// `next` within a bound, as a driver's `select!` polls it (and drops it) turn after turn.
    async fn within(signals: &mut Signals, ms: u64) -> Option<Signal> {
        tokio::time::timeout(Duration::from_millis(ms), signals.next())
            .await
            .ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signals_arrive_after_many_quiet_polls_from_another_thread() {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (mode_tx, mode) = watch::channel(Mode::Upstream);
        let mut signals = Signals::new(shutdown, Some(mode));
        for _ in 0..5 {
            assert_eq!(within(&mut signals, 5).await, None, "nothing sent yet");
        }
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            mode_tx.send(Mode::Fallback).unwrap();
            mode_tx
        });
        assert_eq!(within(&mut signals, 5000).await, Some(Signal::Mode));
        let _mode_tx = sender.join().unwrap();
        assert_eq!(within(&mut signals, 5).await, None, "each change once");
        shutdown_tx.send(true).unwrap();
        assert_eq!(within(&mut signals, 5000).await, Some(Signal::Shutdown));
    }

    #[tokio::test]
    async fn without_a_failover_only_shutdown_signals() {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let mut signals = Signals::new(shutdown, None);
        assert_eq!(within(&mut signals, 5).await, None);
        shutdown_tx.send(true).unwrap();
        assert_eq!(within(&mut signals, 5000).await, Some(Signal::Shutdown));
    }
}
