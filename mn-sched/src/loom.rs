//! The one door to atomics and cells for the lock-free parts: the run queue
//! (`sched/runq.rs`), the park/wake state word (`g/state.rs`), the spinning
//! counters (`sched/idle.rs`) and a local task's queued flag (`aio/local.rs`). Under `--cfg loom` they are loom's model-checked
//! types and the constants shrink (a 4-slot run queue), so the same code runs as
//! a model (`scripts/loom.sh`) or for real. Leaf OS primitives (the futex note,
//! the signal handler's registry) use `std` directly: loom cannot model them.
//!
//! The ring's slots are atomics (not cells), so no cell type is needed here:
//! a thief's read of a slot the owner may be rewriting is a harmless stale
//! read, discarded when its CAS fails.

#[cfg(loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize},
};

#[cfg(not(loom))]
pub(crate) use std::{
    hint::spin_loop,
    sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize},
};

// For the netpoller's readiness word and waiter list (netpoll/io.rs) and
// the timers' sleeper protocol (timer.rs).
#[cfg(loom)]
pub(crate) use loom::sync::{atomic::AtomicU64, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{atomic::AtomicU64, Mutex, MutexGuard};
