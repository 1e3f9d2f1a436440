//! Polling a long-lived future (a signal wait, an idle timer) only when its own waker fired.
//!
//! A driver's loop `select!`s over its socket and a few such futures, and polls every branch on
//! every turn. Polling a registered timer or channel wait again costs a waker registration
//! (a lock or an atomic exchange) each time: hundreds of instructions per request at `-P 1`
//! (callgrind). Through a [`Gate`], the inner future is polled with a waker that raises a flag
//! before waking the task, and every other turn costs one atomic swap.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that records that it was woken, then wakes the task that polls through the gate.
#[derive(Default)]
struct WakeFlag {
    woken: AtomicBool,
    task: parking_lot::Mutex<Option<Waker>>,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().as_ref() {
            task.wake_by_ref();
        }
    }
}

/// Invariant: the inner future is polled on the first poll, after [`Gate::rearm`], after it
/// completed, and whenever its waker fired since its last poll; otherwise it is known to be
/// pending and is not polled. `task` is the waker stored in `flag` (only the poller writes it),
/// so a poll from the same task, the common case, takes no lock.
pub struct Gate {
    flag: Arc<WakeFlag>,
    /// `flag` as a waker, made once: the inner future is polled with it.
    waker: Waker,
    task: Option<Waker>,
    polled: bool,
}

impl Default for Gate {
    fn default() -> Gate {
        let flag = Arc::new(WakeFlag::default());
        Gate {
            waker: Waker::from(flag.clone()),
            flag,
            task: None,
            polled: false,
        }
    }
}

impl Gate {
    /// Polls `inner` if it may have made progress; `Pending` otherwise.
    pub fn poll<F: Future + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        inner: Pin<&mut F>,
    ) -> Poll<F::Output> {
        self.poll_with(cx, |cx| inner.poll(cx))
    }

    /// [`Gate::poll`] for a poll function (a channel's `poll_recv`, a socket's `poll_read`):
    /// `poll` runs only if what it waits for may have made progress.
    pub fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if !self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            // The task to wake is current before the flag is read: a wake after this point
            // finds it, one before set the flag.
            let task = cx.waker().clone();
            *self.flag.task.lock() = Some(task.clone());
            self.task = Some(task);
        }
        // A plain load first: the common answer (not woken) costs no atomic write. A wake
        // after the load wakes the task again, and the next poll sees it.
        if self.polled && !self.flag.woken.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        self.flag.woken.store(false, Ordering::Release);
        self.polled = true;
        let out = poll(&mut Context::from_waker(&self.waker));
        if out.is_ready() {
            self.polled = false;
        }
        out
    }

    /// The inner future was replaced or reset: poll it on the next turn.
    pub fn rearm(&mut self) {
        self.polled = false;
    }
}

/// `inner`, polled through `gate` (see [`Gate::poll`]). For a future built anew on every turn
/// of a loop over something that keeps its own registration (a socket's readiness): the gate
/// remembers whether that registration fired. Every poll of that source must go through the
/// same gate: one with another waker replaces the gate's registration, and the gate would
/// wait for a wake that never comes.
pub async fn through<F: Future>(gate: &mut Gate, inner: F) -> F::Output {
    let mut inner = std::pin::pin!(inner);
    std::future::poll_fn(|cx| gate.poll(cx, inner.as_mut())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_gated_timer_fires_and_is_not_polled_in_between() {
        let mut gate = Gate::default();
        let mut sleep = Box::pin(tokio::time::sleep(Duration::from_secs(5)));
        let mut polls = 0;
        let fired = std::future::poll_fn(|cx| {
            polls += 1;
            gate.poll(cx, sleep.as_mut())
        });
        tokio::time::timeout(Duration::from_secs(6), fired)
            .await
            .expect("the gated sleep completes when its time comes");
        assert!(polls <= 3, "polled {polls} times");
    }

    #[tokio::test]
    async fn a_wake_before_the_gate_reads_its_flag_is_not_lost() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let mut gate = Gate::default();
        let mut recv = Box::pin(async move { rx.recv().await });
        // First poll registers the flag waker; nothing sent yet.
        let pending = std::future::poll_fn(|cx| Poll::Ready(gate.poll(cx, recv.as_mut()))).await;
        assert!(pending.is_pending());
        tx.send(7).unwrap();
        let got = std::future::poll_fn(|cx| gate.poll(cx, recv.as_mut())).await;
        assert_eq!(got, Some(7));
    }

    #[tokio::test]
    async fn rearming_polls_a_replaced_future() {
        let mut gate = Gate::default();
        let mut first = Box::pin(std::future::pending::<u8>());
        let pending = std::future::poll_fn(|cx| Poll::Ready(gate.poll(cx, first.as_mut()))).await;
        assert!(pending.is_pending());
        let mut second = Box::pin(std::future::ready(3u8));
        let still = std::future::poll_fn(|cx| Poll::Ready(gate.poll(cx, second.as_mut()))).await;
        assert!(still.is_pending(), "not polled: nothing woke the gate");
        gate.rearm();
        let got = std::future::poll_fn(|cx| gate.poll(cx, second.as_mut())).await;
        assert_eq!(got, 3);
    }
}
