//! Runtime configuration: a plain struct ([`Config`]) and a [`Builder`].
//!
//! mn-sched reads no environment variable. The `compat` crate parses every
//! `RUNTIME_*` variable in one place and passes the values down through this
//! struct; the error messages here name both the setting and the variable so a
//! user who set `RUNTIME_STACK_SIZE=1k` learns what was wrong and where.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

// Written once in rt-base: compat's builder starts from them too.
pub use rt_base::defaults::{DEFAULT_IDLE_THREAD_TIMEOUT, DEFAULT_MAX_THREADS};
pub use rt_base::trace_file::TraceFile;

use crate::runtime::Runtime;

/// Default size of a G's stack, not counting its guard: 256 KiB.
///
/// Chosen by measurement (`mn-sched/examples/mn_stack_size.rs`, and the stack-size
/// group of `benches/mn_spawn.rs`; the figures follow). The size
/// changes neither the spawn+join cost (stacks are reused) nor the resident
/// memory of a parked G (4.0–4.2 KiB at every size from 32 KiB to 1 MiB: one
/// stack page plus the G's cell): only touched pages cost memory. What it
/// changes is the address space per G and with it the page tables
/// (`VmPTE`) per parked G: 0.19 KiB at 32 KiB, 0.25 at 64, 0.38 at 128,
/// 0.63 at 256, 1.13 at 512, 2.13 at 1 MiB. 256 KiB is the largest size that
/// keeps a parked G under the async tasks' target of ~4.8 KiB (1.6× Go's
/// ~3 KiB per goroutine) even counting its page tables
/// (4.6 KiB), while leaving ordinary Rust code (formatting, std I/O,
/// moderate recursion) far more room than may's 32 KiB; raise it with
/// `RUNTIME_STACK_SIZE` for deep recursion, or give one task its own with
/// [`task::Builder::stack_size`](crate::task::Builder::stack_size). An
/// overflow is never silent: it aborts with a message naming the task and
/// the size.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Smallest accepted stack size (16 KiB).
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest accepted stack size (1 GiB, Go's maximum).
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// Size of the guard below every stack (64 KiB): larger than any frame Rust
/// code can push without touching the pages in between (stack probes).
pub const GUARD_SIZE: usize = 64 * 1024;

/// How the region below each G stack is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GuardPolicy {
    /// `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13: no extra kernel mapping per
    /// stack, so a million guarded stacks fit the default `vm.max_map_count`);
    /// on older kernels, [`GuardPolicy::Mprotect`] in every respect (stacks
    /// taken at spawn included). The kernel is probed once per process, when
    /// the first runtime is built.
    #[default]
    Auto,
    /// Force the fallback: an `mprotect(PROT_NONE)` guard per stack, which costs
    /// two kernel mappings per stack and is limited by `vm.max_map_count`.
    Mprotect,
}

/// Everything a [`Runtime`] is built from. Fields are public so `compat` can
/// fill them directly; [`Builder`] is the friendlier way.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of Ps: how many Gs run at once (`RUNTIME_MAXPROCS`).
    pub procs: usize,
    /// Cap on the OS threads (Ms) this runtime creates (`RUNTIME_MAXTHREADS`):
    /// none is ever created beyond it; work that would need one waits.
    pub max_threads: usize,
    /// Usable size of each G stack in bytes, guard not included
    /// (`RUNTIME_STACK_SIZE`); rounded up to the page size.
    pub stack_size: usize,
    /// How stacks are guarded.
    pub guard: GuardPolicy,
    /// No guard below the stacks at all: set only by the `unsafe`
    /// [`Builder::unguarded_stacks`] (not public, so that no safe code can
    /// set it).
    pub(crate) unguarded: bool,
    /// Test hook ([`Builder::pretend_no_guard_markers`]): `Auto` behaves as
    /// on a kernel without `MADV_GUARD_INSTALL`.
    pub(crate) no_guard_markers: bool,
    /// How long dropping the runtime waits for its Gs to finish or unwind
    /// before it detaches the threads still running them.
    pub shutdown_timeout: Duration,
    /// How long an idle M (OS thread) waits for work before it exits, while
    /// more Ms than Ps are alive (`RUNTIME_IDLE_THREAD_TIMEOUT`, default
    /// 10 s): threads started for blocking syscalls are given back.
    pub idle_thread_timeout: Duration,
    /// Test hook for the mprotect fallback: pretend only this many kernel
    /// mappings are left under `vm.max_map_count` (None: read the real figures).
    pub mprotect_map_budget: Option<usize>,
    /// A value every task of the runtime can read with
    /// [`user_data`](crate::user_data) (compat keeps its context
    /// here).
    pub user_data: Option<UserData>,
    /// Print Go's `SCHED` line on stderr every period (sysmon
    /// prints it; `RUNTIME_DEBUG=schedtrace=MS`).
    pub schedtrace: Option<Duration>,
    /// With `schedtrace`, also a line per P, M and G
    /// (`scheddetail=1`).
    pub scheddetail: bool,
    /// SIGQUIT prints the task dump on stderr (the program goes
    /// on), SIGUSR2 writes the trace if one is recorded and is ignored
    /// otherwise; sysmon watches both signals.
    pub control_signals: bool,
    /// Write a Chrome trace-event JSON here at drop and on
    /// SIGUSR2 (`RUNTIME_TRACE`; sched/trace.rs). Checked when the
    /// runtime is built ([`TraceFile::open`]): a path where no trace can be
    /// written is a [`BuildError::Trace`].
    pub trace: Option<std::path::PathBuf>,
    /// A trace destination checked already (compat checks `RUNTIME_TRACE`
    /// itself, to name it in the error); wins over `trace`.
    pub trace_file: Option<TraceFile>,
    /// Called on every M thread as it starts, before it runs any G (see
    /// [`Builder::on_thread_start`]).
    pub on_thread_start: Option<ThreadHook>,
    /// Called on every M thread as it ends, after its last G (see
    /// [`Builder::on_thread_stop`]).
    pub on_thread_stop: Option<ThreadHook>,
}

/// A function run on each thread the runtime starts or stops (see
/// [`Builder::on_thread_start`]).
#[derive(Clone)]
pub struct ThreadHook(pub Arc<dyn Fn() + Send + Sync>);

impl fmt::Debug for ThreadHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadHook(..)")
    }
}

impl ThreadHook {
    /// Runs the hook on the calling thread; a panic in it is reported on
    /// stderr and goes no further (an M must not unwind).
    pub(crate) fn run(&self, which: &str) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)())).is_err() {
            rt_base::diag::line(&format!(
                "switchyard: the {which} hook panicked on thread {:?}; ignored",
                std::thread::current().name().unwrap_or("?")
            ));
        }
    }
}

/// An opaque value attached to a runtime (see [`Builder::user_data`]).
#[derive(Clone)]
pub struct UserData(pub Arc<dyn Any + Send + Sync>);

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserData(..)")
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            procs: rt_base::procs::default_procs(),
            max_threads: DEFAULT_MAX_THREADS,
            stack_size: DEFAULT_STACK_SIZE,
            guard: GuardPolicy::Auto,
            unguarded: false,
            no_guard_markers: false,
            shutdown_timeout: Duration::from_secs(5),
            idle_thread_timeout: DEFAULT_IDLE_THREAD_TIMEOUT,
            mprotect_map_budget: None,
            user_data: None,
            schedtrace: None,
            scheddetail: false,
            control_signals: false,
            trace: None,
            trace_file: None,
            on_thread_start: None,
            on_thread_stop: None,
        }
    }
}

impl Config {
    /// Checks every field and rounds the stack size up to the page size.
    pub fn validate(mut self) -> Result<Self, BuildError> {
        if self.procs == 0 || self.procs > MAX_PROCS {
            return Err(BuildError::Procs(self.procs));
        }
        if self.max_threads == 0 {
            return Err(BuildError::MaxThreads(self.max_threads));
        }
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&self.stack_size) {
            return Err(BuildError::StackSize(self.stack_size));
        }
        self.stack_size = self.stack_size.next_multiple_of(crate::stack::page_size());
        Ok(self)
    }
}

/// Most Ps a runtime may have.
pub const MAX_PROCS: usize = 1024;

/// Builds a [`Runtime`] from settings; unset ones keep [`Config::default`].
#[derive(Clone, Debug, Default)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// A builder with the default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of Ps (default: [`default_procs`](crate::default_procs):
    /// the affinity mask, lowered to the cgroup CPU quota).
    pub fn procs(mut self, procs: usize) -> Self {
        self.config.procs = procs;
        self
    }

    /// Sets how long an idle M waits for work before its thread exits
    /// (default 10 s; the Ms never drop below the number of Ps).
    pub fn idle_thread_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_thread_timeout = timeout;
        self
    }

    /// Sets the cap on OS threads (default 10,000).
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.config.max_threads = max_threads;
        self
    }

    /// Sets the usable stack size of every G (default [`DEFAULT_STACK_SIZE`]).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = bytes;
        self
    }

    /// Sets the guard policy (default [`GuardPolicy::Auto`]).
    pub fn guard(mut self, guard: GuardPolicy) -> Self {
        self.config.guard = guard;
        self
    }

    /// Gives the G stacks no guard at all: no kernel mapping or page-table
    /// marker per stack, so neither `vm.max_map_count` nor the kernel's
    /// version limits how many Gs can hold a stack. An overflow is then
    /// *not* detected: it writes over whatever lies below the stack
    /// (another G's stack, or memory next to the arena). This is the only
    /// way to turn the guards off; `compat` (the `switchyard` crate)
    /// offers no setting or `RUNTIME_*` variable for it.
    ///
    /// # Safety
    ///
    /// No G of this runtime may ever use more stack than
    /// [`stack_size`](Self::stack_size): not its closure or future, nor
    /// anything they call (std, C libraries, formatting, a panic's unwind).
    /// A G that does corrupts memory silently — undefined behaviour that
    /// safe code elsewhere in the program cannot defend against.
    pub unsafe fn unguarded_stacks(mut self) -> Self {
        self.config.unguarded = true;
        self
    }

    /// Sets how long shutdown waits for Gs to unwind (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Test hook, for the tests of the fallback on kernels older than 6.13
    /// only: [`GuardPolicy::Auto`] behaves as if the kernel had no
    /// `MADV_GUARD_INSTALL`, so it falls back to mprotect guards whatever
    /// the kernel. (Hidden from the docs: a program has no use for it.)
    #[doc(hidden)]
    pub fn pretend_no_guard_markers(mut self) -> Self {
        self.config.no_guard_markers = true;
        self
    }

    /// Test hook: with mprotect guards, behave as if only `maps`
    /// kernel mappings were left under `vm.max_map_count`.
    pub fn mprotect_map_budget(mut self, maps: usize) -> Self {
        self.config.mprotect_map_budget = Some(maps);
        self
    }

    /// Runs `f` on every M thread the runtime starts, on that thread,
    /// before it runs any G (tokio's name): for per-thread setup such as
    /// entering another runtime's context, so that code using it works in
    /// tasks wherever they run. sysmon's thread runs no user code and does
    /// not call it. Keep it short: the M is not running Gs meanwhile. A
    /// panic in `f` is reported on stderr and ignored.
    pub fn on_thread_start(mut self, f: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.config.on_thread_start = Some(ThreadHook(f));
        self
    }

    /// Runs `f` on every M thread as it ends, after its last G (an idle M
    /// retiring, or at shutdown). A panic in `f` is reported and ignored.
    pub fn on_thread_stop(mut self, f: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.config.on_thread_stop = Some(ThreadHook(f));
        self
    }

    /// Attaches `data` to the runtime: [`user_data`](crate::user_data)
    /// returns it on any of its Gs and on a thread inside
    /// [`Runtime::block_on_future`].
    pub fn user_data(mut self, data: Arc<dyn Any + Send + Sync>) -> Self {
        self.config.user_data = Some(UserData(data));
        self
    }

    /// Sysmon prints Go's `SCHED` line on stderr every `period`
    /// (and with `detail`, a line per P, M and G).
    pub fn schedtrace(mut self, period: Duration, detail: bool) -> Self {
        self.config.schedtrace = Some(period);
        self.config.scheddetail = detail;
        self
    }

    /// SIGQUIT prints the task dump ([`crate::dump`]) on stderr
    /// and the program goes on, and SIGUSR2 writes the trace (see
    /// [`trace`](Self::trace)) or, without one, is ignored: as in single
    /// mode.
    pub fn control_signals(mut self, on: bool) -> Self {
        self.config.control_signals = on;
        self
    }

    /// Records a Chrome trace (a lane per M, a slice per G run,
    /// syscalls, steals, handoffs, retakes, preemptions, parks, wake
    /// arrows), written to `path` when the runtime is dropped and on
    /// SIGUSR2.
    pub fn trace(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.trace = Some(path.into());
        self
    }

    /// Like [`trace`](Builder::trace), to a destination already checked.
    pub fn trace_file(mut self, file: TraceFile) -> Self {
        self.config.trace_file = Some(file);
        self
    }

    /// The configuration built so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Validates the settings and starts the runtime (no thread starts until
    /// the first G is spawned).
    pub fn build(self) -> Result<Runtime, BuildError> {
        Runtime::new(self.config)
    }
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `procs` outside 1..=1024.
    Procs(usize),
    /// `max_threads` of 0.
    MaxThreads(usize),
    /// `stack_size` outside 16 KiB..=1 GiB.
    StackSize(usize),
    /// No trace can be written at `trace` (why: the OS's words).
    Trace {
        /// The path.
        path: std::path::PathBuf,
        /// Why not.
        error: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Procs(n) => write!(
                f,
                "procs (RUNTIME_MAXPROCS) = {n}: expected a number of processors from 1 to {MAX_PROCS}"
            ),
            Self::MaxThreads(n) => write!(
                f,
                "max_threads (RUNTIME_MAXTHREADS) = {n}: expected at least 1"
            ),
            Self::StackSize(n) => write!(
                f,
                "stack_size (RUNTIME_STACK_SIZE) = {n} bytes: expected {MIN_STACK_SIZE} (16 KiB) to {MAX_STACK_SIZE} (1 GiB)"
            ),
            Self::Trace { path, error } => write!(
                f,
                "trace (RUNTIME_TRACE) = {}: cannot write a trace there: {error}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for BuildError {}
