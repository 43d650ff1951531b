//! compat: one API over both execution models; reads the `RUNTIME_*`
//! environment.
//!
//! Everything a switchyard program uses is here (and re-exported by the
//! `switchyard` crate): [`run`], [`Builder`], [`spawn`], [`JoinHandle`],
//! [`JoinSet`], [`task::Builder`], [`time`], [`net`], [`signal`],
//! [`spawn_blocking`], [`syscall`], [`stats`]; with the `hyper` feature,
//! `hyper` (adapters for hyper 1's runtime traits). Each call finds the
//! engine running the current task and dispatches to it (see `engine.rs`
//! for the closed enum and the contract each engine meets); the engine is
//! chosen once, when the runtime is built: `RUNTIME_MODE=single` (the
//! default) or `mn`.
//!
//! Reading order: `runtime.rs` (run, Builder, precedence), `config.rs` (the
//! environment, in one place), `engine.rs`, then the API modules.
//!
//! This crate contains no `unsafe` code.
#![forbid(unsafe_code)]

mod blocking;
mod config;
mod coop;
pub mod debug;
mod engine;
#[cfg(feature = "hyper")]
pub mod hyper;
mod join_set;
pub mod net;
pub mod os;
mod runtime;
mod shared;
pub mod signal;
mod stats;
pub mod sync;
pub mod task;
pub mod testing;
pub mod time;

pub use blocking::{BlockingHandle, PoolStats};
pub use config::{ConfigError, Debug as DebugConfig, Mode};
pub use debug::dump;
pub use join_set::JoinSet;
pub use runtime::{
    run, Builder, Config, Error, Runtime, DEFAULT_BLOCKING_THREADS, DEFAULT_IDLE_THREAD_TIMEOUT,
    DEFAULT_MAX_THREADS,
};
pub use stats::{stats, Stats};
pub use task::{spawn, spawn_local, yield_now, Handle, JoinError, JoinHandle, LocalJoinHandle};

#[cfg(feature = "mn")]
pub mod mn;

/// Runs `f` on the blocking pool (at most `RUNTIME_BLOCKING_THREADS` threads,
/// started on demand, exiting when idle) and resolves to its result; a panic
/// in `f` becomes an `Err`. Use it for calls that block: file I/O, DNS, CPU
/// work, foreign libraries.
///
/// # Panics
/// Outside a runtime.
pub fn spawn_blocking<F, R>(f: F) -> BlockingHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    engine::shared()
        .unwrap_or_else(|| panic!("switchyard: spawn_blocking called outside a runtime"))
        .pool
        .spawn(f)
}

/// Runs a blocking call *the way the mode would*.
///
/// * single: inline on the loop thread — the whole loop waits until `f`
///   returns, exactly as a blocking call in JavaScript would.
/// * mn: the M is marked as in a system call; if `f` takes long, `sysmon`
///   hands its P to another M so the other tasks keep running (Go's
///   `entersyscall`). The task never leaves its thread inside `f`: a
///   blocking-style `mn` call made inside `f` (a channel, `sleep`) sleeps
///   on the thread, as the system call would.
pub fn syscall<F: FnOnce() -> R, R>(f: F) -> R {
    match engine::current() {
        #[cfg(feature = "mn")]
        Some(engine::Current::Mn) => mn_sched::syscall(f),
        _ => f(),
    }
}

/// Like [`syscall`], for calls known to block: in mn the P is handed off at
/// once instead of after a sysmon tick (Go's `entersyscallblock`). In single
/// mode it blocks the loop, like `syscall`.
pub fn syscall_blocking<F: FnOnce() -> R, R>(f: F) -> R {
    match engine::current() {
        #[cfg(feature = "mn")]
        Some(engine::Current::Mn) => mn_sched::syscall_blocking(f),
        _ => f(),
    }
}
