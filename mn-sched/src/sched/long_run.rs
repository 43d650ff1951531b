//! Long runs: a G that computes for milliseconds while a P idles, and the
//! waiting-aside sleeper's look at the held Ps (is one stuck behind such
//! a G?).
//!
//! mn holds its idle threads back to save wake-ups. While no CPU is spare
//! (spare.rs) the idle sleeper waits aside on its futex instead of in
//! epoll (netpoll/mod.rs), and readiness waits for a running M to poll
//! it; Gs queued on a P wait for its M, a helper held back (ready.rs); and
//! the sleeper that takes a P for what its poll readied leaves nobody in
//! epoll until an M idles again. That is right while the running Ms
//! switch Gs often (an echo server: a burst of short Gs, then a poll). It
//! is wrong when a G
//! computes for milliseconds without a switch: the readiness that comes
//! meanwhile and the Gs queued behind it wait for the whole computation,
//! while a P idles — the case work stealing exists for. Go never holds
//! back (a spinning M is woken whenever work is queued and a P idles), so
//! there a cheap request beside a 4 ms handler is answered at once.
//!
//! What mn does instead, once it has seen a *long run* — a G computing
//! in user code for [`LONG_RUN`] with no switch and no runtime call, its
//! thread on a CPU (sysmon watches for them: sysmon.rs `watch_long_run`)
//! — and for a second after (spare.rs `long_runs_lately`):
//!
//! * The sleeper that takes a P to run what its poll readied hands its
//!   post to an idle M while a P idles (timer.rs `pass_sleeper_post`):
//!   someone keeps watching the network while it runs them. sysmon does
//!   the same when it sees a long run with the post vacant.
//! * The sleeper counts the CPU it runs on as its own when it asks whether
//!   one is spare (spare.rs `Asker::Itself`), so beside one computing M on
//!   two CPUs it waits in epoll, not aside.
//! * A sleeper that still waits aside looks at the held Ps every
//!   [`LOOK_EVERY`] (this module): a P whose schedule tick has not moved
//!   since the last look, whose M is not in a syscall (sysmon's business)
//!   and whose thread used at least half the interval's CPU time (it
//!   computes; it is not merely descheduled on a machine whose CPUs are
//!   all busy, where a helper would only take a CPU from a running
//!   thread), is *stuck*. The sleeper then stops waiting aside: it wakes a
//!   helper for the stuck P's queue, if there is one, and waits in epoll.
//!
//! Where every G runs briefly (an echo server) none of this happens, and
//! none of its wake-ups are paid for. The figures, with the imbalance
//! example and the echo server beside it, are in docs/perf-journal.md.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::m::{thread_cpu_time, M};
use super::syscall::{ID_MASK, IN_SYSCALL};
use super::Shared;

/// How often the aside sleeper looks at the Ps: a G quiet for this long
/// (and up to twice it) is found stuck.
pub(crate) const LOOK_EVERY: Duration = Duration::from_millis(1);

/// A run this long with no switch is a long run (spare.rs
/// `note_long_run`).
pub(crate) const LONG_RUN: Duration = LOOK_EVERY;

/// One held P as a look saw it.
struct Held {
    /// Index in `Shared::ps`.
    p: usize,
    /// The holding M's owner-word id (its id + 1), and the M.
    id: usize,
    m: Arc<M>,
    /// `P::tick` then.
    tick: u32,
    /// The holder's thread CPU clock then (`None`: not readable).
    cpu: Option<Duration>,
}

/// What one look saw of the held Ps, and when.
pub(crate) struct Look {
    at: Instant,
    held: Vec<Held>,
}

impl Look {
    /// Looks at every P now; the Ms the previous look found are reused
    /// (finding an M by id takes the thread list's lock).
    pub(crate) fn take(shared: &Shared, prev: Option<&Look>) -> Self {
        let at = Instant::now();
        let held = shared
            .ps
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let owner = p.owner.load(Relaxed);
                if owner == 0 || owner & IN_SYSCALL != 0 {
                    return None;
                }
                let id = owner & ID_MASK;
                let known = prev.and_then(|l| l.held.iter().find(|h| h.id == id));
                let m = match known {
                    Some(h) => h.m.clone(),
                    None => shared.threads.find(id.checked_sub(1)?)?,
                };
                Some(Held {
                    p: i,
                    id,
                    tick: p.tick.load(Relaxed),
                    cpu: cpu_time(&m),
                    m,
                })
            })
            .collect();
        Self { at, held }
    }

    /// The first P that, since this look, has stayed with the same M on
    /// the same G, outside syscalls, while that M's thread computed for at
    /// least half the interval.
    pub(crate) fn stuck(&self, shared: &Shared) -> Option<usize> {
        let wall = self.at.elapsed();
        self.held.iter().find_map(|h| {
            let p = &shared.ps[h.p];
            let owner = p.owner.load(Relaxed);
            let same = owner & ID_MASK == h.id
                && owner & IN_SYSCALL == 0
                && p.tick.load(Relaxed) == h.tick;
            if !same {
                return None;
            }
            let used = cpu_time(&h.m)?.checked_sub(h.cpu?)?;
            computing(used, wall).then_some(h.p)
        })
    }
}

/// Whether a thread that used `cpu` of `wall` computes: at least half.
fn computing(cpu: Duration, wall: Duration) -> bool {
    cpu * 2 >= wall
}

/// The thread CPU time of `m`.
fn cpu_time(m: &M) -> Option<Duration> {
    thread_cpu_time(m.cpu_clock.load(Relaxed))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::computing;
    use std::time::Duration;

    #[test]
    fn half_the_wall_time_is_computing() {
        let ms = Duration::from_millis;
        assert!(computing(ms(1), ms(1)));
        assert!(computing(Duration::from_micros(500), ms(1)));
        assert!(!computing(Duration::from_micros(400), ms(1)));
        assert!(!computing(Duration::ZERO, ms(2)));
    }
}
