//! The loop seen from outside: task dumps, the trace, control signals.
//!
//! * `dump()` lists every task with its id, state, wait reason, how long it
//!   has waited (to the turn, coarse) and where it was spawned, Go-style.
//! * With a trace path set, every poll becomes a slice on the loop's one
//!   lane, every task-to-task wake a flow arrow, every park an instant; the
//!   file is written when the runtime is dropped and whenever SIGUSR2
//!   arrives.
//! * With control signals on (compat turns them on, as Go does), SIGQUIT
//!   prints the dump on stderr and the program goes on; SIGUSR2 writes the
//!   trace. Both arrive as readiness on self-pipes registered with the
//!   loop's own epoll under reserved tokens, so no thread is needed.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::Arc;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::context;
use crate::runtime::Core;
use crate::signal::SignalPipe;
use crate::task::waker::MAIN_KEY;
use crate::trace::{
    format_dump, Event, EventKind, LaneWriter, Recorder, TaskInfo, TraceFile, WaitReason,
};

/// Token of the SIGQUIT pipe.
pub(crate) const QUIT_TOKEN: Token = Token(usize::MAX - 1);
/// Token of the SIGUSR2 pipe.
pub(crate) const TRACE_TOKEN: Token = Token(usize::MAX - 2);

/// Trace recording state of a loop (present only when tracing).
pub(crate) struct Tracing {
    pub(crate) recorder: Arc<Recorder>,
    writer: RefCell<LaneWriter>,
    file: TraceFile,
    /// Flow id of the wake not yet matched by each slot's next run (indexed
    /// by slab key; 0 = none).
    flows: RefCell<Vec<u64>>,
    main_flow: Cell<u64>,
}

impl Tracing {
    pub(crate) fn new(file: TraceFile) -> Tracing {
        Tracing::shared(file, Recorder::new(), "loop (single mode)")
    }

    /// Recording into a new lane `lane` of `recorder` (shared by several
    /// loops, or this loop's own).
    pub(crate) fn shared(file: TraceFile, recorder: Arc<Recorder>, lane: &str) -> Tracing {
        let lane = recorder.lane(lane);
        Tracing {
            recorder,
            writer: RefCell::new(LaneWriter::new(lane)),
            file,
            flows: RefCell::new(Vec::new()),
            main_flow: Cell::new(0),
        }
    }

    /// Sets the pending arrow of slot `key` (the main future's key has a
    /// cell of its own), returning the previous one.
    fn flow_slot(&self, key: u32, value: u64) -> u64 {
        if key == MAIN_KEY {
            return self.main_flow.replace(value);
        }
        let mut flows = self.flows.borrow_mut();
        let i = key as usize;
        if flows.len() <= i {
            flows.resize(i + 1, 0);
        }
        std::mem::replace(&mut flows[i], value)
    }

    /// A task (id `woken`, slot `key`) was woken by the task running now.
    pub(crate) fn wake(&self, key: u32, woken: u64, site: &'static Location<'static>) {
        let flow = self.recorder.flow();
        self.flow_slot(key, flow);
        self.writer.borrow_mut().push(Event {
            kind: EventKind::Wake,
            ts: self.recorder.now(),
            dur: 0,
            task: woken,
            site: Some(site),
            arg: flow,
            flow_in: 0,
        });
    }

    /// A poll of task `id` (slot `key`) ran from `start` until now.
    pub(crate) fn run(
        &self,
        key: u32,
        id: u64,
        site: &'static Location<'static>,
        start: u64,
        parked: Option<WaitReason>,
    ) {
        let now = self.recorder.now();
        let flow_in = self.flow_slot(key, 0);
        let mut w = self.writer.borrow_mut();
        w.push(Event {
            kind: EventKind::Run,
            ts: start,
            dur: now.saturating_sub(start),
            task: id,
            site: Some(site),
            arg: 0,
            flow_in,
        });
        if let Some(reason) = parked {
            w.push(Event {
                kind: EventKind::Park,
                ts: now,
                dur: 0,
                task: id,
                site: Some(site),
                arg: reason as u64,
                flow_in: 0,
            });
        }
    }

    /// Writes the trace file; errors go to stderr (tracing never stops the
    /// program).
    pub(crate) fn write(&self) {
        self.writer.borrow_mut().flush();
        if let Err(e) = self.recorder.write(&self.file, "switchyard (single mode)") {
            crate::diag::line(&format!(
                "switchyard: could not write the trace to {}: {e}",
                self.file.path().display()
            ));
        }
    }
}

/// The control signals' pipes, registered with the loop.
pub(crate) struct Control {
    quit: Option<SignalPipe>,
    usr2: Option<SignalPipe>,
}

impl Control {
    /// Listens for SIGQUIT and SIGUSR2 on `registry`. Best effort: a signal
    /// that cannot be listened for (too many listeners in the process) is
    /// left alone.
    pub(crate) fn new(registry: &mio::Registry) -> Control {
        let hook = |signo, token| {
            let pipe = SignalPipe::new(signo).ok()?;
            registry
                .register(&mut SourceFd(&pipe.fd()), token, Interest::READABLE)
                .ok()?;
            Some(pipe)
        };
        Control {
            quit: hook(libc::SIGQUIT, QUIT_TOKEN),
            usr2: hook(libc::SIGUSR2, TRACE_TOKEN),
        }
    }
}

impl Core {
    /// Acts on a control signal's readiness.
    pub(crate) fn on_control(&self, token: Token) {
        let Some(control) = &self.control else { return };
        if token == QUIT_TOKEN {
            if control.quit.as_ref().is_some_and(|p| p.take().is_ok()) {
                crate::diag::text(&self.dump_text("SIGQUIT"));
            }
        } else if token == TRACE_TOKEN && control.usr2.as_ref().is_some_and(|p| p.take().is_ok()) {
            if let Some(t) = &self.tracing {
                t.write();
            }
        }
    }

    /// Every task of this loop, as a dump reports it.
    pub(crate) fn task_infos(&self) -> Vec<TaskInfo> {
        let now_ms = self.turn_ms.get();
        self.tasks_snapshot()
            .into_iter()
            .map(|(id, site, state, since_ms)| TaskInfo {
                id,
                spawned_at: site,
                state,
                waiting_ms: since_ms.map(|s| u64::from(now_ms.saturating_sub(s))),
                place: "loop".to_string(),
                name: None,
            })
            .collect()
    }

    /// The dump as text, headed by `why`.
    pub(crate) fn dump_text(&self, why: &str) -> String {
        let mut tasks = self.task_infos();
        tasks.sort_by_key(|t| t.id);
        format_dump(
            &format!(
                "switchyard: task dump ({why}), mode=single, runtime {}, thread {}",
                self.remote.id,
                std::thread::current().name().unwrap_or("unnamed")
            ),
            &tasks,
        )
    }
}

/// Every task of the loop running on this thread, Go-style (`None` outside a
/// runtime). `SIGQUIT` prints the same text on stderr.
pub fn dump() -> Option<String> {
    context::with_current(|core| core.dump_text("dump()"))
}

/// The tasks of the loop running on this thread (`None` outside a runtime).
pub fn tasks() -> Option<Vec<TaskInfo>> {
    context::with_current(|core| core.task_infos())
}
