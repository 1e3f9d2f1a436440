//! The command-cost budget: every command the upstream serves costs units (1 by default, 0 for
//! what Upstash does not bill, `[budget.costs]` otherwise); a command whose cost would take the
//! sliding window's count past the limit is answered with Upstash's error and never sent.
//!
//! Invariants:
//! - Each command is charged once, in `request`, in order: commands in pipelines and in MULTI
//!   count one by one.
//! - What the embedded store serves costs nothing. A policy cannot know yet who will serve a
//!   command, so it charges when the upstream is the one serving at that moment
//!   ([`Billing::UnlessFallback`]). Race: a command admitted just as the state changes may be
//!   charged and then served by the store (or the reverse); the error is one command per
//!   client in flight at the switch.
//! - The budget state is shared by all connections behind one short lock (no lock across an
//!   await; nothing allocates on the path of a command that passes).
//! - A reload ([`BudgetPolicy::reconfigured`]) never forgets what was spent: the new policy
//!   keeps the old one's count (the same window when its length and mode are unchanged; a new
//!   window that starts with the old count otherwise; in shared mode the count lives in the
//!   upstream and a new limit or lease only changes what is asked of it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::budget_config::BudgetConfig;
use super::budget_shared::{Leases, Refusal};
use super::budget_window::{Exceeded, SlidingWindow};
use super::{Policy, PolicySession, Verdict};
use crate::command::Command;
use crate::failover::Health;
use crate::protocol::Reply;

/// When commands are billed.
#[derive(Clone)]
pub enum Billing {
    /// Always (an upstream without fallback).
    Always,
    /// Never (the embedded store is the primary: nothing reaches a billed upstream).
    Never,
    /// While the upstream serves; not while the fallback store stands in.
    UnlessFallback(Arc<Health>),
}

impl Billing {
    fn bills(&self) -> bool {
        match self {
            Billing::Always => true,
            Billing::Never => false,
            Billing::UnlessFallback(health) => !health.serving_store(),
        }
    }
}

enum Account {
    Local(Box<Mutex<SlidingWindow>>),
    Shared(Arc<Leases>),
}

/// The budget policy; see the module doc for its invariants.
pub struct BudgetPolicy {
    config: BudgetConfig,
    billing: Billing,
    ledger: Arc<Ledger>,
}

/// What a budget has counted; outlives a reload that keeps the budget.
struct Ledger {
    clock: Instant,
    account: Account,
    charged: AtomicU64,
    refused: AtomicU64,
}

impl Ledger {
    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn used(&self) -> u64 {
        match &self.account {
            Account::Local(w) => w.lock().used(self.now_ms()),
            Account::Shared(l) => l.global_used(),
        }
    }
}

fn account_for(config: &BudgetConfig) -> Account {
    if config.shared {
        Account::Shared(Arc::new(Leases::new(
            config.limit,
            config.lease,
            config.window,
        )))
    } else {
        Account::Local(Box::new(Mutex::new(SlidingWindow::new(config.window))))
    }
}

impl BudgetPolicy {
    /// A budget from its section. In shared mode, [`BudgetPolicy::leases`] must be run (it
    /// refills the local pool from the upstream).
    pub fn new(config: BudgetConfig, billing: Billing) -> BudgetPolicy {
        BudgetPolicy {
            ledger: Arc::new(Ledger {
                clock: Instant::now(),
                account: account_for(&config),
                charged: AtomicU64::new(0),
                refused: AtomicU64::new(0),
            }),
            config,
            billing,
        }
    }

    /// The budget for `config` that continues this one's count (see the module doc). Shared
    /// mode with a new limit, lease or window takes a new lease pool: run its
    /// [`BudgetPolicy::leases`] again.
    pub fn reconfigured(&self, config: BudgetConfig, billing: Billing) -> BudgetPolicy {
        let same_account = config.shared == self.config.shared
            && config.window == self.config.window
            && (!config.shared
                || (config.limit, config.lease) == (self.config.limit, self.config.lease));
        let ledger = if same_account {
            self.ledger.clone()
        } else {
            let account = account_for(&config);
            if let Account::Local(window) = &account {
                // A new window starts with the old count, as spent now: nothing is forgotten.
                let _ = window.lock().charge(0, self.used(), u64::MAX);
            }
            Arc::new(Ledger {
                clock: Instant::now(),
                account,
                charged: AtomicU64::new(self.charged_total()),
                refused: AtomicU64::new(self.refused_total()),
            })
        };
        BudgetPolicy {
            config,
            billing,
            ledger,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// The lease pool to run with [`Leases::run`] (shared mode only).
    pub fn leases(&self) -> Option<Arc<Leases>> {
        match &self.ledger.account {
            Account::Shared(leases) => Some(leases.clone()),
            Account::Local(_) => None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.ledger.now_ms()
    }

    /// Cost units counted in the current window (shared mode: the whole deployment's count as
    /// the upstream last reported it).
    pub fn used(&self) -> u64 {
        self.ledger.used()
    }

    /// Cost units allowed per window.
    pub fn limit(&self) -> u64 {
        self.config.limit
    }

    /// Units left in the current window.
    pub fn remaining(&self) -> u64 {
        self.limit().saturating_sub(self.used())
    }

    /// Estimated spend of the current window's units, in dollars, at the configured price.
    pub fn spend_usd(&self) -> f64 {
        self.used() as f64 * self.config.price_per_100k / 100_000.0
    }

    /// Units this sidecar charged since it started.
    pub fn charged_total(&self) -> u64 {
        self.ledger.charged.load(Ordering::Relaxed)
    }

    /// Commands refused for the budget since start.
    pub fn refused_total(&self) -> u64 {
        self.ledger.refused.load(Ordering::Relaxed)
    }

    /// The refusal as Upstash words it, with this sidecar's figures.
    fn exceeded_reply(&self, e: Exceeded) -> Reply {
        Reply::error(format!(
            "ERR max {} request limit exceeded: used {} of {} cost units in the last {}, resets in {} s",
            period_word(self.config.window.as_millis() as u64, &self.config.window_text),
            e.used,
            e.limit,
            self.config.window_text,
            e.resets_in_s
        ))
    }
}

/// "daily" for a 24 h window, as Upstash says; the window's own words otherwise.
fn period_word(window_ms: u64, text: &str) -> String {
    match window_ms {
        1000 => "per-second".into(),
        60_000 => "per-minute".into(),
        3_600_000 => "hourly".into(),
        86_400_000 => "daily".into(),
        604_800_000 => "weekly".into(),
        2_592_000_000 => "monthly".into(),
        _ => format!("per-{}", text.trim()),
    }
}

impl Policy for BudgetPolicy {
    fn rewrites_replies(&self) -> bool {
        false
    }

    fn rewrites_requests(&self) -> bool {
        false
    }

    fn request(&self, _session: &mut PolicySession, cmd: &mut Command) -> Result<Verdict, Reply> {
        let cost = self.config.cost_of(cmd.name());
        if cost == 0 || !self.billing.bills() {
            return Ok(Verdict::default());
        }
        let result = match &self.ledger.account {
            Account::Local(w) => w.lock().charge(self.now_ms(), cost, self.config.limit),
            Account::Shared(leases) => match leases.charge(cost) {
                Ok(()) => Ok(()),
                Err(Refusal::Exceeded(e)) => Err(e),
                Err(Refusal::Pending) => {
                    self.ledger.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(Reply::error(
                        "ERR shared budget: this sidecar's lease is spent and a new one is on its way from the upstream; retry shortly",
                    ));
                }
            },
        };
        match result {
            Ok(()) => {
                self.ledger.charged.fetch_add(cost, Ordering::Relaxed);
                Ok(Verdict::default())
            }
            Err(e) => {
                self.ledger.refused.fetch_add(1, Ordering::Relaxed);
                Err(self.exceeded_reply(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    fn policy(limit: u64, costs: &[(&str, u64)], billing: Billing) -> BudgetPolicy {
        BudgetPolicy::new(
            BudgetConfig {
                limit,
                window: Duration::from_secs(86_400),
                window_text: "24h".into(),
                shared: false,
                lease: 10,
                price_per_100k: 0.20,
                costs: costs
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect::<HashMap<_, _>>(),
            },
            billing,
        )
    }

    fn run(p: &BudgetPolicy, args: &[&str]) -> Result<Verdict, Reply> {
        p.request(&mut PolicySession::default(), &mut Command::from_strs(args))
    }

    #[test]
    fn refuses_past_the_limit_with_upstashs_words() {
        let p = policy(20, &[("smembers", 10)], Billing::Always);
        for _ in 0..10 {
            run(&p, &["SET", "k", "v"]).unwrap();
        }
        run(&p, &["SMEMBERS", "s"]).unwrap();
        let Err(Reply::Error(e)) = run(&p, &["SET", "k", "v"]) else {
            panic!("not refused")
        };
        assert_eq!(
            std::str::from_utf8(&e).unwrap(),
            "ERR max daily request limit exceeded: used 20 of 20 cost units in the last 24h, resets in 86400 s"
        );
        run(&p, &["PING"]).unwrap();
        assert_eq!((p.used(), p.remaining(), p.refused_total()), (20, 0, 1));
        assert!((p.spend_usd() - 20.0 * 0.20 / 100_000.0).abs() < 1e-12);
    }

    #[test]
    fn the_store_costs_nothing() {
        let p = policy(1, &[], Billing::Never);
        for _ in 0..5 {
            run(&p, &["SET", "k", "v"]).unwrap();
        }
        assert_eq!(p.used(), 0);
        let health = Arc::new(Health::new(crate::failover::Mode::Fallback));
        let p = policy(1, &[], Billing::UnlessFallback(health));
        run(&p, &["SET", "k", "v"]).unwrap();
        run(&p, &["SET", "k", "v"]).unwrap();
        assert_eq!(p.used(), 0);
    }

    #[test]
    fn names_the_period_after_the_window() {
        assert_eq!(period_word(86_400_000, "24h"), "daily");
        assert_eq!(period_word(86_400_000, "1d"), "daily");
        assert_eq!(period_word(1000, "1s"), "per-second");
        assert_eq!(period_word(600_000, "10m"), "per-10m");
    }

    #[test]
    fn a_reconfigured_budget_keeps_what_was_spent() {
        let p = policy(10, &[], Billing::Always);
        for _ in 0..4 {
            run(&p, &["SET", "k", "v"]).unwrap();
        }
        // A lower limit: the 4 units spent count against it.
        let mut lower = p.config().clone();
        lower.limit = 5;
        let p = p.reconfigured(lower, Billing::Always);
        assert_eq!((p.used(), p.limit()), (4, 5));
        run(&p, &["SET", "k", "v"]).unwrap();
        assert!(run(&p, &["SET", "k", "v"]).is_err(), "5 of 5 spent");
        // A new window length starts a new window with the count carried over.
        let mut hourly = p.config().clone();
        hourly.window = Duration::from_secs(3600);
        hourly.window_text = "1h".into();
        hourly.limit = 6;
        let p = p.reconfigured(hourly, Billing::Always);
        assert_eq!((p.used(), p.charged_total(), p.refused_total()), (5, 5, 1));
        run(&p, &["SET", "k", "v"]).unwrap();
        assert!(run(&p, &["SET", "k", "v"]).is_err());
    }
}
