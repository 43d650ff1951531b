//! Task wakers: 64 bits of plain data, no allocation, no reference count.
//!
//! A waker's data word packs the runtime's short id, the task's slab key and
//! the slot's generation:
//!
//! ```text
//!  63          44 43          26 25                  0
//! +--------------+--------------+--------------------+
//! | runtime (20) | generation   | slab key (26)      |
//! |              | (18)         |                    |
//! +--------------+--------------+--------------------+
//! ```
//!
//! Nothing is ever dereferenced: the word is a name, not a pointer. So clone
//! and drop are free and the waker is trivially `Send + Sync`. Waking on the
//! loop thread that owns the runtime (the common case: a channel send, a timer,
//! an I/O event) checks the thread-local current runtime and pushes the key on
//! the ready queue — no atomics. Waking from any other thread looks the short
//! id up in the registry of live runtimes and goes through that runtime's
//! locked remote queue plus its `mio::Waker` (see `remote.rs`).
//!
//! A stale waker (its task finished, its slot reused: the generation differs)
//! or a foreign one (its runtime is gone) is harmless: the wake is dropped, or
//! at worst — when the generation has come round (it counts spawns, 2^18 of
//! them), or after 2^20 runtimes — causes one spurious poll, which every
//! future must tolerate anyway. Join handles, whose operations are not
//! harmless when misdirected (an abort), name their task by its 64-bit id
//! instead (see `join.rs`).

use std::task::{RawWaker, RawWakerVTable, Waker};

#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "loop-core packs its wakers into a 64-bit pointer word; 32-bit targets are not supported"
);

/// Bits of the slab key.
pub(crate) const KEY_BITS: u32 = 26;
/// Bits of the generation.
pub(crate) const GEN_BITS: u32 = 18;
/// Bits of the runtime's short id.
pub(crate) const RT_BITS: u32 = 20;

/// Mask of the slab key.
pub(crate) const KEY_MASK: u64 = (1 << KEY_BITS) - 1;
/// Mask of the generation (applied to the generation counter).
pub(crate) const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
/// Mask of the runtime's short id.
pub(crate) const RT_MASK: u64 = (1 << RT_BITS) - 1;

/// The key reserved for `block_on`'s own future; never a slab key.
pub(crate) const MAIN_KEY: u32 = KEY_MASK as u32;

/// Packs a task name into a waker data word.
#[inline]
pub(crate) fn pack(rt: u32, key: u32, generation: u32) -> u64 {
    debug_assert!(key as u64 <= KEY_MASK && generation <= GEN_MASK && rt as u64 <= RT_MASK);
    ((rt as u64) << (KEY_BITS + GEN_BITS)) | ((generation as u64) << KEY_BITS) | key as u64
}

/// The runtime short id of a data word.
#[inline]
pub(crate) fn rt_of(word: u64) -> u32 {
    (word >> (KEY_BITS + GEN_BITS)) as u32
}

/// The slab key of a data word.
#[inline]
pub(crate) fn key_of(word: u64) -> u32 {
    (word & KEY_MASK) as u32
}

/// The generation of a data word.
#[inline]
pub(crate) fn gen_of(word: u64) -> u32 {
    ((word >> KEY_BITS) as u32) & GEN_MASK
}

/// A waker for the task named by `word`.
#[inline]
pub(crate) fn waker(word: u64) -> Waker {
    // SAFETY: every function of VTABLE treats the data pointer as an opaque
    // integer and never dereferences it, so any value is valid for it, and the
    // waker owns no resource that clone/drop would have to manage.
    unsafe { Waker::from_raw(RawWaker::new(word as usize as *const (), &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    crate::runtime::wake_word(data as usize as u64);
}

fn drop_waker(_: *const ()) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_at_the_edges() {
        for (rt, key, gen) in [
            (1, 0, 0),
            (RT_MASK as u32, KEY_MASK as u32 - 1, GEN_MASK),
            (77, 12_345, 999),
        ] {
            let w = pack(rt, key, gen);
            assert_eq!((rt_of(w), key_of(w), gen_of(w)), (rt, key, gen));
        }
    }

    #[test]
    fn clone_and_compare_are_free() {
        let w = waker(pack(3, 4, 5));
        let c = w.clone();
        assert!(w.will_wake(&c));
        assert!(!w.will_wake(&waker(pack(3, 4, 6))));
        assert_eq!(c.data() as usize as u64, pack(3, 4, 5));
    }

    #[test]
    fn waker_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Waker>();
    }
}
