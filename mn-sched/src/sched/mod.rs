//! The scheduler: Gs multiplexed over Ms holding Ps, after Go's `proc.go`.
//!
//! Glossary:
//!
//! * **G** — a task with its own stack (`g/`). Runs only on an M holding a P.
//! * **M** — an OS thread running [`schedule`](schedule::schedule) on its own
//!   stack ("g0"). Ms are created on demand (never beyond `max_threads`),
//!   parked on a futex when idle, and reused.
//! * **P** — a processor: the right to run Gs, with a local run queue. There
//!   are exactly `procs` Ps; an M must hold one to run Gs, so at most
//!   `procs` Gs run at once.
//! * **sched lock** — [`Shared::sched`]: the global run queue, the idle Ps
//!   and the idle Ms, in one critical section (as Go's `sched.lock`).
//!
//! Where a runnable G waits, and who takes it:
//!
//! ```text
//!   spawn / wake on a P ──► runnext (1 slot) ──► local ring (256) ──► overflow: half ──► global queue
//!   wake from outside ─────────────────────────────────────────────────────────────────► global queue
//!   an M looks:  every 61st tick: global │ runnext, ring │ global (batch) │ timers, netpoll(0) │
//!                steal half a random P's ring (4 rounds; runnext in the last) │ park on its futex
//! ```
//!
//! Which primitive blocks what (the table Go's HACKING.md keeps):
//!
//! | primitive | blocks the G | blocks the M | holds the P |
//! |---|---|---|---|
//! | `chan` send/recv, `Mutex`, `WaitGroup`, `join`, `sleep` | yes (parked) | no | no (P runs others) |
//! | `net` socket calls (accept, read, write, connect), waiting on `aio` futures from a G | yes (parked; the netpoller readies it) | no | no |
//! | `yield_now` | no (requeued) | no | no |
//! | a park while panicking, a park of a `lock_os_thread` G | yes | yes (sleeps) | no (handed off) |
//! | a blocking call in `syscall` / `syscall_blocking` | yes | yes | no (sysmon retakes it / handed off at once: syscall.rs) |
//! | an unwrapped blocking call, `std::sync::Mutex`, a busy loop | yes | yes | **yes** (flagged after 10 ms; yields at its next spawn) |
//!
//! Files: `runq.rs` (the ring), `global.rs` (the global list), `idle.rs` (the
//! spinning protocol), `p.rs`, `m.rs`, `note.rs` (futex), `find.rs`
//! (findrunnable), `schedule.rs` (execute, exit), `handoff.rs` (starting
//! and stopping Ms, passing Ps), `ready.rs` (wake and spawn), `locked.rs`
//! (`lock_os_thread`), `registry.rs` (parked Gs, for shutdown), `syscall.rs`
//! (`syscall`, the ownership word), `sysmon.rs` (the sysmon thread),
//! `clock.rs` (the epoch clocks and the coarse clocks sysmon moves on),
//! `host.rs` (the thread inside `block_on_future` as an M, its main G).

// The epoch clocks and the coarse clocks sysmon moves on.
pub(crate) mod clock;
pub(crate) mod find;
pub(crate) mod global;
pub(crate) mod handoff;
pub(crate) mod host;
pub(crate) mod idle;
pub(crate) mod locked;
pub(crate) mod m;
pub(crate) mod note;
// Observability: task dump and schedtrace (observe.rs), the Chrome trace
// (trace.rs). Under loom, rt-base has no trace/signal modules: no-op
// stand-ins (observe_loom.rs).
#[cfg(not(loom))]
pub(crate) mod observe;
#[cfg(loom)]
mod observe_loom;
#[cfg(loom)]
pub(crate) use observe_loom::{observe, trace};
pub(crate) mod long_run;
pub(crate) mod p;
pub(crate) mod ready;
pub(crate) mod registry;
pub(crate) mod runq;
pub(crate) mod schedule;
pub(crate) mod spare;
#[cfg(not(loom))]
pub(crate) mod trace;
// Syscall handoff and the sysmon thread.
pub(crate) mod syscall;
pub(crate) mod sysmon;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Config;
use crate::g::alloc::CellPool;
use crate::stack::StackPool;
use crate::timer::Timers;
use global::GlobalQueue;
use idle::Idle;
use m::{Threads, M};
use p::P;
use registry::Registry;

/// Everything one runtime shares between its Ms, Gs and handles.
pub(crate) struct Shared {
    /// The validated configuration.
    pub(crate) config: Config,
    /// The Ps, indexed by `P::id`.
    pub(crate) ps: Box<[P]>,
    /// The sched lock (see the glossary).
    sched: Mutex<SchedLocked>,
    /// Length of the global queue, readable without the lock.
    pub(crate) global_len: AtomicUsize,
    /// Idle-P and spinning-M counters (the protocol of `idle.rs`). Read on
    /// every spawn that kicks a G into a ring: kept off the lines that
    /// other hot fields write.
    pub(crate) idle: CachePadded<Idle>,
    /// G stacks.
    pub(crate) stacks: StackPool,
    /// Free G cells.
    pub(crate) cells: CachePadded<CellPool>,
    /// Timers (sleep, select timeouts).
    pub(crate) timers: Timers,
    /// The netpoller, created by the first I/O source.
    pub(crate) netpoll: crate::netpoll::NetpollCell,
    /// Gs that have parked at least once (shutdown unwinds them).
    pub(crate) registry: Registry,
    /// OS thread accounting and the join handles of the Ms.
    pub(crate) threads: Threads,
    /// Set when the runtime starts shutting down: parks unwind, new Gs are
    /// cancelled before they start, spawns from outside are refused.
    shutdown: AtomicBool,
    /// Set when every G is dead: Ms leave their loops.
    pub(crate) exiting: AtomicBool,
    /// Spawns from outside any P of this runtime (and their refusals).
    pub(crate) external: ExternalCounts,
    /// Next batch of task ids (Ps take 64 at a time).
    pub(crate) goid: CachePadded<AtomicU64>,
    /// The sysmon thread's handle and counters (sysmon.rs).
    pub(crate) sysmon: sysmon::Sysmon,
    /// Whether the machine has a CPU to spare for a helper M (spare.rs).
    pub(crate) spare_cpu: spare::SpareCpu,
    /// The future inside `block_on_future`, for the task dump.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) main: observe::MainSlot,
    /// The Chrome trace recorder, when tracing (trace.rs).
    pub(crate) trace: Option<Box<trace::Tracer>>,
    /// A task dump (or a SIGUSR2 trace write) asks every M holding a P
    /// to stop at its next safe point, so that it may read the Ps' run
    /// queues (or have every M's trace batch handed over): observe.rs.
    pub(crate) dump_stop: AtomicBool,
    /// One such dump at a time.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) dump_lock: std::sync::Mutex<()>,
}

/// Counts of Gs spawned from outside the runtime's Ps.
#[derive(Debug, Default)]
pub(crate) struct ExternalCounts {
    /// Spawn attempts, counted before the shutdown check.
    pub(crate) spawned: AtomicU64,
    /// Attempts refused because shutdown had begun.
    pub(crate) refused: AtomicU64,
    /// Stacks taken at spawn (mprotect guards: eager) by these spawns.
    pub(crate) stacks_given: AtomicU64,
}

/// What the sched lock protects.
pub(crate) struct SchedLocked {
    /// The global run queue.
    pub(crate) global: GlobalQueue,
    /// Ps no M holds (by index).
    pub(crate) idle_ps: Vec<usize>,
    /// Ms parked in `stopm`, waiting for a P.
    pub(crate) idle_ms: Vec<Arc<M>>,
}

// SAFETY: the raw G pointers inside `SchedLocked` are only touched under the
// sched lock, and every other field is Sync.
unsafe impl Send for SchedLocked {}

impl Shared {
    /// A runtime's shared state; every P idle, no M yet. `trace_file`:
    /// where the trace goes, checked already (`Runtime::new`).
    pub(crate) fn new(
        config: Config,
        trace_file: Option<rt_base::trace_file::TraceFile>,
    ) -> Arc<Self> {
        let procs = config.procs;
        Arc::new(Self {
            ps: (0..procs).map(|id| P::new(id, procs == 1)).collect(),
            sched: Mutex::new(SchedLocked {
                global: GlobalQueue::default(),
                idle_ps: (0..procs).rev().collect(),
                idle_ms: Vec::new(),
            }),
            global_len: AtomicUsize::new(0),
            idle: CachePadded(Idle::new(procs)),
            stacks: StackPool::new(&config),
            cells: CachePadded(CellPool::default()),
            timers: Timers::new(procs),
            netpoll: crate::netpoll::NetpollCell::default(),
            registry: Registry::default(),
            threads: Threads::new(config.max_threads),
            shutdown: AtomicBool::new(false),
            exiting: AtomicBool::new(false),
            external: ExternalCounts::default(),
            goid: CachePadded(AtomicU64::new(1)),
            sysmon: sysmon::Sysmon::default(),
            spare_cpu: spare::SpareCpu::new(),
            main: observe::MainSlot::default(),
            trace: trace_file.map(|f| Box::new(trace::Tracer::new(f))),
            dump_stop: AtomicBool::new(false),
            dump_lock: std::sync::Mutex::new(()),
            config,
        })
    }

    /// Takes the sched lock (never held across a park or a switch).
    pub(crate) fn lock(&self) -> MutexGuard<'_, SchedLocked> {
        self.sched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Begins shutdown (see `runtime.rs`).
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }

    /// Number of Ps.
    pub(crate) fn nprocs(&self) -> usize {
        self.ps.len()
    }

    /// Gs spawned and not yet dead. Exits are read before spawns, so a G
    /// counted as exited is always counted as spawned too (its spawn
    /// happened before its exit, and the counters are release/acquire):
    /// the result never undercounts.
    pub(crate) fn live_gs(&self) -> u64 {
        let exited: u64 = self
            .ps
            .iter()
            .map(|p| p.exited.load(Ordering::Acquire))
            .sum::<u64>()
            + self.external.refused.load(Ordering::SeqCst);
        let spawned: u64 = self
            .ps
            .iter()
            .map(|p| p.spawned.load(Ordering::Acquire))
            .sum::<u64>()
            + self.external.spawned.load(Ordering::SeqCst);
        spawned.saturating_sub(exited)
    }

    /// A counted handle on this runtime.
    pub(crate) fn arc(&self) -> Arc<Shared> {
        // SAFETY: every Shared is created inside an Arc (`Shared::new`), and
        // whoever calls this is reached from something that keeps that Arc
        // alive: an M (holds one), a live G (rule 4 of g/mod.rs) or a handle.
        unsafe {
            let ptr = std::ptr::from_ref(self);
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }
}

/// Keeps a value on cache lines of its own (two 64-byte lines: x86 CPUs
/// fetch lines in adjacent pairs), so that writes to it and to its
/// neighbours do not invalidate each other's lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
