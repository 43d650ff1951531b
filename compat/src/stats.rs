//! `stats()`: one stable snapshot of the runtime, whatever the mode.
//!
//! Every field is documented and present in both modes; a field that has no
//! meaning in the running mode is 0 (single mode has no Ms, Ps beyond one,
//! steals or handoffs). `threads` is read from `/proc/self/status`, so it
//! counts every thread of the process, the program's own included.

use crate::engine;
use crate::Mode;

/// A snapshot of a runtime's state and counters, from [`stats`].
///
/// Every field is present in both modes; a field that has no meaning in
/// the running mode is 0 (single mode has no Ms, no Ps beyond one, no
/// steals or handoffs). [`Stats::to_prometheus`] renders it for a
/// `/metrics` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The execution model.
    pub mode: Mode,
    /// Processors (Ps): 1 in single mode.
    pub procs: usize,
    /// Single mode with several loops (`run_each`, `RUNTIME_LOOPS`): how
    /// many; 1 otherwise. The task counts below are this loop's.
    pub loops: usize,
    /// Which loop these figures are of (0 without several loops).
    pub loop_id: usize,
    /// OS threads of the whole process, from `/proc/self/status`.
    pub threads: usize,
    /// Tasks alive: spawned, not yet finished (or finished with an unclaimed
    /// output).
    pub live_tasks: usize,
    /// Tasks spawned since the runtime started.
    pub total_tasks: u64,
    /// Tasks ready to run, waiting for their turn.
    pub runnable_tasks: usize,
    /// Timers pending.
    pub timers: usize,
    /// I/O sources registered with the poller.
    pub io_sources: usize,
    /// Task polls since the start.
    pub polls: u64,
    /// Threads of the `spawn_blocking` pool alive now.
    pub blocking_threads: usize,
    /// Of those, threads idle.
    pub blocking_idle: usize,
    /// Jobs waiting for a blocking thread.
    pub blocking_queued: usize,
    /// mn: Ms (OS threads of the scheduler) running a task with a P.
    pub ms_running: usize,
    /// mn: Ms inside a `syscall`.
    pub ms_in_syscall: usize,
    /// mn: Ms whose P sysmon took while their task ran on in user code
    /// (computing, or blocked without `syscall`) for more than 10 ms; each
    /// gets a P back at its task's next runtime call.
    pub ms_without_p: usize,
    /// mn: of the Ms that lost their P to sysmon (in user code or in a
    /// `syscall`), those computing (their thread's CPU clock moves).
    pub ms_without_p_computing: usize,
    /// mn: of the same Ms, those blocked (their CPU clock stands still).
    pub ms_without_p_blocked: usize,
    /// mn: Ms parked, waiting for work.
    pub ms_idle: usize,
    /// mn: tasks taken from another P's run queue.
    pub steals: u64,
    /// mn: Ps handed to another M because their M blocked.
    pub handoffs: u64,
    /// mn: Ps retaken by sysmon from an M stuck in a syscall or a long run.
    pub retakes: u64,
    /// mn: tasks asked to yield after running too long.
    pub preemptions: u64,
    /// mn: times a task parked (blocked and gave its M back).
    pub parks: u64,
    /// mn: task stacks in use.
    pub stacks_in_use: usize,
    /// mn: bursts of socket readiness whose helper M was held back because
    /// every CPU was busy (it comes once the backlog is 10 ms old).
    pub io_helpers_held_back: u64,
    /// mn: times a held-back idle thread found a processor stuck behind a
    /// task computing for a millisecond or more, and took up the waiting
    /// work.
    pub long_run_helps: u64,
}

impl Stats {
    fn empty(mode: Mode) -> Self {
        Stats {
            mode,
            procs: 1,
            loops: engine::loop_count(),
            loop_id: crate::loop_id().unwrap_or(0),
            threads: crate::os::thread_count(),
            live_tasks: 0,
            total_tasks: 0,
            runnable_tasks: 0,
            timers: 0,
            io_sources: 0,
            polls: 0,
            blocking_threads: 0,
            blocking_idle: 0,
            blocking_queued: 0,
            ms_running: 0,
            ms_in_syscall: 0,
            ms_without_p: 0,
            ms_without_p_computing: 0,
            ms_without_p_blocked: 0,
            ms_idle: 0,
            steals: 0,
            handoffs: 0,
            retakes: 0,
            preemptions: 0,
            parks: 0,
            stacks_in_use: 0,
            io_helpers_held_back: 0,
            long_run_helps: 0,
        }
    }

    /// The snapshot in the Prometheus text exposition format (version
    /// 0.0.4): one gauge or counter per field, each with `# HELP` and
    /// `# TYPE` lines, plus `switchyard_info{mode=...}`.
    pub fn to_prometheus(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP switchyard_{name} {help}");
            let _ = writeln!(out, "# TYPE switchyard_{name} {kind}");
            let _ = writeln!(out, "switchyard_{name} {value}");
        };
        metric(
            "os_threads",
            "gauge",
            "OS threads of the process (from /proc/self/status).",
            self.threads as f64,
        );
        metric(
            "procs",
            "gauge",
            "Processors (Ps); 1 in single mode.",
            self.procs as f64,
        );
        metric(
            "tasks_live",
            "gauge",
            "Tasks alive.",
            self.live_tasks as f64,
        );
        metric(
            "tasks_total",
            "counter",
            "Tasks spawned since the start.",
            self.total_tasks as f64,
        );
        metric(
            "tasks_runnable",
            "gauge",
            "Tasks ready to run.",
            self.runnable_tasks as f64,
        );
        metric("timers", "gauge", "Timers pending.", self.timers as f64);
        metric(
            "io_sources",
            "gauge",
            "I/O sources registered with the poller.",
            self.io_sources as f64,
        );
        metric(
            "polls_total",
            "counter",
            "Task polls since the start.",
            self.polls as f64,
        );
        metric(
            "blocking_threads",
            "gauge",
            "Threads of the spawn_blocking pool.",
            self.blocking_threads as f64,
        );
        metric(
            "blocking_idle",
            "gauge",
            "Idle threads of the spawn_blocking pool.",
            self.blocking_idle as f64,
        );
        metric(
            "blocking_queued",
            "gauge",
            "Jobs waiting for a blocking thread.",
            self.blocking_queued as f64,
        );
        metric(
            "ms_running",
            "gauge",
            "mn: Ms running a task with a P.",
            self.ms_running as f64,
        );
        metric(
            "ms_in_syscall",
            "gauge",
            "mn: Ms inside a system call.",
            self.ms_in_syscall as f64,
        );
        metric(
            "ms_without_p",
            "gauge",
            "mn: Ms whose P was retaken while their task ran on.",
            self.ms_without_p as f64,
        );
        metric(
            "ms_without_p_computing",
            "gauge",
            "mn: Ms without their P whose thread computes (CPU clock moves).",
            self.ms_without_p_computing as f64,
        );
        metric(
            "ms_without_p_blocked",
            "gauge",
            "mn: Ms without their P whose thread is blocked (CPU clock still).",
            self.ms_without_p_blocked as f64,
        );
        metric(
            "ms_idle",
            "gauge",
            "mn: Ms parked, waiting for work.",
            self.ms_idle as f64,
        );
        metric(
            "steals_total",
            "counter",
            "mn: tasks stolen from another P.",
            self.steals as f64,
        );
        metric(
            "handoffs_total",
            "counter",
            "mn: Ps handed to another M.",
            self.handoffs as f64,
        );
        metric(
            "retakes_total",
            "counter",
            "mn: Ps retaken by sysmon.",
            self.retakes as f64,
        );
        metric(
            "preemptions_total",
            "counter",
            "mn: tasks asked to yield after running long.",
            self.preemptions as f64,
        );
        metric(
            "parks_total",
            "counter",
            "mn: times a task parked.",
            self.parks as f64,
        );
        metric(
            "io_helpers_held_back_total",
            "counter",
            "mn: readiness bursts kept on one M while every CPU was busy.",
            self.io_helpers_held_back as f64,
        );
        metric(
            "long_run_helps_total",
            "counter",
            "mn: held-back idle threads that took up work waiting behind a long-running task.",
            self.long_run_helps as f64,
        );
        metric(
            "stacks_in_use",
            "gauge",
            "mn: task stacks in use.",
            self.stacks_in_use as f64,
        );
        let _ = writeln!(out, "# HELP switchyard_info The runtime's execution model.");
        let _ = writeln!(out, "# TYPE switchyard_info gauge");
        let _ = writeln!(out, "switchyard_info{{mode=\"{}\"}} 1", self.mode);
        out
    }

    /// The single-mode line of `RUNTIME_DEBUG=schedtrace`, after
    /// `SCHED <ms>ms: `.
    pub fn single_trace_line(&self) -> String {
        let which = if self.loops > 1 {
            format!("loop={}/{} ", self.loop_id, self.loops)
        } else {
            String::new()
        };
        format!(
            "{which}mode=single threads={} tasks={} ready={} timers={} io={} polls={} blocking={}",
            self.threads,
            self.live_tasks,
            self.runnable_tasks,
            self.timers,
            self.io_sources,
            self.polls,
            self.blocking_threads
        )
    }
}

/// A snapshot of the runtime running the current task; `None` outside a
/// runtime (on a thread that is not running a task or `run`'s future), so
/// a library may report what it can without knowing where it is called.
/// (tokio's `Handle::current().metrics()` panics there instead.)
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::Duration;
///
/// assert!(switchyard::stats().is_none(), "no runtime here");
///
/// switchyard::run(async {
///     let sleeper = switchyard::spawn(switchyard::time::sleep(Duration::from_millis(20)));
///     let s = switchyard::stats().expect("inside a runtime");
///     println!(
///         "mode={} procs={} threads={} live tasks={} timers={}",
///         s.mode, s.procs, s.threads, s.live_tasks, s.timers
///     );
///     assert!(s.live_tasks >= 1, "the sleeper is alive");
///     print!("{}", s.to_prometheus()); // for a /metrics endpoint
///     sleeper.await.unwrap();
/// });
/// ```
pub fn stats() -> Option<Stats> {
    let mut s = match engine::mode()? {
        Mode::Single => {
            let l = loop_core::stats()?;
            let mut s = Stats::empty(Mode::Single);
            s.live_tasks = l.live_tasks;
            s.total_tasks = l.total_tasks;
            s.runnable_tasks = l.ready;
            s.timers = l.timers;
            s.io_sources = l.io_sources;
            s.polls = l.polls;
            s
        }
        #[cfg(feature = "mn")]
        Mode::Mn => {
            let m = mn_sched::Handle::current()?.stats();
            let mut s = Stats::empty(Mode::Mn);
            s.procs = m.procs;
            s.live_tasks = m.live_tasks as usize;
            s.runnable_tasks = m.global_queue + m.local_queues;
            s.timers = m.timers;
            s.io_sources = m.io_sources;
            s.ms_idle = m
                .threads
                .saturating_sub(m.procs - m.idle_procs)
                .saturating_sub(m.ms_in_syscall + m.ms_without_p);
            s.ms_running = m.procs - m.idle_procs;
            s.total_tasks = m.total_tasks;
            s.steals = m.steals;
            s.parks = m.parks;
            s.stacks_in_use = m.stacks_in_use as usize;
            s.ms_in_syscall = m.ms_in_syscall;
            s.handoffs = m.handoffs;
            s.retakes = m.retakes + m.user_retakes;
            s.ms_without_p = m.ms_without_p;
            s.ms_without_p_computing = m.ms_without_p_computing;
            s.ms_without_p_blocked = m.ms_without_p_blocked;
            s.preemptions = m.preemptions;
            s.io_helpers_held_back = m.io_helpers_held_back;
            s.long_run_helps = m.long_run_helps;
            s
        }
        #[cfg(not(feature = "mn"))]
        Mode::Mn => engine::no_mn(),
    };
    if let Some(shared) = engine::shared() {
        let p = shared.pool.stats();
        s.blocking_threads = p.threads;
        s.blocking_idle = p.idle;
        s.blocking_queued = p.queued;
    }
    Some(s)
}
