//! A G's status word and the park/wake protocol, Go's order.
//!
//! ```text
//!   spawn              execute
//!   ─────► RUNNABLE ─────────────► RUNNING ───── exit ─────► DEAD
//!             ▲                     │ ▲  │
//!             │             yield:  └─┘  │ park: switch to g0 first, then
//!             │     back in a queue,     │ CAS RUNNING → WAITING (fails if
//!             │       still RUNNING      │ NOTIFIED: the G runs on at once)
//!             │                          ▼
//!             └──── unpark: CAS ────── WAITING
//!                   WAITING → RUNNABLE,
//!                   then enqueue
//! ```
//!
//! Park, in Go's order:
//!
//! 1. The G decides to wait (it has registered a waker somewhere, e.g. in a
//!    channel's wait list) and switches to its M's scheduler stack.
//! 2. Only then, on g0, the M publishes the G as waiting: CAS RUNNING →
//!    WAITING ([`State::commit_park`]). Publishing earlier would let a waker
//!    enqueue the G, and another M resume it, while its registers are still
//!    being saved on the first M.
//! 3. If the CAS fails, a wake came between 1 and 2: it set NOTIFIED on the
//!    running G. The park is cancelled (NOTIFIED cleared) and the M switches
//!    straight back to the G.
//!
//! Unpark ([`State::unpark`]): a WAITING G is CASed to RUNNABLE and the waker
//! (the one whose CAS won) enqueues it; a RUNNING or RUNNABLE G only gets
//! NOTIFIED, so a wake is never lost and waking an already-runnable G is
//! harmless; a DEAD G is left alone. Like `std::thread::park`, a park may also
//! return without a matching wake ("spurious"): every caller parks in a loop
//! around its own condition.
//!
//! Every change of the word is a read-modify-write, so the chain of RMWs is
//! one release sequence: whoever moves the G on (the M that resumes it after
//! `start_running`) synchronizes with every waker that touched it before.
//!
//! **A park on the thread.** Inside `syscall(f)` the G has no P to switch
//! back to (sched/syscall.rs), so a park there sleeps on the OS thread
//! instead (g/run.rs `thread_park`): the G stays RUNNING, sets
//! THREAD_PARKED (CAS RUNNING → RUNNING | THREAD_PARKED, which fails if a
//! wake came first: NOTIFIED is then consumed and the park returns), and
//! waits on a futex over this very word. A waker that adds NOTIFIED to a
//! word with THREAD_PARKED follows its CAS with a futex wake, so the
//! sleeper sees the word change; the sleeper clears both bits as it
//! returns. The word stays RUNNING throughout, so no waker ever enqueues
//! the G: it never left its thread.
//!
//! A yield is not a wait: the yielding G goes back to a run queue still
//! RUNNING, and `start_running` leaves it so. Nothing needs to tell a
//! yielded G from a running one (a wake while it is queued sets NOTIFIED,
//! which at worst makes its next park return at once, and that park's CAS
//! then synchronizes with the waker), and it spares each yield two atomic
//! read-modify-writes.

use crate::loom::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// In a run queue (or about to be), or created and not yet run.
pub(crate) const RUNNABLE: u32 = 0;
/// On an M.
pub(crate) const RUNNING: u32 = 1;
/// Parked: not in any queue; a wake makes it RUNNABLE.
pub(crate) const WAITING: u32 = 2;
/// Finished; its stack is gone.
pub(crate) const DEAD: u32 = 3;
/// Mask of the status bits.
const STATUS: u32 = 3;
/// A wake arrived while the G was not WAITING.
pub(crate) const NOTIFIED: u32 = 4;
/// The RUNNING G sleeps on its own thread (a park inside `syscall`): a
/// wake must also wake the thread (module doc).
pub(crate) const THREAD_PARKED: u32 = 8;

/// The status word of one G.
#[derive(Debug)]
pub(crate) struct State(AtomicU32);

impl State {
    /// A new G: runnable, not notified.
    pub(crate) fn new() -> Self {
        Self(AtomicU32::new(RUNNABLE))
    }

    /// The status bits (for assertions, stats and shutdown sweeps).
    pub(crate) fn status(&self) -> u32 {
        self.0.load(Acquire) & STATUS
    }

    /// M, before switching to a G taken from a queue: RUNNABLE → RUNNING,
    /// consuming a NOTIFIED that came while it was queued (this run is the
    /// one that follows the wake). A G that yielded is still RUNNING (see
    /// the module doc) and is left as it is.
    pub(crate) fn start_running(&self) {
        if self.0.load(Relaxed) & STATUS == RUNNING {
            return;
        }
        let prev = self.0.swap(RUNNING, AcqRel);
        debug_assert_eq!(
            prev & STATUS,
            RUNNABLE,
            "start_running on a G that was not runnable"
        );
    }

    /// M on g0, step 2 of park: RUNNING → WAITING. Returns false if a wake
    /// came first (step 3): the G is left RUNNING, not notified.
    pub(crate) fn commit_park(&self) -> bool {
        match self.0.compare_exchange(RUNNING, WAITING, AcqRel, Acquire) {
            Ok(_) => true,
            Err(cur) => {
                debug_assert_eq!(cur, RUNNING | NOTIFIED, "park of a G that was not running");
                self.0.swap(RUNNING, AcqRel);
                false
            }
        }
    }

    /// Waker: returns true if the caller moved the G WAITING → RUNNABLE and
    /// must now enqueue it; otherwise the wake was recorded (or not needed).
    pub(crate) fn unpark(&self) -> bool {
        let mut cur = self.0.load(Acquire);
        loop {
            let next = match cur & STATUS {
                WAITING => RUNNABLE,
                DEAD => return false,
                _ if cur & NOTIFIED != 0 => return false,
                _ => cur | NOTIFIED,
            };
            match self.0.compare_exchange(cur, next, AcqRel, Acquire) {
                Ok(_) => {
                    if cur & THREAD_PARKED != 0 {
                        self.wake_thread();
                    }
                    return next == RUNNABLE;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// The running G, right before an async poll that follows a yield
    /// (async tasks, aio/task.rs): drops a NOTIFIED that the poll will observe
    /// anyway (the wake happened before the poll starts), so the next park
    /// really parks instead of returning at once.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn clear_notified(&self) {
        self.0.fetch_and(!NOTIFIED, AcqRel);
    }

    /// The running G, about to sleep on its thread (module doc): true if
    /// it may sleep (THREAD_PARKED set); false if a wake came first (its
    /// NOTIFIED is consumed: the park returns at once).
    pub(crate) fn begin_thread_park(&self) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, RUNNING | THREAD_PARKED, AcqRel, Acquire)
        {
            Ok(_) => true,
            Err(cur) => {
                debug_assert_eq!(cur, RUNNING | NOTIFIED, "thread park of a G not running");
                self.0.swap(RUNNING, AcqRel);
                false
            }
        }
    }

    /// The sleeper of `begin_thread_park`: whether it must sleep on (no
    /// wake yet: the word still reads RUNNING | THREAD_PARKED).
    pub(crate) fn thread_parked(&self) -> bool {
        self.0.load(Acquire) == RUNNING | THREAD_PARKED
    }

    /// The sleeper, done: clears THREAD_PARKED and the wake's NOTIFIED.
    pub(crate) fn end_thread_park(&self) {
        self.0.swap(RUNNING, AcqRel);
    }

    /// Whether the G sleeps on its thread now (the shutdown sweep wakes
    /// it like a WAITING G).
    pub(crate) fn is_thread_parked(&self) -> bool {
        self.0.load(Acquire) & THREAD_PARKED != 0
    }

    /// Sleeps while the word reads RUNNING | THREAD_PARKED (or returns
    /// spuriously). Under loom, a yield: the model checks the bits, not the
    /// futex.
    pub(crate) fn sleep_thread(&self) {
        #[cfg(not(loom))]
        crate::sched::note::futex_wait(&self.0, RUNNING | THREAD_PARKED, None);
        #[cfg(loom)]
        loom::thread::yield_now();
    }

    /// A waker that set NOTIFIED over THREAD_PARKED wakes the sleeper.
    fn wake_thread(&self) {
        #[cfg(not(loom))]
        crate::sched::note::futex_wake(&self.0);
    }

    /// M on g0 after the G's last switch: → DEAD.
    pub(crate) fn exit(&self) {
        self.0.swap(DEAD, AcqRel);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use std::sync::atomic::Ordering::{Relaxed, Release};

    /// A G checks an event and parks if it has not happened; a waker sets the
    /// event and unparks. In every interleaving the G either sees the event,
    /// has its park cancelled (and then sees the event), or is enqueued.
    #[test]
    fn loom_park_wake_no_lost_wakeup() {
        loom::model(|| {
            let state = Arc::new(State::new());
            state.start_running();
            let event = Arc::new(AtomicBool::new(false));
            let enqueued = Arc::new(AtomicBool::new(false));
            let waker = {
                let (state, event, enqueued) = (state.clone(), event.clone(), enqueued.clone());
                loom::thread::spawn(move || {
                    event.store(true, Release);
                    if state.unpark() {
                        enqueued.store(true, Relaxed);
                    }
                })
            };
            // The G: check, then park (switch to g0, which commits the park).
            let saw_event = event.load(Acquire);
            let parked = !saw_event && state.commit_park();
            if !saw_event && !parked {
                // Park cancelled by NOTIFIED: the event must now be visible.
                assert!(event.load(Acquire), "cancelled park without the event");
            }
            waker.join().unwrap();
            if parked {
                assert!(enqueued.load(Relaxed), "G parked and never enqueued");
                assert_eq!(state.status(), RUNNABLE);
            } else {
                assert!(!enqueued.load(Relaxed), "running G enqueued twice");
            }
        });
    }

    /// The async tasks' yield path: a wake lands while the G is queued after a
    /// yield (NOTIFIED); the G clears NOTIFIED, polls (reads the event),
    /// and parks if it saw nothing. The event is seen, or the park is
    /// cancelled, or the waker enqueues the parked G.
    #[test]
    fn loom_clear_notified_before_poll() {
        loom::model(|| {
            let state = Arc::new(State::new());
            state.start_running();
            let event = Arc::new(AtomicBool::new(false));
            let enqueued = Arc::new(AtomicBool::new(false));
            let waker = {
                let (state, event, enqueued) = (state.clone(), event.clone(), enqueued.clone());
                loom::thread::spawn(move || {
                    event.store(true, Release);
                    if state.unpark() {
                        enqueued.store(true, Relaxed);
                    }
                })
            };
            state.clear_notified();
            let saw_event = event.load(Acquire);
            let parked = !saw_event && state.commit_park();
            if !saw_event && !parked {
                assert!(event.load(Acquire), "cancelled park without the event");
            }
            waker.join().unwrap();
            if parked {
                assert!(enqueued.load(Relaxed), "G parked and never enqueued");
            }
        });
    }

    /// A park on the thread (inside `syscall`): the G checks an event and
    /// sleeps on its word unless a wake came first; a waker sets the event
    /// and unparks. The G never sleeps through the wake, always sees the
    /// event, and is never enqueued (it never left its thread).
    #[test]
    fn loom_thread_park_no_lost_wakeup() {
        loom::model(|| {
            let state = Arc::new(State::new());
            state.start_running();
            let event = Arc::new(AtomicBool::new(false));
            let waker = {
                let (state, event) = (state.clone(), event.clone());
                loom::thread::spawn(move || {
                    event.store(true, Release);
                    assert!(!state.unpark(), "a thread-parked G was enqueued");
                })
            };
            if !event.load(Acquire) {
                if state.begin_thread_park() {
                    while state.thread_parked() {
                        state.sleep_thread();
                    }
                    state.end_thread_park();
                }
                assert!(event.load(Acquire), "woke without the event");
            }
            waker.join().unwrap();
            assert_eq!(state.status(), RUNNING);
            assert!(!state.is_thread_parked());
        });
    }

    /// Two wakers racing for one parked G: exactly one enqueues it.
    #[test]
    fn loom_park_two_wakers_enqueue_once() {
        loom::model(|| {
            let state = Arc::new(State::new());
            state.start_running();
            assert!(state.commit_park());
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let state = state.clone();
                    loom::thread::spawn(move || state.unpark())
                })
                .collect();
            let n = wakers
                .into_iter()
                .map(|w| w.join().unwrap())
                .filter(|&b| b)
                .count();
            assert_eq!(n, 1);
            // The second wake left a NOTIFIED on the runnable G: the next run
            // consumes it, so the next park really parks.
            state.start_running();
            assert!(state.commit_park());
        });
    }
}
