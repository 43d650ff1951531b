//! The steps of one turn of the loop, in the order `Runtime::block_on`
//! (in `mod.rs`, with the drawing of the turn) calls them: the timers (and
//! the periodic callback, and the tasks that yielded last turn), what
//! other threads queued, the ready tasks, and epoll. The task slab they
//! act on and its ownership rules are in `mod.rs`; the timing wheel is
//! `time/wheel.rs`, the remote queue `remote/`, socket readiness `io/`.

use std::io;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::{Core, Ran, ALARM_TOKEN, TICK_NS, WAKER_TOKEN};
use crate::observe::{QUIT_TOKEN, TRACE_TOKEN};
use crate::remote::RemoteOp;

/// Wakes fired from the timer wheel per batch.
const TIMER_BATCH: usize = 1024;

impl Core {
    /// Runs the periodic callback if it is due.
    fn run_periodic(&self) {
        let Some(p) = &self.periodic else { return };
        let now = Instant::now();
        if now < p.next.get() {
            return;
        }
        // Stay on the original schedule; skip periods the loop missed.
        let mut next = p.next.get() + p.period;
        while next <= now {
            next += p.period;
        }
        p.next.set(next);
        if let Ok(mut f) = p.callback.try_borrow_mut() {
            f();
        }
    }

    /// Step 1: fires expired timers.
    pub(super) fn fire_timers(&self) {
        self.run_periodic();
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = self.tick_now();
        let mut buf = self.wake_buf.take();
        loop {
            let n = self
                .timers
                .borrow_mut()
                .advance(now, TIMER_BATCH, |w| buf.push(w));
            self.counters
                .timers_fired
                .set(self.counters.timers_fired.get() + n as u64);
            for w in buf.drain(..) {
                w.wake();
            }
            if n < TIMER_BATCH {
                break;
            }
        }
        *self.wake_buf.borrow_mut() = buf;
    }

    /// Step 2: runs what other threads queued.
    pub(super) fn drain_remote(&self) {
        if !self.remote.queue.pending() {
            return;
        }
        let mut ops = self.remote_buf.take();
        self.remote.queue.drain_into(&mut ops);
        self.counters
            .remote_ops
            .set(self.counters.remote_ops.get() + ops.len() as u64);
        for op in ops.drain(..) {
            match op {
                RemoteOp::Wake(word) => self.schedule(word),
                RemoteOp::Spawn(task, site) => {
                    let (key, id) = self.insert(task, false, site);
                    let abort = {
                        let mut tasks = self.tasks.borrow_mut();
                        let t = tasks[key as usize].task.as_mut().expect("just inserted");
                        t.as_mut().placed(key, id)
                    };
                    if abort {
                        self.abort(key, id);
                    }
                }
                RemoteOp::Call(call) => call.call(self),
            }
        }
        *self.remote_buf.borrow_mut() = ops;
    }

    /// Step 4: polls ready tasks in FIFO order, those readied during the
    /// step included, until the queue is empty, `event_interval` tasks were
    /// polled, or a task comes round a second time (each task is polled at
    /// most once per turn: one that yields waits for timers, other tasks and
    /// epoll).
    pub(super) fn run_ready(&self) {
        let turn = self.counters.turns.get() as u32;
        let mut polled = 0;
        while polled < self.event_interval {
            let Some(word) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            match self.run_task(word, turn) {
                Ran::Polled => polled += 1,
                Ran::Stale => {}
                Ran::NextTurn => {
                    self.ready.borrow_mut().push_front(word);
                    break;
                }
            }
        }
    }

    /// Whether tasks that yield have kept epoll waiting a millisecond or
    /// more. Tasks that compute in slices and yield keep the loop busy, so
    /// epoll was asked only every `event_interval` polls: 128 ms with two
    /// tasks yielding every millisecond, and a socket beside them waited
    /// that long (an echo's median round trip was of that order; Node
    /// polls I/O at every loop iteration, tokio polls its driver at each
    /// `yield_now`). A clock read per turn, and only while tasks yield.
    fn io_overdue(&self) -> bool {
        self.yielded_since_io.get()
            && (self.start.elapsed().as_millis() as u32).wrapping_sub(self.turn_ms.get()) >= 1
    }

    /// Queues the waker of a task that yields, for [`wake_deferred`]
    /// (task/yield_now.rs).
    ///
    /// [`wake_deferred`]: Self::wake_deferred
    pub(crate) fn defer(&self, waker: &Waker) {
        self.deferred.borrow_mut().push(waker.clone());
        self.yielded_since_io.set(true);
    }

    /// Step 1, after the timers: wakes the tasks that yielded during the
    /// last turn. They used to be queued at once, ahead of what timers and
    /// epoll woke later: a task sleeping 10 ms beside one that yields every
    /// millisecond ticked a couple of ms late each time (the documented
    /// order is "after timers, other tasks and epoll"; Node runs timer
    /// callbacks before `setImmediate`'s, tokio defers a `yield_now` past
    /// its driver).
    pub(super) fn wake_deferred(&self) {
        if self.deferred.borrow().is_empty() {
            return;
        }
        let mut buf = self.wake_buf.take();
        std::mem::swap(&mut buf, &mut *self.deferred.borrow_mut());
        for w in buf.drain(..) {
            w.wake();
        }
        *self.wake_buf.borrow_mut() = buf;
    }

    /// Step 5: waits for I/O, at most until the next timer.
    pub(super) fn poll_io(&self) -> io::Result<()> {
        let busy = !self.ready.borrow().is_empty()
            || self.main_woken.get()
            || self.remote.queue.pending()
            || !self.deferred.borrow().is_empty();
        let timeout = if busy {
            Some(Duration::ZERO)
        } else {
            let timer = self
                .timers
                .borrow()
                .next_expiration()
                .map(|tick| self.start + Duration::from_nanos(tick.saturating_mul(TICK_NS)));
            let periodic = self.periodic.as_ref().map(|p| p.next.get());
            let at = match (timer, periodic) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            at.map(|at| self.alarm.wait_for(at))
        };
        if busy {
            // Tasks are waiting: look at epoll only every `event_interval`
            // polls (a syscall per turn would dominate a ping-pong), and not
            // at all when nothing is registered with it.
            let nothing_registered = self.io.borrow().is_empty() && self.control.is_none();
            if nothing_registered
                || (self.polls_since_io.get() < self.event_interval && !self.io_overdue())
            {
                return Ok(());
            }
        }
        self.polls_since_io.set(0);
        self.yielded_since_io.set(false);
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        self.turn_ms.set(self.start.elapsed().as_millis() as u32);
        let mut buf = self.wake_buf.take();
        // Both control signals may come in one batch; each pipe is
        // edge-triggered, so one left unread would wait for the next signal.
        let (mut quit, mut usr2) = (false, false);
        for event in events.iter() {
            match event.token() {
                WAKER_TOKEN => {}
                ALARM_TOKEN => self.alarm.rang(),
                QUIT_TOKEN => quit = true,
                TRACE_TOKEN => usr2 = true,
                _ => self.io_dispatch(event, &mut buf),
            }
        }
        self.counters
            .io_events
            .set(self.counters.io_events.get() + buf.len() as u64);
        drop(events);
        for w in buf.drain(..) {
            w.wake();
        }
        *self.wake_buf.borrow_mut() = buf;
        if quit {
            self.on_control(QUIT_TOKEN);
        }
        if usr2 {
            self.on_control(TRACE_TOKEN);
        }
        Ok(())
    }
}
