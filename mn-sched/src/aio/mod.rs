//! Async tasks on Gs: futures run as Gs, the Go model, so that
//! compat's `spawn(future)` in `RUNTIME_MODE=mn` is a G like any other.
//!
//! * [`task`] — `spawn`, `try_spawn`, `yield_now`, [`task::JoinHandle`]:
//!   each task is a G whose body polls the future with a waker that makes
//!   the G runnable, and parks the G on `Pending`.
//! * `cell` — that body: the future stays in the G's cell, so a G that
//!   waits gives its stack back (a stack only while it polls).
//! * [`local`] — `spawn_local`: `!Send` tasks polled by the thread or G
//!   that spawned them, never leaving its OS thread.
//! * this file — the *entered* thread context: [`Runtime::block_on_future`]
//!   polls a future on the calling thread with the runtime entered in a
//!   thread-local, so [`Handle::current`], [`inside_runtime`],
//!   [`user_data`] and `task::spawn` work there as they do on a G.
//!
//! Why async tasks are sound where blocking-style Gs need a contract: a poll
//! never switches away in its middle (the body parks only between polls),
//! so a thread-local reference or a `std` lock guard taken inside a poll is
//! released on the thread that took it.
//!
//! The async types over the runtime, which any executor on it can poll:
//! * [`time`] — `sleep`, `sleep_until`, [`time::Sleep`] on the per-P timer
//!   wheels (timer.rs).
//! * [`net`] — `TcpListener`, `TcpStream`, `UdpSocket` on the netpoller.
//! * [`signal`] — [`signal::Signal`], a signal's deliveries as a stream.

pub(crate) mod cell;
pub mod local;
pub mod net;
pub(crate) mod ready_flag;
pub mod signal;
pub mod task;
pub mod time;

pub use local::{spawn_local, try_spawn_local, LocalJoinHandle, SpawnLocalError};

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Context;

use crate::runtime::{Handle, Runtime};

thread_local! {
    /// The runtime entered by `block_on_future` on this (non-M) thread.
    static ENTERED: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// The runtime entered on this thread by `block_on_future`, if any. Never
/// called on a G (`Handle::current` asks the M first), so the thread-local
/// rule of g/run.rs does not apply.
pub(crate) fn entered() -> Option<Handle> {
    ENTERED.try_with(|e| e.borrow().clone()).ok().flatten()
}

/// Restores the previously entered runtime when dropped (also on unwind).
struct EnterGuard(Option<Handle>);

impl EnterGuard {
    fn enter(h: Handle) -> Self {
        Self(ENTERED.with(|e| e.borrow_mut().replace(h)))
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = ENTERED.try_with(|e| *e.borrow_mut() = prev);
    }
}

/// Whether the caller runs inside an mn runtime: on one of its Gs (or Ms),
/// or on a thread inside [`Runtime::block_on_future`].
pub fn inside_runtime() -> bool {
    Handle::current().is_some()
}

/// The value given to [`Builder::user_data`](crate::Builder::user_data) of
/// the caller's runtime (None outside a runtime or when none was given).
pub fn user_data() -> Option<Arc<dyn Any + Send + Sync>> {
    Handle::current()?.user_data()
}

impl Runtime {
    /// Runs `f` to completion on the **calling thread** (not on a G; `f`
    /// need not be `Send`), with this runtime entered: inside `f`,
    /// [`Handle::current`], [`inside_runtime`], [`user_data`] and
    /// [`task::spawn`] find this runtime. The thread sleeps while `f` is
    /// pending; its waker wakes it. A panic in `f` propagates to the caller.
    ///
    /// Tasks made with [`spawn_local`] on this thread are polled here too,
    /// between polls of `f`; those still pending when `f` completes are
    /// dropped (their handles give `Err(JoinError::Cancelled)`).
    ///
    /// # Panics
    ///
    /// If called from a G or M of this same runtime (it would block a
    /// thread the runtime needs, possibly waiting for itself): `.await`
    /// there instead.
    #[track_caller]
    pub fn block_on_future<F: Future>(&self, f: F) -> F::Output {
        assert!(
            !self.on_own_thread(),
            "Runtime::block_on_future called from inside the same mn runtime: \
             it would block one of its threads; .await the future instead"
        );
        let _enter = EnterGuard::enter(self.handle());
        let mut f = pin!(f);
        // The calling thread becomes an M holding a P, and `f` its main G
        // (sched/host.rs); as below only where it cannot (the thread cap,
        // or the thread is an M of another runtime already).
        if let Some(v) = crate::sched::host::block_on(
            self.handle().shared(),
            f.as_mut(),
            std::panic::Location::caller(),
        ) {
            return v;
        }
        let mut waker = crate::g::waker::for_thread();
        if self.handle().shared().trace.is_some() {
            // Wakes of the main future draw trace arrows too.
            waker = crate::sched::trace::main_waker(self.handle().shared().clone(), waker);
        }
        let mut cx = Context::from_waker(&waker);
        let host = local::LocalHost::new(&waker, false);
        // The task dump shows this future as task 0 (main).
        let sh = self.handle();
        let main = &sh.shared().main;
        let _main = main.enter(std::panic::Location::caller());
        loop {
            // Local tasks woken so far, then `f` (aio/local.rs).
            main.running();
            let tracer = sh.shared().trace.as_deref();
            let t0 = tracer.map_or(0, |t| t.now());
            let polled = task::poll_round(&host, Some(f.as_mut()), &mut cx);
            if let Some(t) = tracer {
                let flow = sh.shared().main.take_flow();
                t.main_run(t0, std::panic::Location::caller(), flow);
            }
            match polled {
                task::Polled::Ready(v) => return v,
                task::Polled::Pending(r) => main.waiting(r),
            }
            std::thread::park();
        }
    }
}
