//! The runtime object: build it, run a main G and wait for it from the
//! calling thread, spawn from other threads through a [`Handle`], read
//! [`Stats`], and shut down cleanly when it is dropped.
//!
//! No global scheduler state: everything lives in the `Shared` behind an
//! `Arc`, so several runtimes can live in one process (the tests run many at
//! once). The only process-wide pieces are the stack-overflow handler's
//! arena table and the signal disposition, which the OS makes process-wide.
//!
//! Shutdown (dropping the [`Runtime`]):
//!
//! 1. Set the shutdown flag (SeqCst). From now on a park or yield unwinds
//!    its G (g/run.rs), a G that has not started is cancelled when it is
//!    first run, and spawns from outside are refused.
//! 2. Until no G is alive: wake every parked G in the registry (they unwind
//!    at their park point, running their destructors), then wait a little.
//!    Ms keep scheduling meanwhile, so unwinding Gs run normally.
//! 3. Set `exiting`, wake every idle M, drop the timers; Ms leave their loops.
//! 4. Join the M threads, then stop and join sysmon (sched/sysmon.rs).
//!
//! A G that never reaches a park (a `loop {}`) cannot be unwound: after
//! `shutdown_timeout` the drop stops waiting, prints how many Gs are still
//! alive, and detaches their threads (the shared state stays alive with
//! them; nothing is freed under their feet).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{BuildError, Builder, Config};
use crate::join::{JoinError, JoinHandle};
use crate::sched::m::M;
use crate::sched::Shared;
use crate::stack::StackError;

/// An M:N runtime: `procs` Ps, Ms created on demand up to `max_threads`.
pub struct Runtime {
    shared: Arc<Shared>,
}

/// Spawns Gs onto a runtime from any thread; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

/// Why a G could not be spawned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SpawnError {
    /// The runtime is shutting down (spawns from outside it are refused).
    Shutdown,
    /// No stack could be had (only with eager stacks: the mprotect fallback).
    NoStack(StackError),
    /// `go` was called outside any mn runtime.
    NoRuntime,
    /// A task builder's stack size (in bytes) is outside 16 KiB..=1 GiB.
    StackSize(usize),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shutdown => f.write_str("cannot spawn: the mn runtime is shutting down"),
            Self::NoStack(e) => write!(f, "cannot spawn: {e}"),
            Self::StackSize(n) => write!(
                f,
                "cannot spawn: task stack_size = {n} bytes: expected {} (16 KiB) to {} (1 GiB)",
                crate::config::MIN_STACK_SIZE,
                crate::config::MAX_STACK_SIZE
            ),
            Self::NoRuntime => f.write_str(
                "called outside an mn runtime (go() or aio::task::spawn): start one with \
                 Runtime::block_on or block_on_future, or spawn through a Handle",
            ),
        }
    }
}

impl std::error::Error for SpawnError {}

/// A snapshot of a runtime's counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stats {
    /// Number of Ps.
    pub procs: usize,
    /// OS threads (Ms) alive.
    pub threads: usize,
    /// Ps not held by any M.
    pub idle_procs: usize,
    /// Ms spinning (looking for work).
    pub spinning: usize,
    /// Gs spawned and not yet finished.
    pub live_tasks: u64,
    /// Gs waiting in the global run queue.
    pub global_queue: usize,
    /// Gs waiting in the Ps' local queues.
    pub local_queues: usize,
    /// Stack slots carved from arenas so far.
    pub stacks_carved: usize,
    /// Stacks free in the global pool (not counting per-P caches).
    pub stacks_pooled: usize,
    /// Usable size of each G stack (a task builder may give one G another).
    pub stack_size: usize,
    /// I/O sources (sockets, signals) registered with the netpoller.
    pub io_sources: usize,
    /// Timers pending (sleeps, deadlines, async `Sleep`s).
    pub timers: usize,
    /// Gs (async tasks included) ever spawned and accepted.
    pub total_tasks: u64,
    /// Gs taken from another P's queue by an idle P.
    pub steals: u64,
    /// Parks committed (a G went WAITING; cancelled parks not counted).
    pub parks: u64,
    /// Stacks held by Gs: taken at a G's first run (or at its spawn, with
    /// mprotect guards), given back at its exit — and, for an async task,
    /// each time it waits (it takes one again when woken).
    pub stacks_in_use: u64,
    /// OS threads (Ms) the runtime made that are alive (same as `threads`).
    pub ms: usize,
    /// OS threads (Ms) the runtime ever made.
    pub ms_created: usize,
    /// Ms inside `syscall`/`syscall_blocking` now (holding their P, or
    /// having lost it to sysmon or handed it off).
    pub ms_in_syscall: usize,
    /// Ps handed to another M because of a syscall (sysmon's retakes plus
    /// `syscall_blocking` handoffs), since the start.
    pub handoffs: u64,
    /// Ps sysmon took from an M stuck in `syscall`, since the start.
    pub retakes: u64,
    /// Gs sysmon flagged for preemption (ran > 10 ms without a switch).
    pub preemptions: u64,
    /// Times the thread cap (`max_threads`) stopped a new M: the work
    /// waited for a busy one.
    pub threads_capped: u64,
    /// Ps sysmon took from a G that ran more than 10 ms without a runtime
    /// call (computing, or blocking its thread unannounced), since the
    /// start. The G kept its thread; the P went on with the other Gs.
    pub user_retakes: u64,
    /// Times sysmon polled the network itself because no M had for 10 ms
    /// and none waited in epoll (Go's sysmon rule), since the start.
    pub sysmon_netpolls: u64,
    /// Batches of I/O readiness (64 Gs or more) that would have woken a
    /// helper M at once but found every CPU busy: the helper waits until
    /// the backlog is 10 ms old (sched/spare.rs), since the start.
    pub io_helpers_held_back: u64,
    /// Times the idle thread held back that way found a P stuck behind a
    /// task that computed for a millisecond or more with no switch, and
    /// took up the waiting work after all (sched/long_run.rs), since the
    /// start.
    pub long_run_helps: u64,
    /// Ms whose G runs on without a P after such a retake (until its next
    /// runtime call): while nonzero, more threads may compute than there
    /// are Ps — the trade for never starving a P's other Gs.
    pub ms_without_p: usize,
    /// Of the Ms that lost their P to sysmon (in user code or in
    /// `syscall`), those whose thread CPU clock advanced over the last
    /// sysmon sample: computing.
    pub ms_without_p_computing: usize,
    /// Of the same Ms, those whose CPU clock stood still: blocked in the
    /// kernel (a sleep, a lock, a read).
    pub ms_without_p_blocked: usize,
}

impl Runtime {
    /// Starts a runtime with `config` (validated). Only the sysmon thread
    /// starts now (asleep while every P is idle); Ms start when the first G
    /// is spawned.
    pub fn new(config: Config) -> Result<Self, BuildError> {
        let config = config.validate()?;
        // Checked now, not at exit: a trace that cannot be written fails
        // the build.
        let trace = match (&config.trace_file, &config.trace) {
            (Some(file), _) => Some(file.clone()),
            (None, Some(path)) => Some(rt_base::trace_file::TraceFile::open(path).map_err(
                |e| BuildError::Trace {
                    path: path.clone(),
                    error: e.to_string(),
                },
            )?),
            (None, None) => None,
        };
        crate::stack::overflow::install_handler();
        // Before any M or sysmon exists: the fences of syscall.rs U2/U4.
        crate::sched::syscall::asym::register();
        let shared = Shared::new(config, trace);
        // Sysmon (syscall handoff, preemption) runs from the start (it sleeps deeply while
        // every P is idle).
        crate::sched::sysmon::start(&shared);
        Ok(Self { shared })
    }

    /// A [`Builder`] with the default configuration.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `f` as the main G and waits for it, blocking the calling thread.
    /// A panic in `f` comes back as `Err(JoinError::Panicked)`.
    ///
    /// # Safety
    ///
    /// `f` runs as a blocking-style G: the contract of [`go`](crate::go)
    /// applies to it (no thread-local reference or `std` lock guard held
    /// across a park; the G may resume on another thread).
    ///
    /// # Panics
    ///
    /// If called from a G or M of this same runtime (it would wait for
    /// itself); use `go` and `join` there.
    pub unsafe fn block_on<F, T>(&self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        assert!(
            !self.is_current(),
            "Runtime::block_on called from inside the same runtime: it would wait for itself; use go() and join()"
        );
        // SAFETY: the caller upholds `go`'s contract for `f`.
        match unsafe { self.handle().spawn(f) } {
            Ok(h) => h.join(),
            Err(SpawnError::NoStack(e)) => Err(JoinError::NoStack(e)),
            Err(_) => Err(JoinError::Cancelled),
        }
    }

    /// A handle to spawn onto this runtime from other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// The runtime's counters now.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    /// Whether the calling thread is one of this runtime's Ms (for
    /// `block_on_future`'s check, aio/mod.rs).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn on_own_thread(&self) -> bool {
        self.is_current()
    }

    /// Whether the calling thread is one of this runtime's Ms.
    fn is_current(&self) -> bool {
        // SAFETY: M::current is this thread's live M.
        M::current().is_some_and(|m| Arc::ptr_eq(&unsafe { m.as_ref() }.shared, &self.shared))
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.is_current() {
            // Waiting here would wait for ourselves: unwind the others and go.
            rt_base::diag::line(
                "switchyard: an mn Runtime was dropped from one of its own tasks; its threads are detached",
            );
            self.shared.begin_shutdown();
            wake_parked(&self.shared);
            return;
        }
        shutdown(&self.shared);
        if let Some(t) = &self.shared.trace {
            t.write(); // the Chrome trace, after the Ms flushed their lanes
        }
        // Lines queued while stderr was full, if it has room now.
        rt_base::diag::flush(Duration::ZERO);
    }
}

impl Handle {
    /// The runtime of the calling G (or M), or the one entered on this
    /// thread by [`Runtime::block_on_future`], if any.
    pub fn current() -> Option<Handle> {
        let Some(m) = M::current() else {
            #[cfg(not(loom))]
            return crate::aio::entered();
            #[cfg(loom)]
            return None;
        };
        // SAFETY: M::current is this thread's live M.
        let shared = unsafe { m.as_ref() }.shared.clone();
        Some(Handle { shared })
    }

    /// Like [`Handle::current`], but an error (`SpawnError::NoRuntime`)
    /// outside any runtime.
    pub fn try_current() -> Result<Handle, SpawnError> {
        Self::current().ok_or(SpawnError::NoRuntime)
    }

    /// The runtime's [`Builder::user_data`](crate::Builder::user_data).
    pub fn user_data(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.shared.config.user_data.as_ref().map(|u| u.0.clone())
    }

    /// The runtime's shared state (netpoll, timers; aio/task.rs spawns
    /// onto it).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Spawns a G running `f`.
    ///
    /// # Safety
    ///
    /// As for [`go`](crate::go): `f` must not hold a thread-local reference
    /// or a `std` lock guard across a park.
    pub unsafe fn spawn<F, T>(&self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::sched::ready::spawn(&self.shared, f)
    }

    /// The runtime's counters now.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    #[cfg(not(loom))]
    /// The Go-style task dump of this runtime (see [`crate::dump`]).
    pub fn dump(&self) -> String {
        crate::sched::observe::dump(&self.shared, "dump()")
    }

    #[cfg(not(loom))]
    /// This runtime's tasks as data (see [`crate::tasks`]).
    pub fn tasks(&self) -> Vec<rt_base::trace::TaskInfo> {
        crate::sched::observe::tasks(&self.shared)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// `stats` for sched/observe.rs (schedtrace's lines).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn stats_of(shared: &Shared) -> Stats {
    stats(shared)
}

fn stats(shared: &Shared) -> Stats {
    // Per-P counters, summed on read.
    let sum = |pick: fn(&crate::sched::p::P) -> &std::sync::atomic::AtomicU64| -> u64 {
        shared
            .ps
            .iter()
            .map(|p| pick(p).load(Ordering::Relaxed))
            .sum()
    };
    let (carved, pooled) = shared.stacks.counts();
    Stats {
        procs: shared.nprocs(),
        threads: shared.threads.alive(),
        idle_procs: shared.idle.npidle(),
        spinning: shared.idle.nmspinning(),
        live_tasks: shared.live_gs(),
        global_queue: shared.global_len.load(Ordering::Relaxed),
        local_queues: shared.ps.iter().map(|p| p.runq_len()).sum(),
        stacks_carved: carved,
        stacks_pooled: pooled,
        stack_size: shared.stacks.stack_size(),
        io_sources: shared.io_sources(),
        timers: shared.timers.len(),
        // Refusals read first: each was counted as spawned before.
        total_tasks: {
            let refused = shared.external.refused.load(Ordering::SeqCst);
            (sum(|p| &p.spawned) + shared.external.spawned.load(Ordering::SeqCst))
                .saturating_sub(refused)
        },
        steals: sum(|p| &p.counts.steals),
        parks: sum(|p| &p.counts.parks),
        // Returns read first: a stack counted back was counted given.
        stacks_in_use: {
            let back = sum(|p| &p.counts.stacks_back);
            let given = sum(|p| &p.counts.stacks_given)
                + shared.external.stacks_given.load(Ordering::Relaxed);
            given.saturating_sub(back)
        },
        ms: shared.threads.alive(),
        ms_created: shared.threads.created(),
        ms_in_syscall: crate::sched::sysmon::ms_in_syscall(shared),
        handoffs: shared.sysmon.counts.handoffs.load(Ordering::Relaxed),
        retakes: shared.sysmon.counts.retakes.load(Ordering::Relaxed),
        preemptions: shared.sysmon.counts.preemptions.load(Ordering::Relaxed),
        threads_capped: shared.sysmon.counts.threads_capped.load(Ordering::Relaxed),
        user_retakes: shared.sysmon.counts.user_retakes.load(Ordering::Relaxed),
        sysmon_netpolls: shared.sysmon.counts.netpolls.load(Ordering::Relaxed),
        io_helpers_held_back: shared.spare_cpu.held_back.load(Ordering::Relaxed),
        long_run_helps: shared.spare_cpu.long_run_helps.load(Ordering::Relaxed),
        ms_without_p: shared
            .sysmon
            .counts
            .user_retaken_now
            .load(Ordering::Relaxed),
        ms_without_p_computing: shared
            .sysmon
            .counts
            .without_p_computing
            .load(Ordering::Relaxed),
        ms_without_p_blocked: shared
            .sysmon
            .counts
            .without_p_blocked
            .load(Ordering::Relaxed),
    }
}

/// Wakes every parked G (they unwind, since shutdown has begun).
fn wake_parked(shared: &Shared) {
    for g in shared.registry.parked() {
        crate::sched::ready::unpark(&g);
    }
}

/// Steps 1–4 of the module doc.
fn shutdown(shared: &Arc<Shared>) {
    shared.begin_shutdown();
    let deadline = Instant::now() + shared.config.shutdown_timeout;
    let mut nap = Duration::from_micros(50);
    loop {
        wake_parked(shared);
        if shared.live_gs() == 0 {
            break;
        }
        if Instant::now() >= deadline {
            rt_base::diag::line(&format!(
                "switchyard: {} mn task(s) still running {:?} after shutdown began \
                 (a task that never parks cannot be unwound); their threads are detached",
                shared.live_gs(),
                shared.config.shutdown_timeout
            ));
            return;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(2));
    }
    shared.exiting.store(true, Ordering::SeqCst);
    let idle = std::mem::take(&mut shared.lock().idle_ms);
    idle.iter().for_each(|m| m.wake_up());
    drop(idle);
    shared.timers.clear();
    shared.netpoll_clear();
    join_threads(shared, deadline);
    // Sysmon after the Ms (it may still be handing off Ps).
    shared.sysmon.stop_and_join();
}

/// Step 4: waits for every M to leave, then joins the threads.
fn join_threads(shared: &Shared, deadline: Instant) {
    while shared.threads.alive() > 0 {
        if Instant::now() >= deadline {
            rt_base::diag::line(&format!(
                "switchyard: {} mn thread(s) did not stop in time; detached",
                shared.threads.alive()
            ));
            return;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let handles = std::mem::take(
        &mut *shared
            .threads
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    for h in handles {
        let _ = h.join();
    }
}
