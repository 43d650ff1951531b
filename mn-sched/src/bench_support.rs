//! Support for `benches/mn_switch.rs`: the bare context switch is private,
//! so this hidden function times it from outside the crate. Not API.

use crate::arch;

/// The two contexts of the measurement.
struct Pair {
    main: usize,
    co: usize,
}

/// Entry of the measuring coroutine: switches back to main forever.
unsafe extern "sysv64" fn bounce(_save: usize, _to: usize, arg: usize) -> ! {
    let pair = arg as *mut Pair;
    loop {
        // SAFETY: `pair` is the live Pair of `bare_switch_round_trips`,
        // whose main context was saved by the switch that resumed us.
        unsafe { arch::switch(&raw mut (*pair).co, (*pair).main, arg) };
    }
}

/// Performs `iters` round trips (2 × `iters` switches) between the caller
/// and a coroutine on a fresh 64 KiB stack.
#[doc(hidden)]
pub fn bare_switch_round_trips(iters: u64) {
    let mut stack = vec![0u8; 64 * 1024];
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let pair = Box::into_raw(Box::new(Pair { main: 0, co: 0 }));
    // SAFETY: `top` is the aligned end of `stack`, which outlives every
    // switch below; `bounce` never returns.
    let first = unsafe { arch::init_stack(top, bounce) };
    // SAFETY: `pair` is a live allocation owned here.
    unsafe { (*pair).co = first };
    for _ in 0..iters {
        // SAFETY: `co` is the coroutine's saved context; ours goes to `main`.
        unsafe { arch::switch(&raw mut (*pair).main, (*pair).co, pair as usize) };
    }
    // SAFETY: the coroutine is suspended for good; its frame owns nothing.
    drop(unsafe { Box::from_raw(pair) });
    drop(stack);
}

/// Keeps the fences of the P ownership check full ones (no membarrier), as
/// on a kernel without it: call before the process's first runtime is
/// built. For tests of that path.
#[doc(hidden)]
pub fn use_full_fences() {
    crate::sched::syscall::asym::never_register();
}

/// Whether the P ownership check runs on membarrier (a compiler fence on
/// the fast path) rather than full fences.
#[doc(hidden)]
pub fn fences_expedited() -> bool {
    crate::sched::syscall::asym::expedited()
}

/// What the P ownership check (sysmon's right to take the P) costs a runtime call made from user
/// code on a G. `claim`: `iters` times the check of today (step U2 of
/// sched/syscall.rs: two plain stores and a load around a compiler fence,
/// U3's store when the token drops);
/// otherwise `iters` times the bare load of the P the check replaced. Off a
/// G, or without a P, it does nothing.
#[doc(hidden)]
pub fn runtime_call_checks(iters: u64, claim: bool) {
    let Some(m) = crate::sched::m::M::current() else {
        return;
    };
    // SAFETY: this thread's live M; no switch happens in this loop.
    let m = unsafe { m.as_ref() };
    if m.curg().is_none() {
        return;
    }
    for _ in 0..iters {
        if claim {
            std::hint::black_box(m.held());
        } else {
            std::hint::black_box(m.p_peek());
        }
    }
}
