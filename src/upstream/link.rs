//! One connection to the upstream: connect with a deadline, negotiate the protocol,
//! authenticate, select the database. Hands back the read and write halves separately so one
//! task can read replies while it writes requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::url::UpstreamUrl;
use crate::command::encode_args;
use crate::protocol::{FrameScanner, Protocol};

/// How deep a reply from the upstream may nest before it is refused as garbage.
pub const MAX_REPLY_DEPTH: usize = 64;

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Why the upstream could not be used. The text is what clients see after
/// `ERR upstream unavailable: `, so it never contains credentials.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// `stage` names what was still unanswered: the TCP connect, the TLS handshake, or a
    /// handshake command (`AUTH`), so a stalled TLS handshake is told apart from a dead host.
    #[error("connect to {addr} timed out after {ms} ms, during {stage}")]
    ConnectTimeout {
        addr: String,
        ms: u64,
        stage: &'static str,
    },
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("upstream refused {step}: {reply}")]
    Handshake { step: &'static str, reply: String },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by upstream")]
    Closed,
    #[error("invalid reply from upstream: {0}")]
    Protocol(#[from] crate::protocol::FrameError),
    #[error("the upstream sent a reply to no request")]
    Unasked,
    #[error("no reply within {0} ms")]
    Timeout(u64),
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
}

impl UpstreamError {
    /// Whether this means the upstream cannot be reached (refused, timed out, dropped; a TLS
    /// handshake that stalls is a connect timeout): the fallback serves then. A reachable upstream
    /// that refuses the sidecar (wrong password, garbage replies) or a certificate that does not
    /// verify is a fault clients must see: falling back would hide it and journal writes that
    /// could never be replayed.
    pub fn is_outage(&self) -> bool {
        !matches!(
            self,
            UpstreamError::Handshake { .. }
                | UpstreamError::Protocol(_)
                | UpstreamError::Unasked
                | UpstreamError::Tls { .. }
        )
    }
}

/// Settings for opening upstream connections.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub url: UpstreamUrl,
    pub connect_timeout: Duration,
    /// How long a pooled request may wait for its reply before the connection counts as dead.
    pub command_timeout: Duration,
    /// Shared, pipelined connections per protocol version.
    pub connections: usize,
    /// Most connections pinned to single clients (MULTI, blocking, pub/sub) at once.
    pub dedicated: usize,
    /// Pool connections hold new commands for awaited replies while their round trip is under
    /// this (see [`super::coalesce`]).
    pub coalesce_below_rtt: Duration,
    /// The TLS client configuration, for `rediss://` upstreams (replaced by reloads).
    pub tls: Option<Arc<super::tls::TlsClient>>,
}

/// An open, authenticated upstream connection speaking `protocol`.
pub struct Link {
    pub reader: Reader,
    pub writer: Writer,
}

/// Writes `buf` (what the writer takes of it: `Some(n)`), or with no `buf` flushes (`None`).
/// The one write future of the drivers that write to the upstream as the socket takes it.
pub async fn write_or_flush(
    writer: &mut Writer,
    buf: Option<&[u8]>,
) -> std::io::Result<Option<usize>> {
    match buf {
        Some(buf) => writer.write(buf).await.map(Some),
        None => writer.flush().await.map(|()| None),
    }
}

/// What a driver has for one upstream connection: the bytes not yet written, and whether the
/// writer still holds bytes it took but has not sent.
///
/// Invariant: once `buf` is drained, what the writer kept back is flushed before the connection
/// goes quiet (a TLS stream keeps records back from a write that filled the socket, and the
/// replies they ask for would never come).
#[derive(Default)]
pub struct Outgoing {
    pub buf: BytesMut,
    unflushed: bool,
}

impl Outgoing {
    pub fn with_capacity(capacity: usize) -> Outgoing {
        Outgoing {
            buf: BytesMut::with_capacity(capacity),
            unflushed: false,
        }
    }

    /// The write branch's work, for [`write_or_flush`]: `Some(Some(bytes))` to write them (only
    /// if `may_write`), `Some(None)` to flush, `None` for nothing.
    pub fn work(&self, may_write: bool) -> Option<Option<&[u8]>> {
        if !self.buf.is_empty() && may_write {
            Some(Some(&self.buf[..]))
        } else {
            self.unflushed.then_some(None)
        }
    }

    /// `n` bytes of `buf` went out through `writer`; once all have, it is flushed at once if it
    /// can be, else the flush is left to the write branch.
    pub fn wrote(&mut self, n: usize, writer: &mut Writer) {
        self.buf.advance(n);
        if self.buf.is_empty() {
            self.unflushed = !flushed_at_once(writer);
        }
    }

    /// The write branch's flush completed.
    pub fn flushed(&mut self) {
        self.unflushed = false;
    }
}

/// Flushes if it can without waiting; false when bytes the writer took are still unsent.
fn flushed_at_once(writer: &mut Writer) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    matches!(
        std::pin::Pin::new(writer).poll_flush(&mut cx),
        std::task::Poll::Ready(Ok(()))
    )
}

impl Link {
    /// Writes `bytes` and flushes: a TLS stream may keep records back from a write that filled
    /// the socket, and the reply they ask for would then never come.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }

    /// Connects, then negotiates: `HELLO 3 [AUTH user pass]` for RESP3, `AUTH` for RESP2, and
    /// `SELECT` when the URL names a database; all within the connect timeout.
    pub async fn connect(
        config: &UpstreamConfig,
        protocol: Protocol,
    ) -> Result<Link, UpstreamError> {
        let addr = config.url.address();
        let ms = config.connect_timeout.as_millis() as u64;
        let mut stage = "the TCP connect";
        let connected = tokio::time::timeout(config.connect_timeout, async {
            let stream =
                TcpStream::connect(&addr)
                    .await
                    .map_err(|source| UpstreamError::Connect {
                        addr: addr.clone(),
                        source,
                    })?;
            stream.set_nodelay(true)?;
            let mut link = match &config.tls {
                None => {
                    let (reader, writer) = stream.into_split();
                    Link {
                        reader: Box::new(reader),
                        writer: Box::new(writer),
                    }
                }
                Some(tls) => {
                    stage = "the TLS handshake";
                    let host = config.url.host.clone();
                    let tls_error = |reason: String| UpstreamError::Tls {
                        host: host.clone(),
                        reason,
                    };
                    let name = super::tls::server_name(&host).map_err(tls_error)?;
                    let stream = tokio_rustls::TlsConnector::from(tls.current())
                        .connect(name, stream)
                        .await
                        .map_err(|e| tls_error(e.to_string()))?;
                    let (reader, writer) = tokio::io::split(stream);
                    Link {
                        reader: Box::new(reader),
                        writer: Box::new(writer),
                    }
                }
            };
            link.handshake(&config.url, protocol, &mut stage).await?;
            Ok(link)
        })
        .await;
        connected.map_err(|_| UpstreamError::ConnectTimeout { addr, ms, stage })?
    }

    /// Sends the handshake commands; `stage` names the one whose reply is awaited.
    async fn handshake(
        &mut self,
        url: &UpstreamUrl,
        protocol: Protocol,
        stage: &mut &'static str,
    ) -> Result<(), UpstreamError> {
        let mut steps: Vec<(&'static str, Vec<Bytes>)> = Vec::new();
        let user = url.username.clone().unwrap_or_else(|| "default".into());
        if protocol == Protocol::Resp3 {
            let mut args = vec![Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")];
            if let Some(password) = &url.password {
                args.extend([
                    Bytes::from_static(b"AUTH"),
                    Bytes::from(user),
                    Bytes::from(password.clone()),
                ]);
            }
            steps.push(("HELLO 3", args));
        } else if let Some(password) = &url.password {
            let mut args = vec![Bytes::from_static(b"AUTH")];
            if url.username.is_some() {
                args.push(Bytes::from(user));
            }
            args.push(Bytes::from(password.clone()));
            steps.push(("AUTH", args));
        }
        if url.db > 0 {
            steps.push((
                "SELECT",
                vec![
                    Bytes::from_static(b"SELECT"),
                    Bytes::from(url.db.to_string()),
                ],
            ));
        }
        if steps.is_empty() {
            return Ok(());
        }
        let mut out = BytesMut::new();
        for (_, args) in &steps {
            encode_args(args, &mut out);
        }
        self.send(&out).await?;
        let mut buf = BytesMut::with_capacity(512);
        for (step, _) in steps {
            *stage = step;
            let reply = read_frame(&mut self.reader, &mut buf).await?;
            if reply.first() == Some(&b'-') {
                let text = String::from_utf8_lossy(&reply[1..]).trim_end().to_string();
                return Err(UpstreamError::Handshake { step, reply: text });
            }
        }
        Ok(())
    }
}

/// Reads one complete reply frame.
pub async fn read_frame(reader: &mut Reader, buf: &mut BytesMut) -> Result<Bytes, UpstreamError> {
    let mut scan = FrameScanner::default();
    loop {
        if let Some(len) = scan.scan(buf, MAX_REPLY_DEPTH)? {
            return Ok(buf.split_to(len).freeze());
        }
        if reader.read_buf(buf).await? == 0 {
            return Err(UpstreamError::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A writer like a TLS stream whose last write filled the socket: it takes every byte, but
    /// sends what it took only on a flush, and the first flush has to wait.
    #[derive(Default)]
    struct KeepsBack {
        kept: usize,
        sent: usize,
        flushes: usize,
    }

    impl AsyncWrite for KeepsBack {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.kept += buf.len();
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            if self.kept > 0 && self.flushes == 0 {
                self.flushes += 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.sent += std::mem::take(&mut self.kept);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn bytes_a_writer_keeps_back_are_flushed_before_anything_waits_on_them() {
        let mut writer: Writer = Box::<KeepsBack>::default();
        assert_eq!(
            write_or_flush(&mut writer, Some(b"PING")).await.unwrap(),
            Some(4)
        );
        assert!(!flushed_at_once(&mut writer), "the bytes were kept back");
        assert_eq!(write_or_flush(&mut writer, None).await.unwrap(), None);
        assert!(flushed_at_once(&mut writer), "the flush sent them");
    }

    #[tokio::test]
    async fn a_plain_socket_is_flushed_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_, writer) = stream.into_split();
        let mut writer: Writer = Box::new(writer);
        assert_eq!(
            write_or_flush(&mut writer, Some(b"PING")).await.unwrap(),
            Some(4)
        );
        assert!(flushed_at_once(&mut writer));
    }
}
