//! Blocking-style synchronisation for Gs: channels with select, a Mutex and
//! a WaitGroup. Each parks the G (or the thread, outside a runtime), never
//! the M; all are built on the park/unpark primitive (`park.rs`) and the
//! wait lists of `waitlist.rs`.

pub mod chan;
pub(crate) mod mutex;
pub(crate) mod select;
pub(crate) mod waitgroup;
pub(crate) mod waitlist;

use std::cell::Cell;

/// A number below `n` from a per-thread xorshift (select's fair start).
/// Never inlined: no thread-local address survives into the caller.
#[inline(never)]
pub(crate) fn rand_below(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0x2545_F491_4F6C_DD1D) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x % n as u64) as usize
    })
}
