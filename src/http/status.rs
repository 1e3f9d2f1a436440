//! `/status.json`: what the status page draws, in one document: the recent samples, the
//! upstream's state, the budget, running totals and the slow log.
//!
//! Invariant: it only reads state kept elsewhere (no PING, no lock held across an await), so the
//! page can poll it every second at no cost to the upstream.

use serde_json::json;

use super::Response;
use crate::connection::Backend;
use crate::metrics::status::{self, Sampler};
use crate::metrics::{budget, compression, gauges, slowlog};

/// Slow log entries shown on the page.
pub const SLOWLOG_SHOWN: usize = 20;

/// The `/status.json` response.
pub fn json(backend: &Backend, sampler: &Sampler) -> Response {
    let upstream = gauges::view(backend);
    let (compressed_in, compressed_out) = compression::totals();
    Response::json(
        "200 OK",
        &json!({
            "now": status::unix_ms(),
            "version": env!("CARGO_PKG_VERSION"),
            "state": upstream.state,
            "upstream": upstream,
            "budget": budget::view(),
            "clients": crate::metrics::clients_open(),
            "totals": {
                "commands": status::commands(),
                "errors": status::errors(),
                "refused": status::refused(),
                "slow": slowlog::total(),
                "compression_input_bytes": compressed_in,
                "compression_output_bytes": compressed_out,
            },
            "samples": sampler.samples(),
            "slowlog": status::slowlog_entries(SLOWLOG_SHOWN),
        }),
    )
}
