//! Sleeping and timeouts, written once for both engines: [`Sleep`],
//! [`timeout_at`] and [`Elapsed`], generic over the engine's
//! [`TimerEntry`].
//!
//! A [`Sleep`] is plain data until first polled: it records its deadline,
//! may be created anywhere (even outside a runtime), and arms one entry on
//! the timers of the runtime that polls it. The entry is the contract each
//! engine meets once:
//!
//! * arm — register a deadline and a waker on the calling thread's runtime
//!   (loop-core: its timing wheel, ticks of 32.8 µs rounded up; mn-sched:
//!   the per-P wheel of the polling thread). An entry whose deadline is
//!   already behind the engine's clock may be refused, and the sleep is
//!   then over at once: it spends one unit of the cooperative budget, so
//!   `loop { sleep(Duration::ZERO).await }` still yields. Arming and a
//!   wait spend none, so a deadline polled beside busy work that spent the
//!   budget still fires.
//! * poll — waiting (the waker is swapped in place when it changed),
//!   fired, or stale (the engine must arm anew: loop-core's entry was
//!   polled on another runtime's thread; mn's timer fired, or was never
//!   armed, before the clock reached the deadline).
//! * cancel — dropping the entry removes it from its wheel in O(1); its
//!   key carries a generation, so cancelling one that already fired is
//!   harmless.
//!
//! [`Sleep::reset`] cancels the entry and the next poll arms a new one at
//! the new deadline: both engines' wheels insert and cancel in O(1), so
//! moving an entry in place would save nothing.
//!
//! Each engine instantiates [`Sleep`] over its own entry (monomorphic, its
//! crate naming only rt-base); compat instantiates it over an enum of the
//! two entries that picks the engine when the sleep is first polled.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::trace::{pending, WaitReason};

/// What an armed [`TimerEntry`] says when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoll {
    /// Not due yet; the entry wakes the waker it was last polled with.
    Waiting,
    /// The deadline has passed: the sleep is over (its entry is dropped).
    Fired,
    /// The entry no longer stands for the deadline: arm it anew
    /// ([`TimerEntry::rearm`]).
    Stale,
}

/// A deadline's entry on an engine's timers: armed, polled, cancelled by
/// drop (module doc).
pub trait TimerEntry: Sized {
    /// Arms an entry for `deadline`, waking `cx`'s waker, on the runtime
    /// running on the calling thread; `None` when the deadline is already
    /// behind that runtime's clock (the sleep is over).
    ///
    /// # Panics
    ///
    /// Outside a runtime of the engine, with a message that says so.
    fn arm(deadline: Instant, cx: &mut Context<'_>) -> Option<Self>;

    /// Polls the armed entry of `deadline`.
    fn poll_entry(&mut self, deadline: Instant, cx: &mut Context<'_>) -> EntryPoll;

    /// Arms anew after [`EntryPoll::Stale`]. By default on the runtime of
    /// the calling thread (the stale entry is dropped first); an engine
    /// whose entry stays with its runtime wherever it is polled overrides
    /// this.
    fn rearm(self, deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
        drop(self);
        Self::arm(deadline, cx)
    }
}

/// About thirty years from now: "never", without overflowing `Instant`.
pub fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// `duration` from now, or [`far_future`] if that overflows.
#[inline]
pub fn deadline_after(duration: Duration) -> Instant {
    Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future)
}

/// The future of a sleep until a deadline; never completes early.
/// `Unpin`; dropping it cancels its entry.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep<E: TimerEntry> {
    deadline: Instant,
    entry: Option<E>,
}

impl<E: TimerEntry> Sleep<E> {
    /// A sleep until `deadline` (nothing is armed before the first poll).
    #[inline]
    pub fn until(deadline: Instant) -> Self {
        Sleep {
            deadline,
            entry: None,
        }
    }

    /// A sleep of `duration` from now.
    #[inline]
    pub fn after(duration: Duration) -> Self {
        Self::until(deadline_after(duration))
    }

    /// When it fires.
    #[inline]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    #[inline]
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep is pending again
    /// and its next poll arms a new entry.
    #[inline]
    pub fn reset(&mut self, deadline: Instant) {
        self.entry = None;
        self.deadline = deadline;
    }

    /// Ready once the deadline has passed; otherwise arms (or keeps) an
    /// entry that wakes `cx`'s waker.
    ///
    /// # Panics
    ///
    /// When it must arm an entry outside a runtime of the engine.
    #[inline]
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let armed = match self.entry.take() {
            None => E::arm(self.deadline, cx),
            Some(mut entry) => match entry.poll_entry(self.deadline, cx) {
                EntryPoll::Waiting => {
                    self.entry = Some(entry);
                    return pending(WaitReason::Sleep);
                }
                EntryPoll::Fired => return Poll::Ready(()),
                EntryPoll::Stale => entry.rearm(self.deadline, cx),
            },
        };
        match armed {
            Some(entry) => {
                self.entry = Some(entry);
                pending(WaitReason::Sleep)
            }
            // Over before it began: one unit of budget, so that
            // `loop { sleep(Duration::ZERO).await }` still yields.
            None => crate::coop::poll_proceed(cx),
        }
    }
}

impl<E: TimerEntry> Future for Sleep<E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

/// Nothing in a sleep is pinned: it is polled through `&mut`, and its
/// entry is a handle into the engine's timers, never a self-reference.
impl<E: TimerEntry> Unpin for Sleep<E> {}

impl<E: TimerEntry> fmt::Debug for Sleep<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("armed", &self.entry.is_some())
            .finish()
    }
}

/// The error of a timeout: the deadline passed first.
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

/// Runs `future` for at most `duration` (counted from its first poll), on
/// the timers of `E`: [`timeout_at`] with the deadline taken then.
pub async fn timeout<E: TimerEntry, F: Future>(
    duration: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    timeout_at::<E, F>(deadline_after(duration), future).await
}

/// Runs `future` until `deadline` at most, on the timers of `E`:
/// `Err(Elapsed)` if time ran out first (the future is then dropped).
///
/// The future is polled first, then the clock, then the sleep: the
/// deadline is checked at every poll without spending the cooperative
/// budget, so a future that is always ready (a busy channel or socket)
/// spends the whole budget and yields, and the timeout still fires at the
/// first poll after its deadline.
pub async fn timeout_at<E: TimerEntry, F: Future>(
    deadline: Instant,
    future: F,
) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut sleep = Sleep::<E>::until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        // The clock first: the future may have spent the budget, and an
        // engine's sleep may need budget to arm or to fire at once.
        if sleep.is_elapsed() {
            return Poll::Ready(Err(Elapsed(())));
        }
        sleep.poll_elapsed(cx).map(|()| Err(Elapsed(())))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::task::Waker;

    thread_local! {
        /// What the test entries did, in order.
        static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        /// What the next `poll_entry` says.
        static NEXT: RefCell<EntryPoll> = const { RefCell::new(EntryPoll::Waiting) };
    }

    fn log(what: String) {
        LOG.with(|l| l.borrow_mut().push(what));
    }

    fn take_log() -> Vec<String> {
        LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    /// An entry of a make-believe engine whose clock is the real one: it
    /// refuses deadlines already passed, and says what `NEXT` says.
    struct Entry(u32);

    impl TimerEntry for Entry {
        fn arm(deadline: Instant, _: &mut Context<'_>) -> Option<Self> {
            if deadline <= Instant::now() {
                log("refused".into());
                return None;
            }
            log("armed".into());
            Some(Entry(0))
        }

        fn poll_entry(&mut self, _: Instant, _: &mut Context<'_>) -> EntryPoll {
            self.0 += 1;
            log(format!("polled {}", self.0));
            NEXT.with(|n| *n.borrow())
        }

        fn rearm(self, deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
            log("rearm".into());
            drop(self);
            Self::arm(deadline, cx)
        }
    }

    impl Drop for Entry {
        fn drop(&mut self) {
            log("cancelled".into());
        }
    }

    fn next(p: EntryPoll) {
        NEXT.with(|n| *n.borrow_mut() = p);
    }

    #[test]
    fn a_sleep_arms_at_its_first_poll_keeps_its_entry_and_cancels_it_on_drop() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut s = Sleep::<Entry>::after(Duration::from_secs(60));
        assert!(take_log().is_empty(), "nothing armed before a poll");
        assert!(s.poll_elapsed(&mut cx).is_pending());
        next(EntryPoll::Waiting);
        assert!(s.poll_elapsed(&mut cx).is_pending());
        assert!(s.poll_elapsed(&mut cx).is_pending());
        assert_eq!(take_log(), ["armed", "polled 1", "polled 2"]);
        drop(s);
        assert_eq!(take_log(), ["cancelled"]);
    }

    #[test]
    fn a_fired_entry_completes_the_sleep_and_is_dropped_at_once() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut s = Sleep::<Entry>::after(Duration::from_secs(60));
        assert!(s.poll_elapsed(&mut cx).is_pending());
        next(EntryPoll::Fired);
        assert!(s.poll_elapsed(&mut cx).is_ready());
        assert_eq!(take_log(), ["armed", "polled 1", "cancelled"]);
        drop(s);
        assert!(take_log().is_empty(), "cancelled once");
    }

    #[test]
    fn a_stale_entry_is_armed_anew_and_reset_cancels_until_the_next_poll() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut s = Sleep::<Entry>::after(Duration::from_secs(60));
        assert!(s.poll_elapsed(&mut cx).is_pending());
        next(EntryPoll::Stale);
        assert!(s.poll_elapsed(&mut cx).is_pending());
        assert_eq!(
            take_log(),
            ["armed", "polled 1", "rearm", "cancelled", "armed"]
        );
        let later = Instant::now() + Duration::from_secs(120);
        s.reset(later);
        assert_eq!(s.deadline(), later);
        assert_eq!(take_log(), ["cancelled"]);
        next(EntryPoll::Waiting);
        assert!(s.poll_elapsed(&mut cx).is_pending());
        assert_eq!(take_log(), ["armed"]);
        drop(s);
        take_log();
    }

    #[test]
    fn a_sleep_over_before_it_began_spends_one_unit_of_budget() {
        let mut cx = Context::from_waker(Waker::noop());
        let past = Instant::now() - Duration::from_millis(1);
        crate::coop::reset();
        let mut ready = 0;
        while Sleep::<Entry>::until(past).poll_elapsed(&mut cx).is_ready() {
            ready += 1;
            assert!(ready <= crate::coop::BUDGET, "the budget never ran out");
        }
        crate::coop::unconstrain();
        assert_eq!(ready, crate::coop::BUDGET);
        assert!(take_log().iter().all(|l| l == "refused"));
    }

    #[test]
    fn a_timeout_polls_the_future_first_and_the_clock_before_the_sleep() {
        let mut cx = Context::from_waker(Waker::noop());
        let past = Instant::now() - Duration::from_millis(1);
        // A ready future wins even past the deadline.
        let mut t = pin!(timeout_at::<Entry, _>(past, async { 7 }));
        assert_eq!(t.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
        // A pending one loses at once, with no entry armed and no budget
        // spent (the clock said so).
        crate::coop::reset();
        for _ in 0..crate::coop::BUDGET {
            assert!(crate::coop::poll_proceed(&mut cx).is_ready());
        }
        let mut t = pin!(timeout_at::<Entry, _>(past, std::future::pending::<()>()));
        assert_eq!(t.as_mut().poll(&mut cx), Poll::Ready(Err(Elapsed(()))));
        crate::coop::unconstrain();
        assert!(take_log().is_empty());
        let e: std::io::Error = Elapsed(()).into();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(Elapsed(()).to_string(), "deadline has elapsed");
    }
}
