//! Seeing inside mn: the task dump ([`crate::dump`],
//! [`crate::tasks`], SIGQUIT) and Go's `schedtrace`/`scheddetail` lines.
//!
//! Both are read from the outside, with no cost on the scheduler's paths:
//! the dump walks the registry of Gs that have parked (`registry.rs`) and
//! the list of Ms (`Threads::all`, each M's `curg_id`); the `SCHED` lines
//! read the counters `stats()` reads. Sysmon (`sysmon.rs`) prints the lines
//! every period and watches SIGQUIT through a
//! [`SignalPipe`](rt_base::signal::SignalPipe) (and SIGUSR2, which
//! writes the trace when tracing and does nothing otherwise, as in single
//! mode): no extra thread, and no system call at its ticks (it compares the
//! handler's delivery count and reads the pipe only when that moved). The
//! pipes are made when the runtime is built, before sysmon's thread starts,
//! so the handlers are in place before the program runs.
//!
//! What the dump lists: every G that is running now (on its M), and every
//! G that has parked at least once and is not dead (waiting, with the
//! reason its async body stored and how long ago it parked — sysmon's
//! coarse clock, stamped by the M at the park — or runnable). A G that
//! never parked is listed from the queue it waits in: the global queue is
//! read under the sched lock, the Ps' rings after stopping every M that
//! holds a P at a safe point (`stop_the_world`, like Go's stop-the-world
//! for a goroutine dump; a racy walk could read a G another M has stolen,
//! run and freed). An M that does not reach a safe point within 100 ms (a
//! G computing, or in a system call) leaves its ring unread: the header
//! then counts what is not listed. Spawn sites
//! are recorded by `aio::task::spawn` (`Header::site`); Gs made by `go`
//! and running Gs that never parked show `spawned at <unknown>:0`. The
//! future inside `block_on_future` is task 0 (main).

use std::fmt::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rt_base::trace::{format_dump, TaskInfo, TaskState, WaitReason};

use super::m::M;
use super::syscall::{ID_MASK, IN_SYSCALL};
use super::Shared;
use crate::g::state::{RUNNABLE, RUNNING, WAITING};

/// The spawn site mn-sched does not record.
fn unknown_site() -> &'static Location<'static> {
    static SITE: std::sync::OnceLock<&'static Location<'static>> = std::sync::OnceLock::new();
    SITE.get_or_init(|| {
        // A real `Location` is needed by `TaskInfo`; this one names no
        // user code, and `format_dump` output is patched below.
        Location::caller()
    })
}

/// The future inside `block_on_future` (task 0 in the dump): its state
/// byte (0: none, 1: running, 2 + reason: waiting) and where it started.
#[derive(Debug, Default)]
pub(crate) struct MainSlot {
    state: AtomicU8,
    site: AtomicPtr<Location<'static>>,
    /// Chrome trace: the flow of the wake not yet followed by a run.
    pub(crate) flow: std::sync::atomic::AtomicU64,
}

/// Clears the main slot when `block_on_future` returns or unwinds.
pub(crate) struct MainGuard<'a>(&'a MainSlot);

impl Drop for MainGuard<'_> {
    fn drop(&mut self) {
        self.0.state.store(0, Ordering::Relaxed);
    }
}

impl MainSlot {
    /// `block_on_future` starts polling a future started at `site`.
    pub(crate) fn enter(&self, site: &'static Location<'static>) -> MainGuard<'_> {
        self.site
            .store(std::ptr::from_ref(site).cast_mut(), Ordering::Relaxed);
        self.state.store(1, Ordering::Relaxed);
        MainGuard(self)
    }

    /// The flow id of the wake this run follows (0: none).
    pub(crate) fn take_flow(&self) -> u64 {
        self.flow.swap(0, Ordering::Relaxed)
    }

    /// The main future is being polled.
    pub(crate) fn running(&self) {
        self.state.store(1, Ordering::Relaxed);
    }

    /// The main future returned Pending for `reason`.
    pub(crate) fn waiting(&self, reason: WaitReason) {
        self.state.store(2 + reason as u8, Ordering::Relaxed);
    }

    fn info(&self) -> Option<TaskInfo> {
        let state = match self.state.load(Ordering::Relaxed) {
            0 => return None,
            1 => TaskState::Running,
            n => TaskState::Waiting(WaitReason::from_u8(n - 2)),
        };
        Some(TaskInfo {
            id: 0,
            spawned_at: site_of(self.site.load(Ordering::Relaxed)),
            state,
            waiting_ms: None,
            place: "main thread".to_string(),
            name: None,
        })
    }
}

/// A recorded site, or the placeholder.
fn site_of(p: *mut Location<'static>) -> &'static Location<'static> {
    if p.is_null() {
        unknown_site()
    } else {
        // SAFETY: only `&'static Location`s are stored in site slots.
        unsafe { &*p }
    }
}

/// The Ms alive now.
pub(crate) fn live_ms(shared: &Shared) -> Vec<Arc<M>> {
    let all = shared.threads.all.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().filter_map(std::sync::Weak::upgrade).collect()
}

/// A safe point of the scheduler (on g0 between Gs, or at the top of
/// findrunnable, never with a lock held): while a dump reads the run
/// queues, an M holding a P stops here, its P marked parked, until the dump
/// is done. One load otherwise.
#[inline]
pub(crate) fn safe_point(m: &M) {
    if m.shared.dump_stop.load(Ordering::SeqCst) {
        stop_for_dump(m);
    }
}

#[cold]
#[inline(never)]
fn stop_for_dump(m: &M) {
    let Some(p) = m.p_peek() else { return };
    // Its trace batch too, for a SIGUSR2 write (only this thread may).
    super::trace::MLane::flush(m);
    p.dump_parked.store(true, Ordering::SeqCst);
    while m.shared.dump_stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_micros(50));
    }
    p.dump_parked.store(false, Ordering::SeqCst);
}

/// How long a dump waits for the Ps to stop before it lists what it can
/// without their run queues.
const STOP_WAIT: Duration = Duration::from_millis(100);

/// Stops every M holding a P at a safe point (the caller's own P aside),
/// like Go's stop-the-world for a goroutine dump; each hands its trace
/// batch over as it stops. `Stopped::all` says whether all did: not after
/// [`STOP_WAIT`] if a G computes or blocks in a system call holding its P.
/// Dropping the result lets the Ms go on.
///
/// The pairing that makes an idle P safe to read: the dump stores
/// `dump_stop` then loads each P's owner; an M stores the owner when it
/// takes a P and loads `dump_stop` at its next safe point, which comes
/// before any pop or steal on that P (`handoff_yield` falls back to g0
/// while `dump_stop` is set). All SeqCst: either the dump sees the P held
/// (and waits for it to park) or the M sees the flag (and parks before
/// touching its queue). Pushes meanwhile only add live Gs past the tail.
/// The caller holds `dump_lock` (one stop at a time).
fn stop_the_world(shared: &Shared) -> Stopped<'_> {
    let mine = M::current()
        // SAFETY: this thread's live M, used without a switch.
        .map(|m| unsafe { m.as_ref() })
        .filter(|m| std::ptr::eq(&*m.shared, shared))
        .and_then(|m| m.p_peek().map(|p| p.id));
    shared.dump_stop.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        let all = shared.ps.iter().all(|p| {
            Some(p.id) == mine
                || p.owner.load(Ordering::SeqCst) == 0
                || p.dump_parked.load(Ordering::SeqCst)
        });
        if all || Instant::now() >= deadline {
            return Stopped { shared, all };
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A stop of the world in force; dropping it lets the Ms go on.
struct Stopped<'a> {
    shared: &'a Shared,
    /// Every M holding a P (the caller's aside) is parked.
    all: bool,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.shared.dump_stop.store(false, Ordering::SeqCst);
    }
}

/// Every task of `shared` this module can see (module doc), by id.
pub(crate) fn tasks(shared: &Shared) -> Vec<TaskInfo> {
    tasks_stopped(shared).0
}

/// [`tasks`], and whether the run queues could be read (every P stopped).
fn tasks_stopped(shared: &Shared) -> (Vec<TaskInfo>, bool) {
    let _one = shared.dump_lock.lock().unwrap_or_else(|e| e.into_inner());
    // What needs no stopping first (a wait for the Ps may last 100 ms).
    let mut out = list(shared);
    let stop = stop_the_world(shared);
    let stopped = stop.all;
    if stopped {
        // `out` is sorted by id: look up by binary search (a dump may list
        // a million parked tasks), add after.
        let mut queued = Vec::new();
        for p in shared.ps.iter() {
            // SAFETY: every M holding a P is parked at a safe point (or is
            // us, reading), so nothing pops, steals or frees a queued G.
            for g in unsafe { p.runq.snapshot() } {
                // SAFETY: a queued G is alive (its life reference).
                let h = unsafe { g.as_ref() };
                let place = format!("P{} run queue", p.id);
                match out.binary_search_by_key(&h.id, |t| t.id) {
                    Ok(i) => out[i].place = place,
                    Err(_) => queued.push(TaskInfo {
                        id: h.id,
                        spawned_at: h.spawned.site().unwrap_or_else(unknown_site),
                        state: TaskState::Runnable,
                        waiting_ms: None,
                        place,
                        name: h.spawned.name().map(str::to_string),
                    }),
                }
            }
        }
        out.extend(queued);
        out.sort_by_key(|t| t.id);
    }
    drop(stop);
    (out, stopped)
}

/// What the registry, the global queue and the Ms show.
fn list(shared: &Shared) -> Vec<TaskInfo> {
    let ms = live_ms(shared);
    let on_m = |id: u64| {
        ms.iter()
            .find(|m| m.curg_id.load(Ordering::Relaxed) == id)
            .map(|m| m.id)
    };
    let site = unknown_site();
    let mut out: Vec<TaskInfo> = shared.main.info().into_iter().collect();
    let now = super::clock::now_ms();
    for g in shared.registry.snapshot() {
        let m = on_m(g.id);
        let state = match (g.status, m) {
            (_, Some(_)) => TaskState::Running,
            (WAITING, None) => TaskState::Waiting(WaitReason::from_u8(g.reason)),
            (RUNNABLE | RUNNING, None) => TaskState::Runnable,
            _ => continue,
        };
        // (0: no coarse clock — sysmon could not start — so no waiting time.)
        let waiting = matches!(state, TaskState::Waiting(_)) && g.parked_ms != 0;
        out.push(TaskInfo {
            id: g.id,
            spawned_at: g.site.unwrap_or_else(unknown_site),
            state,
            // The coarse clock lags by up to a tick: never "in the future".
            waiting_ms: waiting.then(|| u64::from(now.wrapping_sub(g.parked_ms).min(1 << 31))),
            place: m.map_or_else(|| "M-1".to_string(), |m| format!("M{m}")),
            name: g.name,
        });
    }
    // Lookups by binary search from here (the registry may hold a million
    // parked tasks, the global queue as many queued ones).
    out.sort_by_key(|t| t.id);
    let listed = |out: &[TaskInfo], id| out.binary_search_by_key(&id, |t| t.id).is_ok();
    // Gs in the global queue (spawned from outside the Ps, or overflowed
    // from a ring), read under the sched lock; those in the Ps' rings are
    // read by `tasks_stopped`.
    let mut more = Vec::new();
    {
        let l = shared.lock();
        l.global.for_each(|h| {
            if !listed(&out, h.id) {
                more.push(TaskInfo {
                    id: h.id,
                    spawned_at: h.spawned.site().unwrap_or_else(unknown_site),
                    state: TaskState::Runnable,
                    waiting_ms: None,
                    place: "global queue".to_string(),
                    name: h.spawned.name().map(str::to_string),
                });
            }
        });
    }
    for m in &ms {
        let id = m.curg_id.load(Ordering::Relaxed);
        if id != 0 && !listed(&out, id) && !more.iter().any(|t: &TaskInfo| t.id == id) {
            // (A G that never parked: its site is not reachable safely.)
            more.push(TaskInfo {
                id,
                spawned_at: site,
                state: TaskState::Running,
                waiting_ms: None,
                place: format!("M{}", m.id),
                name: None,
            });
        }
    }
    out.extend(more);
    out.sort_by_key(|t| t.id);
    out
}

/// The Go-style dump of `shared`'s tasks.
pub(crate) fn dump(shared: &Shared, why: &str) -> String {
    let (tasks, stopped) = tasks_stopped(shared);
    let live = shared.live_gs();
    let header = if stopped {
        format!("switchyard: task dump ({why}), mode=mn, {live} live")
    } else {
        // A P did not stop in time: its queue, and any G in one that never
        // ran or parked, could not be read — counted, not listed.
        let listed = tasks.iter().filter(|t| t.id != 0).count() as u64;
        format!(
            "switchyard: task dump ({why}), mode=mn, {live} live, {} in run queues not listed (a P was busy past {} ms)",
            live.saturating_sub(listed),
            STOP_WAIT.as_millis()
        )
    };
    let site = unknown_site();
    let from = format!("{}:{}", site.file(), site.line());
    format_dump(&header, &tasks).replace(&from, "<unknown>:0")
}

/// Go's `SCHED` line (and with `detail`, a line per P, M and G).
pub(crate) fn schedtrace(shared: &Shared, start: Instant, detail: bool) -> String {
    let st = crate::runtime::stats_of(shared);
    let ms = live_ms(shared);
    let idle_ms = shared.lock().idle_ms.len();
    // Ms with no P that are not parked idle: in a syscall after a handoff
    // or retake, or waiting for a P.
    let nop = ms
        .iter()
        .filter(|m| m.p_id().is_none())
        .count()
        .saturating_sub(idle_ms);
    let mut out = format!(
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={} [",
        start.elapsed().as_millis(),
        st.procs,
        st.idle_procs,
        st.threads + 2, // + main (block_on) + sysmon, as Go counts every M
        st.spinning,
        idle_ms,
        st.global_queue,
    );
    for (i, p) in shared.ps.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{}", p.runq_len());
    }
    let _ = write!(
        out,
        "] syscallthreads={} nopthreads={nop} userretaken={} nopcompute={} nopblocked={}",
        st.ms_in_syscall, st.ms_without_p, st.ms_without_p_computing, st.ms_without_p_blocked,
    );
    if !detail {
        return out;
    }
    for p in shared.ps.iter() {
        let owner = p.owner.load(Ordering::Relaxed);
        let status = match (owner, owner & IN_SYSCALL != 0) {
            (0, _) => "idle",
            (_, true) => "syscall",
            _ => "running",
        };
        let m = if owner == 0 {
            -1
        } else {
            ((owner & ID_MASK) as i64) - 1
        };
        let _ = write!(
            out,
            "\n  P{}: status={status} schedtick={} syscalltick={} m={m} runqsize={}",
            p.id,
            p.tick.load(Ordering::Relaxed),
            p.syscalltick.load(Ordering::Relaxed),
            p.runq_len(),
        );
    }
    for m in &ms {
        let held = m.p_id().map_or(-1, |p| p as i64);
        let curg = m.curg_id.load(Ordering::Relaxed);
        let insyscall = m.syscall.load(Ordering::Relaxed) != 0;
        let _ = write!(
            out,
            "\n  M{}: p={held} curg={} spinning={} blocked={} insyscall={insyscall}",
            m.id,
            if curg == 0 { -1 } else { curg as i64 },
            m.spinning(),
            held < 0 && curg == 0,
        );
    }
    for t in tasks(shared) {
        let status = match t.state {
            TaskState::Running => "running".to_string(),
            TaskState::Runnable => "runnable".to_string(),
            TaskState::Waiting(r) => format!("waiting({r})"),
            TaskState::Done => "dead".to_string(),
        };
        let m = t.place.strip_prefix('M').unwrap_or("-1");
        let _ = write!(out, "\n  G{}: status={status} m={m}", t.id);
    }
    out
}

/// What sysmon does for observability between its ticks: print the `SCHED` lines
/// when due, print the dump on SIGQUIT.
pub(crate) struct Watch {
    start: Instant,
    next: Option<Instant>,
    quit: Option<Watched>,
    usr2: Option<Watched>,
}

/// A signal sysmon looks for, and the delivery count it last saw: it reads
/// the pipe only when the count has moved (no failed `read` at every tick).
struct Watched {
    pipe: rt_base::signal::SignalPipe,
    seen: u64,
}

impl Watched {
    fn new(pipe: rt_base::signal::SignalPipe) -> Self {
        // A delivery that came while no one listened is handed to a new
        // pipe as a byte (rt-base's signal rule 5): it counts as new.
        let kept = pipe.take().is_ok();
        let seen = pipe.deliveries().wrapping_sub(u64::from(kept));
        Watched { pipe, seen }
    }

    /// Whether the signal came since the last call.
    fn came(&mut self) -> bool {
        let n = self.pipe.deliveries();
        if n == self.seen {
            return false;
        }
        self.seen = n;
        let _ = self.pipe.take();
        true
    }
}

/// How often sysmon wakes from its deep sleep to look at SIGQUIT.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

impl Watch {
    /// The watch `shared`'s configuration asks for.
    pub(crate) fn new(shared: &Shared) -> Self {
        let quit = if shared.config.control_signals {
            match rt_base::signal::SignalPipe::new(libc::SIGQUIT) {
                Ok(p) => Some(Watched::new(p)),
                Err(e) => {
                    rt_base::diag::line(&format!("switchyard: SIGQUIT dump not available ({e})"));
                    None
                }
            }
        } else {
            None
        };
        // SIGUSR2 with control signals on, tracing or not (as in single
        // mode): without a trace it does nothing, instead of ending the
        // process by its default action.
        let usr2 = if shared.config.control_signals || shared.trace.is_some() {
            rt_base::signal::SignalPipe::new(libc::SIGUSR2)
                .ok()
                .map(Watched::new)
        } else {
            None
        };
        let start = Instant::now();
        Self {
            start,
            next: shared.config.schedtrace.map(|p| start + p),
            quit,
            usr2,
        }
    }

    /// Whether there is anything to watch (sysmon then never sleeps past
    /// [`Watch::deadline`]).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let sig =
            (self.quit.is_some() || self.usr2.is_some()).then(|| Instant::now() + SIGNAL_POLL);
        match (self.next, sig) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does what is due now.
    pub(crate) fn tick(&mut self, shared: &Shared) {
        if let Some(next) = self.next {
            let now = Instant::now();
            if now >= next {
                let period = shared.config.schedtrace.unwrap_or(Duration::from_secs(1));
                rt_base::diag::line(&schedtrace(shared, self.start, shared.config.scheddetail));
                let mut n = next + period;
                if n <= now {
                    n = now + period;
                }
                self.next = Some(n);
            }
        }
        if let Some(q) = &mut self.quit {
            if q.came() {
                rt_base::diag::text(&dump(shared, "SIGQUIT"));
            }
        }
        // SIGUSR2 is taken whether or not a trace is recorded; without one
        // it does nothing.
        let usr2 = self.usr2.as_mut().is_some_and(Watched::came);
        if let (true, Some(t)) = (usr2, &shared.trace) {
            // The Ms hand their batches over as they stop; they go on
            // before the (possibly long) write.
            let one = shared.dump_lock.lock().unwrap_or_else(|e| e.into_inner());
            drop(stop_the_world(shared));
            drop(one);
            t.write();
        }
    }
}
