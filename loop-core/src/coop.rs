//! Cooperative budget: a task that always finds its I/O ready still yields.
//!
//! Each poll of a task starts with a budget of [`BUDGET`] operations. Socket
//! operations, timers, join handles and compat's channels spend one unit each;
//! when the budget is spent they return `Pending` after waking the task, so it
//! goes to the back of the ready queue and the loop gets to run timers, other
//! tasks and epoll. Without this, `loop { stream.read(&mut buf).await }` on a
//! fast peer would keep the whole loop for itself: a JS loop's "microtask
//! starvation".
//!
//! The budget is a thread-local `Cell`, set by whoever polls a task (the loop
//! here; mn-sched's async Gs do the same) and unconstrained in between, so
//! spending it costs a TLS load and store, nothing shared.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations per poll before a task is made to yield.
pub const BUDGET: u32 = 128;

/// Outside a task poll: never runs out.
const UNCONSTRAINED: u32 = u32::MAX;

thread_local! {
    static LEFT: Cell<u32> = const { Cell::new(UNCONSTRAINED) };
}

/// Gives the task about to be polled on this thread a fresh budget.
#[inline]
pub fn reset() {
    let _ = LEFT.try_with(|l| l.set(BUDGET));
}

/// Lifts the budget after a poll (code outside tasks is never throttled).
#[inline]
pub fn unconstrain() {
    let _ = LEFT.try_with(|l| l.set(UNCONSTRAINED));
}

/// Spends one unit of the current task's budget; when none is left, wakes
/// the task and returns `Pending` so it yields.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let left = LEFT.try_with(Cell::get).unwrap_or(UNCONSTRAINED);
    if left == 0 {
        cx.waker().wake_by_ref();
        return crate::trace::pending(crate::trace::WaitReason::Yield);
    }
    if left != UNCONSTRAINED {
        let _ = LEFT.try_with(|l| l.set(left - 1));
    }
    Poll::Ready(())
}
