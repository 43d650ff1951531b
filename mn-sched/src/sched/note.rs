//! A one-shot wake-up for an M: the futex an idle M sleeps on.
//!
//! `wake` before `sleep` is kept (the next `sleep` returns at once), like a
//! token; a wake costs a `futex(FUTEX_WAKE)` only if the M is actually
//! asleep. `std` primitives are used directly: loom cannot model a futex, and
//! the protocols built on notes (idle.rs, state.rs) are checked without it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

const EMPTY: u32 = 0;
const NOTIFIED: u32 = 1;
const SLEEPING: u32 = 2;

/// A futex word: EMPTY, NOTIFIED or SLEEPING.
#[derive(Debug, Default)]
pub(crate) struct Note(AtomicU32);

impl Note {
    /// Sleeps until woken or until `deadline`; true if woken.
    pub(crate) fn sleep(&self, deadline: Option<Instant>) -> bool {
        if self.0.swap(EMPTY, Ordering::Acquire) == NOTIFIED {
            return true;
        }
        if self
            .0
            .compare_exchange(EMPTY, SLEEPING, Ordering::Acquire, Ordering::Acquire)
            .is_err()
        {
            self.0.store(EMPTY, Ordering::Relaxed);
            return true;
        }
        loop {
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return self.give_up(),
                },
            };
            futex_wait(&self.0, SLEEPING, timeout);
            if self
                .0
                .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Stops sleeping at the deadline, unless a wake just arrived.
    fn give_up(&self) -> bool {
        self.0.swap(EMPTY, Ordering::Acquire) == NOTIFIED
    }

    /// Takes a pending wake without sleeping; true if there was one (the
    /// netpoller checks it before blocking in epoll).
    pub(crate) fn take_token(&self) -> bool {
        self.0
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// Wakes the sleeper (or leaves the token for its next sleep).
    pub(crate) fn wake(&self) {
        if self.0.swap(NOTIFIED, Ordering::Release) == SLEEPING {
            futex_wake(&self.0);
        }
    }
}

/// Sleeps while `word` holds `expected` (or until `timeout`, a signal, or
/// spuriously).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<std::time::Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
    // SAFETY: `word` is a live aligned u32; FUTEX_WAIT only reads it; `tsp`
    // is null or points to a timespec that outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        );
    }
}

/// Wakes one thread sleeping on `word`.
pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live aligned u32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn wake_before_sleep_is_kept() {
        let n = Note::default();
        n.wake();
        assert!(n.sleep(None));
    }

    #[test]
    fn sleep_times_out() {
        let n = Note::default();
        assert!(!n.sleep(Some(Instant::now() + Duration::from_millis(5))));
    }

    #[test]
    fn wake_from_another_thread() {
        let n = Arc::new(Note::default());
        let t = std::thread::spawn({
            let n = n.clone();
            move || n.sleep(None)
        });
        std::thread::sleep(Duration::from_millis(10));
        n.wake();
        assert!(t.join().unwrap());
    }
}
