//! The HTTP side: `/metrics` (Prometheus), `/health` (liveness), `/health/redis` (the upstream,
//! with a live PING), `/` (the status page) and `/status.json` (its data).
//!
//! A deliberately small HTTP/1.1 responder: one request per connection (`Connection: close`),
//! GET and HEAD only, request heads bounded to [`MAX_HEAD`] and read within [`HEAD_TIMEOUT`],
//! at most [`MAX_CONNECTIONS`] at once (more are closed at accept), so a slow or hostile client
//! costs bounded memory. A scraper, a load balancer's health check and a browser need no more.

pub mod health;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::connection::Backend;
use crate::metrics::status::Sampler;

/// A bound HTTP listener.
pub struct HttpServer {
    listener: TcpListener,
}

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client gets to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// The status page: one HTML file with its CSS and JS inline, no external assets.
pub const STATUS_PAGE: &str = include_str!("page.html");

/// What the handlers read.
struct Context {
    backend: Backend,
    sampler: Arc<Sampler>,
}

/// A response: status line, content type, body.
pub struct Response {
    /// Code and reason, as in the status line (`200 OK`).
    pub status: &'static str,
    pub content_type: &'static str,
    /// Sent whole, with its length (no chunking).
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: &'static str, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }
}

impl HttpServer {
    /// Binds `addr` (a port in use fails here, before anything runs).
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

    /// Serves until shutdown; also runs the status page's sampler for `backend`.
    pub async fn run(self, backend: Backend, shutdown: watch::Receiver<bool>) {
        let sampler = Arc::new(Sampler::default());
        tokio::spawn(sampler.clone().run(backend.clone(), shutdown.clone()));
        let context = Arc::new(Context { backend, sampler });
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut shutdown = shutdown;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                accepted = self.listener.accept() => {
                    let Ok((socket, _)) = accepted else { continue };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::debug!("http: too many connections, closing one");
                        continue;
                    };
                    let context = context.clone();
                    tokio::spawn(async move {
                        respond(socket, &context).await;
                        drop(slot);
                    });
                }
            }
        }
    }
}

/// Reads the request head (bounded in size and time); None if the client did not send one.
async fn read_head(socket: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
            if head.len() > MAX_HEAD {
                return false;
            }
        }
        true
    };
    match tokio::time::timeout(HEAD_TIMEOUT, read).await {
        Ok(true) => Some(head),
        _ => None,
    }
}

async fn respond(mut socket: TcpStream, context: &Context) {
    let Some(head) = read_head(&mut socket).await else {
        return;
    };
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    let response = match method {
        b"GET" | b"HEAD" => route(path, context).await,
        _ => Response::json(
            "405 Method Not Allowed",
            &serde_json::json!({"error": "only GET and HEAD are served"}),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    if method != b"HEAD" {
        out.extend_from_slice(&response.body);
    }
    let _ = socket.write_all(&out).await;
    let _ = socket.shutdown().await;
}

async fn route(path: &[u8], context: &Context) -> Response {
    match path {
        b"/health" => Response::json("200 OK", &serde_json::json!({"status": "ok"})),
        b"/health/redis" => health::redis(&context.backend).await,
        b"/metrics" => {
            crate::metrics::gauges::refresh(&context.backend).await;
            Response {
                status: "200 OK",
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: crate::metrics::render().into_bytes(),
            }
        }
        b"/status.json" => status::json(&context.backend, &context.sampler),
        b"/" | b"/index.html" => Response {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            body: STATUS_PAGE.as_bytes().to_vec(),
        },
        _ => Response::json(
            "404 Not Found",
            &serde_json::json!({
                "error": "not found",
                "endpoints": ["/", "/status.json", "/metrics", "/health", "/health/redis"],
            }),
        ),
    }
}
