//! The per-command series at scrape time: the shards' sums copied into the exporter's counters,
//! and the command latency histogram rendered here in the Prometheus text format (the exporter
//! never sees it: its histograms cost a shared atomic bucket write per command).
//!
//! Invariants: a command's counter of one outcome is registered only once that count is
//! non-zero, and its histogram is written only once it has a timed command, so commands never
//! used add no series; the histogram's buckets are cumulative, `le="+Inf"` equals `_count`, and
//! its `# HELP`/`# TYPE` lines are written only here (the exporter has no such histogram).

use std::fmt::Write;
use std::sync::{LazyLock, OnceLock};

use metrics::{Counter, Label};

use super::commands::{self, Outcome};
use super::names::{self, LATENCY_BUCKETS};
use super::shards::{self, CommandTotals};

const OUTCOMES: [Outcome; 3] = [Outcome::Ok, Outcome::Error, Outcome::Refused];

/// The counters of each command slot, by outcome, registered on first non-zero count.
static COUNTERS: LazyLock<Vec<[OnceLock<Counter>; 3]>> =
    LazyLock::new(|| (0..commands::len()).map(|_| Default::default()).collect());

/// Copies the command counts into the exported counters and returns the latency histogram's
/// exposition (empty when no command was timed yet).
pub(super) fn commands() -> String {
    let totals = shards::commands();
    for (slot, total) in commands::slots().iter().zip(&totals) {
        for outcome in OUTCOMES {
            let n = total.outcomes[outcome as usize];
            if n == 0 {
                continue;
            }
            COUNTERS[slot.index][outcome as usize]
                .get_or_init(|| {
                    super::counter(
                        &names::COMMANDS,
                        vec![
                            Label::from_static_parts("command", slot.name),
                            Label::from_static_parts("outcome", outcome.as_str()),
                        ],
                    )
                })
                .absolute(n);
        }
    }
    histogram(
        commands::slots()
            .iter()
            .map(|s| s.name)
            .zip(totals.iter())
            .filter(|(_, t)| t.timed() > 0),
    )
}

/// The text exposition of the latency histogram of `commands` (name and counts, in order).
pub fn histogram<'a>(commands: impl Iterator<Item = (&'static str, &'a CommandTotals)>) -> String {
    let def = &names::COMMAND_DURATION;
    let mut out = String::new();
    for (name, total) in commands {
        if out.is_empty() {
            let _ = writeln!(out, "# HELP {} {}", def.name, def.help);
            let _ = writeln!(out, "# TYPE {} histogram", def.name);
        }
        let mut cumulative = 0u64;
        for (i, n) in total.buckets.iter().enumerate() {
            cumulative += n;
            match LATENCY_BUCKETS.get(i) {
                Some(le) => {
                    let _ = writeln!(
                        out,
                        "{}_bucket{{command=\"{name}\",le=\"{le}\"}} {cumulative}",
                        def.name
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{}_bucket{{command=\"{name}\",le=\"+Inf\"}} {cumulative}",
                        def.name
                    );
                }
            }
        }
        let seconds = total.sum_nanos as f64 / 1e9;
        let _ = writeln!(out, "{}_sum{{command=\"{name}\"}} {seconds}", def.name);
        let _ = writeln!(out, "{}_count{{command=\"{name}\"}} {cumulative}", def.name);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}
