//! The M:N engine's own API, for Go-style code in `RUNTIME_MODE=mn`.
//!
//! Programs that should run in both modes use the crate root's async API
//! (`spawn`, `time`, `net`, `sync`). This module is for what only the Go
//! model has: blocking-style tasks on their own stacks ([`go`]), channels
//! with [`Select`], a [`Mutex`] and a [`WaitGroup`] that park the G rather
//! than the thread, [`sleep`], [`lock_os_thread`], and blocking-style
//! sockets in [`net`] served by the netpoller. Each call panics with a clear
//! message outside an mn runtime.
//!
//! Which of these an *async* task may call, and why (a blocking-style call
//! parks the whole G, pinned to its thread for that park), is set out in
//! `CAVEATS-mn.md`.
//!
//! Only the M:N engine's stable surface is here: its internals (the async
//! I/O types the crate root wraps, its configuration structs, benchmark
//! support) are not, so they can change without breaking this API.
//! Available with the `mn` cargo feature (on by default).

pub use mn_sched::{
    chan, current_task_id, current_waker, go, lock_os_thread, net, park, park_until, sleep,
    sleep_until, task, try_go, unlock_os_thread, yield_now, Handle, JoinError, JoinHandle, Mutex,
    MutexGuard, Select, SpawnError, StackError, Stats, ThreadLimitError, WaitGroup,
    DEFAULT_STACK_SIZE,
};
