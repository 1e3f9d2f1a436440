//! The HTTP endpoint for health (metrics and the status page arrive with issue 6).
//!
//! A deliberately small HTTP/1.1 responder: one request per connection, GET only, request
//! heads bounded to 8 KiB.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A bound HTTP listener.
pub struct HttpServer {
    listener: TcpListener,
}

const MAX_HEAD: usize = 8 * 1024;

impl HttpServer {
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (http): {e}"))?;
        Ok(HttpServer { listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                accepted = self.listener.accept() => {
                    if let Ok((socket, _)) = accepted {
                        tokio::spawn(respond(socket));
                    }
                }
            }
        }
    }
}

async fn respond(mut socket: TcpStream) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = match (method, path) {
        (b"GET", b"/health") => ("200 OK", "{\"status\":\"ok\"}"),
        (b"GET", _) => ("404 Not Found", "{\"error\":\"not found\"}"),
        _ => (
            "405 Method Not Allowed",
            "{\"error\":\"method not allowed\"}",
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
}
