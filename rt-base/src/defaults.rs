//! Defaults that the M:N engine's builder and compat's `Builder` both start
//! from, written once here: compat also builds without the M:N engine, so it
//! cannot take them from there.

use std::time::Duration;

/// Default cap on the runtime's OS threads (Go's `SetMaxThreads` default).
pub const DEFAULT_MAX_THREADS: usize = 10_000;

/// Default time after which an idle thread exits: an M with nothing to run,
/// or a thread of compat's `spawn_blocking` pool.
pub const DEFAULT_IDLE_THREAD_TIMEOUT: Duration = Duration::from_secs(10);
