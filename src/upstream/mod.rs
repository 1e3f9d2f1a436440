//! The upstream side: URLs, connections, the shared pool, and matching replies to requests.
//!
//! Stateless commands go through the [`pool::Pool`] of the client's protocol version; commands
//! with connection state pin the client to a dedicated connection ([`routing`]), whose replies
//! [`pending`] matches to requests, pub/sub included.

mod coalesce;
pub mod link;
pub mod pending;
pub mod pool;
pub mod routing;
pub mod tls;
pub mod url;

use std::sync::Arc;

use tokio::sync::Semaphore;

pub use link::{Link, UpstreamConfig, UpstreamError};
pub use url::UpstreamUrl;

use crate::failover::Failover;
use crate::protocol::Protocol;

/// Everything the clients of one upstream share.
pub struct Upstream {
    pub config: Arc<UpstreamConfig>,
    resp2: pool::Pool,
    resp3: pool::Pool,
    /// Permits for dedicated (pinned) connections.
    pub dedicated: Arc<Semaphore>,
    /// The embedded store and journal that stand in during outages (None: fallback disabled).
    pub failover: Option<Arc<Failover>>,
}

impl Upstream {
    /// Starts the pools' connection tasks (they connect on first use). Needs a tokio runtime.
    pub fn start(config: UpstreamConfig, failover: Option<Arc<Failover>>) -> Upstream {
        let config = Arc::new(config);
        let health = failover.as_ref().map(|f| f.health.clone());
        Upstream {
            resp2: pool::Pool::start(config.clone(), Protocol::Resp2, health.clone()),
            resp3: pool::Pool::start(config.clone(), Protocol::Resp3, health),
            dedicated: Arc::new(Semaphore::new(config.dedicated)),
            config,
            failover,
        }
    }

    /// The pool for clients speaking `protocol`.
    pub fn pool(&self, protocol: Protocol) -> &pool::Pool {
        match protocol {
            Protocol::Resp2 => &self.resp2,
            Protocol::Resp3 => &self.resp3,
        }
    }
}
