//! The loom shim: the lock-free and locking protocols use these paths, which
//! are loom's model-checked types under `--cfg loom` and std's otherwise.

#[cfg(loom)]
pub(crate) use loom::{sync, thread};

#[cfg(not(loom))]
pub(crate) use std::sync;
