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
//!    (a re-polled future, issue 5) it first takes the slot back with CAS
//!    WAITING → IDLE.
//! 2. The exiting side swaps in DONE; if it found WAITING, the slot is now
//!    its own: it takes the waker and wakes it.
//! 3. Whoever sees DONE (acquire) sees the output the G stored before.

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
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Step 2: marks the G done and wakes its joiner, if any.
    pub(crate) fn complete(&self) {
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: we swapped WAITING away, so the slot is ours (rule 2).
            let waker = unsafe { (*self.waker.get()).take() };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Step 1: registers `waker`; false if the G is already done.
    pub(crate) fn register(&self, waker: Waker) -> bool {
        let cur = self.state.load(Ordering::Acquire);
        if cur == DONE {
            return false;
        }
        if cur == WAITING
            && self
                .state
                .compare_exchange(WAITING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        // SAFETY: the word is IDLE and only the (single) joiner moves it out
        // of IDLE except `complete`, which never touches the slot from IDLE.
        unsafe { *self.waker.get() = Some(waker) };
        if self
            .state
            .compare_exchange(IDLE, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return true;
        }
        // DONE came first: the slot is still ours; drop the waker.
        // SAFETY: `complete` found IDLE, so it did not touch the slot.
        drop(unsafe { (*self.waker.get()).take() });
        false
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
        let join = &self.g.header().join;
        if !join.is_done() && join.register(crate::park::current_waker()) {
            while !join.is_done() {
                crate::park::note_wait(crate::park::why::JOIN); // issue 7
                crate::park::park();
            }
        }
        let mut out = std::mem::MaybeUninit::<Result<T, JoinError>>::uninit();
        let h = self.g.as_ptr();
        // SAFETY: the join state is DONE (rule 3), `self` is the only
        // JoinHandle (consumed here), and `out` has the output's type.
        unsafe {
            (self.g.header().vtable.read_output)(h, out.as_mut_ptr().cast());
            out.assume_init()
        }
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
        p.downcast_ref::<&str>()
            .copied()
            .or_else(|| p.downcast_ref::<String>().map(String::as_str))
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
            Self::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "task panicked: {m}"),
                None => f.write_str("task panicked"),
            },
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
