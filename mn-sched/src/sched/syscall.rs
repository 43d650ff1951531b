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
//! and the same exit path, so such a G costs a thread, never the P. Beside
//! the word, each M has a call count (`M::calls`, written only by that M):
//! even while its G runs user code, odd while it runs runtime code on its P.
//! Each P has a `retaking` flag, set by sysmon while it decides.
//!
//! U1. Switch-in (g0 or a handoff yield, holding the P): store
//!     `(id + 1) | IN_USER` into the word (Release), then make the count
//!     even (Release) just before the G runs.
//! U2. Runtime call (`M::held` on a G, the word `(id + 1) | IN_USER`, the
//!     count even, `c`): store `c + 1` into the count; a light fence; load
//!     the P's `retaking` (Acquire); if set, sysmon is deciding: wait until
//!     it clears the flag. Then, either way, read the word (a clear flag may
//!     be the clear after a retake sysmon decided before our store): still
//!     `(id + 1) | IN_USER`, the P is ours until U3 (sysmon cannot take it
//!     while the count is odd); gone (0 or another M's), go to step 4 above
//!     (wait for a P on this thread), then go on with the new P. A count
//!     already odd is a nested call: nothing to do.
//! U3. Back to user code (the token of U2 dropped): store `c + 2` (Release).
//!     A switch out of the G keeps the count odd (g0 is runtime code); the
//!     next switch-in (U1) makes it even.
//! U4. Retake (sysmon): the P's `tick` (+1 per switch-in) has not changed
//!     for 10 ms, so the G was flagged for preemption; and the word with
//!     the M's count has shown the same even value (no runtime call) for
//!     10 ms: set `retaking`; a heavy fence; load the count again: still
//!     that value, CAS the word from what it saw to 0 (AcqRel) and
//!     `handoffp`; changed, give up. Clear `retaking` (Release) either way.
//!     A G that keeps making runtime calls is only flagged (it yields at its
//!     next spawn or await), never loses its P. Nor does a G whose thread
//!     the OS leaves runnable without a CPU (an oversubscribed machine:
//!     another thread would only compete for the same CPUs): sysmon tells
//!     it from a computing or a blocked one by the thread's CPU clock and
//!     its `/proc` state (sysmon.rs).
//!
//! U2 and U4 are a Dekker pair (store one flag, fence, load the other's):
//! at least one side sees the other. If sysmon's second load misses the
//! M's odd count, the M's load sees `retaking` set (and waits for the
//! decision) or its clear (and sees the word the decision left); if the
//! M's load misses `retaking` altogether, sysmon sees the odd count and
//! gives up. The M never writes the word from user state, so a decided retake
//! is never overwritten. The fences are asymmetric, as sysmon retakes
//! rarely and runtime calls are many: the M's is a compiler fence and
//! sysmon's a `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a
//! full barrier on every running thread of the process (the kernel's IPI
//! drains the M's store buffer). Where the kernel refuses membarrier both
//! are `fence(SeqCst)`, and so under loom, which models them. The cost on
//! the fast path: two plain stores and a load per outermost runtime call,
//! no locked instruction.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::handoff::{acquire_p, handoffp, pidleget, release_p};
use super::m::M;
use super::p::P;
use crate::loom::{AtomicBool, AtomicUsize};

/// The bit of `P::owner` that says the holder is inside `syscall`.
pub(crate) const IN_SYSCALL: usize = 1 << (usize::BITS - 1);

/// The bit of `P::owner` that says the holder's G runs user code (steps
/// U1–U4).
pub(crate) const IN_USER: usize = 1 << (usize::BITS - 2);

/// Both flag bits: a word with either may be retaken by sysmon.
pub(crate) const RETAKABLE: usize = IN_SYSCALL | IN_USER;

/// The bits of `P::owner` that hold the M's id + 1.
pub(crate) const ID_MASK: usize = (1 << 32) - 1;

/// In sysmon's view of a word with `IN_USER` (sysmon.rs), bits 32–55 hold
/// the M's call count, so the view changes at each runtime call and sysmon
/// takes the P only from a G that made none for 10 ms.
pub(crate) const CALLS_MASK: usize = ((1 << 24) - 1) << 32;

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
/// Runtime calls made inside `f` (spawns, wakes) act as from outside any P.
/// A park inside `f` (a channel, `sleep`, `join`…) sleeps on this thread,
/// as the system call would, and `yield_now` yields the thread: the G
/// never leaves its thread inside `f` (g/run.rs).
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    super::host::leave_host(); // never block the main task's thread
    let Some((m, p, user, back)) = on_g_with_p() else {
        return f();
    };
    enter(m, p);
    let _exit = ExitGuard {
        m,
        p: Some(p),
        user,
        back,
    };
    let _span = super::trace::SyscallSpan::start(m); // a Chrome trace slice
    f()
}

/// Runs `f`, a call known to block, handing the P to another M at once
/// (Go's `entersyscallblock`): the P's other Gs never wait for sysmon's
/// tick. Costs a handoff (and maybe a thread) on every call. Off a G it
/// just calls `f`.
pub fn syscall_blocking<R>(f: impl FnOnce() -> R) -> R {
    super::host::leave_host(); // never block the main task's thread
    let Some((m, _, user, _)) = on_g_with_p() else {
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
        // The handoff on this M's trace lane.
        super::trace::instant(m, super::trace::EventKind::Handoff, p as u64);
        handoffp(shared, p);
    }
    let _exit = ExitGuard {
        m,
        p: None,
        user,
        back: 0,
    };
    let _span = super::trace::SyscallSpan::start(m); // a Chrome trace slice
    f()
}

/// The calling thread's M and P, if a G of a runtime runs on it, whether
/// the G was in user code (step U2 done: the M's count is odd now, and
/// stays so until step 3), and the word's `IN_USER` flag.
fn on_g_with_p() -> Option<(&'static M, &'static P, bool, usize)> {
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
    Some((m, p, user, p.owner.load(Ordering::Relaxed) & IN_USER))
}

/// Step 1.
#[inline]
fn enter(m: &M, p: &P) {
    m.syscall.store(1, Ordering::Relaxed);
    let t = p.syscalltick.load(Ordering::Relaxed).wrapping_add(1);
    p.syscalltick.store(t, Ordering::Relaxed);
    m.set_p(None);
    owner_enter(&p.owner, m.id + 1);
    // N1–N2 of sysmon.rs: a napping sysmon must see this syscall.
    asym::light();
    m.shared.sysmon.wake_if_napping();
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

/// Step U2 on the M's count `calls` (even: the M runs user code) and the
/// P's word and `retaking` flag: true if the P is ours until U3, false if
/// sysmon took it.
///
/// The word is read after the flag: a flag read as clear may be sysmon's
/// clear after a retake it decided before our store (its second look
/// missed it), and the Acquire on the flag then shows the word it left.
#[inline]
pub(crate) fn user_claim(
    owner: &AtomicUsize,
    calls: &AtomicUsize,
    retaking: &AtomicBool,
    mine: usize,
) -> bool {
    let c = calls.load(Ordering::Relaxed);
    debug_assert!(c & 1 == 0, "a claim from runtime code");
    calls.store(c + 1, Ordering::Relaxed);
    asym::light();
    if retaking.load(Ordering::Acquire) {
        user_claim_settle(retaking);
    }
    owner.load(Ordering::Acquire) == mine | IN_USER
}

/// Step U2 when `retaking` was set: waits for sysmon's decision (a fence
/// and a CAS away).
#[cold]
#[inline(never)]
fn user_claim_settle(retaking: &AtomicBool) {
    while retaking.load(Ordering::Acquire) {
        crate::loom::spin_loop();
        #[cfg(loom)]
        loom::thread::yield_now();
    }
}

/// Step U3: the G goes back to user code; the M's count, odd since U2,
/// becomes even (`c + 2` for the `c` U2 saw).
#[inline]
pub(crate) fn user_return(calls: &AtomicUsize) {
    let c = calls.load(Ordering::Relaxed);
    debug_assert!(c & 1 == 1, "U3 without U2");
    calls.store(c + 1, Ordering::Release);
}

/// Step U4 (sysmon): the word `seen` (with `IN_USER`) and the M's count
/// `count` (even) have stood still for 10 ms. True if the P is now
/// sysmon's to hand off.
pub(crate) fn user_retake(
    owner: &AtomicUsize,
    calls: &AtomicUsize,
    retaking: &AtomicBool,
    seen: usize,
    count: usize,
) -> bool {
    debug_assert!(seen & IN_USER != 0 && count & 1 == 0);
    retaking.store(true, Ordering::Relaxed);
    let took = asym::heavy() && calls.load(Ordering::Relaxed) == count && owner_retake(owner, seen);
    retaking.store(false, Ordering::Release);
    took
}

/// The asymmetric fence pair of steps U2 and U4.
pub(crate) mod asym {
    #[cfg(not(loom))]
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Set once `membarrier` is registered for the process: `light` is then
    /// a compiler fence. Set before any runtime thread starts (`register`
    /// runs as a runtime is built, before its Ms and sysmon exist), never
    /// cleared.
    #[cfg(not(loom))]
    static EXPEDITED: AtomicBool = AtomicBool::new(false);

    /// Registers the process for `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (once;
    /// later calls return at once). Without it both fences stay full ones.
    #[cfg(not(loom))]
    pub(crate) fn register() {
        ONCE.call_once(|| {
            const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
            // SAFETY: membarrier takes a command and two integer flags; it
            // touches no memory of ours.
            let r =
                unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0, 0) };
            if r == 0 {
                EXPEDITED.store(true, Ordering::Relaxed);
            }
        });
    }

    #[cfg(not(loom))]
    static ONCE: std::sync::Once = std::sync::Once::new();

    /// Keeps both fences full ones for the life of the process, as on a
    /// kernel without membarrier (for tests of that path). Effective only
    /// before the process's first runtime is built.
    #[cfg(not(loom))]
    pub(crate) fn never_register() {
        ONCE.call_once(|| {});
    }

    /// Whether `light` is a compiler fence (membarrier registered).
    #[cfg(not(loom))]
    pub(crate) fn expedited() -> bool {
        EXPEDITED.load(Ordering::Relaxed)
    }

    /// Under loom both fences are modelled `fence(SeqCst)`s.
    #[cfg(loom)]
    pub(crate) fn register() {}

    #[cfg(loom)]
    pub(crate) fn never_register() {}

    #[cfg(loom)]
    pub(crate) fn expedited() -> bool {
        false
    }

    /// The M's side (step U2).
    #[inline(always)]
    pub(crate) fn light() {
        #[cfg(not(loom))]
        if EXPEDITED.load(Ordering::Relaxed) {
            std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
            return;
        }
        crate::loom::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// sysmon's side (step U4). False if the barrier could not be had
    /// (membarrier failed after its registration, which the man page does
    /// not foresee): sysmon then gives the retake up rather than race.
    pub(crate) fn heavy() -> bool {
        #[cfg(not(loom))]
        if EXPEDITED.load(Ordering::Relaxed) {
            const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
            // SAFETY: as in `register`.
            let r = unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0, 0) };
            return r == 0;
        }
        crate::loom::fence(std::sync::atomic::Ordering::SeqCst);
        true
    }
}

/// Steps 3 and 4 (on drop, so a panic in `f` gives the P back too).
struct ExitGuard {
    m: &'static M,
    /// The P kept through the call (None for `syscall_blocking`).
    p: Option<&'static P>,
    /// The call was made from user code (a U2 claim): U3 on the way out.
    user: bool,
    /// The word's flag before step 1 (`IN_USER` or 0), restored by step 3.
    back: usize,
}

impl Drop for ExitGuard {
    #[inline]
    fn drop(&mut self) {
        let m = self.m;
        let back = self.back;
        if let Some(p) = self.p {
            if owner_exit_fast(&p.owner, m.id + 1, back) {
                m.set_p(Some(p));
                if self.user {
                    user_return(&m.calls); // U3 for the claim `on_g_with_p` made
                }
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
    // An M handed a P as a new spinner (`startm`) may meet a waiter before
    // it looks for work: it stops counting as spinning before it idles, or
    // the count stays up with no M spinning and `wakep` wakes no one for
    // work queued later.
    super::handoff::stop_spinning(m);
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

    /// N1–N2 of sysmon.rs: an M enters a syscall while sysmon decides to
    /// nap. Either sysmon sees the syscall (and does not nap) or the M sees
    /// `napping` (and wakes it): a syscall never waits out a whole nap.
    #[test]
    fn loom_syscall_entry_wakes_a_napping_sysmon() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1)); // held by M 0, runtime code
            let napping = Arc::new(AtomicBool::new(false));
            let m = loom::thread::spawn({
                let (owner, napping) = (owner.clone(), napping.clone());
                move || {
                    owner_enter(&owner, 1); // N1
                    asym::light();
                    napping.load(Ordering::Relaxed) // N2
                }
            });
            napping.store(true, Ordering::SeqCst);
            assert!(asym::heavy());
            let sees = owner.load(Ordering::SeqCst) & IN_SYSCALL != 0;
            let wakes = m.join().unwrap();
            assert!(
                sees || wakes,
                "sysmon naps through a syscall nobody told it of"
            );
        });
    }

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

    /// Step U2 as `M::held` makes it: the claim, and the wait for sysmon's
    /// decision if it is deciding. None: the P is gone.
    fn claim(owner: &AtomicUsize, calls: &AtomicUsize, retaking: &AtomicBool) -> bool {
        user_claim(owner, calls, retaking, 1)
    }

    /// Step U4 as sysmon makes it on one look: a word in user state with
    /// an even count, then the fence and the second look.
    fn sysmon_look(owner: &AtomicUsize, calls: &AtomicUsize, retaking: &AtomicBool) -> bool {
        let seen = owner.load(Ordering::Acquire);
        if seen & IN_SYSCALL != 0 {
            return owner_retake(owner, seen);
        }
        let count = calls.load(Ordering::Acquire);
        seen & IN_USER != 0 && count & 1 == 0 && user_retake(owner, calls, retaking, seen, count)
    }

    /// Steps U1–U4: a G in user code makes two runtime calls (U2 ... U3)
    /// while sysmon retakes the P it saw in user code. The fences make a
    /// Dekker pair: sysmon never wins while a call is inside (between U2
    /// and U3); a call that finds the P gone means sysmon has it; the word
    /// ends as 0 iff sysmon took it.
    #[test]
    fn loom_user_runtime_call_races_retake() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1)); // held by M 0 (g0)
            let calls = Arc::new(AtomicUsize::new(1)); // g0: runtime code
            let retaking = Arc::new(AtomicBool::new(false));
            owner_user_enter(&owner, 1); // U1: the G runs
            user_return(&calls);
            let inside = Arc::new(AtomicBool::new(false));
            let t = loom::thread::spawn({
                let (owner, calls, retaking, inside) = (
                    owner.clone(),
                    calls.clone(),
                    retaking.clone(),
                    inside.clone(),
                );
                move || {
                    let took = sysmon_look(&owner, &calls, &retaking);
                    if took {
                        assert!(!inside.load(Ordering::Relaxed), "retaken inside a call");
                    }
                    took
                }
            });
            let mut lost = false;
            for _ in 0..2 {
                if !claim(&owner, &calls, &retaking) {
                    lost = true;
                    break;
                }
                inside.store(true, Ordering::Relaxed);
                assert_eq!(owner.load(Ordering::Relaxed), 1 | IN_USER);
                inside.store(false, Ordering::Relaxed);
                user_return(&calls);
            }
            let s_has = t.join().unwrap();
            assert!(!lost || s_has, "a call found the P gone: sysmon has it");
            let w = owner.load(Ordering::Relaxed);
            if s_has {
                assert_eq!(w, 0);
            } else {
                assert_eq!(w, 1 | IN_USER);
                assert_eq!(calls.load(Ordering::Relaxed), 6, "two calls counted");
            }
            if !lost {
                assert_eq!(calls.load(Ordering::Relaxed), 6, "two calls counted");
            }
        });
    }

    /// A syscall made from user code (U2, then 1, then 3 back to `IN_USER`)
    /// while sysmon retakes whatever it saw: a lost exit means sysmon has
    /// the P, and the word ends as 0 iff it does.
    #[test]
    fn loom_user_then_syscall_races_retake() {
        loom::model(|| {
            let owner = Arc::new(AtomicUsize::new(1));
            let calls = Arc::new(AtomicUsize::new(0));
            let retaking = Arc::new(AtomicBool::new(false));
            owner_user_enter(&owner, 1);
            let t = loom::thread::spawn({
                let (owner, calls, retaking) = (owner.clone(), calls.clone(), retaking.clone());
                move || sysmon_look(&owner, &calls, &retaking)
            });
            let claimed = claim(&owner, &calls, &retaking);
            let m_kept = claimed && {
                owner_enter(&owner, 1);
                owner_exit_fast(&owner, 1, IN_USER)
            };
            let s_has = t.join().unwrap();
            assert!(m_kept != s_has, "the P must have exactly one holder: claimed {claimed} kept {m_kept} sysmon {s_has}");
            let w = owner.load(Ordering::Relaxed);
            assert_eq!(w, if s_has { 0 } else { 1 | IN_USER });
        });
    }
}
