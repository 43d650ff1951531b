//! Seeing inside: why a task waits, and a Chrome trace of who ran when.
//!
//! Two pieces, both engine-neutral, used by the loop and by mn-sched alike:
//!
//! * **Wait reasons.** A resource that makes a task wait (a timer, a socket,
//!   a channel, a lock) calls [`set_wait_reason`] just before returning
//!   `Pending`; whoever polled the task reads it with [`take_wait_reason`]
//!   and keeps it with the task for `dump()`. It is a thread-local byte: one
//!   store per `Pending`, nothing shared. When a poll touches several
//!   resources, the last one to make it wait names the reason.
//! * **The trace recorder.** With `RUNTIME_TRACE=FILE`, each lane (the loop
//!   thread; in mn, each M) appends fixed-size [`Event`]s to its own buffer,
//!   and [`Recorder::write`] turns them into Chrome trace-event JSON that
//!   opens in Perfetto (ui.perfetto.dev) and chrome://tracing: one track per
//!   lane, a slice per task run named `task N (file:line)`, instants for
//!   steals, handoffs, retakes and preemptions, and flow arrows from the run
//!   that woke a task to the run that followed. When tracing is off the cost
//!   is one branch on an `Option` per poll.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::panic::Location;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use crate::trace_file::TraceFile;

/// Why a task is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum WaitReason {
    /// It waits for something that did not say what.
    #[default]
    Unknown = 0,
    /// A timer (`sleep`, `interval`, `timeout`).
    Sleep,
    /// Readable readiness of a socket or pipe.
    IoRead,
    /// Writable readiness of a socket.
    IoWrite,
    /// Another task's output.
    Join,
    /// A channel receive.
    ChanReceive,
    /// A channel send (the buffer is full).
    ChanSend,
    /// An async mutex.
    Lock,
    /// Semaphore permits.
    Semaphore,
    /// A `Notify`.
    Notify,
    /// A `WaitGroup`.
    WaitGroup,
    /// A Unix signal.
    Signal,
    /// A `spawn_blocking` job's result.
    Blocking,
    /// It yielded (`yield_now`, or its budget ran out).
    Yield,
    /// A `select` over several channels (mn).
    Select,
    /// Inside a system call (mn).
    Syscall,
}

impl WaitReason {
    /// Go-style words for the dump.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Unknown => "waiting",
            WaitReason::Sleep => "sleep",
            WaitReason::IoRead => "IO read",
            WaitReason::IoWrite => "IO write",
            WaitReason::Join => "join",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Lock => "mutex lock",
            WaitReason::Semaphore => "semaphore acquire",
            WaitReason::Notify => "notify",
            WaitReason::WaitGroup => "wait group",
            WaitReason::Signal => "signal",
            WaitReason::Blocking => "blocking pool",
            WaitReason::Yield => "yield",
            WaitReason::Select => "select",
            WaitReason::Syscall => "syscall",
        }
    }

    /// The reason whose discriminant is `v` (`reason as u8`), `Unknown` for
    /// any other byte: for engines that keep a reason in an atomic byte.
    pub fn from_u8(v: u8) -> Self {
        const ALL: [WaitReason; 16] = [
            WaitReason::Unknown,
            WaitReason::Sleep,
            WaitReason::IoRead,
            WaitReason::IoWrite,
            WaitReason::Join,
            WaitReason::ChanReceive,
            WaitReason::ChanSend,
            WaitReason::Lock,
            WaitReason::Semaphore,
            WaitReason::Notify,
            WaitReason::WaitGroup,
            WaitReason::Signal,
            WaitReason::Blocking,
            WaitReason::Yield,
            WaitReason::Select,
            WaitReason::Syscall,
        ];
        ALL.get(v as usize).copied().unwrap_or(WaitReason::Unknown)
    }
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

thread_local! {
    static WAIT: Cell<u8> = const { Cell::new(0) };
}

/// Records why the task being polled on this thread is about to wait. Call
/// it right before returning `Pending`.
#[inline]
pub fn set_wait_reason(reason: WaitReason) {
    let _ = WAIT.try_with(|w| w.set(reason as u8));
}

/// `Pending`, recording why the task waits (shorthand for resources).
#[inline]
pub fn pending<T>(reason: WaitReason) -> std::task::Poll<T> {
    set_wait_reason(reason);
    std::task::Poll::Pending
}

/// Takes (and clears) the reason recorded during the poll that just ended.
#[inline]
pub fn take_wait_reason() -> WaitReason {
    WaitReason::from_u8(WAIT.try_with(|w| w.replace(0)).unwrap_or(0))
}

/// What a task is doing, as `dump()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Being polled right now.
    Running,
    /// Queued to run.
    Runnable,
    /// Waiting for something (see the reason).
    Waiting(WaitReason),
    /// Finished; its output is not claimed yet.
    Done,
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskState::Running => f.write_str("running"),
            TaskState::Runnable => f.write_str("runnable"),
            TaskState::Waiting(r) => f.write_str(r.as_str()),
            TaskState::Done => f.write_str("done, output unclaimed"),
        }
    }
}

/// One task in a dump.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's id (1 for the first task spawned on its runtime).
    pub id: u64,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// What it is doing.
    pub state: TaskState,
    /// How long it has been waiting, if it is (milliseconds, coarse).
    pub waiting_ms: Option<u64>,
    /// Where it runs: `loop` in single mode; the P or M in mn.
    pub place: String,
    /// The name a task builder gave it (mn; single mode records none).
    pub name: Option<String>,
}

/// Formats a Go-style task dump.
pub fn format_dump(header: &str, tasks: &[TaskInfo]) -> String {
    let mut out = format!("{header}, {} tasks\n", tasks.len());
    for t in tasks {
        if t.id == 0 {
            let _ = write!(out, "\ntask 0 (main) [{}", t.state);
        } else if t.name.as_deref() == Some("main") {
            // mn's main future, a G of its own (mn-sched's sched/host.rs).
            let _ = write!(out, "\ntask {} (main) [{}", t.id, t.state);
        } else if let Some(name) = &t.name {
            let _ = write!(out, "\ntask {} {name:?} [{}", t.id, t.state);
        } else {
            let _ = write!(out, "\ntask {} [{}", t.id, t.state);
        }
        if let Some(ms) = t.waiting_ms {
            if ms >= 1000 {
                let _ = write!(out, ", {} s", ms / 1000);
            } else {
                let _ = write!(out, ", {ms} ms");
            }
        }
        let _ = writeln!(out, "] on {}:", t.place);
        let what = if t.id == 0 { "started" } else { "spawned" };
        let _ = writeln!(
            out,
            "\t{what} at {}:{}",
            t.spawned_at.file(),
            t.spawned_at.line()
        );
    }
    out
}

/// The kinds of trace event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A task ran (a slice from `ts` for `dur`).
    Run,
    /// A system call (a slice).
    Syscall,
    /// Work stolen from another P (`arg`: the victim P).
    Steal,
    /// A P handed to another M (`arg`: the P).
    Handoff,
    /// sysmon retook a P (`arg`: the P).
    Retake,
    /// A task was asked to yield.
    Preempt,
    /// A task parked (`arg`: its [`WaitReason`] as a number).
    Park,
    /// A task was woken (`arg`: the flow id, matched by the next `Run` of
    /// that task).
    Wake,
}

/// One recorded event: fixed size, no allocation.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Nanoseconds since the recorder started.
    pub ts: u64,
    /// Duration in nanoseconds (slices only).
    pub dur: u64,
    /// The task concerned (0 for none).
    pub task: u64,
    /// Where that task was spawned.
    pub site: Option<&'static Location<'static>>,
    /// Kind-specific: see [`EventKind`].
    pub arg: u64,
    /// For `Run`: the flow that woke the task, to end its arrow here (0: none).
    pub flow_in: u64,
}

/// Events kept per lane; later ones are counted and dropped, so a trace
/// left on cannot eat the machine (2M events is about 128 MiB).
pub const MAX_EVENTS_PER_LANE: usize = 2_000_000;

/// Events a writer batches before taking the lane's lock.
const BATCH: usize = 1024;

/// One track of the trace: a loop thread, or an M. Its writer keeps a
/// [`LaneWriter`] and hands batches over, so the lock is taken once per
/// 1,024 events and is otherwise only contended while the file is written.
#[derive(Debug)]
pub struct Lane {
    name: String,
    tid: u64,
    events: Mutex<Vec<Event>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Lane {
    /// Appends a batch, keeping at most [`MAX_EVENTS_PER_LANE`] events.
    fn append(&self, batch: &mut Vec<Event>) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_EVENTS_PER_LANE.saturating_sub(events.len());
        if batch.len() > room {
            let extra = (batch.len() - room) as u64;
            self.dropped
                .fetch_add(extra, std::sync::atomic::Ordering::Relaxed);
            batch.truncate(room);
        }
        events.append(batch);
    }

    /// Appends one event at once (for rare events from any thread).
    pub fn push(&self, e: Event) {
        self.append(&mut vec![e]);
    }
}

/// The single writer's side of a lane: a local batch.
#[derive(Debug)]
pub struct LaneWriter {
    lane: Arc<Lane>,
    batch: Vec<Event>,
}

impl LaneWriter {
    /// A writer for `lane`.
    pub fn new(lane: Arc<Lane>) -> Self {
        LaneWriter {
            lane,
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// Records an event.
    #[inline]
    pub fn push(&mut self, e: Event) {
        self.batch.push(e);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Hands the batch to the lane (before the trace is written).
    pub fn flush(&mut self) {
        self.lane.append(&mut self.batch);
    }
}

impl Drop for LaneWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The trace of one runtime.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    lanes: Mutex<Vec<Arc<Lane>>>,
    next_flow: std::sync::atomic::AtomicU64,
    /// Held while a snapshot is taken and written, so writers sharing the
    /// recorder (several loops) write one after another: the last file
    /// written is then the last snapshot taken, with every lane flushed
    /// before it, never an older one renamed over it.
    writing: Mutex<()>,
}

impl Recorder {
    /// A recorder whose time 0 is now.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            lanes: Mutex::new(Vec::new()),
            next_flow: std::sync::atomic::AtomicU64::new(1),
            writing: Mutex::new(()),
        })
    }

    /// Nanoseconds since the recorder started.
    #[inline]
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// A new lane named `name` (shown as the track's title).
    pub fn lane(&self, name: impl Into<String>) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = Arc::new(Lane {
            name: name.into(),
            tid: lanes.len() as u64 + 1,
            events: Mutex::new(Vec::with_capacity(4096)),
            dropped: std::sync::atomic::AtomicU64::new(0),
        });
        lanes.push(lane.clone());
        lane
    }

    /// A fresh flow id for a wake arrow.
    pub fn flow(&self) -> u64 {
        self.next_flow
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes everything recorded so far as Chrome trace-event JSON to
    /// `file` (see [`TraceFile`] for how).
    pub fn write(&self, file: &TraceFile, process_name: &str) -> io::Result<()> {
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        file.write(self.to_json(process_name).as_bytes())
    }

    /// The trace as a JSON string.
    pub fn to_json(&self, process_name: &str) -> String {
        let lanes: Vec<Arc<Lane>> = self.lanes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::with_capacity(1 << 16);
        out.push_str("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        let _ = write!(
            out,
            "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,\"args\":{{\"name\":{}}}}}",
            json_str(process_name)
        );
        for lane in &lanes {
            let dropped = lane.dropped.load(std::sync::atomic::Ordering::Relaxed);
            let name = if dropped > 0 {
                format!("{} ({dropped} later events dropped)", lane.name)
            } else {
                lane.name.clone()
            };
            let _ = write!(
                out,
                ",\n{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":{},\"args\":{{\"name\":{}}}}}",
                lane.tid,
                json_str(&name)
            );
            let events = lane
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for e in &events {
                out.push_str(",\n");
                event_json(&mut out, lane.tid, e);
            }
        }
        out.push_str("\n]}\n");
        out
    }
}

fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

fn task_name(e: &Event) -> String {
    let who = if e.task == 0 {
        "main".to_string()
    } else {
        format!("task {}", e.task)
    };
    match e.site {
        Some(s) => format!("{who} ({}:{})", s.file(), s.line()),
        None => who,
    }
}

fn event_json(out: &mut String, tid: u64, e: &Event) {
    let common = format!("\"pid\":1,\"tid\":{tid},\"ts\":{}", us(e.ts));
    match e.kind {
        EventKind::Run => {
            let _ = write!(
                out,
                "{{\"ph\":\"X\",\"cat\":\"run\",\"name\":{},{common},\"dur\":{},\"args\":{{\"task\":{}}}}}",
                json_str(&task_name(e)),
                us(e.dur.max(1)),
                e.task
            );
            if e.flow_in != 0 {
                let _ = write!(
                    out,
                    ",\n{{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":{},{common}}}",
                    e.flow_in
                );
            }
        }
        EventKind::Syscall => {
            let _ = write!(
                out,
                "{{\"ph\":\"X\",\"cat\":\"syscall\",\"name\":\"syscall\",{common},\"dur\":{},\"args\":{{\"task\":{}}}}}",
                us(e.dur.max(1)),
                e.task
            );
        }
        EventKind::Wake => {
            let _ = write!(
                out,
                "{{\"ph\":\"s\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":{},{common},\"args\":{{\"task\":{}}}}}",
                e.arg, e.task
            );
        }
        EventKind::Park => {
            let _ = write!(
                out,
                "{{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"park\",\"name\":{},{common},\"args\":{{\"task\":{}}}}}",
                json_str(&format!("park: {}", WaitReason::from_u8(e.arg as u8))),
                e.task
            );
        }
        EventKind::Steal | EventKind::Handoff | EventKind::Retake | EventKind::Preempt => {
            let name = match e.kind {
                EventKind::Steal => "steal",
                EventKind::Handoff => "handoff",
                EventKind::Retake => "retake",
                _ => "preempt",
            };
            let _ = write!(
                out,
                "{{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"sched\",\"name\":\"{name}\",{common},\"args\":{{\"task\":{},\"p\":{}}}}}",
                e.task, e.arg
            );
        }
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_reasons_round_trip_through_the_thread_local() {
        assert_eq!(take_wait_reason(), WaitReason::Unknown);
        set_wait_reason(WaitReason::ChanReceive);
        assert_eq!(take_wait_reason(), WaitReason::ChanReceive);
        assert_eq!(take_wait_reason(), WaitReason::Unknown, "taking clears it");
        for v in 0..16u8 {
            assert_eq!(WaitReason::from_u8(v) as u8, v);
        }
    }

    #[test]
    fn json_has_lanes_slices_and_flows() {
        let r = Recorder::new();
        let lane = r.lane("loop \"main\"");
        let flow = r.flow();
        lane.push(Event {
            kind: EventKind::Wake,
            ts: 1_500,
            dur: 0,
            task: 2,
            site: None,
            arg: flow,
            flow_in: 0,
        });
        lane.push(Event {
            kind: EventKind::Run,
            ts: 2_000,
            dur: 750,
            task: 2,
            site: Some(Location::caller()),
            arg: 0,
            flow_in: flow,
        });
        let j = r.to_json("test");
        assert!(j.contains("\"name\":\"loop \\\"main\\\"\""), "{j}");
        assert!(
            j.contains("\"ph\":\"X\",\"cat\":\"run\",\"name\":\"task 2 ("),
            "{j}"
        );
        assert!(j.contains("\"ts\":2.000,\"dur\":0.750"), "{j}");
        assert!(
            j.contains(&format!(
                "\"ph\":\"s\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":{flow}"
            )),
            "{j}"
        );
        assert!(
            j.contains(&format!(
                "\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":{flow}"
            )),
            "{j}"
        );
    }
}
