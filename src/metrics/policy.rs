//! The metrics layer of the policy chain: counts and times every command, and classifies reads
//! as hits or misses by key namespace.
//!
//! Invariants: it never rewrites or refuses anything; per command it does a table lookup, a few
//! atomic adds and (for tenants and read namespaces) a read-locked map lookup, allocating only
//! the first time a label value is seen (bounded).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;

use metrics::{Counter, Label};
use parking_lot::RwLock;

use super::commands::{self, Outcome};
use super::names::{self, MAX_LABEL_VALUES, OTHER};
use super::{latency, namespaces, status};
use crate::command::Command;
use crate::policy::{Completed, Policy, PolicySession};

/// The metrics policy; put it first in the chain so it sees every command.
#[derive(Debug, Default)]
pub struct MetricsPolicy;

impl Policy for MetricsPolicy {
    fn observes(&self) -> bool {
        true
    }

    fn completed(&self, done: &Completed) {
        let slot = commands::slot(done.cmd.name());
        let outcome = if done.error {
            Outcome::Error
        } else {
            Outcome::Ok
        };
        slot.count(outcome);
        slot.record_latency(done.elapsed.as_secs_f64());
        latency::record(done.elapsed);
        status::COMMANDS.fetch_add(1, Ordering::Relaxed);
        if done.error {
            status::ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        if slot.read && !done.error {
            if let Some(key) = done.cmd.args.get(1) {
                namespaces::record(unprefixed(done.session, key), !done.empty);
            }
        }
        if let Some(tenant) = &done.session.tenant {
            tenant_count(tenant, outcome);
        }
    }

    fn refused(&self, session: &PolicySession, cmd: &Command) {
        commands::slot(cmd.name()).count(Outcome::Refused);
        status::COMMANDS.fetch_add(1, Ordering::Relaxed);
        status::REFUSED.fetch_add(1, Ordering::Relaxed);
        if let Some(tenant) = &session.tenant {
            tenant_count(tenant, Outcome::Refused);
        }
    }
}

/// The key as the client wrote it (without its tenant's prefix, which a tenant layer adds).
fn unprefixed<'a>(session: &PolicySession, key: &'a [u8]) -> &'a [u8] {
    match &session.prefix {
        Some(prefix) => key.strip_prefix(&prefix[..]).unwrap_or(key),
        None => key,
    }
}

type TenantCounters = [Counter; 3];

fn tenant_counters(tenant: &str) -> TenantCounters {
    let c = |o: Outcome| {
        super::counter(
            &names::TENANT_COMMANDS,
            vec![
                Label::new("tenant", tenant.to_string()),
                Label::from_static_parts("outcome", o.as_str()),
            ],
        )
    };
    [c(Outcome::Ok), c(Outcome::Error), c(Outcome::Refused)]
}

static TENANTS: LazyLock<RwLock<HashMap<Box<str>, TenantCounters>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));
static OTHER_TENANTS: LazyLock<TenantCounters> = LazyLock::new(|| tenant_counters(OTHER));

/// Counts a command of `tenant` (at most [`MAX_LABEL_VALUES`] tenants by name, then `other`).
fn tenant_count(tenant: &str, outcome: Outcome) {
    if let Some(counters) = TENANTS.read().get(tenant) {
        return counters[outcome as usize].increment(1);
    }
    let mut known = TENANTS.write();
    if known.len() >= MAX_LABEL_VALUES && !known.contains_key(tenant) {
        drop(known);
        return OTHER_TENANTS[outcome as usize].increment(1);
    }
    known
        .entry(tenant.into())
        .or_insert_with(|| tenant_counters(tenant))[outcome as usize]
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn tenant_prefixes_are_not_part_of_the_namespace() {
        let session = PolicySession {
            prefix: Some(Bytes::from_static(b"ws:7:")),
            ..PolicySession::default()
        };
        assert_eq!(unprefixed(&session, b"ws:7:flow:state:1"), b"flow:state:1");
        assert_eq!(unprefixed(&session, b"other:1"), b"other:1");
        assert_eq!(unprefixed(&PolicySession::default(), b"ws:7:a"), b"ws:7:a");
    }
}
