//! Async sleeping on the mn runtime's timers.
//!
//! A [`Sleep`] is plain data until first polled: it may be created outside
//! any runtime and binds to the runtime of the thread that polls it
//! (`Handle::current()`); polling it outside any mn runtime panics with a
//! clear message. It arms one timer (per-P wheel, O(1) insert and cancel)
//! and re-arms only when polled with a different waker or reset. Dropping
//! it cancels the timer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::sched::Shared;
use crate::timer::TimerKey;

/// A future that completes at `deadline` (never before).
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(
        Instant::now()
            .checked_add(duration)
            .unwrap_or_else(far_future),
    )
}

/// A future that completes at `deadline` (never before).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        armed: None,
    }
}

/// About thirty years from now: "never" for an overflowing duration.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// The timer a polled [`Sleep`] holds. The waker lives only in the timer
/// (one clone per sleep); a re-poll swaps it in place under the wheel's lock.
struct Armed {
    shared: Arc<Shared>,
    key: Option<TimerKey>,
}

/// The future of [`sleep`] / [`sleep_until`]. `Unpin`, `Send`; dropping it
/// cancels its timer.
pub struct Sleep {
    deadline: Instant,
    armed: Option<Armed>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.armed.is_some())
            .finish()
    }
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the next poll re-arms.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
    }

    fn disarm(&mut self) {
        if let Some(a) = self.armed.take() {
            if let Some(k) = a.key {
                a.shared.timers.cancel(k);
            }
        }
    }

    /// Ready once the deadline has passed; otherwise arms (or keeps) a timer
    /// that wakes `cx`'s waker.
    ///
    /// # Panics
    ///
    /// When first polled outside an mn runtime.
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // The first poll reads no clock: arming a timer whose deadline has
        // passed wakes the waker at once (or the timer fires at the next
        // look at the timers), and the next poll sees the clock.
        if self.armed.is_some() && Instant::now() >= self.deadline {
            self.disarm();
            return Poll::Ready(());
        }
        if let Some(a) = &self.armed {
            match a.key {
                Some(k) if a.shared.timers.set_waker(k, cx.waker()) => {
                    // Why the task waits, for the task dump.
                    return rt_base::trace::pending(rt_base::trace::WaitReason::Sleep);
                }
                // Fired (the deadline passed since the check above) or never
                // armed: look at the clock again, then re-arm.
                _ if Instant::now() >= self.deadline => {
                    self.disarm();
                    return Poll::Ready(());
                }
                _ => {}
            }
        }
        let shared = match self.armed.take() {
            Some(a) => a.shared,
            None => crate::Handle::current()
                .expect(
                    "mn_sched::aio::time::Sleep polled outside an mn runtime: \
                     poll it on a G or inside the runtime's block_on_future",
                )
                .shared()
                .clone(),
        };
        let key = shared.add_timer(self.deadline, cx.waker().clone());
        self.armed = Some(Armed { shared, key });
        rt_base::trace::pending(rt_base::trace::WaitReason::Sleep)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}
