//! Wait lists: the blocked callers of a channel or a Mutex. Each is a
//! [`Waiter`] that lives in the blocked caller's own frame (or in a select
//! arm's box) and is linked into the list while queued, like Go's `sudog`:
//! blocking allocates nothing.
//!
//! Ownership rules of a waiter:
//!
//! 1. `prev`, `next`, `queued`: only under the lock that guards the list.
//! 2. `slot`: the owner fills it before queueing (a send) and reads it once
//!    it has seen `done != PENDING` (acquire). A partner touches it only
//!    under the lock, after unlinking the waiter, and then publishes `done`
//!    (release).
//! 3. `waker` and `select` are set before queueing and never change.
//! 4. The owner never frees a queued waiter: it waits for `done`, or removes
//!    the waiter under the lock first ([`Unqueue`], which also runs when the
//!    owner unwinds at shutdown).
//! 5. A partner clones the waker before publishing `done` (from then on the
//!    owner may free the waiter) and wakes the clone after unlocking.
//!
//! Select arms add one more step: a waiter with `select` set may only be
//! completed by whoever wins the select's word (select.rs); a partner skips
//! a select that is busy trying another arm, and drops one that is decided.

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

use super::select::{Claim, SelectShared};

/// Not completed yet.
pub(crate) const PENDING: u8 = 0;
/// Completed: the value was handed over (or, for a Mutex, the lock).
pub(crate) const COMPLETED: u8 = 1;
/// The other side is gone (channel disconnected).
pub(crate) const CLOSED: u8 = 2;

/// One blocked caller.
pub(crate) struct Waiter<T> {
    prev: Cell<Option<NonNull<Waiter<T>>>>,
    next: Cell<Option<NonNull<Waiter<T>>>>,
    queued: Cell<bool>,
    slot: UnsafeCell<Option<T>>,
    done: AtomicU8,
    waker: Waker,
    select: Option<(NonNull<SelectShared>, usize)>,
}

// SAFETY: the Cells and the slot are only touched under the list's lock or
// by the owner after `done` (rules 1–2); the value is Send.
unsafe impl<T: Send> Sync for Waiter<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Waiter<T> {}

impl<T> Waiter<T> {
    /// A waiter that wakes `waker`, holding `value` (a send) or nothing.
    pub(crate) fn new(waker: Waker, value: Option<T>) -> Self {
        Self::for_select(waker, value, None)
    }

    /// A waiter for arm `select.1` of a select.
    pub(crate) fn for_select(
        waker: Waker,
        value: Option<T>,
        select: Option<(NonNull<SelectShared>, usize)>,
    ) -> Self {
        Self {
            prev: Cell::new(None),
            next: Cell::new(None),
            queued: Cell::new(false),
            slot: UnsafeCell::new(value),
            done: AtomicU8::new(PENDING),
            waker,
            select,
        }
    }

    /// The outcome so far (owner; acquire).
    pub(crate) fn state(&self) -> u8 {
        self.done.load(Ordering::Acquire)
    }

    /// Takes the slot's value (owner, after `done`; or under the lock).
    pub(crate) fn take_value(&self) -> Option<T> {
        // SAFETY: rule 2: called by the owner after `done`, or by the owner
        // of an unqueued waiter, or under the lock by a partner.
        unsafe { (*self.slot.get()).take() }
    }

    /// Partner, under the lock, on a waiter it unlinked: fills the slot.
    ///
    /// # Safety
    ///
    /// `w` was unlinked by the caller under the list's lock, which is held.
    pub(crate) unsafe fn put_value(w: NonNull<Self>, v: T) {
        // SAFETY: rule 2 and the caller's guarantee.
        unsafe { *w.as_ref().slot.get() = Some(v) };
    }

    /// Partner, under the lock, on a waiter it unlinked: publishes `how` and
    /// returns the waker to wake once the lock is released (rule 5).
    ///
    /// # Safety
    ///
    /// As for [`put_value`](Self::put_value); `w` must not be used after.
    pub(crate) unsafe fn complete(w: NonNull<Self>, how: u8) -> Waker {
        // SAFETY: the waiter is alive until `done` is published (rule 4).
        let w = unsafe { w.as_ref() };
        let waker = w.waker.clone();
        w.done.store(how, Ordering::Release);
        waker
    }

    /// Whether a partner may complete this waiter now.
    fn claim(&self) -> Claim {
        match self.select {
            None => Claim::Won,
            // SAFETY: rule 3: a select outlives its queued waiters.
            Some((sel, arm)) => unsafe { sel.as_ref() }.claim(arm),
        }
    }
}

/// A FIFO of waiters, guarded by its owner's lock.
pub(crate) struct WaitList<T> {
    head: Option<NonNull<Waiter<T>>>,
    tail: Option<NonNull<Waiter<T>>>,
}

// SAFETY: only used under its owner's lock; the waiters are Send.
unsafe impl<T: Send> Send for WaitList<T> {}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        Self {
            head: None,
            tail: None,
        }
    }
}

impl<T> WaitList<T> {
    /// Whether no waiter is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Queues `w` at the back.
    ///
    /// # Safety
    ///
    /// The list's lock is held, `w` is not queued anywhere, and its owner
    /// keeps it in place and alive until it is unlinked (rule 4).
    pub(crate) unsafe fn push_back(&mut self, w: NonNull<Waiter<T>>) {
        // SAFETY: the caller's guarantees; links are ours under the lock.
        let wr = unsafe { w.as_ref() };
        wr.prev.set(self.tail);
        wr.next.set(None);
        wr.queued.set(true);
        match self.tail {
            // SAFETY: queued waiters are alive (rule 4).
            Some(t) => unsafe { t.as_ref() }.next.set(Some(w)),
            None => self.head = Some(w),
        }
        self.tail = Some(w);
    }

    /// Unlinks `w` if it is queued; false if it was not.
    ///
    /// # Safety
    ///
    /// The list's lock is held and `w` is alive and either queued in this
    /// list or in none.
    pub(crate) unsafe fn remove(&mut self, w: NonNull<Waiter<T>>) -> bool {
        // SAFETY: the caller's guarantees.
        let wr = unsafe { w.as_ref() };
        if !wr.queued.get() {
            return false;
        }
        match wr.prev.get() {
            // SAFETY: neighbours of a queued waiter are queued, hence alive.
            Some(p) => unsafe { p.as_ref() }.next.set(wr.next.get()),
            None => self.head = wr.next.get(),
        }
        match wr.next.get() {
            // SAFETY: as above.
            Some(n) => unsafe { n.as_ref() }.prev.set(wr.prev.get()),
            None => self.tail = wr.prev.get(),
        }
        wr.queued.set(false);
        true
    }

    /// Unlinks and returns the first waiter a partner may complete: plain
    /// waiters always, select arms whose select it wins. Arms of decided
    /// selects are dropped from the list; arms of busy ones are skipped.
    pub(crate) fn pop_claimed(&mut self) -> Option<NonNull<Waiter<T>>> {
        let mut cur = self.head;
        while let Some(w) = cur {
            // SAFETY: queued waiters are alive (rule 4); we hold the lock.
            let wr = unsafe { w.as_ref() };
            cur = wr.next.get();
            match wr.claim() {
                Claim::Busy => continue,
                // SAFETY: `w` is queued here, under our lock.
                Claim::Decided => unsafe {
                    self.remove(w);
                },
                Claim::Won => {
                    // SAFETY: as above.
                    unsafe { self.remove(w) };
                    return Some(w);
                }
            }
        }
        None
    }

    /// Completes every claimable waiter with `how` (closing); returns their
    /// wakers, to wake after unlocking.
    pub(crate) fn drain(&mut self, how: u8) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while let Some(w) = self.pop_claimed() {
            // SAFETY: just unlinked under the lock.
            wakers.push(unsafe { Waiter::complete(w, how) });
        }
        wakers
    }
}

/// Removes a waiter from its list when dropped, unless disarmed (rule 4).
pub(crate) struct Unqueue<F: FnMut()>(pub(crate) Option<F>);

impl<F: FnMut()> Unqueue<F> {
    /// The waiter was completed: nothing to remove.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl<F: FnMut()> Drop for Unqueue<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.as_mut() {
            f();
        }
    }
}

/// Parks until `w` is completed; if the park unwinds (shutdown), `unqueue`
/// removes the waiter under its lock on the way out. Returns the outcome.
pub(crate) fn block_on<T>(w: &Waiter<T>, unqueue: impl FnMut()) -> u8 {
    let guard = Unqueue(Some(unqueue));
    loop {
        let s = w.state();
        if s != PENDING {
            guard.disarm();
            return s;
        }
        crate::park::park();
    }
}
