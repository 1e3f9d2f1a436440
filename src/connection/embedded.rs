//! Serving a client from the embedded store.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{parse_batch, shrink_if_idle, Shared, BACKPRESSURE_BYTES, READ_CHUNK};
use crate::protocol::{Reply, RequestParser};
use crate::store::{Outcome, Session, Store};

/// Pub/sub messages queued for one client before it counts as a slow reader and is dropped.
const PUSH_QUEUE: usize = 16 * 1024;

pub(super) async fn serve(mut socket: TcpStream, store: Store, mut shared: Shared) {
    let (push_tx, mut pushes) = mpsc::channel::<Reply>(PUSH_QUEUE);
    let mut client = store.client();
    client.pushes = Some(push_tx);
    let mut session = Session::new(client);
    let mut parser = RequestParser::default();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut batch = Vec::new();
    let mut outcomes = Vec::new();
    // Set when requests arrived while a command was blocked: parse them before reading again.
    let mut unparsed = false;
    'conn: loop {
        if !unparsed {
            tokio::select! {
                biased;
                _ = shared.shutdown.changed() => break,
                Some(push) = pushes.recv() => {
                    push.encode(session.client.protocol, &mut wbuf);
                    while let Ok(more) = pushes.try_recv() {
                        more.encode(session.client.protocol, &mut wbuf);
                    }
                }
                read = socket.read_buf(&mut rbuf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
            }
        }
        unparsed = false;
        let fatal = parse_batch(&mut parser, &mut rbuf, &shared.limits, &mut batch);
        let mut done = 0;
        while done < batch.len() {
            done += session.execute(&store, &batch[done..], &mut outcomes);
            for outcome in outcomes.drain(..) {
                let reply = match outcome {
                    Outcome::Reply(reply) => reply,
                    Outcome::Blocked(blocked) => {
                        if socket.write_all(&wbuf).await.is_err() {
                            break 'conn;
                        }
                        wbuf.clear();
                        let wait = blocked.wait();
                        tokio::pin!(wait);
                        loop {
                            tokio::select! {
                                reply = &mut wait => break reply,
                                _ = shared.shutdown.changed() => break 'conn,
                                // Watch the socket: a client that leaves un-parks its command.
                                read = socket.read_buf(&mut rbuf), if rbuf.len() < BACKPRESSURE_BYTES => match read {
                                    Ok(0) | Err(_) => break 'conn,
                                    Ok(_) => unparsed = true,
                                },
                            }
                        }
                    }
                };
                reply.encode(session.client.protocol, &mut wbuf);
            }
            if session.client.closing {
                break;
            }
        }
        batch.clear();
        if let Some(error) = &fatal {
            Reply::error(error.reply_text()).encode(session.client.protocol, &mut wbuf);
        }
        if !wbuf.is_empty() {
            if socket.write_all(&wbuf).await.is_err() {
                break;
            }
            wbuf.clear();
        }
        if fatal.is_some() || session.client.closing {
            break;
        }
        shrink_if_idle(&mut rbuf);
    }
    session.close(&store);
}
