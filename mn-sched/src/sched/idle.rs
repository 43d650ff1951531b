//! Idle Ps and spinning Ms: the counters, and the protocol that keeps a
//! runnable G from waiting while a P idles.
//!
//! The race: an M that found nothing to run stops spinning at the very
//! moment a G makes another G runnable. If each assumes the other will act,
//! the new G waits with a P idle (Go's "semi-persistent CPU
//! underutilization").
//!
//! Submitter (a G put in a P's ring: spawn, a displaced runnext, a yield):
//!
//! * S1. Publish the G in the ring (release store of the ring's tail).
//! * S2. Full fence (SeqCst): S1's store is ordered before S3's loads.
//! * S3. If `npidle > 0` and `nmspinning == 0`: CAS `nmspinning` 0 → 1 and
//!   start a spinning M on an idle P ([`Idle::submitted`] then `startm`).
//!
//! Spinning M that found nothing (`find.rs`):
//!
//! * D1. Release its P to the idle list (`npidle += 1`), under the sched lock
//!   and after checking the global queue under that same lock.
//! * D2. `nmspinning -= 1`, then a full fence ([`Idle::stop_spinning`]).
//! * D3. Load every P's ring again; if one has work, take an idle P back,
//!   spin again (`nmspinning += 1`) and start over. Only rings count, not
//!   `runnext`: a G in `runnext` was put there without a wake-up (see below)
//!   and its P's owner runs it next; a spinner that has just failed to take
//!   it (runq.rs rule 4) would otherwise take a P back and spin again for
//!   as long as the owner keeps refilling `runnext` (a spawn loop).
//!
//! With both fences, either D3's loads see S1's G, or S3's loads see D1 and
//! D2 (`npidle > 0`, `nmspinning == 0`) and the submitter starts an M: the
//! G is never left behind an idle P. `loom_spinning_no_lost_work` checks it
//! on this very code. The global queue: pushes to it take the sched lock,
//! which D1 holds while it checks the queue and idles the P; but a push
//! between D1 and D2 finds `nmspinning != 0` and wakes no one, so D3 also
//! loads `global_len` (stored SeqCst by every push) — found by the async
//! tasks' test `wake_before_park_is_not_lost`, where a G spawned from a plain thread
//! sat in the global queue behind two sleeping Ms.
//!
//! Only one M is woken per submission (S3's CAS); a spinning M that finds
//! work stops spinning and, if it was the last spinner, wakes one more (so a
//! burst fans out one M at a time), and at most half the busy Ps' worth of
//! Ms spin at once ([`Idle::may_spin`]).
//!
//! Rejected: waking an M on every wake-up. Go does (wakep after readying into
//! runnext); but a G readied into `runnext` is not stealable early (runq.rs,
//! rule 4), so the wake buys nothing and costs a futex wake per channel
//! operation of a ping-pong pair. Here a G readied into `runnext` wakes no
//! one; only a G that lands in the stealable ring does.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use crate::loom::{fence, AtomicUsize};

/// The counters of the protocol.
#[derive(Debug)]
pub(crate) struct Idle {
    /// Ps on the idle list (changed under the sched lock, read anywhere).
    npidle: AtomicUsize,
    /// Ms spinning: looking for work while holding a P, before parking.
    nmspinning: AtomicUsize,
}

impl Idle {
    /// Counters for a runtime whose `npidle` Ps all start idle.
    pub(crate) fn new(npidle: usize) -> Self {
        Self {
            npidle: AtomicUsize::new(npidle),
            nmspinning: AtomicUsize::new(0),
        }
    }

    /// S2–S3: after publishing a G; true if the caller must start a spinning
    /// M (already counted in `nmspinning`).
    pub(crate) fn submitted(&self) -> bool {
        fence(SeqCst);
        if self.npidle.load(SeqCst) == 0 || self.nmspinning.load(SeqCst) != 0 {
            return false;
        }
        self.nmspinning
            .compare_exchange(0, 1, SeqCst, Relaxed)
            .is_ok()
    }

    /// Counts a new spinning M if none spins (`handoffp`'s "our help is
    /// needed" case); true if the caller must start it.
    pub(crate) fn claim_spinner(&self) -> bool {
        self.nmspinning
            .compare_exchange(0, 1, SeqCst, Relaxed)
            .is_ok()
    }

    /// Whether one more M may start spinning: at most half the busy Ps.
    pub(crate) fn may_spin(&self, nprocs: usize) -> bool {
        let busy = nprocs.saturating_sub(self.npidle.load(Relaxed));
        2 * self.nmspinning.load(Relaxed) < busy
    }

    /// An M starts spinning.
    pub(crate) fn start_spinning(&self) {
        self.nmspinning.fetch_add(1, SeqCst);
    }

    /// D2: an M stops spinning; true if it was the last one.
    pub(crate) fn stop_spinning(&self) -> bool {
        let last = self.nmspinning.fetch_sub(1, SeqCst) == 1;
        fence(SeqCst);
        last
    }

    /// Whether no M spins and no P idles.
    pub(crate) fn none_spinning_or_idle(&self) -> bool {
        self.nmspinning.load(SeqCst) == 0 && self.npidle.load(SeqCst) == 0
    }

    /// D1 (under the sched lock): a P joined the idle list.
    pub(crate) fn p_idled(&self) {
        self.npidle.fetch_add(1, SeqCst);
    }

    /// A P left the idle list (under the sched lock).
    pub(crate) fn p_taken(&self) {
        self.npidle.fetch_sub(1, SeqCst);
    }

    /// Whether all `nprocs` Ps idle (SeqCst: the aside Dekker of
    /// netpoll/mod.rs).
    pub(crate) fn all_idle(&self, nprocs: usize) -> bool {
        self.npidle.load(SeqCst) == nprocs
    }

    /// Idle Ps (a snapshot, for stats).
    pub(crate) fn npidle(&self) -> usize {
        self.npidle.load(Relaxed)
    }

    /// Spinning Ms (a snapshot).
    pub(crate) fn nmspinning(&self) -> usize {
        self.nmspinning.load(Relaxed)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sched::runq::RunQueue;
    use loom::sync::Arc;
    use std::ptr::NonNull;

    /// The aside handshake of netpoll/mod.rs: the sleeper announces it
    /// waits aside (A1) and looks for a held P (A2) while the M holding
    /// the last one idles it (I1) and looks for the announcement (I2).
    /// Either the sleeper sees every P idle (and waits in epoll) or the M
    /// sees it aside and wakes it: never a sleeper aside with no P held.
    #[test]
    fn loom_aside_sleeper_is_kicked_when_the_last_p_idles() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1)); // of 2 Ps, one idle
            let aside = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let idler = loom::thread::spawn({
                let (idle, aside) = (idle.clone(), aside.clone());
                move || {
                    idle.p_idled(); // I1
                    fence(SeqCst);
                    aside.load(SeqCst) && idle.all_idle(2) // I2
                }
            });
            aside.store(true, SeqCst); // A1
            fence(SeqCst);
            let waits_aside = !idle.all_idle(2); // A2
            let kicked = idler.join().unwrap();
            assert!(
                !waits_aside || kicked,
                "the sleeper waits aside with every P idle and nobody woke it"
            );
        });
    }

    /// A submitter pushes a G into its P's ring while the only spinning M
    /// (whose P holds nothing) gives up: D1–D3 against S1–S3. Either the M's
    /// re-check finds the G or the submitter decides to start an M.
    #[test]
    fn loom_spinning_no_lost_work() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(0));
            idle.start_spinning();
            let ring = Arc::new(RunQueue::<u8>::new());
            let spinner = loom::thread::spawn({
                let (idle, ring) = (idle.clone(), ring.clone());
                move || {
                    idle.p_idled(); // D1
                    idle.stop_spinning(); // D2
                    !ring.ring_is_empty() // D3
                }
            });
            let mut g = 7u8;
            // SAFETY: this thread owns `ring`; the item is never dereferenced.
            unsafe { ring.push_back(NonNull::from(&mut g), &mut |_| unreachable!()) }; // S1
            let woke = idle.submitted(); // S2–S3
            let found = spinner.join().unwrap();
            assert!(
                found || woke,
                "a runnable G was left with a P idle and no M looking"
            );
        });
    }

    /// The global-queue case: a push (SeqCst store of
    /// `global_len`, as `global_push` does) lands after the spinner's D1,
    /// so D1's locked check missed it; then D3's load of `global_len` or
    /// the pusher's S3 must catch it.
    #[test]
    fn loom_spinning_global_push_after_d1() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(0));
            idle.start_spinning();
            let global_len = Arc::new(AtomicUsize::new(0));
            let spinner = loom::thread::spawn({
                let (idle, global_len) = (idle.clone(), global_len.clone());
                move || {
                    idle.p_idled(); // D1 (the queue was empty under the lock)
                    idle.stop_spinning(); // D2
                    global_len.load(SeqCst) > 0 // D3, global part
                }
            });
            global_len.store(1, SeqCst); // global_push
            let woke = idle.submitted(); // wakep: S2–S3
            let found = spinner.join().unwrap();
            assert!(
                found || woke,
                "a G left in the global queue behind an idle P"
            );
        });
    }

    /// Two submitters race to wake the one idle P: only one starts an M.
    #[test]
    fn loom_spinning_one_wake_per_idle() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            let other = loom::thread::spawn({
                let idle = idle.clone();
                move || idle.submitted()
            });
            let a = idle.submitted();
            let b = other.join().unwrap();
            assert!(a ^ b, "exactly one submitter starts the spinning M");
        });
    }
}
