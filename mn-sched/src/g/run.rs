//! Code that runs on a G's own stack, and the two switches between a G and
//! its M's scheduler stack ("g0", the M thread's own stack).
//!
//! **The thread-local rule.** A G may continue on another OS thread after
//! any park or yield, and LLVM may keep a thread-local's address in a
//! register or stack slot across a call (it assumes a function returns on
//! the thread that called it). So code on a G must never hold a
//! thread-local's address across a switch. The runtime's own code reaches
//! its M only through [`M::current`], which is `#[inline(never)]` and reads
//! the thread-local afresh, and it never keeps the `&M` it got across a
//! switch; `std::thread::panicking` is read through an `#[inline(never)]`
//! wrapper for the same reason. User code on `go` Gs carries the same duty
//! (see `go`'s `# Safety`).
//!
//! **Panics.** A panic in a G unwinds to `cell::run`, which catches it and
//! stores it as the G's result: no unwind ever crosses a switch. A G never
//! parks while panicking, because `std`'s panic count is per thread: such a
//! park is pinned — the G is locked to its M for the duration (the M hands its
//! P to another M and sleeps, exactly as for `lock_os_thread`), so the G
//! resumes on the thread whose panic count it owns.
//!
//! **Parks that keep the thread.** Three callers may park where moving to
//! another thread would break what the code above them holds:
//!
//! * inside `syscall(f)` (sched/syscall.rs): the M holds no P to switch to,
//!   so the G sleeps on its own thread (`thread_park`), the way the system
//!   call it is inside would; a yield there yields the thread;
//! * while panicking (above): pinned;
//! * inside an async task's poll (`Own::in_poll`, set by aio/task.rs): a
//!   safe blocking-style call (a channel, `Mutex`, `WaitGroup`, `join`,
//!   `sleep`, `park`, `yield_now`) made inside `poll` must not resume the
//!   poll on another thread, where the poll's thread-local references,
//!   coop budget and `std` lock guards would belong to someone else. The G
//!   is pinned to its M for that park (a `ThreadPin`: the M hands its P to
//!   another M and sleeps, as for `lock_os_thread`), which costs a thread
//!   for the wait and is refused with a clear panic when `max_threads`
//!   leaves none.
//!
//! **Shutdown.** When the runtime shuts down, a parked G is woken and its
//! `park` (or `yield_now`) returns by unwinding with a private payload that
//! the G boundary reports as `JoinError::Cancelled`; its destructors run on
//! the way. A G that is already panicking is not unwound again (that would
//! abort): its park returns normally and the caller's loop decides.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use super::Header;
use crate::arch;
use crate::join::Cancelled;
use crate::sched::m::M;

/// What a G asks of its M when it switches back to g0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Request {
    /// Publish me as WAITING (unless notified meanwhile).
    Park = 1,
    /// Put me back in the run queue.
    Yield = 2,
    /// I am done: free my stack, wake my joiner.
    Exit = 3,
    /// Park me without my stack (an async task between polls, aio/cell.rs):
    /// take it back, then publish me as WAITING; I start afresh from
    /// `g_entry` on whatever stack I get when woken.
    Release = 4,
    /// Move me to another M before I block: I am on a host M (the thread
    /// of `block_on_future`, sched/host.rs) and may not hold main up.
    Migrate = 5,
}

impl Request {
    fn from_word(w: usize) -> Self {
        match w {
            1 => Self::Park,
            2 => Self::Yield,
            3 => Self::Exit,
            4 => Self::Release,
            5 => Self::Migrate,
            _ => unreachable!("bad switch request {w}"),
        }
    }
}

/// Scheduler side: resumes `g` on `m`; returns the request of the G that
/// switches back to g0 and that G — not always `g`: a handoff yield passes
/// the M from G to G without visiting g0 (`m.curg` follows).
///
/// # Safety
///
/// Called on `m`'s own thread, on g0; `g` is RUNNING on `m` with a stack and
/// a saved context (`ctx.sp != 0`), owned by `m` (rule 2 of g/mod.rs).
pub(crate) unsafe fn switch_in(m: &M, g: &Header) -> (Request, NonNull<Header>) {
    m.set_curg(Some(NonNull::from(g)));
    // SAFETY: rule 2: we own the G's context while it is RUNNING on us.
    let (sp, bounds) = unsafe {
        let ctx = &*g.ctx.get();
        (
            ctx.sp,
            ctx.stack.as_ref().map(|s| (s.base(), s.top() - s.base())),
        )
    };
    fiber::start(m.asan_fake(), bounds.unwrap_or((0, 0)));
    // SAFETY: `sp` is the G's saved (or freshly initialised) context on its
    // own stack; g0's context is saved into the M, where the G finds it.
    let req = unsafe { arch::switch(m.g0_sp(), sp, std::ptr::from_ref(m) as usize) };
    fiber::finish_on_g0(m);
    let back = m.curg().expect("a G switched back to g0");
    m.set_curg(None);
    (Request::from_word(req), back)
}

/// G side: switches to the current M's g0 with `req`; returns when the G is
/// resumed (possibly on another M). Never returns for [`Request::Exit`].
#[inline(never)]
pub(crate) fn switch_out(req: Request) {
    let Some(m) = M::current() else {
        unreachable!("switch_out outside an M")
    };
    // SAFETY: `m` is the M running this code (thread-local, read just now)
    // and stays alive while its thread runs; we drop the reference before
    // the switch below.
    let (g, g0) = unsafe {
        let m = m.as_ref();
        // Step U2 of sched/syscall.rs, kept: g0 gets the P in runtime state
        // (and if sysmon took it while we computed, we wait here for one).
        if let Some(h) = m.held() {
            h.keep();
        }
        (m.curg().expect("switch_out outside a G"), m.g0_sp_value())
    };
    // SAFETY: the running G owns its context (rule 2).
    let ctx = unsafe { &mut *g.as_ref().ctx.get() };
    note_low_sp(ctx);
    let fake = fiber::start_from_g(ctx, req, g0);
    // SAFETY: g0's context was saved by `switch_in` on this thread; ours goes
    // to the G's ctx, which only the next M to resume us reads.
    let now = unsafe { arch::switch(&raw mut ctx.sp, g0, req as usize) };
    fiber::finish_on_g(fake);
    after_resume(now);
}

/// Records the lowest stack pointer a G reached (stack/mod.rs rule 4).
fn note_low_sp(ctx: &mut crate::g::Ctx) {
    let sp_here = arch::approx_sp();
    if ctx.low_sp == 0 || sp_here < ctx.low_sp {
        ctx.low_sp = sp_here;
    }
}

/// The fast path of a yield: switches straight to the next G of this P's
/// queue, without the trip through g0 (one switch instead of two, and no
/// findrunnable). The yielding G is queued only once its context is saved:
/// the G it hands over to does that as it resumes (`after_resume`), so no
/// thief can resume it half-saved. Falls back (false) whenever g0 has
/// something to decide: a locked or pinned G, a next G that never ran (its
/// stack is set up on g0) or is locked, every 61st tick (global queue and
/// timers), nothing local to run, or an ASan build (its fiber annotations
/// follow the g0 path).
///
/// `m` is the calling thread's M and `me` the running G; neither is used
/// after the switch (the thread-local rule).
#[inline(never)]
fn handoff_yield(m: &M, me: NonNull<Header>) -> bool {
    // (A dump that stops the Ps wants us on g0, at a safe point.)
    if cfg!(switchyard_asan) || m.shared.dump_stop.load(Ordering::SeqCst) {
        return false;
    }
    let (None, Some(held)) = (m.locked_g(), m.held()) else {
        return false;
    };
    // g0 looks at the global queue and the timers when it schedules with a
    // tick that is a multiple of 61 (find.rs step 1): leave those turns to it;
    // with Gs in the global queue we queue behind them (schedule.rs).
    let p = held.p();
    // An M waiting for a P (back from a syscall, or a thread entering
    // `block_on_future`) is given ours by g0 (syscall.rs
    // `give_p_to_waiter`): go there rather than make it wait.
    if p.tick.load(Ordering::Relaxed) % crate::sched::find::GLOBAL_CHECK_TICKS == 0
        || m.shared.global_len.load(Ordering::Relaxed) > 0
        || m.shared.sysmon.waiting.load(Ordering::Relaxed) != 0
    {
        return false;
    }
    // Due timers are g0's to fire too (two Gs yielding every millisecond
    // kept a 2 ms sleeper on their P waiting tens of ms), and so is a
    // network poll that is due (schedule.rs `YIELD_POLL_MS`). Both follow
    // the coarse clock: looked at once per tick of it (looking at every
    // yield cost a ~50 ns 1-P yield round trip a few ns), and, while a
    // timer is near (`Timers::near`), at every yield, so it fires within
    // microseconds of its deadline, not at the next coarse tick (a 10 ms
    // sleep beside a G yielding every 50 µs ended most of a millisecond
    // late; this flag costs under a ns of the round trip).
    let now = m.shared.sysmon.coarse_ms();
    if p.yield_looked_at.load(Ordering::Relaxed) != now || p.timer_near.load(Ordering::Relaxed) {
        p.yield_looked_at.store(now, Ordering::Relaxed);
        let timers = &m.shared.timers;
        let near = timers.near();
        p.timer_near.store(near, Ordering::Relaxed);
        if (near && timers.due_cheaply())
            || m.shared
                .netpoll_stale(crate::sched::schedule::YIELD_POLL_MS)
        {
            return false;
        }
    }
    let Some(next) = held.pop() else { return false };
    // SAFETY: popped from our queue: the G is ours to run (rule 2).
    let nh = unsafe { next.as_ref() };
    // SAFETY: as above.
    let next_sp = unsafe { (*nh.ctx.get()).sp };
    if next_sp == 0 || !nh.locked_m.load(Ordering::Acquire).is_null() {
        // Back where g0 will take it first (it was the head of the queue).
        let displaced = held.put_next(next);
        debug_assert!(displaced.is_none(), "pop emptied runnext");
        return false;
    }
    held.bump_tick(&m.shared);
    nh.state.start_running();
    m.set_curg(Some(next));
    m.set_pending_yield(me);
    // SAFETY: the running G owns its context (rule 2).
    let ctx = unsafe { &mut *me.as_ref().ctx.get() };
    note_low_sp(ctx);
    // The P stays in runtime state across the switch: the next G queues us
    // and then returns it to user state (`after_resume`).
    held.keep();
    // SAFETY: `next_sp` is the saved context of a started G we own; ours is
    // saved into our ctx, and we are queued only after that (after_resume).
    let now = unsafe { arch::switch(&raw mut ctx.sp, next_sp, std::ptr::from_ref(m) as usize) };
    after_resume(now);
    true
}

/// Runs on a G as it resumes: queues the G that handed this one the M by a
/// handoff yield (its context is saved now). `now` is what the switch that
/// resumed us returned: every switch into a G (`switch_in`, a handoff
/// yield) passes the M that runs it, so no thread-local is read here.
#[inline(always)]
fn after_resume(now: usize) {
    // SAFETY: `now` is the M whose thread resumed us (see above): alive
    // while it runs us, used without a switch.
    let m = unsafe { &*(now as *const M) };
    if let Some(prev) = m.take_pending_yield() {
        m.held()
            .expect("a running G's M holds a P")
            .push_back(prev, &m.shared);
        // Step U1 for this G (`handoff_yield` kept the P in runtime state).
        m.enter_user();
    }
}

/// Entry of every G's stack: runs the G's closure, then switches away for
/// the last time.
///
/// # Safety
///
/// Only entered through `switch_in` on a stack set up by `init_stack`, with
/// `m` the address of the M whose `curg` is this G.
pub(crate) unsafe extern "sysv64" fn g_entry(_save: usize, _to: usize, m: usize) -> ! {
    fiber::finish_on_g(std::ptr::null_mut());
    // SAFETY: `switch_in` passed its M, which set `curg` to this G.
    let g = unsafe { (*(m as *const M)).curg() }.expect("G entry without a G");
    // SAFETY: this G is running; `run` is called once, here, on its stack.
    unsafe { (g.as_ref().vtable.run)(g) };
    switch_out(Request::Exit);
    unreachable!("a dead G was resumed");
}

/// The G running on the calling thread, if any.
pub(crate) fn current_g() -> Option<NonNull<Header>> {
    // SAFETY: M::current is this thread's live M.
    M::current().and_then(|m| unsafe { m.as_ref() }.curg())
}

/// Parks the calling G until a wake (see `state.rs`); parks the thread if
/// the caller is not on a G. May return spuriously.
///
/// Where the G must not leave its thread, the park keeps it there (the
/// module doc's "Parks that keep the thread"): inside `syscall` it sleeps
/// on the thread; while panicking or inside an async poll it is pinned to
/// its M for the park.
pub(crate) fn park() {
    let Some((in_syscall, g)) = on_g() else {
        std::thread::park();
        return;
    };
    // SAFETY: `g` is the running G: alive, and its runtime too (rule 4).
    let (h, shared) = unsafe { (g.as_ref(), g.as_ref().shared()) };
    if in_syscall {
        thread_park(h, shared);
        return;
    }
    if panicking() {
        pinned_park(h, shared);
        return;
    }
    cancel_if_shutting_down(shared);
    let _pin = poll_pin(h);
    shared.registry.register(g);
    switch_out(Request::Park);
    cancel_if_shutting_down(shared);
    cancel_if_evicted(h);
}

/// The running G of this thread and whether its M is inside `syscall`;
/// None off a G. `#[inline(never)]` (the thread-local rule): read afresh.
#[inline(never)]
fn on_g() -> Option<(bool, NonNull<Header>)> {
    let m = M::current()?;
    // SAFETY: this thread's live M, not kept past this call.
    let m = unsafe { m.as_ref() };
    Some((m.syscall.load(Ordering::Relaxed) != 0, m.curg()?))
}

/// A park or yield inside an async task's poll pins the G to its M for its
/// duration (a [`ThreadPin`](crate::sched::locked::ThreadPin)), unless the
/// G is bound to its thread already. A poll may hold thread-local
/// references and `std` lock guards (the async contract, aio/task.rs), so
/// it must resume on the thread it began on.
///
/// # Panics
///
/// When `max_threads` leaves no thread to dedicate to the wait: a clear
/// panic in the calling task, never a hang.
fn poll_pin(h: &Header) -> Option<crate::sched::locked::ThreadPin> {
    // SAFETY: `h` is the running G: its private state is ours (rule 3).
    let own = unsafe { &*h.own.get() };
    if own.in_poll == 0 || !h.locked_m.load(Ordering::Relaxed).is_null() {
        return None;
    }
    match crate::sched::locked::ThreadPin::reserve(h) {
        Ok(pin) => Some(pin),
        Err(e) => panic!(
            "switchyard: a blocking-style mn call (a channel, Mutex, WaitGroup, join, \
             sleep, park or yield) inside an async task keeps the task on its OS thread \
             while it waits, and {e}; use the async form of the call"
        ),
    }
}

/// A park inside `syscall(f)`: the M holds no P to switch to (it may
/// already run elsewhere), so the G sleeps on its own thread, which is
/// counted as blocked in a system call anyway (g/state.rs, "A park on the
/// thread"). Listed in the registry like any parked G, so shutdown wakes
/// it; it then unwinds as any park does.
fn thread_park(h: &Header, shared: &crate::sched::Shared) {
    cancel_if_shutting_down(shared);
    shared.registry.register(NonNull::from(h));
    if h.state.begin_thread_park() {
        while h.state.thread_parked() {
            h.state.sleep_thread();
        }
        h.state.end_thread_park();
    }
    cancel_if_shutting_down(shared);
}

/// Parks the running G and gives its stack back (`Request::Release`): when
/// woken it starts again from `g_entry`, on a stack taken then. The
/// caller's frames are abandoned, not unwound, so nothing in them may own
/// anything: aio/cell.rs calls this from its outermost frame, with every
/// local dropped. Registered like any parked G, so shutdown wakes it (its
/// fresh run then cancels it).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn park_release() -> ! {
    let g = current_g().expect("park_release outside a G");
    // SAFETY: `g` is the running G: alive, and its runtime too (rule 4).
    unsafe { g.as_ref().shared() }.registry.register(g);
    switch_out(Request::Release);
    unreachable!("a G was resumed on the stack it gave back")
}

/// Puts the calling G at the back of its P's run queue; yields the thread if
/// the caller is not on a G (or is panicking: a yield must not migrate it),
/// or is inside `syscall` (its thread holds no P). Inside an async poll
/// the G is pinned to its M for the yield (`poll_pin`).
pub(crate) fn yield_now() {
    let m = M::current_unless_panicking();
    // SAFETY: this thread's live M; `m` is not used after a switch (it goes
    // into `handoff_yield`, which drops it before switching).
    let Some((m, g)) = m.and_then(|m| unsafe { m.as_ref() }.curg().map(|g| (m, g))) else {
        std::thread::yield_now();
        return;
    };
    // SAFETY: as above.
    if unsafe { m.as_ref() }.syscall.load(Ordering::Relaxed) != 0 {
        std::thread::yield_now();
        return;
    }
    // SAFETY: `g` is the running G: its runtime is alive (rule 4).
    let (h, shared) = unsafe { (g.as_ref(), g.as_ref().shared()) };
    cancel_if_shutting_down(shared);
    let pin = poll_pin(h);
    // SAFETY: as above (a pinned G is locked: `handoff_yield` declines it).
    if !handoff_yield(unsafe { m.as_ref() }, g) {
        switch_out(Request::Yield);
    }
    drop(pin);
    cancel_if_shutting_down(shared);
    cancel_if_evicted(h);
}

/// A park while panicking: pinned to this thread for its duration.
fn pinned_park(h: &Header, shared: &crate::sched::Shared) {
    crate::sched::locked::pin(h);
    shared.registry.register(NonNull::from(h));
    switch_out(Request::Park);
    crate::sched::locked::unpin(h);
}

/// Unwinds the G with the `Cancelled` payload if its runtime is shutting down.
fn cancel_if_shutting_down(shared: &crate::sched::Shared) {
    if shared.is_shutting_down() && !panicking() {
        std::panic::resume_unwind(Box::new(Cancelled));
    }
}

/// Unwinds the G with the `Cancelled` payload if it is bound to the thread
/// of a `block_on_future` whose main task has ended (sched/host.rs): that
/// thread goes back to its caller, so the G cannot wait there any longer.
#[inline]
fn cancel_if_evicted(h: &Header) {
    if crate::sched::host::evicted(h) && !panicking() {
        std::panic::resume_unwind(Box::new(Cancelled));
    }
}

/// `std::thread::panicking`, never inlined (the thread-local rule).
#[inline(never)]
pub(crate) fn panicking() -> bool {
    std::thread::panicking()
}

/// Telling AddressSanitizer about stack switches (`scripts/asan-mn.sh`).
/// Without `cfg(switchyard_asan)` every function here is empty.
pub(crate) mod fiber {
    use super::{Request, M};
    use crate::g::Ctx;

    #[cfg(switchyard_asan)]
    extern "C" {
        fn __sanitizer_start_switch_fiber(
            fake: *mut *mut libc::c_void,
            bottom: *const libc::c_void,
            size: usize,
        );
        fn __sanitizer_finish_switch_fiber(
            fake: *mut libc::c_void,
            bottom_old: *mut *const libc::c_void,
            size_old: *mut usize,
        );
    }

    #[cfg(switchyard_asan)]
    extern "C" {
        fn __asan_unpoison_memory_region(addr: *const libc::c_void, size: usize);
    }

    /// g0, before a G's first run on a stack that may have served another
    /// G: the frames that G never returned from (its last switch out, an
    /// unwind at shutdown) left ASan's redzone poison in the shadow; a new
    /// G starts on clean memory.
    #[allow(unused_variables)]
    pub(crate) fn fresh_stack(base: usize, size: usize) {
        #[cfg(switchyard_asan)]
        // SAFETY: ASan's API over memory this G now owns (its whole stack).
        unsafe {
            __asan_unpoison_memory_region(base as *const _, size)
        };
    }

    /// g0, before switching to a G whose stack is `bounds` (base, size).
    #[allow(unused_variables)]
    pub(super) fn start(fake: *mut *mut libc::c_void, bounds: (usize, usize)) {
        #[cfg(switchyard_asan)]
        // SAFETY: ASan's fiber API; `fake` is the M's slot for its fake stack.
        unsafe {
            __sanitizer_start_switch_fiber(fake, bounds.0 as *const _, bounds.1)
        };
    }

    /// g0, after the G switched back.
    #[allow(unused_variables)]
    pub(super) fn finish_on_g0(m: &M) {
        #[cfg(switchyard_asan)]
        // SAFETY: completes the switch begun by the G's `start_from_g`.
        unsafe {
            __sanitizer_finish_switch_fiber(
                *m.asan_fake(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// G, before switching to g0 (`g0` is its saved sp; its bounds are
    /// recorded in the M by `finish_on_g`). Returns the G's fake-stack slot.
    #[allow(unused_variables)]
    pub(super) fn start_from_g(ctx: &mut Ctx, req: Request, g0: usize) -> *mut libc::c_void {
        #[cfg(switchyard_asan)]
        {
            let m = M::current().expect("on an M");
            // SAFETY: this thread's M; the bounds were recorded on entry.
            let (bottom, size) = unsafe { m.as_ref().asan_g0() };
            // Even on exit the slot is not null: a null slot makes ASan free
            // the G's fake frames at once, while the frames of this very
            // exit path (this function's epilogue) still write to them.
            let _ = req;
            let mut fake: *mut libc::c_void = std::ptr::null_mut();
            // SAFETY: ASan's fiber API; `fake` receives the G's fake stack.
            unsafe { __sanitizer_start_switch_fiber(&mut fake, bottom as *const _, size) };
            return fake;
        }
        #[cfg(not(switchyard_asan))]
        std::ptr::null_mut()
    }

    /// G, right after being resumed: records g0's bounds in the current M.
    #[allow(unused_variables)]
    pub(super) fn finish_on_g(fake: *mut libc::c_void) {
        #[cfg(switchyard_asan)]
        {
            let mut bottom: *const libc::c_void = std::ptr::null();
            let mut size = 0usize;
            // SAFETY: ASan's fiber API, completing g0's `start`.
            unsafe { __sanitizer_finish_switch_fiber(fake, &mut bottom, &mut size) };
            let m = M::current().expect("on an M");
            // SAFETY: this thread's M.
            unsafe { m.as_ref().set_asan_g0(bottom as usize, size) };
        }
    }
}
