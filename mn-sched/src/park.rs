//! The park/unpark primitive every blocking operation is built on, public so
//! other crates (compat, the async tasks of `aio`) can build on it too.
//!
//! * [`current_waker`] — a `std::task::Waker` that unparks the caller: the
//!   running G, or the calling thread outside any runtime.
//! * [`park`] / [`park_until`] — wait for that wake (or the deadline).
//!
//! The contract is `std::thread::park`'s: a wake that comes before the park
//! is not lost (the park returns at once), waking a G that is not parked is
//! harmless, and a park may return spuriously, so callers park in a loop
//! around their own condition:
//!
//! ```no_run
//! # use std::sync::atomic::{AtomicBool, Ordering};
//! # fn wait(flag: &AtomicBool) {
//! while !flag.load(Ordering::Acquire) {
//!     mn_sched::park();
//! }
//! # }
//! ```
//!
//! On a G the park switches to the M's scheduler (the thread runs other Gs
//! meanwhile); when the runtime shuts down, a parked G's `park` unwinds
//! instead of returning (its destructors run; the G's JoinHandle reports
//! `Cancelled`).

use std::task::Waker;
use std::time::Instant;

use crate::g::run::current_g;
use crate::g::{waker, GRef};

/// A waker that unparks the caller (the running G, or the calling thread).
pub fn current_waker() -> Waker {
    match current_g() {
        // SAFETY: the running G is alive.
        Some(g) => waker::for_g(unsafe { GRef::clone_raw(g) }),
        None => waker::for_thread(),
    }
}

/// Parks the caller until a wake from its [`current_waker`] (or spuriously).
pub fn park() {
    // For the task dump: a reason set by what the G polled (e.g. a socket's
    // readiness, net/mod.rs) is kept in its header for the dump.
    #[cfg(not(loom))]
    {
        let r = rt_base::trace::take_wait_reason();
        if r != rt_base::trace::WaitReason::Unknown {
            note_wait(r as u8);
        }
    }
    crate::g::run::park();
}

/// Codes of `rt_base::trace::WaitReason` (in its order) that
/// blocking-style waits keep in the G header (`note_wait`) for the dump.
pub(crate) mod why {
    /// A timer.
    pub(crate) const SLEEP: u8 = 1;
    /// Another G's output.
    pub(crate) const JOIN: u8 = 4;
    /// A channel receive.
    pub(crate) const CHAN_RECEIVE: u8 = 5;
    /// A channel send.
    pub(crate) const CHAN_SEND: u8 = 6;
    /// A mutex.
    pub(crate) const LOCK: u8 = 7;
    /// A wait group.
    pub(crate) const WAIT_GROUP: u8 = 10;
    /// A select.
    pub(crate) const SELECT: u8 = 14;
}

/// Records why the running G is about to park (a [`why`] code),
/// for the dump; nothing off a G. One relaxed store.
#[inline]
pub(crate) fn note_wait(code: u8) {
    if let Some(g) = current_g() {
        // SAFETY: the running G is alive.
        unsafe { g.as_ref() }
            .wait_reason
            .store(code, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Parks the caller until a wake, `deadline`, or spuriously.
pub fn park_until(deadline: Instant) {
    let Some(g) = current_g() else {
        if let Some(left) = deadline.checked_duration_since(Instant::now()) {
            std::thread::park_timeout(left);
        }
        return;
    };
    if Instant::now() >= deadline {
        return;
    }
    // SAFETY: the running G is alive, and so is its runtime.
    let shared = unsafe { g.as_ref().shared() };
    // SAFETY: as above.
    let key = shared.add_timer(deadline, waker::for_g(unsafe { GRef::clone_raw(g) }));
    let cancel = CancelTimer(&shared.timers, key);
    park();
    drop(cancel);
}

/// Disarms a timer when dropped (also when the park unwinds at shutdown).
struct CancelTimer<'a>(&'a crate::timer::Timers, Option<crate::timer::TimerKey>);

impl Drop for CancelTimer<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.1.take() {
            self.0.cancel(k);
        }
    }
}
