//! `run`, `Builder` and `Runtime`: choosing the engine once, at start-up.
//!
//! The engine is a closed enum, [`EngineRuntime`] (see `engine.rs` for the
//! contract each variant meets). `Builder` merges its own settings over the
//! environment over the defaults, in one place, into a
//! [`Config`](crate::Config), and builds the engine; `run` does the same from the
//! environment alone and turns a configuration error into one line on stderr
//! and exit status 2.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    Config, ConfigError, Debug, EnvConfig, Mode, DEFAULT_BLOCKING_THREADS,
    DEFAULT_IDLE_THREAD_TIMEOUT, DEFAULT_MAX_THREADS,
};
use crate::error::Error;
use crate::hooks::ThreadHooks;
use crate::shared::Shared;
use rt_base::trace::TraceFile;

/// Configures and builds a [`Runtime`]. Every setting left alone comes from
/// the environment (`RUNTIME_*`), or else from the default: a builder
/// setting wins over the environment, the environment over the default.
///
/// [`Builder::run`] builds and runs a future in one step, as [`run`] does;
/// [`Builder::build`] gives a [`Runtime`] to call
/// [`block_on`](Runtime::block_on) on, and returns a bad setting as an
/// [`Error`] instead of exiting.
///
/// ```
/// # extern crate compat as switchyard;
/// use switchyard::{Builder, Mode};
///
/// let answer = Builder::new()
///     .mode(Mode::Mn) // Go's model, whatever RUNTIME_MODE says
///     .procs(2)       // two tasks run at once (RUNTIME_MAXPROCS)
///     .run(async {
///         let h = switchyard::spawn(async { 6 * 7 });
///         h.await.unwrap()
///     });
/// assert_eq!(answer, 42);
///
/// // Or build first, to handle a bad setting yourself.
/// let rt = Builder::new().mode(Mode::Single).build().expect("runtime");
/// assert_eq!(rt.mode(), Mode::Single);
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    over: EnvConfig,
    ignore_env: bool,
    hooks: ThreadHooks,
}

impl Builder {
    /// A builder with nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The execution model.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.over.mode = Some(mode);
        self
    }

    /// mn: the number of processors (Ps), that is how many tasks run at
    /// once (`RUNTIME_MAXPROCS`, Go's `GOMAXPROCS`): 1 to 1024 (0 counts as
    /// 1; more is an [`Error::Config`] from [`build`](Self::build)); single
    /// mode always has 1.
    pub fn procs(mut self, n: usize) -> Self {
        self.over.procs = Some(n.max(1));
        self
    }

    /// Cap on the runtime's OS threads (`RUNTIME_MAXTHREADS`). At least 1.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.over.max_threads = Some(n.max(1));
        self
    }

    /// Size of the [`spawn_blocking`](crate::spawn_blocking) pool
    /// (`RUNTIME_BLOCKING_THREADS`). At least 1.
    pub fn blocking_threads(mut self, n: usize) -> Self {
        self.over.blocking_threads = Some(n.max(1));
        self
    }

    /// mn: every task's stack size in bytes (`RUNTIME_STACK_SIZE`); 16 KiB
    /// to 1 GiB, checked by [`build`](Self::build) (an [`Error::Config`]
    /// outside that range, in both modes). Single mode ignores it.
    /// [`task::Builder::stack_size`](crate::task::Builder::stack_size)
    /// sets one task's.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.over.stack_size = Some(bytes);
        self
    }

    /// Idle threads exit after this long (`RUNTIME_IDLE_THREAD_TIMEOUT`).
    pub fn idle_thread_timeout(mut self, d: Duration) -> Self {
        self.over.idle_thread_timeout = Some(d);
        self
    }

    /// Where cgroup files are read (`RUNTIME_CGROUP_ROOT`; default
    /// `/sys/fs/cgroup`): mn lowers its default processor count to the
    /// cgroup's CPU quota. Tests point it at fake files.
    pub fn cgroup_root(mut self, path: impl Into<PathBuf>) -> Self {
        self.over.cgroup_root = Some(path.into());
        self
    }

    /// Scheduler trace lines on stderr (like `RUNTIME_DEBUG`).
    pub fn debug(mut self, debug: Debug) -> Self {
        self.over.debug = Some(debug);
        self
    }

    /// A Chrome trace-event file (like `RUNTIME_TRACE`).
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Self {
        self.over.trace = Some(path.into());
        self
    }

    /// Runs `f` on every thread the runtime starts, on that thread, before
    /// it runs anything else: the mn engine's Ms (the threads that run
    /// tasks in mn) and the `spawn_blocking` pool's threads, in both modes
    /// (tokio's name and meaning); and in mn on the thread that calls
    /// `run`/`block_on`, for the call, since it runs tasks too while the
    /// main future waits (it is an M holding a P then). In single mode the
    /// calling thread is the only one that runs tasks and gets no call.
    /// mn's sysmon thread runs no user code and gets no call either.
    ///
    /// Use it for per-thread setup, such as entering another runtime's
    /// context so that libraries bound to it work inside tasks (in mn
    /// mode, tasks run on the threads this hook sees; tokio's timers and
    /// sockets this way: `benches/examples/tokio_interop.rs` in the
    /// repository). A panic in `f` is reported on stderr and ignored.
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let count = started.clone();
    /// switchyard::Builder::new()
    ///     .on_thread_start(move || {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .run(async {
    ///         // The first spawn_blocking job starts a pool thread.
    ///         switchyard::spawn_blocking(|| ()).await.unwrap();
    ///     });
    /// assert!(started.load(Ordering::Relaxed) >= 1);
    /// ```
    pub fn on_thread_start<F: Fn() + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.hooks.start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on every thread the runtime started, as that thread ends
    /// (an idle thread retiring, or at shutdown), and in mn on the thread
    /// of `run`/`block_on` as the call returns. A panic in `f` is reported
    /// on stderr and ignored.
    pub fn on_thread_stop<F: Fn() + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.hooks.stop = Some(Arc::new(f));
        self
    }

    /// Single mode: how many event loops run the program, each on its own
    /// OS thread with its own tasks, timers and epoll, sharing nothing but
    /// listening ports (Node's `cluster`; `RUNTIME_LOOPS`). 0 means the
    /// usable CPUs (affinity mask and cgroup quota, as mn counts its Ps).
    /// Default 1. More than one needs [`run_each`](Self::run_each) (each
    /// loop runs its own main future) and single mode; mn refuses it.
    pub fn loops(mut self, n: usize) -> Self {
        self.over.loops = Some(n);
        self
    }

    /// Pins each loop's thread to its own CPU of the affinity mask, round
    /// robin (`RUNTIME_PIN=1`); only with more than one loop.
    pub fn pin(mut self, on: bool) -> Self {
        self.over.pin = Some(on);
        self
    }

    /// Ignores the `RUNTIME_*` environment: only builder settings and
    /// defaults apply (tests use this to be independent of the caller's env).
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// The settings this builder would build with.
    pub fn config(&self) -> Result<Config, Error> {
        let env = if self.ignore_env {
            EnvConfig::default()
        } else {
            EnvConfig::from_env().map_err(Error::Config)?
        };
        let o = &self.over;
        // The builder's own numbers get the environment's ranges and the
        // same kind of error, not a failure from deep inside the engine.
        let out_of_range = |var, value: usize, accepted| {
            Err(Error::Config(ConfigError {
                var,
                value: value.to_string(),
                accepted,
            }))
        };
        match (o.procs, o.stack_size) {
            (Some(n), _) if !(1..=crate::config::MAX_PROCS).contains(&n) => {
                return out_of_range("Builder::procs", n, "from 1 to 1024 processors")
            }
            (_, Some(n)) if !(crate::config::MIN_STACK..=crate::config::MAX_STACK).contains(&n) => {
                return out_of_range(
                    "Builder::stack_size",
                    n,
                    "16K to 1G bytes (16384 to 1073741824)",
                )
            }
            _ => {}
        }
        let mode = o.mode.or(env.mode).unwrap_or(Mode::Single);
        let cgroup_root = o
            .cgroup_root
            .clone()
            .or(env.cgroup_root.clone())
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
        let procs = match mode {
            Mode::Single => 1,
            #[cfg(feature = "mn")]
            Mode::Mn => o
                .procs
                .or(env.procs)
                .unwrap_or_else(|| mn_sched::default_procs_in(&cgroup_root)),
            #[cfg(not(feature = "mn"))]
            Mode::Mn => {
                return Err(Error::Config(ConfigError {
                    var: "Builder::mode",
                    value: "Mode::Mn".to_string(),
                    accepted: crate::config::NO_MN,
                }))
            }
        };
        let loops = self.resolve_loops(mode, &env, &cgroup_root)?;
        Ok(Config {
            mode,
            procs,
            loops,
            max_threads: o
                .max_threads
                .or(env.max_threads)
                .unwrap_or(DEFAULT_MAX_THREADS),
            blocking_threads: o
                .blocking_threads
                .or(env.blocking_threads)
                .unwrap_or(DEFAULT_BLOCKING_THREADS),
            stack_size: o.stack_size.or(env.stack_size),
            idle_thread_timeout: o
                .idle_thread_timeout
                .or(env.idle_thread_timeout)
                .unwrap_or(DEFAULT_IDLE_THREAD_TIMEOUT),
            cgroup_root,
            debug: o.debug.or(env.debug).unwrap_or_default(),
            trace: o.trace.clone().or(env.trace.clone()),
            pin: o.pin.or(env.pin).unwrap_or(false),
        })
    }

    /// The number of loops asked for (builder over environment; 0 is the
    /// usable CPUs): more than one only in single mode.
    fn resolve_loops(
        &self,
        mode: Mode,
        env: &EnvConfig,
        cgroup_root: &Path,
    ) -> Result<usize, Error> {
        let (asked, var) = match (self.over.loops, env.loops) {
            (Some(n), _) => (n, "Builder::loops"),
            (None, Some(n)) => (n, crate::config::LOOPS),
            (None, None) => return Ok(1),
        };
        let n = if asked == 0 {
            rt_base::procs::default_procs_in(cgroup_root)
        } else {
            asked
        };
        if n > crate::config::MAX_PROCS {
            return Err(Error::Config(ConfigError {
                var,
                value: n.to_string(),
                accepted: crate::config::LOOPS_ACCEPTED,
            }));
        }
        if n > 1 && mode != Mode::Single {
            return Err(Error::Config(ConfigError {
                var,
                value: asked.to_string(),
                accepted: "1 in mn mode: loops are single mode's way to use more \
                           cores; mn spreads its tasks over RUNTIME_MAXPROCS Ps",
            }));
        }
        Ok(n)
    }

    /// Builds the runtime. A bad `RUNTIME_*` value or a builder value out
    /// of range (`procs` above 1024, `stack_size` outside 16 KiB to 1 GiB)
    /// is an [`Error::Config`]; a trace path where no trace can be written
    /// an [`Error::Trace`] (checked here, not when the trace is written); a
    /// resource the OS refused an [`Error::Io`]. More than one loop
    /// (`RUNTIME_LOOPS`) is an [`Error::Config`] too: a [`Runtime`] runs one
    /// main future, and N loops each need their own — use
    /// [`run_each`](Self::run_each).
    pub fn build(self) -> Result<Runtime, Error> {
        let config = self.config()?;
        self.build_with(config)
    }

    /// [`build`](Self::build) with the settings `config()` already
    /// returned (`run_each` reads them first to count the loops).
    pub(crate) fn build_with(&self, config: Config) -> Result<Runtime, Error> {
        if config.loops > 1 {
            return Err(Error::Config(ConfigError {
                var: if self.over.loops.is_some() {
                    "Builder::loops"
                } else {
                    crate::config::LOOPS
                },
                value: config.loops.to_string(),
                accepted: "1 here: `run`, `block_on` and `Runtime` run one main future; \
                           N loops each run their own, so start them with \
                           switchyard::run_each(|loop_id| async move { ... })",
            }));
        }
        let trace = self.trace_file(&config)?;
        let shared = Arc::new(Shared::new(&config, &self.hooks));
        let engine = EngineRuntime::build(&config, trace, &self.hooks, shared, None)?;
        Ok(Runtime { engine, config })
    }

    /// The checked trace destination `config` names, if any.
    pub(crate) fn trace_file(&self, config: &Config) -> Result<Option<TraceFile>, Error> {
        match &config.trace {
            Some(path) => Ok(Some(TraceFile::open(path).map_err(|source| {
                Error::Trace {
                    path: path.clone(),
                    from_env: self.over.trace.is_none(),
                    source,
                }
            })?)),
            None => Ok(None),
        }
    }

    /// The thread hooks (for the loops of `run_each`).
    pub(crate) fn hooks(&self) -> &ThreadHooks {
        &self.hooks
    }

    /// Builds the runtime and runs `future` on it; on a configuration error
    /// prints one line naming the problem and exits with status 2.
    ///
    /// # Panics
    /// If called inside a runtime.
    #[track_caller]
    pub fn run<F: Future>(self, future: F) -> F::Output {
        assert_outside_runtime();
        match self.build() {
            Ok(rt) => rt.block_on(future),
            Err(e) => exit_on_start_error(&e),
        }
    }
}

/// The runtime of one engine: what a [`Runtime`] runs on (the contract
/// each engine meets is in engine.rs).
pub(crate) enum EngineRuntime {
    /// The JavaScript model (loop-core).
    Single(loop_core::Runtime),
    /// The Go model (mn-sched).
    #[cfg(feature = "mn")]
    Mn(mn_sched::Runtime),
}

impl EngineRuntime {
    /// Builds the engine `config` asks for, tracing to `trace` (the checked
    /// `config.trace`), with compat's state `shared`. `lane` is set for
    /// one of several loops (`run_each`): its trace goes into that lane of
    /// the loops' shared recorder.
    pub(crate) fn build(
        config: &Config,
        trace: Option<TraceFile>,
        hooks: &ThreadHooks,
        shared: Arc<Shared>,
        lane: Option<(Arc<rt_base::trace::Recorder>, String)>,
    ) -> Result<EngineRuntime, Error> {
        start_up();
        // The loop starts no thread of its own: the hooks are mn's (and
        // the blocking pool's, which `shared` carries).
        #[cfg(not(feature = "mn"))]
        let _ = hooks;
        match config.mode {
            Mode::Single => {
                let mut b = loop_core::Builder::new()
                    .user_data(shared)
                    .control_signals(true);
                match (trace, lane) {
                    (Some(file), Some((recorder, name))) => {
                        b = b.trace_shared(file, recorder, name);
                    }
                    (Some(file), None) => b = b.trace_file(file),
                    (None, _) => {}
                }
                if let Some(period) = config.debug.schedtrace {
                    let start = std::time::Instant::now();
                    b = b.periodic(
                        period,
                        Box::new(move || {
                            if let Some(s) = crate::stats() {
                                let line = s.single_trace_line();
                                rt_base::diag::line(&format!(
                                    "SCHED {}ms: {line}",
                                    start.elapsed().as_millis()
                                ));
                            }
                        }),
                    );
                }
                b.build().map(EngineRuntime::Single).map_err(Error::Io)
            }
            #[cfg(feature = "mn")]
            Mode::Mn => {
                let mut b = mn_sched::Runtime::builder()
                    .procs(config.procs)
                    .max_threads(config.max_threads)
                    .idle_thread_timeout(config.idle_thread_timeout)
                    .user_data(shared)
                    .control_signals(true);
                if let Some(period) = config.debug.schedtrace {
                    b = b.schedtrace(period, config.debug.scheddetail);
                }
                if let Some(file) = trace {
                    b = b.trace_file(file);
                }
                if let Some(bytes) = config.stack_size {
                    b = b.stack_size(bytes);
                }
                if let Some(f) = &hooks.start {
                    b = b.on_thread_start(f.clone());
                }
                if let Some(f) = &hooks.stop {
                    b = b.on_thread_stop(f.clone());
                }
                b.build()
                    .map(EngineRuntime::Mn)
                    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
            }
            #[cfg(not(feature = "mn"))]
            Mode::Mn => crate::engine::no_mn(),
        }
    }

    #[track_caller]
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            EngineRuntime::Single(rt) => rt.block_on(future),
            #[cfg(feature = "mn")]
            EngineRuntime::Mn(rt) => rt.block_on_future(future),
        }
    }

    pub(crate) fn handle(&self) -> crate::Handle {
        match self {
            EngineRuntime::Single(rt) => crate::Handle::single(rt.handle()),
            #[cfg(feature = "mn")]
            EngineRuntime::Mn(rt) => crate::Handle::mn(rt.handle()),
        }
    }
}

/// Once per process: raise the soft file-descriptor limit to the hard one
/// (as Go does), so thousands of connections work out of the box.
fn start_up() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rt_base::sys::raise_nofile_limit();
    });
}

/// What `run` and `run_each` do when the runtime cannot start: one line
/// naming the problem, exit status 2. Not `eprintln!`: a stderr nobody
/// reads must not keep the program from exiting; a reader gets half a
/// second.
pub(crate) fn exit_on_start_error(e: &Error) -> ! {
    rt_base::diag::line(&format!("switchyard: {e}"));
    rt_base::diag::flush(Duration::from_millis(500));
    std::process::exit(2)
}

/// Runs `future` to completion on a runtime chosen by `RUNTIME_MODE` (default
/// `single`) and returns its output. Tasks still alive when it completes are
/// dropped (their destructors run).
///
/// This is the program's entry point, in place of tokio's
/// `#[tokio::main]` (there is no attribute macro): `main` calls it, and
/// the future may return a `Result` for `main` to return. Every other
/// setting comes from the `RUNTIME_*` environment; [`Builder`] sets them in
/// code.
///
/// A bad `RUNTIME_*` value prints one line naming the variable and what is
/// accepted, and exits with status 2.
///
/// ```
/// # extern crate compat as switchyard;
/// use std::time::Duration;
///
/// fn main() -> std::io::Result<()> {
///     switchyard::run(async {
///         let task = switchyard::spawn(async {
///             switchyard::time::sleep(Duration::from_millis(5)).await;
///             "slept"
///         });
///         println!("{}", task.await?);
///         Ok(())
///     })
/// }
/// ```
///
/// # Panics
/// If called inside a runtime (from a task or inside another `run`).
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    Builder::new().run(future)
}

pub(crate) fn assert_outside_runtime() {
    assert!(
        !crate::engine::inside_runtime(),
        "switchyard: cannot start a runtime from within a runtime (run or block_on was \
         called inside a task or inside another run); spawn the future instead"
    );
}

/// A runtime in one mode, chosen when it was built ([`Builder::build`],
/// [`Runtime::new`]). Dropping it shuts it down: the tasks still alive are
/// dropped.
///
/// ```
/// # extern crate compat as switchyard;
/// let rt = switchyard::Runtime::new().expect("a runtime"); // from RUNTIME_*
/// let handle = rt.handle();
/// let sum = rt.block_on(async move {
///     let task = handle.spawn(async { 2 + 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(sum, 4);
/// ```
pub struct Runtime {
    engine: EngineRuntime,
    config: Config,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime from an engine built for `config` (the loops of
    /// `run_each` build theirs one by one).
    pub(crate) fn from_parts(engine: EngineRuntime, config: Config) -> Runtime {
        Runtime { engine, config }
    }
}

impl Runtime {
    /// Builds a runtime from the environment and defaults.
    pub fn new() -> Result<Runtime, Error> {
        Builder::new().build()
    }

    /// Runs `future` to completion, running spawned tasks meanwhile.
    ///
    /// # Panics
    /// If called inside a runtime.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert_outside_runtime();
        self.engine.block_on(future)
    }

    /// The mode this runtime runs in.
    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// The settings it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle that spawns onto this runtime from any thread.
    pub fn handle(&self) -> crate::Handle {
        self.engine.handle()
    }
}
