//! sysmon: a thread with no P that watches the Ps (Go's `sysmon`). Each
//! tick it retakes the P of an M that has stayed inside
//! [`syscall`](crate::syscall) across a whole tick (step 2 of syscall.rs)
//! and hands it to another M, so the P's other Gs keep running while the
//! call blocks its thread.
//!
//! Pacing: it sleeps 20 µs, doubling up to 1 ms while nothing needs
//! retaking, back to 20 µs after a retake or on first sight of a syscall. When every P is idle it sleeps
//! on a futex until a P is acquired again (`wake_if_sleeping`, called from
//! `acquire_p`).
//!
//! Naps: while the Ms keep the coarse clocks fresh themselves (an M that
//! polls the network moves them on; [`FRESH_TICKS`] ticks in a row must
//! find them moved by an M since sysmon's own tick) and there is nothing
//! to watch — no M inside a syscall, none without its P, none waiting for
//! one — sysmon sleeps up to [`NAP`] (10 ms, Go's longest sysmon sleep)
//! instead of 1 ms, on its futex, and still no later than the next
//! preemption deadline it knows of. An M entering a syscall wakes a napping sysmon
//! (N1 it stores `IN_SYSCALL`, a light fence, N2 it loads `napping`;
//! sysmon stores `napping`, runs the heavy fence and looks at every P
//! word before it naps), so a syscall's P is still retaken within a tick
//! or two. A run that begins during a nap is seen at its end: a G that
//! computes from then on is flagged after 10–20 ms instead of 10–11 (Go's
//! own bound). Under the W6 echo load (2 Ps, 1,000 connections) sysmon's
//! thousand wake-ups a second were about 2% of the server's CPU: each one
//! a timer interrupt and two thread switches.
//!
//! It holds only a weak reference to the runtime between ticks (and
//! naps); shutdown stops and joins it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::clock::{epoch, tick_coarse_clocks, CoarseMs};
use super::handoff::handoffp;
use super::m::{thread_cpu_time, M};
use super::note::Note;
use super::syscall::{owner_retake, user_retake, CALLS_MASK, ID_MASK, IN_SYSCALL, IN_USER};
use super::Shared;

/// Shortest sysmon sleep.
const MIN_TICK: Duration = Duration::from_micros(20);
/// Longest sysmon sleep while some P runs Gs.
const MAX_TICK: Duration = Duration::from_millis(1);
/// Longest nap (module doc).
const NAP: Duration = Duration::from_millis(10);
/// Ticks in a row (a nap counts as one) that must find the coarse clock
/// moved on by an M before sysmon naps.
const FRESH_TICKS: u32 = 3;

/// How long every P must have been idle, with no schedule on any of them,
/// before sysmon sleeps deeply (until a P is taken). Ps that flip between
/// idle and busy thousands of times a second (an echo server: each burst
/// of readiness is a few µs of work) would otherwise wake sysmon on every
/// flip — thousands of wake-ups a second under an echo load, each
/// a futex wake on the M taking the P and two thread switches. Until then
/// sysmon ticks as if a P ran (at most every `MAX_TICK`).
const DEEP_AFTER: Duration = Duration::from_millis(10);

/// Counters shown in `Stats`.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Ps handed to another M because their M entered a syscall
    /// (retakes plus `syscall_blocking` handoffs).
    pub(crate) handoffs: AtomicU64,
    /// Ps sysmon took from an M inside `syscall`.
    pub(crate) retakes: AtomicU64,
    /// Gs flagged for preemption (ran > 10 ms without a switch).
    pub(crate) preemptions: AtomicU64,
    /// Ms in `syscall_blocking` now (they hold no P).
    pub(crate) blocking_now: AtomicUsize,
    /// Ms whose P was retaken and that have not got one back yet.
    pub(crate) retaken_now: AtomicUsize,
    /// New Ms refused by the thread cap (the work waited).
    pub(crate) threads_capped: AtomicU64,
    /// Ps taken from a G in user code (step U4 of syscall.rs).
    pub(crate) user_retakes: AtomicU64,
    /// Ms whose P was taken in user code and that have not got one back.
    pub(crate) user_retaken_now: AtomicUsize,
    /// Ms without their P (either retake) whose thread computes, and those
    /// whose thread is blocked, at sysmon's last CPU-clock sample.
    pub(crate) without_p_computing: AtomicUsize,
    pub(crate) without_p_blocked: AtomicUsize,
    /// Times sysmon polled the network because nobody had for 10 ms.
    pub(crate) netpolls: AtomicU64,
}

/// What the runtime and the sysmon thread share.
#[derive(Debug, Default)]
struct Wake {
    /// Where sysmon sleeps deeply.
    note: Note,
    /// Set (SeqCst) before a deep sleep, cleared after.
    sleeping: AtomicBool,
    /// Set (SeqCst) before a nap (`NAP`), cleared after.
    napping: AtomicBool,
    /// Leave the loop.
    stop: AtomicBool,
}

/// The runtime's side of sysmon: its thread, its wake-up and its counters.
#[derive(Debug, Default)]
pub(crate) struct Sysmon {
    wake: Arc<Wake>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Counters for `Stats`.
    pub(crate) counts: Counts,
    /// Ms back from a syscall waiting for a P (addresses of `M`s, oldest
    /// first); see syscall.rs step 4.
    waiters: Mutex<std::collections::VecDeque<usize>>,
    /// `waiters.len()`, readable without the lock.
    pub(crate) waiting: AtomicUsize,
    /// The coarse millisecond clock (clock.rs), which sysmon moves on each
    /// time it looks.
    pub(super) coarse_ms: CoarseMs,
}

impl Sysmon {
    /// Whether sysmon sleeps deeply, or was woken and has not looked at the
    /// Ps yet: it would see a run that begins now late, so a switch-in
    /// records when its run began (`P::run_start`). One relaxed load.
    #[inline]
    pub(crate) fn catching_up(&self) -> bool {
        self.wake.sleeping.load(Ordering::Relaxed)
    }

    /// Wakes sysmon if it sleeps deeply (every P was idle); true if it
    /// did (the caller then moves the runtime's coarse clocks on:
    /// [`tick_coarse_clocks`]). One load when it does not.
    #[inline]
    pub(crate) fn wake_if_sleeping(&self) -> bool {
        if self.wake.sleeping.load(Ordering::SeqCst) {
            self.wake.note.wake();
            return true;
        }
        false
    }

    /// The coarse clock's milliseconds (clock.rs's [`CoarseMs`]).
    #[inline]
    pub(crate) fn coarse_ms(&self) -> u32 {
        self.coarse_ms.get()
    }

    /// N2 of the module doc: an M that just entered a syscall (N1) wakes
    /// a napping sysmon. One relaxed load when it does not nap.
    #[inline]
    pub(crate) fn wake_if_napping(&self) {
        if self.wake.napping.load(Ordering::Relaxed) {
            self.wake.note.wake();
        }
    }
}

impl Sysmon {
    /// The queue of Ms waiting for a P.
    pub(crate) fn lock_waiters(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::VecDeque<usize>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an M waiting for a P.
    pub(crate) fn push_waiter(&self, m: usize) {
        let mut w = self.lock_waiters();
        w.push_back(m);
        self.waiting.store(w.len(), Ordering::SeqCst);
    }

    /// Stops the thread and waits for it (shutdown step 4).
    pub(crate) fn stop_and_join(&self) {
        self.wake.stop.store(true, Ordering::SeqCst);
        self.wake.note.wake();
        let h = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }
}

impl Drop for Sysmon {
    fn drop(&mut self) {
        // The runtime is gone (possibly dropped on the sysmon thread
        // itself): tell the thread, never join here.
        self.wake.stop.store(true, Ordering::SeqCst);
        self.wake.note.wake();
    }
}

/// Starts the sysmon thread of `shared`. If the OS refuses a thread, the
/// runtime runs without one (a warning is printed): syscalls then keep
/// their P until they return.
pub(crate) fn start(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let wake = shared.sysmon.wake.clone();
    // The control signals' handlers are installed here, before the runtime
    // is handed to the program: a SIGQUIT or SIGUSR2 sent as soon as it runs
    // must not meet the default action (SIGUSR2's ends the process).
    let watch = super::observe::Watch::new(shared);
    let spawned = std::thread::Builder::new()
        .name("mn-sysmon".into())
        .spawn(move || run(&weak, &wake, watch));
    match spawned {
        Ok(h) => {
            // The coarse clocks start now, not at sysmon's first look: a G
            // may park (and be stamped) before it. (Without sysmon they stay
            // 0: no waiting times, timers by the 61-tick check.)
            tick_coarse_clocks(shared);
            *shared
                .sysmon
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(h);
        }
        Err(e) => rt_base::diag::line(&format!(
            "switchyard: could not start the mn sysmon thread ({e}); running without it"
        )),
    }
}

/// A G that runs this long without a switch is flagged for preemption.
const FORCE_PREEMPT: Duration = Duration::from_millis(10);

/// What sysmon remembers of one P between ticks.
#[derive(Clone, Default)]
struct Seen {
    /// `P::tick` at the last change sysmon saw, and when it saw it.
    tick: u32,
    since: Option<Instant>,
    /// The P was inside a syscall at the last tick...
    in_syscall: bool,
    /// ... with this `syscalltick`.
    syscalltick: u32,
    /// The G running since `since` was flagged for preemption.
    flagged: bool,
    /// The owner word at the last change sysmon saw, and when: in user
    /// state it changes at every runtime call (step U3 of syscall.rs).
    word: usize,
    word_since: Option<Instant>,
    /// The M's thread CPU time sampled during this quiet stretch (from
    /// `PROBE_AT` on), to tell computing from blocked from starved.
    probe: Option<Probe>,
    /// The M that held the P at the last look (its call count is read at
    /// every tick; looked up again when another M holds the P).
    m: Option<Weak<M>>,
    /// The long-run watch of this stretch in user code (`watch_long_run`):
    /// its M, that M's CPU clock and when it was read; a dead `Weak` once
    /// judged.
    long: Option<(Weak<M>, Duration, Instant)>,
}

/// One CPU-clock sample of the M running a quiet G.
#[derive(Clone)]
struct Probe {
    m: Weak<M>,
    cpu: Duration,
    at: Instant,
    /// The window a decision on this sample needs.
    min: Duration,
}

/// Into a quiet stretch (no runtime call), when sysmon first samples the
/// M's CPU clock (at its first tick past this, usually under 1.5 ms in):
/// most runs end sooner and cost no sample.
const PROBE_AT: Duration = Duration::from_micros(500);

/// Shortest window a decision is based on: several of the OS scheduler's
/// time slices, so a thread that gets a quarter of a CPU is not mistaken
/// for one computing at full speed because the window fell in its slice.
/// (The decision at 10 ms quiet usually covers 8.5–9.5 ms.)
const PROBE_MIN: Duration = Duration::from_millis(7);

/// The window of a second look at a G found starved: longer, so the OS's
/// slices even out (a thread given a quarter of a CPU can get 4 ms of a
/// 7 ms window).
const REPROBE_MIN: Duration = Duration::from_millis(25);

/// What the M of a G quiet for 10 ms is doing.
#[derive(Debug, PartialEq, Eq)]
enum Doing {
    /// Its thread used at least a quarter of the wall time: a busy loop
    /// (perhaps sharing its CPU).
    Computing,
    /// Its thread used little CPU and sleeps in the kernel (a lock, a
    /// sleep, a read).
    Blocked,
    /// Its thread used under a quarter of the wall time but is runnable:
    /// the OS gives it (almost) no CPU (an oversubscribed machine).
    /// Another thread would only compete for the same CPUs; the P is left
    /// alone and looked at again over a longer window.
    Starved,
}

/// An M that lost its P to sysmon, watched through its thread's CPU clock
/// until it has one again.
struct Watched {
    m: Weak<M>,
    /// CPU time at the last sample, and when it was taken.
    cpu: Duration,
    at: Instant,
    /// Its thread used at least a quarter of the wall time between the
    /// last two samples.
    computing: bool,
}

/// Shortest interval between two CPU-clock samples of one M.
const SAMPLE: Duration = Duration::from_millis(2);

/// The sysmon loop; `watch` prints the schedtrace lines and acts on the
/// control signals (observe.rs).
fn run(weak: &Weak<Shared>, wake: &Wake, mut watch: super::observe::Watch) {
    let mut seen: Vec<Seen> = Vec::new();
    let mut watched: Vec<Watched> = Vec::new();
    let mut delay = MIN_TICK;
    // The coarse ms sysmon itself last stored: only an M's tick past it
    // counts as the Ms keeping the clock fresh (a 1 ms sleep leaves our
    // own tick within a ms of now, which once passed for theirs: sysmon
    // napped beside Gs that never poll, and a 2 ms sleep on their P lasted
    // a whole nap, some 10 ms).
    let mut own_tick = 0u32;
    // Ticks in a row that found the clock moved on by an M: one alone may
    // be an M's occasional poll (every 61st schedule) beside Gs that never
    // poll, and a nap then left the timers beside them 10 ms late.
    let mut fresh_streak = 0u32;
    // Since when every P has been idle with no schedule (`DEEP_AFTER`),
    // and the Ps' summed ticks then.
    let mut quiet: Option<(Instant, u64)> = None;
    // The last sleep was a nap: a G seen in user code at the look after it
    // may have begun during the nap, and gets one short tick to be judged
    // a long run or not (`watch_long_run`) before the next nap.
    let mut napped = false;
    loop {
        if wake.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(shared) = weak.upgrade() else { return };
        if shared.exiting.load(Ordering::SeqCst) {
            return;
        }
        // Whether an M moved the coarse clock on since our own last tick.
        let coarse = shared.sysmon.coarse_ms();
        // (Not "within the last ms": on a busy machine the OS often
        // holds the polling M off its CPU at the moment sysmon wakes.)
        let kept_fresh = coarse != own_tick;
        fresh_streak = if kept_fresh { fresh_streak + 1 } else { 0 };
        tick_coarse_clocks(&shared);
        own_tick = shared.sysmon.coarse_ms();
        watch.tick(&shared);
        if seen.len() != shared.nprocs() {
            seen = vec![Seen::default(); shared.nprocs()];
            // (Seen holds a Weak; Clone only.)
        }
        sample_cpu(&shared, &mut watched);
        let idle = watched.is_empty() && all_idle(&shared);
        if !idle {
            quiet = None;
        }
        if idle && quiet_long_enough(&shared, &mut quiet) {
            quiet = None;
            wake.sleeping.store(true, Ordering::SeqCst);
            // Dekker with acquire_p: it stores `owner`, then loads
            // `sleeping`; we store `sleeping`, then load the owners.
            if all_idle(&shared) {
                drop(shared);
                // No deeper than the next schedtrace line or control
                // signal check (SIGQUIT, SIGUSR2).
                wake.note.sleep(watch.deadline());
            }
            // Runs that began meanwhile carry their start (`catching_up`);
            // look at them before new runs stop recording it.
            if let Some(shared) = weak.upgrade() {
                let mut due = None;
                retake(&shared, &mut seen, &mut watched, &mut due);
            }
            wake.sleeping.store(false, Ordering::SeqCst);
            delay = MIN_TICK;
            continue;
        }
        let mut due = None;
        let retook = retake(&shared, &mut seen, &mut watched, &mut due);
        poll_network_if_stale(&shared);
        let judging = napped
            && seen
                .iter()
                .any(|s| s.long.as_ref().is_some_and(|l| l.0.strong_count() > 0));
        let may_nap = !retook
            && !judging
            && delay == MAX_TICK
            && fresh_streak >= FRESH_TICKS
            && watched.is_empty()
            && shared.sysmon.waiting.load(Ordering::Relaxed) == 0;
        delay = if retook {
            MIN_TICK
        } else {
            (delay * 2).min(MAX_TICK)
        };
        // Wake in time for a G's 10 ms, not up to a tick after it.
        let until_due = due.map_or(NAP, |d: Instant| {
            d.saturating_duration_since(Instant::now())
        });
        let nap = until_due.min(NAP);
        if may_nap && nap > MAX_TICK && begin_nap(&shared, wake) {
            // (Not holding the runtime while asleep, as between ticks.)
            drop(shared);
            let until = Instant::now() + nap;
            wake.note
                .sleep(Some(watch.deadline().map_or(until, |d| d.min(until))));
            wake.napping.store(false, Ordering::SeqCst);
            napped = true;
            continue;
        }
        napped = false;
        drop(shared);
        std::thread::sleep(delay.min(until_due).max(MIN_TICK));
    }
}

/// Announces a nap (module doc): true if sysmon may now sleep, `napping`
/// set (the caller clears it when it wakes); false, flag cleared, if an M
/// is inside a syscall after all.
fn begin_nap(shared: &Shared, wake: &Wake) -> bool {
    wake.napping.store(true, Ordering::SeqCst);
    // Pairs with the light fence between N1 and N2.
    let fenced = super::syscall::asym::heavy();
    let in_syscall = shared
        .ps
        .iter()
        .any(|p| p.owner.load(Ordering::SeqCst) & IN_SYSCALL != 0);
    if fenced && !in_syscall {
        return true;
    }
    wake.napping.store(false, Ordering::SeqCst);
    false
}

/// Whether the Ps, all idle now, have been idle without a schedule for
/// [`DEEP_AFTER`]; starts or restarts the quiet period otherwise.
fn quiet_long_enough(shared: &Shared, quiet: &mut Option<(Instant, u64)>) -> bool {
    let ticks: u64 = shared
        .ps
        .iter()
        .map(|p| u64::from(p.tick.load(Ordering::Relaxed)))
        .sum();
    let now = Instant::now();
    match *quiet {
        Some((since, t)) if t == ticks => now.duration_since(since) >= DEEP_AFTER,
        _ => {
            *quiet = Some((now, ticks));
            false
        }
    }
}

/// Whether no M holds any P.
fn all_idle(shared: &Shared) -> bool {
    // (An M without a P computes on, but sysmon only sleeps deeply with
    // nothing watched: see `run`.)
    shared
        .ps
        .iter()
        .all(|p| p.owner.load(Ordering::SeqCst) == 0)
}

/// Steps 2 and U4 of syscall.rs for every P; true if a P was retaken, a
/// new syscall was seen or a G was just flagged (the next tick is then a
/// short one).
/// `due` gets the earliest time a running G reaches its 10 ms.
fn retake(
    shared: &Shared,
    seen: &mut [Seen],
    watched: &mut Vec<Watched>,
    due: &mut Option<Instant>,
) -> bool {
    let mut retook = false;
    let now = Instant::now();
    for (p, s) in shared.ps.iter().zip(seen.iter_mut()) {
        let (owner, count) = user_view(shared, s, p.owner.load(Ordering::Acquire));
        if owner & IN_SYSCALL == 0 {
            s.in_syscall = false;
            retook |= preempt_long_runner(shared, p, s, (owner, count), now, watched);
            // Wake for the next flag or retake this P may need.
            let next = if s.flagged {
                let retake = s.word_since.map(|t| t + FORCE_PREEMPT);
                let window = s.probe.as_ref().map(|pr| pr.at + pr.min);
                retake.max(window)
            } else {
                s.since.map(|t| t + FORCE_PREEMPT)
            };
            if let (Some(d), true) = (next, owner != 0) {
                *due = Some(due.map_or(d, |x: Instant| x.min(d)));
            }
            continue;
        }
        let tick = p.syscalltick.load(Ordering::Relaxed);
        if !(s.in_syscall && s.syscalltick == tick) {
            // First sight of this syscall: give it one tick, a short one
            // (the next tick is MIN_TICK), so a retake comes at most about
            // MAX_TICK + MIN_TICK after the call began.
            s.in_syscall = true;
            s.syscalltick = tick;
            retook = true;
            continue;
        }
        s.in_syscall = false;
        let c = &shared.sysmon.counts;
        // Counted before the CAS, so the M's decrement (after it wins a P
        // back) never runs first.
        c.retaken_now.fetch_add(1, Ordering::Relaxed);
        if !take_p(shared, p, (owner, None), watched, false) {
            c.retaken_now.fetch_sub(1, Ordering::Relaxed);
            continue; // the M came back first (step 3)
        }
        c.retakes.fetch_add(1, Ordering::Relaxed);
        c.handoffs.fetch_add(1, Ordering::Relaxed);
        handoffp(shared, p.id);
        retook = true;
    }
    retook
}

/// How sysmon sees a P's owner word `raw`: with `IN_USER` and the M's
/// call count even (its G in user code), the word with the count folded
/// into bits 32–55 (so the view changes at every runtime call), and the
/// count; with the count odd (a runtime call), the word without the flag,
/// as runtime state; any other word as it is.
fn user_view(shared: &Shared, s: &mut Seen, raw: usize) -> (usize, Option<usize>) {
    if raw & IN_USER == 0 {
        return (raw, None);
    }
    let id = (raw & ID_MASK).wrapping_sub(1);
    let cached = s.m.as_ref().and_then(Weak::upgrade).filter(|m| m.id == id);
    let Some(m) = cached.or_else(|| shared.threads.find(id)) else {
        return (raw & !IN_USER, None);
    };
    let count = m.calls.load(Ordering::Acquire);
    s.m = Some(Arc::downgrade(&m));
    if count & 1 == 1 {
        return (raw & !IN_USER, None);
    }
    (raw | ((count >> 1) << 32 & CALLS_MASK), Some(count))
}

/// The CAS of steps 2 and U4, with the M marked `without_p` (before the
/// CAS, so its own clear in `exit_slow` comes after) and watched through
/// its CPU clock if the CAS wins. `view`: the word as `user_view` showed
/// it, and the M's count for a word in user state (U4: a fence and a
/// second look at the count come first). `computing`: the first guess,
/// until the clock has been sampled twice.
fn take_p(
    shared: &Shared,
    p: &super::p::P,
    view: (usize, Option<usize>),
    watched: &mut Vec<Watched>,
    computing: bool,
) -> bool {
    let (owner, count) = view;
    let m = m_of(shared, owner);
    if let Some(m) = &m {
        m.without_p.store(true, Ordering::Relaxed);
    }
    let took = match (count, &m) {
        (Some(c), Some(m)) => user_retake(&p.owner, &m.calls, &p.retaking, owner & !CALLS_MASK, c),
        (Some(_), None) => false,
        (None, _) => owner_retake(&p.owner, owner),
    };
    if !took {
        if let Some(m) = &m {
            m.without_p.store(false, Ordering::Relaxed);
        }
        return false;
    }
    if let Some(t) = &shared.trace {
        // On the sysmon lane of the Chrome trace.
        t.other(super::trace::EventKind::Retake, p.id as u64);
        t.other(super::trace::EventKind::Handoff, p.id as u64);
    }
    if let Some(m) = m {
        let cpu = thread_cpu_time(m.cpu_clock.load(Ordering::Relaxed)).unwrap_or_default();
        watched.push(Watched {
            m: Arc::downgrade(&m),
            cpu,
            at: Instant::now(),
            computing,
        });
        publish_watch(shared, watched);
    }
    true
}

/// Samples the CPU clock of every M watched (each at most every 2 ms),
/// drops those that have a P again, and publishes the two gauges.
fn sample_cpu(shared: &Shared, watched: &mut Vec<Watched>) {
    if watched.is_empty() {
        return;
    }
    let now = Instant::now();
    watched.retain_mut(|w| {
        let Some(m) = w.m.upgrade() else { return false };
        if !m.without_p.load(Ordering::Relaxed) {
            return false;
        }
        let wall = now.duration_since(w.at);
        if wall < SAMPLE {
            return true;
        }
        let Some(cpu) = thread_cpu_time(m.cpu_clock.load(Ordering::Relaxed)) else {
            return false;
        };
        w.computing = cpu.saturating_sub(w.cpu) * 4 >= wall;
        w.cpu = cpu;
        w.at = now;
        true
    });
    publish_watch(shared, watched);
}

fn publish_watch(shared: &Shared, watched: &[Watched]) {
    let computing = watched.iter().filter(|w| w.computing).count();
    let c = &shared.sysmon.counts;
    c.without_p_computing.store(computing, Ordering::Relaxed);
    c.without_p_blocked
        .store(watched.len() - computing, Ordering::Relaxed);
}

/// Flags the G running on `p` if it has run > 10 ms (`P::tick` unchanged);
/// takes its P (step U4) if it has also made no runtime call for 10 ms
/// (its owner word unchanged in user state). True if it flagged or retook
/// (the next tick is then a short one).
fn preempt_long_runner(
    shared: &Shared,
    p: &super::p::P,
    s: &mut Seen,
    view: (usize, Option<usize>),
    now: Instant,
    watched: &mut Vec<Watched>,
) -> bool {
    let owner = view.0;
    let tick = p.tick.load(Ordering::Relaxed);
    if owner == 0 || s.since.is_none() || s.tick != tick {
        // A run that began while sysmon slept carries its start.
        let began = (p.run_start.1.load(Ordering::Relaxed) == tick)
            .then(|| epoch() + Duration::from_nanos(p.run_start.0.load(Ordering::Relaxed)))
            .filter(|&t| t <= now && now.duration_since(t) < FORCE_PREEMPT * 10);
        let since = began.unwrap_or(now);
        s.tick = tick;
        s.since = Some(since);
        s.flagged = false;
        s.word = owner;
        s.word_since = Some(since);
        s.probe = None;
        s.long = None;
        watch_long_run(shared, s, owner, now);
        return false;
    }
    if owner != s.word {
        s.word = owner;
        s.word_since = Some(now);
        s.probe = None;
        s.long = None;
    }
    watch_long_run(shared, s, owner, now);
    let quiet = s
        .word_since
        .map_or(Duration::ZERO, |t| now.duration_since(t));
    if owner & IN_USER != 0 && quiet >= PROBE_AT && s.probe.is_none() {
        s.probe = probe(shared, owner, now, PROBE_MIN);
    }
    if s.since
        .is_none_or(|t| now.duration_since(t) < FORCE_PREEMPT)
    {
        return false;
    }
    if !s.flagged {
        s.flagged = true;
        if !p.preempt.swap(true, Ordering::Relaxed) {
            shared
                .sysmon
                .counts
                .preemptions
                .fetch_add(1, Ordering::Relaxed);
            if let Some(t) = &shared.trace {
                t.other(super::trace::EventKind::Preempt, p.id as u64);
            }
        }
        return true;
    }
    // Flagged, and still the same run. In runtime code (g0, or a runtime
    // call) the view has no flag and there is nothing to take; a G whose
    // view changed lately makes runtime calls and keeps its P.
    if owner & IN_USER == 0 || quiet < FORCE_PREEMPT {
        return false;
    }
    let computing = match s.probe.as_ref().map(|pr| doing(pr, now)) {
        Some(None) => return false, // the window is too short yet
        Some(Some(Doing::Starved)) => {
            // Look again over a fresh, longer window.
            s.probe = probe(shared, owner, now, REPROBE_MIN);
            return false;
        }
        Some(Some(Doing::Computing)) | None => true,
        Some(Some(Doing::Blocked)) => false,
    };
    let c = &shared.sysmon.counts;
    c.user_retaken_now.fetch_add(1, Ordering::Relaxed);
    if !take_p(shared, p, view, watched, computing) {
        c.user_retaken_now.fetch_sub(1, Ordering::Relaxed);
        return false;
    }
    c.user_retakes.fetch_add(1, Ordering::Relaxed);
    // A fresh run for the next holder: no flag carried over.
    s.since = None;
    s.flagged = false;
    handoffp(shared, p.id);
    true
}

/// The long-run watch of one P (spare.rs `note_long_run`): a G that
/// computes in user code for [`LONG_RUN`](super::long_run::LONG_RUN) or
/// more with no switch and no runtime call, its thread on a CPU at least
/// half that time (a thread the OS merely held off its CPU is no
/// evidence). `s` was just brought up to date with `owner` and `tick`.
fn watch_long_run(shared: &Shared, s: &mut Seen, owner: usize, now: Instant) {
    if owner & IN_USER == 0 {
        s.long = None;
        return;
    }
    let Some((m, cpu0, at)) = &s.long else {
        // First sight of this stretch in user code: its CPU clock now (the
        // M is the one `user_view` just cached for this owner).
        s.long = s.m.as_ref().and_then(Weak::upgrade).and_then(|m| {
            let cpu = thread_cpu_time(m.cpu_clock.load(Ordering::Relaxed))?;
            Some((Arc::downgrade(&m), cpu, now))
        });
        return;
    };
    let long = super::long_run::LONG_RUN;
    let wall = now.duration_since(*at);
    if wall < long {
        return;
    }
    let cpu = m
        .upgrade()
        .and_then(|m| thread_cpu_time(m.cpu_clock.load(Ordering::Relaxed)))
        .and_then(|c| c.checked_sub(*cpu0));
    if cpu.is_some_and(|c| c * 2 >= wall) {
        shared.spare_cpu.note_long_run(shared.sysmon.coarse_ms());
        shared.long_run_seen();
    }
    // One judgement per stretch.
    s.long = Some((Weak::new(), Duration::MAX, *at));
}

/// The live M named by an owner word.
fn m_of(shared: &Shared, owner: usize) -> Option<Arc<M>> {
    (owner & ID_MASK)
        .checked_sub(1)
        .and_then(|id| shared.threads.find(id))
}

/// A CPU-clock sample of the M named by `owner`.
fn probe(shared: &Shared, owner: usize, now: Instant, min: Duration) -> Option<Probe> {
    let m = m_of(shared, owner)?;
    let cpu = thread_cpu_time(m.cpu_clock.load(Ordering::Relaxed))?;
    Some(Probe {
        m: Arc::downgrade(&m),
        cpu,
        at: now,
        min,
    })
}

/// What the probed M did since its sample; None if the window is shorter
/// than the sample asks (or the clock is gone).
fn doing(pr: &Probe, now: Instant) -> Option<Doing> {
    let wall = now.duration_since(pr.at);
    if wall < pr.min {
        return None;
    }
    let Some(m) = pr.m.upgrade() else {
        return Some(Doing::Computing);
    };
    let cpu = thread_cpu_time(m.cpu_clock.load(Ordering::Relaxed))?;
    Some(classify(cpu.saturating_sub(pr.cpu), wall, || {
        thread_state(m.tid.load(Ordering::Relaxed))
    }))
}

/// The rule of `doing`: CPU time used over a wall-time window, and the
/// thread's state letter (read only when needed).
fn classify(cpu: Duration, wall: Duration, state: impl FnOnce() -> Option<char>) -> Doing {
    if cpu * 4 >= wall {
        return Doing::Computing;
    }
    match state() {
        Some('R') => Doing::Starved,
        _ => Doing::Blocked,
    }
}

/// The scheduler state letter of one of this process's threads (`R`
/// running or runnable, `S`/`D` sleeping, ...), from
/// `/proc/self/task/TID/stat`.
fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // "tid (comm) S ...": the name may hold spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Whether sysmon asked the G running on this thread to yield (it has run more than
/// 10 ms). Blocking-style Gs are made to yield at their next spawn; async
/// tasks check it at their next await (wired by the lead). False off a G.
pub(crate) fn preempt_requested() -> bool {
    let Some(m) = super::m::M::current() else {
        return false;
    };
    // SAFETY: M::current is this thread's live M.
    let m = unsafe { m.as_ref() };
    m.curg().is_some()
        && m.p_peek()
            .is_some_and(|p| p.preempt.load(Ordering::Relaxed))
}

/// The preempt flag of the P the current G runs with, for
/// `rt_base::coop::reset_preemptible` (null off a G or without a P). The
/// Ps live as long as the runtime, which outlives every poll of its Gs.
pub(crate) fn preempt_flag() -> *const std::sync::atomic::AtomicBool {
    let Some(m) = super::m::M::current() else {
        return std::ptr::null();
    };
    // SAFETY: M::current is this thread's live M.
    let m = unsafe { m.as_ref() };
    match m.p_peek() {
        Some(p) if m.curg().is_some() => &p.preempt,
        _ => std::ptr::null(),
    }
}

/// Ms inside a syscall now: those still holding their P (its owner word
/// says so), those that handed it off, those whose P was retaken.
pub(crate) fn ms_in_syscall(shared: &Shared) -> usize {
    let holding = shared
        .ps
        .iter()
        .filter(|p| p.owner.load(Ordering::Relaxed) & IN_SYSCALL != 0)
        .count();
    let c = &shared.sysmon.counts;
    holding + c.blocking_now.load(Ordering::Relaxed) + c.retaken_now.load(Ordering::Relaxed)
}

/// How long the network may go unpolled before sysmon polls it (Go: 10 ms).
const NETPOLL_STALE: Duration = Duration::from_millis(10);

/// Go's sysmon rule: when no M has polled the network for
/// [`NETPOLL_STALE`] and none waits in epoll (every P busy with Gs that
/// rarely reach the scheduler's poll), poll it here without waiting. The
/// Gs it readies go to the global queue (sysmon holds no P) and an M is
/// woken for them if a P idles.
pub(crate) fn poll_network_if_stale(shared: &Shared) {
    if let Some(np) = shared.netpoll.get() {
        if np.poll_if_stale(NETPOLL_STALE) {
            shared
                .sysmon
                .counts
                .netpolls
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A real thread, its kernel id and CPU clock.
    fn start(spin: bool, stop: Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, i32, i32) {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let mut clk: libc::clockid_t = 0;
            // SAFETY: the calling thread and a valid out-pointer.
            let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clk) };
            assert_eq!(rc, 0);
            // SAFETY: no preconditions.
            let tid = unsafe { libc::gettid() };
            tx.send((tid, clk)).unwrap();
            while !stop.load(Ordering::Relaxed) {
                if spin {
                    std::hint::spin_loop();
                } else {
                    // Asleep until unparked: a thread that woke every
                    // millisecond was sometimes caught runnable ('R') on a
                    // loaded machine, and so rightly called starved.
                    std::thread::park();
                }
            }
        });
        let (tid, clk) = rx.recv().unwrap();
        (h, tid, clk)
    }

    /// Samples a thread over `window` the way sysmon does.
    fn sample(tid: i32, clk: i32, window: Duration) -> Doing {
        let c0 = thread_cpu_time(clk).unwrap();
        std::thread::sleep(window);
        let c1 = thread_cpu_time(clk).unwrap();
        classify(c1 - c0, window, || thread_state(tid))
    }

    #[test]
    fn a_spinning_thread_is_computing_and_a_sleeping_one_blocked() {
        let stop = Arc::new(AtomicBool::new(false));
        let (spinner, stid, sclk) = start(true, stop.clone());
        let (sleeper, ztid, zclk) = start(false, stop.clone());
        // Generous windows: the spinner shares the CPUs with everything
        // else the tests run, and needs only a quarter of the wall time.
        assert_eq!(
            sample(stid, sclk, Duration::from_millis(200)),
            Doing::Computing
        );
        assert_eq!(
            sample(ztid, zclk, Duration::from_millis(50)),
            Doing::Blocked
        );
        assert_eq!(thread_state(ztid).map(|c| c == 'S' || c == 'R'), Some(true));
        stop.store(true, Ordering::Relaxed);
        sleeper.thread().unpark();
        spinner.join().unwrap();
        sleeper.join().unwrap();
        // A finished thread's clock and state are gone, not an error.
        assert!(thread_state(stid).is_none());
    }

    #[test]
    fn little_cpu_while_runnable_is_starved() {
        let ms = Duration::from_millis;
        assert_eq!(classify(ms(5), ms(10), || None), Doing::Computing);
        assert_eq!(classify(ms(1), ms(10), || Some('R')), Doing::Starved);
        assert_eq!(classify(ms(1), ms(10), || Some('S')), Doing::Blocked);
        assert_eq!(classify(ms(0), ms(10), || Some('D')), Doing::Blocked);
    }
}
