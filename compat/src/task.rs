//! Spawning and joining tasks, the same in every mode.
//!
//! [`spawn`] starts a future as a task on the current runtime: in single
//! mode a future on the event loop's thread, in mn a task with its own
//! stack that may run on any of the runtime's threads. Awaiting the
//! returned [`JoinHandle`] gives the output, or a [`JoinError`] if the task
//! panicked or was aborted: a panic ends its task, never the runtime.
//! Dropping the handle detaches the task. [`JoinSet`] holds many tasks and
//! joins them in the order they finish. [`Builder`] spawns one task with a
//! name and (mn) a stack size of its own.
//!
//! Everything here is also at the crate root (`switchyard::spawn`,
//! `switchyard::JoinHandle`, …); the module gives the paths tokio users
//! know (`task::JoinSet`, `task::spawn`, `task::yield_now`,
//! `task::Builder`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::config::Mode;
use crate::engine::{self, dispatch, engines};
pub use crate::error::JoinError;

mod builder;
mod join_set;
pub use builder::Builder;
pub use join_set::JoinSet;

/// One engine's handle: a task's join handle (`S`, `M`: the loop's and
/// mn's type of it) or a runtime's handle.
enum EngineHandle<S, #[cfg(feature = "mn")] M> {
    Single(S),
    #[cfg(feature = "mn")]
    Mn(M),
}

/// An owned permission to await a task's output; dropping it detaches.
///
/// Awaiting it gives `Ok(output)`, or `Err(JoinError)` if the task
/// panicked ([`JoinError::is_panic`]) or was aborted
/// ([`JoinError::is_cancelled`]).
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     let ok = switchyard::spawn(async { "done" });
///     assert_eq!(ok.await.unwrap(), "done");
///
///     let bad = switchyard::spawn(async { panic!("boom") });
///     let err = bad.await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(err.panic_message(), Some("boom"));
///
///     let forever = switchyard::spawn(std::future::pending::<()>());
///     forever.abort();
///     assert!(forever.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct JoinHandle<T> {
    inner: engines!(EngineHandle<loop_core::JoinHandle<T>, mn_sched::aio::task::JoinHandle<T>>),
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped and awaiting yields a
    /// cancelled error. No effect on a completed task.
    pub fn abort(&self) {
        dispatch!(&self.inner, EngineHandle(h) => h.abort())
    }
}

impl<T: Send + 'static> JoinHandle<T> {
    /// Whether the task has completed.
    pub fn is_finished(&self) -> bool {
        dispatch!(&self.inner, EngineHandle(h) => h.is_finished())
    }
}

impl<T: Send + 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            EngineHandle::Single(h) => Pin::new(h).poll(cx).map(|r| r.map_err(JoinError::from)),
            #[cfg(feature = "mn")]
            EngineHandle::Mn(h) => Pin::new(h).poll(cx).map(|r| r.map_err(JoinError::from)),
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(&self.inner, EngineHandle(h) => h.fmt(f))
    }
}

/// The handle of a [`spawn_local`] task; await it on the thread that
/// spawned the task. As a [`JoinHandle`], it gives `Err` if the task
/// panicked or was aborted.
pub struct LocalJoinHandle<T> {
    inner: engines!(EngineHandle<loop_core::LocalJoinHandle<T>, mn_sched::aio::LocalJoinHandle<T>>),
}

impl<T: 'static> LocalJoinHandle<T> {
    /// Cancels the task.
    pub fn abort(&self) {
        dispatch!(&self.inner, EngineHandle(h) => h.abort())
    }

    /// Whether the task has completed.
    pub fn is_finished(&self) -> bool {
        dispatch!(&self.inner, EngineHandle(h) => h.is_finished())
    }
}

impl<T: 'static> Future for LocalJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            EngineHandle::Single(h) => Pin::new(h).poll(cx).map(|r| r.map_err(JoinError::from)),
            #[cfg(feature = "mn")]
            EngineHandle::Mn(h) => Pin::new(h).poll(cx).map(|r| r.map_err(JoinError::from)),
        }
    }
}

impl<T> fmt::Debug for LocalJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(&self.inner, EngineHandle(h) => h.fmt(f))
    }
}

/// Starts `future` as a new task on the current runtime and returns its
/// [`JoinHandle`]. The task runs whether or not the handle is awaited
/// (in single mode once the caller yields; in mn possibly at once on
/// another thread); dropping the handle lets it run on, detached.
///
/// The future must be `Send + 'static`, in both modes (in mn a task may
/// move to another thread between two polls); [`spawn_local`] takes
/// futures that are not `Send`.
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     let tasks: Vec<_> = (0..4u64)
///         .map(|i| switchyard::spawn(async move { i * i }))
///         .collect();
///     let mut sum = 0;
///     for task in tasks {
///         sum += task.await.expect("the task did not panic");
///     }
///     assert_eq!(sum, 0 + 1 + 4 + 9);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match engine::expect_mode("spawn") {
        Mode::Single => JoinHandle {
            inner: EngineHandle::Single(loop_core::spawn(future)),
        },
        #[cfg(feature = "mn")]
        Mode::Mn => JoinHandle {
            inner: EngineHandle::Mn(mn_sched::aio::task::spawn(future)),
        },
        #[cfg(not(feature = "mn"))]
        Mode::Mn => engine::no_mn(),
    }
}

/// Starts a `!Send` future as a task that stays on the current thread
/// (single mode: the loop thread; mn: the thread of the calling task,
/// which stays on that thread until its local tasks have finished).
///
/// ```
/// # extern crate compat as switchyard;
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// switchyard::run(async {
///     let log = Rc::new(RefCell::new(Vec::new())); // Rc: not Send
///     let l = log.clone();
///     let task = switchyard::spawn_local(async move {
///         l.borrow_mut().push("from the local task");
///     });
///     task.await.unwrap();
///     assert_eq!(log.borrow().len(), 1);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn_local<F>(future: F) -> LocalJoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match engine::expect_mode("spawn_local") {
        Mode::Single => LocalJoinHandle {
            inner: EngineHandle::Single(loop_core::spawn_local(future)),
        },
        #[cfg(feature = "mn")]
        Mode::Mn => LocalJoinHandle {
            inner: EngineHandle::Mn(mn_sched::aio::spawn_local(future)),
        },
        #[cfg(not(feature = "mn"))]
        Mode::Mn => engine::no_mn(),
    }
}

/// Lets every other ready task, timers and I/O go first, then continues.
/// Call it inside long computations, so that in single mode the loop (and
/// in mn mode the other tasks of the thread) get a turn.
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     let mut sum = 0u64;
///     for i in 0..10_000u64 {
///         sum += i;
///         if i % 1_000 == 0 {
///             switchyard::yield_now().await;
///         }
///     }
///     assert_eq!(sum, 49_995_000);
/// });
/// ```
pub async fn yield_now() {
    match engine::mode() {
        #[cfg(feature = "mn")]
        Some(Mode::Mn) => mn_sched::aio::task::yield_now().await,
        _ => loop_core::yield_now().await,
    }
}

/// Spawns onto a runtime from any thread; cheap to clone.
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     let handle = switchyard::Handle::current();
///     // A plain OS thread spawns a task onto the runtime.
///     let from_thread = std::thread::spawn(move || handle.spawn(async { 7 }))
///         .join()
///         .unwrap();
///     assert_eq!(from_thread.await.unwrap(), 7);
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Handle {
    inner: engines!(EngineHandle<loop_core::Handle, mn_sched::Handle>),
}

impl Handle {
    pub(crate) fn single(h: loop_core::Handle) -> Self {
        Handle {
            inner: EngineHandle::Single(h),
        }
    }

    #[cfg(feature = "mn")]
    pub(crate) fn mn(h: mn_sched::Handle) -> Self {
        Handle {
            inner: EngineHandle::Mn(h),
        }
    }

    /// The handle of the runtime running the current task.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn current() -> Handle {
        Self::try_current().expect("switchyard: Handle::current called outside a runtime")
    }

    /// The handle of the runtime running the current task, if any.
    pub fn try_current() -> Option<Handle> {
        match engine::mode()? {
            Mode::Single => loop_core::Handle::try_current().map(Handle::single),
            #[cfg(feature = "mn")]
            Mode::Mn => mn_sched::Handle::current().map(Handle::mn),
            #[cfg(not(feature = "mn"))]
            Mode::Mn => engine::no_mn(),
        }
    }

    /// Spawns `future` onto the runtime, from any thread.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner {
            EngineHandle::Single(h) => JoinHandle {
                inner: EngineHandle::Single(h.spawn(future)),
            },
            #[cfg(feature = "mn")]
            EngineHandle::Mn(h) => JoinHandle {
                inner: EngineHandle::Mn(h.spawn_future(future)),
            },
        }
    }
}

#[cfg(feature = "mn")]
impl<S: fmt::Debug, M: fmt::Debug> fmt::Debug for EngineHandle<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, EngineHandle(x) => x.fmt(f))
    }
}

#[cfg(not(feature = "mn"))]
impl<S: fmt::Debug> fmt::Debug for EngineHandle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, EngineHandle(x) => x.fmt(f))
    }
}

#[cfg(not(feature = "mn"))]
impl<S: Clone> Clone for EngineHandle<S> {
    fn clone(&self) -> Self {
        match self {
            EngineHandle::Single(x) => EngineHandle::Single(x.clone()),
        }
    }
}

#[cfg(feature = "mn")]
impl<S: Clone, M: Clone> Clone for EngineHandle<S, M> {
    fn clone(&self) -> Self {
        match self {
            EngineHandle::Single(x) => EngineHandle::Single(x.clone()),
            #[cfg(feature = "mn")]
            EngineHandle::Mn(x) => EngineHandle::Mn(x.clone()),
        }
    }
}

// Compile-time checks: handles and errors cross threads where their outputs do.
const _: () = {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    let _ = || {
        send::<JoinHandle<u8>>();
        send::<JoinError>();
        send::<Handle>();
        sync::<Handle>();
    };
};
