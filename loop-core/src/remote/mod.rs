//! The door into a loop from other threads: a locked queue plus an eventfd.
//!
//! Everything that reaches a runtime from a thread other than its loop thread
//! — a wake from a `spawn_blocking` thread, a `Handle::spawn`, a `JoinHandle`
//! awaited or dropped elsewhere — becomes a [`RemoteOp`] pushed on the
//! runtime's [`Queue`], and the loop drains the queue once per turn.
//!
//! The signalling protocol is in `queue.rs` (model-checked with loom).
//!
//! Runtimes are found by their short id through a process-wide registry of
//! live runtimes (a map from short id to a weak reference), so a waker carries
//! only 64 bits. The registry is touched when a runtime starts or stops and on
//! foreign-thread operations, never on the loop thread's own wakes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};

use crate::runtime::Core;
use crate::task::Task;

mod queue;
pub(crate) use queue::Queue;

/// An operation a foreign thread asks a loop to run on its own thread.
pub(crate) trait RemoteCall: Send {
    /// Runs on the loop thread, with no borrow of the core held.
    fn call(self: Box<Self>, core: &Core);
}

/// One queued foreign-thread operation.
pub(crate) enum RemoteOp {
    /// Wake the task named by this waker word.
    Wake(u64),
    /// Insert this task (spawned through a `Handle` from another thread),
    /// spawned at this site.
    Spawn(
        std::pin::Pin<Box<dyn Task + Send>>,
        &'static std::panic::Location<'static>,
    ),
    /// Run a typed operation (join-handle attach, detach, abort, ...).
    Call(Box<dyn RemoteCall>),
}

/// A runtime as seen from other threads.
pub(crate) struct Remote {
    /// The never-reused full id.
    pub(crate) id: u64,
    /// The 20-bit id wakers carry.
    pub(crate) short: u32,
    pub(crate) queue: Queue<RemoteOp>,
    /// Set when the runtime is dropped: later pushes are refused.
    pub(crate) closed: AtomicBool,
    waker: mio::Waker,
}

impl Remote {
    /// Pushes `op` and signals the loop if needed. Returns the op back when the
    /// runtime has shut down.
    pub(crate) fn push(&self, op: RemoteOp) -> Result<(), RemoteOp> {
        if self.closed.load(Ordering::Acquire) {
            return Err(op);
        }
        if self.queue.push(op) {
            self.signal();
        }
        Ok(())
    }

    fn signal(&self) {
        // An eventfd write cannot fail short of a broken process (EBADF); if
        // it ever does, the loop still drains the queue on its next turn.
        let _ = self.waker.wake();
    }
}

/// Process-wide map from short id to live runtimes.
fn registry() -> &'static RwLock<HashMap<u32, Weak<Remote>>> {
    static REGISTRY: OnceLock<RwLock<HashMap<u32, Weak<Remote>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Creates and registers the remote side of a new runtime.
pub(crate) fn register(
    poll_registry: &mio::Registry,
    token: mio::Token,
) -> std::io::Result<Arc<Remote>> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let waker = mio::Waker::new(poll_registry, token)?;
    let mut map = registry().write().unwrap_or_else(|e| e.into_inner());
    let (id, short) = loop {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let short = (id & crate::task::waker::RT_MASK) as u32;
        if short != 0 && map.get(&short).is_none_or(|w| w.strong_count() == 0) {
            break (id, short);
        }
    };
    let remote = Arc::new(Remote {
        id,
        short,
        queue: Queue::new(),
        closed: AtomicBool::new(false),
        waker,
    });
    map.insert(short, Arc::downgrade(&remote));
    Ok(remote)
}

/// Removes a runtime from the registry and refuses further pushes.
pub(crate) fn unregister(remote: &Remote) {
    remote.closed.store(true, Ordering::Release);
    let mut map = registry().write().unwrap_or_else(|e| e.into_inner());
    if map
        .get(&remote.short)
        .is_some_and(|w| std::ptr::eq(w.as_ptr(), remote))
    {
        map.remove(&remote.short);
    }
}

/// The live runtime with this short id.
pub(crate) fn lookup(short: u32) -> Option<Arc<Remote>> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&short)?
        .upgrade()
}

/// Wakes a task of another thread's runtime; a dead runtime ignores it.
pub(crate) fn wake(word: u64) {
    if let Some(r) = lookup(crate::task::waker::rt_of(word)) {
        let _ = r.push(RemoteOp::Wake(word));
    }
}

/// Sends a typed operation to runtime `short`. Returns false if that runtime
/// is gone (the op is dropped, which lets it report cancellation).
pub(crate) fn call(short: u32, op: Box<dyn RemoteCall>) -> bool {
    match lookup(short) {
        Some(r) => r.push(RemoteOp::Call(op)).is_ok(),
        None => false,
    }
}
