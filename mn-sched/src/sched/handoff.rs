//! Passing Ps and Gs between Ms: acquire and release a P, start an M for a
//! P (`startm`), park an M with nothing to do (`stopm`), give a P away
//! (`handoffp`), start a spinning M for new work (`wakep`), and the two
//! handoffs of locked Gs (`startlockedm`, `stoplockedm`).
//!
//! Invariants: a P is either on the idle list (owner word 0, counted in
//! `npidle`) or held by exactly one M (owner word = id + 1), or in transit
//! in some M's `nextp`, set under the sched lock when the M is taken off the
//! idle list (or by `startlockedm` for a locked M, which is never on it).

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::m::{spawn_m, M};
use super::p::P;
use super::{SchedLocked, Shared};
use crate::g::Header;

/// Binds `p` to `m` (on `m`'s thread).
pub(crate) fn acquire_p(m: &M, p: &P) {
    // SeqCst: the Dekker pair with sysmon's deep sleep (sysmon.rs).
    let prev = p.owner.swap(m.id + 1, Ordering::SeqCst);
    debug_assert_eq!(prev, 0, "P {} acquired while held", p.id);
    m.set_p(Some(p));
    // A P starts running Gs: wake sysmon from its deep sleep.
    if m.shared.sysmon.wake_if_sleeping() {
        super::clock::tick_coarse_clocks(&m.shared);
    }
}

/// Unbinds `m`'s P, if any, and returns its index.
pub(crate) fn release_p(m: &M) -> Option<usize> {
    let p = m.held()?.keep();
    m.set_p(None);
    p.owner.swap(0, Ordering::AcqRel);
    Some(p.id)
}

/// Takes an idle P (under the sched lock).
pub(crate) fn pidleget(shared: &Shared, l: &mut SchedLocked) -> Option<usize> {
    let p = l.idle_ps.pop()?;
    shared.idle.p_taken();
    Some(p)
}

/// Puts a P on the idle list (under the sched lock).
pub(crate) fn pidleput(shared: &Shared, l: &mut SchedLocked, p: usize) {
    l.idle_ps.push(p);
    shared.idle.p_idled();
}

/// Starts an M for `p` (or for an idle P if `p` is None; if there is none,
/// a spinning start is undone). Reuses an idle M, else creates a thread; if
/// the thread cap forbids it, the P goes back to the idle list and the work
/// waits for a busy M.
pub(crate) fn startm(shared: &Shared, p: Option<usize>, spinning: bool) {
    let mut l = shared.lock();
    let Some(p) = p.or_else(|| pidleget(shared, &mut l)) else {
        drop(l);
        if spinning {
            shared.idle.stop_spinning();
        }
        return;
    };
    // An idle M readying Gs itself (the netpoller's M after
    // epoll_wait, the timer sleeper firing timers) takes the P: it is awake
    // already, and another M would cost a futex wake and a thread switch.
    let me = M::current().and_then(|cur| {
        l.idle_ms
            .iter()
            .position(|x| std::ptr::eq(Arc::as_ptr(x), cur.as_ptr()))
    });
    let picked = match me {
        Some(i) => Some(l.idle_ms.swap_remove(i)),
        None => l.idle_ms.pop(),
    };
    if let Some(m) = picked {
        m.hand_p(&shared.ps[p], spinning);
        drop(l);
        // wake_up, not note.wake: this M may be blocked in epoll. On
        // ourselves it only leaves a token (no syscall), so whatever path
        // we are on, the next sleep returns and finds the P.
        m.wake_up();
        return;
    }
    drop(l);
    if spawn_m(shared, &shared.ps[p], spinning).is_err() {
        pidleput(shared, &mut shared.lock(), p);
        if spinning {
            shared.idle.stop_spinning();
        }
    }
}

/// `m` stops spinning, if it was (counted in `Idle`); if it was the last
/// spinning M, another is started for work that may have come meanwhile
/// (idle.rs, S3).
pub(crate) fn stop_spinning(m: &M) {
    if m.spinning() {
        m.set_spinning(false);
        if m.shared.idle.stop_spinning() {
            wakep(&m.shared);
        }
    }
}

/// Step S3 of idle.rs: starts a spinning M if work was published while Ps
/// idle and no M spins.
pub(crate) fn wakep(shared: &Shared) {
    if shared.idle.submitted() {
        startm(shared, None, true);
    }
}

/// Gives away the P `p` of an M that stops running Gs (a locked M whose G
/// parked, an M leaving): to a new M if there is work for it, else to the
/// idle list.
pub(crate) fn handoffp(shared: &Shared, p: usize) {
    if !shared.ps[p].runq_is_empty()
        || shared.global_len.load(Ordering::SeqCst) > 0
        || shared.timers.pending()
    {
        startm(shared, Some(p), false);
        return;
    }
    if shared.idle.none_spinning_or_idle() && shared.idle.claim_spinner() {
        startm(shared, Some(p), true);
        return;
    }
    let mut l = shared.lock();
    if l.global.len() > 0 {
        drop(l);
        startm(shared, Some(p), false);
        return;
    }
    pidleput(shared, &mut l, p);
    drop(l);
    shared.kick_aside_sleeper();
}

/// Parks `m` (which holds no P and is on the idle list) until another M
/// hands it one; fires due timers when it is the runtime's timer sleeper.
/// Returns false when the runtime is exiting, or when the M idled longer
/// than `idle_thread_timeout` with more Ms than Ps alive (it then ends).
pub(crate) fn stopm(m: &Arc<M>) -> bool {
    super::trace::MLane::flush(m); // going idle: hand the trace batch over
    let shared = &*m.shared;
    loop {
        // With a netpoller, the sleeper waits in epoll (netpoll/mod.rs),
        // with or without a timer. An M that is not the
        // sleeper sleeps at most `idle_thread_timeout`, then exits if more
        // Ms than Ps are alive.
        let (idle_until, woken) = match shared.timers.become_sleeper(m, shared.netpoll_active()) {
            Some(deadline) => {
                let ready = shared.sleeper_wait(m, deadline);
                shared.timers.stop_sleeping(m);
                if !ready.is_empty() {
                    let got_p = take_p_for_ready(m);
                    super::ready::wake_to_back(ready);
                    if got_p {
                        shared.pass_sleeper_post();
                        return true;
                    }
                }
                (None, true)
            }
            None => {
                // This M's P may have been the last one held.
                shared.kick_aside_sleeper();
                let until = std::time::Instant::now() + shared.config.idle_thread_timeout;
                (Some(until), m.note.sleep(Some(until)))
            }
        };
        if idle_until.is_some() && !woken && m.host.is_none() {
            let mut l = shared.lock();
            let handed = m.take_nextp();
            if handed.is_none() && shared.threads.try_retire(shared.nprocs()) {
                unqueue_idle(&mut l, m);
                m.retired.store(true, Ordering::Relaxed);
                return false;
            }
            drop(l);
            // Picked meanwhile: take that P; else (must stay) sleep on.
            if let Some((p, spinning)) = handed {
                adopt_p(m, p, spinning);
                return true;
            }
        }
        // Still on the idle list: a wakep from the timers fired here can
        // pick this very M.
        shared.timers.fire_due();
        // A host woken with mail (a bound G runnable: sched/host.rs) takes
        // a P at once, waiting for one if none is idle.
        if m.host.as_deref().is_some_and(super::host::Host::has_mail) {
            super::host::take_p_for_mail(m);
            return true;
        }
        let l = shared.lock();
        if let Some((p, spinning)) = m.take_nextp() {
            drop(l);
            adopt_p(m, p, spinning);
            return true;
        }
        if shared.exiting.load(Ordering::SeqCst) {
            let mut l = l;
            unqueue_idle(&mut l, m);
            return false;
        }
        // A spurious wake or a timer: stay queued and sleep again.
    }
}

/// The sleeper `m` woke from epoll with Gs to ready: like Go's
/// findrunnable after a blocking netpoll, it takes a P first (the one
/// handed to it meanwhile, else an idle one), so that their wakes put them
/// on that P — runnext and ring, where `m` runs them at once — instead of
/// the global queue, with another M woken to fetch them (a futex wake and
/// a thread switch per burst of readiness). False if no P is free: the
/// wakes then go through the global queue as from any thread.
fn take_p_for_ready(m: &Arc<M>) -> bool {
    // (While exiting, only a P already handed to us.)
    let may_take_idle = !m.shared.exiting.load(Ordering::SeqCst);
    take_handed_or_idle_p(m, may_take_idle)
}

/// An M on the idle list takes a P: the one a startm handed it meanwhile
/// (that startm took it off the list), else, if `may_take_idle`, an idle P
/// (and it leaves the list). False if neither.
pub(crate) fn take_handed_or_idle_p(m: &Arc<M>, may_take_idle: bool) -> bool {
    let shared = &*m.shared;
    let mut l = shared.lock();
    if let Some((p, spinning)) = m.take_nextp() {
        drop(l);
        adopt_p(m, p, spinning);
        return true;
    }
    if !may_take_idle {
        return false;
    }
    let Some(p) = pidleget(shared, &mut l) else {
        return false;
    };
    unqueue_idle(&mut l, m);
    drop(l);
    acquire_p(m, &shared.ps[p]);
    true
}

/// `m` takes the P another M handed it; if that M counted it as a new
/// spinning M, `m` spins (or, if it still spins on its own count, the extra
/// count is given back).
pub(crate) fn adopt_p(m: &M, p: &P, spinning: bool) {
    acquire_p(m, p);
    if spinning {
        if m.spinning() {
            m.shared.idle.stop_spinning();
        } else {
            m.set_spinning(true);
        }
    }
}

/// Takes `m` off the idle list (under the sched lock).
pub(crate) fn unqueue_idle(l: &mut SchedLocked, m: &Arc<M>) {
    if let Some(i) = l.idle_ms.iter().position(|x| Arc::ptr_eq(x, m)) {
        l.idle_ms.swap_remove(i);
    }
}

/// `m` picked a G locked to another M: hands that M this P and the G, then
/// parks. Returns false when the runtime is exiting.
pub(crate) fn startlockedm(m: &Arc<M>, g: NonNull<Header>) -> bool {
    // SAFETY: `g` is a live runnable G we took from a queue.
    let lm = unsafe { g.as_ref() }.locked_m.load(Ordering::Acquire);
    // SAFETY: a locked G's M is alive while the G lives (it waits for it).
    let lm = unsafe { &*lm };
    let p = release_p(m).expect("startlockedm without a P");
    lm.hand_p(&m.shared.ps[p], false);
    lm.wake_up();
    idle_and_stop(m)
}

/// Queues `m` as idle (unless the runtime is exiting) and parks it.
pub(crate) fn idle_and_stop(m: &Arc<M>) -> bool {
    {
        let mut l = m.shared.lock();
        if m.shared.exiting.load(Ordering::SeqCst) {
            return false;
        }
        l.idle_ms.push(m.clone());
    }
    stopm(m)
}

/// `m`'s locked G parked or yielded: gives the P away and sleeps until the
/// G is runnable again and its P comes back.
pub(crate) fn stoplockedm(m: &M) {
    if let Some(p) = release_p(m) {
        handoffp(&m.shared, p);
    }
    loop {
        m.note.sleep(None);
        if let Some((p, spinning)) = m.take_nextp() {
            adopt_p(m, p, spinning);
            return;
        }
    }
}
