//! Spawning futures as Gs, and the async [`JoinHandle`].
//!
//! Each task is a G (the Go model) whose future lives in the G's cell and
//! is polled there; the G has a stack while it polls and, in most cases,
//! gives it back while it waits (aio/cell.rs). The G's body:
//!
//! 1. Build the task's waker (a `GRef` to this G: waking it is the G
//!    park/unpark protocol of g/state.rs) and its `Context`.
//! 2. Loop: if `abort` was called, drop the future and end as
//!    `JoinError::Cancelled`. Otherwise reset the coop budget, poll.
//!    `Ready` → the value is the G's output. `Pending` → record the wait
//!    reason in the G header; if the reason is `Yield` (a `yield_now` or a
//!    spent coop budget), requeue the G behind the others, else park it
//!    until its waker runs (a wake that came during the poll makes the park
//!    return at once: no lost wake-up) — without its stack when it can.
//!
//! Local tasks (`spawn_local` from inside the task, aio/local.rs) are
//! polled by this same loop, before the task's own future in each round.
//!
//! The body never moves to another thread in the middle of a poll. A
//! future that calls a blocking-style mn primitive (channel `recv`,
//! `Mutex::lock`, `join`, `sleep`, `yield_now`) inside its `poll` parks the
//! G mid-poll; that park pins the G to its thread (g/run.rs, "Parks that
//! keep the thread"), so thread-local or `std` lock state held by the poll
//! stays valid. It costs a thread for the wait: prefer the async forms.
//!
//! A panic in a poll unwinds to the G boundary (g/cell.rs) and becomes
//! `Err(JoinError::Panicked)` on the handle; the runtime goes on.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use rt_base::trace::WaitReason;

use super::local::{HostGuard, LocalHost};
use crate::g::spawned::Opts;
use crate::g::{GRef, Header};
use crate::join::JoinError;
use crate::runtime::{Handle, SpawnError};

/// Spawns `f` as a new task (a G) on the caller's runtime: from a G, or
/// from a thread inside [`Runtime::block_on_future`](crate::Runtime::block_on_future).
///
/// # Panics
///
/// Outside an mn runtime, while it shuts down, or when no stack can be had
/// (see [`try_spawn`]).
#[track_caller]
pub fn spawn<F>(f: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match try_spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("aio::task::spawn: {e}"),
    }
}

/// Like [`spawn`], but returns why the task could not be made.
#[track_caller]
pub fn try_spawn<F>(f: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // On an M: borrow its runtime rather than clone the Arc (two atomic
    // read-modify-writes on a line every P shares, per spawn).
    if let Some(m) = crate::sched::m::M::current() {
        // SAFETY: this thread's live M, used without a switch (a spawn
        // never parks).
        return spawn_on(&unsafe { m.as_ref() }.shared, f, None);
    }
    Handle::current()
        .ok_or(SpawnError::NoRuntime)?
        .try_spawn_future(f)
}

/// Spawns `f` as a G on `shared`'s runtime, with a task builder's
/// options if any (their `site` is filled in here).
#[track_caller]
pub(crate) fn spawn_on<F>(
    shared: &crate::sched::Shared,
    f: F,
    opts: Option<Opts>,
) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // The body (aio/cell.rs) upholds `go`'s contract itself: it parks only
    // between polls, holding no thread-local reference or lock guard (the
    // coop budget, wait reason and local host are reached through
    // `#[inline(never)]` `poll_round`, afresh each time).
    // The spawn site, for the task dump and the trace (one relaxed
    // store), before the G is queued: stored after, another M could run
    // the task first and trace its run slice without it ("task 1", once
    // in some 40 runs of observe_mn with the CPUs busy).
    let site = std::panic::Location::caller();
    let opts = opts.map(|o| {
        Box::new(Opts {
            site: Some(site),
            ..o
        })
    });
    let g = crate::sched::ready::spawn_cell(shared, |id, shared| {
        let g = crate::g::cell::new_task(id, shared, f);
        // SAFETY: just allocated and not yet queued: alive, and no other
        // thread knows of it.
        let spawned = &unsafe { g.as_ref() }.spawned;
        match opts {
            Some(opts) => spawned.set_opts(opts),
            None => spawned.set_site(site),
        }
        g
    })?;
    Ok(JoinHandle {
        g: Some(g),
        _output: PhantomData,
    })
}

impl Handle {
    /// Spawns `f` as a task on this runtime, from any thread.
    ///
    /// # Panics
    ///
    /// While the runtime shuts down, or when no stack can be had (see
    /// [`Handle::try_spawn_future`]).
    #[track_caller]
    pub fn spawn_future<F>(&self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_spawn_future(f) {
            Ok(h) => h,
            Err(e) => panic!("Handle::spawn_future: {e}"),
        }
    }

    /// Spawns `f` as a task on this runtime, from any thread; an error when
    /// the runtime shuts down or no stack can be had.
    #[track_caller]
    pub fn try_spawn_future<F>(&self, f: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_on(self.shared(), f, None)
    }
}

/// The result of one poll: the value, or why the future waits.
pub(crate) enum Polled<T> {
    Ready(T),
    Pending(WaitReason),
}

/// One round of a host's poll loop: the woken local tasks of `host`, then
/// `f` (if still pending), each with a fresh coop budget.
/// `#[inline(never)]`: the thread-locals it touches (the host pointer, coop
/// budget, wait reason) are reached afresh on whatever thread the G runs
/// now, never through an address computed before a park (the thread-local
/// rule of g/run.rs).
#[inline(never)]
pub(crate) fn poll_round<F: Future>(
    host: &LocalHost<'_>,
    f: Option<Pin<&mut F>>,
    cx: &mut Context<'_>,
) -> Polled<F::Output> {
    // A park or yield made by a poll keeps the G on this thread
    // (g/run.rs): the thread-locals below stay this thread's.
    let _in_poll = InPoll::enter();
    // SAFETY: `host` lives in the caller's frame for the whole call, and
    // no switch moves the G off this thread while it runs (`InPoll`).
    let _host = unsafe { HostGuard::enter(host) };
    // A local task that yielded makes the whole host yield: it goes behind
    // the other Gs (its main future is then polled once more, spuriously).
    let local_yield = host.set().is_some_and(|set| set.run_ready());
    let Some(f) = f else {
        return Polled::Pending(if local_yield {
            WaitReason::Yield
        } else {
            WaitReason::Unknown
        });
    };
    // Preemption: a budgeted await (socket, timer, join, compat's sync) in a
    // poll that outlives sysmon's 10 ms slice returns Pending (Yield).
    let flag = crate::sched::sysmon::preempt_flag();
    // SAFETY: the flag is a P's, and Ps live as long as the runtime, which
    // outlives this poll (the G holds a reference to it); unconstrain below
    // removes it before the poll's frame ends.
    unsafe { rt_base::coop::reset_preemptible(flag) };
    let r = f.poll(cx);
    rt_base::coop::unconstrain();
    match r {
        Poll::Ready(v) => Polled::Ready(v),
        Poll::Pending if local_yield => {
            let _ = rt_base::trace::take_wait_reason();
            Polled::Pending(WaitReason::Yield)
        }
        Poll::Pending => Polled::Pending(rt_base::trace::take_wait_reason()),
    }
}

/// Marks the running G, if any, as inside a poll while alive (a park or
/// yield then pins it to its thread: g/run.rs, "Parks that keep the
/// thread"). Made and dropped on the same G, within one `poll_round`.
struct InPoll(Option<NonNull<Header>>);

impl InPoll {
    fn enter() -> Self {
        let g = crate::g::run::current_g();
        if let Some(g) = g {
            // SAFETY: the running G's private state is its own (rule 3).
            unsafe { (*g.as_ref().own.get()).in_poll += 1 };
        }
        Self(g)
    }
}

impl Drop for InPoll {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            // SAFETY: still the running G (made on it, dropped on it).
            unsafe { (*g.as_ref().own.get()).in_poll -= 1 };
        }
    }
}

/// Yields once: returns `Pending` after asking to be polled again, and the
/// task's G goes to the back of its P's run queue so the others run first.
/// Elsewhere (a `block_on_future` thread, another executor) it is a plain
/// "wake me and return Pending once".
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        rt_base::trace::pending(WaitReason::Yield)
    })
    .await;
}

/// Owned permission to await an async task's result. A future of
/// `Result<T, JoinError>`; dropping it detaches the task (it runs on, its
/// result is dropped). [`abort`](Self::abort) cancels it.
pub struct JoinHandle<T> {
    /// None once the output was taken.
    g: Option<GRef>,
    _output: PhantomData<fn() -> T>,
}

impl<T> JoinHandle<T> {
    fn gref(&self) -> &GRef {
        self.g
            .as_ref()
            .expect("JoinHandle used after it returned its output")
    }

    /// Cancels the task: its future is dropped at its next poll boundary
    /// (at once if it is parked: it is woken to do so), and awaiting this
    /// handle gives `Err(JoinError::Cancelled)` — unless the task had
    /// already finished. Harmless after completion.
    pub fn abort(&self) {
        if let Some(g) = &self.g {
            abort(g);
        }
    }

    /// Whether the task has finished (awaiting would not wait).
    pub fn is_finished(&self) -> bool {
        self.g.as_ref().is_none_or(|g| g.header().join.is_done())
    }

    /// The task's id (its G's id).
    pub fn id(&self) -> u64 {
        self.gref().header().id
    }
}

/// Sets the cancel flag and wakes the G so that it sees it.
pub(crate) fn abort(g: &GRef) {
    g.header().cancel.store(true, Ordering::Release);
    crate::sched::ready::unpark(g);
}

/// Polls a G's completion; takes its output when done.
pub(crate) fn poll_join<T>(
    slot: &mut Option<GRef>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, JoinError>> {
    let g = slot
        .as_ref()
        .expect("JoinHandle polled after it returned its output");
    let join = &g.header().join;
    if !join.is_done() && join.register(cx.waker().clone()) {
        return rt_base::trace::pending(WaitReason::Join);
    }
    let g = slot.take().expect("checked above");
    // SAFETY: the join state is DONE (join.rs rule 3), this handle is the
    // only joiner and takes the output once (the slot is now None), and
    // the G was spawned returning T.
    Poll::Ready(unsafe { crate::join::take_output(&g) })
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the task unless its output was taken: it runs on, and its
    /// output is dropped by whichever of the task and this drop comes
    /// second, never on the scheduler's stack (join.rs, rules 4–5).
    fn drop(&mut self) {
        if let Some(g) = self.g.take() {
            // SAFETY: this is the task's only handle, and T its output type.
            unsafe { crate::join::detach::<T>(&g) };
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if rt_base::coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let r = poll_join(&mut self.g, cx);
        if r.is_pending() {
            // Why the task waits, for the task dump.
            rt_base::trace::set_wait_reason(rt_base::trace::WaitReason::Join);
        }
        r
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JoinHandle");
        if let Some(g) = &self.g {
            d.field("id", &g.header().id)
                .field("finished", &g.header().join.is_done());
        }
        d.finish()
    }
}
