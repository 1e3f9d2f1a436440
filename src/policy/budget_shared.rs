//! The shared budget: the count lives in the upstream, in one key per bucket of the sliding
//! window (`sidecar:budget:<window ms>:<bucket>`), and each sidecar takes leases of cost units
//! from it with one script call, so keeping the count costs one upstream command per lease.
//!
//! Invariants:
//! - The upstream grants a lease only while the window's count stays within the limit, so the
//!   sum of the grants in any window is at most `limit`.
//! - A sidecar serves from its local pool of granted units. When the pool runs dry before a
//!   refill arrives, it may overdraw (a debt, repaid from the next grant) by at most one lease;
//!   so across N sidecars the commands served in a window exceed the limit by at most N leases.
//! - Granted units are dropped unused once their bucket is about to leave the window, so units
//!   are never served after the window stopped counting them.
//! - Once the upstream answers that the count is exhausted, the sidecar refuses (without
//!   overdraft) until the oldest bucket leaves the window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::budget_window::{Exceeded, BUCKETS};
use crate::command::encode_args;
use crate::protocol::{parse_reply, Protocol, Reply};
use crate::upstream::link::read_frame;
use crate::upstream::{Link, UpstreamConfig, UpstreamError};

/// Grants up to ARGV[3] units if the window's count stays within ARGV[2]; returns
/// {granted, count after the grant, ms until the oldest counted bucket leaves}.
const LEASE_SCRIPT: &str = r#"
local prefix, limit, want = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local width, n = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.floor(now / width)
local keys = {}
for i = 0, n - 1 do keys[i + 1] = prefix .. string.format('%d', slot - i) end
local counts = redis.call('MGET', unpack(keys))
local used = 0
for i = 1, n do used = used + (tonumber(counts[i]) or 0) end
local grant = math.max(0, math.min(want, limit - used))
if grant > 0 then
  redis.call('INCRBY', keys[1], grant)
  redis.call('PEXPIRE', keys[1], width * (n + 1))
end
local resets = width * n
for i = n, 1, -1 do
  if (tonumber(counts[i]) or 0) > 0 or (i == 1 and grant > 0) then
    resets = (slot - (i - 1) + n) * width - now
    break
  end
end
return {grant, used + grant, resets}
"#;

/// Why the shared budget refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The upstream said the window's count is exhausted.
    Exceeded(Exceeded),
    /// The local pool and the overdraft are spent and a refill is on its way.
    Pending,
}

#[derive(Debug, Default)]
struct LeaseState {
    /// Granted units not yet used.
    pool: u64,
    /// When the pool's units stop being counted by the window (they are dropped then).
    pool_expires: Option<Instant>,
    /// Units served before they were granted (at most one lease).
    debt: u64,
    /// Refuse until then: the upstream said the count is exhausted.
    exhausted_until: Option<Instant>,
    /// The window's count as the upstream last reported it.
    global_used: u64,
    /// Units granted to this sidecar since start.
    granted_total: u64,
}

/// One sidecar's share of the shared budget; see the module doc for the invariants.
pub struct Leases {
    limit: u64,
    lease: u64,
    window: Duration,
    prefix: String,
    state: Mutex<LeaseState>,
    wake: Notify,
}

impl Leases {
    pub fn new(limit: u64, lease: u64, window: Duration) -> Leases {
        Leases {
            limit,
            lease,
            window,
            prefix: format!("sidecar:budget:{}:", window.as_millis()),
            state: Mutex::new(LeaseState::default()),
            wake: Notify::new(),
        }
    }

    /// Takes `cost` units from the pool (or the overdraft); never waits.
    pub fn charge(&self, cost: u64) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut s = self.state.lock();
        if s.pool_expires.is_some_and(|at| now >= at) {
            s.pool = 0;
            s.pool_expires = None;
        }
        if s.pool >= cost {
            s.pool -= cost;
            if s.pool < self.lease.div_ceil(2) {
                self.wake.notify_one();
            }
            return Ok(());
        }
        if let Some(until) = s.exhausted_until.filter(|until| now < *until) {
            return Err(Refusal::Exceeded(Exceeded {
                used: s.global_used,
                limit: self.limit,
                resets_in_s: until.duration_since(now).as_millis().div_ceil(1000) as u64,
            }));
        }
        self.wake.notify_one();
        let short = cost - s.pool;
        if s.debt + short <= self.lease {
            s.pool = 0;
            s.debt += short;
            return Ok(());
        }
        Err(Refusal::Pending)
    }

    /// The window's count as last reported by the upstream.
    pub fn global_used(&self) -> u64 {
        self.state.lock().global_used
    }

    /// Units granted to this sidecar since it started.
    pub fn granted_total(&self) -> u64 {
        self.state.lock().granted_total
    }

    /// Units this sidecar served beyond its grants (at most one lease).
    pub fn debt(&self) -> u64 {
        self.state.lock().debt
    }

    /// Keeps the pool filled from the upstream until shutdown. Needs a tokio runtime.
    pub async fn run(
        self: Arc<Self>,
        config: Arc<UpstreamConfig>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut link: Option<Link> = None;
        loop {
            let (want, wait_until) = {
                let s = self.state.lock();
                let low = s.pool < self.lease.div_ceil(2) || s.debt > 0;
                let paused = s.exhausted_until.filter(|u| *u > Instant::now());
                (low.then_some(self.lease + s.debt), paused)
            };
            let pause = match (want, wait_until) {
                (Some(_), Some(until)) => Some(until.duration_since(Instant::now())),
                _ => None,
            };
            if let (Some(want), None) = (want, pause) {
                match self.refill(&mut link, &config, want).await {
                    Ok(()) => continue,
                    Err(e) => {
                        link = None;
                        tracing::warn!(error = %e, "shared budget: cannot take a lease from the upstream");
                    }
                }
            }
            let pause = pause.unwrap_or(Duration::from_millis(250));
            tokio::select! {
                _ = self.wake.notified(), if want.is_none() => {}
                _ = tokio::time::sleep(pause), if want.is_some() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn refill(
        &self,
        link: &mut Option<Link>,
        config: &UpstreamConfig,
        want: u64,
    ) -> Result<(), UpstreamError> {
        let width = (self.window.as_millis() as u64 / BUCKETS as u64).max(1);
        let args: [Bytes; 8] = [
            Bytes::from_static(b"EVAL"),
            Bytes::from_static(LEASE_SCRIPT.as_bytes()),
            Bytes::from_static(b"0"),
            Bytes::from(self.prefix.clone()),
            Bytes::from(self.limit.to_string()),
            Bytes::from(want.to_string()),
            Bytes::from(width.to_string()),
            Bytes::from(BUCKETS.to_string()),
        ];
        let ms = config.command_timeout.as_millis() as u64;
        let reply = tokio::time::timeout(config.command_timeout, async {
            if link.is_none() {
                *link = Some(Link::connect(config, Protocol::Resp2).await?);
            }
            let l = link.as_mut().expect("connected");
            let mut out = BytesMut::new();
            encode_args(&args, &mut out);
            l.send(&out).await?;
            read_frame(&mut l.reader, &mut BytesMut::new()).await
        })
        .await
        .map_err(|_| UpstreamError::Timeout(ms))??;
        let figures = match parse_reply(&reply) {
            Some(Reply::Array(items)) if items.len() == 3 => items
                .iter()
                .map(|i| match i {
                    Reply::Int(n) => Some((*n).max(0) as u64),
                    _ => None,
                })
                .collect::<Option<Vec<u64>>>(),
            _ => None,
        };
        let Some([grant, used, resets_ms]) = figures.as_deref().map(|f| [f[0], f[1], f[2]]) else {
            return Err(UpstreamError::Handshake {
                step: "budget lease",
                reply: String::from_utf8_lossy(&reply).trim_end().to_string(),
            });
        };
        let now = Instant::now();
        let mut s = self.state.lock();
        let pay = grant.min(s.debt);
        s.debt -= pay;
        if grant > pay {
            s.pool += grant - pay;
            // The grant sits in the newest bucket: it is counted for the window less one bucket.
            // Units already pooled keep the earlier expiry: some may go unused, none overstay.
            let expires = now + self.window - self.window / BUCKETS as u32;
            s.pool_expires = Some(s.pool_expires.map_or(expires, |e| e.min(expires)));
        }
        s.global_used = used;
        s.granted_total += grant;
        s.exhausted_until = (grant < want).then(|| now + Duration::from_millis(resets_ms.max(1)));
        Ok(())
    }
}
