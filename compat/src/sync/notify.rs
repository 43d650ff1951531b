//! Wake-up signals between tasks, without data: [`Notify`].
//!
//! Rules (with the waiter protocol of `waiters.rs`):
//! 1. `notify_one` grants the oldest parked waiter (`One`); if nobody is
//!    parked it stores a single permit instead (several calls still store
//!    one), which the next `notified().await` consumes at once.
//! 2. `notify_waiters` grants every parked waiter (`All`) and bumps an
//!    epoch; it stores no permit. A [`Notified`] remembers the epoch of its
//!    creation, and completes at its first poll if the epoch moved since:
//!    so "create `notified()`, check the condition, await" never misses a
//!    `notify_waiters` that came in between.
//! 3. A `Notified` dropped after a `One` grant passes it on — to the next
//!    waiter, or back as the stored permit: a `notify_one` is never lost.
//!    An `All` grant (or a waiting one) is simply dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex as StdMutex;
use std::task::{ready, Context, Poll, Waker};

use super::lock;
use super::waiters::{WaiterKey, Waiters, WakeList};
use crate::coop::{self, WaitReason};

/// Notifies one task or all waiting tasks of an event.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use std::sync::Arc;
/// use switchyard::sync::Notify;
///
/// let notify = Arc::new(Notify::new());
/// let n = notify.clone();
/// let h = switchyard::spawn(async move { n.notified().await; "woken" });
/// notify.notify_one();
/// assert_eq!(h.await.unwrap(), "woken");
/// # });
/// ```
pub struct Notify {
    state: StdMutex<State>,
    /// `notify_waiters` calls so far (rule 2); written under the lock, read
    /// without it when a `Notified` is created.
    epoch: AtomicU64,
}

/// The notify under its lock.
struct State {
    /// A `notify_one` with nobody waiting (rule 1).
    permit: bool,
    /// Parked `Notified` futures.
    waiters: Waiters<Slot>,
}

/// A waiter's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// In the FIFO.
    Waiting,
    /// Granted by `notify_one` (rule 3 passes it on if unused).
    One,
    /// Granted by `notify_waiters`.
    All,
}

impl State {
    /// Rule 1: a `notify_one`, under the lock.
    fn notify_one(&mut self) -> Option<Waker> {
        match self.waiters.pop_front() {
            Some(key) => {
                *self.waiters.data_mut(key) = Slot::One;
                self.waiters.take_waker(key)
            }
            None => {
                self.permit = true;
                None
            }
        }
    }
}

impl Notify {
    /// A notify with no stored permit.
    pub fn new() -> Self {
        Notify {
            state: StdMutex::new(State {
                permit: false,
                waiters: Waiters::new(),
            }),
            epoch: AtomicU64::new(0),
        }
    }

    /// Wakes the oldest waiting task, or stores one permit for the next
    /// [`notified`](Self::notified) if none waits.
    pub fn notify_one(&self) {
        let waker = lock(&self.state).notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every task waiting now, and every [`Notified`] created before
    /// this call even if not polled yet; stores no permit.
    pub fn notify_waiters(&self) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.state);
            self.epoch.fetch_add(1, Ordering::SeqCst);
            while let Some(key) = st.waiters.pop_front() {
                *st.waiters.data_mut(key) = Slot::All;
                wakes.push(st.waiters.take_waker(key));
            }
        }
        wakes.wake_all();
    }

    /// A future that completes on the next notification meant for it.
    ///
    /// Cancel-safe: dropping it after a `notify_one` reached it passes that
    /// notification on (rule 3).
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            epoch: self.epoch.load(Ordering::SeqCst),
            key: None,
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Notify")
            .field("permit", &st.permit)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// The epoch at creation (rule 2).
    epoch: u64,
    /// Our slot among the waiters, while parked.
    key: Option<WaiterKey>,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        let mut st = lock(&this.notify.state);
        let Some(key) = this.key else {
            // The epoch only moves under the lock we hold.
            if this.notify.epoch.load(Ordering::SeqCst) != this.epoch {
                return Poll::Ready(());
            }
            if std::mem::take(&mut st.permit) {
                return Poll::Ready(());
            }
            this.key = Some(st.waiters.push_back(Slot::Waiting, cx.waker()));
            return coop::wait(WaitReason::Notify);
        };
        if st.waiters.is_linked(key) {
            st.waiters.register(key, cx.waker());
            return coop::wait(WaitReason::Notify);
        }
        this.key = None;
        st.waiters.remove(key);
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut st = lock(&self.notify.state);
            match st.waiters.remove(key) {
                // Rule 3.
                Slot::One => st.notify_one(),
                Slot::All | Slot::Waiting => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}
