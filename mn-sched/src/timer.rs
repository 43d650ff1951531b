//! Timers for `sleep`, `park_until`, `select` timeouts, socket deadlines and
//! the async [`Sleep`](crate::aio::time::Sleep): one hierarchical timing
//! wheel per P (`rt_base::wheel`, ticks of one microsecond), each
//! behind its own lock, plus the *sleeper* protocol.
//!
//! Why per-P wheels: a million sleeping tasks each insert and cancel once;
//! the wheel makes both O(1) (a heap pays ~20 comparisons a million deep),
//! and one wheel per P (a G adds to its own P's wheel) keeps the lock
//! uncontended while every P adds at once. An insert + cancel costs about
//! a hundred ns, near tokio multi_thread's, and an armed timer about a
//! hundred bytes of RSS (`cargo bench -p switchyard-benches --bench mn_net
//! -- timer`; `cargo run --release -p switchyard-mn --example
//! mn_timer_million`). A 4-ary heap per P was not built to compare: the
//! choice rests on the O(1) argument above, not on a race. A timer added
//! from outside any P goes to wheel `thread hash % procs`. Firing
//! "steals": any M that finds a wheel's earliest deadline past fires it
//! (`try_lock`; a wheel another M is firing is skipped), and the wakes of
//! one pass are sorted by deadline, so firing order across Ps follows the
//! deadlines.
//!
//! Contract:
//!
//! * `add(deadline, waker)` / `cancel(key)`; a fired timer wakes its waker
//!   once and never before its deadline (deadlines round *up* to the next
//!   microsecond, the clock rounds down). Callers re-check the clock, so a
//!   late or cancelled-but-fired timer is harmless. Keys carry a wheel
//!   generation: a stale key cancels nothing.
//! * No timer thread. Ms holding a P fire due timers in findrunnable and
//!   every 61st tick; one idle M at a time (the *sleeper*) waits with the
//!   earliest deadline as timeout: on its futex, or in `epoll_wait` once the
//!   runtime has a netpoller (netpoll/mod.rs), so the M that blocks for I/O
//!   is the one that waits for the nearest timer.
//! * Earlier-timer wake-up, a Dekker pair on SeqCst accesses
//!   (`loom_timer_sleeper_sees_earlier_timer`):
//!   - T1 (adder) stores the new earliest tick of its wheel (`fetch_min`);
//!   - T2 (adder) loads `sleeping_until`; if the new deadline is earlier, it
//!     takes the sleeper lock and wakes the sleeper (or, with no sleeper,
//!     one idle M so that it becomes one).
//!   - S1 (sleeper, under the sleeper lock) stores `sleeping_until = d`;
//!   - S2 (sleeper) reloads every wheel's earliest tick; if one is before
//!     `d`, it starts over with that deadline.
//!
//!   Either T2 sees S1 (the adder wakes it), or S2 sees T1 (the sleeper
//!   takes the new deadline): an earlier timer is never slept through.
//! * The earliest tick of each wheel is an atomic, so "anything due?" is
//!   `procs` loads and one clock read.

use std::sync::atomic::Ordering;
use std::sync::Arc;

#[cfg(loom)]
use crate::loom::fence;
use crate::loom::{AtomicBool, AtomicU64, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

// Plain data: the loom model build uses the very same wheel.
use rt_base::wheel::{TimerKey as WheelKey, Wheel};

use crate::sched::m::M;

/// Identifies a timer for `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    shard: u32,
    key: WheelKey,
}

/// "No timer" / "no sleeper" in the tick atomics.
const NONE: u64 = u64::MAX;
/// How far (µs) past the coarse tick a deadline may be for a schedule to
/// read the clock and see whether it is due. While a P runs Gs, sysmon
/// moves the coarse tick every millisecond or the Ms move it themselves
/// (sysmon naps then), so a deadline that has come is seldom further
/// ahead of it; if one is, g0's clock read every 61st schedule (find.rs)
/// still fires it.
const NEAR: u64 = 2_000;
/// Microseconds between two timer firings that the clock (not the coarse
/// tick) calls for (`Timers::due_cheaply`).
const FINE_BATCH: u64 = 50;
/// Timers fired per wheel per pass (the rest wait for the next pass, which
/// comes at once: the wheel's earliest tick stays in the past).
const FIRE_LIMIT: usize = 4096;

/// One P's wheel.
struct Shard {
    wheel: Mutex<Wheel<(u64, Waker)>>,
    /// Earliest tick the wheel may fire at (never later than the truth).
    next: AtomicU64,
}

/// A runtime's timers.
pub(crate) struct Timers {
    shards: Box<[crate::sched::CachePadded<Shard>]>,
    /// The tick the sleeper sleeps until; `NONE` when there is none.
    sleeping_until: AtomicU64,
    /// The sleeper, chosen under this lock.
    sleeper: Mutex<Option<Arc<M>>>,
    /// An idle M was woken to become the sleeper and has not yet.
    sleeper_wanted: AtomicBool,
    /// A coarse "now" tick, moved on by sysmon each time it looks (at
    /// most every 1 ms while a P runs) and by the M that wakes it: lets
    /// every schedule ask "is a timer due?" without reading the clock
    /// ([`due_cheaply`](Self::due_cheaply)).
    coarse_now: AtomicU64,
    /// The tick of the last [`fire_due`](Self::fire_due) that fired.
    fired_at: AtomicU64,
    epoch: Instant,
}

impl Timers {
    /// Timers for a runtime with `procs` Ps.
    pub(crate) fn new(procs: usize) -> Self {
        Self {
            shards: (0..procs.max(1))
                .map(|_| {
                    crate::sched::CachePadded(Shard {
                        wheel: Mutex::new(Wheel::new()),
                        next: AtomicU64::new(NONE),
                    })
                })
                .collect(),
            sleeping_until: AtomicU64::new(NONE),
            sleeper: Mutex::new(None),
            sleeper_wanted: AtomicBool::new(false),
            coarse_now: AtomicU64::new(0),
            fired_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn sleeper(&self) -> MutexGuard<'_, Option<Arc<M>>> {
        self.sleeper.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `t` as a tick, rounded up (a deadline never fires early).
    fn tick_up(&self, t: Instant) -> u64 {
        // u64 arithmetic (a u128 division showed in profiles).
        let d = t.saturating_duration_since(self.epoch);
        d.as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(d.subsec_nanos().div_ceil(1000)))
            .min(NONE - 1)
    }

    /// Now as a tick, rounded down.
    fn now_tick(&self) -> u64 {
        self.tick_down(Instant::now())
    }

    /// `t` as a tick, rounded down.
    fn tick_down(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch);
        d.as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(d.subsec_micros()))
            .min(NONE - 1)
    }

    fn instant(&self, tick: u64) -> Instant {
        self.epoch + Duration::from_micros(tick)
    }

    /// The wheel a timer added by the calling thread goes to: its P's.
    fn home_shard(&self) -> usize {
        let n = self.shards.len();
        if let Some(m) = M::current() {
            // SAFETY: this thread's live M; `held` is read on its thread.
            if let Some(h) = unsafe { m.as_ref() }.held() {
                return h.p().id % n;
            }
        }
        thread_hash() % n
    }

    /// Arms a timer that wakes `waker` at `deadline` (at once if it is
    /// past). Returns its key and whether the caller must wake an idle M to
    /// become the sleeper (`Shared::add_timer`).
    fn add(&self, deadline: Instant, waker: Waker) -> (Option<TimerKey>, WakeWho) {
        let tick = self.tick_up(deadline);
        let shard = self.home_shard();
        let s = &self.shards[shard];
        let key = {
            let mut w = s.wheel.lock().unwrap_or_else(|e| e.into_inner());
            match w.insert(tick, (tick, waker)) {
                Ok(k) => k,
                Err((_, waker)) => {
                    drop(w);
                    waker.wake();
                    return (None, WakeWho::Nobody);
                }
            }
        };
        let until = self.publish(shard, tick);
        let who = if tick >= until {
            WakeWho::Nobody
        } else if until != NONE {
            match &*self.sleeper() {
                Some(m) => WakeWho::Sleeper(m.clone()),
                None => WakeWho::Nobody,
            }
        } else if !self.sleeper_wanted.swap(true, Ordering::SeqCst) {
            WakeWho::IdleM
        } else {
            WakeWho::Nobody
        };
        (
            Some(TimerKey {
                shard: shard as u32,
                key,
            }),
            who,
        )
    }

    /// T1–T2: publishes `tick` as a candidate earliest deadline of wheel
    /// `shard`; returns the sleeper's deadline seen after it.
    fn publish(&self, shard: usize, tick: u64) -> u64 {
        // T1.
        self.shards[shard].next.fetch_min(tick, Ordering::SeqCst);
        // SeqCst accesses alone make the Dekker pair sound (one total order
        // over T1, T2, S1, S2). loom models SeqCst accesses as AcqRel only,
        // so its model needs the fences the real build can do without (an
        // `mfence` per timer added): with neither, loom finds both sides
        // missing the earlier timer.
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        // T2.
        self.sleeping_until.load(Ordering::SeqCst)
    }

    /// S1–S2: announces `first` as the sleeper's deadline until a reload of
    /// the wheels finds nothing earlier; returns the deadline settled on.
    fn settle(&self, mut first: u64) -> u64 {
        loop {
            // S1: with no timer, NONE - 1 still tells adders a sleeper exists.
            self.sleeping_until
                .store(first.min(NONE - 1), Ordering::SeqCst);
            #[cfg(loom)]
            fence(Ordering::SeqCst);
            // S2.
            let again = self.earliest();
            if again >= first {
                return first;
            }
            first = again;
        }
    }

    /// Disarms a timer (no-op if it fired).
    pub(crate) fn cancel(&self, key: TimerKey) {
        let s = &self.shards[key.shard as usize];
        let mut w = s.wheel.lock().unwrap_or_else(|e| e.into_inner());
        if w.remove(key.key).is_some() && w.is_empty() {
            s.next.store(NONE, Ordering::SeqCst);
        }
    }

    /// Makes a pending timer wake `waker` instead (no-op if it already
    /// does); false if the timer has fired or was cancelled.
    pub(crate) fn set_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let s = &self.shards[key.shard as usize];
        let mut w = s.wheel.lock().unwrap_or_else(|e| e.into_inner());
        match w.get_mut(key.key) {
            Some((_, old)) => {
                if !old.will_wake(waker) {
                    old.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Pending timers (counted under each wheel's lock: for stats, kept
    /// off the add/cancel path).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.wheel.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether any timer is armed.
    pub(crate) fn pending(&self) -> bool {
        self.earliest() != NONE
    }

    fn earliest(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.next.load(Ordering::SeqCst))
            .min()
            .unwrap_or(NONE)
    }

    /// Moves the coarse tick to `now` (clock.rs `tick_coarse_clocks`).
    pub(crate) fn tick_coarse(&self, now: Instant) {
        self.coarse_now
            .store(self.tick_down(now), Ordering::Relaxed);
    }

    /// Whether some timer is due: `procs` + 1 loads, and a clock read only
    /// when the earliest deadline is [`NEAR`] or less after the coarse
    /// tick, so the scheduler asks at every schedule (a task that yields
    /// every millisecond, alone on its P, kept timers waiting up to 61
    /// schedules: the tight_loop demo's printer slipped tens of ms). By the
    /// coarse tick alone a timer fired up to a millisecond late while its
    /// P stayed busy: a 10 ms sleep beside a G computing 50 µs between
    /// yields ended most of a millisecond late at the median (Go's a few
    /// tens of µs, as its findrunnable reads the clock whenever its P has
    /// timers).
    ///
    /// A stream of deadlines (a million sleepers firing one after another)
    /// would have nearly every schedule fire a few timers, each time with
    /// the locks, the sort and the wakes of [`fire_due`](Self::fire_due):
    /// the million sleepers' firing took about a third longer. By the
    /// clock, timers are due [`FINE_BATCH`] after the last firing at the
    /// earliest; those in between wait for that batch.
    #[inline]
    pub(crate) fn due_cheaply(&self) -> bool {
        let first = self.earliest();
        let coarse = self.coarse_now.load(Ordering::Relaxed);
        if first <= coarse {
            return true;
        }
        if first - coarse > NEAR {
            return false;
        }
        let now = self.now_tick();
        now >= first && now.saturating_sub(self.fired_at.load(Ordering::Relaxed)) >= FINE_BATCH
    }

    /// Whether the earliest timer is due, or due within [`NEAR`] of the
    /// coarse tick: `procs` + 1 loads, for a yield's direct handoff, which
    /// then asks [`due_cheaply`](Self::due_cheaply) at every yield.
    #[inline]
    pub(crate) fn near(&self) -> bool {
        self.earliest()
            .saturating_sub(self.coarse_now.load(Ordering::Relaxed))
            <= NEAR
    }

    /// Whether some timer is due now.
    pub(crate) fn due(&self) -> bool {
        let next = self.earliest();
        next != NONE && self.now_tick() >= next
    }

    /// Fires every due timer of every wheel not being fired by another M,
    /// in deadline order (wakes run outside the locks).
    pub(crate) fn fire_due(&self) {
        let first = self.earliest();
        if first == NONE {
            return;
        }
        let now = self.now_tick();
        if now < first {
            return;
        }
        self.fired_at.store(now, Ordering::Relaxed);
        let mut fired: Vec<(u64, Waker)> = Vec::new();
        for s in self.shards.iter() {
            if s.next.load(Ordering::SeqCst) > now {
                continue;
            }
            let Ok(mut w) = s.wheel.try_lock() else {
                continue;
            };
            let n = w.advance(now, FIRE_LIMIT, |e| fired.push(e));
            // Exact or earlier (a cascade boundary); an add racing here
            // stores its own fetch_min after our store (it holds the lock).
            let next = if n == FIRE_LIMIT {
                now
            } else {
                w.next_expiration().unwrap_or(NONE)
            };
            s.next.store(next, Ordering::SeqCst);
        }
        fired.sort_by_key(|e| e.0);
        fired.into_iter().for_each(|(_, w)| w.wake());
    }

    /// An idle M asks to be the sleeper. Returns `None` if another M is (or
    /// there is nothing to wait for: no timer and `always` false), else
    /// `Some(deadline)` to sleep until (`Some(None)`: no timer, but the
    /// caller waits anyway, for I/O). S1–S2 of the module doc.
    pub(crate) fn become_sleeper(&self, m: &Arc<M>, always: bool) -> Option<Option<Instant>> {
        let mut st = self.sleeper();
        if st.is_some() {
            return None;
        }
        self.sleeper_wanted.store(false, Ordering::SeqCst);
        let first = self.earliest();
        if first == NONE && !always {
            return None;
        }
        let first = self.settle(first);
        *st = Some(m.clone());
        Some((first != NONE).then(|| self.instant(first)))
    }

    /// The sleeper woke up.
    pub(crate) fn stop_sleeping(&self, m: &Arc<M>) {
        let mut st = self.sleeper();
        if st.as_ref().is_some_and(|s| Arc::ptr_eq(s, m)) {
            *st = None;
            self.sleeping_until.store(NONE, Ordering::SeqCst);
        }
    }

    /// The sleeper now, if any.
    pub(crate) fn current_sleeper(&self) -> Option<Arc<M>> {
        self.sleeper().clone()
    }

    /// Drops every timer and the sleeper (shutdown).
    pub(crate) fn clear(&self) {
        for s in self.shards.iter() {
            let old = std::mem::take(&mut *s.wheel.lock().unwrap_or_else(|e| e.into_inner()));
            s.next.store(NONE, Ordering::SeqCst);
            drop(old);
        }
        let sleeper = self.sleeper().take();
        self.sleeping_until.store(NONE, Ordering::SeqCst);
        drop(sleeper);
    }
}

/// Whom `add` asks the caller to wake.
enum WakeWho {
    Nobody,
    /// The sleeper: an earlier deadline arrived.
    Sleeper(Arc<M>),
    /// No sleeper: an idle M, to become one.
    IdleM,
}

/// A cheap per-thread number, to spread timers added from outside the Ps.
fn thread_hash() -> usize {
    thread_local!(static H: usize = {
        let x = 0u8;
        (std::ptr::from_ref(&x) as usize >> 12).wrapping_mul(0x9E37_79B9)
    });
    H.with(|h| *h)
}

impl crate::sched::Shared {
    /// Arms a timer on this runtime (see the module doc); None when the
    /// deadline has passed (the waker was woken at once).
    pub(crate) fn add_timer(&self, deadline: Instant, waker: Waker) -> Option<TimerKey> {
        let (key, who) = self.timers.add(deadline, waker);
        match who {
            WakeWho::Nobody => {}
            WakeWho::Sleeper(m) => m.wake_up(),
            WakeWho::IdleM => {
                let idle = self.lock().idle_ms.last().cloned();
                if let Some(m) = idle {
                    m.wake_up();
                } else {
                    // No idle M to ask: the next M to go idle becomes the
                    // sleeper anyway. But if a P is idle too, maybe no M
                    // ever will (the runtime's Ms are not started yet and
                    // the timer comes from the `block_on_future` thread):
                    // start one on that P; finding no work, it goes idle
                    // and becomes the sleeper. With every P held, their
                    // Ms fire due timers in findrunnable and every 61st
                    // tick.
                    self.timers.sleeper_wanted.store(false, Ordering::SeqCst);
                    crate::sched::handoff::startm(self, None, false);
                }
            }
        }
        key
    }

    /// The sleeper left its post to run the Gs its poll readied, taking a
    /// P (or sysmon saw a long run with the post vacant): if a P still
    /// idles, an idle M is asked to take the post (with no P; it waits in
    /// epoll when a CPU is spare, else aside, looking at the running Ps:
    /// sched/long_run.rs). Without it, readiness arriving while the Ms run
    /// — one of them perhaps in a G that computes for milliseconds —
    /// waited for a running M to poll, beside an idle P. Go keeps a
    /// spinning M for as long as a P idles; this costs one wake per post
    /// passed, so it is done only where long runs were seen lately
    /// (spare.rs): an echo server's brief Gs never pay for it.
    pub(crate) fn pass_sleeper_post(&self) {
        if self.idle.npidle() == 0
            || !self.spare_cpu.long_runs_lately(self.sysmon.coarse_ms())
            || self.timers.current_sleeper().is_some()
        {
            return;
        }
        if self.timers.sleeper_wanted.swap(true, Ordering::SeqCst) {
            return; // already asked
        }
        let idle = self.lock().idle_ms.last().cloned();
        match idle {
            Some(m) => m.wake_up(),
            None => self.timers.sleeper_wanted.store(false, Ordering::SeqCst),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// T1–T2 against S1–S2: a timer added (tick 5) while an idle M settles
    /// on the earliest deadline (another wheel holds tick 10). Either the
    /// adder sees the sleeper's announced deadline and it is later (so the
    /// adder wakes it), or the sleeper settles on 5: the new timer is never
    /// slept through.
    #[test]
    fn loom_timer_sleeper_sees_earlier_timer() {
        loom::model(|| {
            let t = loom::sync::Arc::new(Timers::new(2));
            t.shards[1].next.store(10, Ordering::SeqCst);
            let adder = loom::thread::spawn({
                let t = t.clone();
                move || t.publish(0, 5)
            });
            let first = t.earliest();
            let settled = t.settle(first);
            let seen = adder.join().unwrap();
            let adder_wakes = seen != NONE && 5 < seen;
            assert!(
                adder_wakes || settled <= 5,
                "the sleeper settled on {settled} and the adder saw {seen}: timer 5 slept through"
            );
        });
    }
}
