//! Building the policy chain from a configuration, continuing the previous chain's state.
//!
//! Invariants:
//! - The chain's order is fixed: metrics, auth/tenants, slow log, budget, compression.
//! - Every background task a chain's layers need (metric exporters, the shared budget's lease
//!   refills) runs until its [`Layers`] are dropped (replaced by a reload, or at shutdown);
//!   nothing outlives the chain it serves.
//! - A layer that rewrites replies (tenants, compression) is never dropped by a rebuild, only
//!   turned into a pass-through form, so a reply is rewritten the same whichever chain
//!   admitted its command.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::connection::Backend;
use crate::policy::budget::{Billing, BudgetPolicy};
use crate::policy::compress::CompressPolicy;
use crate::policy::slowlog::SlowlogPolicy;
use crate::policy::tenant::TenantPolicy;
use crate::policy::{Chain, Policy};

/// A chain and the layers whose state a reload carries over.
pub struct Layers {
    /// The chain connections run.
    pub chain: Arc<Chain>,
    pub(super) tenant: Option<Arc<TenantPolicy>>,
    pub(super) slowlog: Option<Arc<SlowlogPolicy>>,
    pub(super) budget: Option<Arc<BudgetPolicy>>,
    pub(super) compress: Option<Arc<CompressPolicy>>,
    /// Never sent on: dropping it (with these layers) stops their background tasks.
    _retire: watch::Sender<bool>,
}

impl Layers {
    /// The layers for `config`, continuing `previous` (see [`crate::reload`] for what carries
    /// over). Spawns the layers' background tasks, so it must run inside a tokio runtime.
    pub fn build(config: &Config, backend: &Backend, previous: Option<&Layers>) -> Layers {
        let (retire_tx, retire) = watch::channel(false);
        let mut policies: Vec<Arc<dyn Policy>> = vec![Arc::new(crate::metrics::MetricsPolicy)];
        // Tenants authenticate and prefix before anything is charged, logged or compressed.
        let tenant = match previous.and_then(|p| p.tenant.as_ref()) {
            Some(old) => Some(Arc::new(old.reloaded(config.auth.clone()))),
            None => config
                .auth
                .required()
                .then(|| Arc::new(TenantPolicy::new(config.auth.clone()))),
        };
        if let Some(t) = &tenant {
            policies.push(t.clone());
        }
        // The slow log first among the rest, so SLOWLOG is answered free.
        let slowlog = slowlog(config, previous);
        if let Some(s) = &slowlog {
            policies.push(s.clone());
        }
        let upstream = match backend {
            Backend::Upstream(up) => Some(up),
            Backend::Embedded(_) => None,
        };
        let budget = config.budget.as_ref().map(|section| {
            let billing = match upstream {
                None => Billing::Never,
                Some(up) => up.failover.as_ref().map_or(Billing::Always, |f| {
                    Billing::UnlessFallback(f.health.clone())
                }),
            };
            let policy = match previous.and_then(|p| p.budget.as_ref()) {
                Some(old) => old.reconfigured(section.clone(), billing),
                None => BudgetPolicy::new(section.clone(), billing),
            };
            if let (Some(leases), Some(up)) = (policy.leases(), upstream) {
                tokio::spawn(leases.run(up.config.clone(), retire.clone()));
            }
            let policy = Arc::new(policy);
            let budget = policy.clone();
            tokio::spawn(every_second(retire.clone(), false, move || {
                crate::metrics::budget::set_limit(budget.limit());
                crate::metrics::budget::set_used(budget.used());
                crate::metrics::budget::set_spend_dollars(budget.spend_usd());
            }));
            policy
        });
        if budget.is_none() && previous.is_some_and(|p| p.budget.is_some()) {
            // Removed by a reload: no limit, nothing counted.
            crate::metrics::budget::set_limit(0);
            crate::metrics::budget::set_used(0);
            crate::metrics::budget::set_spend_dollars(0.0);
        }
        if let Some(b) = &budget {
            policies.push(b.clone());
        }
        let had_compress = previous.is_some_and(|p| p.compress.is_some());
        let compress =
            (upstream.is_some() && (config.compression.enabled || had_compress)).then(|| {
                let policy = Arc::new(match previous.and_then(|p| p.compress.as_ref()) {
                    Some(old) => old.reconfigured(config.compression.clone()),
                    None => CompressPolicy::new(config.compression.clone()),
                });
                let compress = policy.clone();
                let mut exported = (0, 0);
                tokio::spawn(every_second(retire.clone(), true, move || {
                    let now = (compress.bytes_before(), compress.bytes_after());
                    crate::metrics::compression::record(
                        (now.0 - exported.0) as usize,
                        (now.1 - exported.1) as usize,
                    );
                    exported = now;
                }));
                policy
            });
        if let Some(c) = &compress {
            policies.push(c.clone());
        }
        Layers {
            chain: Arc::new(Chain::new(policies)),
            tenant,
            slowlog,
            budget,
            compress,
            _retire: retire_tx,
        }
    }
}

/// The slow log for `config`: the previous one reconfigured in place (its entries kept) when
/// it stays on; a new one when it is turned on; none when off.
fn slowlog(config: &Config, previous: Option<&Layers>) -> Option<Arc<SlowlogPolicy>> {
    let old = previous.and_then(|p| p.slowlog.as_ref());
    if let Some(old) = old.filter(|old| old.reconfigure(&config.slowlog)) {
        return Some(old.clone());
    }
    let Some(new) = SlowlogPolicy::new(&config.slowlog).map(Arc::new) else {
        if old.is_some() {
            crate::metrics::status::set_slowlog_source(Arc::new(|_| Vec::new()));
        }
        return None;
    };
    // Weak: the status page must not keep a replaced slow log alive.
    let entries = Arc::downgrade(&new);
    crate::metrics::status::set_slowlog_source(Arc::new(move |n| {
        entries.upgrade().map(|s| s.recent(n)).unwrap_or_default()
    }));
    Some(new)
}

/// Runs `export` once a second until the layers are retired (then once more if `last`, so
/// counted deltas are not lost).
async fn every_second(
    mut retire: watch::Receiver<bool>,
    last: bool,
    mut export: impl FnMut() + Send + 'static,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => export(),
            _ = retire.changed() => {
                if last {
                    export();
                }
                return;
            }
        }
    }
}
