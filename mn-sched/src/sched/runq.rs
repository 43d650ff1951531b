//! A P's local run queue: a lock-free ring of [`RUNQ_SIZE`] slots that only
//! the P's holder pushes to, plus `runnext`, after Go's `runq`.
//!
//! `head` and `tail` are free-running `u32` counters (slot = counter mod
//! size; `tail - head` is the length, even across wrap-around).
//!
//! Ownership rules:
//!
//! 1. Only the owner (the M holding the P) writes `tail`, and writes slots
//!    only in `[tail, head + SIZE)`, i.e. slots no consumer may claim yet.
//! 2. Anyone advances `head` with a CAS: the owner to pop one, a thief to
//!    take half. A slot is read *before* the CAS that claims it; if the CAS
//!    fails the read is thrown away (the slots are atomics, so a stale read
//!    is harmless).
//! 3. A thief copies the batch into its own ring above its own `tail` (its
//!    ring is empty, rule 1 holds for it) and publishes it with one store.
//! 4. `runnext` is set only by the owner (swap); the owner takes it first
//!    when it pops; a thief may CAS it away only in its last stealing round,
//!    and only after waiting ~3 µs if the victim is running, so a ping-pong
//!    pair keeps its P (the woken G inherits the waker's time slice).
//!
//! Orderings: slot writes are published by the release store of `tail` and
//! read after an acquire load of it; the CAS on `head` is acquire-release, so
//! a consumer's reads of a slot happen before the owner overwrites it (the
//! owner loads `head` with acquire before writing).
//!
//! Overflow: when the ring is full the owner moves half of it, plus the new
//! G, to the global queue in one batch (`push_back`'s `overflow` sink).

use std::ptr::NonNull;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::loom::{spin_loop, AtomicPtr, AtomicU32};

/// Slots in the ring (4 under loom, to keep the model small).
pub(crate) const RUNQ_SIZE: usize = if cfg!(loom) { 4 } else { 256 };
const SIZE: u32 = RUNQ_SIZE as u32;

/// The ring and `runnext` of one P.
pub(crate) struct RunQueue<T> {
    head: AtomicU32,
    tail: AtomicU32,
    buf: Box<[AtomicPtr<T>]>,
    runnext: AtomicPtr<T>,
    /// No thief can exist (the runtime has one P, and a thief steals into
    /// its own P's ring): the owner's `pop` needs no CAS.
    solo: bool,
}

impl<T> RunQueue<T> {
    /// An empty queue that thieves may take from.
    #[cfg(all(test, loom))]
    pub(crate) fn new() -> Self {
        Self::with_thieves(true)
    }

    /// An empty queue; `thieves: false` promises that only its owner ever
    /// takes from it (a runtime with one P).
    pub(crate) fn with_thieves(thieves: bool) -> Self {
        Self {
            solo: !thieves,
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            buf: (0..RUNQ_SIZE)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            runnext: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn slot(&self, i: u32) -> &AtomicPtr<T> {
        &self.buf[(i % SIZE) as usize]
    }

    /// Number of queued Gs, `runnext` included (a racy snapshot).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Acquire);
        let tail = self.tail.load(Acquire);
        let ring = tail.wrapping_sub(head).min(SIZE) as usize;
        ring + usize::from(!self.runnext.load(Acquire).is_null())
    }

    /// For the task dump: what is queued, `runnext` first, then the ring
    /// from head to tail.
    ///
    /// # Safety
    ///
    /// Nobody pushes, pops or steals meanwhile (every M holding a P is
    /// stopped at a safe point: observe.rs), so every entry is a queued,
    /// live G.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn snapshot(&self) -> Vec<NonNull<T>> {
        let mut out: Vec<NonNull<T>> = NonNull::new(self.runnext.load(Acquire))
            .into_iter()
            .collect();
        let head = self.head.load(Acquire);
        let tail = self.tail.load(Acquire);
        let mut i = head;
        while i != tail && out.len() <= RUNQ_SIZE {
            out.extend(NonNull::new(self.slot(i).load(Acquire)));
            i = i.wrapping_add(1);
        }
        out
    }

    /// Whether nothing is queued (a racy snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring (`runnext` aside) is empty: what thieves can take
    /// without waiting (a racy snapshot, acquire loads).
    pub(crate) fn ring_is_empty(&self) -> bool {
        self.head.load(Acquire) == self.tail.load(Acquire)
    }

    /// Owner: puts `g` at the tail; if the ring is full, passes half of it
    /// and then `g` to `overflow` (for the global queue).
    ///
    /// # Safety
    ///
    /// Only the queue's owner calls the `unsafe fn`s of this type, one at a
    /// time (rule 1).
    pub(crate) unsafe fn push_back(&self, g: NonNull<T>, overflow: &mut dyn FnMut(NonNull<T>)) {
        // SAFETY: forwarded from the caller.
        if !unsafe { self.try_push_back(g) } {
            // SAFETY: as above.
            unsafe { self.push_back_slow(g, overflow) };
        }
    }

    /// Owner: the fast path of `push_back`; false if the ring is full.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back).
    #[inline(always)]
    pub(crate) unsafe fn try_push_back(&self, g: NonNull<T>) -> bool {
        let head = self.head.load(Acquire);
        let tail = self.tail.load(Relaxed);
        if tail.wrapping_sub(head) >= SIZE {
            return false;
        }
        self.slot(tail).store(g.as_ptr(), Relaxed);
        self.tail.store(tail.wrapping_add(1), Release);
        true
    }

    /// Owner: `push_back` when the ring looked full.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back).
    #[cold]
    unsafe fn push_back_slow(&self, g: NonNull<T>, overflow: &mut dyn FnMut(NonNull<T>)) {
        loop {
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Relaxed);
            if tail.wrapping_sub(head) < SIZE {
                self.slot(tail).store(g.as_ptr(), Relaxed);
                self.tail.store(tail.wrapping_add(1), Release);
                return;
            }
            // SAFETY: we are the owner (the caller's guarantee).
            if unsafe { self.push_overflow(g, head, tail, overflow) } {
                return;
            }
            spin_loop();
        }
    }

    /// Owner, ring full: claims half the ring with one CAS and hands it, then
    /// `g`, to `overflow`. False if a thief moved `head` first.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back).
    unsafe fn push_overflow(
        &self,
        g: NonNull<T>,
        head: u32,
        tail: u32,
        overflow: &mut dyn FnMut(NonNull<T>),
    ) -> bool {
        let n = tail.wrapping_sub(head) / 2;
        if self
            .head
            .compare_exchange(head, head.wrapping_add(n), AcqRel, Relaxed)
            .is_err()
        {
            return false;
        }
        // Claimed: only the owner writes slots (rule 1), so they still hold
        // what they held at the CAS.
        for i in 0..n {
            let p = self.slot(head.wrapping_add(i)).load(Relaxed);
            overflow(NonNull::new(p).expect("claimed slot holds a G"));
        }
        overflow(g);
        true
    }

    /// Owner: makes `g` the next G to run; returns the G it displaced, which
    /// the caller must push to the tail.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back).
    pub(crate) unsafe fn put_next(&self, g: NonNull<T>) -> Option<NonNull<T>> {
        NonNull::new(self.runnext.swap(g.as_ptr(), AcqRel))
    }

    /// Owner: takes `runnext` if set, else the head of the ring.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back).
    pub(crate) unsafe fn pop(&self) -> Option<NonNull<T>> {
        if !self.runnext.load(Relaxed).is_null() {
            if let Some(g) = NonNull::new(self.runnext.swap(std::ptr::null_mut(), Acquire)) {
                return Some(g);
            }
        }
        if self.solo {
            let head = self.head.load(Relaxed);
            if head == self.tail.load(Relaxed) {
                return None;
            }
            let g = self.slot(head).load(Relaxed);
            // Release: the dump's snapshot (under its stop) reads head.
            self.head.store(head.wrapping_add(1), Release);
            return NonNull::new(g);
        }
        loop {
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Relaxed);
            if head == tail {
                return None;
            }
            let g = self.slot(head).load(Relaxed);
            if self
                .head
                .compare_exchange(head, head.wrapping_add(1), AcqRel, Relaxed)
                .is_ok()
            {
                return NonNull::new(g);
            }
            spin_loop();
        }
    }

    /// Thief: moves about half of `victim`'s ring into this (empty) ring and
    /// returns one G to run now. With `steal_next`, takes `victim`'s runnext
    /// if its ring is empty, after calling `wait` (rule 4).
    ///
    /// # Safety
    ///
    /// The caller is this queue's owner (not `victim`'s) and this ring is
    /// empty.
    pub(crate) unsafe fn steal_from(
        &self,
        victim: &RunQueue<T>,
        steal_next: bool,
        wait: &dyn Fn(),
    ) -> Option<NonNull<T>> {
        let tail = self.tail.load(Relaxed);
        let n = self.grab(victim, tail, steal_next, wait);
        if n == 0 {
            return None;
        }
        let last = n - 1;
        let g = NonNull::new(self.slot(tail.wrapping_add(last)).load(Relaxed));
        if last > 0 {
            debug_assert!(tail.wrapping_sub(self.head.load(Acquire)) + last <= SIZE);
            self.tail.store(tail.wrapping_add(last), Release);
        }
        g
    }

    /// Copies a batch from `victim` into our slots from `dst_tail` on and
    /// claims it (rule 2–3); returns how many.
    fn grab(&self, victim: &RunQueue<T>, dst_tail: u32, steal_next: bool, wait: &dyn Fn()) -> u32 {
        loop {
            let head = victim.head.load(Acquire);
            let tail = victim.tail.load(Acquire);
            let avail = tail.wrapping_sub(head);
            let n = avail - avail / 2;
            if n == 0 {
                return u32::from(steal_next && self.grab_next(victim, dst_tail, wait));
            }
            if n > SIZE / 2 {
                // head and tail read at different moments: inconsistent.
                spin_loop();
                continue;
            }
            for i in 0..n {
                let p = victim.slot(head.wrapping_add(i)).load(Relaxed);
                self.slot(dst_tail.wrapping_add(i)).store(p, Relaxed);
            }
            if victim
                .head
                .compare_exchange(head, head.wrapping_add(n), AcqRel, Relaxed)
                .is_ok()
            {
                return n;
            }
            spin_loop();
        }
    }

    /// Takes `victim`'s runnext into our slot `dst_tail` (rule 4).
    fn grab_next(&self, victim: &RunQueue<T>, dst_tail: u32, wait: &dyn Fn()) -> bool {
        let next = victim.runnext.load(Acquire);
        if next.is_null() {
            return false;
        }
        wait();
        if victim
            .runnext
            .compare_exchange(next, std::ptr::null_mut(), AcqRel, Relaxed)
            .is_err()
        {
            return false;
        }
        self.slot(dst_tail).store(next, Relaxed);
        true
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn item(v: usize) -> NonNull<usize> {
        NonNull::from(Box::leak(Box::new(v)))
    }

    fn take(p: NonNull<usize>) -> usize {
        // SAFETY: every pointer in these tests comes from `item` and is
        // taken exactly once (which is what the tests check).
        *unsafe { Box::from_raw(p.as_ptr()) }
    }

    /// The owner pushes 6 items into a 4-slot ring (overflowing once) and
    /// pops; a thief steals into its own queue. Every item is seen exactly once.
    #[test]
    fn loom_runq_push_pop_steal() {
        loom::model(|| {
            let victim = Arc::new(RunQueue::<usize>::new());
            let thief = thread::spawn({
                let victim = victim.clone();
                move || {
                    let mine = RunQueue::<usize>::new();
                    let mut got = Vec::new();
                    // SAFETY: this thread owns `mine`; its ring is empty.
                    if let Some(g) = unsafe { mine.steal_from(&victim, false, &|| ()) } {
                        got.push(take(g));
                        // SAFETY: we own `mine`.
                        while let Some(g) = unsafe { mine.pop() } {
                            got.push(take(g));
                        }
                    }
                    got
                }
            });
            let mut seen = Vec::new();
            let mut overflow = Vec::new();
            for v in 0..6 {
                // SAFETY: this thread owns `victim`.
                unsafe { victim.push_back(item(v), &mut |g| overflow.push(g)) };
            }
            // SAFETY: as above.
            while let Some(g) = unsafe { victim.pop() } {
                seen.push(take(g));
            }
            seen.extend(overflow.into_iter().map(take));
            seen.extend(thief.join().unwrap());
            seen.sort_unstable();
            assert_eq!(seen, (0..6).collect::<Vec<_>>());
        });
    }

    /// runnext stolen in the last round races with the owner's pop: the item
    /// goes to exactly one of them, and the displaced runnext is kept.
    #[test]
    fn loom_runq_runnext() {
        loom::model(|| {
            let victim = Arc::new(RunQueue::<usize>::new());
            // SAFETY: the main thread owns `victim`.
            unsafe {
                assert!(victim.put_next(item(0)).is_none());
                let kicked = victim.put_next(item(1)).expect("displaced runnext");
                victim.push_back(kicked, &mut |_| unreachable!());
            }
            let thief = thread::spawn({
                let victim = victim.clone();
                move || {
                    let mine = RunQueue::<usize>::new();
                    let mut got = Vec::new();
                    // SAFETY: this thread owns `mine`, which is empty.
                    if let Some(g) = unsafe { mine.steal_from(&victim, true, &|| ()) } {
                        got.push(take(g));
                    }
                    got
                }
            });
            let mut seen = Vec::new();
            // SAFETY: the main thread owns `victim`.
            while let Some(g) = unsafe { victim.pop() } {
                seen.push(take(g));
            }
            seen.extend(thief.join().unwrap());
            seen.sort_unstable();
            assert_eq!(seen, vec![0, 1]);
        });
    }
}
