//! The engine choice of compat's sockets, signals and sleeps, and the only
//! one they make: rt-base's readiness and timer-entry contracts
//! ([`rt_base::io`], [`rt_base::time`]) met by an enum of the two
//! engines' own implementations.
//!
//! compat's `TcpListener`, `TcpStream`, `UdpSocket`, `Signal` and `Sleep`
//! hold rt-base's types, written once for both engines, instantiated over
//! these enums: a [`Registration`] picks the engine of the runtime running
//! on the thread when its socket or signal pipe is registered, a [`Timer`]
//! when its sleep is first polled. Each operation then costs one branch,
//! inside `poll_ready` and `clear_readiness` (or the entry's poll), where
//! the per-type enums these replace branched once around the whole call.
//! (Why rt-base's types are generic over the contract rather than over an
//! engine enum of their own: [`rt_base::io`]'s module doc.)

use std::io;
use std::task::{Context, Poll};
use std::time::Instant;

use mio::event::Source;
use mio::Interest;
use rt_base::io::{Direction, ReadyEvent};
use rt_base::time::{EntryPoll, TimerEntry};

use crate::config::Mode;
use crate::engine::{self, dispatch};

/// A socket's (or a signal pipe's) registration with the engine of the
/// runtime that created it.
pub(crate) enum Registration {
    Single(loop_core::io::Registration),
    #[cfg(feature = "mn")]
    Mn(mn_sched::aio::net::Registration),
}

impl rt_base::io::Registration for Registration {
    fn register<S: Source + ?Sized>(source: &mut S, interest: Interest) -> io::Result<Self> {
        match engine::mode() {
            Some(Mode::Single) => {
                rt_base::io::Registration::register(source, interest).map(Registration::Single)
            }
            #[cfg(feature = "mn")]
            Some(Mode::Mn) => {
                rt_base::io::Registration::register(source, interest).map(Registration::Mn)
            }
            #[cfg(not(feature = "mn"))]
            Some(Mode::Mn) => engine::no_mn(),
            None => Err(io::Error::other(
                "switchyard: a socket was created outside a runtime (use it inside switchyard::run)",
            )),
        }
    }

    // Always inlined: the match then sits in the caller's loop around the
    // engine's own code. As a function of its own, holding both engines'
    // bodies, it was too big to inline, and each operation paid a call
    // more than the per-type enums it replaces did.
    #[inline(always)]
    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        dispatch!(self, Registration(r) => r.poll_ready(cx, dir))
    }

    #[inline(always)]
    fn clear_readiness(&self, event: ReadyEvent) {
        dispatch!(self, Registration(r) => r.clear_readiness(event))
    }

    fn deregister<S: Source + ?Sized>(&self, source: &mut S) {
        dispatch!(self, Registration(r) => r.deregister(source))
    }
}

/// A sleep's entry on the timers of the engine that first polled it.
pub(crate) enum Timer {
    Single(loop_core::time::Timer),
    #[cfg(feature = "mn")]
    Mn(mn_sched::aio::time::Timer),
}

impl TimerEntry for Timer {
    fn arm(deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
        match engine::expect_mode("sleep") {
            Mode::Single => TimerEntry::arm(deadline, cx).map(Timer::Single),
            #[cfg(feature = "mn")]
            Mode::Mn => TimerEntry::arm(deadline, cx).map(Timer::Mn),
            #[cfg(not(feature = "mn"))]
            Mode::Mn => engine::no_mn(),
        }
    }

    #[inline]
    fn poll_entry(&mut self, deadline: Instant, cx: &mut Context<'_>) -> EntryPoll {
        dispatch!(self, Timer(t) => t.poll_entry(deadline, cx))
    }

    /// Each engine's own way (the loop's: on this thread's loop; mn's: on
    /// the sleep's runtime).
    fn rearm(self, deadline: Instant, cx: &mut Context<'_>) -> Option<Self> {
        match self {
            Timer::Single(t) => t.rearm(deadline, cx).map(Timer::Single),
            #[cfg(feature = "mn")]
            Timer::Mn(t) => t.rearm(deadline, cx).map(Timer::Mn),
        }
    }
}
