//! JoinHandle: waiting for a G's result, from a G (parks the G) or from a
//! plain thread (parks the thread).
//!
//! The G's completion is a three-state word next to one waker slot:
//!
//! ```text
//!   IDLE ──register(waker)──► WAITING ──complete()──► DONE (waker woken)
//!     └────────────────────────complete()─────────────► DONE
//! ```
//!
//! 1. The joiner writes the waker while the word is IDLE (the slot is its
//!    own then), and publishes it with CAS IDLE → WAITING. To replace it
//!    (a re-polled future) it first takes the slot back with CAS
//!    WAITING → IDLE.
//! 2. The exiting side (g0, after the G's last switch) moves the phase to
//!    DONE; if it found WAITING, the slot is now its own: it takes the
//!    waker and wakes it.
//! 3. Whoever sees DONE (acquire) sees the output the G stored before.
//!
//! **Who drops an output nobody will take.** A G's output is user data
//! whose `Drop` may park (an `mn::chan` send), so it must be dropped where
//! parking is legal — never on g0. Two flag bits beside the phase decide,
//! each set once by one side with a read-modify-write:
//!
//! 4. OUTPUT: the G, on its own stack, has stored its output
//!    (`publish_output`). If DETACHED was already set, nobody will ever
//!    take it: the G drops it there and then.
//! 5. DETACHED: the JoinHandle was dropped without taking the output
//!    (`detach`). If OUTPUT was already set, the handle drops the output,
//!    in the context that dropped the handle.
//!
//! Exactly one side sees the other's bit, so the output is dropped once,
//! on a G or in the dropper's context, and the G's last reference (often
//! dropped on g0) finds nothing of the user's left in the cell.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

use crate::g::GRef;
use crate::stack::StackError;

const IDLE: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;
/// The bits of the phase (IDLE, WAITING, DONE).
const PHASE: u8 = 3;
/// The G stored its output (rule 4).
const OUTPUT: u8 = 4;
/// The JoinHandle is gone without the output (rule 5).
const DETACHED: u8 = 8;

/// A G's completion word and joiner waker (see the module doc).
#[derive(Debug)]
pub(crate) struct JoinState {
    state: AtomicU8,
    waker: UnsafeCell<Option<Waker>>,
}

impl JoinState {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(IDLE),
            waker: UnsafeCell::new(None),
        }
    }

    /// Whether the G is done and its output readable.
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) & PHASE == DONE
    }

    /// Step 2: marks the G done and wakes its joiner, if any.
    pub(crate) fn complete(&self) {
        let prev = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & !PHASE) | DONE)
            })
            .unwrap_or_else(|s| s);
        if prev & PHASE == WAITING {
            // SAFETY: we moved the phase off WAITING, so the slot is ours
            // (rule 2).
            let waker = unsafe { (*self.waker.get()).take() };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Step 1: registers `waker`; false if the G is already done.
    pub(crate) fn register(&self, waker: Waker) -> bool {
        // Take the slot back if a waker is published (WAITING → IDLE).
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            match cur & PHASE {
                DONE => return false,
                WAITING => match self.state.compare_exchange(
                    cur,
                    (cur & !PHASE) | IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(now) => cur = now,
                },
                _ => break,
            }
        }
        // SAFETY: the phase is IDLE and only the (single) joiner moves it
        // out of IDLE except `complete`, which never touches the slot from
        // IDLE.
        unsafe { *self.waker.get() = Some(waker) };
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & PHASE == DONE {
                // DONE came first: the slot is still ours; drop the waker.
                // SAFETY: `complete` found IDLE, so it did not touch the slot.
                drop(unsafe { (*self.waker.get()).take() });
                return false;
            }
            match self.state.compare_exchange(
                cur,
                (cur & !PHASE) | WAITING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Rule 4, the G on its own stack, its output stored: true if the
    /// handle may still take it; false if the handle is gone (the caller
    /// drops the output now).
    pub(crate) fn publish_output(&self) -> bool {
        self.state.fetch_or(OUTPUT, Ordering::AcqRel) & DETACHED == 0
    }

    /// Rule 5, a JoinHandle dropped without taking the output: true if the
    /// output is stored and now the caller's to drop.
    pub(crate) fn detach(&self) -> bool {
        self.state.fetch_or(DETACHED, Ordering::AcqRel) & OUTPUT != 0
    }
}

/// Owned permission to wait for a G and take its result. Dropping it
/// detaches the G (it keeps running; its result is dropped).
pub struct JoinHandle<T> {
    g: GRef,
    _output: PhantomData<fn() -> T>,
}

impl<T> JoinHandle<T> {
    /// Wraps the reference `new_g` gave the spawner.
    pub(crate) fn new(g: GRef) -> Self {
        Self {
            g,
            _output: PhantomData,
        }
    }

    /// Waits for the G and returns its result: parks the calling G, or the
    /// calling thread when called outside any runtime.
    pub fn join(self) -> Result<T, JoinError> {
        // Taking the output is not a detach: no `Drop` for this handle.
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; its GRef moves here.
        let g = unsafe { std::ptr::read(&this.g) };
        let join = &g.header().join;
        if !join.is_done() && join.register(crate::park::current_waker()) {
            while !join.is_done() {
                crate::park::note_wait(crate::park::why::JOIN); // for the dump
                crate::park::park();
            }
        }
        // SAFETY: the join state is DONE (rule 3), this is the only
        // JoinHandle (consumed here), and T is the G's output type.
        unsafe { take_output(&g) }
    }

    /// Whether the G has finished (`join` would not wait).
    pub fn is_finished(&self) -> bool {
        self.g.header().join.is_done()
    }

    /// The G's task id (the `N` of the overflow message).
    pub fn id(&self) -> u64 {
        self.g.header().id
    }
}

/// Moves the stored output of `g` out of its cell.
///
/// # Safety
///
/// The output is stored (the phase is DONE, or OUTPUT was seen), not yet
/// taken, the caller is the only one taking it, and `T` is the G's output
/// type.
pub(crate) unsafe fn take_output<T>(g: &GRef) -> Result<T, JoinError> {
    let mut out = std::mem::MaybeUninit::<Result<T, JoinError>>::uninit();
    // SAFETY: forwarded from the caller; `out` is a slot of the output type.
    unsafe {
        (g.header().vtable.read_output)(g.as_ptr(), out.as_mut_ptr().cast());
        out.assume_init()
    }
}

/// Rule 5 for a handle of `g` dropped before it took the output.
///
/// # Safety
///
/// The caller is the G's only handle, gone now, and `T` is its output type.
pub(crate) unsafe fn detach<T>(g: &GRef) {
    if g.header().join.detach() {
        // SAFETY: OUTPUT was set before our DETACHED: the output is stored
        // and, the handle being gone, ours alone.
        drop(unsafe { take_output::<T>(g) });
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the G: it runs on; its output is dropped by whichever of
    /// the G and this drop comes second (module doc, rules 4–5).
    fn drop(&mut self) {
        // SAFETY: this is the G's only handle, and T its output type.
        unsafe { detach::<T>(&self.g) };
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// The panic payload that unwinds a parked G when its runtime shuts down;
/// caught at the G boundary and reported as [`JoinError::Cancelled`].
#[derive(Debug)]
pub(crate) struct Cancelled;

/// Why a G produced no value.
#[non_exhaustive]
pub enum JoinError {
    /// The G panicked; the payload is the panic's.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The runtime shut down first: the G was unwound at its park point (or
    /// never started), its destructors ran.
    Cancelled,
    /// No stack could be had for the G (see [`StackError`]).
    NoStack(StackError),
}

impl JoinError {
    /// Sorts a payload caught at the G boundary.
    pub(crate) fn from_panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        if payload.is::<Cancelled>() {
            Self::Cancelled
        } else {
            Self::Panicked(payload)
        }
    }

    /// Whether the G panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked(_))
    }

    /// Whether the G was cancelled by shutdown.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    pub fn into_panic(self) -> Result<Box<dyn Any + Send + 'static>, Self> {
        match self {
            Self::Panicked(p) => Ok(p),
            other => Err(other),
        }
    }

    /// The panic message, if the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        let Self::Panicked(p) = self else { return None };
        rt_base::panic::message(p)
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(p) => rt_base::panic::fmt_task_panicked(p, f),
            Self::Cancelled => f.write_str("task cancelled: its runtime shut down"),
            Self::NoStack(e) => write!(f, "task never ran: {e}"),
        }
    }
}

impl std::error::Error for JoinError {}

// SAFETY: the waker slot is accessed only under the protocol above.
unsafe impl Sync for JoinState {}
// SAFETY: as above; Waker is Send.
unsafe impl Send for JoinState {}
