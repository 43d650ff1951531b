//! The body of an async task's G: polls the future that lives in the G's
//! cell (g/cell.rs, `new_task`) and, between polls, parks *without a
//! stack*.
//!
//! A future keeps its whole state in itself, and ours stays pinned in the
//! heap cell, so once a poll has returned `Pending` nothing the task needs
//! is on its stack. The G then parks with `Request::Release`: its M takes
//! the stack back into the P's cache (hot for the next G) and, when a wake
//! comes, the G starts afresh from `g_entry` on whatever stack it gets.
//! A million async tasks waiting on timers or sockets therefore hold no
//! stacks — no page to fault in and zero per task, no guard per slot —
//! while a task that does run still has a real stack, so a blocking-style
//! call (`syscall`, a std lock, deep recursion) inside a poll behaves as in
//! any G.
//!
//! One entry (`run`, on the G's stack):
//!
//! 1. If the runtime is shutting down, the task is cancelled (its future is
//!    dropped in place) without a poll.
//! 2. Build the task's waker (borrowing the G's life reference) and its
//!    local-task host.
//! 3. Loop, as aio/task.rs describes: check `abort`, poll the local tasks
//!    and the future (`poll_round`), then on `Ready` end; on `Pending` with
//!    reason `Yield` requeue the G and go on; on another `Pending`:
//!    * **release** when nothing but the cell holds the task's state: no
//!      local task was ever spawned (their set lives in the host, on this
//!      stack), the G is not locked to a thread (`lock_os_thread` or a
//!      pinned park), and stacks are not taken eagerly (the mprotect
//!      fallback promises at spawn that the task has its stack). `drive`
//!      returns, dropping every local, and `run` calls `park_release` from
//!      its outermost frame, where nothing is owned;
//!    * otherwise park with the stack, as any G.
//! 4. On `Ready`, abort, cancellation or a panic in a poll, the future is
//!    dropped in place and the result stored (`finish_in_place`).

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::task::Context;

use rt_base::trace::WaitReason;

use super::local::LocalHost;
use super::task::{poll_round, Polled};
use crate::g::cell::{finish_in_place, publish_output, stage, Stage};
use crate::g::{waker, GRef, Header};
use crate::join::JoinError;

/// How one entry's `drive` ended.
enum Step<T> {
    /// The future (and its local tasks) finished with this value.
    Ready(T),
    /// Aborted, or the runtime is shutting down.
    Cancelled,
    /// Pending with nothing on the stack: park without it.
    Release,
}

/// `Vtable::run` of an async task: one entry on a fresh stack (module doc).
///
/// # Safety
///
/// Called by `g_entry` on the G's own stack, for a cell made by
/// `cell::new_task::<F>`, whose stage is still `Ready` (pending).
pub(crate) unsafe fn run<F>(h: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // SAFETY: the caller guarantees the cell's type; the running G owns its
    // stage (rule 2 of g/mod.rs).
    let st = unsafe { stage::<F, F::Output>(h) };
    // SAFETY: the G is running, so it and its runtime are alive (rule 4).
    let shutting_down = unsafe { h.as_ref().shared() }.is_shutting_down();
    let step = if shutting_down {
        Ok(Step::Cancelled) // step 1
    } else {
        // SAFETY: as above; `st` holds the pending future.
        catch_unwind(AssertUnwindSafe(|| unsafe { drive::<F>(h, st) }))
    };
    let out = match step {
        Ok(Step::Release) => crate::g::run::park_release(),
        Ok(Step::Ready(v)) => Ok(v),
        Ok(Step::Cancelled) => Err(JoinError::Cancelled),
        Err(payload) => Err(JoinError::from_panic(payload)),
    };
    // SAFETY: step 4: the future is no longer borrowed (drive returned or
    // unwound) and the stage is ours.
    unsafe { finish_in_place(st, out) };
    // SAFETY: the output is stored; we are the running G, on its stack.
    unsafe { publish_output(h, st) };
}

/// Steps 2–3: polls until the task finishes, is cancelled, or can park
/// without its stack.
///
/// # Safety
///
/// As for [`run`]; `st` is the G's stage, holding its pending future.
unsafe fn drive<F: Future>(g: NonNull<Header>, st: *mut Stage<F, F::Output>) -> Step<F::Output> {
    // SAFETY: the running G's header is heap memory, valid across parks.
    let header = unsafe { g.as_ref() };
    // The G's life reference (rule 6 of g/mod.rs) keeps it alive while it
    // runs, so this entry's waker borrows that count instead of taking one
    // (two atomic updates less per restart): it is never dropped, only
    // cloned (clones take their own counts).
    // SAFETY: the running G is alive, and the ManuallyDrop never gives the
    // borrowed count back.
    let waker = ManuallyDrop::new(waker::for_g(unsafe { GRef::from_raw(g) }));
    let mut cx = Context::from_waker(&waker);
    // Its thread pin, if a local task was spawned, ends when it drops (on
    // return or unwind), before the G exits.
    let host = LocalHost::new(&waker, true);
    // SAFETY: the stage is ours (rule 2) and holds the pending future.
    let Stage::Ready(f) = (unsafe { &mut *st }) else {
        unreachable!("an async task entered after it finished")
    };
    // SAFETY: the future lives in the G's heap cell, which never moves, and
    // is only ever dropped in place (`finish_in_place`): it stays pinned.
    let mut f = unsafe { Pin::new_unchecked(f) };
    let mut out = None;
    let mut after_yield = false;
    loop {
        if header.cancel.load(Ordering::Acquire) {
            return Step::Cancelled;
        }
        // Sysmon's preemption: a poll that saw sysmon's flag at a budgeted
        // await returned Pending with reason Yield, so it takes the `yield`
        // path below, between polls, never inside one.
        if after_yield {
            // A wake that came while we were queued is seen by this poll.
            header.state.clear_notified();
            after_yield = false;
        }
        let main = if out.is_none() {
            Some(f.as_mut())
        } else {
            None
        };
        let reason = match poll_round(&host, main, &mut cx) {
            Polled::Ready(v) => {
                out = Some(v);
                WaitReason::Unknown
            }
            Polled::Pending(r) => r,
        };
        if host.set().is_none_or(|s| s.live() == 0) {
            if let Some(v) = out.take() {
                return Step::Ready(v);
            }
        }
        header.wait_reason.store(reason as u8, Ordering::Relaxed);
        if header.cancel.load(Ordering::Acquire) {
            return Step::Cancelled;
        }
        if reason == WaitReason::Yield {
            crate::g::run::yield_now();
            after_yield = true;
        } else if out.is_none() && host.set().is_none() && may_release(header) {
            // Step 3: `waker`, `cx` and `host` are dropped as we return.
            return Step::Release;
        } else {
            crate::g::run::park();
        }
    }
}

/// Whether the running G may give its stack back while it waits (step 3).
#[inline(never)]
fn may_release(header: &Header) -> bool {
    // SAFETY: the running G's private state is its own (rule 3).
    let own = unsafe { &*header.own.get() };
    // SAFETY: the G is running, so its runtime is alive (rule 4).
    let shared = unsafe { header.shared() };
    own.lock_count == 0
        && own.pinned == 0
        && header.locked_m.load(Ordering::Acquire).is_null()
        && !shared.stacks.eager()
        && !shared.is_shutting_down()
        && !crate::g::run::panicking()
}
