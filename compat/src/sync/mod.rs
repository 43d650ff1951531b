//! Async synchronization for tasks, the same in every mode: [`mpsc`] and
//! [`oneshot`] channels, [`Mutex`], [`Semaphore`], [`WaitGroup`] and
//! [`Notify`], with tokio's names and behaviour.
//!
//! What they have in common:
//!
//! * Waiting parks the task, never the thread: in single mode the loop
//!   runs other tasks meanwhile, in mn the thread does.
//! * Every type is `Send + Sync` and works across threads and modes; share
//!   one through an `Arc` or a `'static`.
//! * **Fair**: waiters are served first come, first served, and the
//!   resource (a lock, permits, a message's place) is handed straight to
//!   the oldest waiter, so nobody who asks later gets it first.
//! * **Cancel-safe**: dropping a waiting future — through
//!   [`timeout`](crate::time::timeout), `select!`, an aborted task — loses
//!   no permit, lock, notification or message; one granted to it just
//!   before is passed on.
//! * The `blocking_*` methods (`blocking_send`, `blocking_recv`,
//!   `blocking_lock`) wait from a plain thread outside any runtime (a
//!   `std::thread`, a [`spawn_blocking`](crate::spawn_blocking) job); they
//!   panic inside a runtime, where they would stop every task.
//!
//! For Go-style blocking code in mn mode (`switchyard::mn::go`),
//! `switchyard::mn` has its own channels, `Mutex` and `WaitGroup`, which
//! block the calling task instead of returning a future.
//!
//! ```
//! # extern crate compat as switchyard;
//! use std::sync::Arc;
//! use switchyard::sync::{mpsc, Mutex, Semaphore};
//!
//! switchyard::run(async {
//!     let (tx, mut rx) = mpsc::channel(16);
//!     let total = Arc::new(Mutex::new(0u64));
//!     let limit = Arc::new(Semaphore::new(2)); // two workers at a time
//!     for i in 1..=10u64 {
//!         let (tx, total, limit) = (tx.clone(), total.clone(), limit.clone());
//!         switchyard::spawn(async move {
//!             let _permit = limit.acquire().await.unwrap();
//!             *total.lock().await += i;
//!             tx.send(i).await.unwrap();
//!         });
//!     }
//!     drop(tx); // rx ends when every sender is gone
//!     let mut received = 0;
//!     while let Some(_) = rx.recv().await {
//!         received += 1;
//!     }
//!     assert_eq!(received, 10);
//!     assert_eq!(*total.lock().await, 55);
//! });
//! ```

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

/// Locks a primitive's internal state, entering it even if poisoned (see
/// `waiters.rs`).
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
