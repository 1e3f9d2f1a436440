//! `/health/redis`: whether the upstream answers a PING now.
//!
//! Contract (the platform's health checks rely on it): 200 when the upstream answers, 503 when
//! it does not, even while the fallback store keeps clients working; 200 with state `embedded`
//! when no upstream is configured. The body says why, with the PING's latency, the sidecar's
//! state and the journal's size. The PING runs on a fresh connection within a bounded time, so
//! the answer is live, not the last health check's.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde_json::json;

use super::Response;
use crate::connection::Backend;
use crate::metrics::gauges;
use crate::protocol::Protocol;
use crate::upstream::link::read_frame;
use crate::upstream::{Link, UpstreamConfig, UpstreamError};

/// Longest wait for the live PING (the connect timeout applies too, if shorter).
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects (authenticating as the pool does), PINGs, and returns the PING's round trip;
/// gives up after `timeout`.
pub async fn ping(config: &UpstreamConfig, timeout: Duration) -> Result<Duration, UpstreamError> {
    let attempt = async {
        let mut link = Link::connect(config, Protocol::Resp2).await?;
        let started = Instant::now();
        link.send(b"*1\r\n$4\r\nPING\r\n").await?;
        let reply = read_frame(&mut link.reader, &mut BytesMut::new()).await?;
        if !reply.starts_with(b"+PONG") {
            return Err(UpstreamError::Handshake {
                step: "PING",
                reply: String::from_utf8_lossy(&reply).trim_end().into(),
            });
        }
        Ok(started.elapsed())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Timeout(timeout.as_millis() as u64)),
    }
}

/// The `/health/redis` response for `backend`.
pub async fn redis(backend: &Backend) -> Response {
    let Backend::Upstream(up) = backend else {
        return Response::json(
            "200 OK",
            &json!({
                "status": "up",
                "state": "embedded",
                "upstream": null,
                "latency_ms": null,
                "journal_entries": 0,
                "journal_bytes": 0,
            }),
        );
    };
    let ping = ping(&up.config, PING_TIMEOUT.min(up.config.connect_timeout * 2)).await;
    let side = gauges::view(backend);
    let (status, text, latency_ms, error) = match &ping {
        Ok(rtt) => ("200 OK", "up", Some(rtt.as_secs_f64() * 1000.0), None),
        Err(e) => ("503 Service Unavailable", "down", None, Some(e.to_string())),
    };
    Response::json(
        status,
        &json!({
            "status": text,
            "state": side.state,
            "upstream": up.config.url.to_string(),
            "latency_ms": latency_ms,
            "error": error,
            "fallback_active": matches!(side.state, "fallback" | "replaying"),
            "journal_entries": side.journal_entries,
            "journal_bytes": side.journal_pending_bytes,
            "replay_progress": side.replay_progress,
        }),
    )
}
