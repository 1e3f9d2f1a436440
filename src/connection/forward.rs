//! Serving a client through its own upstream connection, full duplex: requests go up as they
//! are parsed, replies come back as they arrive, [`Pending`] keeps them in request order and
//! recognises pub/sub pushes. Upstream replies are passed through byte for byte.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::{parse_batch, shrink_if_idle, Shared, BACKPRESSURE_BYTES, READ_CHUNK};
use crate::command::Command;
use crate::protocol::{frame_len, Protocol, Reply, RequestParser};
use crate::upstream::link::MAX_REPLY_DEPTH;
use crate::upstream::pending::{Pending, Route};
use crate::upstream::{Link, UpstreamConfig, UpstreamError};

/// After a failed connect, requests are refused at once for this long before the next attempt,
/// so a dead upstream costs clients no connect timeout per request.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);

struct Upstream {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

struct Client {
    pending: Pending,
    /// Replies ready for the client, in order.
    out: BytesMut,
    protocol: Protocol,
    /// QUIT, a protocol error, or shutdown: close once everything owed is written.
    closing: bool,
}

pub(super) async fn serve(mut socket: TcpStream, config: Arc<UpstreamConfig>, mut shared: Shared) {
    let mut parser = RequestParser::default();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut batch: Vec<Command> = Vec::new();
    let mut client = Client {
        pending: Pending::default(),
        out: BytesMut::new(),
        protocol: Protocol::Resp2,
        closing: false,
    };
    let mut upstream: Option<Upstream> = None;
    let mut down_until: Option<(Instant, String)> = None;
    let (mut client_r, mut client_w) = socket.split();

    loop {
        if client.closing && client.pending.is_empty() && client.out.is_empty() {
            break;
        }
        let read_client = !client.closing && rbuf.len() + client.out.len() < BACKPRESSURE_BYTES;
        let up_wants_write = upstream.as_ref().is_some_and(|u| !u.wbuf.is_empty());
        let has_upstream = upstream.is_some();
        let (up_read, up_write) = match upstream.as_mut() {
            Some(u) => (
                Some((&mut u.reader, &mut u.rbuf)),
                Some((&mut u.writer, &u.wbuf)),
            ),
            None => (None, None),
        };
        tokio::select! {
            biased;
            _ = shared.shutdown.changed(), if !client.closing => client.closing = true,
            read = async move { let (r, buf) = up_read.expect("guarded"); r.read_buf(buf).await },
                if has_upstream => {
                match read {
                    Ok(n) if n > 0 => {
                        let u = upstream.as_mut().expect("guarded");
                        if let Err(e) = route_replies(&mut u.rbuf, &mut client) {
                            lose_upstream(&mut upstream, &mut client, &e);
                        }
                    }
                    Ok(_) => lose_upstream(&mut upstream, &mut client, &UpstreamError::Closed),
                    Err(e) => lose_upstream(&mut upstream, &mut client, &UpstreamError::Io(e)),
                }
            }
            written = async move { let (w, buf) = up_write.expect("guarded"); w.write(buf).await },
                if up_wants_write => {
                match written {
                    Ok(n) if n > 0 => upstream.as_mut().expect("guarded").wbuf.advance(n),
                    Ok(_) => lose_upstream(&mut upstream, &mut client, &UpstreamError::Closed),
                    Err(e) => lose_upstream(&mut upstream, &mut client, &UpstreamError::Io(e)),
                }
            }
            written = client_w.write(&client.out), if !client.out.is_empty() => match written {
                Ok(n) if n > 0 => client.out.advance(n),
                _ => break,
            },
            read = client_r.read_buf(&mut rbuf), if read_client => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let fatal = parse_batch(&mut parser, &mut rbuf, &shared.limits, &mut batch);
                    if !batch.is_empty() {
                        forward(&mut batch, &mut client, &mut upstream, &mut down_until, &config).await;
                    }
                    if let Some(error) = fatal {
                        client.pending.local(Reply::error(error.reply_text()).to_bytes(client.protocol));
                        release_locals(&mut client);
                        client.closing = true;
                    }
                    shrink_if_idle(&mut rbuf);
                }
            },
        }
    }
    let _ = client_w.flush().await;
}

/// Sends a batch upstream (connecting first if needed), answering locally what the sidecar
/// answers itself.
async fn forward(
    batch: &mut Vec<Command>,
    client: &mut Client,
    upstream: &mut Option<Upstream>,
    down_until: &mut Option<(Instant, String)>,
    config: &UpstreamConfig,
) {
    if upstream.is_none() {
        match down_until {
            Some((until, _)) if Instant::now() < *until => {}
            _ => match Link::connect(config).await {
                Ok(link) => {
                    *down_until = None;
                    let (reader, writer) = link.stream.into_split();
                    *upstream = Some(Upstream {
                        reader,
                        writer,
                        rbuf: BytesMut::with_capacity(READ_CHUNK),
                        wbuf: BytesMut::with_capacity(READ_CHUNK),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "upstream unavailable");
                    *down_until = Some((Instant::now() + RECONNECT_BACKOFF, e.to_string()));
                }
            },
        }
    }
    for cmd in batch.drain(..) {
        if cmd.is("quit") {
            client.pending.local(Reply::ok().to_bytes(client.protocol));
            client.closing = true;
            break;
        }
        match upstream {
            Some(u) => {
                if cmd.is("hello") {
                    match cmd.args.get(1).map(|v| &v[..]) {
                        Some(b"3") => client.protocol = Protocol::Resp3,
                        Some(b"2") => client.protocol = Protocol::Resp2,
                        _ => {}
                    }
                }
                cmd.encode(&mut u.wbuf);
                client.pending.sent(&cmd);
            }
            None => {
                let why = down_until
                    .as_ref()
                    .map(|(_, why)| why.as_str())
                    .unwrap_or("not connected");
                client.pending.local(unavailable(why, client.protocol));
            }
        }
    }
    release_locals(client);
}

/// Moves every complete reply from the upstream's buffer to the client's, in order.
fn route_replies(rbuf: &mut BytesMut, client: &mut Client) -> Result<(), UpstreamError> {
    while let Some(len) = frame_len(rbuf, MAX_REPLY_DEPTH)? {
        let frame: Bytes = rbuf.split_to(len).freeze();
        match client.pending.route(&frame) {
            Route::Reply | Route::PartialReply | Route::Push => {
                client.out.extend_from_slice(&frame)
            }
        }
        release_locals(client);
    }
    Ok(())
}

fn release_locals(client: &mut Client) {
    while let Some(local) = client.pending.take_ready_local() {
        client.out.extend_from_slice(&local);
    }
}

/// The upstream connection failed: every request still owed gets an error, in order. A
/// subscribed client is closed, since its subscriptions are gone with the connection.
fn lose_upstream(upstream: &mut Option<Upstream>, client: &mut Client, error: &UpstreamError) {
    tracing::warn!(error = %error, "upstream connection lost");
    *upstream = None;
    let was_subscribed = client.pending.subscribed();
    let why = error.to_string();
    for slot in client.pending.fail_all() {
        let reply = slot.unwrap_or_else(|| unavailable(&why, client.protocol));
        client.out.extend_from_slice(&reply);
    }
    if was_subscribed {
        client.closing = true;
    }
}

fn unavailable(why: &str, protocol: Protocol) -> Bytes {
    Reply::error(format!("ERR upstream unavailable: {why}")).to_bytes(protocol)
}
