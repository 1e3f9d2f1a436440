//! The health monitor: PINGs the upstream periodically (and at once when the pool reports a
//! failure), moves clients to the store when it is unreachable, and replays the journal when
//! it answers again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::watch;

use super::{replay, Failover, Mode};
use crate::protocol::Protocol;
use crate::upstream::link::read_frame;
use crate::upstream::{Link, UpstreamConfig, UpstreamError};

/// Runs until shutdown.
pub async fn run(
    failover: Arc<Failover>,
    config: Arc<UpstreamConfig>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut link: Option<Link> = None;
    loop {
        match ping(&mut link, &config).await {
            Ok(rtt) => {
                failover.health.record_ping(rtt.as_micros() as u64);
                if failover.health.serving_store() {
                    failover.health.set(Mode::Replaying);
                    if let Err(e) = replay::run(&failover, &config).await {
                        tracing::warn!(error = %e, "replay interrupted; staying on the embedded store");
                        failover.health.set(Mode::Fallback);
                    }
                }
            }
            Err(e) if !e.is_outage() => {
                // Reachable but refusing (wrong password, not Redis): not an outage; say so.
                tracing::error!(error = %e, "the upstream refuses the sidecar's connection");
                *failover.health.last_error.lock() = Some(e.to_string());
            }
            Err(e) => {
                *failover.health.last_error.lock() = Some(e.to_string());
                if !failover.health.serving_store() {
                    tracing::warn!(error = %e, "upstream unreachable: serving from the embedded store");
                }
                failover.health.set(Mode::Fallback);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = failover.health.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One PING on the monitor's own connection (reconnecting if needed); the round trip.
async fn ping(link: &mut Option<Link>, config: &UpstreamConfig) -> Result<Duration, UpstreamError> {
    let attempt = async {
        if link.is_none() {
            *link = Some(Link::connect(config, Protocol::Resp2).await?);
        }
        let l = link.as_mut().expect("connected");
        let started = Instant::now();
        l.send(b"*1\r\n$4\r\nPING\r\n").await?;
        let reply = read_frame(&mut l.reader, &mut BytesMut::new()).await?;
        if !reply.starts_with(b"+PONG") {
            return Err(UpstreamError::Handshake {
                step: "PING",
                reply: String::from_utf8_lossy(&reply).trim_end().into(),
            });
        }
        Ok(started.elapsed())
    };
    let result = match tokio::time::timeout(config.connect_timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Timeout(
            config.connect_timeout.as_millis() as u64
        )),
    };
    if result.is_err() {
        *link = None;
    }
    result
}
