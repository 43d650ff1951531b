//! P: a processor, the right to run Gs. Its run queue takes wakes and
//! spawns from the G running on it; its stack cache and id cache spare the
//! global locks.
//!
//! Whoever holds a P may use its owner-side operations; the only door to
//! them is [`Held`], a token made when an M acquires the P (`handoff.rs`)
//! and reachable only from that M's thread (`M::held`). Thieves and
//! observers use the P's shared side: the ring's steal end, `owner`, `tick`,
//! and the counters.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::runq::RunQueue;
use super::Shared;
use crate::g::alloc::FreeCells;
use crate::g::Header;
use crate::stack::StackCache;

/// Task ids a P takes from the global counter at a time.
const GOID_BATCH: u64 = 64;

/// One processor. Aligned so that neighbouring Ps in `Shared::ps` never
/// share a cache line (each is written by its own holder).
#[repr(align(128))]
pub(crate) struct P {
    /// Index in `Shared::ps`.
    pub(crate) id: usize,
    /// Local run queue (runq.rs).
    pub(crate) runq: RunQueue<Header>,
    /// Ownership word: 0 when idle, else the holding M's id + 1. Sysmon
    /// retakes a P from an M stuck in a syscall by CASing this word;
    /// the M checks it at its next runtime call.
    /// (A loom atomic under `--cfg loom`: syscall.rs models its protocol.)
    pub(crate) owner: crate::loom::AtomicUsize,
    /// Set by sysmon while it decides to retake this P from user code
    /// (syscall.rs step U4); a runtime call that sees it waits for the
    /// decision (U2).
    pub(crate) retaking: crate::loom::AtomicBool,
    /// Schedule ticks: +1 per G switched in. A tick sysmon sees
    /// unchanged for 10 ms means the same G has run that long — Go's
    /// `schedtick`, the run-start hook, with no clock read per switch.
    pub(crate) tick: AtomicU32,
    /// When the run of tick `run_start.1` began (ns since sysmon's epoch),
    /// recorded only while sysmon sleeps deeply or has not yet run since
    /// its wake: sysmon's first sighting of that run may come milliseconds
    /// late (the OS may put it on the CPU the new run spins on), and it
    /// counts the run's 10 ms from here instead.
    pub(crate) run_start: (AtomicU64, AtomicU32),
    /// For sysmon (sched/syscall.rs): +1 per `syscall` entered on this P
    /// (holder writes; sysmon reads to tell one long syscall from many).
    pub(crate) syscalltick: AtomicU32,
    /// Set by sysmon when the G running on this P has run
    /// more than 10 ms (its `tick` unchanged); cleared at the next switch-in. The
    /// per-G preempt flag lives here: a P runs one G at a time.
    pub(crate) preempt: std::sync::atomic::AtomicBool,
    /// sysmon's coarse clock (ms) when Gs readied by a poll of the network
    /// last sat in this P's ring with no helper woken for them; 0: none
    /// waiting (holder only; ready.rs `wake_to_back`).
    pub(crate) io_backlog_since: AtomicU32,
    /// The coarse ms at which a yield's direct handoff last looked for due
    /// timers and a due network poll (holder only; g/run.rs
    /// `handoff_yield`): within one ms neither can become due.
    pub(crate) yield_looked_at: AtomicU32,
    /// That look found a timer due within a coarse tick or two: yields
    /// look at every handoff until it fires (holder only).
    pub(crate) timer_near: std::sync::atomic::AtomicBool,
    /// The holder is stopped at a safe point for a task dump
    /// (observe.rs `stop_at_safe_point`).
    pub(crate) dump_parked: std::sync::atomic::AtomicBool,
    /// Gs spawned by Gs on this P (written by the holder only).
    pub(crate) spawned: AtomicU64,
    /// Gs that exited on this P (written by the holder only).
    pub(crate) exited: AtomicU64,
    /// `Stats` counters, written by the holder only (summed on read):
    /// Gs stolen by this P, parks committed on it, stacks given to Gs
    /// starting on it and taken back from Gs exiting on it.
    pub(crate) counts: PCounts,
    /// Holder-only state.
    local: UnsafeCell<PLocal>,
}

/// Per-P statistics: written by the holder with a plain
/// load + store (no read-modify-write), read by `stats()` from anywhere.
#[derive(Debug, Default)]
pub(crate) struct PCounts {
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) stacks_given: AtomicU64,
    pub(crate) stacks_back: AtomicU64,
}

/// What only the holder of a P touches.
#[derive(Debug, Default)]
pub(crate) struct PLocal {
    /// Stacks kept for reuse.
    pub(crate) stacks: StackCache,
    /// G cells kept for reuse.
    pub(crate) cells: FreeCells,
    /// Next task id of the P's batch, and the end of the batch.
    goid: (u64, u64),
}

// SAFETY: `local` is touched only through `Held`, which exists only on the
// thread of the M holding the P; everything else is atomic.
unsafe impl Sync for P {}

impl P {
    /// An idle P; `alone`: the runtime's only P (no thief for its ring).
    pub(crate) fn new(id: usize, alone: bool) -> Self {
        Self {
            id,
            runq: RunQueue::with_thieves(!alone),
            owner: crate::loom::AtomicUsize::new(0),
            retaking: crate::loom::AtomicBool::new(false),
            tick: AtomicU32::new(0),
            syscalltick: AtomicU32::new(0),
            run_start: (AtomicU64::new(0), AtomicU32::new(0)),
            preempt: std::sync::atomic::AtomicBool::new(false),
            io_backlog_since: AtomicU32::new(0),
            yield_looked_at: AtomicU32::new(0),
            timer_near: std::sync::atomic::AtomicBool::new(false),
            dump_parked: std::sync::atomic::AtomicBool::new(false),
            spawned: AtomicU64::new(0),
            exited: AtomicU64::new(0),
            counts: PCounts::default(),
            local: UnsafeCell::new(PLocal::default()),
        }
    }

    /// Whether the P's queue looks empty (a racy snapshot).
    pub(crate) fn runq_is_empty(&self) -> bool {
        self.runq.is_empty()
    }

    /// Whether the P's ring is empty (`runnext` aside): idle.rs step D3.
    pub(crate) fn ring_is_empty(&self) -> bool {
        self.runq.ring_is_empty()
    }

    /// Number of queued Gs (a racy snapshot).
    pub(crate) fn runq_len(&self) -> usize {
        self.runq.len()
    }
}

/// Proof that the calling thread's M holds this P.
///
/// Made by `M::held`. A token made from user code on a G (step U2 of
/// syscall.rs) gives the P back to user state when dropped (U3), so it
/// must never live across a switch; `keep` ends it without that.
pub(crate) struct Held<'a> {
    p: &'a P,
    /// For a token from user code: the M's call count (odd now), which
    /// the drop makes even (U3). Two words in all, so the token comes back
    /// from `M::held` in registers.
    calls: Option<&'a crate::loom::AtomicUsize>,
    /// Not Send: the proof is only valid on the holder's thread.
    _thread: PhantomData<*const ()>,
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(calls) = self.calls {
            super::syscall::user_return(calls);
        }
    }
}

impl<'a> Held<'a> {
    /// # Safety
    ///
    /// The calling thread's M holds `p` (its `owner` word names it) for as
    /// long as the token lives.
    pub(crate) unsafe fn new(p: &'a P) -> Self {
        Self {
            p,
            calls: None,
            _thread: PhantomData,
        }
    }

    /// A token for a runtime call from user code (step U2 done): its drop
    /// makes the M's count `calls` even (U3).
    ///
    /// # Safety
    ///
    /// As `new`, and the M's count is odd now.
    #[inline]
    pub(crate) unsafe fn from_user(p: &'a P, calls: &'a crate::loom::AtomicUsize) -> Self {
        Self {
            p,
            calls: Some(calls),
            _thread: PhantomData,
        }
    }

    /// Whether the token was taken from user code (its drop would give the
    /// P back to user state).
    pub(crate) fn is_user_call(&self) -> bool {
        self.calls.is_some()
    }

    /// Ends the token leaving the P in runtime state (the M's count odd):
    /// for a switch out of the G, `syscall`'s step 1, or `release_p`.
    pub(crate) fn keep(self) -> &'a P {
        let p = self.p;
        std::mem::forget(self);
        p
    }

    /// The P.
    pub(crate) fn p(&self) -> &'a P {
        self.p
    }

    /// Runs `f` on the holder-only state.
    pub(crate) fn with_local<R>(&self, f: impl FnOnce(&mut PLocal) -> R) -> R {
        // SAFETY: we hold the P, and no `with_local` call is reentrant (the
        // closures passed here never reach another `with_local`).
        f(unsafe { &mut *self.p.local.get() })
    }

    /// Puts `g` at the back of the ring; overflow goes to the global queue.
    #[inline]
    pub(crate) fn push_back(&self, g: NonNull<Header>, shared: &Shared) {
        // SAFETY: we hold the P, so we are the ring's owner.
        if !unsafe { self.p.runq.try_push_back(g) } {
            self.push_back_overflowing(g, shared);
        }
    }

    /// Puts `g` at the back of the ring, or, if the ring is full or the
    /// global queue holds Gs, into `batch`, bound for the back of the
    /// global queue: unlike [`push_back`](Self::push_back), every G already
    /// queued keeps its place ahead of it (a batch of I/O readiness stays
    /// in order, and behind the readiness of earlier polls: ready.rs
    /// `wake_to_back`).
    #[inline]
    pub(crate) fn push_back_in_order(
        &self,
        g: NonNull<Header>,
        shared: &Shared,
        batch: &mut super::global::GList,
    ) {
        // Behind a non-empty global queue the ring would be a shortcut: with
        // more ready connections than the ring holds, the Gs that overflowed
        // waited there while each new poll's Gs went ahead of them into the
        // ring (echo, 1,000 connections at 1 P: a p99 some fifty times the
        // p50).
        if batch.len() > 0 || shared.global_len.load(Ordering::Relaxed) > 0 {
            batch.push(g);
            return;
        }
        // SAFETY: we hold the P, so we are the ring's owner.
        if !unsafe { self.p.runq.try_push_back(g) } {
            batch.push(g);
        }
    }

    #[cold]
    fn push_back_overflowing(&self, g: NonNull<Header>, shared: &Shared) {
        let mut batch = super::global::GList::default();
        // SAFETY: we hold the P, so we are the ring's owner.
        unsafe { self.p.runq.push_back(g, &mut |g| batch.push(g)) };
        if batch.len() > 0 {
            shared.global_push_list(&mut batch);
        }
    }

    /// Makes `g` the next to run; returns the G it displaced.
    pub(crate) fn put_next(&self, g: NonNull<Header>) -> Option<NonNull<Header>> {
        // SAFETY: we hold the P.
        unsafe { self.p.runq.put_next(g) }
    }

    /// Takes the next G of this P.
    pub(crate) fn pop(&self) -> Option<NonNull<Header>> {
        // SAFETY: we hold the P.
        unsafe { self.p.runq.pop() }
    }

    /// Steals about half of `victim`'s queue into ours; returns one G.
    pub(crate) fn steal_from(&self, victim: &P, steal_next: bool) -> Option<NonNull<Header>> {
        let wait = || {
            // Rule 4 of runq.rs: a running victim is probably about to run
            // its runnext (a ping-pong partner); give it ~3 µs.
            if victim.owner.load(Ordering::Relaxed) != 0 {
                let until = std::time::Instant::now() + std::time::Duration::from_micros(3);
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
        };
        // SAFETY: we hold our P (we are its ring's owner) and only steal when
        // our ring is empty (find.rs steals after `pop` found nothing).
        unsafe { self.p.runq.steal_from(&victim.runq, steal_next, &wait) }
    }

    /// Counts a switch-in; returns the new tick.
    #[inline]
    pub(crate) fn bump_tick(&self, shared: &Shared) -> u32 {
        let t = self.p.tick.load(Ordering::Relaxed).wrapping_add(1);
        self.p.tick.store(t, Ordering::Relaxed);
        if shared.sysmon.catching_up() {
            self.p
                .run_start
                .0
                .store(super::clock::now_ns(), Ordering::Relaxed);
            self.p.run_start.1.store(t, Ordering::Relaxed);
        }
        // A new run starts: any preemption request is met.
        if self.p.preempt.load(Ordering::Relaxed) {
            self.p.preempt.store(false, Ordering::Relaxed);
        }
        t
    }

    /// Counts a spawn by a G on this P.
    pub(crate) fn count_spawn(&self) {
        let n = self.p.spawned.load(Ordering::Relaxed) + 1;
        self.p.spawned.store(n, Ordering::Release);
    }

    /// Counts an exit on this P.
    pub(crate) fn count_exit(&self) {
        let n = self.p.exited.load(Ordering::Relaxed) + 1;
        self.p.exited.store(n, Ordering::Release);
    }

    /// Adds one to a counter of this P's `counts` (holder only).
    pub(crate) fn count(&self, pick: fn(&PCounts) -> &AtomicU64) {
        let c = pick(&self.p.counts);
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// A fresh task id.
    pub(crate) fn next_goid(&self, shared: &Shared) -> u64 {
        self.with_local(|l| {
            if l.goid.0 == l.goid.1 {
                let start = shared.goid.fetch_add(GOID_BATCH, Ordering::Relaxed);
                l.goid = (start, start + GOID_BATCH);
            }
            l.goid.0 += 1;
            l.goid.0 - 1
        })
    }
}
