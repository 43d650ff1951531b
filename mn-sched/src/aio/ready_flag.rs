//! A local task's "queued" flag (aio/local.rs), alone in its file so the
//! loom build (which leaves out the rest of `aio`: rt-base has no coop or
//! trace under loom) can model it.

use std::sync::atomic::Ordering;

/// A local task's "in the ready list" flag. Protocol (model:
/// `loom_local_wake_not_lost`):
///
/// 1. A waker, after making its event visible, swaps the flag to true
///    (AcqRel); only the one that found it false pushes the index and
///    wakes the host, so a task is listed at most once per poll.
/// 2. The host, before polling the task, swaps the flag to false (AcqRel):
///    this synchronizes with every waker whose swap came before, so the
///    poll sees their events; a waker after it finds false and lists the
///    task again (the next round polls it).
pub(crate) struct ReadyFlag(crate::loom::AtomicBool);

impl ReadyFlag {
    /// A flag for a task listed at spawn.
    pub(crate) fn new_queued() -> Self {
        Self(crate::loom::AtomicBool::new(true))
    }

    /// Step 1: true if the caller must list the task.
    pub(crate) fn wake(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    /// Step 2: right before a poll.
    pub(crate) fn begin_poll(&self) {
        self.0.swap(false, Ordering::AcqRel);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::ReadyFlag;
    use loom::sync::atomic::{AtomicBool, AtomicUsize};
    use loom::sync::Arc;
    use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

    /// A listed task is being polled while a waker fires: either the poll
    /// sees the event or the waker lists the task again.
    #[test]
    fn loom_local_wake_not_lost() {
        loom::model(|| {
            let flag = Arc::new(ReadyFlag::new_queued());
            let event = Arc::new(AtomicBool::new(false));
            let listed = Arc::new(AtomicUsize::new(0));
            let w = {
                let (flag, event, listed) = (flag.clone(), event.clone(), listed.clone());
                loom::thread::spawn(move || {
                    event.store(true, Release);
                    if flag.wake() {
                        listed.fetch_add(1, Relaxed);
                    }
                })
            };
            flag.begin_poll();
            let seen = event.load(Acquire);
            w.join().unwrap();
            assert!(seen || listed.load(Relaxed) == 1, "wake lost");
            assert!(listed.load(Relaxed) <= 1, "listed twice");
        });
    }
}
