//! `syscall` and `syscall_blocking`: a G tells the scheduler it is about to
//! block its thread (Go's `entersyscall`/`exitsyscall` and
//! `entersyscallblock`). The G never leaves its M: no user frame migrates.
//!
//! The P's ownership word (`P::owner`) carries the protocol. Values: `0`
//! idle; `id + 1` held by M `id`, which runs runtime code (g0, or a G
//! inside a runtime call); `(id + 1) | IN_USER` held by M `id`, whose G
//! runs user code and may lose the P; `(id + 1) | IN_SYSCALL` held by M
//! `id`, which is inside a `syscall` and may lose the P.
//!
//! **System calls.**
//!
//! 1. Enter (the M, holding P): bump `P::syscalltick`, clear its own `p`
//!    pointer (runtime calls inside the call then act as from outside any
//!    P), store `(id + 1) | IN_SYSCALL` into `owner` with Release (publishes
//!    every holder-side write to the P's queue and caches).
//! 2. Retake (sysmon, sysmon.rs): it saw `IN_SYSCALL` with the same
//!    `syscalltick` on two ticks in a row: CAS `owner` from that value to
//!    `0` (AcqRel). On success the P is sysmon's: `handoffp` gives it to
//!    another M (or the idle list), and `acquire_p` there swaps the M's id
//!    in.
//! 3. Exit, fast path (the M): CAS `owner` from `(id + 1) | IN_SYSCALL`
//!    back to what it was before step 1 — `(id + 1) | IN_USER` for a call
//!    made from user code (Acquire). Success: sysmon never took it; the M
//!    restores its `p` pointer and the G goes on. One CAS, no lock.
//! 4. Exit, slow path (the CAS of 3 failed: only step 2 changes the word,
//!    so the P is gone): the M takes an idle P under the sched lock, or
//!    sleeps with a growing nap (50 µs to 1 ms) and tries again. The G keeps
//!    running on this thread once a P is had (`acquire_p` stores `id + 1`;
//!    the M then stores `IN_USER` too before returning to user code).
//!
//! Exactly one of 2 and 3 wins the CAS, so a P is never run by two Ms.
//! `syscall_blocking` skips 1–3: it releases the P (`release_p` stores 0)
//! and calls `handoffp` at once, then goes through 4.
//!
//! **User code** (a G that computes, or blocks its thread without telling
//! the runtime: `loop {}`, a std `Mutex`, a plain file read). The same word
//! and the same exit path, so such a G costs a thread, never the P:
//!
//! U1. Switch-in (g0 or a handoff yield, holding the P with `id + 1`):
//!     store `(id + 1) | IN_USER` (Release) just before the G runs.
//! U2. Runtime call (`M::held` on a G): load the word; if it is
//!     `(id + 1) | IN_USER | calls`, CAS it to `id + 1` (Acquire).
//!     Success: the P is ours until U3. Failure: the word is 0 or another
//!     M's — sysmon took the P (U4): go to step 4 above (wait for a P on
//!     this thread), then go on with the new P.
//! U3. Back to user code (the token of U2 dropped): store
//!     `(id + 1) | IN_USER | (calls + 1)` (Release): the word changes at
//!     every runtime call. A switch out of the G does U2 and keeps `id + 1`
//!     (g0 never sees `IN_USER`).
//! U4. Retake (sysmon): the P's `tick` (+1 per switch-in) has not changed
//!     for 10 ms, so the G was flagged for preemption; and the word has
//!     shown the same `IN_USER` value (no runtime call) for 10 ms: CAS it
//!     from that value to 0 (AcqRel) and `handoffp`. A G that keeps making
//!     runtime calls is only flagged (it yields at its next spawn or
//!     await), never loses its P. Nor does a G whose thread the OS leaves
//!     runnable without a CPU (an oversubscribed machine: another thread
//!     would only compete for the same CPUs): sysmon tells it from a
//!     computing or a blocked one by the thread's CPU clock and its
//!     `/proc` state (sysmon.rs).
//!
//! Between U2 and U3 the word lacks both flag bits, so sysmon's CAS (from
//! a flagged value only) cannot succeed while runtime code uses the P; a
//! retake that races a U2 is decided by the one CAS, exactly as 2 and 3.
//! A G that loses its P goes on computing on its thread (nothing is moved
//! under its feet); it only waits at its next runtime call. The cost on
//! the fast path is one uncontended CAS per outermost runtime call and one
//! plain store when it returns.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::handoff::{acquire_p, handoffp, pidleget, release_p};
use super::m::M;
use super::p::P;
use crate::loom::AtomicUsize;

/// The bit of `P::owner` that says the holder is inside `syscall`.
pub(crate) const IN_SYSCALL: usize = 1 << (usize::BITS - 1);

/// The bit of `P::owner` that says the holder's G runs user code (steps
/// U1–U4).
pub(crate) const IN_USER: usize = 1 << (usize::BITS - 2);

/// Both flag bits: a word with either may be retaken by sysmon.
pub(crate) const RETAKABLE: usize = IN_SYSCALL | IN_USER;

/// The bits of `P::owner` that hold the M's id + 1.
pub(crate) const ID_MASK: usize = (1 << 32) - 1;

/// While `IN_USER` is set, bits 32–55 count the runtime calls the G made
/// in this run (U3 adds one), so sysmon sees the word change at each call
/// and takes the P only from a G that made none for 10 ms.
const CALL_ONE: usize = 1 << 32;
const CALLS_MASK: usize = ((1 << 24) - 1) << 32;

/// Runs `f`, a call that may block its OS thread (a system call, a
/// blocking library call), telling the scheduler first.
///
/// Lazy, like Go's `entersyscall`: the G keeps its P, and gets it back with
/// one CAS if the call returns quickly; if the call is still running one
/// sysmon tick later (20 µs to 1 ms), sysmon hands the P to another M so
/// the P's other Gs keep running. Afterwards the G takes its P back, or
/// another idle one, or waits for one — always on the same thread.
///
/// Off a G (a plain thread, or an M's scheduler) it just calls `f`.
/// Runtime calls made inside `f` (spawns, wakes) act as from outside any P;
/// `f` should not park (a park inside `f` would hold the thread).
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    let Some((m, p, user)) = on_g_with_p() else {
        return f();
    };
    enter(m, p);
    let _exit = ExitGuard {
        m,
        p: Some(p),
        user,
    };
    let _span = super::trace::SyscallSpan::start(m); // issue 7
    f()
}

/// Runs `f`, a call known to block, handing the P to another M at once
/// (Go's `entersyscallblock`): the P's other Gs never wait for sysmon's
/// tick. Costs a handoff (and maybe a thread) on every call. Off a G it
/// just calls `f`.
pub fn syscall_blocking<R>(f: impl FnOnce() -> R) -> R {
    let Some((m, _, user)) = on_g_with_p() else {
        return f();
    };
    m.syscall.store(1, Ordering::Relaxed);
    let shared = &*m.shared;
    shared
        .sysmon
        .counts
        .blocking_now
        .fetch_add(1, Ordering::Relaxed);
    if let Some(p) = release_p(m) {
        shared
            .sysmon
            .counts
            .handoffs
            .fetch_add(1, Ordering::Relaxed);
        // Issue 7: the handoff on this M's lane.
        super::trace::instant(m, super::trace::EventKind::Handoff, p as u64);
        handoffp(shared, p);
    }
    let _exit = ExitGuard { m, p: None, user };
    let _span = super::trace::SyscallSpan::start(m); // issue 7
    f()
}

/// The calling thread's M and P, if a G of a runtime runs on it, and
/// whether the G was in user code (step U2 done: the word is `id + 1` now,
/// and stays so until step 1 or `release_p`).
fn on_g_with_p() -> Option<(&'static M, &'static P, bool)> {
    let m = M::current()?;
    // SAFETY: M::current is this thread's live M; it outlives this call
    // (an M lives until its thread returns from m_main, and we are on it).
    // The 'static is local to this module: nothing keeps the references
    // past the syscall.
    let m: &'static M = unsafe { &*m.as_ptr() };
    m.curg()?;
    if m.syscall.load(Ordering::Relaxed) != 0 {
        return None; // nested: the outer call already told the scheduler
    }
    let held = m.held()?;
    let user = held.is_user_call();
    let p = held.keep();
    // SAFETY: a P lives in `shared.ps`, which the M keeps alive.
    let p: &'static P = unsafe { &*std::ptr::from_ref(p) };
    Some((m, p, user))
}

/// Step 1.
#[inline]
fn enter(m: &M, p: &P) {
    m.syscall.store(1, Ordering::Relaxed);
    let t = p.syscalltick.load(Ordering::Relaxed).wrapping_add(1);
    p.syscalltick.store(t, Ordering::Relaxed);
    m.set_p(None);
    owner_enter(&p.owner, m.id + 1);
}

/// Step 1 on the ownership word (`mine` = the M's id + 1).
#[inline]
pub(crate) fn owner_enter(owner: &AtomicUsize, mine: usize) {
    owner.store(mine | IN_SYSCALL, Ordering::Release);
}

/// Step 3 on the ownership word: true if the P is still ours; the word is
/// then `mine | back` (`back`: `IN_USER` or 0, what it was before step 1).
#[inline]
pub(crate) fn owner_exit_fast(owner: &AtomicUsize, mine: usize, back: usize) -> bool {
    owner
        .compare_exchange(
            mine | IN_SYSCALL,
            mine | back,
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .is_ok()
}

/// Steps 2 and U4 on the ownership word: sysmon saw `seen` (with
/// `IN_SYSCALL` or `IN_USER`); true if the P is now sysmon's to hand off.
#[inline]
pub(crate) fn owner_retake(owner: &AtomicUsize, seen: usize) -> bool {
    debug_assert!(seen & RETAKABLE != 0);
    owner
        .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Step U1 (the word is `mine`: we hold the P in runtime code): no calls
/// counted yet.
#[inline]
pub(crate) fn owner_user_enter(owner: &AtomicUsize, mine: usize) {
    owner.store(mine | IN_USER, Ordering::Release);
}

/// Step U2. `seen` is the word just loaded; if it is ours in user state,
/// claims the P: returns the word U3 must store back (one more call
/// counted). None if the P is not ours in user state (or sysmon took it
/// between the load and the CAS).
#[inline]
pub(crate) fn owner_user_claim(owner: &AtomicUsize, seen: usize, mine: usize) -> Option<usize> {
    if seen & !CALLS_MASK != mine | IN_USER {
        return None;
    }
    owner
        .compare_exchange(seen, mine, Ordering::Acquire, Ordering::Relaxed)
        .ok()
        .map(|_| mine | IN_USER | (seen.wrapping_add(CALL_ONE) & CALLS_MASK))
}

/// Step U3: the G goes back to user code; `back` is what U2 returned.
#[inline]
pub(crate) fn owner_user_return(owner: &AtomicUsize, back: usize) {
    owner.store(back, Ordering::Release);
}

/// Steps 3 and 4 (on drop, so a panic in `f` gives the P back too).
struct ExitGuard {
    m: &'static M,
    /// The P kept through the call (None for `syscall_blocking`).
    p: Option<&'static P>,
    /// The call was made from user code: the word goes back to `IN_USER`.
    user: bool,
}

impl Drop for ExitGuard {
    #[inline]
    fn drop(&mut self) {
        let m = self.m;
        let back = if self.user { IN_USER } else { 0 };
        if let Some(p) = self.p {
            if owner_exit_fast(&p.owner, m.id + 1, back) {
                m.set_p(Some(p));
                m.syscall.store(0, Ordering::Relaxed);
                return;
            }
            // Retaken by sysmon (which counted this M in `retaken_now`).
            exit_slow(m);
            m.shared
                .sysmon
                .counts
                .retaken_now
                .fetch_sub(1, Ordering::Relaxed);
        } else {
            m.shared
                .sysmon
                .counts
                .blocking_now
                .fetch_sub(1, Ordering::Relaxed);
            exit_slow(m);
        }
        if self.user {
            m.enter_user();
        }
        m.syscall.store(0, Ordering::Relaxed);
    }
}

/// Step 4: waits for any P, on this thread. First an idle P; else the M
/// queues itself in `Sysmon::waiters` and sleeps: the next M that reaches
/// its scheduler loop hands it its P (`give_p_to_waiter`), or an idle P
/// appears and the M's periodic look takes it.
#[cold]
pub(crate) fn exit_slow(m: &M) {
    wait_for_p(m);
    // Sysmon's CPU-clock watch (sysmon.rs) stops counting this M.
    m.without_p.store(false, Ordering::Relaxed);
}

fn wait_for_p(m: &M) {
    let shared = &*m.shared;
    if take_idle_p(m) {
        return;
    }
    let me = std::ptr::from_ref(m) as usize;
    shared.sysmon.push_waiter(me);
    let mut nap = Duration::from_micros(50);
    loop {
        m.note.sleep(Some(std::time::Instant::now() + nap));
        if let Some((p, _)) = m.take_nextp() {
            acquire_p(m, p);
            return;
        }
        // Still queued? Then an idle P is ours to take; if not, a giver
        // has us and its P is on the way.
        let mut w = shared.sysmon.lock_waiters();
        if let Some(i) = w.iter().position(|&x| x == me) {
            if take_idle_p(m) {
                w.remove(i);
                shared.sysmon.waiting.store(w.len(), Ordering::SeqCst);
                return;
            }
        }
        drop(w);
        nap = (nap * 2).min(Duration::from_millis(1));
    }
}

/// Takes an idle P for `m`, if there is one.
fn take_idle_p(m: &M) -> bool {
    let shared = &*m.shared;
    let got = {
        let mut l = shared.lock();
        pidleget(shared, &mut l)
    };
    match got {
        Some(p) => {
            acquire_p(m, &shared.ps[p]);
            true
        }
        None => false,
    }
}

/// Hook of the scheduler loop (schedule.rs): if an M coming back from a
/// syscall waits for a P, `m` gives it its own and returns true (`m` then
/// parks as idle). One relaxed load when nobody waits.
#[inline]
pub(crate) fn give_p_to_waiter(m: &M) -> bool {
    let sysmon = &m.shared.sysmon;
    if sysmon.waiting.load(Ordering::Relaxed) == 0 || m.locked_g().is_some() {
        return false;
    }
    let waiter = {
        let mut w = sysmon.lock_waiters();
        let x = w.pop_front();
        sysmon.waiting.store(w.len(), Ordering::SeqCst);
        x
    };
    let Some(waiter) = waiter else { return false };
    // SAFETY: a queued M is alive: it sleeps in `exit_slow` until it has a
    // P, and only the one who popped it (us) hands it one.
    let waiter = unsafe { &*(waiter as *const M) };
    let p = release_p(m).expect("scheduler loop without a P");
    waiter.hand_p(&m.shared.ps[p], false);
    waiter.note.wake();
    true
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;

    /// Steps 1–3: an M enters a syscall and comes back while sysmon tries
    /// to retake the P it saw in the syscall. Exactly one of them ends up
    /// with the P, and a retaken word is 0 (free for `acquire_p`).
    #[test]
    fn loom_syscall_exit_races_retake() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1)); // held by M 0
            owner_enter(&owner, 1);
            let sysmon_has = Arc::new(AtomicBool::new(false));
            let t = loom::thread::spawn({
                let (owner, has) = (owner.clone(), sysmon_has.clone());
                move || {
                    let seen = owner.load(Ordering::Acquire);
                    if seen & IN_SYSCALL != 0 && owner_retake(&owner, seen) {
                        has.store(true, Ordering::Relaxed);
                    }
                }
            });
            let m_has = owner_exit_fast(&owner, 1, 0);
            t.join().unwrap();
            let s_has = sysmon_has.load(Ordering::Relaxed);
            assert!(m_has != s_has, "the P must have exactly one holder");
            let w = owner.load(Ordering::Relaxed);
            assert_eq!(w, if m_has { 1 } else { 0 });
        });
    }

    /// A second syscall on the same P after a fast exit: sysmon's sighting
    /// of the first one (the same word: ABA) may retake the second, which is
    /// sound (the M finds out at its exit); always exactly one holder.
    #[test]
    fn loom_retake_of_a_later_syscall_is_sound() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1));
            owner_enter(&owner, 1);
            let seen = owner.load(Ordering::Acquire);
            let t = loom::thread::spawn({
                let owner = owner.clone();
                move || owner_retake(&owner, seen)
            });
            let first = owner_exit_fast(&owner, 1, 0);
            let second = if first {
                owner_enter(&owner, 1);
                owner_exit_fast(&owner, 1, 0)
            } else {
                false
            };
            let s_has = t.join().unwrap();
            // The M holds the P at the end iff both exits won.
            assert_eq!(first && second, !s_has, "exactly one holder");
        });
    }

    /// Steps U1–U4: a G in user code makes two runtime calls (U2 ... U3)
    /// while sysmon retakes the P it saw in user code. Sysmon never wins
    /// while a call is inside (between U2 and U3); a call that finds the P
    /// gone means sysmon has it; the word ends as 0 iff sysmon took it.
    #[test]
    fn loom_user_runtime_call_races_retake() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1)); // held by M 0 (g0)
            owner_user_enter(&owner, 1); // U1: the G runs
            let inside = Arc::new(AtomicBool::new(false));
            let t = loom::thread::spawn({
                let (owner, inside) = (owner.clone(), inside.clone());
                move || {
                    let seen = owner.load(Ordering::Acquire);
                    let took = seen & RETAKABLE != 0 && owner_retake(&owner, seen);
                    if took {
                        assert!(!inside.load(Ordering::Relaxed), "retaken inside a call");
                    }
                    took
                }
            });
            let mut lost = false;
            for _ in 0..2 {
                let seen = owner.load(Ordering::Relaxed);
                let Some(back) = owner_user_claim(&owner, seen, 1) else {
                    lost = true;
                    break;
                };
                inside.store(true, Ordering::Relaxed);
                assert_eq!(owner.load(Ordering::Relaxed), 1);
                inside.store(false, Ordering::Relaxed);
                owner_user_return(&owner, back);
            }
            let s_has = t.join().unwrap();
            assert!(!lost || s_has, "a call found the P gone: sysmon has it");
            let w = owner.load(Ordering::Relaxed);
            if s_has {
                assert_eq!(w, 0);
            } else {
                // Two calls counted in the word.
                assert_eq!(w, 1 | IN_USER | (2 * CALL_ONE));
            }
        });
    }

    /// A syscall made from user code (U2, then 1, then 3 back to `IN_USER`)
    /// while sysmon retakes whatever flagged word it saw: a lost exit means
    /// sysmon has the P, and the word ends as 0 iff it does.
    #[test]
    fn loom_user_then_syscall_races_retake() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1));
            owner_user_enter(&owner, 1);
            let t = loom::thread::spawn({
                let owner = owner.clone();
                move || {
                    let seen = owner.load(Ordering::Acquire);
                    seen & RETAKABLE != 0 && owner_retake(&owner, seen)
                }
            });
            let seen = owner.load(Ordering::Relaxed);
            let m_kept = owner_user_claim(&owner, seen, 1).is_some() && {
                owner_enter(&owner, 1);
                owner_exit_fast(&owner, 1, IN_USER)
            };
            let s_has = t.join().unwrap();
            assert!(m_kept || s_has, "a lost exit means sysmon has the P");
            let w = owner.load(Ordering::Relaxed);
            assert_eq!(w, if s_has { 0 } else { 1 | IN_USER });
        });
    }
}
