//! The loop: the core's state and one turn of the JavaScript-style event loop.
//!
//! This file holds the state of one loop (`Core`), its task slab with the
//! rules below, and [`Runtime`], whose `block_on` runs the turns. The rest
//! of the folder: `turn.rs` (the steps of a turn), `join.rs` (join handles'
//! operations on the slab), `builder.rs` ([`Builder`]) and `handle.rs`
//! ([`Handle`] and the free functions for the current loop).
//!
//! ```text
//!            ┌──────────────────────────────────────────────────────┐
//!            │ 1. timers   fire every expired entry of the wheel    │
//!            │             (wakes push their tasks on `ready`)      │
//!  block_on ─┤ 2. remote   take what other threads queued: wakes,   │
//!            │             spawns, join/abort/detach operations     │
//!            │ 3. main     poll block_on's future if it was woken   │
//!            │ 4. tasks    poll the tasks ready at the turn's start,│
//!            │             at most `event_interval` of them         │
//!            │ 5. I/O      epoll_wait: timeout 0 if anything is     │
//!            │             ready, else until the next timer         │
//!            └──────────────── until the main future is Ready ──────┘
//! ```
//!
//! Ownership rules for the task slab (the life of a slot):
//! 1. `spawn` inserts a slot `Idle` and `scheduled`, with a fresh generation,
//!    and pushes its waker word on `ready`.
//! 2. Polling takes the task's box out of the slot (`Running`), so user code
//!    never runs while a `RefCell` of the core is borrowed, and puts it back
//!    (`Idle`) when the poll returns `Pending`.
//! 3. On completion the slot becomes `Complete` and keeps the box (now holding
//!    only the output) while a `JoinHandle` refers to it; the handle takes the
//!    output and frees the slot. Without a handle the slot is freed at once.
//! 4. A wake names a slot by key and generation; it only sets `scheduled` on an
//!    `Idle` or `Running` slot of that generation, so stale wakes do nothing
//!    and a task is queued at most once. The generation has 18 bits (it fits
//!    the waker word) and comes round after 2^18 spawns: a very old wake may
//!    then poll another task once, which every future tolerates.
//! 5. A join handle names its slot by key and task id (`Slot::id`, the count
//!    of spawns, never reused): joining, detaching and aborting act only on
//!    a slot that still holds that id, so a handle whose task is gone never
//!    touches the task that took its slot, however many spawns later.
//! 6. Anything that may run user code — polling, dropping a future or an
//!    output, waking a foreign waker — happens with no borrow of the core held.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::alarm::Alarm;
use crate::context;
use crate::coop;
use crate::io::IoSlot;
use crate::observe::{Control, Tracing};
use crate::remote::{self, Remote, RemoteOp};
use crate::task::cell::Cell as TaskCell;
use crate::task::waker::{self, GEN_MASK, MAIN_KEY};
use crate::task::{JoinHandle, LocalJoinHandle, Task};
use crate::time::wheel::Wheel;
use crate::trace::{self, TaskState, TraceFile, WaitReason};

// The rest of the runtime, by what it holds: the Builder, the Handle and
// the current loop's free functions, the join operations on the slab, and
// the steps of a turn (each file says more).
mod builder;
mod handle;
mod join;
mod turn;

pub use builder::Builder;
use builder::Trace;
pub use handle::{spawn, spawn_local, stats, user_data, Handle};

/// The token of the remote queue's eventfd.
const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// The token of the alarm's timerfd.
const ALARM_TOKEN: mio::Token = mio::Token(usize::MAX - 3);

/// Nanoseconds per tick of the timer wheel (2^15, 32.8 µs): a timer fires
/// within a tick of its deadline, never before it. It was one millisecond
/// (half a millisecond late on average from rounding alone), then 0.1 ms;
/// six levels of 64 slots still cover 2^36 ticks, 26 days, and timers of
/// 10 ms or 1 s cascade through as many levels as with 0.1 ms ticks.
const TICK_NS: u64 = 1 << 15;

/// Where a task's slot is in its life (see the module's ownership rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    Complete,
}

/// One task's entry in the slab.
struct Slot {
    /// Tells this occupant from earlier and later ones of the same key.
    generation: u32,
    state: State,
    /// Already on the ready queue (dedups wakes).
    scheduled: bool,
    /// A local `JoinHandle` still refers to the slot.
    joined: bool,
    /// `abort` was asked while the task was running.
    abort: bool,
    /// The turn in which it was last polled (low 32 bits): a task is polled
    /// at most once per turn.
    polled_turn: u32,
    /// Why it waits, as its last poll said (see `trace`).
    wait: WaitReason,
    /// When that poll ended (`turn_ms`), for the dump.
    since_ms: u32,
    /// Its id on this runtime (1 for the first task spawned): never reused,
    /// so join handles name the task by it (rule 5).
    id: u64,
    /// Where it was spawned.
    site: &'static Location<'static>,
    /// Who awaits the output.
    join_waker: Option<Waker>,
    /// The future, then the output. `None` while running.
    task: Option<Pin<Box<dyn Task>>>,
}

/// Counters readable through [`Runtime::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spawned: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) turns: Cell<u64>,
    pub(crate) remote_ops: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
}

/// A snapshot of a loop's state and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Tasks alive now (spawned, not yet complete or whose output is unclaimed).
    pub live_tasks: usize,
    /// Tasks spawned since the runtime started.
    pub total_tasks: u64,
    /// Tasks on the ready queue.
    pub ready: usize,
    /// Timers pending on the wheel.
    pub timers: usize,
    /// I/O sources registered with epoll.
    pub io_sources: usize,
    /// Task polls since the start (the main future included).
    pub polls: u64,
    /// Turns of the loop since the start.
    pub turns: u64,
    /// Operations received from other threads.
    pub remote_ops: u64,
    /// Readiness events received from epoll.
    pub io_events: u64,
    /// Timers fired.
    pub timers_fired: u64,
}

/// The state of one loop, shared (on its own thread) through an `Rc`.
pub(crate) struct Core {
    /// The id wakers carry.
    pub(crate) short: u32,
    /// What other threads use to reach this loop.
    pub(crate) remote: Arc<Remote>,
    tasks: RefCell<Slab<Slot>>,
    /// Waker words of tasks to poll, in FIFO order.
    ready: RefCell<VecDeque<u64>>,
    /// `block_on`'s future was woken.
    main_woken: Cell<bool>,
    next_generation: Cell<u32>,
    /// Pending timers, in ticks (`TICK_NS`) since `start`.
    pub(crate) timers: RefCell<Wheel<Waker>>,
    /// Wakes a blocked loop at the next timer's deadline to the microsecond.
    alarm: Alarm,
    /// Tick 0 of the wheel.
    pub(crate) start: Instant,
    /// Readiness of registered sources.
    pub(crate) io: RefCell<Slab<IoSlot>>,
    next_io_generation: Cell<u32>,
    /// Registers sources without borrowing `poll`.
    pub(crate) registry: mio::Registry,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    /// Tasks polled per turn at most; also, while tasks are ready, polls
    /// between two looks at epoll.
    event_interval: usize,
    /// Task polls since epoll was last asked (a busy loop looks at I/O once
    /// per `event_interval` polls, not once per turn).
    polls_since_io: Cell<usize>,
    /// Whether a task yielded (`yield_now`, or its budget ran out: `defer`)
    /// since epoll was last asked: then epoll is asked at the next turn
    /// that begins a millisecond or more after it was last (`io_overdue`).
    yielded_since_io: Cell<bool>,
    /// Wakers of tasks that yielded (`yield_now`), woken at the start of
    /// the next turn right after the timers (`take_deferred`), so the
    /// tasks that timers and epoll woke meanwhile go first.
    deferred: RefCell<Vec<Waker>>,
    /// Reused buffers, so a turn allocates nothing in steady state.
    wake_buf: RefCell<Vec<Waker>>,
    remote_buf: RefCell<Vec<RemoteOp>>,
    pub(crate) counters: Counters,
    /// Opaque state of the embedding layer (compat), see [`user_data`].
    user_data: Option<Arc<dyn Any + Send + Sync>>,
    /// A callback run every period by the loop itself (schedtrace), with
    /// its next due time.
    periodic: Option<Periodic>,
    /// Milliseconds since `start` at the end of the last epoll: a coarse
    /// clock read once per turn, for wait durations in dumps.
    pub(crate) turn_ms: Cell<u32>,
    /// Id of the task being polled (`None`: none; 0 is the main future),
    /// for trace wake arrows.
    running: Cell<Option<u64>>,
    /// The main future's wait reason, since when, and `block_on`'s caller.
    main_wait: Cell<(WaitReason, u32)>,
    main_site: Cell<Option<&'static Location<'static>>>,
    /// Trace recording, when `RUNTIME_TRACE` asked for it.
    pub(crate) tracing: Option<Tracing>,
    /// SIGQUIT/SIGUSR2 handling, when asked for.
    pub(crate) control: Option<Control>,
}

/// See [`Builder::periodic`].
struct Periodic {
    period: Duration,
    next: Cell<Instant>,
    callback: RefCell<Box<dyn FnMut()>>,
}

impl Core {
    fn new(builder: Builder) -> io::Result<Rc<Core>> {
        let Builder {
            event_interval,
            user_data,
            periodic,
            trace,
            control_signals,
        } = builder;
        let tracing = match trace {
            Some(Trace::File(file)) => Some(Tracing::new(file)),
            Some(Trace::Shared(file, recorder, lane)) => {
                Some(Tracing::shared(file, recorder, &lane))
            }
            Some(Trace::Path(path)) => match TraceFile::open(&path) {
                Ok(file) => Some(Tracing::new(file)),
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot write a trace to {}: {e}", path.display()),
                    ))
                }
            },
            None => None,
        };
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let control = control_signals.then(|| Control::new(&registry));
        let remote = remote::register(poll.registry(), WAKER_TOKEN)?;
        let alarm = Alarm::new(poll.registry(), ALARM_TOKEN)?;
        Ok(Rc::new(Core {
            short: remote.short,
            remote,
            tasks: RefCell::new(Slab::new()),
            ready: RefCell::new(VecDeque::new()),
            main_woken: Cell::new(false),
            next_generation: Cell::new(0),
            timers: RefCell::new(Wheel::new()),
            alarm,
            start: Instant::now(),
            io: RefCell::new(Slab::new()),
            next_io_generation: Cell::new(0),
            registry,
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(1024)),
            event_interval,
            polls_since_io: Cell::new(0),
            yielded_since_io: Cell::new(false),
            deferred: RefCell::new(Vec::new()),
            wake_buf: RefCell::new(Vec::new()),
            remote_buf: RefCell::new(Vec::new()),
            counters: Counters::default(),
            user_data,
            periodic: periodic.map(|(period, callback)| Periodic {
                period,
                next: Cell::new(Instant::now() + period),
                callback: RefCell::new(callback),
            }),
            turn_ms: Cell::new(0),
            running: Cell::new(None),
            main_wait: Cell::new((WaitReason::Unknown, 0)),
            main_site: Cell::new(None),
            tracing,
            control,
        }))
    }

    pub(crate) fn next_io_generation(&self) -> u32 {
        let g = self.next_io_generation.get();
        self.next_io_generation.set(g.wrapping_add(1));
        g
    }

    // ------------------------------------------------------------ tasks

    /// Rule 4: marks a task ready if the word names a live, unqueued slot.
    pub(crate) fn schedule(&self, word: u64) {
        let key = waker::key_of(word);
        if key == MAIN_KEY {
            if !self.main_woken.replace(true) {
                if let (Some(t), Some(_), Some(site)) =
                    (&self.tracing, self.running.get(), self.main_site.get())
                {
                    t.wake(MAIN_KEY, 0, site);
                }
            }
            return;
        }
        let mut tasks = self.tasks.borrow_mut();
        if let Some(slot) = tasks.get_mut(key as usize) {
            if slot.generation == waker::gen_of(word)
                && !slot.scheduled
                && slot.state != State::Complete
            {
                slot.scheduled = true;
                self.ready.borrow_mut().push_back(word);
                if let Some(t) = &self.tracing {
                    if self.running.get().is_some() {
                        t.wake(key, slot.id, slot.site);
                    }
                }
            }
        }
    }

    /// Rule 1: inserts a task; returns its key and id.
    fn insert(
        &self,
        task: Pin<Box<dyn Task>>,
        joined: bool,
        site: &'static Location<'static>,
    ) -> (u32, u64) {
        let generation = self.next_generation.get();
        self.next_generation
            .set(generation.wrapping_add(1) & GEN_MASK);
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let key = entry.key();
        assert!(
            key < MAIN_KEY as usize,
            "switchyard: more than {MAIN_KEY} tasks alive at once in one loop"
        );
        let id = self.counters.spawned.get() + 1;
        entry.insert(Slot {
            generation,
            state: State::Idle,
            scheduled: true,
            joined,
            abort: false,
            polled_turn: u32::MAX,
            wait: WaitReason::Unknown,
            since_ms: 0,
            id,
            site,
            join_waker: None,
            task: Some(task),
        });
        self.ready
            .borrow_mut()
            .push_back(waker::pack(self.short, key as u32, generation));
        self.counters.spawned.set(id);
        (key as u32, id)
    }

    /// Spawns a `Send` future on this loop.
    #[track_caller]
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = Box::pin(TaskCell::new(future, None));
        let (key, id) = self.insert(task, true, Location::caller());
        JoinHandle::slot(self.short, key, id)
    }

    /// Spawns a `!Send` future on this loop.
    #[track_caller]
    pub(crate) fn spawn_local<F>(&self, future: F) -> LocalJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = Box::pin(TaskCell::new(future, None));
        let (key, id) = self.insert(task, true, Location::caller());
        LocalJoinHandle::new(self.short, key, id)
    }

    /// Rule 2: polls the task named by `word` once, if it is still queued
    /// and was not polled in this turn yet (then it is left for the next).
    fn run_task(&self, word: u64, turn: u32) -> Ran {
        let key = waker::key_of(word) as usize;
        let task = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(slot) = tasks.get_mut(key) else {
                return Ran::Stale;
            };
            if slot.generation != waker::gen_of(word)
                || !slot.scheduled
                || slot.state != State::Idle
            {
                return Ran::Stale;
            }
            if slot.polled_turn == turn {
                return Ran::NextTurn;
            }
            slot.polled_turn = turn;
            slot.scheduled = false;
            slot.state = State::Running;
            self.running.set(Some(slot.id));
            (
                slot.task.take().expect("an idle slot holds its task"),
                slot.id,
                slot.site,
            )
        };
        let (mut task, id, site) = task;
        let start = self.tracing.as_ref().map(|t| t.recorder.now());
        let waker = waker::waker(word);
        let mut cx = Context::from_waker(&waker);
        coop::reset();
        let done = task.as_mut().poll(&mut cx).is_ready();
        coop::unconstrain();
        self.running.set(None);
        let wait = trace::take_wait_reason();
        if let (Some(t), Some(start)) = (&self.tracing, start) {
            t.run(key as u32, id, site, start, (!done).then_some(wait));
        }
        self.counters.polls.set(self.counters.polls.get() + 1);
        self.polls_since_io.set(self.polls_since_io.get() + 1);
        self.after_poll(key, task, done, wait);
        Ran::Polled
    }

    /// Rules 2 and 3: puts a polled (or cancelled) task back, or completes it.
    fn after_poll(&self, key: usize, mut task: Pin<Box<dyn Task>>, done: bool, wait: WaitReason) {
        let mut tasks = self.tasks.borrow_mut();
        let slot = &mut tasks[key];
        if !done {
            if !slot.abort {
                slot.task = Some(task);
                slot.state = State::Idle;
                slot.wait = wait;
                slot.since_ms = self.turn_ms.get();
                return;
            }
            // Aborted while it ran: drop the future with no borrow held.
            drop(tasks);
            task.as_mut().cancel();
            return self.after_poll(key, task, true, wait);
        }
        slot.state = State::Complete;
        slot.scheduled = false;
        if slot.joined {
            slot.task = Some(task);
            let w = slot.join_waker.take();
            drop(tasks);
            if let Some(w) = w {
                w.wake();
            }
        } else {
            let slot = tasks.remove(key);
            drop(tasks);
            drop(slot);
            drop(task);
        }
    }

    /// (id, site, state, waiting since) of every task, for dumps; the main
    /// future is task 0.
    pub(crate) fn tasks_snapshot(
        &self,
    ) -> Vec<(u64, &'static Location<'static>, TaskState, Option<u32>)> {
        let main = self.main_site.get().map(|site| {
            let (wait, since) = self.main_wait.get();
            match self.running.get() {
                Some(0) => (0, site, TaskState::Running, None),
                _ if self.main_woken.get() => (0, site, TaskState::Runnable, None),
                _ => (0, site, TaskState::Waiting(wait), Some(since)),
            }
        });
        let tasks = self.tasks.borrow();
        main.into_iter()
            .chain(tasks.iter().map(|(_, s)| {
                let (state, since) = match s.state {
                    State::Running => (TaskState::Running, None),
                    State::Complete => (TaskState::Done, None),
                    State::Idle if s.scheduled => (TaskState::Runnable, None),
                    State::Idle => (TaskState::Waiting(s.wait), Some(s.since_ms)),
                };
                (s.id, s.site, state, since)
            }))
            .collect()
    }

    /// Ticks since `start`, rounded down: the wheel's "now".
    pub(crate) fn tick_now(&self) -> u64 {
        (self.start.elapsed().as_nanos() / u128::from(TICK_NS)) as u64
    }

    /// The first tick at or after `deadline`.
    pub(crate) fn tick_for(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.start).as_nanos();
        nanos
            .div_ceil(u128::from(TICK_NS))
            .min(u128::from(u64::MAX)) as u64
    }

    fn stats(&self) -> LoopStats {
        LoopStats {
            live_tasks: self.tasks.borrow().len(),
            total_tasks: self.counters.spawned.get(),
            ready: self.ready.borrow().len(),
            timers: self.timers.borrow().len(),
            io_sources: self.io.borrow().len(),
            polls: self.counters.polls.get(),
            turns: self.counters.turns.get(),
            remote_ops: self.counters.remote_ops.get(),
            io_events: self.counters.io_events.get(),
            timers_fired: self.counters.timers_fired.get(),
        }
    }
}

/// What `run_task` did with a ready entry.
enum Ran {
    /// Polled it.
    Polled,
    /// Nothing to do: the task finished, was freed, or is no longer queued.
    Stale,
    /// Already polled in this turn: it waits for the next.
    NextTurn,
}

/// Wakes the task named by a waker word, from whatever thread.
pub(crate) fn wake_word(word: u64) {
    let rt = waker::rt_of(word);
    if context::with_core(rt, |core| core.schedule(word)).is_none() {
        remote::wake(word);
    }
}

/// A single-threaded event loop. Not `Send`: it runs where it was made.
///
/// Dropping it drops every task still alive (their futures' destructors run,
/// and their `JoinHandle`s, if awaited elsewhere, yield a cancelled error).
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// A runtime with the default configuration.
    pub fn new() -> io::Result<Self> {
        Builder::new().build()
    }

    /// Runs `future` to completion on this thread, running every spawned
    /// task meanwhile. Tasks still alive when it returns are kept and run
    /// again by the next `block_on`, or dropped with the runtime.
    ///
    /// # Panics
    /// If called inside a runtime (from a task, or inside another `block_on`).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = context::enter(self.core.clone());
        let core = &*self.core;
        core.main_site.set(Some(Location::caller()));
        let mut future = pin!(future);
        let main_waker = waker::waker(waker::pack(core.short, MAIN_KEY, 0));
        core.main_woken.set(true);
        loop {
            core.counters.turns.set(core.counters.turns.get() + 1);
            core.fire_timers();
            core.wake_deferred();
            core.drain_remote();
            if core.main_woken.replace(false) {
                core.counters.polls.set(core.counters.polls.get() + 1);
                core.running.set(Some(0));
                let start = core.tracing.as_ref().map(|t| t.recorder.now());
                coop::reset();
                let polled = future.as_mut().poll(&mut Context::from_waker(&main_waker));
                coop::unconstrain();
                core.running.set(None);
                let wait = trace::take_wait_reason();
                core.main_wait.set((wait, core.turn_ms.get()));
                if let (Some(t), Some(start), Some(site)) =
                    (&core.tracing, start, core.main_site.get())
                {
                    t.run(
                        MAIN_KEY,
                        0,
                        site,
                        start,
                        polled.is_pending().then_some(wait),
                    );
                }
                if let Poll::Ready(v) = polled {
                    core.main_site.set(None);
                    return v;
                }
            }
            core.run_ready();
            if let Err(e) = core.poll_io() {
                panic!("switchyard: epoll_wait failed: {e}");
            }
        }
    }

    /// A handle that spawns onto this loop from any thread.
    pub fn handle(&self) -> Handle {
        Handle {
            remote: self.core.remote.clone(),
        }
    }

    /// Spawns a task onto this loop (it runs during `block_on`).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core.spawn(future)
    }

    /// A snapshot of the loop's counters.
    pub fn stats(&self) -> LoopStats {
        self.core.stats()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let core = &*self.core;
        remote::unregister(&core.remote);
        // Operations queued by other threads are dropped unrun: a join
        // awaited elsewhere reports cancellation from its op's destructor.
        let mut ops = Vec::new();
        core.remote.queue.drain_into(&mut ops);
        drop(ops);
        // Drop every live task outside any borrow: their destructors may
        // touch the (now empty) slab through handles they own.
        let slots: Vec<Slot> = core.tasks.borrow_mut().drain().collect();
        core.ready.borrow_mut().clear();
        drop(slots);
        let timers = std::mem::take(&mut *core.timers.borrow_mut());
        drop(timers);
        if let Some(t) = &core.tracing {
            t.write();
        }
        // Lines queued while stderr was full, if it has room now.
        crate::diag::flush(Duration::ZERO);
    }
}
