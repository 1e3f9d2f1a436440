//! One connection to the upstream: connect with a deadline, authenticate, select the database.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::url::UpstreamUrl;
use crate::command::encode_args;
use crate::protocol::frame_len;

/// How deep a reply from the upstream may nest before it is refused as garbage.
pub const MAX_REPLY_DEPTH: usize = 64;

/// Why the upstream could not be used. The text is what clients see after
/// `ERR upstream unavailable: `, so it never contains credentials.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect to {addr} timed out after {ms} ms")]
    ConnectTimeout { addr: String, ms: u64 },
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
}

/// Settings for opening upstream connections.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub url: UpstreamUrl,
    pub connect_timeout: Duration,
}

/// An open, authenticated upstream connection.
pub struct Link {
    pub stream: TcpStream,
}

impl Link {
    /// Connects, then sends AUTH (when the URL has a password) and SELECT (when db > 0) and checks
    /// their replies, all within the connect timeout.
    pub async fn connect(config: &UpstreamConfig) -> Result<Link, UpstreamError> {
        let addr = config.url.address();
        let ms = config.connect_timeout.as_millis() as u64;
        let opened = tokio::time::timeout(config.connect_timeout, async {
            let mut stream =
                TcpStream::connect(&addr)
                    .await
                    .map_err(|source| UpstreamError::Connect {
                        addr: addr.clone(),
                        source,
                    })?;
            stream.set_nodelay(true)?;
            handshake(&mut stream, &config.url).await?;
            Ok::<_, UpstreamError>(stream)
        })
        .await
        .map_err(|_| UpstreamError::ConnectTimeout {
            addr: addr.clone(),
            ms,
        })??;
        Ok(Link { stream: opened })
    }
}

async fn handshake(stream: &mut TcpStream, url: &UpstreamUrl) -> Result<(), UpstreamError> {
    let mut steps: Vec<(&'static str, Vec<Bytes>)> = Vec::new();
    if let Some(password) = &url.password {
        let mut args = vec![Bytes::from_static(b"AUTH")];
        if let Some(user) = &url.username {
            args.push(Bytes::copy_from_slice(user.as_bytes()));
        }
        args.push(Bytes::copy_from_slice(password.as_bytes()));
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
    stream.write_all(&out).await?;
    let mut buf = BytesMut::with_capacity(256);
    for (step, _) in steps {
        let reply = read_frame(stream, &mut buf).await?;
        if reply.first() == Some(&b'-') {
            let text = String::from_utf8_lossy(&reply[1..]).trim_end().to_string();
            return Err(UpstreamError::Handshake { step, reply: text });
        }
    }
    Ok(())
}

/// Reads one complete reply frame.
pub async fn read_frame(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Bytes, UpstreamError> {
    loop {
        if let Some(len) = frame_len(buf, MAX_REPLY_DEPTH)? {
            return Ok(buf.split_to(len).freeze());
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(UpstreamError::Closed);
        }
    }
}
