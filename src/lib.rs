//! redis-sidecar: a Redis-protocol proxy that sits next to an application.
//!
//! Module map, along the data path:
//! - [`server`]: accept loop, client limit, graceful shutdown.
//! - [`connection`]: one client: read, parse the batch, serve it, write the replies at once.
//! - [`protocol`]: RESP requests in, replies out, upstream frames delimited; no I/O.
//! - [`command`]: the command view (arguments as slices of the read buffer).
//! - [`upstream`]: upstream URLs, connections, and matching replies to requests.
//! - [`store`]: the embedded Redis-compatible store.
//! - [`config`]: defaults < file < env < flags, validated.
//! - [`reload`]: SIGHUP re-reads the configuration and swaps the policy chain in place.
//! - [`policy`]: the layers every command passes through.
//! - [`metrics`]: Prometheus metrics (names in one place), the metrics policy, status data.
//! - [`http`]: `/metrics`, `/health`, `/health/redis`, the status page.

pub mod command;
pub mod config;
pub mod connection;
pub mod failover;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod protocol;
pub mod reload;
pub mod server;
pub mod store;
pub mod upstream;
