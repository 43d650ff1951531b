//! Time: [`sleep`], [`sleep_until`], [`interval`], [`timeout`], the same in
//! every mode.
//!
//! A timer never fires early, and an idle runtime wakes within about a
//! tenth of a millisecond of a deadline. A [`Sleep`] may be created
//! anywhere, even outside a runtime: it only records its deadline until it
//! is first awaited inside one. [`Instant`] is `std::time::Instant`.
//!
//! The sleep and the timeout are rt-base's, written once for both engines
//! ([`rt_base::time`]) over a timer entry; here the entry is compat's enum
//! of the two engines' entries (registration.rs), chosen when the sleep is
//! first polled. [`Sleep`] wraps rt-base's so that it
//! is this crate's own type (hyper's `rt::Sleep` is implemented for it);
//! [`Interval`] is built on it, once.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use rt_base::time::Elapsed;
pub use std::time::Instant;

use crate::registration::Timer;

/// Waits until `duration` has passed.
///
/// Only the task waits: in single mode the loop runs other tasks, in mn the
/// thread does (`std::thread::sleep` would stop them; see
/// [`syscall`](crate::syscall)).
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::{Duration, Instant};
///
/// switchyard::run(async {
///     let start = Instant::now();
///     switchyard::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10), "never early");
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep(rt_base::time::Sleep::after(duration))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep(rt_base::time::Sleep::until(deadline))
}

/// The future of [`sleep`] and [`sleep_until`]. Never fires early.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep(rt_base::time::Sleep<Timer>);

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .finish()
    }
}

impl Sleep {
    /// When it fires.
    pub fn deadline(&self) -> Instant {
        self.0.deadline()
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.0.is_elapsed()
    }

    /// Moves the deadline; the sleep is pending again.
    pub fn reset(&mut self, deadline: Instant) {
        self.0.reset(deadline);
    }

    /// Polls the sleep (for hand-written futures).
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_elapsed(cx)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

/// What an [`Interval`] does with ticks it missed (the runtime was busy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the default).
    #[default]
    Burst,
    /// Restart the period from the late tick.
    Delay,
    /// Drop the missed ticks; stay on the original schedule.
    Skip,
}

/// Ticks every period; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

/// Ticks every `period`, the first tick at once.
///
/// Ticks keep to the schedule: a tick that is late does not push the next
/// ones back, and ticks missed while the task was busy come back to back
/// ([`MissedTickBehavior`] chooses otherwise). An [`Interval`] is also a
/// `Stream` of ticks.
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::{Duration, Instant};
///
/// switchyard::run(async {
///     let start = Instant::now();
///     let mut ticks = switchyard::time::interval(Duration::from_millis(5));
///     for _ in 0..3 {
///         ticks.tick().await; // at 0, 5 and 10 ms
///     }
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "switchyard: interval period must be non-zero"
    );
    Interval {
        sleep: sleep_until(start),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

impl Interval {
    /// Waits for the next tick; returns when it was due.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        let due = self.sleep.deadline();
        let now = Instant::now();
        let next = match self.missed {
            MissedTickBehavior::Burst => due + self.period,
            MissedTickBehavior::Delay => now + self.period,
            MissedTickBehavior::Skip => {
                let behind = now.saturating_duration_since(due).as_nanos();
                let periods = (behind / self.period.as_nanos() + 1) as u32;
                due + self.period * periods
            }
        };
        self.sleep.reset(next);
        Poll::Ready(due)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(Instant::now() + self.period);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Chooses what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

/// The ticks as a stream: each item is the instant the tick was due (as
/// [`Interval::tick`]). It never ends, so it is also a
/// [`FusedStream`](futures_core::stream::FusedStream) that is never
/// terminated: `select!`'s `select_next_some()` takes it as it is.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use std::pin::Pin;
/// use std::time::Duration;
/// use futures_core::Stream;
///
/// let mut ticks = switchyard::time::interval(Duration::from_millis(1));
/// for _ in 0..3 {
///     let due = std::future::poll_fn(|cx| Pin::new(&mut ticks).poll_next(cx)).await;
///     assert!(due.unwrap() <= switchyard::time::Instant::now());
/// }
/// # });
/// ```
impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// Never terminated: an interval ticks for ever.
impl futures_core::stream::FusedStream for Interval {
    fn is_terminated(&self) -> bool {
        false
    }
}

/// Runs `future` for at most `duration`: `Err(Elapsed)` if time ran out first
/// (the future is then dropped). The future is polled before the clock.
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::Duration;
/// use switchyard::time::{sleep, timeout};
///
/// switchyard::run(async {
///     let quick = timeout(Duration::from_millis(50), async { 7 }).await;
///     assert_eq!(quick, Ok(7));
///
///     let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await;
///     assert!(slow.is_err(), "gave up after 5 ms");
///
///     // Elapsed converts into io::Error (TimedOut), for `?`.
///     let as_io: std::io::Result<()> = slow.map_err(Into::into);
///     assert_eq!(as_io.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
///
/// The deadline is checked at every poll without spending the task's
/// cooperative budget: a future that is always ready (a busy channel or
/// socket) spends the whole budget and yields, and the timeout still fires
/// at the first poll after its deadline.
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
