//! `yield_now`: let every other ready task, timers and I/O go first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives the loop back: the task goes to the back of the ready queue and is
/// polled again on the next turn, after timers, other tasks and epoll.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        crate::context::wake_yielder(cx.waker());
        crate::trace::pending(crate::trace::WaitReason::Yield)
    }
}
