//! Async sleeping on the mn runtime's timers: rt-base's
//! [`Sleep`](rt_base::time::Sleep) (written once for both engines) over
//! mn's entry, [`Timer`].
//!
//! A [`Sleep`] is plain data until first polled: it may be created outside
//! any runtime and binds to the runtime of the thread that polls it
//! (`Handle::current()`); polling it outside any mn runtime panics with a
//! clear message. It arms one timer (per-P wheel, O(1) insert and cancel)
//! and re-arms only when polled with a different waker or reset. Dropping
//! it cancels the timer.

use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, Instant};

use rt_base::time::{EntryPoll, TimerEntry};

use crate::sched::Shared;
use crate::timer::TimerKey;

/// The future of [`sleep`] / [`sleep_until`]. `Unpin`, `Send`; dropping it
/// cancels its timer.
pub type Sleep = rt_base::time::Sleep<Timer>;

/// A future that completes `duration` from now (never before).
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::after(duration)
}

/// A future that completes at `deadline` (never before).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::until(deadline)
}

/// The timer a polled [`Sleep`] holds (mn's [`TimerEntry`]): its runtime
/// and its key in one of the per-P wheels. The waker lives only in the
/// timer (one clone per sleep); a re-poll swaps it in place under the
/// wheel's lock. Dropping it cancels the timer.
pub struct Timer {
    shared: Arc<Shared>,
    /// `None` when the deadline had passed at arming (the waker was woken
    /// at once).
    key: Option<TimerKey>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("armed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl Timer {
    /// Arms on `shared`'s timers. Never refuses: a deadline already past
    /// wakes the waker at once (or the timer fires at the next look at the
    /// timers), and the next poll sees the clock. So the first poll reads
    /// no clock.
    fn arm_on(shared: Arc<Shared>, deadline: Instant, cx: &mut Context<'_>) -> Self {
        let key = shared.add_timer(deadline, cx.waker().clone());
        Timer { shared, key }
    }
}

impl TimerEntry for Timer {
    /// # Panics
    ///
    /// Outside an mn runtime.
    fn arm(deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
        let shared = crate::Handle::current()
            .expect(
                "mn_sched::aio::time::Sleep polled outside an mn runtime: \
                 poll it on a G or inside the runtime's block_on_future",
            )
            .shared()
            .clone();
        Some(Self::arm_on(shared, deadline, cx))
    }

    #[inline]
    fn poll_entry(&mut self, deadline: Instant, cx: &mut Context<'_>) -> EntryPoll {
        if Instant::now() >= deadline {
            return EntryPoll::Fired;
        }
        match self.key {
            Some(k) if self.shared.timers.set_waker(k, cx.waker()) => EntryPoll::Waiting,
            // Fired (the deadline passed since the check above) or never
            // armed: look at the clock again, then re-arm.
            _ if Instant::now() >= deadline => EntryPoll::Fired,
            _ => EntryPoll::Stale,
        }
    }

    /// On the same runtime, wherever the sleep is polled now.
    fn rearm(self, deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
        let shared = self.shared.clone();
        drop(self);
        Some(Self::arm_on(shared, deadline, cx))
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            self.shared.timers.cancel(k);
        }
    }
}
