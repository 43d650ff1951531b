//! Cooperative budget: a task that always finds its I/O ready still yields.
//!
//! Each poll of a task starts with a budget of [`BUDGET`] operations. Socket
//! operations, timers and join handles spend one unit each; when the budget is
//! spent they return `Pending` after waking the task, so it goes to the back
//! of the ready queue and the loop gets to run timers, other tasks and epoll.
//! Without this, `loop { stream.read(&mut buf).await }` on a fast peer would
//! keep the whole loop for itself: a JS loop's "microtask starvation".

use std::task::{Context, Poll};

use crate::context;
use crate::runtime::Core;

/// Operations per poll before a task is made to yield.
pub(crate) const BUDGET: u32 = 128;

/// Spends one unit of the running task's budget on `core`.
#[inline]
pub(crate) fn consume(core: &Core, cx: &mut Context<'_>) -> Poll<()> {
    let left = core.budget.get();
    if left == 0 {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    core.budget.set(left - 1);
    Poll::Ready(())
}

/// Spends one unit of the current task's budget, if a loop runs on this
/// thread (elsewhere there is no budget to spend). For resources outside
/// loop-core — compat's channels — so they yield like sockets do.
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    context::with_current(|core| consume(core, cx)).unwrap_or(Poll::Ready(()))
}
