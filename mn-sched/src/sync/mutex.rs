//! A mutual-exclusion lock whose `lock` parks the G (or thread), never the
//! M, and whose guard may be held across parks (and so released on another
//! thread) — what a `std::sync::Mutex` must not be used for on a G.
//!
//! One state word (LOCKED, WAITERS) and a wait list under a small `std`
//! lock. `lock`: a CAS 0 → LOCKED on the fast path; otherwise, under the
//! list lock, take it if it is free or queue (setting WAITERS) and park.
//! `unlock`: a CAS LOCKED → 0 if no one waits; otherwise, under the list
//! lock, the lock passes straight to the first waiter (it wakes owning it,
//! the word stays LOCKED): FIFO, so no waiter starves. Go's mutex lets a
//! newcomer barge in before a woken waiter (faster under contention,
//! starvation mode after 1 ms); hand-off keeps this one simple and fair.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use super::waitlist::{block_on, WaitList, Waiter, COMPLETED};
use crate::park::current_waker;

const LOCKED: u8 = 1;
const WAITERS: u8 = 2;

/// A mutex for Gs; see the module doc.
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    waiters: std::sync::Mutex<WaitList<()>>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock gives exclusive access to `data` (like std's Mutex).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: the guard only hands out &T / &mut T of a locked mutex; it may be
// dropped on any thread (this mutex is not owned by a thread).
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            state: AtomicU8::new(0),
            waiters: std::sync::Mutex::new(WaitList::default()),
            data: UnsafeCell::new(value),
        }
    }

    /// The value (no lock needed: we own the mutex).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    fn list(&self) -> std::sync::MutexGuard<'_, WaitList<()>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks, parking the caller while another holds the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if self.try_lock_fast() {
            return MutexGuard { mutex: self };
        }
        let mut list = self.list();
        if self.take_or_flag_waiters() {
            return MutexGuard { mutex: self };
        }
        let waiter = Waiter::new(current_waker(), None);
        let wp = NonNull::from(&waiter);
        // SAFETY: under the list lock; `waiter` stays in this frame until
        // completed or removed (block_on's guard).
        unsafe { list.push_back(wp) };
        drop(list);
        crate::park::note_wait(crate::park::why::LOCK); // for the dump
        let outcome = block_on(&waiter, || self.abandon(wp));
        debug_assert_eq!(outcome, COMPLETED);
        MutexGuard { mutex: self }
    }

    /// Locks if the lock is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.try_lock_fast().then_some(MutexGuard { mutex: self })
    }

    /// The value, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn try_lock_fast(&self) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Under the list lock: takes the lock if free, else sets WAITERS.
    fn take_or_flag_waiters(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let (next, took) = if s & LOCKED == 0 {
                (s | LOCKED, true)
            } else {
                (s | WAITERS, false)
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return took,
                Err(now) => s = now,
            }
        }
    }

    /// A waiter unwinds (shutdown): leaves the list, or, if the lock was
    /// already handed to it, passes it on.
    fn abandon(&self, wp: NonNull<Waiter<()>>) {
        let mut list = self.list();
        // SAFETY: under the list lock; the waiter is alive (the unwinding
        // frame still holds it).
        if unsafe { list.remove(wp) } {
            if list.is_empty() {
                self.state.fetch_and(!WAITERS, Ordering::Relaxed);
            }
            return;
        }
        drop(list);
        // SAFETY: not queued and completed: the lock was handed to us.
        if unsafe { wp.as_ref() }.state() == COMPLETED {
            self.unlock();
        }
    }

    fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut list = self.list();
        let Some(w) = list.pop_claimed() else {
            self.state.store(0, Ordering::Release);
            return;
        };
        if list.is_empty() {
            self.state.store(LOCKED, Ordering::Release);
        }
        // SAFETY: unlinked under the list lock (waitlist.rs rule 5).
        let waker = unsafe { Waiter::complete(w, COMPLETED) };
        drop(list);
        waker.wake();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex")
            .field(
                "locked",
                &(self.state.load(Ordering::Relaxed) & LOCKED != 0),
            )
            .finish()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` that it
        // is not shared.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}
