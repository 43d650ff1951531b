//! sysmon: a thread with no P that watches the Ps (Go's `sysmon`). Each
//! tick it retakes the P of an M that has stayed inside
//! [`syscall`](crate::syscall) across a whole tick (step 2 of syscall.rs)
//! and hands it to another M, so the P's other Gs keep running while the
//! call blocks its thread.
//!
//! Pacing: it sleeps 20 µs, doubling up to 1 ms while nothing needs
//! retaking, back to 20 µs after a retake or on first sight of a syscall. When every P is idle it sleeps
//! on a futex until a P is acquired again (`wake_if_sleeping`, called from
//! `acquire_p`). It holds only a weak reference to the runtime between
//! ticks; shutdown stops and joins it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::handoff::handoffp;
use super::note::Note;
use super::syscall::IN_SYSCALL;
use super::Shared;

/// Shortest sysmon sleep.
const MIN_TICK: Duration = Duration::from_micros(20);
/// Longest sysmon sleep while some P runs Gs.
const MAX_TICK: Duration = Duration::from_millis(1);

/// Counters shown in `Stats`.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Ps handed to another M because their M entered a syscall
    /// (retakes plus `syscall_blocking` handoffs).
    pub(crate) handoffs: AtomicU64,
    /// Ps sysmon took from an M inside `syscall`.
    pub(crate) retakes: AtomicU64,
    /// Gs flagged for preemption (ran > 10 ms without a switch).
    pub(crate) preemptions: AtomicU64,
    /// Ms in `syscall_blocking` now (they hold no P).
    pub(crate) blocking_now: AtomicUsize,
    /// Ms whose P was retaken and that have not got one back yet.
    pub(crate) retaken_now: AtomicUsize,
    /// New Ms refused by the thread cap (the work waited).
    pub(crate) threads_capped: AtomicU64,
}

/// What the runtime and the sysmon thread share.
#[derive(Debug, Default)]
struct Wake {
    /// Where sysmon sleeps deeply.
    note: Note,
    /// Set (SeqCst) before a deep sleep, cleared after.
    sleeping: AtomicBool,
    /// Leave the loop.
    stop: AtomicBool,
}

/// The runtime's side of sysmon: its thread, its wake-up and its counters.
#[derive(Debug, Default)]
pub(crate) struct Sysmon {
    wake: Arc<Wake>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Counters for `Stats`.
    pub(crate) counts: Counts,
    /// Ms back from a syscall waiting for a P (addresses of `M`s, oldest
    /// first); see syscall.rs step 4.
    waiters: Mutex<std::collections::VecDeque<usize>>,
    /// `waiters.len()`, readable without the lock.
    pub(crate) waiting: AtomicUsize,
}

impl Sysmon {
    /// Wakes sysmon if it sleeps deeply (every P was idle). One relaxed load
    /// when it does not.
    #[inline]
    pub(crate) fn wake_if_sleeping(&self) {
        if self.wake.sleeping.load(Ordering::SeqCst) {
            self.wake.note.wake();
        }
    }

    /// The queue of Ms waiting for a P.
    pub(crate) fn lock_waiters(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::VecDeque<usize>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an M waiting for a P.
    pub(crate) fn push_waiter(&self, m: usize) {
        let mut w = self.lock_waiters();
        w.push_back(m);
        self.waiting.store(w.len(), Ordering::SeqCst);
    }

    /// Stops the thread and waits for it (shutdown step 4).
    pub(crate) fn stop_and_join(&self) {
        self.wake.stop.store(true, Ordering::SeqCst);
        self.wake.note.wake();
        let h = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }
}

impl Drop for Sysmon {
    fn drop(&mut self) {
        // The runtime is gone (possibly dropped on the sysmon thread
        // itself): tell the thread, never join here.
        self.wake.stop.store(true, Ordering::SeqCst);
        self.wake.note.wake();
    }
}

/// Starts the sysmon thread of `shared`. If the OS refuses a thread, the
/// runtime runs without one (a warning is printed): syscalls then keep
/// their P until they return.
pub(crate) fn start(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let wake = shared.sysmon.wake.clone();
    let spawned = std::thread::Builder::new()
        .name("mn-sysmon".into())
        .spawn(move || run(&weak, &wake));
    match spawned {
        Ok(h) => {
            *shared
                .sysmon
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(h);
        }
        Err(e) => {
            eprintln!("switchyard: could not start the mn sysmon thread ({e}); running without it")
        }
    }
}

/// A G that runs this long without a switch is flagged for preemption.
const FORCE_PREEMPT: Duration = Duration::from_millis(10);

/// What sysmon remembers of one P between ticks.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// `P::tick` at the last change sysmon saw, and when it saw it.
    tick: u32,
    since: Option<Instant>,
    /// The P was inside a syscall at the last tick...
    in_syscall: bool,
    /// ... with this `syscalltick`.
    syscalltick: u32,
}

/// The sysmon loop.
fn run(weak: &Weak<Shared>, wake: &Wake) {
    let mut seen: Vec<Seen> = Vec::new();
    let mut delay = MIN_TICK;
    // Issue 7 hook: schedtrace lines and the SIGQUIT dump (observe.rs).
    let mut watch = match weak.upgrade() {
        Some(shared) => super::observe::Watch::new(&shared),
        None => return,
    };
    loop {
        if wake.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(shared) = weak.upgrade() else { return };
        if shared.exiting.load(Ordering::SeqCst) {
            return;
        }
        watch.tick(&shared);
        if seen.len() != shared.nprocs() {
            seen = vec![Seen::default(); shared.nprocs()];
        }
        if all_idle(&shared) {
            wake.sleeping.store(true, Ordering::SeqCst);
            // Dekker with acquire_p: it stores `owner`, then loads
            // `sleeping`; we store `sleeping`, then load the owners.
            if all_idle(&shared) {
                drop(shared);
                // Issue 7: no deeper than the next schedtrace line or
                // signal check.
                wake.note.sleep(watch.deadline());
            }
            wake.sleeping.store(false, Ordering::SeqCst);
            delay = MIN_TICK;
            continue;
        }
        let retook = retake(&shared, &mut seen);
        poll_network_if_stale(&shared);
        drop(shared);
        delay = if retook {
            MIN_TICK
        } else {
            (delay * 2).min(MAX_TICK)
        };
        std::thread::sleep(delay);
    }
}

/// Whether no M holds any P.
fn all_idle(shared: &Shared) -> bool {
    shared
        .ps
        .iter()
        .all(|p| p.owner.load(Ordering::SeqCst) == 0)
}

/// Step 2 of syscall.rs for every P; true if a P was retaken or a new
/// syscall was seen (the next tick is then a short one).
fn retake(shared: &Shared, seen: &mut [Seen]) -> bool {
    let mut retook = false;
    let now = Instant::now();
    for (p, s) in shared.ps.iter().zip(seen.iter_mut()) {
        let owner = p.owner.load(Ordering::Acquire);
        if owner & IN_SYSCALL == 0 {
            s.in_syscall = false;
            preempt_long_runner(shared, p, s, owner, now);
            continue;
        }
        let tick = p.syscalltick.load(Ordering::Relaxed);
        if !(s.in_syscall && s.syscalltick == tick) {
            // First sight of this syscall: give it one tick, a short one
            // (the next tick is MIN_TICK), so a retake comes at most about
            // MAX_TICK + MIN_TICK after the call began.
            s.in_syscall = true;
            s.syscalltick = tick;
            retook = true;
            continue;
        }
        s.in_syscall = false;
        let c = &shared.sysmon.counts;
        // Counted before the CAS, so the M's decrement (after it wins a P
        // back) never runs first.
        c.retaken_now.fetch_add(1, Ordering::Relaxed);
        if !super::syscall::owner_retake(&p.owner, owner) {
            c.retaken_now.fetch_sub(1, Ordering::Relaxed);
            continue; // the M came back first (step 3)
        }
        c.retakes.fetch_add(1, Ordering::Relaxed);
        c.handoffs.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = &shared.trace {
            // Issue 7: on the sysmon lane.
            t.other(super::trace::EventKind::Retake, p.id as u64);
            t.other(super::trace::EventKind::Handoff, p.id as u64);
        }
        handoffp(shared, p.id);
        retook = true;
    }
    retook
}

/// Flags the G running on `p` if it has run > 10 ms (`P::tick` unchanged).
fn preempt_long_runner(shared: &Shared, p: &super::p::P, s: &mut Seen, owner: usize, now: Instant) {
    let tick = p.tick.load(Ordering::Relaxed);
    if owner == 0 || s.since.is_none() || s.tick != tick {
        s.tick = tick;
        s.since = Some(now);
        return;
    }
    if s.since
        .is_some_and(|t| now.duration_since(t) >= FORCE_PREEMPT)
        && !p.preempt.swap(true, Ordering::Relaxed)
    {
        shared
            .sysmon
            .counts
            .preemptions
            .fetch_add(1, Ordering::Relaxed);
        if let Some(t) = &shared.trace {
            t.other(super::trace::EventKind::Preempt, p.id as u64); // issue 7
        }
    }
}

/// Whether sysmon asked the G running on this thread to yield (it has run more than
/// 10 ms). Blocking-style Gs are made to yield at their next spawn; async
/// tasks check it at their next await (wired by the lead). False off a G.
pub(crate) fn preempt_requested() -> bool {
    let Some(m) = super::m::M::current() else {
        return false;
    };
    // SAFETY: M::current is this thread's live M.
    let m = unsafe { m.as_ref() };
    m.curg().is_some()
        && m.held()
            .is_some_and(|h| h.p().preempt.load(Ordering::Relaxed))
}

/// The preempt flag of the P the current G runs with, for
/// `loop_core::coop::reset_preemptible` (null off a G or without a P). The
/// Ps live as long as the runtime, which outlives every poll of its Gs.
pub(crate) fn preempt_flag() -> *const std::sync::atomic::AtomicBool {
    let Some(m) = super::m::M::current() else {
        return std::ptr::null();
    };
    // SAFETY: M::current is this thread's live M.
    let m = unsafe { m.as_ref() };
    match m.held() {
        Some(h) if m.curg().is_some() => &h.p().preempt,
        _ => std::ptr::null(),
    }
}

/// Ms inside a syscall now: those still holding their P (its owner word
/// says so), those that handed it off, those whose P was retaken.
pub(crate) fn ms_in_syscall(shared: &Shared) -> usize {
    let holding = shared
        .ps
        .iter()
        .filter(|p| p.owner.load(Ordering::Relaxed) & IN_SYSCALL != 0)
        .count();
    let c = &shared.sysmon.counts;
    holding + c.blocking_now.load(Ordering::Relaxed) + c.retaken_now.load(Ordering::Relaxed)
}

/// Hook for the netpoll helper (issue 6 / M:N I/O): poll the network when
/// no M has polled it for 10 ms and queue the Gs it makes ready. A no-op
/// until netpoll is merged.
pub(crate) fn poll_network_if_stale(_shared: &Shared) {}
