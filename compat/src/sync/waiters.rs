//! The waiter queue every primitive of `sync` shares: a FIFO of parked
//! futures, kept in an arena so that safe code can unlink any of them in O(1).
//!
//! A waiting future cannot be linked into an intrusive list without `unsafe`
//! (its address is not stable until pinned, and the list would have to point
//! into it). So the list lives beside the primitive's state instead, inside
//! its lock: a `Vec` of slots, each either free (threaded on a free list) or
//! holding one waiter — its waker, the primitive's per-waiter data `W` (the
//! request, then the grant), and `prev`/`next` indices forming a doubly
//! linked FIFO. The future keeps only its [`WaiterKey`], an index.
//!
//! ```text
//!   head ──► [3] ◄──► [0] ◄──► [5] ◄── tail      linked: waiting, in FIFO order
//!            [1]  granted (unlinked, still owned by its future)
//!            [2] ─► [4] ─► NIL                   free list
//! ```
//!
//! Ownership rules:
//! 1. Only the future that inserted a slot frees it ([`Waiters::remove`]),
//!    on completion or in its `Drop`. So a key is never reused while its
//!    future holds it, and no generation check is needed.
//! 2. A granter (whoever releases a permit, sends, notifies) takes a waiter
//!    off the front with [`Waiters::pop_front`]: the slot is unlinked but
//!    stays allocated, the granter writes the grant into its data and wakes
//!    its waker. The future finds the grant at its next poll — or in `Drop`,
//!    and then passes it on.
//! 3. Every method runs under the primitive's lock; wakers are only woken
//!    after it is released (see [`WakeList`]).
//!
//! Cost: insert, pop and unlink are O(1) and allocate only when the arena
//! grows past its largest size so far; the arena never shrinks (its size is
//! the most waiters that were ever parked at once).
//!
//! # How the `sync` primitives use it
//!
//! Every `sync` type is `Send + Sync` and engine-neutral: it parks a task by
//! storing its [`std::task::Waker`] and wakes it through that waker, nothing
//! else. In single mode the waker pushes the task on the loop's ready queue;
//! in mn mode it may make a task runnable on another OS thread. So the state
//! of each primitive sits behind one `std::sync::Mutex`, held for a few
//! dozen instructions and never across user code or a wake.
//!
//! # The waiter protocol
//!
//! Each primitive keeps its parked futures in a FIFO (this module's
//! [`Waiters`]) and follows the same steps:
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

use std::task::Waker;

/// No slot: the end of a list.
const NIL: u32 = u32::MAX;

/// Names one waiter's slot; held by the waiting future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaiterKey(u32);

/// One slot of the arena.
enum Slot<W> {
    /// Free; the next free slot.
    Free(u32),
    /// Owned by a waiting (or granted) future.
    Used(Node<W>),
}

/// A waiter.
struct Node<W> {
    /// Neighbours in the FIFO, when linked.
    prev: u32,
    next: u32,
    /// In the FIFO (still waiting) rather than granted.
    linked: bool,
    /// Whom to wake on a grant. `None` once a granter has taken it.
    waker: Option<Waker>,
    /// The primitive's own per-waiter state: request, then grant.
    data: W,
}

/// A FIFO of waiters, see the module documentation.
pub(crate) struct Waiters<W> {
    slots: Vec<Slot<W>>,
    /// First free slot, or `NIL`.
    free: u32,
    /// Oldest and newest linked waiter, or `NIL`.
    head: u32,
    tail: u32,
    /// Linked waiters.
    len: usize,
}

impl<W> Waiters<W> {
    /// An empty queue; allocates nothing until the first waiter.
    pub(crate) const fn new() -> Self {
        Waiters {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// No waiter is linked (granted slots do not count).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// How many waiters are linked.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Parks a new waiter at the back of the queue.
    pub(crate) fn push_back(&mut self, data: W, waker: &Waker) -> WaiterKey {
        // Clone first: user code (a foreign waker's clone) runs before any
        // field changes, so a panic there leaves the queue consistent.
        let node = Node {
            prev: self.tail,
            next: NIL,
            linked: true,
            waker: Some(waker.clone()),
            data,
        };
        let index = if self.free != NIL {
            let index = self.free;
            let Slot::Free(next) = self.slots[index as usize] else {
                unreachable!("the free list holds free slots only")
            };
            self.free = next;
            self.slots[index as usize] = Slot::Used(node);
            index
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("switchyard: more than 2^32 - 1 waiters on one primitive");
            self.slots.push(Slot::Used(node));
            index
        };
        if self.tail == NIL {
            self.head = index;
        } else {
            self.node_mut(self.tail).next = index;
        }
        self.tail = index;
        self.len += 1;
        WaiterKey(index)
    }

    /// The oldest linked waiter.
    #[inline]
    pub(crate) fn front(&self) -> Option<WaiterKey> {
        (self.head != NIL).then_some(WaiterKey(self.head))
    }

    /// Rule 2: unlinks the oldest waiter; its slot stays with its future.
    pub(crate) fn pop_front(&mut self) -> Option<WaiterKey> {
        let key = self.front()?;
        self.unlink(key);
        Some(key)
    }

    /// Takes a waiter out of the queue, wherever it is; no-op if unlinked.
    pub(crate) fn unlink(&mut self, key: WaiterKey) {
        let node = self.node_mut(key.0);
        if !node.linked {
            return;
        }
        node.linked = false;
        let (prev, next) = (node.prev, node.next);
        if prev == NIL {
            self.head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
        self.len -= 1;
    }

    /// Whether the waiter is still queued (not yet granted).
    #[inline]
    pub(crate) fn is_linked(&self, key: WaiterKey) -> bool {
        self.node(key.0).linked
    }

    /// The waiter's data.
    #[inline]
    pub(crate) fn data(&self, key: WaiterKey) -> &W {
        &self.node(key.0).data
    }

    /// The waiter's data, to write a grant into.
    #[inline]
    pub(crate) fn data_mut(&mut self, key: WaiterKey) -> &mut W {
        &mut self.node_mut(key.0).data
    }

    /// Takes the waiter's waker, to wake it once the lock is released.
    #[inline]
    pub(crate) fn take_waker(&mut self, key: WaiterKey) -> Option<Waker> {
        self.node_mut(key.0).waker.take()
    }

    /// Re-arms the waiter with the waker of its latest poll; no clone if the
    /// stored one would wake the same task.
    #[inline]
    pub(crate) fn register(&mut self, key: WaiterKey, waker: &Waker) {
        let node = self.node_mut(key.0);
        match &node.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => node.waker = Some(waker.clone()),
        }
    }

    /// Rule 1: frees the waiter's slot (unlinking it if still queued) and
    /// returns its data. The caller drops the data after releasing the lock
    /// if it may hold user values.
    pub(crate) fn remove(&mut self, key: WaiterKey) -> W {
        self.unlink(key);
        let slot = std::mem::replace(&mut self.slots[key.0 as usize], Slot::Free(self.free));
        self.free = key.0;
        match slot {
            Slot::Used(node) => node.data,
            Slot::Free(_) => unreachable!("a waiter key names a used slot"),
        }
    }

    fn node(&self, index: u32) -> &Node<W> {
        match &self.slots[index as usize] {
            Slot::Used(node) => node,
            Slot::Free(_) => unreachable!("a waiter key names a used slot"),
        }
    }

    fn node_mut(&mut self, index: u32) -> &mut Node<W> {
        match &mut self.slots[index as usize] {
            Slot::Used(node) => node,
            Slot::Free(_) => unreachable!("a waiter key names a used slot"),
        }
    }
}

impl<W> Default for Waiters<W> {
    fn default() -> Self {
        Waiters::new()
    }
}

/// Wakers collected under a lock and woken after it is released, so a waker
/// never runs (in mn mode: never makes another thread run) while the lock is
/// held. Allocates only from the second waker on.
#[derive(Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker, if any.
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everyone, in the order they were pushed.
    pub(crate) fn wake_all(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_in_order<W>(q: &Waiters<W>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = q.head;
        while i != NIL {
            out.push(i);
            i = q.node(i).next;
        }
        out
    }

    #[test]
    fn fifo_with_unlink_from_the_middle_and_slot_reuse() {
        let w = Waker::noop();
        let mut q = Waiters::new();
        let a = q.push_back('a', w);
        let b = q.push_back('b', w);
        let c = q.push_back('c', w);
        assert_eq!(q.len(), 3);
        q.remove(b);
        assert_eq!(keys_in_order(&q), vec![a.0, c.0]);
        let d = q.push_back('d', w);
        assert_eq!(d, b, "the freed slot is reused");
        assert_eq!(q.pop_front(), Some(a));
        assert!(!q.is_linked(a));
        assert_eq!(*q.data(a), 'a');
        assert_eq!(keys_in_order(&q), vec![c.0, d.0]);
        q.remove(d);
        q.remove(c);
        assert!(q.is_empty());
        assert_eq!(q.remove(a), 'a');
        assert_eq!((q.head, q.tail, q.len()), (NIL, NIL, 0));
    }

    #[test]
    fn register_keeps_an_equivalent_waker() {
        let mut q = Waiters::new();
        let k = q.push_back((), Waker::noop());
        q.register(k, Waker::noop());
        assert!(q.take_waker(k).is_some());
        assert!(q.take_waker(k).is_none());
        q.register(k, Waker::noop());
        assert!(q.take_waker(k).is_some());
    }
}
