//! What switchyard's programs and tests share, in one dev-only crate
//! instead of files included by path across packages.
//!
//! * [`json`] — a minimal JSON value: compare's `results.json`, the Chrome
//!   traces `RUNTIME_TRACE` writes (read back by the tests).
//! * [`hist`] — percentiles of many samples in a bounded histogram: the
//!   examples' latencies and gaps, compare's load generator, mn's
//!   `mn_sysmon_latency`.
//! * [`cli`] — the command line of the example programs and of `compare`,
//!   and how they print numbers.
//! * [`echo_rtt`] — one-byte round trips to an echo server, for the tests
//!   of a socket beside tasks that yield (mn-sched's and compat's).
//!
//! It depends on nothing but std. A published package names it only as a
//! dev-dependency without a version, which `cargo package` leaves out;
//! the compare harness (`compare/`, not published) uses it as a normal
//! dependency.

pub mod cli;
pub mod echo_rtt;
pub mod hist;
pub mod json;
