//! findrunnable: where an M holding a P looks for its next G, and what it
//! does when there is none. In order:
//!
//! 1. Every 61st tick, due timers, then one G from the global queue, so Gs
//!    there are not starved by two Gs that keep waking each other locally
//!    (Go's 61: a prime, so the check does not fall into step with other
//!    periodic work).
//! 2. The P's own `runnext`, then its ring.
//! 3. A chunk of the global queue (global.rs).
//! 4. Expired timers (they make their Gs runnable into this P), then the
//!    netpoller without waiting (netpoll/mod.rs; its Gs go on this P).
//! 5. Steal: if this M already spins, or fewer than half the busy Ps have a
//!    spinning M, spin: four rounds over the other Ps in random order,
//!    taking half a victim's ring; the last round may take a victim's
//!    `runnext` (runq.rs rule 4).
//! 6. Give up: D1–D3 of idle.rs (check the global queue and idle the P
//!    under the sched lock, stop spinning, re-check every ring), then park
//!    the M (handoff.rs `stopm`) until another M hands it a P.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::handoff::{pidleput, release_p, stopm, take_handed_or_idle_p};
use super::m::M;
use super::p::Held;
use crate::g::Header;

/// Steal rounds over all Ps before giving up.
const STEAL_ROUNDS: usize = 4;
/// Step 1's period.
pub(crate) const GLOBAL_CHECK_TICKS: u32 = 61;

/// Returns the next G for `m` to run, parking `m` while there is none;
/// None when the runtime is exiting (the M then ends).
pub(crate) fn find_runnable(m: &Arc<M>) -> Option<NonNull<Header>> {
    let shared = &*m.shared;
    loop {
        super::observe::safe_point(m); // a task dump may be reading the queues
        if shared.exiting.load(Ordering::SeqCst) {
            if let Some(p) = release_p(m) {
                pidleput(shared, &mut shared.lock(), p);
            }
            return None;
        }
        // A host runs its bound Gs first (sched/host.rs).
        if let Some(g) = super::host::take_mail(m) {
            return Some(g);
        }
        if let Some(g) = look_locally(m) {
            return Some(g);
        }
        if let Some(g) = steal_if_allowed(m) {
            return Some(g);
        }
        match give_up_p(m) {
            GiveUp::Run(g) => return Some(g),
            GiveUp::Retry => continue,
            GiveUp::Idled => {}
            GiveUp::Exit => return None,
        }
        if stop_spinning_and_recheck(m) {
            continue;
        }
        if !stopm(m) {
            return None;
        }
    }
}

/// Steps 1–4.
fn look_locally(m: &M) -> Option<NonNull<Header>> {
    let shared = &*m.shared;
    let held = m.held().expect("find_runnable without a P");
    let global = || shared.global_len.load(Ordering::Relaxed) > 0;
    // Due timers, at every schedule (Go checks its P's timers in every
    // findrunnable): by sysmon's coarse clock, and by the clock itself
    // when a deadline is near it.
    if shared.timers.due_cheaply() {
        shared.timers.fire_due();
    }
    super::ready::io_backlog_check(shared, &held);
    if held.p().tick.load(Ordering::Relaxed) % GLOBAL_CHECK_TICKS == 0 {
        // Timers too, or two Gs yielding to each other on the only P would
        // keep every sleeper waiting.
        shared.timers.fire_due();
        shared.netpoll_now();
        if global() {
            if let Some(g) = shared.global_get(&held, 1) {
                return Some(g);
            }
        }
    }
    if let Some(g) = held.pop() {
        return Some(g);
    }
    if global() {
        if let Some(g) = shared.global_get(&held, 0) {
            return Some(g);
        }
    }
    if shared.timers.due() {
        shared.timers.fire_due();
        if let Some(g) = held.pop() {
            return Some(g);
        }
    }
    // The netpoller: I/O readiness, non-blocking, before stealing.
    shared.netpoll_now();
    held.pop()
}

/// Step 5.
fn steal_if_allowed(m: &M) -> Option<NonNull<Header>> {
    let shared = &*m.shared;
    if !m.spinning() {
        if !shared.idle.may_spin(shared.nprocs()) {
            return None;
        }
        m.set_spinning(true);
        shared.idle.start_spinning();
    }
    let held = m.held().expect("stealing without a P");
    for round in 0..STEAL_ROUNDS {
        if let Some(g) = steal_round(m, &held, round + 1 == STEAL_ROUNDS) {
            return Some(g);
        }
        if shared.exiting.load(Ordering::Relaxed) {
            break;
        }
    }
    None
}

/// One pass over the other Ps, in a random order (random start, stride
/// coprime with the number of Ps).
fn steal_round(m: &M, held: &Held<'_>, steal_next: bool) -> Option<NonNull<Header>> {
    let ps = &m.shared.ps;
    let n = ps.len();
    if n < 2 {
        return None;
    }
    let r = m.rand() as usize;
    let start = r % n;
    let mut stride = 1 + (r >> 32) % n;
    while gcd(stride, n) != 1 {
        stride = stride % n + 1;
    }
    let me = held.p().id;
    (0..n)
        .map(|i| &ps[(start + i * stride) % n])
        .filter(|v| v.id != me)
        .find_map(|v| held.steal_from(v, steal_next))
        .inspect(|_| {
            // A steal instant on this M's trace lane.
            super::trace::instant(m, super::trace::EventKind::Steal, me as u64);
            held.count(|c| &c.steals); // Stats::steals
        })
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// What step 6's D1 did.
enum GiveUp {
    /// Global work arrived: run this G.
    Run(NonNull<Header>),
    /// Global work arrived but another M took it first: look again.
    Retry,
    /// The P is on the idle list, the M queued as idle.
    Idled,
    /// The P is on the idle list and the runtime is exiting.
    Exit,
}

/// Step 6, D1: under the sched lock, take global work if any arrived, else
/// put the P on the idle list.
fn give_up_p(m: &Arc<M>) -> GiveUp {
    let shared = &*m.shared;
    let mut l = shared.lock();
    if l.global.len() > 0 {
        drop(l);
        let held = m.held().expect("giving up a P we do not hold");
        return shared
            .global_get(&held, 0)
            .map_or(GiveUp::Retry, GiveUp::Run);
    }
    let p = release_p(m).expect("giving up a P we do not hold");
    pidleput(shared, &mut l, p);
    if shared.exiting.load(Ordering::SeqCst) {
        return GiveUp::Exit;
    }
    // Queued as idle in the same critical section: a startm that takes the
    // P finds this M instead of creating a thread (at most procs Ms run Ps).
    l.idle_ms.push(m.clone());
    GiveUp::Idled
}

/// Step 6, D2–D3: stop spinning, then look at every ring once more; if one
/// has work, take a P again and spin again (true: start over). The M is
/// already on the idle list: if a startm picked it meanwhile, the P it was
/// handed is the one to take.
fn stop_spinning_and_recheck(m: &Arc<M>) -> bool {
    let shared = &*m.shared;
    if !m.spinning() {
        return false;
    }
    m.set_spinning(false);
    shared.idle.stop_spinning();
    // The global queue too: a G pushed there by a thread
    // without a P (a spawn from a plain thread, the netpoller's blocked M, a
    // timer fired while idle) between D1 and D2 sees `nmspinning != 0` and
    // wakes no one, so this M is the one that must see it (SeqCst store of
    // `global_len` in `global_push` vs. D2's fence and this SeqCst load).
    if shared.ps.iter().all(|p| p.ring_is_empty()) && shared.global_len.load(Ordering::SeqCst) == 0
    {
        return false;
    }
    // The P a startm handed this M meanwhile, else an idle one; either
    // way this M spins again (a handed P may have made it spin already).
    if !take_handed_or_idle_p(m, true) {
        return false;
    }
    if !m.spinning() {
        m.set_spinning(true);
        shared.idle.start_spinning();
    }
    true
}
