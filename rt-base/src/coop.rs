//! Cooperative budget: a task that always finds its I/O ready still yields.
//!
//! Each poll of a task starts with a budget of [`BUDGET`] operations. Socket
//! operations, join handles, compat's channels and a sleep that is already
//! over when first polled spend one unit each (a sleep that waits spends
//! none: it never keeps its task from yielding, and a deadline beside a
//! busy future must still fire);
//! when the budget is spent they return `Pending`, and the task is woken at
//! the start of the loop's next turn, after the timers (an mn G: at once, to
//! the back of its P's queue), so the loop gets to run timers, other tasks
//! and epoll. Without this, `loop { stream.read(&mut buf).await }` on a
//! fast peer would keep the whole loop for itself: a JS loop's "microtask
//! starvation".
//!
//! The budget is a thread-local `Cell`, set by whoever polls a task (the
//! loop; mn-sched's async Gs do the same) and unconstrained in between, so
//! spending it costs a TLS load and store, nothing shared.
//!
//! How a task that must yield is woken is the engine's business, not this
//! module's: an engine that wants its own order installs a [`YieldHook`] on
//! the threads it runs ([`set_yield_hook`]; the loop defers the wake to its
//! next turn, after the timers). Where none is installed (an mn G) the
//! waker is woken at once.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

/// Operations per poll before a task is made to yield.
pub const BUDGET: u32 = 128;

/// Outside a task poll: never runs out.
const UNCONSTRAINED: u32 = u32::MAX;

thread_local! {
    static LEFT: Cell<u32> = const { Cell::new(UNCONSTRAINED) };
    /// mn-sched: the running P's preempt flag during a poll (null when none).
    static PREEMPT: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
    /// How the engine running on this thread wakes a yielding task, if it
    /// installed a way.
    static YIELD_HOOK: Cell<Option<YieldHook>> = const { Cell::new(None) };
}

/// Wakes a task that yields (its budget ran out, or it was preempted), in
/// the order the engine running on this thread wants. Called with the
/// task's waker in place of `waker.wake_by_ref()`.
pub type YieldHook = fn(&Waker);

/// Installs `hook` for this thread (`None` removes it) and returns the one
/// it replaces. An engine installs its hook while it runs on a thread and
/// removes it when it leaves, so a later runtime on the same thread (or an
/// mn G) never reaches an engine that is gone.
pub fn set_yield_hook(hook: Option<YieldHook>) -> Option<YieldHook> {
    YIELD_HOOK.try_with(|h| h.replace(hook)).unwrap_or(None)
}

/// Wakes a task that yields: through this thread's [`YieldHook`] if one is
/// installed, else at once.
#[inline]
pub fn wake_yielder(waker: &Waker) {
    match YIELD_HOOK.try_with(Cell::get).unwrap_or(None) {
        Some(hook) => hook(waker),
        None => waker.wake_by_ref(),
    }
}

/// Gives the task about to be polled on this thread a fresh budget.
#[inline]
pub fn reset() {
    let _ = LEFT.try_with(|l| l.set(BUDGET));
    let _ = PREEMPT.try_with(|p| p.set(std::ptr::null()));
}

/// Like [`reset`], and while the poll lasts a budgeted operation also
/// yields (returns `Pending` after waking the task) once `*flag` is true:
/// mn-sched passes its P's preempt flag, which sysmon sets when a G has
/// run more than 10 ms, so an async task returns `Pending` at its next
/// await on a runtime resource.
///
/// # Safety
///
/// `flag` must point to an `AtomicBool` that stays alive until the next
/// [`reset`], `reset_preemptible` or [`unconstrain`] on this thread.
#[inline]
pub unsafe fn reset_preemptible(flag: *const AtomicBool) {
    let _ = LEFT.try_with(|l| l.set(BUDGET));
    let _ = PREEMPT.try_with(|p| p.set(flag));
}

/// Lifts the budget after a poll (code outside tasks is never throttled).
#[inline]
pub fn unconstrain() {
    let _ = PREEMPT.try_with(|p| p.set(std::ptr::null()));
    let _ = LEFT.try_with(|l| l.set(UNCONSTRAINED));
}

/// Spends one unit of the current task's budget; when none is left, wakes
/// the task and returns `Pending` so it yields.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let left = LEFT.try_with(Cell::get).unwrap_or(UNCONSTRAINED);
    if left == 0 {
        wake_yielder(cx.waker());
        return crate::trace::pending(crate::trace::WaitReason::Yield);
    }
    if left != UNCONSTRAINED {
        let _ = LEFT.try_with(|l| l.set(left - 1));
        let flag = PREEMPT.try_with(Cell::get).unwrap_or(std::ptr::null());
        // SAFETY: a non-null flag was installed by `reset_preemptible`, whose
        // caller keeps it alive until the poll ends (`unconstrain`/`reset`).
        if !flag.is_null() && unsafe { (*flag).load(Ordering::Relaxed) } {
            wake_yielder(cx.waker());
            return crate::trace::pending(crate::trace::WaitReason::Yield);
        }
    }
    Poll::Ready(())
}

/// Lifts the budget until dropped, then puts back what the poll had left.
///
/// A blocking-style wait made inside a poll (mn-sched's `mn::net` calls,
/// which park the G between their own polls of a socket) is not an await:
/// spending the task's budget there would make every retry return
/// `Pending` at once, and the wait would spin instead of parking.
#[must_use = "the budget comes back when the guard drops"]
pub struct Unconstrained {
    left: u32,
    flag: *const AtomicBool,
}

impl Unconstrained {
    /// Lifts the budget of the poll running on this thread, if any.
    pub fn enter() -> Self {
        let left = LEFT
            .try_with(|l| l.replace(UNCONSTRAINED))
            .unwrap_or(UNCONSTRAINED);
        let flag = PREEMPT
            .try_with(|p| p.replace(std::ptr::null()))
            .unwrap_or(std::ptr::null());
        Self { left, flag }
    }
}

impl Drop for Unconstrained {
    fn drop(&mut self) {
        // The flag is the one `reset_preemptible` installed for the poll
        // that is still running, so its contract still covers it.
        let _ = LEFT.try_with(|l| l.set(self.left));
        let _ = PREEMPT.try_with(|p| p.set(self.flag));
    }
}

/// Runs `f` with the budget lifted, then puts back what was left (also if
/// `f` panics). For code that polls many resources on behalf of one
/// operation which has already spent its unit: compat's `JoinSet` spends
/// one unit per `join_next` and then looks at as many finished tasks'
/// handles as it needs, and its synchronous `try_join_next` must see a
/// finished task as finished even when the caller's budget is spent.
#[inline]
pub fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let _lifted = Unconstrained::enter();
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn unconstrained_lifts_the_budget_and_puts_back_what_was_left() {
        let mut cx = Context::from_waker(Waker::noop());
        reset();
        for _ in 0..BUDGET - 3 {
            assert!(poll_proceed(&mut cx).is_ready());
        }
        // Inside: far more operations than a whole budget, none refused.
        let refused = unconstrained(|| {
            (0..10 * BUDGET)
                .filter(|_| poll_proceed(&mut cx).is_pending())
                .count()
        });
        assert_eq!(refused, 0);
        // After: the three units that were left, then Pending.
        for _ in 0..3 {
            assert!(poll_proceed(&mut cx).is_ready());
        }
        assert!(poll_proceed(&mut cx).is_pending());
        // A panic inside restores it too.
        reset();
        let _ = std::panic::catch_unwind(|| unconstrained(|| panic!("inside")));
        let mut left = 0;
        while poll_proceed(&mut cx).is_ready() {
            left += 1;
        }
        assert_eq!(left, BUDGET);
        unconstrain();
    }

    #[test]
    fn a_spent_budget_wakes_through_the_threads_hook_else_at_once() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        use std::task::Wake;

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        thread_local! {
            static HOOKED: Cell<u32> = const { Cell::new(0) };
        }
        fn hook(_: &Waker) {
            HOOKED.with(|h| h.set(h.get() + 1));
        }

        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let spend = |cx: &mut Context<'_>| {
            reset();
            let mut ready = 0;
            while poll_proceed(cx).is_ready() {
                ready += 1;
            }
            unconstrain();
            ready
        };

        // No hook: the waker itself, once, when the budget runs out.
        assert_eq!(spend(&mut cx), BUDGET);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert_eq!(HOOKED.with(Cell::get), 0);

        // A hook: it decides, and the waker is left alone.
        assert!(set_yield_hook(Some(hook)).is_none());
        assert_eq!(spend(&mut cx), BUDGET);
        assert_eq!(HOOKED.with(Cell::get), 1);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);

        // Removed: back to waking at once; other threads never saw it.
        assert!(set_yield_hook(None).is_some());
        assert_eq!(spend(&mut cx), BUDGET);
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        let other = std::thread::spawn(|| YIELD_HOOK.with(Cell::get).is_none());
        assert!(other.join().unwrap());
    }
}
