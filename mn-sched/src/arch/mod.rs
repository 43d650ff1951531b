//! The context switch: the contract every architecture meets.
//!
//! A context is one word, the saved stack pointer. Everything else a suspended
//! side needs (its callee-saved registers and where to resume) sits on its own
//! stack, pushed by [`switch`] just before the stack pointers are swapped.
//!
//! * `switch(save, to, arg) -> usize` saves the current side's registers on
//!   its stack, stores its stack pointer at `*save`, loads `to` and resumes
//!   the other side, whose own pending `switch` (or entry function) receives
//!   `arg`. Only the registers the ABI makes callee-saved survive; the rest
//!   are declared clobbered, so the compiler saves only what is live.
//! * `init_stack(top, entry) -> sp` lays out a fresh stack so that the first
//!   `switch` to `sp` calls `entry(save, to, arg)` with a correctly aligned
//!   stack and a zero return address that ends backtraces. `entry` never
//!   returns: it must switch away for the last time instead.
//!
//! The scheduler passes its M's address as `arg` when it resumes a G, and a
//! G passes its request (park, yield, exit) when it switches back: that is
//! how code on a G learns where it runs without caching a thread-local's
//! address across a park.
//!
//! x86_64 only for now. aarch64 would be a second file of the same shape, but
//! it cannot be tested on the machines this project runs on, so it is not
//! written; every other target stops at compile time.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "switchyard's M:N engine runs on Linux only (mmap'd guarded stacks, futex, \
     signal handling); build switchyard-rt with `default-features = false` for the \
     event loop alone (which needs Linux too: epoll, timerfd, eventfd)"
);

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{init_stack, switch};

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "switchyard's M:N engine has a context switch for x86_64 only \
     (src/arch/x86_64.rs); on other CPUs build switchyard-rt with \
     `default-features = false`: the event loop alone, without the `mn` feature"
);

/// Reads the current stack pointer (approximately: the address of a local).
#[inline(always)]
pub(crate) fn approx_sp() -> usize {
    let marker = 0u8;
    std::ptr::addr_of!(marker) as usize
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// The two saved contexts of the test below.
    struct Pair {
        main_sp: usize,
        co_sp: usize,
    }

    thread_local! {
        /// Where the test coroutine finds its `Pair` (set before the first switch).
        static PAIR: Cell<*mut Pair> = const { Cell::new(std::ptr::null_mut()) };
    }

    /// Entry of the test coroutine: echoes `arg + 1` back forever.
    unsafe extern "sysv64" fn echo(_save: usize, _to: usize, arg: usize) -> ! {
        let pair = PAIR.with(Cell::get);
        let mut v = arg;
        loop {
            // SAFETY: `pair` points to the test's live `Pair`; `main_sp` holds
            // the context the main side saved when it resumed us.
            v = unsafe { switch(&raw mut (*pair).co_sp, (*pair).main_sp, v + 1) };
        }
    }

    #[test]
    fn switch_passes_values_both_ways() {
        let mut stack = vec![0u8; 64 * 1024];
        let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
        let pair: *mut Pair = Box::into_raw(Box::new(Pair {
            main_sp: 0,
            co_sp: 0,
        }));
        PAIR.with(|p| p.set(pair));
        // SAFETY: `top` is the 16-aligned end of a live 64 KiB buffer that
        // outlives every switch below; `echo` never returns.
        let first = unsafe { init_stack(top, echo) };
        // SAFETY: `pair` is a live allocation owned by this test.
        unsafe { (*pair).co_sp = first };
        for i in 0..1000usize {
            // SAFETY: `co_sp` is the coroutine's saved context (fresh or parked
            // in its own `switch`); ours goes to `main_sp`, which it reads.
            let got = unsafe { switch(&raw mut (*pair).main_sp, (*pair).co_sp, i) };
            assert_eq!(got, i + 1);
        }
        PAIR.with(|p| p.set(std::ptr::null_mut()));
        // SAFETY: the coroutine is suspended for good; nothing reads `pair` now.
        drop(unsafe { Box::from_raw(pair) });
        drop(stack);
    }
}
