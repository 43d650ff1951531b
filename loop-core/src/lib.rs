//! loop-core: switchyard's single-threaded stackless reactor — the JavaScript
//! model.
//!
//! One OS thread runs everything: tasks are futures (stackless), kept in a
//! slab and polled from a FIFO ready queue; timers sit on a hierarchical
//! timing wheel; sockets are registered with one epoll instance through mio.
//! While a task computes or makes a blocking call, the whole loop waits,
//! exactly as in Node. `/proc/self/status` shows `Threads: 1` unless the
//! program asks for more.
//!
//! One turn of the loop (see `runtime/mod.rs` for the drawing): expired timers →
//! foreign-thread operations → the main future → ready tasks (each polled at
//! most once per turn, at most `event_interval` of them) → `epoll_wait`, with a
//! zero timeout if anything is ready, else until the next timer.
//!
//! Reading order: `runtime/` (the slab and the turn in `mod.rs`, the
//! turn's steps in `turn.rs`), `task/` (cells, wakers, join handles),
//! `time/` (the loop's timer entry, on rt-base's timing wheel), `io/` (the
//! loop's registration: its side of rt-base's readiness contract),
//! `remote/`. What the loop shares with mn-sched (tracing, the coop
//! budget, the wheel, the alarm, signal pipes, socket helpers, and the
//! socket, sleep and signal types written once over the two contracts)
//! lives in rt-base and is named here under its old paths (`net/`,
//! `time/`, `signal.rs` are those instantiations).
//!
//! Nothing here is global except a registry mapping live runtimes' 20-bit ids
//! to their remote queues, used by wakes that come from other threads: several
//! runtimes live happily in one process.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "switchyard runs on Linux only: its event loop is built on epoll, timerfd \
     and eventfd"
);

// What both engines share lives in rt-base; these re-exports keep the paths
// this crate's code and its users have always named (`loop_core::trace`,
// `crate::coop`, …).
pub use rt_base::{alarm, diag, procs, state_lock, trace_file};
#[cfg(not(loom))]
pub use rt_base::{coop, sys, trace};

#[cfg(not(loom))]
mod context;
#[cfg(not(loom))]
pub mod io;
mod loom;
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))]
mod observe;
#[cfg(not(loom))]
mod remote;
#[cfg(loom)]
#[path = "remote/queue.rs"]
mod remote_queue;
#[cfg(not(loom))]
mod runtime;
#[cfg(not(loom))]
pub mod signal;
#[cfg(not(loom))]
pub mod task;
#[cfg(not(loom))]
pub mod time;

#[cfg(not(loom))]
pub use context::inside_runtime;
#[cfg(not(loom))]
pub use observe::{dump, tasks};
#[cfg(not(loom))]
pub use runtime::{spawn, spawn_local, stats, user_data, Builder, Handle, LoopStats, Runtime};
#[cfg(not(loom))]
pub use task::{yield_now, JoinError, JoinHandle, LocalJoinHandle};
