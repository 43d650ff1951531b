//! Async synchronization for tasks, the same in every mode: [`mpsc`] and
//! [`oneshot`] channels, [`Mutex`], [`Semaphore`], [`WaitGroup`] and
//! [`Notify`].
//!
//! Every type here is `Send + Sync` and engine-neutral: it parks a task by
//! storing its [`std::task::Waker`] and wakes it through that waker, nothing
//! else. In single mode the waker pushes the task on the loop's ready queue;
//! in mn mode it may make a task runnable on another OS thread. So the state
//! of each primitive sits behind one `std::sync::Mutex`, held for a few
//! dozen instructions and never across user code or a wake.
//!
//! # The waiter protocol
//!
//! Each primitive keeps its parked futures in a FIFO (`waiters.rs`) and
//! follows the same steps:
//!
//! 1. **Fast path.** A poll first spends one unit of the task's cooperative
//!    budget (`coop::poll_proceed`), then takes the lock; if the operation
//!    can complete at once *and nobody is queued before it*, it completes.
//!    Nobody can overtake a queued waiter.
//! 2. **Park.** Otherwise the future appends a waiter (its waker and its
//!    request) to the FIFO and keeps the key. A later poll of a still-waiting
//!    future only replaces the waker, without a clone when `will_wake` says
//!    the stored one wakes the same task.
//! 3. **Grant.** Whoever frees the resource (unlock, release, send, notify,
//!    receive) hands it to the oldest waiter under the same lock: it unlinks
//!    the waiter, *writes the grant into the waiter's slot* (the lock's value,
//!    the permits, "your message was taken"), takes its waker, and wakes it
//!    after the lock is released. The resource never becomes free in between,
//!    so there is no thundering herd and no barging: handoff is FIFO.
//! 4. **Complete.** The woken future's next poll finds the grant in its slot,
//!    frees the slot and returns `Ready`.
//! 5. **Cancel.** A future dropped while waiting unlinks itself. A future
//!    dropped after a grant but before its poll *passes the grant on* (step 3
//!    again, for the next waiter, or back to the pool). So dropping any
//!    future — through `timeout`, `select`, an aborted task — loses no
//!    permit, lock, notification or message.
//!
//! Wakers are collected under the lock and woken after it (`WakeList`);
//! user values (messages, a mutex's data) are dropped after it too, since
//! their destructors may use the very same primitive.
//!
//! Rejected designs: an intrusive list threaded through the pinned futures
//! (as tokio does) needs `unsafe`, and compat forbids it; waking every
//! waiter and letting them race for the resource (a condvar's way) is
//! neither fair nor cheap; a lock-free queue per primitive buys little in
//! single mode, where the lock is never contended, and is much harder to
//! make cancellation-safe.
//!
//! A poisoned internal lock (a foreign waker panicked in `clone` while it was
//! held) is entered anyway: every step leaves the state consistent before it
//! calls into a waker.

pub mod mpsc;
pub mod oneshot;

mod blocking;
mod mutex;
mod notify;
mod semaphore;
mod wait_group;
mod waiters;

pub use mutex::{LockFuture, Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use semaphore::{
    AcquireError, AcquireFuture, AcquireOwnedFuture, OwnedSemaphorePermit, Semaphore,
    SemaphorePermit, TryAcquireError,
};
pub use wait_group::{WaitFuture, WaitGroup};

/// Locks a primitive's internal state, entering it even if poisoned (see the
/// module documentation).
#[inline]
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// Compile-time checks: every primitive crosses threads.
const _: () = {
    fn send_sync<T: Send + Sync>() {}
    let _ = || {
        send_sync::<mpsc::Sender<u8>>();
        send_sync::<mpsc::Receiver<u8>>();
        send_sync::<mpsc::SendFuture<'_, u8>>();
        send_sync::<mpsc::RecvFuture<'_, u8>>();
        send_sync::<oneshot::Sender<u8>>();
        send_sync::<oneshot::Receiver<u8>>();
        send_sync::<Mutex<u8>>();
        send_sync::<MutexGuard<'_, u8>>();
        send_sync::<LockFuture<'_, u8>>();
        send_sync::<Semaphore>();
        send_sync::<SemaphorePermit<'_>>();
        send_sync::<OwnedSemaphorePermit>();
        send_sync::<AcquireFuture<'_>>();
        send_sync::<AcquireOwnedFuture>();
        send_sync::<WaitGroup>();
        send_sync::<WaitFuture<'_>>();
        send_sync::<Notify>();
        send_sync::<Notified<'_>>();
    };
};
