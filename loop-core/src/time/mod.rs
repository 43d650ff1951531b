//! Time: `sleep`, `sleep_until` and `timeout` on the loop's wheel:
//! rt-base's [`Sleep`](rt_base::time::Sleep) and timeout (written once for
//! both engines) over the loop's entry, [`Timer`] (compat builds
//! `interval` on top, once for both engines).
//!
//! A [`Sleep`] registers one entry on the core's timing wheel at its first
//! pending poll (ticks of 32.8 µs, rounded up so it never fires early; the
//! loop's alarm wakes an idle loop at the tick), keeps the entry's key, and
//! is ready once the wheel has fired the entry. Only a sleep that is over
//! when first polled spends a unit of the cooperative budget (it completes
//! at once, and a loop of such sleeps must still yield); arming and firing
//! spend none, so a deadline polled beside busy work that spent the budget
//! still fires, as in mn. Dropping a pending `Sleep` cancels its entry in
//! O(1). A `Sleep` is `Unpin` and 32 bytes: a million sleepers cost their
//! tasks plus a wheel entry each.

pub use rt_base::time::Elapsed;
pub use rt_base::wheel;

use std::future::Future;
use std::task::Context;
use std::time::{Duration, Instant};

use rt_base::time::{EntryPoll, TimerEntry};
use wheel::TimerKey;

use crate::context;

/// The future of [`sleep`] and [`sleep_until`].
pub type Sleep = rt_base::time::Sleep<Timer>;

/// Waits until `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::after(duration)
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::until(deadline)
}

/// Runs `future` for at most `duration`; `Err(Elapsed)` if time ran out
/// first (the future is then dropped). The deadline is checked at every poll
/// without spending the cooperative budget, which the future may have spent.
pub fn timeout<F: Future>(
    duration: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, Elapsed>> {
    rt_base::time::timeout::<Timer, F>(duration, future)
}

/// Runs `future` until `deadline` at most.
pub fn timeout_at<F: Future>(
    deadline: Instant,
    future: F,
) -> impl Future<Output = Result<F::Output, Elapsed>> {
    rt_base::time::timeout_at::<Timer, F>(deadline, future)
}

/// A sleep's entry on the loop's timing wheel (the loop's
/// [`TimerEntry`]): the runtime's short id and the entry's key. Dropping
/// it cancels the entry, in O(1), on the loop's thread (elsewhere the loop
/// is not reachable, and the entry fires there unobserved).
#[derive(Debug)]
pub struct Timer {
    short: u32,
    key: TimerKey,
}

impl TimerEntry for Timer {
    /// Arming spends no budget: the sleep then waits, so it cannot keep
    /// its task from yielding, and a task whose other futures spent the
    /// budget (busy work beside a deadline) still arms it.
    fn arm(deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
        context::with_current(|core| {
            let tick = core.tick_for(deadline);
            core.timers
                .borrow_mut()
                .insert(tick, cx.waker().clone())
                .ok()
                .map(|key| Timer {
                    short: core.short,
                    key,
                })
        })
        .unwrap_or_else(|| panic!("switchyard: a sleep was polled outside a runtime"))
    }

    #[inline]
    fn poll_entry(&mut self, _deadline: Instant, cx: &mut Context<'_>) -> EntryPoll {
        let registered = context::with_core(self.short, |core| {
            let mut timers = core.timers.borrow_mut();
            match timers.get_mut(self.key) {
                Some(w) => {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                    true
                }
                None => false,
            }
        });
        match registered {
            Some(true) => EntryPoll::Waiting,
            Some(false) => EntryPoll::Fired,
            // Moved to another runtime's thread: start over there.
            None => EntryPoll::Stale,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        context::with_core(self.short, |core| core.timers.borrow_mut().remove(self.key));
    }
}
