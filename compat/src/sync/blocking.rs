//! Waiting for a `sync` future from a plain OS thread (`blocking_send`,
//! `blocking_recv`): poll it with a waker that unparks the thread.
//!
//! Only for threads outside any runtime — a `std::thread` or a
//! `spawn_blocking` job bridging into async code. Called from a task it
//! would stop the whole loop in single mode (and deadlock if the peer is on
//! that loop), so it panics there.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Unparks the thread that waits.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, parking between polls.
///
/// # Panics
/// Inside a runtime; `what` names the caller in the message.
pub(crate) fn block_on<F: Future>(what: &str, future: F) -> F::Output {
    assert!(
        !crate::engine::inside_runtime(),
        "switchyard: {what} called from inside a runtime, where it would block every task; \
         use the async version with .await"
    );
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // A wake between the poll and here leaves the token set: no lost wake.
        thread::park();
    }
}
