//! The M's loop: find a G, switch into it, act on what it asks when it
//! switches back (park, yield, exit). Everything here runs on g0.
//!
//! One turn:
//!
//! ```text
//!   locked G waiting? ── yes ──► stoplockedm (P away, sleep) ──► execute it
//!        │ no
//!   find_runnable ──► spinning? reset (wake one more spinner if we were last)
//!        │
//!   G locked to another M? ── yes ──► startlockedm (our P to it, we park)
//!        │ no
//!   execute: RUNNABLE → RUNNING, stack on first run, switch in ... switch back:
//!        Park  → commit_park (WAITING), or run it again at once if NOTIFIED
//!        Release → stack taken back, then as Park (a NOTIFIED G restarts
//!                  from its entry on the same stack)
//!        Yield → back of our ring, or of the global queue if Gs wait
//!                there (still RUNNING: g/state.rs)
//!        Exit  → DEAD, stack to the P's cache, joiner woken, life ref dropped
//! ```

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::find::find_runnable;
use super::handoff::{handoffp, release_p, startlockedm, stoplockedm};
use super::m::M;
use crate::arch;
use crate::g::run::{g_entry, switch_in, Request};
use crate::g::{GRef, Header};
use crate::join::JoinError;

/// The scheduler loop of `m`; returns when the M must end (runtime exiting,
/// or a G exited while locked to it).
pub(crate) fn schedule(m: &Arc<M>) {
    let shared = &*m.shared;
    loop {
        super::observe::safe_point(m); // a task dump may be reading the queues
        if m.exit_thread() {
            if let Some(p) = release_p(m) {
                handoffp(shared, p);
            }
            return;
        }
        if let Some(g) = m.locked_g() {
            stoplockedm(m);
            execute(m, g);
            continue;
        }
        // An M back from a syscall waits for a P: ours goes
        // to it (its G is as runnable as any queued one) and we idle.
        if super::syscall::give_p_to_waiter(m) {
            if !super::handoff::idle_and_stop(m) {
                return;
            }
            continue;
        }
        let Some(g) = find_runnable(m) else { return };
        super::handoff::stop_spinning(m);
        if !run_or_pass(m, g) {
            return;
        }
    }
}

/// Runs `g`, a G `m` found, unless it is bound to another M: to a host, it
/// is posted there (sched/host.rs) and `m` goes on; to a locked M, `m`
/// hands it that M with its P and parks (false: the runtime is exiting).
fn run_or_pass(m: &Arc<M>, g: NonNull<Header>) -> bool {
    // SAFETY: `g` came from a run queue: a live runnable G.
    if let Some(hm) = unsafe { super::host::bound_elsewhere(g, Some(m)) } {
        super::host::post(hm, g);
        return true;
    }
    // SAFETY: as above.
    let lm = unsafe { g.as_ref() }.locked_m.load(Ordering::Acquire);
    if !lm.is_null() && !std::ptr::eq(lm, Arc::as_ptr(m)) {
        return startlockedm(m, g);
    }
    execute(m, g);
    true
}

/// The scheduler loop of a host M (sched/host.rs): its mail first, then
/// as any M; it never stops for a locked G (its bound Gs wait in the run
/// queues and the mail like others), and returns once main has exited and
/// no G is bound to it any more, giving its P away.
pub(crate) fn host_loop(m: &Arc<M>) {
    let _bomb = super::m::AbortOnUnwind;
    let host = m
        .host
        .as_deref()
        .expect("host_loop on an M that is no host");
    let mut evicted = false;
    loop {
        super::observe::safe_point(m); // a task dump may be reading the queues
        if host.main_has_exited() {
            if super::host::after_main(m, &mut evicted) {
                continue;
            }
            break;
        }
        if m.held().is_none() {
            if host.has_mail() {
                super::syscall::exit_slow(m);
            } else {
                // Idle until handed a P or woken with mail (handoff.rs
                // `stopm`); without a P only when the runtime exits.
                let _ = super::handoff::idle_and_stop(m);
            }
            continue;
        }
        if let Some(g) = super::host::take_mail(m) {
            super::handoff::stop_spinning(m);
            execute(m, g);
            continue;
        }
        if super::syscall::give_p_to_waiter(m) {
            continue; // no P now: the next turn idles
        }
        let Some(g) = find_runnable(m) else { continue };
        super::handoff::stop_spinning(m);
        run_or_pass(m, g);
    }
    if let Some(p) = release_p(m) {
        handoffp(&m.shared, p);
    }
    std::mem::forget(_bomb);
}

/// Runs `g` on `m` until a G switches back to g0 (`g`, or another G that a
/// handoff yield passed the M to) to park, yield or exit.
pub(crate) fn execute(m: &Arc<M>, mut g: NonNull<Header>) {
    // SAFETY: `g` is a live runnable G this M took (from a queue, or its
    // locked G handed back); from here it is RUNNING on us (rule 2).
    unsafe { g.as_ref() }.state.start_running();
    if !give_stack(m, g) {
        return;
    }
    loop {
        m.held().expect("execute without a P").bump_tick(&m.shared);
        let t0 = super::trace::run_start(m);
        // Step U1 of syscall.rs: from here sysmon may take the P if the G
        // runs 10 ms without a runtime call. Its switch back undoes it.
        m.enter_user();
        // SAFETY: on m's thread, g0; `g` is RUNNING on us with a context.
        let (req, back) = unsafe { switch_in(m, g.as_ref()) };
        g = back;
        // SAFETY: the G that switched back is RUNNING on us (rule 2).
        let h = unsafe { g.as_ref() };
        // The run's trace slice, before a park is published.
        super::trace::run_end(m, h, t0, matches!(req, Request::Park | Request::Release));
        if matches!(req, Request::Park) {
            stamp_park(m, h);
        }
        match req {
            Request::Park if h.state.commit_park() => {
                // Stats::parks
                m.held().expect("park without a P").count(|c| &c.parks);
                return;
            }
            Request::Park => continue, // NOTIFIED: the park is cancelled.
            Request::Release => {
                if release_stack(m, g) {
                    return;
                }
                // NOTIFIED: it starts again at once, on the same stack.
            }
            Request::Yield => {
                if m.shared.netpoll_stale(YIELD_POLL_MS) {
                    m.shared.netpoll_for_yield();
                }
                yield_to_back(m, g);
                return;
            }
            Request::Exit => {
                finish(m, g);
                return;
            }
            Request::Migrate => {
                super::host::migrate(m, g);
                return;
            }
        }
    }
}

/// A yield polls the network first when no M has for this long (coarse
/// ms, so 1–2 ms): Gs that compute and yield never leave their P idle, so
/// without it sockets beside them waited for sysmon's poll of a network
/// idle 10 ms (Go's bound; tokio polls its driver at each `yield_now`).
/// An echo beside two Gs yielding every millisecond on the only P: the
/// median round trip falls from sysmon's 10 ms to a few ms.
pub(crate) const YIELD_POLL_MS: u32 = 2;

/// A yielded G goes behind the Gs already waiting: at the back of our
/// ring, or at the back of the global queue when it holds Gs (Go's
/// `Gosched` always takes the global queue). The ring alone let Gs that
/// compute and yield starve the global queue, which the scheduler serves
/// one G per 61 turns while the ring has work: two Gs yielding every
/// millisecond on one P held back 1,000 sockets readied by sysmon's poll
/// for a minute.
fn yield_to_back(m: &M, g: NonNull<Header>) {
    if m.shared.global_len.load(Ordering::Relaxed) > 0 {
        m.shared.global_push(g);
    } else {
        m.held().expect("yield without a P").push_back(g, &m.shared);
    }
}

/// When the G parks, for the task dump (before the park is published:
/// after it, the G may already run elsewhere).
#[inline]
fn stamp_park(m: &M, h: &Header) {
    h.parked_ms
        .store(m.shared.sysmon.coarse_ms(), Ordering::Relaxed);
}

/// An async task between polls parks without its stack (aio/cell.rs): the
/// stack goes back to the P's cache before the park is published (a waker
/// may run the G on another M the moment it is). True if parked; false if
/// a wake came first: the G is then set up to start afresh from its entry
/// on the same stack.
fn release_stack(m: &M, g: NonNull<Header>) -> bool {
    let shared = &*m.shared;
    // SAFETY: rule 2: the G switched back to us and is RUNNING on us; its
    // frames on the stack are abandoned (`park_release`).
    let h = unsafe { g.as_ref() };
    // SAFETY: as above.
    let ctx = unsafe { &mut *h.ctx.get() };
    let stack = ctx.stack.take().expect("a released G had a stack");
    let low_sp = std::mem::take(&mut ctx.low_sp);
    ctx.sp = 0;
    stamp_park(m, h);
    if h.state.commit_park() {
        let held = m.held().expect("park without a P");
        stack_back(shared, &held, stack, low_sp);
        held.count(|c| &c.parks);
        return true;
    }
    ctx.stack = Some(stack);
    // Its own stack is in `ctx.stack`, so this lays out the entry and
    // cannot fail.
    let restarted = give_stack(m, g);
    debug_assert!(restarted, "a G's own stack was refused");
    false
}

/// A G's stack back to the P's cache (its G went as low as `low_sp`),
/// counted for `Stats::stacks_in_use`.
fn stack_back(
    shared: &crate::sched::Shared,
    held: &super::p::Held<'_>,
    stack: crate::stack::Stack,
    low_sp: usize,
) {
    held.with_local(|l| shared.stacks.put(Some(&mut l.stacks), stack, low_sp));
    held.count(|c| &c.stacks_back);
}

/// On a G's first run: gives it a stack (its own if taken at spawn, else one
/// from the P's cache) and lays out its entry. False if no stack could be
/// had: the G is then finished with `JoinError::NoStack`.
fn give_stack(m: &M, g: NonNull<Header>) -> bool {
    let shared = &*m.shared;
    // SAFETY: rule 2: the G is RUNNING on us; we own its context.
    let ctx = unsafe { &mut *g.as_ref().ctx.get() };
    if ctx.sp != 0 {
        return true;
    }
    // SAFETY: as above (the G is alive); its spawn record is read-only
    // once published (g/spawned.rs).
    let size = unsafe { g.as_ref() }.spawned.stack_size();
    // Counted when it leaves the pool: a stack taken at spawn (eager) or
    // kept across a cancelled release was counted already.
    let stack = match ctx.stack.take() {
        Some(s) => Ok(s),
        None => {
            let held = m.held().expect("execute without a P");
            held.with_local(|l| shared.stacks.get(Some(&mut l.stacks), size))
                .inspect(|_| held.count(|c| &c.stacks_given)) // Stats::stacks_in_use
        }
    };
    match stack {
        Ok(stack) => {
            crate::g::run::fiber::fresh_stack(stack.base(), stack.top() - stack.base());
            // SAFETY: the top of a stack we own, page-aligned (so 16-aligned);
            // the stack stays with the G until its exit.
            ctx.sp = unsafe { arch::init_stack(stack.top(), g_entry) };
            ctx.stack = Some(stack);
            true
        }
        Err(e) => {
            // The G never ran and never will: its closure (or future) is
            // dropped here, on g0. A `Drop` that parks would park this
            // thread with the P in hand, so the P goes to another M for
            // the drop, as around a `syscall_blocking`, and one comes back.
            if let Some(p) = release_p(m) {
                handoffp(shared, p);
            }
            // SAFETY: the G never ran and is ours (rule 2).
            unsafe { (g.as_ref().vtable.fail)(g, JoinError::NoStack(e)) };
            super::syscall::exit_slow(m);
            finish(m, g);
            false
        }
    }
}

/// After a G's last switch (or a failed start): DEAD, stack back to the P's
/// cache, out of the registry, thread lock released, joiner woken, counted,
/// life reference dropped.
fn finish(m: &M, g: NonNull<Header>) {
    let shared = &*m.shared;
    // SAFETY: the G switched away for good (or never ran); rules 2–3 give
    // us its context and private state now.
    let h = unsafe { g.as_ref() };
    h.state.exit();
    let held = m.held().expect("exit without a P");
    // SAFETY: as above.
    let ctx = unsafe { &mut *h.ctx.get() };
    if let Some(stack) = ctx.stack.take() {
        stack_back(shared, &held, stack, ctx.low_sp);
    }
    // SAFETY: as above.
    let own = unsafe { &mut *h.own.get() };
    if own.registered {
        shared.registry.remove(g);
    }
    if let Some(host) = m.host.as_deref() {
        // A host's thread goes back to its caller, not away: a G that
        // exits locked to it is only unbound (sched/host.rs).
        if own.lock_count > 0 {
            shared.threads.lock_release();
        }
        if host.is_main(g) {
            host.main_exited();
        } else if !h.locked_m.load(Ordering::Relaxed).is_null() {
            host.unbind(h);
        }
    } else if own.lock_count > 0 {
        // Exited while locked: this thread ends with it (Go's rule).
        m.locked_g.store(std::ptr::null_mut(), Ordering::Relaxed);
        m.set_exit_thread();
        shared.threads.lock_release();
    }
    // Counted before the joiner is woken: whoever awaited the G sees it
    // gone from `Stats::live_tasks`.
    held.count_exit();
    h.join.complete();
    // SAFETY: the life reference, held since spawn (rule 6).
    drop(unsafe { GRef::from_raw(g) });
}
