//! The lock around a channel's state (compat's `sync::mpsc`) and a socket's
//! waiter list (mn's netpoller): a test-and-set lock whose release is a
//! plain store. `std::sync::Mutex` releases with an
//! atomic swap (it must see whether a thread sleeps on it), a second locked
//! instruction per operation; here nobody sleeps on the lock, so unlocking
//! is a `Release` store. The critical sections are a few dozen
//! instructions that never block or park (a queue push or pop, a waker
//! swap), so a contender spins briefly and then yields its thread; in the
//! single mode there is never a contender.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

use crate::loom::sync::atomic::{AtomicBool, Ordering};

/// A value behind a test-and-set lock (no poisoning: a panic inside a
/// critical section leaves the state as it was written, as compat's
/// `sync::lock` helper treats a poisoned `std::sync::Mutex`).
#[derive(Debug)]
pub struct StateLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one holder at a time (Acquire on
// taking it, Release on giving it back), like `Mutex<T>`, which is Send +
// Sync for `T: Send`.
unsafe impl<T: Send> Send for StateLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for StateLock<T> {}

impl<T> StateLock<T> {
    /// A lock holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning (then yielding the thread) while another
    /// holds it.
    #[inline]
    pub fn lock(&self) -> StateGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        StateGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            // Wait on a plain load (no cache-line ping-pong), then try.
            while self.locked.load(Ordering::Relaxed) {
                #[cfg(loom)]
                crate::loom::thread::yield_now();
                if spins < 64 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// The holder's access to the value; unlocks on drop.
pub struct StateGuard<'a, T> {
    lock: &'a StateLock<T>,
}

impl<T> Deref for StateGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock: no other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for StateGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and we hold the guard mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for StateGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// Mutual exclusion under loom: two threads each take the lock twice; a
/// holder never finds another inside, and every increment lands.
/// `RUSTFLAGS="--cfg loom" cargo test -p switchyard-base --release --lib loom_`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::StateLock;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering};
    use crate::loom::sync::Arc;

    #[test]
    fn loom_state_lock_excludes() {
        loom::model(|| {
            let l = Arc::new(StateLock::new(0u32));
            let inside = Arc::new(AtomicUsize::new(0));
            let worker = {
                let (l, inside) = (l.clone(), inside.clone());
                move || {
                    for _ in 0..2 {
                        let mut g = l.lock();
                        assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0, "two holders");
                        *g += 1;
                        inside.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            };
            let t = loom::thread::spawn(worker.clone());
            worker();
            t.join().unwrap();
            assert_eq!(*l.lock(), 4);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::StateLock;
    use std::sync::Arc;

    #[test]
    fn four_threads_count_exactly() {
        let l = Arc::new(StateLock::new(0u64));
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *l.lock() += 1;
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*l.lock(), 400_000);
    }
}
