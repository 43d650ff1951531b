//! rt-base: what switchyard's two engines share, under both of them.
//!
//! The event loop (loop-core, the JavaScript model) and the M:N scheduler
//! (mn-sched, the Go model) each depend on this crate and never on each
//! other. What lives here is engine-neutral: it names no engine, holds no
//! runtime, and works the same on a loop thread and on an M.
//!
//! * [`trace`] and [`trace_file`] — why a task waits (a thread-local byte
//!   set by the resource that returned `Pending`), the Go-style task dump's
//!   format, and the Chrome trace recorder and where its file goes.
//! * [`coop`] — the cooperative budget: a task that always finds its I/O
//!   ready still yields. The engine that polls a task resets the budget,
//!   and, where it wakes a yielding task its own way (the loop defers it
//!   to its next turn), installs a hook on its thread
//!   ([`coop::set_yield_hook`]).
//! * [`wheel`] — the hierarchical timing wheel: the loop's timers, and each
//!   of mn's per-P timer shards.
//! * [`alarm`] — a timerfd in an epoll set, so a thread blocked in
//!   `epoll_wait` wakes at a timer's deadline (the loop, mn's netpoller).
//! * [`signal`] — Unix signals as bytes on a self-pipe ([`signal::SignalPipe`]),
//!   registered with whichever poller the engine has.
//! * [`socket`] — listening and UDP sockets created with the options a
//!   server wants, and the `accept` errors a server retries.
//! * [`io`] — the readiness contract each engine's poller meets once
//!   ([`io::Registration`]), the one translation of an epoll event into
//!   readiness, and the protocol every operation follows; [`net`] — TCP
//!   and UDP written once over it, which each engine instantiates with its
//!   own registration (and compat with an enum of the two).
//! * [`time`] — [`time::Sleep`] and timeouts written once over the timer
//!   contract ([`time::TimerEntry`]) each engine meets with its wheels.
//! * [`state_lock`] — a test-and-set lock for short critical sections
//!   (compat's channels, mn's readiness waiters); model-checked with loom.
//! * [`diag`] — the runtime's own stderr lines, written without blocking.
//! * [`procs`] — the CPUs this process may use (mn's Ps, single mode's
//!   loops, pinning), and [`sys`] — process-wide start-up adjustments.
//! * [`defaults`] — the thread settings' defaults mn's builder and
//!   compat's both start from; [`panic`](mod@panic) — how a task's panic
//!   payload reads, for every join error.
//!
//! Under `--cfg loom` (`scripts/loom.sh`) [`state_lock`] is built on loom's
//! model-checked atomics, and only what the engines' model builds use is
//! built: the lock, the wheel (plain data), the alarm, `diag`, `procs`,
//! `trace_file`, `defaults`, `panic` and `io`'s plain data (the readiness
//! bits mn's readiness word is checked with); `coop`, `io`'s trait, `net`,
//! `signal`, `socket`, `sys`, `time` and `trace` are left out, as the
//! engines leave out the code that uses them.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "switchyard runs on Linux only: its engines are built on epoll, timerfd, \
     eventfd and futexes"
);

// Wakes a thread blocked in epoll at a deadline (the loop, mn's netpoller).
pub mod alarm;
#[cfg(not(loom))]
pub mod coop;
// The thread settings' defaults (mn's builder, compat's).
pub mod defaults;
// The runtime's own stderr lines, written without blocking (any thread).
pub mod diag;
// The readiness contract (its plain data under loom too).
pub mod io;
mod loom;
#[cfg(not(loom))]
pub mod net;
// What a task's panic payload says (the engines' and compat's join errors).
pub mod panic;
// The CPUs this process may use (mn's Ps, single mode's loops, pinning).
pub mod procs;
#[cfg(not(loom))]
pub mod signal;
#[cfg(not(loom))]
pub mod socket;
// A lock for compat's channel state (no unsafe there) and mn's waiter lists.
pub mod state_lock;
#[cfg(not(loom))]
pub mod sys;
#[cfg(not(loom))]
pub mod time;
#[cfg(not(loom))]
pub mod trace;
// Where a trace file is written: checked at start, never through a
// predictable name (mn's configuration names it, loom builds included).
pub mod trace_file;
// Plain data, so mn's loom build uses the very same wheel.
pub mod wheel;
