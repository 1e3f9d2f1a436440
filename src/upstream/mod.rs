//! The upstream side: URLs, connections, the shared pool, and matching replies to requests.
//!
//! Stateless commands go through the [`pool::Pool`] of the client's protocol version; commands
//! with connection state pin the client to a dedicated connection ([`routing`]), whose replies
//! [`pending`] matches to requests, pub/sub included.

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

use crate::protocol::Protocol;

/// Everything the clients of one upstream share.
pub struct Upstream {
    pub config: Arc<UpstreamConfig>,
    resp2: pool::Pool,
    resp3: pool::Pool,
    /// Permits for dedicated (pinned) connections.
    pub dedicated: Arc<Semaphore>,
}

impl Upstream {
    /// Starts the pools' connection tasks (they connect on first use). Needs a tokio runtime.
    pub fn start(config: UpstreamConfig) -> Upstream {
        let config = Arc::new(config);
        Upstream {
            resp2: pool::Pool::start(config.clone(), Protocol::Resp2),
            resp3: pool::Pool::start(config.clone(), Protocol::Resp3),
            dedicated: Arc::new(Semaphore::new(config.dedicated)),
            config,
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
