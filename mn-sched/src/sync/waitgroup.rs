//! WaitGroup, Go's `sync.WaitGroup`: `add` work, `done` each piece, `wait`
//! (parking the G or thread) until the count is back to zero. Cloning shares
//! the group. The count is one atomic; waiters queue under a small lock,
//! and the `done` that reaches zero wakes them all (after taking that lock,
//! so a waiter that checked the count under the lock cannot miss it).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

use super::waitlist::{block_on, WaitList, Waiter, COMPLETED};
use crate::park::current_waker;

/// A counter of outstanding work to wait for.
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    count: AtomicUsize,
    waiters: std::sync::Mutex<WaitList<()>>,
}

impl WaitGroup {
    /// A group with a count of zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn list(&self) -> std::sync::MutexGuard<'_, WaitList<()>> {
        self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` to the count.
    pub fn add(&self, n: usize) {
        self.inner.count.fetch_add(n, Ordering::AcqRel);
    }

    /// Subtracts one; wakes every waiter when the count reaches zero.
    ///
    /// # Panics
    ///
    /// If the count was already zero (more `done`s than `add`s).
    pub fn done(&self) {
        let prev = self.inner.count.fetch_sub(1, Ordering::AcqRel);
        assert!(prev > 0, "WaitGroup::done called more times than add");
        if prev == 1 {
            let woken = self.list().drain(COMPLETED);
            woken.into_iter().for_each(Waker::wake);
        }
    }

    /// The count now.
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Waits until the count is zero.
    pub fn wait(&self) {
        if self.count() == 0 {
            return;
        }
        let mut list = self.list();
        if self.count() == 0 {
            return;
        }
        let waiter = Waiter::new(current_waker(), None);
        let wp = NonNull::from(&waiter);
        // SAFETY: under the list lock; `waiter` stays in this frame until
        // completed or removed by block_on's guard.
        unsafe { list.push_back(wp) };
        drop(list);
        // Why this G waits, for the task dump.
        crate::park::note_wait(crate::park::why::WAIT_GROUP);
        // SAFETY: (in the closure) under the list lock; `wp` is alive.
        block_on(&waiter, || unsafe {
            self.list().remove(wp);
        });
    }
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}
