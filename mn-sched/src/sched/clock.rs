//! The runtime's clocks: nanoseconds and milliseconds since a process-wide
//! epoch, and the two coarse clocks that spare the hot paths a clock read —
//! [`CoarseMs`], the milliseconds sysmon moves on each time it looks (park
//! stamps, I/O backlog ages, spare-CPU checks), and the timers' coarse tick
//! (`Timers::due_cheaply`) — both moved on together by
//! [`tick_coarse_clocks`]: by sysmon (sysmon.rs), by an M that polls the
//! network, and by the M that wakes sysmon from its deep sleep.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::Shared;

/// Nanoseconds since a process-wide epoch (for `P::run_start`).
pub(crate) fn now_ns() -> u64 {
    ns_of(Instant::now())
}

/// Milliseconds since the process-wide epoch, plus one, wrapping (the
/// coarse clock's unit; compare with `wrapping_sub`). Never 0, which the
/// stamps read as "no clock" (sysmon not started).
pub(crate) fn now_ms() -> u32 {
    ms_of(Instant::now())
}

fn ms_of(t: Instant) -> u32 {
    ms_of_ns(ns_of(t))
}

/// [`now_ms`]'s unit for a stamp in [`ns_of`]'s.
pub(crate) fn ms_of_ns(ns: u64) -> u32 {
    ((ns / 1_000_000) as u32).wrapping_add(1).max(1)
}

/// Nanoseconds from the process-wide epoch to `t`.
pub(crate) fn ns_of(t: Instant) -> u64 {
    u64::try_from(t.duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// The process-wide epoch the clocks here count from.
pub(crate) fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A coarse clock ([`now_ms`]'s unit, wrapping), moved on by sysmon each
/// time it looks and by the M that wakes it from its deep sleep, so it is
/// at most a tick (1 ms) old whenever a P runs. A park stamps it into the G
/// (`Header::parked_ms`) for the dump's waiting times: a relaxed load, no
/// clock read per park. 0 until first moved on (sysmon not started).
#[derive(Debug, Default)]
pub(crate) struct CoarseMs(AtomicU32);

impl CoarseMs {
    /// Its milliseconds (one relaxed load).
    #[inline]
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves it on to `ms`. Forward only: Ms move it too (netpoll), and a
    /// stamp taken from a later value must never look younger than zero.
    fn advance(&self, ms: u32) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                ((ms.wrapping_sub(old) as i32) > 0).then_some(ms)
            });
    }
}

/// Moves the runtime's two coarse clocks — sysmon's milliseconds (park
/// stamps, I/O backlog ages) and the timers' tick (`Timers::due_cheaply`)
/// — to now, from one clock read. Called by sysmon each time it looks, when
/// it starts, and by the M that wakes it from its deep sleep.
pub(crate) fn tick_coarse_clocks(shared: &Shared) {
    tick_coarse_clocks_at(shared, Instant::now());
}

/// [`tick_coarse_clocks`] from a clock reading the caller already has.
pub(crate) fn tick_coarse_clocks_at(shared: &Shared, now: Instant) {
    shared.sysmon.coarse_ms.advance(ms_of(now));
    shared.timers.tick_coarse(now);
}
