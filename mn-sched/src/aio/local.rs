//! `spawn_local`: tasks whose future (and output) need not be `Send`, kept
//! on one thread forever, like a tokio `LocalSet`.
//!
//! A *host* polls them: the thread inside [`Runtime::block_on_future`](crate::Runtime::block_on_future), or
//! the async task (G) that spawned them. The host owns a `LocalSet` (made
//! on the first `spawn_local`), and each round of its poll loop first polls
//! the local tasks that were woken, then its own future. Between polls the
//! host parks as usual; a local task's waker queues the task's index in
//! the set's ready list (a mutex-guarded `Vec`: wakers may run on any
//! thread) and wakes the host.
//!
//! On a G host, the first `spawn_local` pins the G to its M (a
//! `ThreadPin`: `lock_os_thread`'s machinery and thread reservation, but
//! counted apart from the user's lock count, so `unlock_os_thread` called
//! by the task cannot undo it): the G, and with it every local task, never
//! leaves that OS thread (`gettid` is constant across polls). The G then
//! finishes only when its own future *and* all its local tasks have, and
//! the pin ends with the host (on return or unwind) before the G exits. Local tasks are polled by their
//! host's G rather than being Gs themselves: a `!Send` value shared between
//! the host and a local task (an `Rc`) must never be touched by two threads
//! at once, which one G cannot do.
//!
//! On a `block_on_future` thread, local tasks still pending when the
//! future completes are dropped (their handles say `Cancelled`), as a
//! tokio `LocalSet::block_on` does.
//!
//! The host is found through a thread-local set around each round of polls
//! (`HostGuard`); a poll never switches away, so the pointer is valid for
//! every `spawn_local` made inside it.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use rt_base::trace::WaitReason;

use super::ready_flag::ReadyFlag;
use crate::join::JoinError;

/// What a poll loop offers its polls: where local tasks go. Borrows the
/// loop's waker (cloned only when a local task is first spawned: an async
/// task builds a host at every restart, aio/cell.rs).
pub(crate) struct LocalHost<'w> {
    /// Made on the first `spawn_local`.
    set: OnceCell<Rc<LocalSet>>,
    /// Wakes the host (the G's waker or the thread's).
    owner: &'w Waker,
    /// The host is a G (pin it to its M on first use).
    on_g: bool,
    /// The G's pin to its thread, taken by the first `spawn_local`; given
    /// back when the host is dropped, on the G, as its poll loop ends.
    pin: Cell<Option<crate::sched::locked::ThreadPin>>,
}

impl<'w> LocalHost<'w> {
    pub(crate) fn new(owner: &'w Waker, on_g: bool) -> Self {
        Self {
            set: OnceCell::new(),
            owner,
            on_g,
            pin: Cell::new(None),
        }
    }

    /// The set, if any local task was ever spawned here.
    pub(crate) fn set(&self) -> Option<&Rc<LocalSet>> {
        self.set.get()
    }
}

thread_local! {
    /// The host whose round of polls is running on this thread.
    /// (Its lifetime is erased: `HostGuard::enter`'s contract bounds it.)
    static HOST: Cell<*const LocalHost<'static>> = const { Cell::new(std::ptr::null()) };
}

/// Makes `host` the current one until dropped (restoring the previous:
/// hosts nest when a poll calls `block_on_future` of another runtime).
pub(crate) struct HostGuard(*const LocalHost<'static>);

impl HostGuard {
    /// # Safety
    ///
    /// `host` outlives the guard, and no switch away from this thread
    /// happens while the guard lives (it is made and dropped inside one
    /// `#[inline(never)]` round of polls).
    pub(crate) unsafe fn enter(host: &LocalHost<'_>) -> Self {
        let host = std::ptr::from_ref(host).cast::<LocalHost<'static>>();
        Self(HOST.with(|h| h.replace(host)))
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        let _ = HOST.try_with(|h| h.set(self.0));
    }
}

/// Why `spawn_local` could not make a task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SpawnLocalError {
    /// Not inside an async task or `block_on_future` (a plain thread, or a
    /// blocking-style G, which has no poll loop to host local tasks).
    NoHost,
    /// The host G could not be locked to its thread (`max_threads`).
    ThreadLimit(crate::ThreadLimitError),
}

impl fmt::Display for SpawnLocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHost => f.write_str(
                "spawn_local called outside an async task or Runtime::block_on_future \
                 (a blocking-style G or a plain thread has no poll loop to run it)",
            ),
            Self::ThreadLimit(e) => write!(f, "spawn_local: {e}"),
        }
    }
}

impl std::error::Error for SpawnLocalError {}

/// Spawns `f` on the current host (see the module doc): the task is polled
/// only by this thread (or this G, locked to its thread).
///
/// # Panics
///
/// Outside an async task or `block_on_future`, or when the host G cannot
/// be locked to its thread (see [`try_spawn_local`]).
pub fn spawn_local<F>(f: F) -> LocalJoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match try_spawn_local(f) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`spawn_local`], but returns why the task could not be made.
pub fn try_spawn_local<F>(f: F) -> Result<LocalJoinHandle<F::Output>, SpawnLocalError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let host = HOST.with(Cell::get);
    if host.is_null() {
        return Err(SpawnLocalError::NoHost);
    }
    // SAFETY: HostGuard::enter's contract: the host outlives the round of
    // polls we are called from.
    let host = unsafe { &*host };
    if host.set.get().is_none() && host.on_g {
        let g = crate::g::run::current_g().expect("a G host runs on its G");
        // SAFETY: the running G is alive.
        let pin = crate::sched::locked::ThreadPin::reserve(unsafe { g.as_ref() })
            .map_err(SpawnLocalError::ThreadLimit)?;
        host.pin.set(Some(pin));
    }
    let set = host.set.get_or_init(|| {
        Rc::new(LocalSet {
            tasks: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            live: Cell::new(0),
            ready: Arc::new(ReadyQueue {
                q: Mutex::new(Vec::new()),
                owner: host.owner.clone(),
            }),
        })
    });
    Ok(set.spawn(f))
}

/// The local tasks of one host.
pub(crate) struct LocalSet {
    /// Slots of tasks (None: free, or taken out while being polled).
    tasks: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
    live: Cell<usize>,
    ready: Arc<ReadyQueue>,
}

struct Slot {
    task: Box<dyn LocalRun>,
    waker: Waker,
    flag: Arc<TaskWaker>,
}

/// Woken local tasks, shared with their wakers.
struct ReadyQueue {
    q: Mutex<Vec<usize>>,
    owner: Waker,
}

/// One local task's waker: queues its index once until it is polled.
struct TaskWaker {
    idx: usize,
    queued: ReadyFlag,
    rq: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.wake() {
            self.rq
                .q
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.idx);
            self.rq.owner.wake_by_ref();
        }
    }
}

static LOCAL_IDS: AtomicU64 = AtomicU64::new(1);

impl LocalSet {
    fn spawn<F>(&self, f: F) -> LocalJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let join = Rc::new(LocalJoin {
            id: LOCAL_IDS.fetch_add(1, Ordering::Relaxed),
            out: RefCell::new(None),
            done: Cell::new(false),
            aborted: Cell::new(false),
            waiter: RefCell::new(None),
            task_waker: RefCell::new(None),
        });
        let idx = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut t = self.tasks.borrow_mut();
            t.push(None);
            t.len() - 1
        });
        let flag = Arc::new(TaskWaker {
            idx,
            queued: ReadyFlag::new_queued(),
            rq: self.ready.clone(),
        });
        let waker = Waker::from(flag.clone());
        *join.task_waker.borrow_mut() = Some(waker.clone());
        self.ready
            .q
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(idx);
        self.ready.owner.wake_by_ref();
        self.tasks.borrow_mut()[idx] = Some(Slot {
            task: Box::new(LocalTask {
                fut: Some(Box::pin(f)),
                join: join.clone(),
            }),
            waker: waker.clone(),
            flag,
        });
        self.live.set(self.live.get() + 1);
        LocalJoinHandle { join }
    }

    /// Local tasks not finished yet.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// Polls every task woken so far once (each with a fresh coop budget);
    /// true if one of them yielded (so the host yields its thread too).
    pub(crate) fn run_ready(&self) -> bool {
        let mut yielded = false;
        let batch = std::mem::take(&mut *self.ready.q.lock().unwrap_or_else(|e| e.into_inner()));
        for idx in batch {
            let slot = self.tasks.borrow_mut().get_mut(idx).and_then(Option::take);
            let Some(mut slot) = slot else { continue };
            slot.flag.queued.begin_poll();
            let mut cx = Context::from_waker(&slot.waker);
            rt_base::coop::reset();
            let finished = slot.task.poll_task(&mut cx);
            rt_base::coop::unconstrain();
            yielded |= rt_base::trace::take_wait_reason() == WaitReason::Yield;
            if finished {
                drop(slot);
                self.free.borrow_mut().push(idx);
                self.live.set(self.live.get() - 1);
            } else {
                self.tasks.borrow_mut()[idx] = Some(slot);
            }
        }
        yielded
    }
}

impl Drop for LocalSet {
    fn drop(&mut self) {
        // Drop the remaining tasks (their handles say Cancelled); a task's
        // destructor may spawn_local no more (the host is gone).
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        drop(tasks);
    }
}

/// A local task, type-erased.
trait LocalRun {
    /// Polls once; true when finished (output stored).
    fn poll_task(&mut self, cx: &mut Context<'_>) -> bool;
}

struct LocalTask<F: Future> {
    fut: Option<Pin<Box<F>>>,
    join: Rc<LocalJoin<F::Output>>,
}

impl<F: Future> LocalRun for LocalTask<F> {
    fn poll_task(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(fut) = self.fut.as_mut() else {
            return true;
        };
        if self.join.aborted.get() {
            self.fut = None;
            self.join.complete(Err(JoinError::Cancelled));
            return true;
        }
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => false,
            Ok(Poll::Ready(v)) => {
                self.fut = None;
                self.join.complete(Ok(v));
                true
            }
            Err(p) => {
                self.fut = None;
                self.join.complete(Err(JoinError::from_panic(p)));
                true
            }
        }
    }
}

impl<F: Future> Drop for LocalTask<F> {
    fn drop(&mut self) {
        self.fut = None;
        if !self.join.done.get() {
            self.join.complete(Err(JoinError::Cancelled));
        }
    }
}

/// A local task's completion, shared with its handle (same thread).
struct LocalJoin<T> {
    id: u64,
    out: RefCell<Option<Result<T, JoinError>>>,
    done: Cell<bool>,
    aborted: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
    task_waker: RefCell<Option<Waker>>,
}

impl<T> LocalJoin<T> {
    fn complete(&self, r: Result<T, JoinError>) {
        *self.out.borrow_mut() = Some(r);
        self.done.set(true);
        self.task_waker.borrow_mut().take();
        if let Some(w) = self.waiter.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Owned permission to await a local task's result; the same methods as
/// [`JoinHandle`](super::task::JoinHandle), but not `Send` (it stays with
/// its host). Dropping it detaches the task.
pub struct LocalJoinHandle<T> {
    join: Rc<LocalJoin<T>>,
}

impl<T> LocalJoinHandle<T> {
    /// Cancels the task: its future is dropped at its next poll boundary,
    /// and awaiting the handle gives `Err(JoinError::Cancelled)` (unless it
    /// had finished already).
    pub fn abort(&self) {
        if self.join.done.get() {
            return;
        }
        self.join.aborted.set(true);
        let w = self.join.task_waker.borrow().clone();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.join.done.get()
    }

    /// The task's id (local tasks number apart from Gs).
    pub fn id(&self) -> u64 {
        self.join.id
    }
}

impl<T> Future for LocalJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if rt_base::coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        if !self.join.done.get() {
            *self.join.waiter.borrow_mut() = Some(cx.waker().clone());
            return rt_base::trace::pending(WaitReason::Join);
        }
        Poll::Ready(
            self.join
                .out
                .borrow_mut()
                .take()
                .expect("LocalJoinHandle polled after it returned its output"),
        )
    }
}

impl<T> Unpin for LocalJoinHandle<T> {}

impl<T> fmt::Debug for LocalJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalJoinHandle")
            .field("id", &self.join.id)
            .field("finished", &self.join.done.get())
            .finish()
    }
}
