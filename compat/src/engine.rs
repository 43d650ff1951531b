//! The engines behind the one API: the contract each of them meets, and
//! what compat knows of the one running on this thread.
//!
//! Which model runs is a [`Mode`], chosen once by `Builder::build` and never
//! changed (runtime.rs builds the `EngineRuntime`, a closed enum holding one
//! engine's runtime); [`mode`] says which one runs the current thread, and
//! [`loop_id`] which of `run_each`'s loops. A compat type that holds an
//! engine's own object (join handles) is an enum with one variant per
//! engine, and [`dispatch!`] matches on it. Sockets, signals and sleeps are
//! rt-base's types, written once for both engines over a registration or a
//! timer entry: there the enum is only that registration or entry
//! (registration.rs), chosen when the socket or signal pipe is registered
//! or the sleep first polled. Without the `mn` feature those enums lose their `Mn`
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

use std::cell::Cell;
use std::sync::Arc;

use crate::config::Mode;
use crate::shared::Shared;

/// Matches `value`, of the engine-tagged enum `Enum`, and runs the same
/// `body` on each variant's payload, bound to `binding`:
/// `dispatch!(&self.inner, EngineHandle(h) => h.abort())` stands for
/// `match &self.inner { EngineHandle::Single(h) => h.abort(),
/// EngineHandle::Mn(h) => h.abort() }` (no `Mn` arm without mn).
macro_rules! dispatch {
    ($value:expr, $enum:ident($binding:pat) => $body:expr) => {
        match $value {
            $enum::Single($binding) => $body,
            #[cfg(feature = "mn")]
            $enum::Mn($binding) => $body,
        }
    };
}
pub(crate) use dispatch;

/// The type of an engine-tagged enum generic over both engines' types:
/// `engines!(Enum<S, M>)` is `Enum<S, M>` with the M:N engine, `Enum<S>` in
/// a build without it (the M type is then never named, so it need not
/// exist).
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

thread_local! {
    /// (this loop's index, how many loops) on a loop thread of `run_each`.
    static LOOP: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Which loop the current task runs on: `Some(0..N)` under
/// [`run_each`](crate::run_each) with `RUNTIME_LOOPS=N`; `Some(0)` in every
/// other runtime (one loop, or mn); `None` outside a runtime.
///
/// ```
/// # extern crate compat as switchyard;
/// let ids = switchyard::Builder::new()
///     .ignore_env()
///     .loops(2)
///     .run_each(|id| async move {
///         assert_eq!(switchyard::loop_id(), Some(id));
///         id
///     });
/// assert_eq!(ids, vec![0, 1]);
/// assert_eq!(switchyard::loop_id(), None);
/// ```
pub fn loop_id() -> Option<usize> {
    if !inside_runtime() {
        return None;
    }
    Some(LOOP.with(|l| l.get()).map_or(0, |(i, _)| i))
}

/// How many loops run the program (1 outside `run_each` with N loops).
pub(crate) fn loop_count() -> usize {
    LOOP.with(|l| l.get()).map_or(1, |(_, n)| n)
}

/// Marks this thread as loop `id` of `n` while `run_each` runs a loop on
/// it (`Some((id, n))`), and as no loop's again after (`None`).
pub(crate) fn set_loop(this: Option<(usize, usize)>) {
    LOOP.with(|l| l.set(this));
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
