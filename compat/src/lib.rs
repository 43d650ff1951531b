//! The API of switchyard: one async Rust program, two execution models,
//! chosen when the program starts.
//!
//! This crate (package `switchyard-api`) is what the `switchyard` library
//! (package `switchyard-rt`) re-exports, item for item: depend on
//! `switchyard-rt` and write `switchyard::spawn`,
//! `switchyard::net::TcpListener` and so on (the examples here do).
//!
//! # The two modes
//!
//! **`single`** (the default) runs every task on one OS thread, the thread
//! that called [`run`], like JavaScript's event loop: tasks are plain
//! futures, timers sit on a timing wheel and sockets on epoll. Nothing runs
//! in parallel, and a call that blocks — a long computation, a blocking
//! read, [`syscall`] — stops every task until it returns, as in Node.
//!
//! **`mn`** runs the same tasks on Go's model: each task gets a stack of its
//! own and runs on one of a few OS threads, as many at once as there are
//! processors (`RUNTIME_MAXPROCS`, default: the CPUs this process may use).
//! Idle threads steal work, a netpoller wakes tasks whose sockets are
//! ready, and a monitor thread hands a thread's work to another thread when
//! it blocks in [`syscall`] or computes for more than 10 ms. (In Go's
//! words, which [`stats`] and the scheduler trace use: tasks are Gs,
//! threads Ms, processors Ps, and the monitor is `sysmon`.)
//! `switchyard::mn` adds Go-style blocking code (`go`, channels with
//! `Select`); read `CAVEATS-mn.md` in the repository before moving code to
//! this mode. (mn comes with the `mn` cargo feature, on by default.)
//!
//! The mode comes from the `RUNTIME_MODE` environment variable
//! (`single` or `mn`), or from [`Builder::mode`]; the program is the same.
//! In both modes a spawned future must be `Send`, as on tokio's
//! multi-threaded runtime ([`spawn_local`] takes the others).
//!
//! # A first program
//!
//! An echo server and a client that talks to it:
//!
//! ```
//! # extern crate compat as switchyard;
//! use switchyard::net::{TcpListener, TcpStream};
//!
//! fn main() -> std::io::Result<()> {
//!     switchyard::run(async {
//!         let listener = TcpListener::bind("127.0.0.1:0").await?;
//!         let addr = listener.local_addr()?;
//!
//!         // The server: a task per connection, each echoing what it reads.
//!         switchyard::spawn(async move {
//!             while let Ok((stream, _peer)) = listener.accept().await {
//!                 switchyard::spawn(async move {
//!                     let mut buf = [0u8; 4096];
//!                     while let Ok(n) = stream.read(&mut buf).await {
//!                         if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
//!                             break;
//!                         }
//!                     }
//!                 });
//!             }
//!         });
//!
//!         // A client.
//!         let client = TcpStream::connect(addr).await?;
//!         client.write_all(b"hello").await?;
//!         let mut reply = [0u8; 5];
//!         client.read_exact(&mut reply).await?;
//!         assert_eq!(&reply, b"hello");
//!         Ok(())
//!     }) // tasks still running when the future ends are dropped
//! }
//! ```
//!
//! `cargo run` runs it on the event loop; `RUNTIME_MODE=mn cargo run` runs
//! the same binary on the M:N scheduler.
//!
//! # What is here
//!
//! * Starting: [`run`], [`Builder`] (settings in code instead of the
//!   environment), [`Runtime`].
//! * Tasks: [`spawn`] → [`JoinHandle`], [`JoinSet`], [`task::Builder`]
//!   (a name, a stack size), [`spawn_local`], [`yield_now`].
//! * Blocking code: [`spawn_blocking`] (a thread pool), [`syscall`] and
//!   [`syscall_blocking`] (block where the mode says).
//! * [`time`], [`net`], [`sync`], [`signal`]: timers, TCP and UDP,
//!   channels and locks, Unix signals.
//! * Looking inside: [`stats`], [`dump`], [`debug`].
//! * With the `hyper` cargo feature, `hyper`: hyper 1's runtime traits, so
//!   a hyper server or client runs in either mode.
//!
//! # Platform
//!
//! Linux only. The event loop is built on Linux's epoll, eventfd and
//! timerfd; the M:N engine switches task stacks with x86_64 assembly, so
//! it builds on x86_64 only. It sits behind the `mn` cargo feature, on by
//! default: on other Linux CPUs, build without default features for the
//! event loop alone (`RUNTIME_MODE=mn` is then a configuration error).
//!
//! # Where next
//!
//! In the repository: `README.md` (the two models side by side, the
//! environment variables, the comparison with Go), `docs/from-tokio.md`
//! and `docs/from-go.md` (each name you know and its counterpart here),
//! `docs/knobs.md` (every `RUNTIME_*` variable), `docs/ecosystem.md` (which
//! crates work), `CAVEATS-mn.md` (what code in mn mode must not do) and
//! `ARCHITECTURE.md` (how it works inside).
#![forbid(unsafe_code)]

mod blocking;
mod config;
mod coop;
pub mod debug;
mod engine;
mod error;
mod hooks;
#[cfg(feature = "hyper")]
pub mod hyper;
mod loops;
pub mod net;
pub mod os;
mod registration;
mod runtime;
mod shared;
pub mod signal;
mod stats;
pub mod sync;
pub mod task;
pub mod testing;
pub mod time;

pub use blocking::{BlockingHandle, PoolStats};
pub use config::{
    Config, ConfigError, Debug as DebugConfig, Mode, DEFAULT_BLOCKING_THREADS,
    DEFAULT_IDLE_THREAD_TIMEOUT, DEFAULT_MAX_THREADS,
};
pub use debug::dump;
pub use engine::loop_id;
pub use error::Error;
pub use loops::run_each;
pub use runtime::{run, Builder, Runtime};
pub use stats::{stats, Stats};
pub use task::{
    spawn, spawn_local, yield_now, Handle, JoinError, JoinHandle, JoinSet, LocalJoinHandle,
};

#[cfg(feature = "mn")]
pub mod mn;

/// Runs `f` on the blocking pool (at most `RUNTIME_BLOCKING_THREADS` threads,
/// started on demand, exiting when idle) and resolves to its result; a panic
/// in `f` becomes an `Err`. Use it for calls that block: file I/O, DNS, CPU
/// work, foreign libraries.
///
/// The same in both modes; the awaiting task waits without blocking its
/// thread. Jobs beyond the pool's size wait in a queue, in order.
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     let path = std::env::temp_dir();
///     let entries = switchyard::spawn_blocking(move || {
///         // std::fs blocks: on the pool, the other tasks keep running.
///         std::fs::read_dir(path).map(|dir| dir.count())
///     })
///     .await
///     .expect("the job did not panic");
///     assert!(entries.is_ok());
///
///     let panicked = switchyard::spawn_blocking(|| panic!("boom")).await;
///     assert!(panicked.unwrap_err().is_panic());
/// });
/// ```
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

/// Runs a blocking call *the way the mode would*, on the calling thread,
/// and returns its result.
///
/// * single: inline on the loop thread — the whole loop waits until `f`
///   returns, exactly as a blocking call in JavaScript would.
/// * mn: the thread is marked as in a system call; if `f` takes longer
///   than one tick of the monitor thread (20 µs to 1 ms), the thread's
///   processor and its queued tasks are handed to another thread, so the
///   other tasks keep running (Go's `entersyscall`). The task never leaves
///   its thread inside `f`: a blocking-style `switchyard::mn` call made
///   inside `f` (a channel, `sleep`) sleeps on the thread, as the system
///   call would.
///
/// Outside a runtime it just calls `f`. For calls that take long, or that
/// the loop in single mode must not wait for, use [`spawn_blocking`].
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::Duration;
///
/// switchyard::run(async {
///     // A call that blocks its thread (a C library, a file, a sleep).
///     let n = switchyard::syscall(|| {
///         std::thread::sleep(Duration::from_millis(1));
///         42
///     });
///     assert_eq!(n, 42);
/// });
/// ```
pub fn syscall<F: FnOnce() -> R, R>(f: F) -> R {
    match engine::mode() {
        #[cfg(feature = "mn")]
        Some(Mode::Mn) => mn_sched::syscall(f),
        _ => f(),
    }
}

/// Like [`syscall`], for calls known to block: in mn the thread's processor
/// is handed to another thread at once instead of after a tick of the
/// monitor thread (Go's `entersyscallblock`). In single mode it blocks the
/// loop, like `syscall`.
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     // A file read, which a slow disk or network file system may hold up.
///     let status = switchyard::syscall_blocking(|| std::fs::read_to_string("/proc/self/status"));
///     assert!(status.unwrap().contains("Threads:"));
/// });
/// ```
pub fn syscall_blocking<F: FnOnce() -> R, R>(f: F) -> R {
    match engine::mode() {
        #[cfg(feature = "mn")]
        Some(Mode::Mn) => mn_sched::syscall_blocking(f),
        _ => f(),
    }
}
