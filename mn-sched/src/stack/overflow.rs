//! Stack overflow: a SIGSEGV/SIGBUS handler on an alternate signal stack that
//! recognises a hit in a G stack's guard, prints
//! `switchyard: stack overflow in task N "name" (stack size S KiB; ...)`
//! (the name when a task builder gave one) with the two ways to give the
//! task more (`RUNTIME_STACK_SIZE` for every G, a task builder's
//! `stack_size` for this one) and aborts. A G's stack does not grow as a
//! goroutine's does: its size is fixed when it is spawned.
//!
//! The handler allocates nothing and takes no lock: arenas are listed in a
//! fixed table of atomics ([`MAX_ARENAS`] entries, process-wide because
//! signal dispositions are process-wide), the current G is read through the
//! M's thread-local pointer (a `const`-initialised `Cell`, safe to read in a
//! signal handler), and the message is formatted into a stack buffer and
//! written with `write(2)` once `poll(2)` finds room on stderr (up to a
//! second: a full stderr must not keep the process from aborting). Any
//! other fault goes to the handler that was installed before ours (Rust's
//! own main-thread overflow handler, or the default action, re-raised by
//! returning with SIG_DFL restored).
//!
//! Every M runs with an alternate signal stack: threads spawned by `std`
//! already have one; if a thread has none, [`AltStack::ensure`] maps one for
//! the M's lifetime. The overflowing G's own stack cannot be used: its guard
//! is exactly what was hit.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// Most arenas that can be live at once across all runtimes of the process.
pub(crate) const MAX_ARENAS: usize = 512;

/// One arena as the handler sees it (`start == 0`: free entry).
struct ArenaRec {
    start: AtomicUsize,
    end: AtomicUsize,
    slot: AtomicUsize,
    guard: AtomicUsize,
    stack: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: ArenaRec = ArenaRec {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    slot: AtomicUsize::new(0),
    guard: AtomicUsize::new(0),
    stack: AtomicUsize::new(0),
};

static ARENAS: [ArenaRec; MAX_ARENAS] = [EMPTY; MAX_ARENAS];

/// Lists an arena for the handler; returns its entry, or None if the table
/// is full (the arena then works, but an overflow in it is reported as a
/// plain SIGSEGV).
pub(crate) fn register(
    start: usize,
    len: usize,
    slot: usize,
    guard: usize,
    stack: usize,
) -> Option<usize> {
    install_handler();
    for (i, rec) in ARENAS.iter().enumerate() {
        if rec
            .start
            .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            rec.slot.store(slot, Ordering::Relaxed);
            rec.guard.store(guard, Ordering::Relaxed);
            rec.stack.store(stack, Ordering::Relaxed);
            rec.end.store(start + len, Ordering::Relaxed);
            rec.start.store(start, Ordering::Release);
            return Some(i);
        }
    }
    None
}

/// Removes an arena from the table (before it is unmapped).
pub(crate) fn unregister(i: usize) {
    let rec = &ARENAS[i];
    rec.end.store(0, Ordering::Relaxed);
    rec.start.store(0, Ordering::Release);
}

/// If `addr` lies in the guard of a registered slot, the stack size there.
fn guard_hit(addr: usize) -> Option<usize> {
    ARENAS.iter().find_map(|rec| {
        let start = rec.start.load(Ordering::Acquire);
        if start == 0 || start == usize::MAX || addr < start {
            return None;
        }
        if addr >= rec.end.load(Ordering::Relaxed) {
            return None;
        }
        let slot = rec.slot.load(Ordering::Relaxed);
        let guard = rec.guard.load(Ordering::Relaxed);
        ((addr - start) % slot < guard).then(|| rec.stack.load(Ordering::Relaxed))
    })
}

/// The dispositions in place before ours (index 0: SIGSEGV, 1: SIGBUS).
struct Previous(std::cell::UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);
// SAFETY: written once inside `INSTALL.call_once`, before our handler can
// run, and only read afterwards.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(std::cell::UnsafeCell::new([MaybeUninit::uninit(); 2]));
static INSTALL: Once = Once::new();

/// Installs the handler for SIGSEGV and SIGBUS once per process.
pub(crate) fn install_handler() {
    INSTALL.call_once(|| {
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid "no flags" value; we fill
            // the handler and an empty mask. `PREVIOUS` is written only here,
            // inside call_once, before the new handler is live.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = handler as *const () as libc::sighandler_t;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut act.sa_mask);
                let prev = (*PREVIOUS.0.get())[i].as_mut_ptr();
                libc::sigaction(sig, &act, prev);
            }
        }
    });
}

/// The signal handler (async-signal-safe: no allocation, no lock).
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(stack_size) = guard_hit(addr) {
        // SAFETY: the running G is alive while it runs, and it runs until
        // `report` aborts.
        let g = crate::sched::m::current_g_for_signal().map(|g| unsafe { g.as_ref() });
        report(g, stack_size);
    }
    chain(sig, info, ctx);
}

/// Longest part of a task's name the message shows.
const NAME_MAX: usize = 64;

/// Writes the overflow message for the G `g` (None: not found) and aborts.
fn report(g: Option<&crate::g::Header>, stack_size: usize) -> ! {
    let mut buf = Msg::default();
    buf.push(b"switchyard: stack overflow in task ");
    buf.push_num(g.map_or(0, |g| g.id));
    if let Some(name) = g.and_then(|g| g.spawned.name()) {
        buf.push(b" \"");
        buf.push(&name.as_bytes()[..name.len().min(NAME_MAX)]);
        buf.push(b"\"");
    }
    buf.push(b" (stack size ");
    buf.push_num((stack_size / 1024) as u64);
    buf.push(
        b" KiB; raise RUNTIME_STACK_SIZE, or give this task a larger one \
          with task::Builder::stack_size)\n",
    );
    let mut pfd = libc::pollfd {
        fd: 2,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll(2), write(2) and abort(3) are async-signal-safe; the
    // pollfd and the buffer are ours. A stderr that stays full for a second
    // (nobody reads it) loses the line rather than keeping the process from
    // aborting (rt_base::diag says why a blocked write is worse).
    unsafe {
        if libc::poll(&mut pfd, 1, 1000) == 1 && pfd.revents & libc::POLLOUT != 0 {
            libc::write(2, buf.bytes.as_ptr().cast(), buf.len);
        }
        libc::abort();
    }
}

/// Passes a fault that is not ours to the previous disposition.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let i = usize::from(sig == libc::SIGBUS);
    // SAFETY: PREVIOUS[i] was initialised by `install_handler` before this
    // handler could be installed.
    let prev = unsafe { (*PREVIOUS.0.get())[i].assume_init() };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default and return: the faulting instruction runs again
        // and the kernel applies the default action (core dump).
        // SAFETY: a zeroed sigaction with SIG_DFL is valid.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous handler has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes the signal only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

/// A fixed buffer for the message (no allocation in the handler).
struct Msg {
    bytes: [u8; 256],
    len: usize,
}

impl Default for Msg {
    fn default() -> Self {
        Self {
            bytes: [0; 256],
            len: 0,
        }
    }
}

impl Msg {
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn push_num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

/// An alternate signal stack this M mapped because its thread had none.
#[derive(Debug)]
pub(crate) struct AltStack {
    mapping: Option<(usize, usize)>,
}

/// Size of an alternate signal stack we map ourselves (plus a guard page).
const ALT_SIZE: usize = 64 * 1024;

impl AltStack {
    /// Makes sure the calling thread has an alternate signal stack.
    pub(crate) fn ensure() -> Self {
        // SAFETY: querying the current alternate stack has no side effect.
        let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cur` is a valid out-pointer.
        unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) };
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            return Self { mapping: None };
        }
        let page = super::page_size();
        let len = ALT_SIZE + page;
        // SAFETY: a fresh anonymous mapping, guarded at its low end.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Self { mapping: None };
        }
        // SAFETY: `ptr..ptr+len` is ours; the first page becomes the guard and
        // the rest is handed to the kernel as this thread's signal stack.
        unsafe {
            libc::mprotect(ptr, page, libc::PROT_NONE);
            let ss = libc::stack_t {
                ss_sp: ptr.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: ALT_SIZE,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
        }
        Self {
            mapping: Some((ptr as usize, len)),
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((ptr, len)) = self.mapping {
            // SAFETY: disable the alternate stack before unmapping it; this
            // runs on the thread that installed it, outside any handler.
            unsafe {
                let ss = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&ss, std::ptr::null_mut());
                libc::munmap(ptr as *mut libc::c_void, len);
            }
        }
    }
}
