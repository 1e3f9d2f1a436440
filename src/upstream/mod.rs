//! The upstream side: URLs, connections, and matching replies to requests.
//!
//! Today each client gets its own upstream connection ([`link`]), driven by the client's
//! connection task; [`pending`] keeps replies in request order, pub/sub included.

pub mod link;
pub mod pending;
pub mod url;

pub use link::{Link, UpstreamConfig, UpstreamError};
pub use url::UpstreamUrl;
