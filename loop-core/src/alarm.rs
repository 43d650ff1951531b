//! An alarm: a timerfd in an epoll set, so a thread blocked in `epoll_wait`
//! wakes at a timer's deadline to within microseconds. The loop (single
//! mode) and mn's netpoller each keep one.
//!
//! `epoll_wait` counts its timeout in whole milliseconds; rounded up (never
//! early) it wakes a sleeper up to a millisecond after the deadline it was
//! computed for. With the loop's old one-millisecond wheel ticks on top, a
//! 10 ms sleep took 11.2 ms at the median (tokio's takes the same, Node's
//! 10.4, Go's 10.3). A sleeper now arms the alarm for the instant it means
//! to wake and keeps the rounded epoll timeout as a backstop; the alarm's
//! event itself does nothing (what follows the wake fires the timers).
//! Arming costs one `timerfd_settime`, and only when a thread is about to
//! block with a new instant in view.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// A timerfd registered with a `mio::Poll`.
pub struct Alarm {
    fd: OwnedFd,
    /// The instant it is armed for (`None`: disarmed, or fired).
    armed: Cell<Option<Instant>>,
}

impl Alarm {
    /// Creates the timerfd (CLOCK_MONOTONIC, the clock of [`Instant`]) and
    /// registers it under `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Alarm> {
        // SAFETY: timerfd_create takes no pointers; a negative result is an
        // error, checked below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a timerfd just created and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Alarm {
            fd,
            armed: Cell::new(None),
        })
    }

    /// Arms the alarm to ring at `at` (at once if `at` has passed), unless it
    /// is armed for that instant already.
    pub fn set(&self, at: Instant) {
        if self.armed.get() == Some(at) {
            return;
        }
        let left = at.saturating_duration_since(Instant::now());
        // An all-zero it_value disarms a timerfd: ring after a nanosecond.
        let left = left.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: left.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec read by the call; the old
        // value pointer may be null. The fd is ours and open.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        // It cannot fail for a valid fd and spec; if it did, the rounded
        // epoll timeout still wakes the loop, a millisecond later at most.
        self.armed.set((r == 0).then_some(at));
    }

    /// Its event came (the alarm rang): the next [`set`](Self::set) arms it
    /// again, even for the same instant.
    pub fn rang(&self) {
        self.armed.set(None);
    }
}
