//! The metrics layer of the policy chain: counts and times every command, and classifies reads
//! as hits or misses by key namespace.
//!
//! Invariants: it never rewrites or refuses anything; per command it does a table lookup and
//! writes only the calling thread's shard ([`super::shards`]: plain loads and stores, no shared
//! atomic, no lock), plus for read namespaces a thread-local map lookup; only with tenants does
//! it take a read lock and add to a shared counter. It allocates only the first time a label
//! value is seen (bounded).

use std::sync::LazyLock;

use metrics::{Counter, Label};
use parking_lot::RwLock;

use super::commands::{self, Outcome};
use super::names::{self, MAX_LABEL_VALUES, OTHER};
use super::{namespaces, shards};
use crate::command::Command;
use crate::policy::{Completed, Policy, PolicySession};
use crate::protocol::Reply;

/// The metrics policy; put it first in the chain so it sees every command.
#[derive(Debug, Default)]
pub struct MetricsPolicy;

impl Policy for MetricsPolicy {
    fn rewrites_replies(&self) -> bool {
        false
    }

    fn rewrites_requests(&self) -> bool {
        false
    }

    fn inspects_requests(&self) -> bool {
        false
    }

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
        let namespace = match done.cmd.args.get(1) {
            Some(key) if slot.read && !done.error => Some(namespaces::index(
                namespaces::namespace(unprefixed(done.session, key)),
            )),
            _ => None,
        };
        shards::with(|shard| {
            shard.command(slot.index, outcome, Some(done.elapsed));
            if let Some(i) = namespace {
                shard.read(i, !done.empty);
            }
        });
        if let Some(tenant) = &done.session.tenant {
            tenant_count(tenant, outcome);
        }
    }

    fn refused(&self, session: &PolicySession, cmd: &Command, answer: &Reply) {
        // A policy's error is a refusal; its other answers (AUTH's OK, SLOWLOG) are served.
        let outcome = if answer.is_error() {
            Outcome::Refused
        } else {
            Outcome::Ok
        };
        let index = commands::slot(cmd.name()).index;
        shards::with(|shard| shard.command(index, outcome, None));
        if let Some(tenant) = &session.tenant {
            tenant_count(tenant, outcome);
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

static TENANTS: LazyLock<RwLock<ahash::AHashMap<Box<str>, TenantCounters>>> =
    LazyLock::new(|| RwLock::new(ahash::AHashMap::new()));
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
    use crate::policy::{Chain, Verdict};
    use bytes::Bytes;
    use std::sync::Arc;

    /// Refuses FLUSHALL; answers ECHO itself, without an error.
    struct RefuseFlushall;
    impl Policy for RefuseFlushall {
        fn request(&self, _: &mut PolicySession, cmd: &mut Command) -> Result<Verdict, Reply> {
            if cmd.is("flushall") {
                return Err(Reply::error("ERR refused"));
            }
            if cmd.is("echo") {
                return Err(Reply::ok());
            }
            Ok(Verdict::default())
        }
    }

    #[test]
    fn refusals_count_with_their_own_outcome() {
        let chain = Chain::new(vec![Arc::new(MetricsPolicy), Arc::new(RefuseFlushall)]);
        assert!(chain.observes());
        let mut session = PolicySession {
            tenant: Some("t-refused".into()),
            ..PolicySession::default()
        };
        let mut cmd = Command::from_strs(&["FLUSHALL"]);
        let answer = chain.request(&mut session, &mut cmd).unwrap_err();
        chain.refused(&session, &cmd, &answer);
        let text = crate::metrics::render();
        assert!(
            text.contains(r#"redis_sidecar_commands_total{command="flushall",outcome="refused"} "#),
            "{text}"
        );
        assert!(text.contains(
            r#"redis_sidecar_tenant_commands_total{tenant="t-refused",outcome="refused"} 1"#
        ));
    }

    #[test]
    fn answers_a_policy_gives_without_an_error_count_as_ok() {
        let chain = Chain::new(vec![Arc::new(MetricsPolicy), Arc::new(RefuseFlushall)]);
        let mut session = PolicySession {
            tenant: Some("t-answered".into()),
            ..PolicySession::default()
        };
        let mut cmd = Command::from_strs(&["ECHO", "x"]);
        let answer = chain.request(&mut session, &mut cmd).unwrap_err();
        chain.refused(&session, &cmd, &answer);
        let text = crate::metrics::render();
        assert!(text.contains(
            r#"redis_sidecar_tenant_commands_total{tenant="t-answered",outcome="ok"} 1"#
        ));
        assert!(text.contains(
            r#"redis_sidecar_tenant_commands_total{tenant="t-answered",outcome="refused"} 0"#
        ));
    }

    #[test]
    fn tenants_past_the_bound_count_as_other() {
        // Keeps names for the refusal tests, which may run after this one fills the bound.
        tenant_count("t-refused", Outcome::Ok);
        tenant_count("t-answered", Outcome::Error);
        for i in 0..(MAX_LABEL_VALUES + 10) {
            tenant_count(&format!("t-unit-{i}"), Outcome::Ok);
        }
        let text = crate::metrics::render();
        let named = text
            .lines()
            .filter(|l| l.starts_with("redis_sidecar_tenant_commands_total{tenant=\"t-unit-"))
            .filter(|l| l.contains("outcome=\"ok\""))
            .count();
        assert!(
            named > 0 && named <= MAX_LABEL_VALUES,
            "{named} tenants named"
        );
        assert!(
            text.contains(r#"redis_sidecar_tenant_commands_total{tenant="other",outcome="ok"}"#)
        );
    }

    #[test]
    fn namespaces_past_the_bound_count_as_other() {
        for i in 0..(MAX_LABEL_VALUES + 10) {
            namespaces::record(format!("ns-unit-{i}:x:1").as_bytes(), i % 2 == 0);
        }
        let text = crate::metrics::render();
        let named = text
            .lines()
            .filter(|l| l.starts_with("redis_sidecar_read_hits_total{namespace=\"ns-unit-"))
            .count();
        assert!(
            named > 0 && named <= MAX_LABEL_VALUES,
            "{named} namespaces named"
        );
        assert!(text.contains(r#"redis_sidecar_read_hits_total{namespace="other"}"#));
    }

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
