//! When a pool connection's commands go out: at once, or together once the replies it awaits
//! are in (Nagle's rule, for a near upstream only).
//!
//! Every upstream write costs a system call and a wake-up on both sides, whatever it carries. At
//! `-P 1` on loopback, a connection written at once carries one or two commands per write, and
//! the upstream wakes for each. Under Nagle's rule, commands that arrive while an earlier
//! write's replies are awaited wait for them, then go out together. The wait is at most one round
//! trip, so the rule holds commands only while the connection's smoothed round trip is under a
//! bound (`upstream.coalesce_below_rtt_us`): for a near upstream (loopback, the same host or
//! network) fuller writes save more than the wait costs; for a far one (a hosted Redis in another
//! zone) a whole extra round trip would be added, so its commands go at once.
//!
//! Invariants: commands are held only while the replies of at least [`MIN_AWAITED`] jobs are
//! awaited and they are under [`FULL_WRITE`], so they go out at the latest once fewer are awaited;
//! a write once started is finished whatever the rule says (commands queued meanwhile join it);
//! nothing is reordered.

use std::time::{Duration, Instant};

/// Commands wait only while at least this many jobs are awaited. By Little's law the jobs
/// awaited are about as many as will arrive during the wait, so the held write will carry about
/// this many: with fewer (a few clients, an idle machine) the wait costs more latency than the
/// writes it saves (at 4 clients on loopback, holding cost 7-15% of throughput).
pub const MIN_AWAITED: usize = 8;

/// Commands this large go out at once, awaited write or not (Nagle's "full segment"): Redis
/// reads a client 16 KiB at a time, so a fuller write saves it no read.
pub const FULL_WRITE: usize = 16 * 1024;

/// The write rule and round-trip estimate of one pool connection.
#[derive(Debug)]
pub struct Coalesce {
    /// Hold commands only while the smoothed round trip is under this (zero: never).
    bound: Duration,
    /// Jobs at the back of the connection's queue whose commands are still in the write buffer.
    unwritten: usize,
    /// Their bytes.
    unwritten_bytes: usize,
    /// Part of the write buffer has gone out; the rest follows whatever the rule says.
    started: bool,
    /// The write being sent was started with no earlier write awaited, so it can time a round trip.
    clean: bool,
    /// A write that went out with no earlier write awaited: when, and how many jobs it carried.
    /// Its replies completing gives one round-trip sample.
    probe: Option<(Instant, usize)>,
    /// Smoothed round trip (unknown until the first probe is answered).
    srtt: Option<Duration>,
}

impl Coalesce {
    pub fn new(bound: Duration) -> Coalesce {
        Coalesce {
            bound,
            unwritten: 0,
            unwritten_bytes: 0,
            started: false,
            clean: false,
            probe: None,
            srtt: None,
        }
    }

    /// A job's commands, `bytes` long, were appended to the write buffer.
    pub fn queued(&mut self, bytes: usize) {
        self.unwritten += 1;
        self.unwritten_bytes += bytes;
    }

    /// Whether the write buffer may go out now. `queue` is how many jobs the connection has
    /// (awaiting replies, or still in the write buffer).
    pub fn may_write(&self, queue: usize) -> bool {
        self.started
            || queue - self.unwritten < MIN_AWAITED
            || self.unwritten_bytes >= FULL_WRITE
            || !self.near()
    }

    /// Whether the upstream is near enough for commands to wait for an earlier write.
    fn near(&self) -> bool {
        self.srtt.is_some_and(|rtt| rtt < self.bound)
    }

    /// Some of the write buffer went out; `drained`: all of it. `queue` as in
    /// [`Coalesce::may_write`].
    pub fn wrote(&mut self, drained: bool, queue: usize) {
        if !self.started {
            self.started = true;
            self.clean = queue == self.unwritten;
        }
        if drained {
            if self.clean && self.probe.is_none() {
                self.probe = Some((Instant::now(), queue));
            }
            self.started = false;
            self.unwritten = 0;
            self.unwritten_bytes = 0;
        }
    }

    /// `jobs` jobs at the front of the queue were fully answered, at `now`.
    pub fn answered(&mut self, jobs: usize, now: Instant) {
        let Some((sent, awaited)) = self.probe.as_mut() else {
            return;
        };
        if jobs < *awaited {
            *awaited -= jobs;
            return;
        }
        let sample = now.saturating_duration_since(*sent);
        self.probe = None;
        // As TCP smooths its round trip (RFC 6298): an eighth of each new sample.
        self.srtt = Some(match self.srtt {
            None => sample,
            Some(srtt) => srtt - srtt / 8 + sample / 8,
        });
    }

    /// The smoothed round trip, once measured.
    #[cfg(test)]
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_micros(500);

    /// A connection whose round trip was measured as `rtt`, with nothing queued.
    fn measured(bound: Duration, rtt: Duration) -> Coalesce {
        let mut c = Coalesce::new(bound);
        c.queued(30);
        c.wrote(true, 1);
        let (sent, _) = c.probe.expect("a clean write is a probe");
        c.answered(1, sent + rtt);
        c
    }

    #[test]
    fn writes_at_once_until_a_round_trip_is_known() {
        let mut c = Coalesce::new(BOUND);
        c.queued(30);
        assert!(c.may_write(1));
        c.wrote(true, 1);
        c.queued(30);
        assert!(c.may_write(2), "no round trip measured yet: no holding");
        assert_eq!(c.srtt(), None);
    }

    /// Queues `jobs` jobs and writes them in one write; returns the connection's queue length.
    fn send(c: &mut Coalesce, queue: usize, jobs: usize) -> usize {
        for _ in 0..jobs {
            c.queued(30);
        }
        c.wrote(true, queue + jobs);
        queue + jobs
    }

    #[test]
    fn holds_while_a_near_upstreams_write_is_awaited() {
        let mut c = measured(BOUND, Duration::from_micros(100));
        let queue = send(&mut c, 0, MIN_AWAITED);
        c.queued(30);
        c.queued(30);
        assert!(
            !c.may_write(queue + 2),
            "eight jobs awaited: the next two wait for them"
        );
        c.answered(MIN_AWAITED, Instant::now());
        assert!(c.may_write(2), "their replies are in: both go out together");
    }

    #[test]
    fn writes_at_once_while_too_few_jobs_are_awaited() {
        let mut c = measured(BOUND, Duration::from_micros(100));
        let queue = send(&mut c, 0, MIN_AWAITED - 1);
        c.queued(30);
        assert!(
            c.may_write(queue + 1),
            "seven awaited: the wait would gather too few to pay for itself"
        );
    }

    #[test]
    fn a_full_write_goes_at_once() {
        let mut c = measured(BOUND, Duration::from_micros(100));
        let queue = send(&mut c, 0, MIN_AWAITED);
        c.queued(FULL_WRITE - 1);
        assert!(!c.may_write(queue + 1));
        c.queued(1);
        assert!(
            c.may_write(queue + 2),
            "16 KiB waiting: no reason to wait longer"
        );
    }

    #[test]
    fn never_holds_for_a_far_upstream_or_a_zero_bound() {
        for c in [
            measured(BOUND, Duration::from_millis(2)),
            measured(Duration::ZERO, Duration::from_micros(10)),
        ] {
            let mut c = c;
            let queue = send(&mut c, 0, MIN_AWAITED);
            c.queued(30);
            assert!(c.may_write(queue + 1));
        }
    }

    #[test]
    fn a_started_write_is_finished_whatever_is_awaited() {
        let mut c = measured(BOUND, Duration::from_micros(100));
        let queue = send(&mut c, 0, MIN_AWAITED);
        c.queued(FULL_WRITE);
        assert!(c.may_write(queue + 1));
        c.wrote(false, queue + 1);
        c.queued(30);
        assert!(
            c.may_write(queue + 2),
            "a partial write continues, the new job joining it"
        );
        c.wrote(true, queue + 2);
        c.queued(30);
        assert!(
            !c.may_write(queue + 3),
            "once it is out, the next job waits for it"
        );
    }

    #[test]
    fn only_writes_with_nothing_awaited_time_a_round_trip() {
        let mut c = Coalesce::new(Duration::ZERO);
        c.queued(30);
        c.wrote(true, 1);
        let (first, _) = c.probe.expect("probe");
        c.queued(30);
        c.wrote(true, 2);
        assert_eq!(c.probe, Some((first, 1)));
        c.answered(1, first + Duration::from_micros(80));
        assert_eq!(c.srtt(), Some(Duration::from_micros(80)));
        assert!(
            c.probe.is_none(),
            "the second write went out behind the first: no sample"
        );
    }

    #[test]
    fn the_estimate_moves_an_eighth_of_the_way_to_each_sample() {
        let mut c = measured(BOUND, Duration::from_micros(800));
        assert!(!c.near());
        for _ in 0..20 {
            c.queued(30);
            c.wrote(true, 1);
            let (sent, _) = c.probe.expect("probe");
            c.answered(1, sent + Duration::from_micros(100));
        }
        let srtt = c.srtt().expect("measured");
        assert!(
            srtt < BOUND && srtt > Duration::from_micros(100),
            "{srtt:?}"
        );
        assert!(c.near());
    }
}
