//! A Go-style wait group: a counter that tasks `add` to and mark `done`,
//! and a `wait` that completes when it drops to zero.
//!
//! Rules (with the waiter protocol of `waiters.rs`):
//! 1. `wait` with the counter at zero completes at once; otherwise it parks.
//! 2. The `done` that brings the counter to zero grants *every* parked
//!    waiter and wakes them; a later `add` does not un-grant them, so a
//!    waiter that saw zero returns even if work was added since.
//! 3. A wait future dropped at any point just frees its slot: a grant here
//!    is not a resource, there is nothing to pass on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{ready, Context, Poll};

use super::lock;
use super::waiters::{WaiterKey, Waiters, WakeList};
use crate::coop::{self, WaitReason};

/// Waits for a group of tasks to finish. Cheap to clone: clones share one
/// counter.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use switchyard::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// for _ in 0..3 {
///     wg.add(1);
///     let wg = wg.clone();
///     switchyard::spawn(async move {
///         // ... work ...
///         wg.done();
///     });
/// }
/// wg.wait().await;
/// assert_eq!(wg.count(), 0);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<StdMutex<State>>,
}

/// The group under its lock.
#[derive(Default)]
struct State {
    /// Outstanding work.
    count: usize,
    /// Parked waits; being unlinked is the grant (rule 2).
    waiters: Waiters<()>,
}

impl WaitGroup {
    /// A group with the counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to the counter.
    ///
    /// # Panics
    /// If the counter would overflow.
    pub fn add(&self, n: usize) {
        let mut st = lock(&self.inner);
        st.count = st
            .count
            .checked_add(n)
            .expect("switchyard: WaitGroup counter overflow");
    }

    /// Takes one off the counter; at zero, releases every waiter (rule 2).
    ///
    /// # Panics
    /// If the counter is already zero (Go: "negative WaitGroup counter").
    pub fn done(&self) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.inner);
            if st.count == 0 {
                drop(st);
                panic!("switchyard: WaitGroup::done called more times than add (negative counter)");
            }
            st.count -= 1;
            if st.count == 0 {
                while let Some(key) = st.waiters.pop_front() {
                    wakes.push(st.waiters.take_waker(key));
                }
            }
        }
        wakes.wake_all();
    }

    /// The counter now.
    pub fn count(&self) -> usize {
        lock(&self.inner).count
    }

    /// Waits until the counter is zero.
    ///
    /// Cancel-safe: dropping the future has no effect on the group.
    pub fn wait(&self) -> WaitFuture<'_> {
        WaitFuture {
            wg: self,
            key: None,
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

/// The future of [`WaitGroup::wait`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitFuture<'a> {
    wg: &'a WaitGroup,
    /// Our slot among the waiters, while parked.
    key: Option<WaiterKey>,
}

impl Future for WaitFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        let mut st = lock(&this.wg.inner);
        match this.key {
            None if st.count == 0 => Poll::Ready(()),
            None => {
                this.key = Some(st.waiters.push_back((), cx.waker()));
                coop::wait(WaitReason::WaitGroup)
            }
            Some(key) if st.waiters.is_linked(key) => {
                st.waiters.register(key, cx.waker());
                coop::wait(WaitReason::WaitGroup)
            }
            Some(key) => {
                this.key = None;
                st.waiters.remove(key);
                Poll::Ready(())
            }
        }
    }
}

impl Drop for WaitFuture<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Rule 3.
            lock(&self.wg.inner).waiters.remove(key);
        }
    }
}
