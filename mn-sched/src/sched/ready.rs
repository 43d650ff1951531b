//! Making Gs runnable: waking a parked G (`unpark` → `ready`) and spawning
//! a new one. From a G (or g0) on a P of the G's runtime, the G goes to that
//! P's `runnext` (Go: the woken or new G inherits the time slice), and the G
//! it displaces to the ring, where it is stealable — only then is a spinning
//! M woken (idle.rs, S1–S3). From anywhere else (a plain thread, another
//! runtime, an M without a P) the G goes to the global queue and an M is
//! woken if a P idles.

use std::ptr::NonNull;

use super::handoff::wakep;
use super::m::M;
use super::p::Held;
use super::spare::Asker;
use super::Shared;
use crate::g::spawned::Opts;
use crate::g::{cell, GRef, Header};
use crate::join::JoinHandle;
use crate::runtime::SpawnError;

/// Wakes `g` (see g/state.rs): enqueues it if it was WAITING.
pub(crate) fn unpark(g: &GRef) {
    if g.header().state.unpark() {
        // SAFETY: we won the unpark CAS: the G and its runtime are alive.
        crate::sched::trace::wake(unsafe { g.header().shared() }, g.header()); // trace arrow
        ready(g.as_ptr());
    }
}

/// Enqueues a G that this caller just moved to RUNNABLE.
fn ready(g: NonNull<Header>) {
    // SAFETY: we won the unpark CAS, so the G is alive and so is its
    // runtime (rule 4 of g/mod.rs).
    let shared = unsafe { g.as_ref().shared() };
    let me = local_held_m(shared);
    // A G bound to a host M (main, sched/host.rs) runs only there.
    // SAFETY: as above.
    if let Some(hm) = unsafe { super::host::bound_elsewhere(g, me.as_ref().map(|(_, m)| *m)) } {
        super::host::post(hm, g);
        return;
    }
    if let Some((held, m)) = me {
        if m.to_back() {
            // No wakep per G: `wake_to_back` decides once for the batch.
            m.with_io_batch(|batch| held.push_back_in_order(g, shared, batch));
        } else {
            put_local(shared, &held, g);
        }
    } else {
        shared.global_push(g);
        wakep(shared);
    }
}

/// Wakes `wakers` (the Gs a poll of the network readied) so that, on this
/// M's P, they queue at the back of its ring in order rather than each
/// taking `runnext` (which would let the newest readiness overtake the Gs
/// already queued: with 1,000 echo connections at one P, p99.9 was several
/// times the single mode's). Go queues netpoll's Gs the same way
/// (`injectglist`).
///
/// Whether to wake another M for them is decided once per batch, and
/// lazily: Go (and tokio) wake a spinning M as soon as work is queued and
/// a P idles, so each burst of readiness cost a futex wake, a steal and a
/// thread that then went back to sleep — on a machine whose CPUs are busy
/// (the echo load generator shares them) that thread often is not even
/// scheduled in time, and the Gs it stole wait for it. Here a helper is
/// woken at once only for a large batch ([`IO_HELP_NOW`] Gs queued);
/// otherwise the P notes when the backlog began and `io_backlog_check`
/// (every schedule) wakes one if the backlog is still there a millisecond
/// later by sysmon's coarse clock (at least one whole tick: two ms
/// boundaries). On an echo server at 2 Ps and 50 connections this does
/// about a quarter more round trips per server core than waking at once,
/// at about half the p99.
///
/// Both wakes also ask whether a CPU is free (spare.rs): when every CPU
/// already runs a thread, a helper only takes one from a running thread,
/// often this very M, so it is held back until the backlog is
/// [`IO_HELP_BUSY_MS`] old (the numbers are in spare.rs).
pub(crate) fn wake_to_back(wakers: Vec<std::task::Waker>) {
    let Some(m) = M::current() else {
        wakers.into_iter().for_each(std::task::Waker::wake);
        return;
    };
    // SAFETY: this thread's live M; no switch happens here (wakes only
    // queue Gs).
    let m = unsafe { &*m.as_ptr() };
    let prev = m.to_back();
    m.set_to_back(true);
    wakers.into_iter().for_each(std::task::Waker::wake);
    m.set_to_back(prev);
    if prev {
        return; // nested: the outer call pushes the batch and decides
    }
    // The Gs bound for the global queue go there in one lock.
    let mut batch = m.with_io_batch(std::mem::take);
    let to_global = batch.len();
    if to_global > 0 {
        m.shared.global_push_list(&mut batch);
    }
    // (Without a P the Gs went to the global queue, and `ready` woke an M.)
    if let Some(held) = m.held() {
        use std::sync::atomic::Ordering::Relaxed;
        let p = held.p();
        let queued = p.runq.len() + to_global;
        if queued == 0 {
            return;
        }
        let now = m.shared.sysmon.coarse_ms().max(1);
        if queued >= IO_HELP_NOW {
            if may_help(&m.shared, now) {
                p.io_backlog_since.store(0, Relaxed);
                wakep(&m.shared);
                return;
            }
            m.shared.spare_cpu.held_back.fetch_add(1, Relaxed);
        }
        if p.io_backlog_since.load(Relaxed) == 0 {
            p.io_backlog_since.store(now, Relaxed);
        }
    }
}

/// Batches of I/O readiness at least this large wake a helper M at once.
const IO_HELP_NOW: usize = 64;

/// A backlog this old (coarse-clock ms) gets its helper even when no CPU
/// is free: the Ps' Gs then share the CPUs with the other threads, as Go's
/// would (Go's own bound on a G holding a P is the same 10 ms).
const IO_HELP_BUSY_MS: u32 = 10;

/// Whether a helper woken now could run on a CPU of its own: true also
/// when `wakep` would wake nobody (no idle P, or an M already spins).
fn may_help(shared: &Shared, now_ms: u32) -> bool {
    shared.idle.npidle() == 0
        || shared.idle.nmspinning() != 0
        || shared.spare_cpu.spare(now_ms, Asker::Waker)
}

/// At every schedule (find.rs): a backlog of I/O-readied Gs older than a
/// millisecond gets a helper M (see `wake_to_back`), if a CPU is free or
/// the backlog is [`IO_HELP_BUSY_MS`] old. Two relaxed loads when there is
/// none.
#[inline]
pub(crate) fn io_backlog_check(shared: &Shared, held: &Held<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let p = held.p();
    let since = p.io_backlog_since.load(Relaxed);
    if since == 0 {
        return;
    }
    if p.runq.is_empty() {
        p.io_backlog_since.store(0, Relaxed);
        return;
    }
    let now = shared.sysmon.coarse_ms();
    let age = now.wrapping_sub(since);
    if age >= IO_HELP_BUSY_MS || (age >= 2 && may_help(shared, now)) {
        p.io_backlog_since.store(0, Relaxed);
        wakep(shared);
    }
}

/// `g` into `held`'s runnext; a displaced G goes to the ring and wakes a
/// spinning M if Ps idle.
fn put_local(shared: &Shared, held: &Held<'_>, g: NonNull<Header>) {
    if let Some(kicked) = held.put_next(g) {
        held.push_back(kicked, shared);
        wakep(shared);
    }
}

/// The P of the calling thread's M, if the M belongs to `shared` and holds
/// one: one token for the whole runtime call (one claim from user code).
/// The token must be dropped before any switch (it is: callers only queue).
fn local_held(shared: &Shared) -> Option<Held<'static>> {
    local_held_m(shared).map(|(held, _)| held)
}

/// [`local_held`], with the M.
fn local_held_m(shared: &Shared) -> Option<(Held<'static>, &'static M)> {
    let m = M::current()?;
    // SAFETY: this thread's live M, alive as long as its thread; the token
    // is used without a switch and dropped within the caller.
    let m: &'static M = unsafe { &*m.as_ptr() };
    if !std::ptr::eq(&*m.shared, shared) {
        return None;
    }
    Some((m.held()?, m))
}

/// Spawns a G running `f` on `shared`'s runtime.
pub(crate) fn spawn<F, T>(shared: &Shared, f: F) -> Result<JoinHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let g = spawn_cell(shared, |id, shared| cell::new_g(id, shared, f))?;
    Ok(JoinHandle::new(g))
}

/// [`spawn`] with a task builder's options (g/spawned.rs), recorded before
/// the G is published.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn spawn_with<F, T>(
    shared: &Shared,
    f: F,
    opts: Box<Opts>,
) -> Result<JoinHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let g = spawn_cell(shared, |id, shared| {
        let g = cell::new_g(id, shared, f);
        // SAFETY: just allocated and not yet published: alive, and no
        // other thread knows of it.
        unsafe { g.as_ref() }.spawned.set_opts(opts);
        g
    })?;
    Ok(JoinHandle::new(g))
}

/// Spawns the G that `make` allocates (given its id and runtime) on
/// `shared`'s runtime; the returned reference is the caller's count.
pub(crate) fn spawn_cell(
    shared: &Shared,
    make: impl FnOnce(u64, &Shared) -> NonNull<Header>,
) -> Result<GRef, SpawnError> {
    match local_held(shared) {
        Some(held) => spawn_local(shared, &held, make),
        None => spawn_external(shared, make),
    }
}

/// Spawn from a G on one of the runtime's Ps. During shutdown the G is still
/// created: it is cancelled before it starts (its JoinHandle says so).
fn spawn_local(
    shared: &Shared,
    held: &Held<'_>,
    make: impl FnOnce(u64, &Shared) -> NonNull<Header>,
) -> Result<GRef, SpawnError> {
    let g = make(held.next_goid(shared), shared);
    if shared.stacks.eager() {
        let size = stack_size_of(g);
        let stack = held.with_local(|l| shared.stacks.get(Some(&mut l.stacks), size));
        take_stack_or_free(g, stack)?;
        held.count(|c| &c.stacks_given); // Stats::stacks_in_use
    }
    held.count_spawn();
    put_local(shared, held, g);
    // SAFETY: `make` gave the caller one of the two counts.
    Ok(unsafe { GRef::from_raw(g) })
}

/// Spawn from outside the runtime's Ps (a plain thread, another runtime).
/// Counted before the shutdown check, so shutdown either sees the count or
/// this sees the flag (both SeqCst).
fn spawn_external(
    shared: &Shared,
    make: impl FnOnce(u64, &Shared) -> NonNull<Header>,
) -> Result<GRef, SpawnError> {
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};
    shared.external.spawned.fetch_add(1, SeqCst);
    let refuse = |e| {
        shared.external.refused.fetch_add(1, SeqCst);
        Err(e)
    };
    if shared.is_shutting_down() {
        return refuse(SpawnError::Shutdown);
    }
    let g = make(shared.goid.fetch_add(1, Relaxed), shared);
    if shared.stacks.eager() {
        if let Err(e) = take_stack_or_free(g, shared.stacks.get(None, stack_size_of(g))) {
            return refuse(e);
        }
        shared.external.stacks_given.fetch_add(1, Relaxed); // Stats::stacks_in_use
    }
    shared.global_push(g);
    wakep(shared);
    // SAFETY: `make` gave the caller one of the two counts.
    Ok(unsafe { GRef::from_raw(g) })
}

/// The stack size a new, unpublished G asked for (0: the runtime's).
fn stack_size_of(g: NonNull<Header>) -> usize {
    // SAFETY: the G is new and unpublished: alive, and ours.
    unsafe { g.as_ref() }.spawned.stack_size()
}

/// Gives a new G its stack, or frees the G and reports why it cannot run.
fn take_stack_or_free(
    g: NonNull<Header>,
    stack: Result<crate::stack::Stack, crate::stack::StackError>,
) -> Result<(), SpawnError> {
    match stack {
        Ok(s) => {
            // SAFETY: the G is new and unpublished: its context is ours.
            unsafe { (*g.as_ref().ctx.get()).stack = Some(s) };
            Ok(())
        }
        Err(e) => {
            // SAFETY: both counts of the unpublished G are ours.
            unsafe { drop((GRef::from_raw(g), GRef::from_raw(g))) };
            Err(SpawnError::NoStack(e))
        }
    }
}
