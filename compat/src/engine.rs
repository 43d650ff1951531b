//! The engines behind the one API, and the contract each of them meets.
//!
//! Which model runs is a [`Mode`], chosen once by `Builder::build` and never
//! changed; [`mode`] says which one runs the current thread. The runtime
//! itself is an [`EngineRuntime`], a closed enum holding one engine's
//! runtime. Every compat type that touches an engine (join handles, sleeps,
//! sockets) is an enum with one variant per engine, and [`dispatch!`]
//! matches on it. Without the `mn` feature those enums lose their `Mn`
//! variant, while `Mode::Mn` stays (it is public, and refused by
//! `Builder::config`): a match on the running [`Mode`] then ends in an arm
//! `Mode::Mn => engine::no_mn()`.
//!
//! The contract every engine meets:
//! 1. `block_on(f)` runs `f` to completion on the calling thread's behalf and
//!    runs spawned tasks meanwhile; a task's panic is caught and reported
//!    through its join handle, never kills the runtime.
//! 2. Inside a task, the engine can be found from the running thread (a
//!    thread-local of the engine's own), so free functions (`spawn`, `sleep`,
//!    `TcpStream::connect`) need no handle.
//! 3. Wakers are `Send + Sync` and a stale or foreign wake is harmless.
//! 4. Timers never fire early; sockets are non-blocking and edge-triggered,
//!    and readiness is never lost between a `WouldBlock` and the next wait.
//! 5. When `block_on` returns, tasks still alive are dropped (with the
//!    runtime), their destructors run.
//! 6. Engine-wide services that do not depend on the model (the blocking
//!    pool, DNS) live in compat's [`Shared`](crate::shared::Shared), which each
//!    engine carries for compat and hands back from any of its tasks.

use std::future::Future;
use std::sync::Arc;

use crate::runtime::{Config, Error, ThreadHooks};
use crate::shared::Shared;
use crate::Mode;

/// Matches an engine-tagged enum and runs the same expression on each arm.
macro_rules! dispatch {
    ($value:expr, $inner:pat => $body:expr) => {
        match $value {
            Inner::Single($inner) => $body,
            #[cfg(feature = "mn")]
            #[cfg(feature = "mn")]
            Inner::Mn($inner) => $body,
        }
    };
}
pub(crate) use dispatch;

/// The type of an engine-tagged enum generic over both engines' types:
/// `Inner<S, M>` with the M:N engine, `Inner<S>` in a build without it (the
/// M type is then never named, so it need not exist).
#[cfg(feature = "mn")]
macro_rules! engines {
    ($inner:ident < $s:ty, $m:ty >) => {
        $inner<$s, $m>
    };
}
#[cfg(not(feature = "mn"))]
macro_rules! engines {
    ($inner:ident < $s:ty, $m:ty >) => {
        $inner<$s>
    };
}
pub(crate) use engines;

/// The runtime of one engine: what a compat [`Runtime`](crate::Runtime)
/// runs on.
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
        trace: Option<rt_base::trace::TraceFile>,
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
            Mode::Mn => no_mn(),
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

/// The mode of the engine running on this thread, if any.
pub(crate) fn mode() -> Option<Mode> {
    if loop_core::inside_runtime() {
        return Some(Mode::Single);
    }
    #[cfg(feature = "mn")]
    if mn_sched::inside_runtime() {
        return Some(Mode::Mn);
    }
    None
}

/// Whether any engine runs on this thread.
pub(crate) fn inside_runtime() -> bool {
    mode().is_some()
}

/// The mode of the engine running on this thread, or a clear panic naming
/// `what`.
pub(crate) fn expect_mode(what: &str) -> Mode {
    mode().unwrap_or_else(|| {
        panic!(
            "switchyard: {what} called outside a runtime (run the program inside switchyard::run)"
        )
    })
}

/// The `Mode::Mn` arm of a match on the running mode in a build without
/// the M:N engine: no runtime of that mode exists there (`Builder::config`
/// refuses it), so the arm is never taken.
#[cfg(not(feature = "mn"))]
pub(crate) fn no_mn() -> ! {
    unreachable!("a build without the mn feature runs no Mode::Mn runtime")
}

/// Transitional, for net.rs, time.rs and signal.rs alone (their
/// engine-tagged types are being rewritten on another branch): the running
/// engine as the old private enum, which a build without mn leaves with one
/// variant. The rest of compat matches on [`Mode`] ([`expect_mode`]); once
/// those files do too, this and [`expect_current`] go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Current {
    /// A loop-core loop.
    Single,
    /// An mn-sched runtime (a G, or the thread inside its `block_on`).
    #[cfg(feature = "mn")]
    Mn,
}

/// Transitional (see [`Current`]): [`expect_mode`] as a [`Current`].
pub(crate) fn expect_current(what: &str) -> Current {
    match expect_mode(what) {
        Mode::Single => Current::Single,
        #[cfg(feature = "mn")]
        Mode::Mn => Current::Mn,
        #[cfg(not(feature = "mn"))]
        Mode::Mn => no_mn(),
    }
}

/// compat's per-runtime state, from inside one of its tasks.
pub(crate) fn shared() -> Option<Arc<Shared>> {
    match mode()? {
        Mode::Single => loop_core::user_data()?.downcast::<Shared>().ok(),
        #[cfg(feature = "mn")]
        Mode::Mn => mn_sched::user_data()?.downcast::<Shared>().ok(),
        #[cfg(not(feature = "mn"))]
        Mode::Mn => no_mn(),
    }
}
