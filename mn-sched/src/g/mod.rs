//! G: a stackful task. This file holds what the scheduler sees of a G (its
//! [`Header`]) and the counted reference to it ([`GRef`]); the closure and its
//! output live right behind the header in the same allocation (`cell.rs`),
//! the status word and park protocol in `state.rs`, the code that runs on the
//! G's own stack in `run.rs`, the `Waker` built from a `GRef` in
//! `waker.rs`, and its spawn site and builder options in `spawned.rs`.
//!
//! Ownership rules of the header's fields:
//!
//! 1. `state` is shared by everyone and changes only by read-modify-write
//!    (`state.rs`).
//! 2. `ctx` (saved stack pointer, stack, low-water mark) belongs to whoever
//!    runs the G: the M that made it RUNNING, and the G itself while it runs.
//!    It is handed from M to M by the run queues (release/acquire) and by the
//!    unpark CAS.
//! 3. `own` (lock counts, registry membership) is touched only by the G on
//!    its own stack, and by its M on g0 between the G's last switch and the
//!    moment it is published (exit).
//! 4. `shared` is read-only; the runtime it points to lives as long as any G
//!    of it is not DEAD (shutdown waits for that), so only code that knows
//!    the G is alive may follow it.
//! 5. `link` belongs to the global run queue while the G is in it (under the
//!    sched lock), `reg` to the registry of parked Gs (under its lock).
//! 6. `refs` counts one "life" reference, held from spawn until the M that
//!    ran the G's exit drops it, plus one per [`GRef`] (JoinHandle, Waker).
//!    Run queues, wait lists and the registry hold raw pointers covered by
//!    the life reference.

pub(crate) mod alloc;
pub(crate) mod cell;
pub(crate) mod run;
pub(crate) mod spawned;
pub(crate) mod state;
pub(crate) mod waker;

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering};

use crate::join::JoinState;
use crate::sched::m::M;
use crate::sched::Shared;
use crate::stack::Stack;
use state::State;

/// What the scheduler sees of a G. `#[repr(C)]`: the typed cell starts with it.
#[repr(C)]
pub(crate) struct Header {
    /// Status and NOTIFIED bit (rule 1).
    pub(crate) state: State,
    /// Reference count (rule 6).
    refs: AtomicUsize,
    /// Type-specific operations on the cell.
    pub(crate) vtable: &'static cell::Vtable,
    /// Task id, unique within the process's runtimes' lifetimes, for messages.
    pub(crate) id: u64,
    /// The runtime (rule 4).
    pub(crate) shared: NonNull<Shared>,
    /// Execution context (rule 2).
    pub(crate) ctx: UnsafeCell<Ctx>,
    /// Completion and the joiner's waker.
    pub(crate) join: JoinState,
    /// State private to the running G (rule 3).
    pub(crate) own: UnsafeCell<Own>,
    /// The M this G is locked to (lock_os_thread or a park while panicking).
    pub(crate) locked_m: AtomicPtr<M>,
    /// Hook for sysmon's preemption: set to ask the G to yield at its next
    /// runtime call.
    pub(crate) preempt: AtomicBool,
    /// Async tasks (aio/task.rs): `abort` was called on this async task's
    /// handle; its body drops the future at the next poll boundary.
    pub(crate) cancel: AtomicBool,
    /// Async tasks (aio/task.rs): why the async task last returned Pending (a
    /// `rt_base::trace::WaitReason` as u8), for task dumps.
    pub(crate) wait_reason: AtomicU8,
    /// Sysmon's coarse clock (ms) when the G last parked, for the
    /// dump's waiting times; written by its M before the park is published.
    pub(crate) parked_ms: AtomicU32,
    /// Where the task was spawned (set by `aio::task::spawn` after
    /// the G is made, read by the dump and the trace) and, for a G made by a
    /// task builder, its name and stack size (spawned.rs).
    pub(crate) spawned: spawned::Spawned,
    /// The Chrome trace flow id of the wake that made this G runnable (0:
    /// none), ended by its next run's trace slice (sched/trace.rs).
    pub(crate) flow: std::sync::atomic::AtomicU64,
    /// Next G in the global run queue (rule 5).
    pub(crate) link: UnsafeCell<Option<NonNull<Header>>>,
    /// Neighbours in the parked-G registry (rule 5).
    pub(crate) reg: UnsafeCell<RegLinks>,
}

/// Where a G's execution stands (rule 2).
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    /// Saved stack pointer; 0 until the first run.
    pub(crate) sp: usize,
    /// The stack, once the G has one.
    pub(crate) stack: Option<Stack>,
    /// Lowest stack pointer seen at the G's switches (0: none yet).
    pub(crate) low_sp: usize,
}

/// The running G's own bookkeeping (rule 3).
#[derive(Debug, Default)]
pub(crate) struct Own {
    /// `lock_os_thread` nesting depth (the user's).
    pub(crate) lock_count: u32,
    /// The runtime's own pins to the thread (sched/locked.rs): a park while
    /// panicking or inside a poll, a `spawn_local` host.
    pub(crate) pinned: u32,
    /// Nesting depth of async polls running on this G (aio/task.rs
    /// `poll_round`): a park or yield while it is nonzero keeps the G on
    /// its thread (g/run.rs).
    pub(crate) in_poll: u32,
    /// Listed in the runtime's parked-G registry (for shutdown).
    pub(crate) registered: bool,
}

/// Links of the parked-G registry.
#[derive(Debug, Default)]
pub(crate) struct RegLinks {
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
}

// SAFETY: every field is either atomic or an UnsafeCell whose owner is fixed
// by the rules above; the closure and output types behind the header are
// Send (enforced by `cell::new_g`).
unsafe impl Sync for Header {}
// SAFETY: as above.
unsafe impl Send for Header {}

impl Header {
    /// The runtime this G belongs to (only valid while the G is not DEAD).
    ///
    /// # Safety
    ///
    /// The caller knows the G is alive (it runs it, holds its life reference,
    /// or won the unpark CAS).
    pub(crate) unsafe fn shared(&self) -> &Shared {
        // SAFETY: rule 4 and the caller's guarantee.
        unsafe { self.shared.as_ref() }
    }
}

/// A counted reference to a G: keeps its allocation (header, output) alive.
pub(crate) struct GRef(NonNull<Header>);

// SAFETY: the header is Sync and the count is atomic.
unsafe impl Send for GRef {}
// SAFETY: as above.
unsafe impl Sync for GRef {}

impl GRef {
    /// Adopts one count already held on `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is a live G and the caller owns one of its counts.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Self(ptr)
    }

    /// Takes a new count on a live G.
    ///
    /// # Safety
    ///
    /// `ptr` is a live G (someone holds a count for the duration of the call).
    pub(crate) unsafe fn clone_raw(ptr: NonNull<Header>) -> Self {
        // SAFETY: the caller guarantees the G is alive.
        let refs = unsafe { &ptr.as_ref().refs };
        if refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        Self(ptr)
    }

    /// Gives up ownership of the count without dropping it.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// The G's pointer.
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.0
    }

    /// The G's header.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we hold a count, so the allocation is alive.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for GRef {
    fn clone(&self) -> Self {
        // SAFETY: our own count keeps the G alive during the call.
        unsafe { Self::clone_raw(self.0) }
    }
}

impl Drop for GRef {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: that was the last count: nobody else can reach the G.
        unsafe { (self.header().vtable.dealloc)(self.0) }
    }
}

impl std::fmt::Debug for GRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G").field("id", &self.header().id).finish()
    }
}
