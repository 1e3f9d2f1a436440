//! The per-client limits of `[limits]` that act while a client is connected: the idle timeout
//! and the output buffer limit for pub/sub subscribers (request size is the parser's own).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::gate::Gate;

/// Redis's `client-output-buffer-limit pubsub <hard> <soft> <soft seconds>`: a subscriber whose
/// unsent output reaches `hard` bytes, or stays at or above `soft` bytes for `soft_for`, is
/// disconnected. A zero `hard` or `soft` disables that half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_for: Duration,
}

impl Default for OutputLimit {
    /// Redis's default for the pubsub class: `32mb 8mb 60`.
    fn default() -> Self {
        OutputLimit {
            hard: 32 * 1024 * 1024,
            soft: 8 * 1024 * 1024,
            soft_for: Duration::from_secs(60),
        }
    }
}

impl OutputLimit {
    /// Parses Redis's syntax, `"<hard> <soft> <seconds>"` with sizes as `parse_size` reads them
    /// (`32mb`, `8388608`). The error says what was wrong.
    pub fn parse(text: &str) -> Result<OutputLimit, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [hard, soft, seconds] = parts[..] else {
            return Err(format!(
                "'{text}' is not three values; use \"<hard> <soft> <seconds>\", e.g. \"32mb 8mb 60\""
            ));
        };
        let size = |what: &str, v: &str| {
            crate::config::parse_size(v)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    format!("{what} '{v}' is not a size; use bytes or a unit, e.g. \"32mb\"")
                })
        };
        let soft_for = seconds
            .parse::<u64>()
            .map_err(|_| format!("seconds '{seconds}' is not a whole number"))?;
        Ok(OutputLimit {
            hard: size("hard limit", hard)?,
            soft: size("soft limit", soft)?,
            soft_for: Duration::from_secs(soft_for),
        })
    }
}

/// Tracks one subscriber's output against an [`OutputLimit`].
#[derive(Debug, Default)]
pub struct OutputWatch {
    /// Since when the output has been at or above the soft limit.
    over_soft_since: Option<Instant>,
}

impl OutputWatch {
    /// Whether a subscriber with `pending` unsent bytes must be disconnected now. Call it each
    /// time output is added (as Redis checks when it appends a reply).
    pub fn exceeded(&mut self, limit: &OutputLimit, pending: usize) -> bool {
        if limit.hard > 0 && pending >= limit.hard {
            return true;
        }
        if limit.soft == 0 || pending < limit.soft {
            self.over_soft_since = None;
            return false;
        }
        let since = *self.over_soft_since.get_or_insert_with(Instant::now);
        since.elapsed() >= limit.soft_for
    }
}

/// After this long without activity a connection gives back its buffers.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// What a quiet client is due for.
#[derive(Debug, PartialEq, Eq)]
pub enum Idle {
    /// Quiet for [`RELEASE_AFTER`]: give back the read and write buffers (they are allocated
    /// again on the next read), so idle connections hold no buffers.
    Release,
    /// Quiet for the idle timeout: close it, unless it is exempt.
    Timeout,
}

/// The idle stages of one client, measured from the last read from or write to it, to within
/// [`SAMPLE`]. Activity only raises a flag (no clock read: it happens per request); the timer
/// fires at least every [`SAMPLE`] and, if the flag is up, moves `last_activity` to the time it
/// fired, so a stage comes between its delay and its delay plus [`SAMPLE`] after the last
/// activity (Redis checks its idle clients once a second too). It is polled only when it fired
/// ([`Gate`]).
pub struct IdleTimer {
    timeout: Option<Duration>,
    /// The last activity, or a time at most [`SAMPLE`] after it.
    last_activity: Instant,
    /// Activity since `last_activity` was last moved.
    active: bool,
    released: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    gate: Gate,
}

/// How often a client's activity is sampled; the precision of its idle stages.
const SAMPLE: Duration = RELEASE_AFTER;

impl IdleTimer {
    /// A timer whose [`Idle::Timeout`] never comes when `timeout` is `None`.
    pub fn new(timeout: Option<Duration>) -> IdleTimer {
        IdleTimer {
            timeout,
            last_activity: Instant::now(),
            active: false,
            released: false,
            sleep: None,
            gate: Gate::default(),
        }
    }

    /// Records activity (a read or a write on the client's socket).
    pub fn active(&mut self) {
        self.active = true;
    }

    /// When the timer must fire next: the next stage, or the next sample of activity.
    fn deadline(&self) -> Option<Instant> {
        if self.active {
            Some(self.last_activity + SAMPLE)
        } else if !self.released {
            Some(self.last_activity + RELEASE_AFTER)
        } else {
            self.timeout.map(|t| self.last_activity + t)
        }
    }

    /// Completes when the client is due for the next stage. Cancel-safe: the deadline lives
    /// in the timer, not in the future.
    pub async fn expired(&mut self) -> Idle {
        std::future::poll_fn(|cx| self.poll_expired(cx)).await
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Idle> {
        loop {
            let Some(deadline) = self.deadline() else {
                return Poll::Pending;
            };
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.deadline() != deadline || sleep.is_elapsed() {
                sleep.as_mut().reset(deadline);
                self.gate.rearm();
            }
            std::task::ready!(self.gate.poll(cx, sleep.as_mut()));
            let now = Instant::now();
            if self.active {
                // Active since the last sample: quiet only from now on.
                self.active = false;
                self.released = false;
                self.last_activity = now;
                continue;
            }
            if self.released {
                return Poll::Ready(Idle::Timeout);
            }
            self.released = true;
            return Poll::Ready(Idle::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_syntax_and_says_what_is_wrong() {
        assert_eq!(
            OutputLimit::parse("32mb 8mb 60"),
            Ok(OutputLimit::default())
        );
        assert_eq!(
            OutputLimit::parse("0 0 0"),
            Ok(OutputLimit {
                hard: 0,
                soft: 0,
                soft_for: Duration::ZERO
            })
        );
        assert!(OutputLimit::parse("32mb 8mb")
            .unwrap_err()
            .contains("not three values"));
        assert!(OutputLimit::parse("lots 8mb 60")
            .unwrap_err()
            .contains("hard limit 'lots'"));
        assert!(OutputLimit::parse("32mb 8mb soon")
            .unwrap_err()
            .contains("seconds 'soon'"));
    }

    #[tokio::test(start_paused = true)]
    async fn soft_limit_needs_to_last() {
        let limit = OutputLimit {
            hard: 100,
            soft: 10,
            soft_for: Duration::from_secs(5),
        };
        let mut watch = OutputWatch::default();
        assert!(!watch.exceeded(&limit, 9));
        assert!(!watch.exceeded(&limit, 50), "above soft, not yet for long");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!watch.exceeded(&limit, 50));
        assert!(!watch.exceeded(&limit, 5), "dropping below soft resets it");
        assert!(!watch.exceeded(&limit, 50));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(watch.exceeded(&limit, 50), "above soft for 5 s");
        assert!(
            OutputWatch::default().exceeded(&limit, 100),
            "hard is at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timer_releases_then_times_out_after_quiet_periods() {
        let mut timer = IdleTimer::new(Some(Duration::from_secs(10)));
        let start = Instant::now();
        let since = |ms: u64| start.elapsed().saturating_sub(Duration::from_millis(ms));
        tokio::time::advance(Duration::from_millis(600)).await;
        timer.active();
        assert_eq!(timer.expired().await, Idle::Release);
        let quiet = since(600);
        assert!(
            quiet >= RELEASE_AFTER && quiet <= RELEASE_AFTER + SAMPLE,
            "released {quiet:?} after the activity"
        );
        assert_eq!(timer.expired().await, Idle::Timeout);
        let quiet = since(600);
        assert!(
            quiet >= Duration::from_secs(10) && quiet <= Duration::from_secs(10) + SAMPLE,
            "timed out {quiet:?} after the activity"
        );
        // Activity after a release brings the release back, earlier than the timeout.
        let at = start.elapsed().as_millis() as u64;
        timer.active();
        assert_eq!(timer.expired().await, Idle::Release);
        let quiet = since(at);
        assert!(
            quiet >= RELEASE_AFTER && quiet <= RELEASE_AFTER + SAMPLE,
            "released again {quiet:?} after the activity"
        );
        let mut never = IdleTimer::new(None);
        assert_eq!(never.expired().await, Idle::Release);
        let fired = tokio::time::timeout(Duration::from_secs(3600), never.expired()).await;
        assert!(fired.is_err(), "no timeout without one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_active_all_along_is_never_released() {
        let mut timer = IdleTimer::new(Some(Duration::from_secs(3)));
        for _ in 0..20 {
            timer.active();
            let fired = tokio::time::timeout(Duration::from_millis(400), timer.expired()).await;
            assert!(fired.is_err(), "released or timed out while active");
        }
        assert_eq!(timer.expired().await, Idle::Release);
    }
}
