//! An alarm: a timerfd in an epoll set, so a thread blocked in `epoll_wait`
//! wakes at a timer's deadline to within microseconds. The loop (single
//! mode) and mn's netpoller each keep one.
//!
//! `epoll_wait` counts its timeout in whole milliseconds; rounded up (never
//! early) it wakes a sleeper up to a millisecond after the deadline it was
//! computed for. With the loop's old one-millisecond wheel ticks on top, a
//! 10 ms sleep ended over a millisecond late at the median (tokio's
//! likewise; Node's and Go's a few tenths of a millisecond). A sleeper now
//! arms the alarm for the instant it means
//! to wake and keeps the rounded epoll timeout as a backstop; the alarm's
//! event itself does nothing (what follows the wake fires the timers).
//! Arming costs one `timerfd_settime`, and only when a thread is about to
//! block until an instant earlier than the one armed (see [`Alarm::wait_for`]).

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

    /// For a thread about to block in `epoll_wait` until `at`: makes sure
    /// the alarm rings by then and returns the epoll timeout to pass, the
    /// time left rounded up to whole milliseconds (the backstop, never
    /// early; zero if `at` has passed).
    pub fn wait_for(&self, at: Instant) -> Duration {
        let now = Instant::now();
        self.set(at, now);
        let ms = at
            .saturating_duration_since(now)
            .as_nanos()
            .div_ceil(1_000_000);
        Duration::from_millis(ms.min(u128::from(u64::MAX)) as u64)
    }

    /// Makes sure the alarm rings by `at`. Nothing to do if `at` has passed
    /// (the caller does not block) or the alarm is armed for `at` or an
    /// earlier instant still to come: an earlier ring is a spurious wake-up,
    /// after which the caller arms it again. So a server whose earliest
    /// deadline moves later with every request (a timeout per read) pays
    /// one `timerfd_settime` per ring, not one per wait.
    fn set(&self, at: Instant, now: Instant) {
        if at <= now {
            return;
        }
        if self
            .armed
            .get()
            .is_some_and(|armed| armed > now && armed <= at)
        {
            return;
        }
        let left = at - now;
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

    /// Its event came (the alarm rang): the next [`wait_for`](Self::wait_for)
    /// arms it again, even for the same instant.
    pub fn rang(&self) {
        self.armed.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    const ALARM: Token = Token(7);

    /// Waits for the alarm's event (at most `limit`); when it came.
    fn ring(poll: &mut Poll, alarm: &Alarm, limit: Duration) -> Option<Instant> {
        let mut events = Events::with_capacity(4);
        let end = Instant::now() + limit;
        while Instant::now() < end {
            poll.poll(&mut events, Some(end - Instant::now())).unwrap();
            if events.iter().any(|e| e.token() == ALARM) {
                alarm.rang();
                return Some(Instant::now());
            }
        }
        None
    }

    #[test]
    fn rings_at_its_instant_never_before() {
        let mut poll = Poll::new().unwrap();
        let alarm = Alarm::new(poll.registry(), ALARM).unwrap();
        for micros in [300, 2_500, 7_300] {
            let at = Instant::now() + Duration::from_micros(micros);
            alarm.wait_for(at);
            let rang = ring(&mut poll, &alarm, Duration::from_secs(5)).expect("it rang");
            assert!(rang >= at, "rang {:?} early", at - rang);
        }
    }

    #[test]
    fn an_earlier_instant_rearms_a_later_one_does_not() {
        let mut poll = Poll::new().unwrap();
        let alarm = Alarm::new(poll.registry(), ALARM).unwrap();
        let t = Instant::now();
        alarm.wait_for(t + Duration::from_secs(60));
        alarm.wait_for(t + Duration::from_millis(5));
        let rang =
            ring(&mut poll, &alarm, Duration::from_secs(5)).expect("the earlier instant rang");
        assert!(rang >= t + Duration::from_millis(5));
        // Armed for 5 ms from now, a later instant keeps the earlier ring.
        let t = Instant::now();
        alarm.wait_for(t + Duration::from_millis(5));
        alarm.wait_for(t + Duration::from_secs(60));
        assert!(ring(&mut poll, &alarm, Duration::from_secs(5)).is_some());
        // Nothing is armed after a ring: no event comes without a set.
        assert!(ring(&mut poll, &alarm, Duration::from_millis(30)).is_none());
    }

    #[test]
    fn the_epoll_timeout_is_the_time_left_rounded_up_to_milliseconds() {
        let poll = Poll::new().unwrap();
        let alarm = Alarm::new(poll.registry(), ALARM).unwrap();
        let t = alarm.wait_for(Instant::now() + Duration::from_micros(2_300));
        assert_eq!(t.subsec_nanos() % 1_000_000, 0, "{t:?}");
        assert!(t > Duration::ZERO && t <= Duration::from_millis(3), "{t:?}");
    }

    #[test]
    fn an_instant_already_passed_arms_nothing() {
        let mut poll = Poll::new().unwrap();
        let alarm = Alarm::new(poll.registry(), ALARM).unwrap();
        assert_eq!(alarm.wait_for(Instant::now()), Duration::ZERO);
        assert!(ring(&mut poll, &alarm, Duration::from_millis(30)).is_none());
    }
}
