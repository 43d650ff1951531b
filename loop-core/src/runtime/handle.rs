//! Reaching a loop: [`Handle`], which spawns onto it from any thread
//! (through the remote queue when called off the loop's thread), and the
//! functions that act on the loop running on the calling thread
//! ([`spawn`], [`spawn_local`], [`user_data`], [`stats`]). The crate root
//! re-exports them all.

use std::any::Any;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use super::{Core, LoopStats};
use crate::context;
use crate::remote::{Remote, RemoteOp};
use crate::task::cell::{Cell as TaskCell, JoinLink};
use crate::task::{JoinHandle, LocalJoinHandle, Task};

/// Spawns onto a loop from any thread; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    /// The loop's side of the remote queue (`Runtime::handle` makes one).
    pub(super) remote: Arc<Remote>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("runtime", &self.remote.id)
            .finish()
    }
}

impl Handle {
    /// The handle of the loop running on this thread.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn current() -> Handle {
        Self::try_current().expect("switchyard: Handle::current called outside a runtime")
    }

    /// The handle of the loop running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        context::with_current(|core| Handle {
            remote: core.remote.clone(),
        })
    }

    /// Spawns `future` onto the loop. From the loop's own thread it is queued
    /// at once; from another thread it is queued through the remote queue and
    /// starts on the loop's next turn. If the runtime is gone, the returned
    /// handle yields a cancelled error.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if let Some(core) = context::current().filter(|c| c.short == self.remote.short) {
            return core.spawn(future);
        }
        let link = JoinLink::new();
        let task: Pin<Box<dyn Task + Send>> = Box::pin(TaskCell::new(future, Some(link.clone())));
        // Refused (runtime gone): dropping the op drops the cell, which
        // completes the link as cancelled.
        drop(self.remote.push(RemoteOp::Spawn(task, Location::caller())));
        JoinHandle::link(self.remote.short, link)
    }

    /// A never-reused id of the runtime.
    pub fn id(&self) -> u64 {
        self.remote.id
    }
}

/// Spawns a `Send` future on the current loop.
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    current_core("spawn").spawn(future)
}

/// Spawns a `!Send` future on the current loop.
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn_local<F>(future: F) -> LocalJoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    current_core("spawn_local").spawn_local(future)
}

/// The state attached with [`Builder::user_data`](super::Builder::user_data) to the loop running on this
/// thread.
pub fn user_data() -> Option<Arc<dyn Any + Send + Sync>> {
    context::with_current(|core| core.user_data.clone()).flatten()
}

/// A snapshot of the current loop's counters.
pub fn stats() -> Option<LoopStats> {
    context::with_current(|core| core.stats())
}

fn current_core(what: &str) -> Rc<Core> {
    context::current().unwrap_or_else(|| {
        panic!(
            "switchyard: {what} called outside a runtime (run the program inside switchyard::run)"
        )
    })
}
