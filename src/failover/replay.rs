//! Sends the journal to the upstream, in order and pipelined, acknowledging as it goes.

use bytes::BytesMut;

use super::{Failover, Mode};
use crate::protocol::Protocol;
use crate::upstream::link::read_frame;
use crate::upstream::{Link, UpstreamConfig, UpstreamError};

/// Entries sent per round trip, by size.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Replays everything unacknowledged, then switches clients back to the upstream. Returns
/// the number of entries replayed; an error leaves the rest for the next attempt.
pub async fn run(failover: &Failover, config: &UpstreamConfig) -> Result<u64, UpstreamError> {
    let mut link = Link::connect(config, Protocol::Resp2).await?;
    let mut buf = BytesMut::new();
    let mut replayed = 0u64;
    let mut refused = 0u64;
    loop {
        let acked = failover.journal.acked();
        let entries = failover.journal.read_from(acked, CHUNK_BYTES)?;
        if entries.is_empty() {
            // Caught up: switch under the store's lock, so no client is between its state check
            // and its journal append.
            let journal = failover.journal.clone();
            let health = failover.health.clone();
            let switched = failover.store.with_state(|state| {
                let switched = journal.reset_if_drained(acked, || health.set(Mode::Upstream))?;
                if switched {
                    state.dbs.iter_mut().for_each(|db| db.clear());
                }
                Ok::<_, std::io::Error>(switched)
            })?;
            if switched {
                tracing::info!(
                    replayed,
                    refused,
                    "journal replayed; clients are back on the upstream"
                );
                return Ok(replayed);
            }
            // Appended but not yet on disk: wait for the writer, then read again.
            failover.journal.durable(failover.journal.appended()).await;
            continue;
        }
        let mut out = BytesMut::new();
        for (cmd, _) in &entries {
            if cmd.is("select") && cmd.arg_is(1, "0") {
                // Database 0 of a client means the URL's database upstream.
                crate::command::encode_args(&["SELECT", &config.url.db.to_string()], &mut out);
            } else {
                cmd.encode(&mut out);
            }
        }
        link.send(&out).await?;
        for (cmd, _) in &entries {
            let reply = read_frame(&mut link.reader, &mut buf).await?;
            if reply.first() == Some(&b'-') {
                // The upstream refused it (a key changed type meanwhile): the entry is done,
                // but say so, without values.
                refused += 1;
                tracing::warn!(command = %cmd.name_lossy(), reply = %String::from_utf8_lossy(&reply).trim_end(), "replayed write refused by upstream");
            }
        }
        replayed += entries.len() as u64;
        let end = entries.last().map(|(_, end)| *end).unwrap_or(acked);
        failover.journal.ack(end)?;
    }
}
