//! [`JoinSet`]: a set of spawned tasks whose outputs come back in the order
//! the tasks finish, the same in every mode (tokio's `JoinSet`).
//!
//! How it works, without `unsafe`: each task's [`JoinHandle`] sits in a
//! slot of the set with a waker of its own (an `Arc<Member>`, turned into a
//! `Waker` through `std::task::Wake`). The handle is only ever polled with
//! that waker, so when the engine wakes it (the task finished, panicked or
//! was aborted) the member appends its `(slot, generation)` to the set's
//! *notified* queue and wakes whoever waits in `join_next`. `join_next`
//! pops the queue in order and polls just those handles: a call costs
//! O(1) amortised whatever the set's size, and outputs come back in the
//! order the tasks finished. A newly spawned task starts in the queue, so
//! its handle is polled once to install the waker.
//!
//! Rules:
//! 1. A member is in the queue at most once: its `queued` flag is set by
//!    the wake that queues it and cleared just before its handle is polled,
//!    so a wake during that poll queues it again.
//! 2. A member leaving the set (joined, detached, dropped) keeps `queued`
//!    set for good, so a late wake from the engine does nothing; a wake
//!    already on its way (on another thread) queues a key whose slot is
//!    gone or holds another generation, and the key is skipped.
//! 3. `join_next` spends one unit of the task's cooperative budget, then
//!    polls the notified handles outside the budget (each would spend a
//!    unit, and a spent budget would make finished tasks look pending), at
//!    most [`POLLS_PER_CALL`] of them; if more remain it yields.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};

use super::{JoinError, JoinHandle};
use crate::coop::{self, WaitReason};

/// Handles one `join_next` call polls at most before it yields (as many
/// operations as a task may do in one poll before the budget makes it
/// yield).
const POLLS_PER_CALL: usize = 128;

/// A set of tasks spawned on the current runtime, joined in the order they
/// finish.
///
/// [`spawn`](JoinSet::spawn) starts a task in the set;
/// [`join_next`](JoinSet::join_next) waits for the next one to finish and
/// gives its output (`Err` if it panicked or was aborted), or `None` once
/// the set is empty. Dropping the set aborts every task still in it (use
/// [`detach_all`](JoinSet::detach_all) to let them run on).
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use std::time::Duration;
/// use switchyard::JoinSet;
///
/// let mut set = JoinSet::new();
/// for ms in [30u64, 10, 20] {
///     set.spawn(async move {
///         switchyard::time::sleep(Duration::from_millis(ms)).await;
///         ms
///     });
/// }
/// let mut total = 0;
/// while let Some(out) = set.join_next().await {
///     total += out.unwrap(); // Err(JoinError) if the task panicked
/// }
/// assert_eq!(total, 60);
/// assert!(set.is_empty());
/// # });
/// ```
pub struct JoinSet<T> {
    /// Members by slot; `None` is a free slot (listed in `free`).
    slots: Vec<Option<Slot<T>>>,
    /// Free slots, reused last-freed first.
    free: Vec<usize>,
    /// Occupied slots.
    len: usize,
    /// The generation the next member gets (never reused).
    next_generation: u64,
    /// The notified queue and the waiting task's waker.
    notified: Arc<Notified>,
}

/// One task of the set.
struct Slot<T> {
    handle: JoinHandle<T>,
    member: Arc<Member>,
    /// `member` as a `Waker`, made once: the only waker the handle sees.
    waker: Waker,
}

/// The state members and the set share.
struct Notified {
    state: Mutex<Queue>,
}

/// The notified queue under its lock.
struct Queue {
    /// Members to poll, as (slot, generation), in the order they were woken.
    keys: VecDeque<(usize, u64)>,
    /// The task waiting in `join_next`; taken by the wake that queues a
    /// member.
    waker: Option<Waker>,
}

impl Notified {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Only plain pushes and pops run under this lock: a poisoned one
        // (a foreign waker panicked elsewhere) still holds a valid queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A member's waker: queues its slot (rule 1).
struct Member {
    notified: Arc<Notified>,
    slot: usize,
    generation: u64,
    queued: AtomicBool,
}

impl Wake for Member {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let waker = {
            let mut q = self.notified.lock();
            q.keys.push_back((self.slot, self.generation));
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// let set = switchyard::JoinSet::<()>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        JoinSet {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            next_generation: 0,
            notified: Arc::new(Notified {
                state: Mutex::new(Queue {
                    keys: VecDeque::new(),
                    waker: None,
                }),
            }),
        }
    }

    /// Tasks in the set: spawned and not yet joined (finished tasks whose
    /// output was not taken count).
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async { 1 });
    /// set.spawn(async { 2 });
    /// assert_eq!(set.len(), 2);
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no task.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async {});
    /// set.join_next().await;
    /// assert!(set.is_empty());
    /// # });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Aborts every task in the set. They stay in it: `join_next` gives
    /// each one's result, `Err` with [`JoinError::is_cancelled`] for those
    /// that had not finished.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(std::future::pending::<()>());
    /// set.abort_all();
    /// assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn abort_all(&mut self) {
        for slot in self.slots.iter().flatten() {
            slot.handle.abort();
        }
    }

    /// Removes every task from the set without aborting it: each runs on
    /// and its output is dropped.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let (tx, rx) = switchyard::sync::oneshot::channel();
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async move { tx.send(7).unwrap() });
    /// set.detach_all();
    /// assert!(set.is_empty());
    /// assert_eq!(rx.await.unwrap(), 7, "the task ran on");
    /// # });
    /// ```
    pub fn detach_all(&mut self) {
        for slot in self.slots.drain(..).flatten() {
            // Rule 2: a later wake of this member does nothing.
            slot.member.queued.store(true, Ordering::Release);
        }
        self.free.clear();
        self.len = 0;
        self.notified.lock().keys.clear();
    }

    /// Adds a spawned task's handle; it starts in the notified queue so
    /// that its handle is polled once, with the member's waker.
    fn insert(&mut self, handle: JoinHandle<T>) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let generation = self.next_generation;
        self.next_generation += 1;
        let member = Arc::new(Member {
            notified: self.notified.clone(),
            slot,
            generation,
            queued: AtomicBool::new(true),
        });
        let waker = Waker::from(member.clone());
        self.slots[slot] = Some(Slot {
            handle,
            member,
            waker,
        });
        self.len += 1;
        self.notified.lock().keys.push_back((slot, generation));
    }

    /// Takes a member out of the set (rule 2).
    fn remove(&mut self, slot: usize) -> Option<Slot<T>> {
        let s = self.slots[slot].take()?;
        s.member.queued.store(true, Ordering::Release);
        self.free.push(slot);
        self.len -= 1;
        Some(s)
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Starts `future` as a task on the current runtime (as
    /// [`spawn`](crate::spawn)) and adds it to the set.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async { "done" });
    /// assert_eq!(set.join_next().await.unwrap().unwrap(), "done");
    /// # });
    /// ```
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let handle = crate::spawn(future);
        self.insert(handle);
    }

    /// Waits for the next task of the set to finish and gives its result:
    /// `Ok(output)`, or `Err` if it panicked or was aborted. `None` once the
    /// set is empty. Tasks come back in the order they finished.
    ///
    /// Cancel-safe: dropping the future loses no task's output (the task
    /// stays in the set).
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async { panic!("boom") });
    /// let err = set.join_next().await.unwrap().unwrap_err();
    /// assert!(err.is_panic());
    /// assert!(set.join_next().await.is_none());
    /// # });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next finished task (for hand-written futures): as
    /// [`join_next`](JoinSet::join_next).
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async { 5 });
    /// let out = std::future::poll_fn(|cx| set.poll_join_next(cx)).await;
    /// assert_eq!(out.unwrap().unwrap(), 5);
    /// # });
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        // Rule 3: one unit for the call.
        ready!(coop::poll_proceed(cx));
        {
            let mut q = self.notified.lock();
            match &q.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => q.waker = Some(cx.waker().clone()),
            }
        }
        if let Some(out) = self.poll_notified(POLLS_PER_CALL) {
            return Poll::Ready(Some(out));
        }
        if !self.notified.lock().keys.is_empty() {
            // More members to look at than one call polls: yield, and go on
            // at the next poll.
            cx.waker().wake_by_ref();
        }
        coop::wait(WaitReason::Join)
    }

    /// The result of a task of the set that has finished, if there is one
    /// now; `None` if none has (or the set is empty). Never waits.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// set.spawn(async { 3 });
    /// let mut out = None;
    /// while out.is_none() {
    ///     switchyard::yield_now().await;
    ///     out = set.try_join_next();
    /// }
    /// assert_eq!(out.unwrap().unwrap(), 3);
    /// # });
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        if self.len == 0 {
            return None;
        }
        let queued = self.notified.lock().keys.len();
        self.poll_notified(queued)
    }

    /// Aborts every task and waits until each has stopped (its future
    /// dropped); the set is empty after. Outputs are dropped.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// let mut set = switchyard::JoinSet::new();
    /// for _ in 0..3 {
    ///     set.spawn(std::future::pending::<()>());
    /// }
    /// set.shutdown().await;
    /// assert!(set.is_empty());
    /// # });
    /// ```
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Pops at most `limit` notified members and polls each handle with
    /// the member's waker, outside the budget (rule 3); the first finished
    /// task's result. `None` when the queue ran out or `limit` was reached.
    fn poll_notified(&mut self, limit: usize) -> Option<Result<T, JoinError>> {
        for _ in 0..limit {
            let (slot, generation) = self.notified.lock().keys.pop_front()?;
            // Rule 2: a stale wake; after `detach_all` its slot may be gone.
            let Some(s) = self
                .slots
                .get_mut(slot)
                .and_then(Option::as_mut)
                .filter(|s| s.member.generation == generation)
            else {
                continue;
            };
            // Rule 1: a wake from here on queues the member again.
            s.member.queued.store(false, Ordering::Release);
            let mut cx = Context::from_waker(&s.waker);
            let handle = &mut s.handle;
            if let Poll::Ready(out) = coop::unconstrained(|| Pin::new(handle).poll(&mut cx)) {
                self.remove(slot);
                return Some(out);
            }
        }
        None
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Aborts every task still in the set.
    fn drop(&mut self) {
        for slot in self.slots.drain(..).flatten() {
            slot.member.queued.store(true, Ordering::Release);
            slot.handle.abort();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}

// Compile-time check: a set crosses threads (moves into a task) where its
// outputs do.
const _: () = {
    fn send<T: Send>() {}
    let _ = || send::<JoinSet<u8>>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    #[test]
    fn a_stale_key_beyond_the_slots_is_skipped() {
        crate::testing::block_on(Mode::Single, 1, async {
            let mut set = JoinSet::new();
            for i in 0..4 {
                set.spawn(async move { i });
            }
            set.detach_all();
            // What a wake on another thread leaves when it set its member's
            // flag just before detach_all and queued the key just after:
            // the key names a slot the emptied set no longer has.
            set.notified.lock().keys.push_back((3, 3));
            set.spawn(async { 7 });
            assert_eq!(set.join_next().await.unwrap().unwrap(), 7);
            assert!(set.is_empty());
        });
    }
}
