//! The main G: the thread inside `Runtime::block_on_future` becomes an M
//! holding a P (a *host* M, Go's m0), and the future it was given runs as
//! a G bound to that thread, as Go's `func main` runs as a goroutine on m0.
//!
//! Why: polled beside the scheduler instead (on a thread holding no P),
//! every wake between main and a task crossed threads — a futex wake each
//! way — so a ping-pong or a spawn storm driven from main ran an order of
//! magnitude slower than the same code in a task. As a G, main spawns into
//! its P's `runnext`, and a wake between main and a task is a push onto
//! that P's queue: the host runs the task while main waits, then main.
//!
//! How the host differs from an M the runtime starts:
//!
//! * **Bound Gs.** The main future need not be `Send`, so its G never
//!   leaves the host thread: it is bound (`locked_m`) from birth, and stays
//!   so. A G pinned while it runs on the host (a park inside an async poll,
//!   a `spawn_local` host, a park while panicking) is bound to it too.
//!   Unlike a `lock_os_thread` M, the host runs any G while its bound Gs
//!   wait. A bound G made runnable from another thread, or picked from a
//!   queue by another M, is *posted* to the host (its mail) and the host is
//!   woken (`post`); the host runs its mail before anything else.
//! * **Leaving the thread first.** A blocking-style G (no async poll on its
//!   stack) about to block in `syscall`/`syscall_blocking`, or to
//!   `lock_os_thread`, moves to another M first (`leave_host`), so that
//!   main never waits behind it. An async task inside its poll cannot move
//!   (its poll may hold thread-local references): its blocking call holds
//!   the host thread, and main, until it returns; other Gs go on elsewhere
//!   (sysmon takes the host's P as from any M).
//! * **Its end.** When main exits, the Gs still bound to the host are
//!   cancelled (each unwinds at its next park, on this thread), the host
//!   runs until none is left, gives its P away and hands the thread back
//!   to the caller of `block_on_future`. It never retires as an idle M
//!   does.
//!
//! Shutdown needs nothing more: `Runtime::drop` runs after
//! `block_on_future` has returned, when no host is left.

#[cfg(not(loom))]
use std::future::Future;
#[cfg(not(loom))]
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
#[cfg(not(loom))]
use std::task::{Context, Poll};

#[cfg(not(loom))]
use rt_base::trace::WaitReason;

use super::handoff::{acquire_p, handoffp, release_p};
use super::m::M;
#[cfg(not(loom))]
use super::Shared;
#[cfg(not(loom))]
use crate::g::spawned::Opts;
use crate::g::Header;
#[cfg(not(loom))]
use crate::g::{waker, GRef};

#[cfg(not(loom))]
/// The stack of the main G: a thread's main stack, as a program ported
/// from `fn main` expects (deep recursion, large locals). Only the pages
/// it touches cost memory.
pub(crate) const MAIN_STACK_SIZE: usize = 8 << 20;

/// A host M's own state (sched/m.rs `M::host`).
#[derive(Default)]
pub(crate) struct Host {
    /// Bound Gs made runnable elsewhere, oldest first (addresses).
    mail: Mutex<Vec<usize>>,
    /// `mail.len()`, read without the lock.
    mail_len: AtomicUsize,
    /// The main G.
    main: AtomicPtr<Header>,
    /// Set when the main G has exited.
    main_done: AtomicBool,
    /// Gs other than main bound to this M (addresses).
    bound: Mutex<Vec<usize>>,
}

impl Host {
    /// Whether a bound G waits in the mail.
    pub(crate) fn has_mail(&self) -> bool {
        self.mail_len.load(Ordering::SeqCst) > 0
    }

    /// Records `h` (not main) as bound to this host.
    pub(crate) fn bind(&self, h: &Header) {
        if !std::ptr::eq(self.main.load(Ordering::Relaxed), h) {
            lock(&self.bound).push(std::ptr::from_ref(h) as usize);
        }
    }

    /// Undoes [`bind`](Self::bind).
    pub(crate) fn unbind(&self, h: &Header) {
        let me = std::ptr::from_ref(h) as usize;
        let mut b = lock(&self.bound);
        if let Some(i) = b.iter().position(|&x| x == me) {
            b.swap_remove(i);
        }
    }

    /// Whether `h` is this host's main G.
    pub(crate) fn is_main(&self, h: NonNull<Header>) -> bool {
        self.main.load(Ordering::Relaxed) == h.as_ptr()
    }

    /// The main G exited (schedule.rs `finish`, on the host).
    pub(crate) fn main_exited(&self) {
        self.main_done.store(true, Ordering::SeqCst);
    }

    /// Whether the main G has exited.
    pub(crate) fn main_has_exited(&self) -> bool {
        self.main_done.load(Ordering::SeqCst)
    }

    /// Whether no G but main is bound to the host.
    pub(crate) fn bound_is_empty(&self) -> bool {
        lock(&self.bound).is_empty()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The host M a G is bound to, if it is bound to one other than `me`.
///
/// # Safety
///
/// `g` is alive (a G bound to a host keeps it: the host does not leave
/// while a bound G lives).
#[inline]
pub(crate) unsafe fn bound_elsewhere<'a>(g: NonNull<Header>, me: Option<&M>) -> Option<&'a M> {
    // SAFETY: the caller's.
    let lm = unsafe { g.as_ref() }.locked_m.load(Ordering::Acquire);
    if lm.is_null() || me.is_some_and(|me| std::ptr::eq(me, lm)) {
        return None;
    }
    // SAFETY: a G's bound M is alive while the G lives (module doc).
    let lm = unsafe { &*lm };
    lm.host.is_some().then_some(lm)
}

/// Posts `g`, a runnable G bound to the host `hm`, and wakes the host.
///
/// The wake happens under the mail's lock: the host takes its mail under
/// that lock, so it cannot run `g` (main, which may then return and end
/// the host M) before this call is done with `hm`.
pub(crate) fn post(hm: &M, g: NonNull<Header>) {
    let host = hm.host.as_deref().expect("post to an M that is no host");
    let mut mail = lock(&host.mail);
    mail.push(g.as_ptr() as usize);
    host.mail_len.fetch_add(1, Ordering::SeqCst);
    hm.wake_up();
    drop(mail);
}

/// The oldest G in `m`'s mail, if `m` is a host (on its own thread).
#[inline]
pub(crate) fn take_mail(m: &M) -> Option<NonNull<Header>> {
    let host = m.host.as_deref()?;
    if host.mail_len.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut q = lock(&host.mail);
    if q.is_empty() {
        return None;
    }
    let g = q.remove(0);
    host.mail_len.fetch_sub(1, Ordering::SeqCst);
    NonNull::new(g as *mut Header)
}

/// The host `m` (idle, on the idle list, holding no P) was woken with mail:
/// takes the P a startm handed it, or an idle one, or waits for one as an
/// M back from a syscall does. Always returns with a P.
pub(crate) fn take_p_for_mail(m: &Arc<M>) {
    let shared = &*m.shared;
    let mut l = shared.lock();
    if let Some((p, spinning)) = m.take_nextp() {
        drop(l);
        super::handoff::adopt_p(m, p, spinning);
        return;
    }
    super::handoff::unqueue_idle(&mut l, m);
    drop(l);
    // An idle P, or one given back by a busy M.
    super::syscall::exit_slow(m);
}

#[cfg(not(loom))] // async tasks (and block_on_future) are left out under loom
/// Runs `f` as the main G on the calling thread, which becomes a host M of
/// `shared`'s runtime for the call. None (and `f` untouched) when the
/// thread cannot host: the thread cap leaves none, or the thread is an M
/// already (of another runtime).
pub(crate) fn block_on<F: Future>(
    shared: &Arc<Shared>,
    f: Pin<&mut F>,
    site: &'static std::panic::Location<'static>,
) -> Option<F::Output> {
    if M::current().is_some() {
        return None;
    }
    let m = M::new_host(shared)?;
    let slack = M::attach_thread(&m);
    let alt = crate::stack::overflow::AltStack::ensure();
    super::trace::MLane::open(&m); // main's Chrome trace lane
                                   // The thread runs tasks now, as an M does: the hooks that prepare such
                                   // a thread (another runtime's context, a thread-local) run here too.
    if let Some(hook) = &shared.config.on_thread_start {
        hook.run("on_thread_start");
    }
    // A P: an idle one, or one given back by a busy M.
    super::syscall::exit_slow(&m);
    let mut slot = Slot { fut: f, out: None };
    let job = MainJob {
        data: std::ptr::from_mut(&mut slot).cast(),
        poll: poll_slot::<F>,
    };
    match spawn_main(&m, job, site) {
        Ok(jh) => {
            super::schedule::host_loop(&m);
            if let Some(hook) = &shared.config.on_thread_stop {
                hook.run("on_thread_stop");
            }
            super::trace::MLane::flush(&m);
            m.detach_host_thread(slack);
            drop(alt);
            match jh.join() {
                Ok(()) => {}
                Err(e) => match e.into_panic() {
                    Ok(payload) => std::panic::resume_unwind(payload),
                    Err(e) => panic!(
                        "switchyard: the main future did not finish: {e} (the runtime shut \
                         down while block_on_future ran)"
                    ),
                },
            }
            Some(
                slot.out
                    .take()
                    .expect("the main G finished without a value"),
            )
        }
        Err(e) => {
            if let Some(p) = release_p(&m) {
                handoffp(shared, p);
            }
            if let Some(hook) = &shared.config.on_thread_stop {
                hook.run("on_thread_stop");
            }
            m.detach_host_thread(slack);
            drop(alt);
            panic!("switchyard: block_on_future could not start the main task: {e}")
        }
    }
}

#[cfg(not(loom))]
/// The main future and its value, in `block_on`'s frame.
struct Slot<'a, F: Future> {
    fut: Pin<&'a mut F>,
    out: Option<F::Output>,
}

#[cfg(not(loom))]
/// Polls the [`Slot`] at `data` once, storing the value when ready.
///
/// # Safety
///
/// `data` is a live `Slot<'_, F>`, touched by no one else during the call.
unsafe fn poll_slot<F: Future>(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: the caller's.
    let slot = unsafe { &mut *data.cast::<Slot<'_, F>>() };
    match slot.fut.as_mut().poll(cx) {
        Poll::Ready(v) => {
            slot.out = Some(v);
            Poll::Ready(())
        }
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(not(loom))]
/// The main future with its type and lifetime erased: a pointer to the
/// [`Slot`] in `block_on`'s frame and the function that polls it.
struct MainJob {
    data: *mut (),
    poll: unsafe fn(*mut (), &mut Context<'_>) -> Poll<()>,
}

#[cfg(not(loom))]
// SAFETY: the job is made on the host thread and used only by the main G,
// which is bound to that thread from birth and never unbound: it never
// runs, and so never touches the slot, anywhere else.
unsafe impl Send for MainJob {}

#[cfg(not(loom))]
impl Future for MainJob {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `block_on` keeps the slot alive and in place until the
        // main G has exited (its host loop returns only then), and only
        // the main G, on the slot's thread, polls it (the impl above).
        unsafe { (self.poll)(self.data, cx) }
    }
}

#[cfg(not(loom))]
/// Spawns the main G onto `m`'s P, bound to `m` before it is published.
fn spawn_main(
    m: &Arc<M>,
    job: MainJob,
    site: &'static std::panic::Location<'static>,
) -> Result<crate::JoinHandle<()>, crate::runtime::SpawnError> {
    let host = m.host.as_deref().expect("a host M");
    let g = super::ready::spawn_cell(&m.shared, |id, shared| {
        let g = crate::g::cell::new_g(id, shared, move || main_body(job));
        // SAFETY: just allocated, not yet published: ours alone.
        let h = unsafe { g.as_ref() };
        h.spawned.set_opts(Box::new(Opts {
            site: Some(site),
            name: Some("main".into()),
            stack_size: MAIN_STACK_SIZE,
        }));
        h.locked_m
            .store(Arc::as_ptr(m).cast_mut(), Ordering::Release);
        // SAFETY: as above; the pin is never undone (module doc).
        unsafe { (*h.own.get()).pinned = 1 };
        host.main.store(g.as_ptr(), Ordering::Relaxed);
        g
    })?;
    Ok(crate::JoinHandle::new(g))
}

#[cfg(not(loom))]
/// The main G: polls the future (and the `spawn_local` tasks it spawns)
/// until it is ready, parking the G between polls; those local tasks still
/// pending when it is are dropped, as at the end of a `block_on`.
fn main_body(mut job: MainJob) {
    let g = crate::g::run::current_g().expect("the main G runs on a G");
    // SAFETY: the running G's header is alive while it runs.
    let header = unsafe { g.as_ref() };
    // Listed from its start, so the task dump shows main with its name and
    // site even before it first waits.
    // SAFETY: as above (the runtime outlives its running G).
    unsafe { header.shared() }.registry.register(g);
    // The G's life reference keeps it alive while it runs: the waker
    // borrows it (as aio/cell.rs does) and is never dropped.
    // SAFETY: as above.
    let w = std::mem::ManuallyDrop::new(waker::for_g(unsafe { GRef::from_raw(g) }));
    let mut cx = Context::from_waker(&w);
    // Main is bound already: its local tasks need no pin of their own.
    let host = crate::aio::local::LocalHost::new(&w, false);
    let mut f = Pin::new(&mut job);
    let mut after_yield = false;
    loop {
        if after_yield {
            header.state.clear_notified();
            after_yield = false;
        }
        match crate::aio::task::poll_round(&host, Some(f.as_mut()), &mut cx) {
            crate::aio::task::Polled::Ready(()) => return,
            crate::aio::task::Polled::Pending(reason) => {
                header.wait_reason.store(reason as u8, Ordering::Relaxed);
                if reason == WaitReason::Yield {
                    crate::g::run::yield_now();
                    after_yield = true;
                } else {
                    crate::g::run::park();
                }
            }
        }
    }
}

/// Moves the running G off a host M before it blocks there (module doc):
/// a blocking-style G, not bound to the host, not inside an async poll,
/// not panicking. Returns at once anywhere else.
#[inline]
pub(crate) fn leave_host() {
    let Some(m) = M::current() else { return };
    // SAFETY: this thread's live M; not used after the switch below.
    let m = unsafe { m.as_ref() };
    if m.host.is_none() || m.syscall.load(Ordering::Relaxed) != 0 {
        return;
    }
    let Some(g) = m.curg() else { return };
    // SAFETY: the running G: alive, its private state ours (rule 3).
    let (h, own) = unsafe { (g.as_ref(), &*g.as_ref().own.get()) };
    if own.in_poll != 0 || !h.locked_m.load(Ordering::Relaxed).is_null() {
        return;
    }
    if crate::g::run::panicking() {
        return;
    }
    crate::g::run::switch_out(crate::g::run::Request::Migrate);
}

/// g0 of the host `m`: its G asked to move (`leave_host`). The G goes to
/// the `runnext` of the P and the P to another M (an idle one, or a new
/// thread), so the G runs there next; the host goes on without a P. If no
/// M can be had (the thread cap), the host keeps its P and runs the G
/// again itself, which then blocks here after all.
pub(crate) fn migrate(m: &Arc<M>, g: NonNull<Header>) {
    let shared = &*m.shared;
    {
        let held = m.held().expect("migrate without a P");
        if let Some(kicked) = held.put_next(g) {
            held.push_back(kicked, shared);
        }
    }
    let p = release_p(m).expect("migrate without a P");
    let mut l = shared.lock();
    if let Some(other) = l.idle_ms.pop() {
        other.hand_p(&shared.ps[p], false);
        drop(l);
        other.wake_up();
        return;
    }
    drop(l);
    if super::m::spawn_m(shared, &shared.ps[p], false).is_err() {
        acquire_p(m, &shared.ps[p]);
    }
}

/// When main has exited: cancels the Gs still bound to the host `m` (each
/// unwinds at its next park, g/run.rs) and posts those that were parked.
pub(crate) fn evict_bound(m: &M) {
    let host = m.host.as_deref().expect("a host M");
    let bound: Vec<usize> = lock(&host.bound).clone();
    for g in bound {
        // SAFETY: a bound G is alive: it unbinds itself, on this thread,
        // before it exits, and this thread is here now.
        let h = unsafe { &*(g as *const Header) };
        h.cancel.store(true, Ordering::Release);
        if h.state.unpark() {
            post(m, NonNull::from(h));
        }
    }
}

/// Whether the running G `h`, bound to a host whose main has exited, was
/// cancelled by [`evict_bound`]: it then unwinds at its park.
#[inline]
pub(crate) fn evicted(h: &Header) -> bool {
    if !h.cancel.load(Ordering::Acquire) {
        return false;
    }
    let lm = h.locked_m.load(Ordering::Acquire);
    // SAFETY: a bound G's M is alive while the G lives.
    !lm.is_null()
        && unsafe { &*lm }
            .host
            .as_deref()
            .is_some_and(Host::main_has_exited)
}

/// The host loop after main has exited, until no G is bound to the host:
/// runs its mail (the bound Gs, cancelled), and otherwise gives its P away
/// and sleeps until mail comes. False once none is left.
pub(crate) fn after_main(m: &Arc<M>, evicted: &mut bool) -> bool {
    let host = m.host.as_deref().expect("a host M");
    if host.bound_is_empty() {
        return false;
    }
    if !*evicted {
        *evicted = true;
        evict_bound(m);
    }
    if let Some(g) = take_mail(m) {
        if m.held().is_none() {
            super::syscall::exit_slow(m);
        }
        super::handoff::stop_spinning(m);
        super::schedule::execute(m, g);
        return true;
    }
    if let Some(p) = release_p(m) {
        handoffp(&m.shared, p);
    }
    if !host.has_mail() {
        m.note.sleep(Some(
            std::time::Instant::now() + std::time::Duration::from_millis(10),
        ));
    }
    true
}
