//! `select` over channel operations, with an optional deadline, as Go's.
//!
//! ```no_run
//! # use mn_sched::chan::{self, Select};
//! # use std::time::Duration;
//! # let (tx, rx) = chan::bounded::<u32>(1);
//! # let (tx2, rx2) = chan::bounded::<&str>(1);
//! let got = Select::new()
//!     .recv(&rx, |r| format!("number {r:?}"))
//!     .recv(&rx2, |r| format!("word {r:?}"))
//!     .send(&tx, 7, |r| format!("sent: {}", r.is_ok()))
//!     .wait_timeout(Duration::from_millis(10));
//! ```
//!
//! Each select has one decision word: NONE, BUSY (the select itself is
//! trying one of its arms), TIMEOUT, or the index of the arm that won.
//! Channels are locked one at a time, never all together:
//!
//! 1. **Try.** Each arm, from a random start, is tried without waiting. The
//!    select is queued nowhere yet, so nobody else can decide it: the first
//!    that can complete wins.
//! 2. **Queue.** A waiter per arm joins its channel's wait list (each under
//!    that channel's lock). From now on a partner (a sender for a receive
//!    arm, ...) may decide the select: CAS NONE → arm, then complete that
//!    arm's waiter (waitlist.rs). A partner skips the arms of a BUSY select
//!    (leaving them queued) and drops those of a decided one.
//! 3. **Re-check.** A channel may have become ready between 1 and 2 (a value
//!    buffered while we were queued nowhere). Each arm whose channel might
//!    complete is retried under its lock after CAS NONE → BUSY; success: BUSY
//!    → arm; failure (the only sender was another select's arm that could
//!    not be taken): BUSY → NONE and the whole re-check starts over, because
//!    a partner may have skipped us while we were BUSY. A pass that finds
//!    nothing ready with the word NONE throughout ends it: any partner that
//!    comes later finds the word NONE and decides it.
//! 4. **Wait.** Park until the word is decided; at the deadline, CAS NONE →
//!    TIMEOUT.
//! 5. **Unqueue.** Every arm's waiter leaves its list under its channel's
//!    lock (which also waits out a partner still completing the winner), then
//!    the winner's closure runs. Arms are boxed and unqueued before the
//!    decision word (on this frame) goes away, also when a park unwinds.
//!
//! Rejected: locking every channel at once in address order (Go's
//! `sellock`), which our channels' `std` mutexes would make a thread-blocking
//! convoy under contention; and a global select lock.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::chan::{wake, Chan, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError};
use super::waitlist::{Waiter, CLOSED, COMPLETED};
use crate::park::{current_waker, park, park_until};

const NONE: usize = usize::MAX;
const BUSY: usize = usize::MAX - 1;
const TIMEOUT: usize = usize::MAX - 2;

/// A select's decision word.
pub(crate) struct SelectShared {
    word: AtomicUsize,
}

/// What a partner may do with a select arm's waiter.
pub(crate) enum Claim {
    /// It decided the select for this arm: complete the waiter.
    Won,
    /// The select is trying an arm itself: skip the waiter, leave it queued.
    Busy,
    /// The select is decided: the waiter is dead, drop it from the list.
    Decided,
}

impl SelectShared {
    /// Partner: tries to decide the select for `arm`.
    pub(crate) fn claim(&self, arm: usize) -> Claim {
        match self
            .word
            .compare_exchange(NONE, arm, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Claim::Won,
            Err(BUSY) => Claim::Busy,
            Err(_) => Claim::Decided,
        }
    }

    /// The select: NONE → BUSY; false if it is decided already.
    fn begin_try(&self) -> bool {
        self.word
            .compare_exchange(NONE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The select: BUSY → `to` (an arm, or NONE if the try failed).
    fn end_try(&self, to: usize) {
        self.word.store(to, Ordering::Release);
    }
}

/// What the re-check (step 3) found on one arm.
enum Recheck {
    NotReady,
    Won,
    Lost,
    Retry,
}

/// One operation of a select, type-erased.
trait Arm<R> {
    /// Step 1: complete now if possible.
    fn try_now(&mut self) -> bool;
    /// Step 2: queue a waiter for arm `idx` of `sel`.
    fn enqueue(&mut self, sel: NonNull<SelectShared>, idx: usize, waker: &Waker);
    /// Step 3.
    fn recheck(&mut self, sel: &SelectShared, idx: usize) -> Recheck;
    /// Step 5: leave the wait list (idempotent).
    fn unqueue(&mut self);
    /// Runs the arm's closure with its outcome.
    fn finish(self: Box<Self>) -> R;
}

/// A select under construction; see the module doc.
pub struct Select<'a, R> {
    arms: Vec<Box<dyn Arm<R> + 'a>>,
}

impl<R> Default for Select<'_, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, R> Select<'a, R> {
    /// A select with no arm yet.
    pub fn new() -> Self {
        Self { arms: Vec::new() }
    }

    /// Adds a receive on `rx`; `f` gets its result if it wins.
    pub fn recv<T: Send + 'a>(
        mut self,
        rx: &'a Receiver<T>,
        f: impl FnOnce(Result<T, RecvError>) -> R + 'a,
    ) -> Self {
        self.arms.push(Box::new(RecvArm {
            chan: rx.chan(),
            f: Some(f),
            waiter: None,
            outcome: None,
        }));
        self
    }

    /// Adds a send of `v` on `tx`; `f` gets its result if it wins (if
    /// another arm wins, `v` is dropped unsent).
    pub fn send<T: Send + 'a>(
        mut self,
        tx: &'a Sender<T>,
        v: T,
        f: impl FnOnce(Result<(), SendError<T>>) -> R + 'a,
    ) -> Self {
        self.arms.push(Box::new(SendArm {
            chan: tx.chan(),
            f: Some(f),
            value: Some(v),
            waiter: None,
            outcome: None,
        }));
        self
    }

    /// Waits until an arm completes.
    pub fn wait(self) -> R {
        self.run(None)
            .unwrap_or_else(|| unreachable!("no deadline, no timeout"))
    }

    /// Waits at most `timeout`; None if no arm completed by then.
    pub fn wait_timeout(self, timeout: Duration) -> Option<R> {
        self.run(Some(Instant::now() + timeout))
    }

    /// Waits until `deadline` at most; None if no arm completed by then.
    pub fn wait_deadline(self, deadline: Instant) -> Option<R> {
        self.run(Some(deadline))
    }

    /// Completes an arm that is ready now, without waiting (Go's `default:`).
    pub fn try_select(self) -> Option<R> {
        self.run(Some(Instant::now()))
    }

    /// Steps 1–5.
    fn run(self, deadline: Option<Instant>) -> Option<R> {
        assert!(
            !self.arms.is_empty() || deadline.is_some(),
            "select with no arm and no deadline waits forever"
        );
        let sel = SelectShared {
            word: AtomicUsize::new(NONE),
        };
        // Declared after `sel`: dropped (and so unqueued) before it.
        let mut arms = self.arms;
        let n = arms.len();
        let start = if n > 0 { crate::sync::rand_below(n) } else { 0 };
        if let Some(i) = (0..n).map(|k| (start + k) % n).find(|&i| arms[i].try_now()) {
            return Some(arms.swap_remove(i).finish());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let waker = current_waker();
        for (i, arm) in arms.iter_mut().enumerate() {
            arm.enqueue(NonNull::from(&sel), i, &waker);
        }
        recheck(&mut arms, &sel, start);
        wait(&sel, deadline);
        arms.iter_mut().for_each(|a| a.unqueue());
        let won = sel.word.load(Ordering::Acquire);
        (won < n).then(|| arms.swap_remove(won).finish())
    }
}

/// Step 3: re-checks every arm, from `start`, until a pass finds nothing
/// ready with the word NONE throughout, or the select is decided.
fn recheck<R>(arms: &mut [Box<dyn Arm<R> + '_>], sel: &SelectShared, start: usize) {
    let n = arms.len();
    'pass: loop {
        for i in (0..n).map(|k| (start + k) % n) {
            match arms[i].recheck(sel, i) {
                Recheck::NotReady => {}
                Recheck::Won | Recheck::Lost => return,
                Recheck::Retry => continue 'pass,
            }
        }
        return;
    }
}

/// Step 4: parks until the word is decided or the deadline passes.
fn wait(sel: &SelectShared, deadline: Option<Instant>) {
    loop {
        let w = sel.word.load(Ordering::Acquire);
        if w != NONE && w != BUSY {
            return;
        }
        match deadline {
            Some(d) if Instant::now() >= d => {
                if sel
                    .word
                    .compare_exchange(NONE, TIMEOUT, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return;
                }
            }
            Some(d) => {
                crate::park::note_wait(crate::park::why::SELECT); // for the dump
                park_until(d)
            }
            None => {
                crate::park::note_wait(crate::park::why::SELECT);
                park()
            }
        }
    }
}

/// A receive arm.
struct RecvArm<'a, T, F> {
    chan: &'a Chan<T>,
    f: Option<F>,
    waiter: Option<Waiter<T>>,
    outcome: Option<Result<T, RecvError>>,
}

impl<T: Send, F, R> Arm<R> for RecvArm<'_, T, F>
where
    F: FnOnce(Result<T, RecvError>) -> R,
{
    fn try_now(&mut self) -> bool {
        let mut st = self.chan.lock();
        let r = st.try_recv();
        drop(st);
        match r {
            Ok((v, w)) => {
                wake(w);
                self.outcome = Some(Ok(v));
                true
            }
            Err(TryRecvError::Disconnected) => {
                self.outcome = Some(Err(RecvError));
                true
            }
            Err(TryRecvError::Empty) => false,
        }
    }

    fn enqueue(&mut self, sel: NonNull<SelectShared>, idx: usize, waker: &Waker) {
        let w = self
            .waiter
            .insert(Waiter::for_select(waker.clone(), None, Some((sel, idx))));
        // SAFETY: under the lock; the waiter lives in this boxed arm, which
        // is unqueued before it is dropped (step 5, and `Drop`).
        unsafe { self.chan.lock().recvq.push_back(NonNull::from(&*w)) };
    }

    fn recheck(&mut self, sel: &SelectShared, idx: usize) -> Recheck {
        let mut st = self.chan.lock();
        if !st.recv_may_succeed() {
            return Recheck::NotReady;
        }
        if !sel.begin_try() {
            return Recheck::Lost;
        }
        let r = st.try_recv();
        drop(st);
        let (outcome, woken) = match r {
            Ok((v, w)) => (Ok(v), w),
            Err(TryRecvError::Disconnected) => (Err(RecvError), None),
            Err(TryRecvError::Empty) => {
                sel.end_try(NONE);
                return Recheck::Retry;
            }
        };
        sel.end_try(idx);
        wake(woken);
        self.outcome = Some(outcome);
        Recheck::Won
    }

    fn unqueue(&mut self) {
        if let Some(w) = &self.waiter {
            // SAFETY: under the lock; the waiter is alive (in self).
            unsafe { self.chan.lock().recvq.remove(NonNull::from(w)) };
        }
    }

    fn finish(mut self: Box<Self>) -> R {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            let w = self.waiter.as_ref().expect("a winning arm was queued");
            match w.state() {
                COMPLETED => Ok(w.take_value().expect("a completed receive holds a value")),
                CLOSED => Err(RecvError),
                _ => unreachable!("select arm won without completion"),
            }
        });
        (self.f.take().expect("finish runs once"))(outcome)
    }
}

impl<T, F> Drop for RecvArm<'_, T, F> {
    fn drop(&mut self) {
        if let Some(w) = &self.waiter {
            // SAFETY: as in `unqueue`.
            unsafe { self.chan.lock().recvq.remove(NonNull::from(w)) };
        }
    }
}

/// A send arm.
struct SendArm<'a, T, F> {
    chan: &'a Chan<T>,
    f: Option<F>,
    value: Option<T>,
    waiter: Option<Waiter<T>>,
    outcome: Option<Result<(), SendError<T>>>,
}

impl<T: Send, F, R> Arm<R> for SendArm<'_, T, F>
where
    F: FnOnce(Result<(), SendError<T>>) -> R,
{
    fn try_now(&mut self) -> bool {
        let v = self.value.take().expect("send arm holds its value");
        let r = self.chan.lock().try_send(v);
        match r {
            Ok(w) => {
                wake(w);
                self.outcome = Some(Ok(()));
                true
            }
            Err(TrySendError::Disconnected(v)) => {
                self.outcome = Some(Err(SendError(v)));
                true
            }
            Err(TrySendError::Full(v)) => {
                self.value = Some(v);
                false
            }
        }
    }

    fn enqueue(&mut self, sel: NonNull<SelectShared>, idx: usize, waker: &Waker) {
        let v = self.value.take();
        let w = self
            .waiter
            .insert(Waiter::for_select(waker.clone(), v, Some((sel, idx))));
        // SAFETY: as for RecvArm::enqueue.
        unsafe { self.chan.lock().sendq.push_back(NonNull::from(&*w)) };
    }

    fn recheck(&mut self, sel: &SelectShared, idx: usize) -> Recheck {
        let mut st = self.chan.lock();
        if !st.send_may_succeed() {
            return Recheck::NotReady;
        }
        if !sel.begin_try() {
            return Recheck::Lost;
        }
        let w = self.waiter.as_ref().expect("queued in step 2");
        // SAFETY: under the lock: our own waiter, unlinked before we take
        // its value back to send it ourselves.
        unsafe { st.sendq.remove(NonNull::from(w)) };
        let v = w.take_value().expect("a queued send arm holds its value");
        match st.try_send(v) {
            Ok(woken) => {
                drop(st);
                sel.end_try(idx);
                wake(woken);
                self.outcome = Some(Ok(()));
                Recheck::Won
            }
            Err(TrySendError::Disconnected(v)) => {
                drop(st);
                sel.end_try(idx);
                self.outcome = Some(Err(SendError(v)));
                Recheck::Won
            }
            Err(TrySendError::Full(v)) => {
                // Put the value and the waiter back as they were.
                // SAFETY: under the lock, as above.
                unsafe {
                    Waiter::put_value(NonNull::from(w), v);
                    st.sendq.push_back(NonNull::from(w));
                }
                drop(st);
                sel.end_try(NONE);
                Recheck::Retry
            }
        }
    }

    fn unqueue(&mut self) {
        if let Some(w) = &self.waiter {
            // SAFETY: under the lock; the waiter is alive (in self).
            unsafe { self.chan.lock().sendq.remove(NonNull::from(w)) };
        }
    }

    fn finish(mut self: Box<Self>) -> R {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            let w = self.waiter.as_ref().expect("a winning arm was queued");
            match w.state() {
                COMPLETED => Ok(()),
                CLOSED => Err(SendError(
                    w.take_value().expect("a refused send keeps its value"),
                )),
                _ => unreachable!("select arm won without completion"),
            }
        });
        (self.f.take().expect("finish runs once"))(outcome)
    }
}

impl<T, F> Drop for SendArm<'_, T, F> {
    fn drop(&mut self) {
        if let Some(w) = &self.waiter {
            // SAFETY: as in `unqueue`.
            unsafe { self.chan.lock().sendq.remove(NonNull::from(w)) };
        }
    }
}
