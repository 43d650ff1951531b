//! The cooperative budget, for resources compat implements itself (channels,
//! locks): each ready operation spends one unit of the running task's budget,
//! and when it is spent the operation returns `Pending` after waking the task,
//! so a task that always finds its channel ready still lets others run.

use std::task::{Context, Poll};

/// Spends one unit of the current task's budget (no-op outside a runtime).
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    loop_core::coop::poll_proceed(cx)
}
