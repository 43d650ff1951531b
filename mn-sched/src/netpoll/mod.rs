//! The netpoller: one `mio::Poll` (epoll) per runtime, created at the first
//! registered source (tried again at the next one if that failed:
//! [`NetpollCell`]), and the per-source readiness that sockets and signals
//! wait on (`io.rs`).
//!
//! * Who polls. `Poll::poll` takes `&mut self`, so the poll sits behind a
//!   lock that Ms only *try*. An M holding a P polls with timeout 0 in
//!   findrunnable (after its local and the global queue, before stealing,
//!   and every 61st tick); the Gs its events ready go on its P. The timer
//!   sleeper (timer.rs: one idle M at a time) blocks in `epoll_wait` with
//!   the nearest timer as timeout instead of on its futex, so at most one M
//!   blocks in epoll and it is also the one waiting for the timers.
//! * Waking it. [`M::wake_up`] is how anyone wakes an idle M (handing it a
//!   P, an earlier timer, shutdown): the M's futex token, plus the
//!   `mio::Waker` (an eventfd) when that M is the one blocked in epoll. The
//!   pair is a Dekker on SeqCst: B1 the poller stores `blocker = its id`,
//!   B2 it takes its futex token (if set, it does not block); W1 the waker
//!   sets the token, W2 it loads `blocker` and writes the eventfd if it is
//!   that M. Either B2 sees W1 or W2 sees B1.
//! * Waiting aside. While an M runs Gs and no CPU is spare (sched/spare.rs)
//!   the sleeper waits on its futex instead, at most 10 ms at a time: in
//!   epoll every burst of readiness would wake it, and on a machine whose
//!   CPUs all run threads it could only run those Gs on a CPU taken from
//!   a running thread — often the M that would have polled them a moment
//!   later. The running Ms poll in findrunnable, and sysmon polls a
//!   netpoller nobody has polled for 10 ms. Dekker on SeqCst with the Ms
//!   that idle Ps (a fence between each side's two steps, as loom
//!   needs): A1 the sleeper stores `aside`, A2 it loads the idle-P
//!   count and waits aside only while some P is held; I1 an M idling a P
//!   increments the count (under the sched lock), I2 it loads `aside` and,
//!   if every P is idle now, wakes the sleeper, which then waits in epoll.
//! * Long runs. Where Gs have lately computed for milliseconds with no
//!   switch (sched/spare.rs `long_runs_lately`), the sleeper waiting aside
//!   looks at the held Ps every millisecond instead of sleeping 10 ms, and
//!   a P stuck behind a computing G makes it wait in epoll after all, with
//!   a helper woken for the P's queue (sched/long_run.rs); and a sleeper
//!   that takes a P for the Gs its poll readied hands its post to an idle
//!   M while a P idles (timer.rs `pass_sleeper_post`), so that someone
//!   watches the network while it runs them.
//! * Tokens are slab key + generation, never pointers: an event for a
//!   source freed in the same batch finds another generation and is dropped.
//! * Rejected: polling in epoll from the sleeper only once a source exists
//!   is what is done (a runtime that never does I/O keeps the futex sleeper
//!   and opens no fd); polling always would cost three fds per runtime
//!   (epoll, its waker's eventfd, the alarm's timerfd).

pub(crate) mod io;

use std::io as stdio;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Token};
use rt_base::alarm::Alarm;
use slab::Slab;

use crate::sched::clock::{ms_of_ns, now_ns, ns_of};
use crate::sched::long_run::{Look, LOOK_EVERY};
use crate::sched::m::M;
use crate::sched::spare::Asker;
use crate::sched::Shared;
use io::IoState;

/// The token of the runtime's `mio::Waker`.
const WAKER_TOKEN: Token = Token(usize::MAX);
/// The token of the alarm's timerfd.
const ALARM_TOKEN: Token = Token(usize::MAX - 1);
/// Events taken per poll.
const EVENTS: usize = 1024;
/// Longest wait aside before the sleeper looks again (module doc).
const ASIDE_AT_MOST: Duration = Duration::from_millis(10);

/// A runtime's poller.
pub(crate) struct Netpoll {
    /// The poll, its event buffer, and the alarm that wakes the sleeper at
    /// its deadline to the microsecond (epoll counts milliseconds: a 10 ms
    /// sleep beside a ticker ended most of a millisecond late at the median,
    /// as in Go); tried, never waited for but by the sleeper.
    poll: Mutex<(mio::Poll, Events, Alarm)>,
    /// For (de)registering without the poll lock.
    #[cfg_attr(loom, allow(dead_code))]
    registry: mio::Registry,
    /// Breaks a blocked `epoll_wait`.
    waker: mio::Waker,
    /// Registered sources by slab key.
    sources: Mutex<Slab<Arc<IoState>>>,
    /// Next generation handed to a source.
    #[cfg_attr(loom, allow(dead_code))]
    generation: AtomicU32,
    /// Sources registered now.
    count: AtomicUsize,
    /// Id + 1 of the M blocked in epoll_wait (0: none).
    blocker: AtomicUsize,
    /// When a poll last ran (ns since sysmon's epoch), for sysmon's
    /// staleness rule.
    last_poll: AtomicU64,
    /// The sleeper waits on its futex, not in epoll ("Waiting aside").
    aside: AtomicBool,
}

impl Netpoll {
    fn new() -> stdio::Result<Self> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let alarm = Alarm::new(poll.registry(), ALARM_TOKEN)?;
        Ok(Self {
            poll: Mutex::new((poll, Events::with_capacity(EVENTS), alarm)),
            registry,
            waker,
            sources: Mutex::new(Slab::new()),
            generation: AtomicU32::new(1),
            count: AtomicUsize::new(0),
            blocker: AtomicUsize::new(0),
            last_poll: AtomicU64::new(now_ns()),
            aside: AtomicBool::new(false),
        })
    }

    fn sources(&self) -> MutexGuard<'_, Slab<Arc<IoState>>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `source` for read and write (edge-triggered); returns its
    /// readiness and slab key.
    #[cfg_attr(loom, allow(dead_code))]
    fn register<S: Source + ?Sized>(
        &self,
        source: &mut S,
        interest: Interest,
    ) -> stdio::Result<(Arc<IoState>, usize)> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(IoState::new(generation));
        let key = self.sources().insert(state.clone());
        let token = Token(key | (generation as usize) << 32);
        if let Err(e) = self.registry.register(source, token, interest) {
            self.sources().remove(key);
            return Err(e);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok((state, key))
    }

    /// Deregisters a source and frees its slot.
    #[cfg_attr(loom, allow(dead_code))]
    fn deregister<S: Source + ?Sized>(&self, source: &mut S, key: usize) {
        let _ = self.registry.deregister(source);
        let freed = self.sources().try_remove(key);
        if let Some(state) = freed {
            self.count.fetch_sub(1, Ordering::Relaxed);
            // Waiters (there should be none: the source is being dropped).
            state.wake_all();
        }
    }

    /// Sources registered now.
    pub(crate) fn sources_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Applies one batch of events; returns the wakers to wake.
    fn dispatch(&self, events: &Events, alarm: &Alarm, out: &mut Vec<Waker>) {
        let sources = self.sources();
        for ev in events {
            match ev.token() {
                WAKER_TOKEN => continue,
                ALARM_TOKEN => {
                    alarm.rang();
                    continue;
                }
                _ => {}
            }
            let key = ev.token().0 & 0xFFFF_FFFF;
            let generation = (ev.token().0 >> 32) as u32;
            if let Some(s) = sources.get(key).filter(|s| s.generation == generation) {
                s.on_event(ev, out);
            }
        }
    }

    /// Polls without waiting if no other M is polling; readies the Gs of the
    /// events (into the caller's P when it holds one). The time of the poll
    /// if it polled.
    pub(crate) fn poll_now(&self) -> Option<Instant> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let Ok(mut guard) = self.poll.try_lock() else {
            return None;
        };
        let now = Instant::now();
        self.last_poll.store(ns_of(now), Ordering::Relaxed);
        let (poll, events, alarm) = &mut *guard;
        if poll.poll(events, Some(Duration::ZERO)).is_err() || events.is_empty() {
            return Some(now);
        }
        let mut wake = Vec::new();
        self.dispatch(events, alarm, &mut wake);
        drop(guard);
        crate::sched::ready::wake_to_back(wake);
        Some(now)
    }

    /// Whether sources are registered, nobody waits in epoll and the last
    /// poll was at least `ms` milliseconds before the coarse clock's
    /// `coarse_ms` (a poll stamped after it is never stale).
    pub(crate) fn stale_at(&self, coarse_ms: u32, ms: u32) -> bool {
        if !self.unattended() {
            return false;
        }
        let last_ms = ms_of_ns(self.last_poll.load(Ordering::Relaxed));
        coarse_ms.wrapping_sub(last_ms) as i32 >= ms as i32
    }

    /// Sources are registered and no M waits in epoll for them: only a
    /// non-blocking poll will see their readiness.
    fn unattended(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0 && self.blocker.load(Ordering::SeqCst) == 0
    }

    /// sysmon: polls without waiting if nobody waits in epoll and the last
    /// poll is older than `stale`; true if it polled.
    pub(crate) fn poll_if_stale(&self, stale: Duration) -> bool {
        if !self.unattended() {
            return false;
        }
        let last = self.last_poll.load(Ordering::Relaxed);
        if now_ns().saturating_sub(last) < stale.as_nanos() as u64 {
            return false;
        }
        self.poll_now();
        true
    }

    /// The sleeper `m` waits in epoll until I/O, `deadline`, or a wake-up
    /// (B1–B2 of the module doc); returns the wakers of the Gs the events
    /// ready, for the caller to wake once it knows whether it holds a P. It *waits* for the poll lock: only the
    /// sleeper blocks in epoll, so the holder is an M polling with timeout
    /// 0. (Falling back to the futex here lost wake-ups: the sleeper then
    /// slept with nobody in epoll.)
    fn poll_blocking(&self, m: &M, deadline: Option<Instant>) -> Vec<Waker> {
        let mut guard = self.poll.lock().unwrap_or_else(|e| e.into_inner());
        // B1.
        self.blocker.store(m.id + 1, Ordering::SeqCst);
        // B2.
        fence(Ordering::SeqCst);
        if m.note.take_token() {
            self.blocker.store(0, Ordering::SeqCst);
            return Vec::new();
        }
        let (poll, events, alarm) = &mut *guard;
        let timeout = deadline.map(|d| alarm.wait_for(d));
        let r = poll.poll(events, timeout);
        self.last_poll.store(now_ns(), Ordering::Relaxed);
        self.blocker.store(0, Ordering::SeqCst);
        // A wake-up that wrote the eventfd also left the futex token: take it.
        m.note.take_token();
        let mut wake = Vec::new();
        if r.is_ok() {
            self.dispatch(events, alarm, &mut wake);
        }
        wake
    }
}

impl M {
    /// Wakes this idle M: its futex token, and the poller's eventfd when it
    /// is blocked in epoll (W1–W2 of the module doc).
    pub(crate) fn wake_up(&self) {
        // W1.
        self.note.wake();
        // W2.
        fence(Ordering::SeqCst);
        if let Some(np) = self.shared.netpoll.get() {
            if np.blocker.load(Ordering::SeqCst) == self.id + 1 {
                let _ = np.waker.wake();
            }
        }
    }
}

/// The lazily created poller of a runtime.
///
/// Created at the first socket or signal registration. A creation that
/// fails (out of file descriptors: the poller needs three, for epoll, its
/// waker's eventfd and the alarm's timerfd) is not remembered: that
/// registration gets the error and the next one tries again, so a burst of
/// `EMFILE` does not disable the network for the runtime's whole life (as
/// the single mode's loop, whose epoll exists from the start, recovers
/// once descriptors are free).
#[derive(Default)]
pub(crate) struct NetpollCell {
    poller: OnceLock<Netpoll>,
    /// Held while a poller is being created, so only one is.
    #[cfg_attr(loom, allow(dead_code))]
    creating: Mutex<()>,
}

impl NetpollCell {
    /// The poller, if it exists.
    pub(crate) fn get(&self) -> Option<&Netpoll> {
        self.poller.get()
    }

    /// The poller, created now if it does not exist yet; `created` says
    /// whether this call created it.
    #[cfg_attr(loom, allow(dead_code))]
    fn get_or_create(&self) -> stdio::Result<(&Netpoll, bool)> {
        if let Some(np) = self.poller.get() {
            return Ok((np, false));
        }
        let _one = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(np) = self.poller.get() {
            return Ok((np, false));
        }
        let np = Netpoll::new().map_err(|e| {
            stdio::Error::new(
                e.kind(),
                format!("switchyard: cannot create the netpoller: {e}"),
            )
        })?;
        Ok((self.poller.get_or_init(|| np), true))
    }
}

impl Shared {
    /// The poller, created on first use (or at the first use after a failed
    /// creation). On creation the idle Ms are woken, so that the sleeper
    /// starts waiting in epoll.
    #[cfg_attr(loom, allow(dead_code))]
    fn netpoll(&self) -> stdio::Result<&Netpoll> {
        let (np, created) = self.netpoll.get_or_create()?;
        if created {
            if let Some(m) = self.timers.current_sleeper() {
                m.wake_up();
            }
            let idle = self.lock().idle_ms.last().cloned();
            if let Some(m) = idle {
                m.wake_up();
            } else {
                // No idle M to become the poller. If a P is idle too, maybe
                // no M ever goes idle (none is started yet and the socket
                // belongs to the `block_on_future` thread): start one on
                // that P; finding no work, it idles and waits in epoll.
                // With every P held, their Ms poll in findrunnable.
                crate::sched::handoff::startm(self, None, false);
            }
        }
        Ok(np)
    }

    /// Non-blocking poll from an M holding a P (find.rs).
    pub(crate) fn netpoll_now(&self) {
        if let Some(np) = self.netpoll.get() {
            // An M that polls moves the coarse clocks on (sysmon may then
            // nap: sched/sysmon.rs).
            if np.blocker.load(Ordering::Relaxed) == 0 {
                if let Some(at) = np.poll_now() {
                    crate::sched::clock::tick_coarse_clocks_at(self, at);
                }
            }
        }
    }

    /// Whether the network waits for a poll ([`Netpoll::stale_at`]) by
    /// the coarse clock: `ms` milliseconds since the last.
    pub(crate) fn netpoll_stale(&self, ms: u32) -> bool {
        self.netpoll
            .get()
            .is_some_and(|np| np.stale_at(self.sysmon.coarse_ms(), ms))
    }

    /// A yield's non-blocking poll (sched/schedule.rs), after
    /// [`netpoll_stale`](Self::netpoll_stale). Unlike `netpoll_now` it
    /// leaves the coarse clocks alone: it comes because the coarse clock
    /// said a poll was due, so it must not count as the Ms keeping that
    /// clock fresh (sysmon would nap, the clock stop, and the polls with
    /// it: echo round trips beside yielding Gs took about twice as long at
    /// the median, three times at p90).
    pub(crate) fn netpoll_for_yield(&self) {
        if let Some(np) = self.netpoll.get() {
            np.poll_now();
        }
    }

    /// Shutdown step 3: marks every source still registered as gone, so
    /// that a socket outliving the runtime fails its operations with a
    /// clear error instead of waiting for a poll that never comes
    /// (io.rs step 5). Its waiters that are this runtime's Gs are dropped
    /// unwoken (they are gone; a waker holds its G, and the G may hold the
    /// runtime); any other waiter (a task of another runtime or executor
    /// using the socket) is woken to see the error.
    pub(crate) fn netpoll_clear(&self) {
        if let Some(np) = self.netpoll.get() {
            let all: Vec<_> = np.sources().iter().map(|(_, s)| s.clone()).collect();
            let mut waiters = Vec::new();
            all.iter().for_each(|s| s.mark_gone(&mut waiters));
            for w in waiters {
                if !crate::g::waker::is_g_of(&w, self) {
                    w.wake();
                }
            }
        }
    }

    /// Sources registered now (stats).
    pub(crate) fn io_sources(&self) -> usize {
        self.netpoll.get().map_or(0, Netpoll::sources_count)
    }

    /// The idle sleeper `m` waits for the earliest timer `deadline`: in
    /// epoll once the runtime has a poller, else on its futex. Returns the
    /// wakers of the Gs that I/O readied (not yet woken: handoff.rs `stopm`
    /// first takes a P for them, as Go's findrunnable does after a blocking
    /// netpoll).
    pub(crate) fn sleeper_wait(&self, m: &M, deadline: Option<Instant>) -> Vec<Waker> {
        match self.netpoll.get() {
            Some(np) if self.wait_aside() => {
                // A1.
                np.aside.store(true, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                // A2.
                let stuck = if self.idle.all_idle(self.nprocs()) {
                    None
                } else {
                    let cap = Instant::now() + ASIDE_AT_MOST;
                    self.wait_aside_looking(m, deadline.map_or(cap, |d| d.min(cap)))
                };
                np.aside.store(false, Ordering::SeqCst);
                let Some(p) = stuck else {
                    return Vec::new();
                };
                // A P is stuck behind a computing G (sched/long_run.rs):
                // its queue gets a helper, and the readiness that would
                // wait for it is polled here.
                self.spare_cpu
                    .long_run_helps
                    .fetch_add(1, Ordering::Relaxed);
                if !self.ps[p].runq.is_empty() {
                    crate::sched::handoff::wakep(self);
                }
                np.poll_blocking(m, deadline)
            }
            Some(np) => np.poll_blocking(m, deadline),
            None => {
                m.note.sleep(deadline);
                Vec::new()
            }
        }
    }

    /// The aside wait of `m` until `until`, looking at the held Ps every
    /// [`LOOK_EVERY`]: the index of a P found stuck behind a computing G,
    /// or `None` once woken or at `until`.
    fn wait_aside_looking(&self, m: &M, until: Instant) -> Option<usize> {
        if !self.spare_cpu.long_runs_lately(self.sysmon.coarse_ms()) {
            // Gs run briefly here: one wait, no looks (spare.rs).
            m.note.sleep(Some(until));
            return None;
        }
        let mut look = Look::take(self, None);
        loop {
            let now = Instant::now();
            if now >= until || m.note.sleep(Some((now + LOOK_EVERY).min(until))) {
                return None;
            }
            if let Some(p) = look.stuck(self) {
                self.spare_cpu.note_long_run(self.sysmon.coarse_ms());
                return Some(p);
            }
            look = Look::take(self, Some(&look));
        }
    }

    /// Whether the sleeper should wait aside now: some P is held and no
    /// CPU is spare (module doc).
    fn wait_aside(&self) -> bool {
        if self.idle.all_idle(self.nprocs()) {
            return false;
        }
        // Where Gs have lately run long, the sleeper counts the CPU it
        // runs on as its own (spare.rs `Asker`); elsewhere it waits aside
        // unless another CPU is free, which keeps it off the CPUs an echo
        // load needs.
        let now = self.sysmon.coarse_ms();
        let asker = if self.spare_cpu.long_runs_lately(now) {
            Asker::Itself
        } else {
            Asker::Waker
        };
        !self.spare_cpu.spare(now, asker)
    }

    /// sysmon saw a G compute for a millisecond or more (sched/long_run.rs):
    /// what waits behind it gets a watcher now — the sleeper's post filled
    /// if it is vacant (a P idling), a sleeper waiting aside woken to look
    /// again, now that long runs count.
    pub(crate) fn long_run_seen(&self) {
        self.pass_sleeper_post();
        let Some(np) = self.netpoll.get() else {
            return;
        };
        if np.aside.load(Ordering::SeqCst) {
            if let Some(s) = self.timers.current_sleeper() {
                s.note.wake();
            }
        }
    }

    /// I1–I2 of the module doc: the caller just put a P on the idle list;
    /// if every P idles now and the sleeper waits aside, wake it.
    pub(crate) fn kick_aside_sleeper(&self) {
        let Some(np) = self.netpoll.get() else {
            return;
        };
        // I2 (after I1, the caller's increment of the idle count).
        fence(Ordering::SeqCst);
        if np.aside.load(Ordering::SeqCst) && self.idle.all_idle(self.nprocs()) {
            if let Some(s) = self.timers.current_sleeper() {
                s.note.wake();
            }
        }
    }

    /// Whether an idle M should wait in the poller even with no timer.
    pub(crate) fn netpoll_active(&self) -> bool {
        self.netpoll.get().is_some()
    }
}

/// A source registered with the current runtime's poller (the netpoller's
/// [`rt_base::io::Registration`]): its readiness, and the runtime, to
/// deregister on drop. `Send + Sync`: any thread may wait on it while its
/// runtime lives. (Not in loom builds, which model the readiness word
/// alone.)
#[cfg(not(loom))]
pub struct Registration {
    shared: Arc<Shared>,
    key: usize,
    state: Arc<IoState>,
}

#[cfg(not(loom))]
impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
impl rt_base::io::Registration for Registration {
    /// Registers `source` with the runtime of the calling G (or thread
    /// inside a runtime).
    fn register<S: Source + ?Sized>(source: &mut S, interest: Interest) -> stdio::Result<Self> {
        let handle = crate::Handle::current().ok_or_else(|| {
            stdio::Error::other(
                "switchyard: an mn socket was created outside an mn runtime (create it on a G)",
            )
        })?;
        let shared = handle.shared().clone();
        let (state, key) = shared.netpoll()?.register(source, interest)?;
        Ok(Self { shared, key, state })
    }

    #[inline]
    fn poll_ready(
        &self,
        cx: &mut std::task::Context<'_>,
        dir: io::Direction,
    ) -> std::task::Poll<stdio::Result<rt_base::io::ReadyEvent>> {
        self.state.poll_ready(cx, dir)
    }

    #[inline]
    fn clear_readiness(&self, event: rt_base::io::ReadyEvent) {
        self.state.clear(event);
    }

    /// Deregisters `source` (from the owner's drop).
    fn deregister<S: Source + ?Sized>(&self, source: &mut S) {
        if let Some(np) = self.shared.netpoll.get() {
            np.deregister(source, self.key);
        }
    }
}
