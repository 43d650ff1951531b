//! The cooperative budget and wait reasons, for resources compat implements
//! itself (channels, locks, the blocking pool).
//!
//! Each ready operation spends one unit of the running task's budget, and
//! when it is spent the operation returns `Pending` after waking the task,
//! so a task that always finds its channel ready still lets others run. An
//! operation that makes its task wait says why (for `dump()` and traces)
//! through [`wait`]. Both are engine-neutral thread-locals in rt-base,
//! read by whichever engine polls the task.

use std::task::{Context, Poll};

pub(crate) use rt_base::trace::WaitReason;

/// Spends one unit of the current task's budget (no-op outside a runtime).
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    rt_base::coop::poll_proceed(cx)
}

/// `Pending`, recording why the task waits.
#[inline]
pub(crate) fn wait<T>(reason: WaitReason) -> Poll<T> {
    rt_base::trace::pending(reason)
}

/// Runs `f` with the budget lifted, putting back what was left after.
#[inline]
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    rt_base::coop::unconstrained(f)
}
