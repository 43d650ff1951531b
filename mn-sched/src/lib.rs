//! mn-sched: switchyard's stackful M:N scheduler, Go's model in Rust.
//!
//! Gs (tasks with their own guarded stacks) run on Ms (OS threads) that each
//! hold a P (a processor with a local run queue); at most `procs` Gs run at
//! once, idle Ms steal work, and a blocked G parks without blocking its
//! thread. Re-exported by switchyard as `switchyard::mn`.
//!
//! ```no_run
//! use mn_sched::{chan, go, Runtime};
//!
//! let rt = Runtime::builder().procs(2).build().unwrap();
//! // SAFETY: the Gs below hold no thread-local reference or std lock guard
//! // across a park (see `go`).
//! let sum = unsafe {
//!     rt.block_on(|| {
//!         let (tx, rx) = chan::bounded(16);
//!         for i in 0..100u64 {
//!             let tx = tx.clone();
//!             go(move || tx.send(i).unwrap());
//!         }
//!         drop(tx);
//!         rx.iter().sum::<u64>()
//!     })
//! };
//! assert_eq!(sum.unwrap(), 4950);
//! ```
//!
//! Glossary: **G** a task (`g/`); **M** an OS thread running the scheduler
//! (`sched/m.rs`); **P** the right to run Gs, with a run queue
//! (`sched/p.rs`); **g0** an M's own stack, where the scheduler runs;
//! **park** a G waits (its M runs others); **spinning** an M looking for
//! work before it sleeps.
//!
//! Reading order: `arch/` (the switch) → `stack/` (where Gs live) →
//! `g/state.rs` (park/wake) → `g/run.rs` (code on a G; the thread-local
//! rule) → `sched/mod.rs` (glossary, queues) → `sched/runq.rs` →
//! `sched/idle.rs` (the spinning protocol) → `sched/find.rs` →
//! `sched/schedule.rs` → `runtime.rs` (shutdown) → `sync/` → `timer.rs`
//! (per-P wheels, the sleeper) → `netpoll/` (epoll, readiness: this
//! crate's side of rt-base's readiness contract) → `aio/` (async tasks on
//! Gs, `block_on_future`, `spawn_local`; async sleep, sockets, signals:
//! rt-base's types over the netpoller's registration and the timers'
//! entry) → `sched/host.rs` (the main future as a G on the calling
//! thread) → `net/` (blocking-style sockets).
//!
//! Model-checked with loom: `scripts/loom.sh` (run queue, park/wake,
//! spinning). AddressSanitizer: `scripts/asan-mn.sh`.

#[cfg(not(loom))]
pub mod aio;
// Under loom only the model-checked piece of `aio` is built (rt-base
// leaves out coop and trace there).
#[cfg(loom)]
#[path = "aio/ready_flag.rs"]
#[allow(dead_code)]
mod aio_ready_flag;
mod api;
mod arch;
#[doc(hidden)]
pub mod bench_support;
pub mod config;
mod g;
mod join;
mod loom;
#[cfg(not(loom))]
pub mod net;
mod netpoll;
mod park;
mod runtime;
mod sched;
mod stack;
mod sync;
#[cfg(not(loom))]
pub mod task;
mod timer;

#[cfg(not(loom))]
#[cfg(not(loom))]
pub use aio::{inside_runtime, user_data};
pub use api::{
    current_task_id, go, lock_os_thread, sleep, sleep_until, try_go, unlock_os_thread, yield_now,
};
// The task dump (not under loom: rt-base has no trace there).
#[cfg(not(loom))]
pub use api::{dump, tasks};
pub use config::{
    BuildError, Builder, Config, GuardPolicy, ThreadHook, UserData, DEFAULT_IDLE_THREAD_TIMEOUT,
    DEFAULT_MAX_THREADS, DEFAULT_STACK_SIZE, GUARD_SIZE,
};
pub use join::{JoinError, JoinHandle};
pub use park::{current_waker, park, park_until};
pub use rt_base::procs::{default_procs, default_procs_in};
pub use runtime::{Handle, Runtime, SpawnError, Stats};
pub use sched::locked::ThreadLimitError;
pub use sched::syscall::{syscall, syscall_blocking};
pub use stack::StackError;
pub use sync::chan;
pub use sync::chan::Select;
pub use sync::mutex::{Mutex, MutexGuard};
pub use sync::waitgroup::WaitGroup;
