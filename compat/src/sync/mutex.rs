//! An async mutual-exclusion lock, fair: waiters get the lock in the order
//! they asked for it, handed over directly by the previous holder.
//!
//! Without `unsafe` there is no `UnsafeCell`, so the protected value lives in
//! a `Box` that *moves*: it sits in the mutex while unlocked, in the
//! [`MutexGuard`] while locked, and in a waiter's slot between a handoff and
//! that waiter's next poll. Locking moves a pointer, not the value.
//!
//! Rules (with the waiter protocol of `waiters.rs`):
//! 1. The mutex is unlocked exactly when its `value` is `Some`; then nobody
//!    waits (a release hands the box to the oldest waiter if there is one).
//! 2. `lock` with the box present takes it; otherwise it parks.
//! 3. A guard's drop gives the box to the oldest waiter (`Granted`) and
//!    wakes it, or puts it back.
//! 4. A lock future dropped while `Granted` releases the box as in rule 3:
//!    the lock is never lost; dropped while waiting, it just leaves the FIFO.
//!
//! No poisoning: a task that panics while holding the guard unlocks it.
//! Leaking a guard (`mem::forget`) leaves the mutex locked forever, and
//! [`Mutex::get_mut`] / [`Mutex::into_inner`] then panic.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Mutex as StdMutex;
use std::task::{ready, Context, Poll};

use super::waiters::{WaiterKey, Waiters};
use super::{blocking, lock};
use crate::coop::{self, WaitReason};

/// An async mutex: [`lock`](Mutex::lock) waits without blocking the thread,
/// and the guard may be held across `.await`.
///
/// Fair: the lock goes to waiters in the order they asked for it. No
/// poisoning: a task that panics while holding the guard unlocks it. For
/// data locked only briefly and never across an `.await`, a
/// `std::sync::Mutex` is cheaper, as with tokio.
///
/// ```
/// # extern crate compat as switchyard;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use switchyard::sync::Mutex;
///
/// switchyard::run(async {
///     let log = Arc::new(Mutex::new(Vec::new()));
///     let mut tasks = Vec::new();
///     for i in 0..3 {
///         let log = log.clone();
///         tasks.push(switchyard::spawn(async move {
///             let mut guard = log.lock().await;
///             // Held across an await: the other tasks wait their turn.
///             switchyard::time::sleep(Duration::from_millis(1)).await;
///             guard.push(i);
///         }));
///     }
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(log.lock().await.len(), 3);
/// });
/// ```
pub struct Mutex<T> {
    state: StdMutex<State<T>>,
}

/// The mutex under its internal lock.
struct State<T> {
    /// The protected value, while unlocked (rule 1).
    value: Option<Box<T>>,
    /// Tasks waiting for the lock.
    waiters: Waiters<Slot<T>>,
}

/// A waiter's slot.
enum Slot<T> {
    /// In the FIFO.
    Waiting,
    /// Rule 3: the lock is ours; the value is here.
    Granted(Box<T>),
}

/// The mutex was locked, by [`Mutex::try_lock`].
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the mutex is locked")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex {
            state: StdMutex::new(State {
                value: Some(Box::new(value)),
                waiters: Waiters::new(),
            }),
        }
    }

    /// Waits for the lock. FIFO: nobody who asks later gets it first.
    ///
    /// Cancel-safe: dropping the future, even after the lock was handed to
    /// it, passes the lock on.
    pub fn lock(&self) -> LockFuture<'_, T> {
        LockFuture {
            mutex: self,
            key: None,
        }
    }

    /// Waits for the lock from a thread outside any runtime, parking it
    /// meanwhile (the same FIFO as [`lock`](Self::lock)).
    ///
    /// # Panics
    /// Inside a runtime, where it would block every task: use `lock().await`.
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        blocking::block_on("Mutex::blocking_lock", self.lock())
    }

    /// Takes the lock if it is free now (and nobody waits for it).
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match lock(&self.state).value.take() {
            Some(value) => Ok(MutexGuard {
                mutex: self,
                value: Some(value),
            }),
            None => Err(TryLockError(())),
        }
    }

    /// The value, through exclusive access (no locking needed).
    ///
    /// # Panics
    /// If a guard was leaked with `mem::forget`.
    pub fn get_mut(&mut self) -> &mut T {
        self.state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .value
            .as_deref_mut()
            .expect("switchyard: Mutex::get_mut after a guard was leaked")
    }

    /// Consumes the mutex, returning the value.
    ///
    /// # Panics
    /// If a guard was leaked with `mem::forget`.
    pub fn into_inner(self) -> T {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state
            .value
            .expect("switchyard: Mutex::into_inner after a guard was leaked")
    }

    /// Rule 3: hands the value to the oldest waiter, or puts it back.
    fn unlock(&self, value: Box<T>) {
        let mut st = lock(&self.state);
        let waker = hand_over(&mut st, value);
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Rules 1 and 3, under the lock; the waker is the new holder's.
fn hand_over<T>(st: &mut State<T>, value: Box<T>) -> Option<std::task::Waker> {
    match st.waiters.pop_front() {
        Some(key) => {
            *st.waiters.data_mut(key) = Slot::Granted(value);
            st.waiters.take_waker(key)
        }
        None => {
            st.value = Some(value);
            None
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockFuture<'a, T> {
    mutex: &'a Mutex<T>,
    /// Our slot in the FIFO, while parked.
    key: Option<WaiterKey>,
}

impl<'a, T> Future for LockFuture<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        let mutex = this.mutex;
        let mut st = lock(&mutex.state);
        let value = match this.key {
            None => match st.value.take() {
                Some(value) => value,
                None => {
                    this.key = Some(st.waiters.push_back(Slot::Waiting, cx.waker()));
                    return coop::wait(WaitReason::Lock);
                }
            },
            Some(key) => {
                if st.waiters.is_linked(key) {
                    st.waiters.register(key, cx.waker());
                    return coop::wait(WaitReason::Lock);
                }
                this.key = None;
                match st.waiters.remove(key) {
                    Slot::Granted(value) => value,
                    Slot::Waiting => unreachable!("an unlinked lock waiter was granted"),
                }
            }
        };
        drop(st);
        Poll::Ready(MutexGuard {
            mutex,
            value: Some(value),
        })
    }
}

impl<T> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut st = lock(&self.mutex.state);
        // Rule 4: a grant we never used goes to the next waiter.
        let waker = match st.waiters.remove(key) {
            Slot::Granted(value) => hand_over(&mut st, value),
            Slot::Waiting => None,
        };
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Holds the lock; dereferences to the value; unlocks on drop.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// The value, for the guard's life (`None` only inside `drop`).
    value: Option<Box<T>>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        self.value.as_deref().expect("a live guard holds the value")
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.value
            .as_deref_mut()
            .expect("a live guard holds the value")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            self.mutex.unlock(value);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
