//! Join handles: awaiting a task's output, detaching, aborting.
//!
//! A [`JoinHandle`] names its task by runtime id, slab key and task id (the
//! runtime's count of spawns, which never comes round again); the slot stays
//! allocated (holding the output) until the handle takes the output or is
//! dropped. Wakers name a task by key and an 18-bit generation instead, which
//! comes round after 2^18 spawns: for a wake that is harmless (at worst one
//! spurious poll), but an abort, a detach or a join acts on whatever task
//! holds the slot, so a handle never uses the generation. A handle that has
//! seen its task's output (taken it, or seen it arrive on its link) sends
//! nothing to the loop any more.
//!
//! On the loop thread everything is direct slab access. Awaited, dropped or
//! aborted from another thread, the handle sends the operation to the loop
//! through the runtime's remote queue; the output then travels back
//! in a [`JoinLink`] (so `T: Send` is required there, which `spawn` demands
//! anyway). [`LocalJoinHandle`] (from `spawn_local`, for `!Send` outputs) has
//! no such path: it must be awaited on its own loop thread.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::cell::JoinLink;
use crate::context;
use crate::remote::{self, RemoteCall};
use crate::runtime::Core;

/// Why a task produced no output.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        JoinError {
            repr: Repr::Panic(payload),
        }
    }

    /// The task was aborted, or dropped when its runtime shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic's payload, to resume it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the error is not a panic.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.repr {
            Repr::Panic(p) => p,
            Repr::Cancelled => panic!("JoinError::into_panic on a cancelled task"),
        }
    }

    /// The panic message, when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => rt_base::panic::message(p),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => write!(
                f,
                "JoinError::Panic({:?})",
                self.panic_message().unwrap_or("..")
            ),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(p) => rt_base::panic::fmt_task_panicked(p, f),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

/// Where a handle's task is: in a slab slot of its runtime, or reachable
/// only through a link (spawned from another thread, or awaited from one).
enum Target<T> {
    /// Slot `key`, while it holds the task with this id.
    Slot {
        key: u32,
        id: u64,
    },
    Link(Arc<JoinLink<T>>),
    Taken,
}

/// An owned permission to await a spawned task's output.
///
/// Dropping it detaches the task (it keeps running). Awaiting it yields
/// `Err(JoinError)` if the task panicked or was aborted.
pub struct JoinHandle<T> {
    rt: u32,
    target: Target<T>,
    _output: PhantomData<T>,
}

/// The handle of a `spawn_local` task: like [`JoinHandle`] but usable only on
/// its runtime's own thread (its output need not be `Send`).
pub struct LocalJoinHandle<T> {
    rt: u32,
    key: u32,
    /// The task's id: the slot is ours while it holds this id.
    id: u64,
    taken: bool,
    /// `!Send`: the output may not cross threads.
    _output: PhantomData<*const T>,
}

/// The handle never pins its output: it only moves it out.
impl<T> Unpin for JoinHandle<T> {}

impl<T: 'static> JoinHandle<T> {
    pub(crate) fn slot(rt: u32, key: u32, id: u64) -> Self {
        JoinHandle {
            rt,
            target: Target::Slot { key, id },
            _output: PhantomData,
        }
    }

    pub(crate) fn link(rt: u32, link: Arc<JoinLink<T>>) -> Self {
        JoinHandle {
            rt,
            target: Target::Link(link),
            _output: PhantomData,
        }
    }

    /// Whether the task has completed (its output is ready to take).
    pub fn is_finished(&self) -> bool {
        match &self.target {
            Target::Slot { key, id } => {
                let (rt, key, id) = (self.rt, *key, *id);
                context::with_core(rt, |core| core.is_complete(key, id)).unwrap_or(false)
            }
            Target::Link(l) => l
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .output
                .is_some(),
            Target::Taken => true,
        }
    }
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped at once (or, if it is running
    /// right now, as soon as its poll returns) and awaiting this handle yields
    /// a cancelled `JoinError`. No effect on a completed task, nor on any
    /// other task: the loop acts only if the slot still holds this task.
    pub fn abort(&self) {
        let (key, id) = match &self.target {
            Target::Slot { key, id } => (*key, *id),
            Target::Link(link) => {
                let mut s = link.state.lock().unwrap_or_else(|e| e.into_inner());
                if s.output.is_some() {
                    // Complete: nothing to cancel, and the slot is gone.
                    return;
                }
                s.abort = true;
                match s.place {
                    Some(place) => place,
                    // Not placed yet: the loop reads `abort` when it is.
                    None => return,
                }
            }
            Target::Taken => return,
        };
        if context::with_core(self.rt, |core| core.abort(key, id)).is_none() {
            remote::call(self.rt, Box::new(Abort { key, id }));
        }
    }
}

impl<T: Send + 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let out = match &mut this.target {
            Target::Slot { key, id } => {
                let (key, id) = (*key, *id);
                match context::with_core(this.rt, |core| core.poll_join::<T>(key, id, cx)) {
                    Some(p) => p,
                    None => {
                        // Not on our loop thread: re-route through a link,
                        // which knows where the task is (for `abort`).
                        let link = JoinLink::new();
                        {
                            let mut s = link.state.lock().unwrap_or_else(|e| e.into_inner());
                            s.waker = Some(cx.waker().clone());
                            s.place = Some((key, id));
                        }
                        let attach = Box::new(Attach {
                            key,
                            id,
                            link: Some(link.clone()),
                        });
                        if !remote::call(this.rt, attach) {
                            this.target = Target::Taken;
                            return Poll::Ready(Err(JoinError::cancelled()));
                        }
                        this.target = Target::Link(link);
                        return Poll::Pending;
                    }
                }
            }
            Target::Link(link) => {
                let mut s = link.state.lock().unwrap_or_else(|e| e.into_inner());
                match s.output.take() {
                    Some(out) => Poll::Ready(out),
                    None => {
                        match &s.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => s.waker = Some(cx.waker().clone()),
                        }
                        crate::trace::pending(crate::trace::WaitReason::Join)
                    }
                }
            }
            Target::Taken => panic!("JoinHandle polled after it returned its output"),
        };
        if out.is_ready() {
            this.target = Target::Taken;
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Target::Slot { key, id } = self.target {
            if context::with_core(self.rt, |core| core.detach(key, id)).is_none() {
                remote::call(self.rt, Box::new(Detach { key, id }));
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("runtime", &self.rt)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> LocalJoinHandle<T> {
    pub(crate) fn new(rt: u32, key: u32, id: u64) -> Self {
        LocalJoinHandle {
            rt,
            key,
            id,
            taken: false,
            _output: PhantomData,
        }
    }

    /// Cancels the task (see [`JoinHandle::abort`]).
    pub fn abort(&self) {
        if !self.taken {
            context::with_core(self.rt, |core| core.abort(self.key, self.id));
        }
    }

    /// Whether the task has completed.
    pub fn is_finished(&self) -> bool {
        self.taken
            || context::with_core(self.rt, |core| core.is_complete(self.key, self.id))
                .unwrap_or(false)
    }
}

impl<T: 'static> Future for LocalJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.taken,
            "LocalJoinHandle polled after it returned its output"
        );
        let (key, id) = (this.key, this.id);
        let out = context::with_core(this.rt, |core| core.poll_join::<T>(key, id, cx)).expect(
            "switchyard: a spawn_local task's handle must be awaited on its own runtime's thread",
        );
        this.taken = out.is_ready();
        out
    }
}

impl<T> Drop for LocalJoinHandle<T> {
    fn drop(&mut self) {
        if !self.taken {
            context::with_core(self.rt, |core| core.detach(self.key, self.id));
        }
    }
}

impl<T> fmt::Debug for LocalJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalJoinHandle")
            .field("runtime", &self.rt)
            .finish_non_exhaustive()
    }
}

/// Remote op: abort the task with this id, if slot `key` still holds it.
struct Abort {
    key: u32,
    id: u64,
}

impl RemoteCall for Abort {
    fn call(self: Box<Self>, core: &Core) {
        core.abort(self.key, self.id);
    }
}

/// Remote op: a handle dropped on another thread detaches its task.
struct Detach {
    key: u32,
    id: u64,
}

impl RemoteCall for Detach {
    fn call(self: Box<Self>, core: &Core) {
        core.detach(self.key, self.id);
    }
}

/// Remote op: a handle awaited on another thread attaches a link to its task.
/// Dropped unrun (runtime gone), it completes the link as cancelled.
struct Attach<T> {
    key: u32,
    id: u64,
    link: Option<Arc<JoinLink<T>>>,
}

impl<T: Send + 'static> RemoteCall for Attach<T> {
    fn call(mut self: Box<Self>, core: &Core) {
        if let Some(link) = self.link.take() {
            core.attach_link(self.key, self.id, link);
        }
    }
}

impl<T> Drop for Attach<T> {
    fn drop(&mut self) {
        if let Some(link) = self.link.take() {
            link.complete(Err(JoinError::cancelled()));
        }
    }
}

// Compile-time checks of the handles' auto traits.
const _: () = {
    fn send<T: Send>() {}
    fn check() {
        send::<JoinHandle<u8>>();
        send::<JoinError>();
    }
    let _ = check;
};
