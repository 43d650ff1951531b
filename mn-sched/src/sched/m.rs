//! M: an OS thread that runs the scheduler loop on its own stack (g0) and
//! switches into Gs. This file holds the M's state, its thread's life, the
//! thread-local that says which M a thread is, and the thread budget.
//!
//! Ownership: fields marked "M thread" are touched only by the M's own
//! thread (the scheduler on g0, or a G running on that thread). The others
//! are atomics read by other Ms (`nextp`, `note`), by sysmon
//! (`curg`, `p`, `syscall`), or by the overflow signal handler (`curg`).

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex};

use super::global::GList;
use super::note::Note;
use super::p::{Held, P};
use super::syscall::{owner_user_enter, user_claim, user_return, IN_USER};
use super::Shared;
use crate::g::Header;
use crate::stack::overflow::AltStack;

thread_local! {
    /// The M of this thread (null on threads that are not Ms). Read only
    /// through `M::current` (never inlined: the thread-local rule of
    /// g/run.rs) and by the overflow handler.
    static CURRENT: Cell<*const M> = const { Cell::new(std::ptr::null()) };
}

/// One M.
pub(crate) struct M {
    /// Unique within the runtime; `P::owner` holds `id + 1`.
    pub(crate) id: usize,
    /// The runtime (an M keeps it alive).
    pub(crate) shared: Arc<Shared>,
    /// g0's saved stack pointer while a G runs (M thread).
    g0_sp: UnsafeCell<usize>,
    /// The G running on this M, if any.
    curg: AtomicPtr<Header>,
    /// The id of `curg` (0: none), readable from any thread
    /// without following a pointer to a G that may be exiting (dump,
    /// scheddetail).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) curg_id: AtomicU64,
    /// This M's Chrome trace writer (M thread only; sched/trace.rs).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) trace: super::trace::MLane,
    /// The P held (M thread writes; sysmon reads).
    p: AtomicPtr<P>,
    /// A P handed to this M by another (startm, startlockedm), taken after
    /// its note wakes it.
    nextp: AtomicPtr<P>,
    /// Whether the M handing over `nextp` counted this M as a new spinning
    /// M (written before `nextp` is published). Kept apart from `spinning`,
    /// which only the M itself writes: an M picked while it still spins
    /// would otherwise merge two counts into one flag and leak a count.
    next_spinning: AtomicBool,
    /// Looking for work while holding a P (idle.rs).
    spinning: AtomicBool,
    /// Where this M sleeps when idle.
    pub(crate) note: Note,
    /// The G locked to this M (lock_os_thread or a pinned park).
    pub(crate) locked_g: AtomicPtr<Header>,
    /// A G that yielded straight to another (g/run.rs `handoff_yield`), to
    /// be queued by the G it handed over to once its context is saved (M
    /// thread).
    pending_yield: AtomicPtr<Header>,
    /// While set, Gs this M readies go to the back of its P's ring, not to
    /// `runnext` (a batch of I/O readiness: ready.rs `ready_to_back`).
    to_back: AtomicBool,
    /// Gs readied while `to_back` is set that go to the global queue (it
    /// was not empty, or the ring was full), pushed there in one batch
    /// when the poll's wakes are done (M thread only).
    io_batch: UnsafeCell<GList>,
    /// Leave the scheduler loop and end the thread (a G exited locked).
    exit_thread: AtomicBool,
    /// The M left as idle too long (`Threads::try_retire`
    /// already gave its thread back to the budget).
    pub(crate) retired: AtomicBool,
    /// Nonzero while the M is in a system call (sched/syscall.rs): 1 in
    /// `syscall`/`syscall_blocking`. Written by the M thread only.
    pub(crate) syscall: AtomicU32,
    /// Sysmon took this M's P while its G ran user code or sat in
    /// `syscall`, and the M has not got one back (set by sysmon before its
    /// CAS, cleared by the M in `exit_slow`). Sysmon reads the thread's CPU
    /// clock while it is set, to tell a computing M from a blocked one.
    pub(crate) without_p: AtomicBool,
    /// The thread's CPU-time clock (`pthread_getcpuclockid`), or -1 before
    /// the thread starts.
    pub(crate) cpu_clock: AtomicI32,
    /// The thread's kernel id (for its `/proc` state), 0 before it starts.
    pub(crate) tid: AtomicI32,
    /// State of the steal-order random generator (M thread).
    rng: AtomicU64,
    /// Runtime calls from user code (syscall.rs steps U1–U4): even while
    /// the G runs user code, odd while the M runs runtime code on its P.
    /// Written only by this M; read by sysmon.
    pub(crate) calls: crate::loom::AtomicUsize,
    /// AddressSanitizer fiber bookkeeping (M thread): g0's fake stack, and
    /// g0's stack bounds as ASan reported them.
    asan: UnsafeCell<(*mut libc::c_void, usize, usize)>,
    /// Set for the M that a thread inside `block_on_future` becomes (the
    /// host of the main G: sched/host.rs); never changes.
    pub(crate) host: Option<Box<super::host::Host>>,
}

// SAFETY: the non-atomic fields (g0_sp, asan, io_batch) are touched only by the M's
// own thread (module doc); the rest is atomic or Sync.
unsafe impl Sync for M {}
// SAFETY: as above.
unsafe impl Send for M {}

impl M {
    fn new(id: usize, shared: Arc<Shared>) -> Self {
        Self {
            id,
            shared,
            g0_sp: UnsafeCell::new(0),
            curg: AtomicPtr::new(std::ptr::null_mut()),
            curg_id: AtomicU64::new(0),
            trace: super::trace::MLane::default(),
            p: AtomicPtr::new(std::ptr::null_mut()),
            nextp: AtomicPtr::new(std::ptr::null_mut()),
            next_spinning: AtomicBool::new(false),
            spinning: AtomicBool::new(false),
            note: Note::default(),
            locked_g: AtomicPtr::new(std::ptr::null_mut()),
            pending_yield: AtomicPtr::new(std::ptr::null_mut()),
            to_back: AtomicBool::new(false),
            io_batch: UnsafeCell::new(GList::default()),
            exit_thread: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            syscall: AtomicU32::new(0),
            without_p: AtomicBool::new(false),
            cpu_clock: AtomicI32::new(-1),
            tid: AtomicI32::new(0),
            rng: AtomicU64::new(
                0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            ),
            calls: crate::loom::AtomicUsize::new(0),
            asan: UnsafeCell::new((std::ptr::null_mut(), 0, 0)),
            host: None,
        }
    }

    /// The M a thread inside `block_on_future` becomes (sched/host.rs):
    /// counted under the thread cap like any M, listed for the dump and
    /// sysmon, but run by the caller's thread rather than a thread of ours.
    /// None when the cap leaves no thread for it.
    pub(crate) fn new_host(shared: &Shared) -> Option<Arc<M>> {
        let threads = &shared.threads;
        if !threads.reserve() {
            return None;
        }
        let id = threads.created.fetch_add(1, Ordering::Relaxed);
        let mut m = M::new(id, shared.arc());
        m.host = Some(Box::default());
        let m = Arc::new(m);
        let mut all = threads.all.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&m));
        Some(m)
    }

    /// Makes the calling thread `m`'s (the start of `m_main`, or a host's
    /// entry); returns the thread's timer slack before, to restore.
    pub(crate) fn attach_thread(m: &Arc<M>) -> libc::c_int {
        CURRENT.with(|c| c.set(Arc::as_ptr(m)));
        m.cpu_clock
            .store(this_thread_cpu_clock(), Ordering::Relaxed);
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        m.tid.store(tid, Ordering::Relaxed);
        // SAFETY: PR_GET_TIMERSLACK reads a field of the calling thread.
        let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
        set_timer_slack();
        slack
    }

    /// Undoes [`attach_thread`](Self::attach_thread) for a host M, whose
    /// thread goes back to its caller: the thread-local cleared, the timer
    /// slack restored, the thread given back to the cap.
    pub(crate) fn detach_host_thread(&self, slack: libc::c_int) {
        CURRENT.with(|c| c.set(std::ptr::null()));
        if slack > 0 {
            // SAFETY: PR_SET_TIMERSLACK sets a field of the calling thread.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, slack as libc::c_ulong) };
        }
        self.shared.threads.release();
    }

    /// The calling thread's M. Never inlined, so a G never reuses a
    /// thread-local address computed before a switch (g/run.rs).
    #[inline(never)]
    pub(crate) fn current() -> Option<NonNull<M>> {
        NonNull::new(CURRENT.with(Cell::get).cast_mut())
    }

    /// The calling thread's M, or None while the thread panics (a G must
    /// then not switch away: a yield would carry its unwinding to another
    /// thread). One call where a yield needed two. Never inlined (as
    /// `current`).
    #[inline(never)]
    pub(crate) fn current_unless_panicking() -> Option<NonNull<M>> {
        if std::thread::panicking() {
            return None;
        }
        NonNull::new(CURRENT.with(Cell::get).cast_mut())
    }

    /// The G running on this M.
    pub(crate) fn curg(&self) -> Option<NonNull<Header>> {
        NonNull::new(self.curg.load(Ordering::Relaxed))
    }

    pub(crate) fn set_curg(&self, g: Option<NonNull<Header>>) {
        // SAFETY: the caller passes the G it is about to run (alive), or None.
        let id = g.map_or(0, |g| unsafe { g.as_ref() }.id);
        self.curg_id.store(id, Ordering::Relaxed);
        self.curg.store(
            g.map_or(std::ptr::null_mut(), NonNull::as_ptr),
            Ordering::Relaxed,
        );
    }

    /// Where `switch_in` saves g0's context (M thread).
    pub(crate) fn g0_sp(&self) -> *mut usize {
        self.g0_sp.get()
    }

    /// g0's saved context, read by the G switching back (M thread).
    pub(crate) fn g0_sp_value(&self) -> usize {
        // SAFETY: only this M's thread touches g0_sp, and it is not being
        // written now (g0 is suspended while a G runs).
        unsafe { *self.g0_sp.get() }
    }

    /// The index of the P this M holds, read from any thread
    /// (a racy snapshot, for schedtrace).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn p_id(&self) -> Option<usize> {
        let p = NonNull::new(self.p.load(Ordering::Relaxed))?;
        // SAFETY: a non-null `p` points into `shared.ps`, which lives as
        // long as the runtime this M keeps alive.
        Some(unsafe { p.as_ref() }.id)
    }

    /// The P this M holds, as an owner token. Call only on the M's thread.
    ///
    /// From user code on a G this is a runtime call's entry (step U2 of
    /// syscall.rs): it claims the P from sysmon (two plain stores and two
    /// loads around a compiler fence, no locked instruction), and the
    /// token's drop gives it back (U3). If sysmon took the P meanwhile, it
    /// waits on this thread for another (step 4) first. From g0, or inside
    /// a runtime call, it is one load.
    #[inline(always)]
    pub(crate) fn held(&self) -> Option<Held<'_>> {
        let p = NonNull::new(self.p.load(Ordering::Relaxed))?;
        // SAFETY: `p` is set only while this M holds the P (handoff.rs), and
        // the P lives in `shared.ps`, which outlives the M.
        let p = unsafe { p.as_ref() };
        let mine = self.id + 1;
        let seen = p.owner.load(Ordering::Relaxed);
        if seen == mine {
            // SAFETY: the word names us without a flag (g0, or a runtime
            // call after `acquire_p`): only this M moves it: we hold the P,
            // on the M's thread (the caller's duty).
            return Some(unsafe { Held::new(p) });
        }
        if seen == mine | IN_USER {
            if self.calls.load(Ordering::Relaxed) & 1 == 1 {
                // SAFETY: a nested call (or g0 after a switch out): the
                // count is odd, so sysmon leaves the P to us.
                return Some(unsafe { Held::new(p) });
            }
            if !user_claim(&p.owner, &self.calls, &p.retaking, mine) {
                return self.regain_p();
            }
            // SAFETY: step U2 won: the P is ours until the token's drop.
            return Some(unsafe { Held::from_user(p, &self.calls) });
        }
        self.regain_p()
    }

    /// Step U2 lost: sysmon took the P while our G ran user code. Waits on
    /// this thread for a P (step 4), then goes on as a runtime call.
    #[cold]
    #[inline(never)]
    fn regain_p(&self) -> Option<Held<'_>> {
        self.set_p(None);
        super::syscall::exit_slow(self);
        self.shared
            .sysmon
            .counts
            .user_retaken_now
            .fetch_sub(1, Ordering::Relaxed);
        let p = NonNull::new(self.p.load(Ordering::Relaxed))?;
        // SAFETY: `exit_slow` returned with a P acquired by this M (word
        // `id + 1`); it lives in `shared.ps`.
        let p = unsafe { p.as_ref() };
        // Runtime state as after U2: the count odd (U2 stored it, unless
        // the word showed the P gone before any claim), then the word
        // flagged (sysmon leaves it to us while the count is odd); the
        // token's drop makes the count even (U3).
        let c = self.calls.load(Ordering::Relaxed);
        if c & 1 == 0 {
            self.calls.store(c + 1, Ordering::Relaxed);
        }
        owner_user_enter(&p.owner, self.id + 1);
        // SAFETY: as above; the count is odd.
        Some(unsafe { Held::from_user(p, &self.calls) })
    }

    /// Step U1: the G about to run (or back from a runtime call that kept
    /// its P, like `syscall`) runs user code; sysmon may take the P.
    /// The caller holds the P in runtime state.
    #[inline]
    pub(crate) fn enter_user(&self) {
        if let Some(p) = NonNull::new(self.p.load(Ordering::Relaxed)) {
            // SAFETY: as in `held`.
            let p = unsafe { p.as_ref() };
            debug_assert_eq!(p.owner.load(Ordering::Relaxed) & !IN_USER, self.id + 1);
            owner_user_enter(&p.owner, self.id + 1);
            if self.calls.load(Ordering::Relaxed) & 1 == 1 {
                user_return(&self.calls);
            }
        }
    }

    /// The P this M last held, for reads that need no ownership (its
    /// preempt flag). May be a P sysmon has just taken. M thread.
    #[inline]
    pub(crate) fn p_peek(&self) -> Option<&P> {
        let p = NonNull::new(self.p.load(Ordering::Relaxed))?;
        // SAFETY: Ps live in `shared.ps`, which outlives the M.
        Some(unsafe { p.as_ref() })
    }

    /// Records the P held (handoff.rs).
    pub(crate) fn set_p(&self, p: Option<&P>) {
        self.p.store(
            p.map_or(std::ptr::null_mut(), |p| std::ptr::from_ref(p).cast_mut()),
            Ordering::Relaxed,
        );
    }

    /// Hands `p` to this M (which is parked or about to look): the M takes
    /// it with `take_nextp` after its note wakes it.
    pub(crate) fn hand_p(&self, p: &P, spinning: bool) {
        self.next_spinning.store(spinning, Ordering::Relaxed);
        self.nextp
            .store(std::ptr::from_ref(p).cast_mut(), Ordering::Release);
    }

    /// The P another M handed to this one, and whether it counted this M as
    /// spinning (M thread).
    pub(crate) fn take_nextp(&self) -> Option<(&P, bool)> {
        let p = NonNull::new(self.nextp.swap(std::ptr::null_mut(), Ordering::Acquire))?;
        let spinning = self.next_spinning.load(Ordering::Relaxed);
        // SAFETY: a handed P lives in `shared.ps`, which outlives the M.
        Some((unsafe { &*p.as_ptr() }, spinning))
    }

    pub(crate) fn spinning(&self) -> bool {
        self.spinning.load(Ordering::Relaxed)
    }

    pub(crate) fn set_spinning(&self, on: bool) {
        self.spinning.store(on, Ordering::Relaxed);
    }

    /// The G locked to this M.
    pub(crate) fn locked_g(&self) -> Option<NonNull<Header>> {
        NonNull::new(self.locked_g.load(Ordering::Relaxed))
    }

    /// Whether Gs readied now go to the back of the ring (M thread).
    pub(crate) fn to_back(&self) -> bool {
        self.to_back.load(Ordering::Relaxed)
    }

    /// Sets [`to_back`](Self::to_back) (M thread).
    pub(crate) fn set_to_back(&self, on: bool) {
        self.to_back.store(on, Ordering::Relaxed);
    }

    /// Runs `f` on the batch of readied Gs bound for the global queue
    /// (`io_batch`). M thread only.
    pub(crate) fn with_io_batch<R>(&self, f: impl FnOnce(&mut GList) -> R) -> R {
        // SAFETY: only the M's own thread reaches this (ready.rs, during
        // its own `wake_to_back`), and `f` never calls back here.
        f(unsafe { &mut *self.io_batch.get() })
    }

    /// Records the G a handoff yield left behind.
    pub(crate) fn set_pending_yield(&self, g: NonNull<Header>) {
        self.pending_yield.store(g.as_ptr(), Ordering::Relaxed);
    }

    /// Takes the G a handoff yield left behind, if any.
    pub(crate) fn take_pending_yield(&self) -> Option<NonNull<Header>> {
        let g = self.pending_yield.load(Ordering::Relaxed);
        if g.is_null() {
            return None;
        }
        self.pending_yield
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        NonNull::new(g)
    }

    pub(crate) fn exit_thread(&self) -> bool {
        self.exit_thread.load(Ordering::Relaxed)
    }

    pub(crate) fn set_exit_thread(&self) {
        self.exit_thread.store(true, Ordering::Relaxed);
    }

    /// A pseudo-random number (xorshift64*), for the steal order.
    pub(crate) fn rand(&self) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// ASan: g0's fake-stack slot (M thread).
    pub(crate) fn asan_fake(&self) -> *mut *mut libc::c_void {
        // SAFETY: M thread only; a raw pointer into our own cell.
        unsafe { &raw mut (*self.asan.get()).0 }
    }

    /// ASan: g0's stack bounds (M thread).
    ///
    /// # Safety
    ///
    /// Called on the M's own thread.
    #[cfg_attr(not(switchyard_asan), allow(dead_code))]
    pub(crate) unsafe fn asan_g0(&self) -> (usize, usize) {
        // SAFETY: the caller is on the M's thread.
        let a = unsafe { &*self.asan.get() };
        (a.1, a.2)
    }

    /// ASan: records g0's stack bounds.
    ///
    /// # Safety
    ///
    /// Called on the M's own thread.
    #[cfg_attr(not(switchyard_asan), allow(dead_code))]
    pub(crate) unsafe fn set_asan_g0(&self, bottom: usize, size: usize) {
        if size != 0 {
            // SAFETY: the caller is on the M's thread.
            let a = unsafe { &mut *self.asan.get() };
            (a.1, a.2) = (bottom, size);
        }
    }
}

/// The G running on this thread, for the overflow handler (None if none):
/// alive while it runs, so for the rest of the handler, which aborts.
/// Async-signal-safe: a const thread-local and atomics only.
pub(crate) fn current_g_for_signal() -> Option<std::ptr::NonNull<crate::g::Header>> {
    let m = CURRENT.with(Cell::get);
    if m.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT is this thread's live M.
    unsafe { (*m).curg() }
}

/// The runtime's OS threads: how many, the cap, and their join handles.
#[derive(Debug)]
pub(crate) struct Threads {
    /// Ms alive (created and not yet returned from `m_main`).
    alive: AtomicUsize,
    /// Ms ever created (ids).
    created: AtomicUsize,
    /// The cap (`Config::max_threads`).
    max: usize,
    /// Gs holding `lock_os_thread` (each pins an M).
    locked: AtomicUsize,
    /// The cap-reached warning was printed.
    warned: AtomicBool,
    /// Join handles of every M thread.
    pub(crate) handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Every M made (weak: an M holds the runtime), for the
    /// task dump and scheddetail (sched/observe.rs).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) all: Mutex<Vec<std::sync::Weak<M>>>,
}

impl Threads {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            alive: AtomicUsize::new(0),
            created: AtomicUsize::new(0),
            max,
            locked: AtomicUsize::new(0),
            warned: AtomicBool::new(false),
            handles: Mutex::new(Vec::new()),
            all: Mutex::new(Vec::new()),
        }
    }

    /// Ms ever created (`Stats::ms_created`).
    pub(crate) fn created(&self) -> usize {
        self.created.load(Ordering::Relaxed)
    }

    /// Ms alive now.
    pub(crate) fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }

    /// Claims a thread under the cap.
    fn reserve(&self) -> bool {
        self.alive
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }

    /// An idle M may exit if more than `keep` Ms are alive; gives
    /// its thread back to the budget at once (so two idle Ms never both
    /// leave when only one may).
    pub(crate) fn try_retire(&self, keep: usize) -> bool {
        self.alive
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n > keep).then(|| n - 1)
            })
            .is_ok()
    }

    /// Prints, once, that the cap stops a new M.
    pub(crate) fn warn_cap(&self, why: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            rt_base::diag::line(&format!(
                "switchyard: the runtime reached max_threads (RUNTIME_MAXTHREADS) = {} OS threads; \
                 {why} waits until a thread is free (reported once)",
                self.max
            ));
        }
    }

    /// Reserves an M for a `lock_os_thread` G: allowed while the locked Gs
    /// plus one M per P fit under the cap.
    pub(crate) fn lock_reserve(&self, procs: usize) -> bool {
        self.locked
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n + 1 + procs <= self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// The live M with this id, if any (sysmon, on a retake).
    pub(crate) fn find(&self, id: usize) -> Option<Arc<M>> {
        let all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter_map(std::sync::Weak::upgrade)
            .find(|m| m.id == id)
    }

    /// Releases a reservation of `lock_reserve`.
    pub(crate) fn lock_release(&self) {
        self.locked.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts a new M that will run `p` (spinning or not). Fails (and prints a
/// warning once) if the thread cap is reached or the OS refuses a thread.
pub(crate) fn spawn_m(shared: &Shared, p: &P, spinning: bool) -> Result<(), ()> {
    let threads = &shared.threads;
    if !threads.reserve() {
        threads.warn_cap("work that needs another M");
        // Counted in `Stats::threads_capped`.
        shared
            .sysmon
            .counts
            .threads_capped
            .fetch_add(1, Ordering::Relaxed);
        return Err(());
    }
    let id = threads.created.fetch_add(1, Ordering::Relaxed);
    let m = Arc::new(M::new(id, shared.arc()));
    m.hand_p(p, spinning);
    {
        // Listed for the task dump; dead entries pruned here.
        let mut all = threads.all.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&m));
    }
    let spawned = std::thread::Builder::new()
        .name(format!("mn-m{id}"))
        .spawn(move || m_main(m));
    match spawned {
        Ok(h) => {
            threads
                .handles
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(h);
            Ok(())
        }
        Err(e) => {
            threads.release();
            threads.warn_cap(&format!(
                "(the OS refused a thread: {e}) work that needs another M"
            ));
            Err(())
        }
    }
}

/// Body of an M thread.
fn m_main(m: Arc<M>) {
    M::attach_thread(&m);
    let _alt = AltStack::ensure();
    let bomb = AbortOnUnwind;
    super::trace::MLane::open(&m); // this M's Chrome trace lane
    if let Some(hook) = &m.shared.config.on_thread_start {
        hook.run("on_thread_start");
    }
    let (p, spinning) = m.take_nextp().expect("spawn_m hands the new M a P");
    super::handoff::adopt_p(&m, p, spinning);
    super::schedule::schedule(&m);
    if let Some(hook) = &m.shared.config.on_thread_stop {
        hook.run("on_thread_stop");
    }
    super::trace::MLane::flush(&m); // hand the trace batch over
    std::mem::forget(bomb);
    CURRENT.with(|c| c.set(std::ptr::null()));
    if !m.retired.load(Ordering::Relaxed) {
        m.shared.threads.release();
    }
}

/// Timer slack of an M, in ns (the kernel's default is 50,000).
///
/// Linux may defer the end of a timed sleep by up to the sleeping thread's
/// slack, to wake several sleepers at once. An M that sleeps on its futex
/// until the earliest timer (a runtime with no socket: netpoll/mod.rs
/// `sleeper_wait`) woke about a tenth of a millisecond after a deadline at
/// the median, and some tens of µs sooner with this slack
/// (`timer_lateness --alone`). Waits in epoll end
/// by a timerfd (rt-base's `alarm`), which has no slack.
const TIMER_SLACK_NS: libc::c_ulong = 1_000;

/// Sets the calling M's timer slack ([`TIMER_SLACK_NS`]); a refusal
/// leaves the default, which only makes timers later.
fn set_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK sets a field of the calling thread and
    // reads no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS) };
}

/// The calling thread's CPU-time clock id (-1 if the OS gives none).
fn this_thread_cpu_clock() -> i32 {
    let mut clk: libc::clockid_t = 0;
    // SAFETY: `pthread_self` is the calling thread, alive; `clk` is a
    // valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clk) };
    if rc == 0 {
        clk
    } else {
        -1
    }
}

/// CPU time a thread has used, from its clock id (see
/// `this_thread_cpu_clock`); None if the clock is gone (the thread ended).
pub(crate) fn thread_cpu_time(clk: i32) -> Option<std::time::Duration> {
    if clk == -1 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; a stale clock id makes the call
    // fail with EINVAL, never undefined behaviour.
    let rc = unsafe { libc::clock_gettime(clk, &mut ts) };
    (rc == 0).then(|| {
        std::time::Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    })
}

/// A panic escaping the scheduler means its state is broken: abort.
pub(crate) struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        rt_base::diag::line(
            "switchyard: internal error: a panic escaped the mn scheduler; aborting",
        );
        rt_base::diag::flush(std::time::Duration::from_millis(100));
        std::process::abort();
    }
}
