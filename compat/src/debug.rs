//! Looking inside a running program: task dumps and wait reasons.
//!
//! `dump()` (or SIGQUIT, which prints the same on stderr and lets the program
//! go on) lists every task with its state, why it waits and for how long, and
//! where it was spawned — like Go's goroutine dump:
//!
//! ```text
//! switchyard: task dump (dump()), mode=single, runtime 3, thread main, 2 tasks
//!
//! task 1 [running] on loop:
//!         spawned at examples/echo.rs:49
//!
//! task 2 [IO read, 1520 ms] on loop:
//!         spawned at examples/echo.rs:72
//! ```
//!
//! `RUNTIME_TRACE=FILE` records a Chrome trace-event JSON of every task run
//! (open it at <https://ui.perfetto.dev> or chrome://tracing); it is written
//! when the runtime is dropped, and on SIGUSR2. FILE is checked when the
//! runtime starts (`run` exits with status 2 if no trace can be written
//! there); a symlink, device or FIFO there is written into, never replaced.

pub use rt_base::trace::{TaskInfo, TaskState, WaitReason};

use crate::engine;
use crate::Mode;

/// Every task of the current runtime, Go-style, as text (SIGQUIT prints the
/// same on stderr).
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     let _idle = switchyard::spawn(std::future::pending::<()>());
///     switchyard::yield_now().await; // let it start and park
///     let dump = switchyard::dump();
///     assert!(dump.starts_with("switchyard: task dump"));
///     eprintln!("{dump}");
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
pub fn dump() -> String {
    match engine::expect_mode("dump") {
        Mode::Single => loop_core::dump().expect("inside a loop"),
        #[cfg(feature = "mn")]
        Mode::Mn => mn_sched::dump(),
        #[cfg(not(feature = "mn"))]
        Mode::Mn => engine::no_mn(),
    }
}

/// Every task of the current runtime, as data.
///
/// # Panics
/// Outside a runtime.
pub fn tasks() -> Vec<TaskInfo> {
    match engine::expect_mode("tasks") {
        Mode::Single => loop_core::tasks().expect("inside a loop"),
        #[cfg(feature = "mn")]
        Mode::Mn => mn_sched::tasks(),
        #[cfg(not(feature = "mn"))]
        Mode::Mn => engine::no_mn(),
    }
}
