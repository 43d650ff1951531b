//! Time: `sleep`, `sleep_until` and `timeout` on the loop's wheel (compat
//! builds `interval` on top, once for both engines).
//!
//! A [`Sleep`] registers one entry on the core's timing wheel at its first
//! pending poll (ticks of 32.8 µs, rounded up so it never fires early; the
//! loop's alarm wakes an idle loop at the tick), keeps the entry's key, and
//! is ready once the wheel has fired the entry. Only a sleep that is over
//! when first polled spends a unit of the cooperative budget (it completes
//! at once, and a loop of such sleeps must still yield); arming and firing
//! spend none, so a deadline polled beside busy work that spent the budget
//! still fires, as in mn. Dropping a pending `Sleep`
//! cancels its entry in O(1). A `Sleep` is `Unpin` and 40 bytes: a million
//! sleepers cost their tasks plus a wheel entry each.

pub use rt_base::wheel;

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::trace::{pending, WaitReason};
use crate::{context, coop};
use wheel::TimerKey;

/// A deadline far enough away to stand for "never" (about 30 years).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// Waits until `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(
        Instant::now()
            .checked_add(duration)
            .unwrap_or_else(far_future),
    )
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The runtime (short id) and wheel entry, once registered.
    entry: Option<(u32, TimerKey)>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Sleep {
    /// When it fires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep is pending again.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some((short, key)) = self.entry.take() {
            context::with_core(short, |core| core.timers.borrow_mut().remove(key));
        }
    }

    /// Polls the sleep (for use outside `async` code).
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((short, key)) = self.entry {
            let registered = context::with_core(short, |core| {
                let mut timers = core.timers.borrow_mut();
                match timers.get_mut(key) {
                    Some(w) => {
                        if !w.will_wake(cx.waker()) {
                            *w = cx.waker().clone();
                        }
                        true
                    }
                    None => false,
                }
            });
            return match registered {
                Some(true) => pending(WaitReason::Sleep),
                Some(false) => Poll::Ready(()),
                // Moved to another runtime's thread: start over there.
                None => {
                    self.entry = None;
                    self.poll_elapsed(cx)
                }
            };
        }
        let deadline = self.deadline;
        // Arming spends no budget: the sleep then waits, so it cannot keep
        // its task from yielding, and a task whose other futures spent the
        // budget (busy work beside a deadline) still arms it.
        let entry = context::with_current(|core| {
            let tick = core.tick_for(deadline);
            core.timers
                .borrow_mut()
                .insert(tick, cx.waker().clone())
                .ok()
                .map(|key| (core.short, key))
        })
        .unwrap_or_else(|| panic!("switchyard: a sleep was polled outside a runtime"));
        match entry {
            Some(entry) => {
                self.entry = Some(entry);
                pending(WaitReason::Sleep)
            }
            // Over before it began: one unit of budget, so that
            // `loop { sleep(Duration::ZERO).await }` still yields.
            None => coop::poll_proceed(cx),
        }
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
        self.cancel();
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::ErrorKind::TimedOut.into()
    }
}

/// Runs `future` for at most `duration`; `Err(Elapsed)` if time ran out
/// first (the future is then dropped). The deadline is checked at every poll
/// without spending the cooperative budget, which the future may have spent.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout_at(
        Instant::now()
            .checked_add(duration)
            .unwrap_or_else(far_future),
        future,
    )
    .await
}

/// Runs `future` until `deadline` at most.
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut sleep = sleep_until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if sleep.is_elapsed() {
            return Poll::Ready(Err(Elapsed(())));
        }
        sleep.poll_elapsed(cx).map(|()| Err(Elapsed(())))
    })
    .await
}
