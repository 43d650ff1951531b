//! Tasks: what `spawn` makes and how it is named, woken and joined.
//!
//! * `cell.rs` — the heap cell of a task (its future, then its output).
//! * `waker.rs` — the 64-bit waker word: runtime, slab key, generation.
//! * `join.rs` — `JoinHandle`, `LocalJoinHandle`, `JoinError`.
//! * `yield_now.rs` — giving the loop back for one turn.
//!
//! The slab itself and the rules of a slot's life are in `runtime/mod.rs`
//! (its join operations in `runtime/join.rs`).

pub(crate) mod cell;
mod join;
pub(crate) mod waker;
mod yield_now;

pub(crate) use cell::Task;
pub use join::{JoinError, JoinHandle, LocalJoinHandle};
pub use yield_now::{yield_now, YieldNow};
