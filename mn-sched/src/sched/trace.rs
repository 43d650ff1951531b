//! The Chrome trace of an mn runtime (`RUNTIME_TRACE=FILE`,
//! [`Builder::trace`](crate::Builder::trace)), in the format both engines
//! share ([`rt_base::trace::Recorder`]).
//!
//! One lane per M, plus a lane for the thread inside `block_on_future`
//! (main) and one for sysmon and foreign threads. Each M keeps a
//! [`LaneWriter`] in its own struct (touched only on its thread, so no lock
//! on the hot path: the lane's lock is taken once per 1,024 events). The
//! main and sysmon lanes take their lock per event (they see few).
//!
//! Recorded: a slice per G run (`execute`, named `task N (site)`), a park
//! instant with the wait reason, a slice per `syscall`/`syscall_blocking`,
//! instants for steals, handoffs, retakes and preemptions, and a flow arrow
//! from each wake that moved a G out of WAITING (its flow id kept in
//! `Header::flow`) to that G's next run.
//!
//! Off, every hook is one branch on `Shared::trace.is_some()`. The file is
//! written when the runtime is dropped and on SIGUSR2: sysmon watches it,
//! stops every M holding a P at a safe point as a task dump does
//! (observe.rs `stop_the_world`: an M hands its batch over as it stops,
//! at most 100 ms), lets them go on, then writes. Idle Ms flushed as they
//! went idle; an M that runs one G for the whole 100 ms, or computes
//! without a P, has its latest events left out.

use std::cell::UnsafeCell;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) use rt_base::trace::EventKind;
use rt_base::trace::{Event, Lane, LaneWriter, Recorder, TraceFile};

use super::m::M;
use super::Shared;
use crate::g::Header;

/// A runtime's recorder and where it writes.
pub(crate) struct Tracer {
    recorder: Arc<Recorder>,
    file: TraceFile,
    /// The thread inside `block_on_future` when it polls the main future
    /// itself (made at its first event; a thread that hosts the main G as
    /// an M has that M's lane instead).
    main: std::sync::OnceLock<Arc<Lane>>,
    /// sysmon and threads that are not Ms.
    other: Arc<Lane>,
}

impl Tracer {
    /// A recorder writing to `file`.
    pub(crate) fn new(file: TraceFile) -> Self {
        let recorder = Recorder::new();
        let other = recorder.lane("sysmon and other threads");
        Self {
            recorder,
            file,
            main: std::sync::OnceLock::new(),
            other,
        }
    }

    /// Writes the file (errors on stderr).
    pub(crate) fn write(&self) {
        if let Err(e) = self.recorder.write(&self.file, "switchyard (mn mode)") {
            rt_base::diag::line(&format!(
                "switchyard: could not write the trace to {}: {e}",
                self.file.path().display()
            ));
        }
    }

    /// The lane of the thread that polls the main future itself.
    fn main_lane(&self) -> &Arc<Lane> {
        self.main
            .get_or_init(|| self.recorder.lane("main (block_on thread)"))
    }

    /// Nanoseconds since the start.
    pub(crate) fn now(&self) -> u64 {
        self.recorder.now()
    }

    /// An instant on the sysmon lane (retakes, handoffs, preemptions).
    pub(crate) fn other(&self, kind: EventKind, arg: u64) {
        self.other.push(event(kind, self.now(), 0, 0, None, arg));
    }

    /// A run slice of the main future, from `start` to now.
    pub(crate) fn main_run(&self, start: u64, site: &'static Location<'static>, flow_in: u64) {
        let now = self.now();
        self.main_lane().push(Event {
            flow_in,
            ..event(
                EventKind::Run,
                start,
                now.saturating_sub(start),
                0,
                Some(site),
                0,
            )
        });
    }
}

/// An event with no flow.
fn event(
    kind: EventKind,
    ts: u64,
    dur: u64,
    task: u64,
    site: Option<&'static Location<'static>>,
    arg: u64,
) -> Event {
    Event {
        kind,
        ts,
        dur,
        task,
        site,
        arg,
        flow_in: 0,
    }
}

/// An M's writer and its flow-id counter (M thread only).
#[derive(Default)]
pub(crate) struct MLane(UnsafeCell<Option<LaneWriter>>, std::cell::Cell<u64>);

/// Flow ids made on M `id` are `(id + 1) << FLOW_SHIFT | n`: no shared
/// counter on the hot path, and below 2^53 (exact in JavaScript) for any
/// realistic M count.
const FLOW_SHIFT: u32 = 36;

// SAFETY: the writer is touched only on the M's own thread (module doc);
// other threads never reach it.
unsafe impl Sync for MLane {}
// SAFETY: as above.
unsafe impl Send for MLane {}

impl MLane {
    /// Opens the M's lane (at the start of its thread) if tracing is on.
    pub(crate) fn open(m: &M) {
        if let Some(t) = &m.shared.trace {
            let name = if m.host.is_some() {
                format!("main thread (M{})", m.id) // sched/host.rs
            } else {
                format!("M{}", m.id)
            };
            let lane = t.recorder.lane(name);
            // SAFETY: on m's thread (m_main), nothing else borrows it.
            unsafe { *m.trace.0.get() = Some(LaneWriter::new(lane)) };
        }
    }

    /// Hands the batch to the lane (M going idle or exiting).
    pub(crate) fn flush(m: &M) {
        // SAFETY: on m's thread; no other borrow is live (the writer is
        // borrowed only inside these functions, never across a switch).
        if let Some(w) = unsafe { &mut *m.trace.0.get() } {
            w.flush();
        }
    }

    /// A fresh flow id made on m's thread.
    #[inline]
    fn flow(m: &M) -> u64 {
        let n = m.trace.1.get() + 1;
        m.trace.1.set(n);
        ((m.id as u64 + 1) << FLOW_SHIFT) | (n & ((1 << FLOW_SHIFT) - 1))
    }

    /// Records `e` on m's lane (call on m's thread only).
    #[inline]
    fn push(m: &M, e: Event) {
        // SAFETY: as in `flush`.
        if let Some(w) = unsafe { &mut *m.trace.0.get() } {
            w.push(e);
        }
    }
}

/// Start of a G run, if tracing (0 otherwise).
#[inline]
pub(crate) fn run_start(m: &M) -> u64 {
    match &m.shared.trace {
        Some(t) => t.now(),
        None => 0,
    }
}

/// End of a G run on m: the slice, its incoming arrow, and a park instant
/// when the G is about to park. Called before the park is published (the
/// G is still ours).
#[inline]
pub(crate) fn run_end(m: &M, h: &Header, start: u64, parking: bool) {
    let Some(t) = &m.shared.trace else { return };
    let now = t.now();
    let site = site_of(h);
    MLane::push(
        m,
        Event {
            flow_in: h.flow.swap(0, Ordering::Relaxed),
            ..event(
                EventKind::Run,
                start,
                now.saturating_sub(start),
                trace_id(h),
                site,
                0,
            )
        },
    );
    if parking {
        let reason = h.wait_reason.load(Ordering::Relaxed);
        MLane::push(
            m,
            event(
                EventKind::Park,
                now,
                0,
                trace_id(h),
                site,
                u64::from(reason),
            ),
        );
    }
}

fn site_of(h: &Header) -> Option<&'static Location<'static>> {
    h.spawned.site()
}

/// The task id `h` shows as: 0 for a main G (sched/host.rs), which the
/// trace names `main`, as the main future polled outside the Ms.
fn trace_id(h: &Header) -> u64 {
    let lm = h.locked_m.load(Ordering::Acquire);
    // SAFETY: a G's bound M is alive while the G lives.
    let main = !lm.is_null()
        && unsafe { &*lm }
            .host
            .as_deref()
            .is_some_and(|host| host.is_main(std::ptr::NonNull::from(h)));
    if main {
        0
    } else {
        h.id
    }
}

/// A wake that moved `h` out of WAITING: a flow id for its next run, and
/// the arrow's start on the waking thread's lane.
#[inline]
pub(crate) fn wake(shared: &Shared, h: &Header) {
    let Some(t) = &shared.trace else { return };
    let e = |flow| event(EventKind::Wake, t.now(), 0, trace_id(h), site_of(h), flow);
    if let Some(m) = own_m(shared) {
        let flow = MLane::flow(m);
        h.flow.store(flow, Ordering::Relaxed);
        MLane::push(m, e(flow));
        return;
    }
    let flow = t.recorder.flow();
    h.flow.store(flow, Ordering::Relaxed);
    on_this_thread(shared, t, e(flow));
}

/// The calling thread's M, if it is one of `shared`'s.
#[inline]
fn own_m(shared: &Shared) -> Option<&M> {
    let m = M::current()?;
    // SAFETY: M::current is this thread's live M; the reference is used
    // only during this call (no switch).
    let m = unsafe { &*m.as_ptr() };
    std::ptr::eq(Arc::as_ptr(&m.shared), shared).then_some(m)
}

/// Records `e` on the calling thread's lane: its M's, or main/other.
fn on_this_thread(shared: &Shared, t: &Tracer, e: Event) {
    if let Some(m) = own_m(shared) {
        MLane::push(m, e);
        return;
    }
    if crate::aio::entered().is_some() {
        t.main_lane().push(e);
    } else {
        t.other.push(e);
    }
}

/// An instant on m's lane (steal, handoff).
#[inline]
pub(crate) fn instant(m: &M, kind: EventKind, arg: u64) {
    let Some(t) = &m.shared.trace else { return };
    let task = m.curg_id.load(Ordering::Relaxed);
    MLane::push(m, event(kind, t.now(), 0, task, None, arg));
}

/// A syscall slice on m's lane, from creation to drop.
pub(crate) struct SyscallSpan {
    m: &'static M,
    start: u64,
}

impl SyscallSpan {
    /// Starts the slice if tracing.
    #[inline]
    pub(crate) fn start(m: &'static M) -> Option<Self> {
        let t = m.shared.trace.as_ref()?;
        Some(Self { m, start: t.now() })
    }
}

impl Drop for SyscallSpan {
    fn drop(&mut self) {
        let Some(t) = &self.m.shared.trace else {
            return;
        };
        let now = t.now();
        let task = self.m.curg_id.load(Ordering::Relaxed);
        MLane::push(
            self.m,
            event(
                EventKind::Syscall,
                self.start,
                now.saturating_sub(self.start),
                task,
                None,
                0,
            ),
        );
    }
}

/// The main future's waker when tracing: records the wake's arrow (one per
/// run: a wake while one is pending draws none), then wakes the thread.
pub(crate) fn main_waker(shared: Arc<Shared>, inner: std::task::Waker) -> std::task::Waker {
    std::task::Waker::from(Arc::new(MainWaker { shared, inner }))
}

struct MainWaker {
    shared: Arc<Shared>,
    inner: std::task::Waker,
}

impl std::task::Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(t) = &self.shared.trace {
            let flow = t.recorder.flow();
            let slot = &self.shared.main.flow;
            if slot
                .compare_exchange(0, flow, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                let e = event(EventKind::Wake, t.now(), 0, 0, None, flow);
                on_this_thread(&self.shared, t, e);
            }
        }
        self.inner.wake_by_ref();
    }
}
