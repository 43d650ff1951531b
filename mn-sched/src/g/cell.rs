//! The typed half of a G: one allocation holds the [`Header`] and, behind it,
//! the closure to run, then its output, so a spawn costs one allocation
//! (from a per-P free list most of the time: `alloc.rs`).
//!
//! ```text
//!   Cell<F, T> (#[repr(C)])
//!   +--------------------+----------------------------------------------+
//!   | Header             | stage: Ready(F) → Running → Done(Result<T>)   |
//!   +--------------------+                 → Taken (after join)         |
//!                        +----------------------------------------------+
//! ```
//!
//! The scheduler is not generic: it reaches the typed part through the
//! header's `&'static Vtable`. `run` executes on the G's own stack (called by
//! `run::g_entry`); `read_output` by the joiner once the join state says DONE;
//! `dealloc` by the last `GRef`.
//!
//! An async task (`new_task`, aio/cell.rs) uses the same layout with the
//! future itself in `Ready`: it stays there, pinned, for the task's whole
//! life, and is polled in place, so the task's state lives in the cell and
//! not on its stack — which lets the G give its stack back between polls.
//! Hence the stage is always dropped in place, never moved out, once a G
//! may have run.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize};

use super::alloc::{alloc_cell, free_cell};
use super::state::State;
use super::{Ctx, Header, Own, RegLinks};
use crate::join::{JoinError, JoinState};
use crate::sched::Shared;

/// The type-specific operations on a G's cell.
pub(crate) struct Vtable {
    /// Runs (or, during shutdown, drops) the closure and stores the output.
    pub(crate) run: unsafe fn(NonNull<Header>),
    /// Completes a G that never ran with `err` (dropping its closure).
    pub(crate) fail: unsafe fn(NonNull<Header>, JoinError),
    /// Moves the output into `*mut Result<T, JoinError>`.
    pub(crate) read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Frees the allocation.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

/// The allocation of a G running `F` that returns `T`.
#[repr(C)]
struct Cell<F, T> {
    header: Header,
    stage: UnsafeCell<Stage<F, T>>,
}

/// Where the typed part stands.
pub(crate) enum Stage<F, T> {
    /// Not run yet (a closure), or still pending (an async task's future,
    /// pinned here).
    Ready(F),
    /// A closure G is running (its closure moved onto its stack).
    Running,
    /// Finished: the output, until the joiner takes it.
    Done(Result<T, JoinError>),
    /// The joiner took the output.
    Taken,
}

/// The vtable of `Cell<F, T>` (one static per instantiation).
struct VtableOf<F, T>(std::marker::PhantomData<(F, T)>);

impl<F, T> VtableOf<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    const VTABLE: Vtable = Vtable {
        run: run::<F, T>,
        fail: fail::<F, T>,
        read_output: read_output::<F, T>,
        dealloc: dealloc::<F, T>,
    };
}

/// The vtable of an async task's cell: the future `F` polled in place by
/// `aio::cell::run`, with output `F::Output`.
#[cfg(not(loom))]
struct TaskVtableOf<F>(std::marker::PhantomData<F>);

#[cfg(not(loom))]
impl<F> TaskVtableOf<F>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    const VTABLE: Vtable = Vtable {
        run: crate::aio::cell::run::<F>,
        fail: fail::<F, F::Output>,
        read_output: read_output::<F, F::Output>,
        dealloc: dealloc::<F, F::Output>,
    };
}

/// Allocates a G for `f` with two references: the life reference and the
/// caller's (for its JoinHandle).
pub(crate) fn new_g<F, T>(id: u64, shared: &Shared, f: F) -> NonNull<Header>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    alloc_g::<F, T>(id, shared, &VtableOf::<F, T>::VTABLE, f)
}

/// Allocates an async task's G for the future `f` (kept in the cell and
/// polled there), with the same two references as [`new_g`].
#[cfg(not(loom))]
pub(crate) fn new_task<F>(id: u64, shared: &Shared, f: F) -> NonNull<Header>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    alloc_g::<F, F::Output>(id, shared, &TaskVtableOf::<F>::VTABLE, f)
}

/// One allocation holding a fresh header with `vtable` and `Ready(f)`.
fn alloc_g<F, T>(id: u64, shared: &Shared, vtable: &'static Vtable, f: F) -> NonNull<Header> {
    let cell = Cell {
        header: Header {
            state: State::new(),
            refs: AtomicUsize::new(2),
            vtable,
            id,
            shared: NonNull::from(shared),
            ctx: UnsafeCell::new(Ctx::default()),
            join: JoinState::new(),
            own: UnsafeCell::new(Own::default()),
            locked_m: AtomicPtr::new(std::ptr::null_mut()),
            preempt: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
            wait_reason: AtomicU8::new(0),
            parked_ms: AtomicU32::new(0),
            spawned: super::spawned::Spawned::new(),
            flow: std::sync::atomic::AtomicU64::new(0),
            link: UnsafeCell::new(None),
            reg: UnsafeCell::new(RegLinks::default()),
        },
        stage: UnsafeCell::new(Stage::<F, T>::Ready(f)),
    };
    let p = alloc_cell(Layout::new::<Cell<F, T>>()).cast::<Cell<F, T>>();
    // SAFETY: `p` is a fresh block with the layout of Cell<F, T>.
    unsafe { p.as_ptr().write(cell) };
    p.cast()
}

/// The stage cell of the G at `h`.
///
/// # Safety
///
/// `h` was made by `new_g::<F, T>` (or `new_task::<F>` with `T =
/// F::Output`) and is alive.
pub(crate) unsafe fn stage<F, T>(h: NonNull<Header>) -> *mut Stage<F, T> {
    // SAFETY: the header is the first field of a #[repr(C)] Cell<F, T>.
    unsafe { (*h.cast::<Cell<F, T>>().as_ptr()).stage.get() }
}

/// `Vtable::run`: on the G's own stack.
///
/// # Safety
///
/// Called once, by the G itself, on a cell made by `new_g::<F, T>`.
unsafe fn run<F, T>(h: NonNull<Header>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: the caller guarantees the type and exclusivity (rule 2 of g/mod.rs).
    let st = unsafe { stage::<F, T>(h) };
    // SAFETY: as above; nothing else touches the stage while the G runs.
    let Stage::Ready(f) = (unsafe { std::ptr::replace(st, Stage::Running) }) else {
        unreachable!("a G ran twice");
    };
    // SAFETY: the G is running, so its runtime is alive (rule 4).
    let cancelled = unsafe { h.as_ref().shared() }.is_shutting_down();
    let out = if cancelled {
        // Shutdown began before this G ever ran: drop the closure on the G's
        // own stack (its destructors may park) and report it cancelled.
        catch_unwind(AssertUnwindSafe(move || drop(f)))
            .map_err(JoinError::from_panic)
            .and(Err(JoinError::Cancelled))
    } else {
        catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::from_panic)
    };
    // SAFETY: as above.
    unsafe { st.write(Stage::Done(out)) };
    // SAFETY: the output is stored; we are on the G's own stack.
    unsafe { publish_output(h, st) };
}

/// Rule 4 of join.rs, on the G's own stack once its output is stored in
/// `st`: if the JoinHandle is already gone, nobody will take the output,
/// so it is dropped here, where a `Drop` that parks is legal (on g0, at
/// the G's last reference, it would stall the P). A panic in that drop has
/// nobody to report to: it is caught (the panic hook has printed it).
///
/// # Safety
///
/// Called once, by the running G itself, on its own stack; `st` is its
/// stage, holding the output (`Stage::Done`).
pub(crate) unsafe fn publish_output<F, T>(h: NonNull<Header>, st: *mut Stage<F, T>) {
    // SAFETY: the running G is alive.
    if unsafe { h.as_ref() }.join.publish_output() {
        return;
    }
    // SAFETY: DETACHED came first: no handle will read the stage (join.rs
    // rule 5), so it is ours alone.
    let out = unsafe { std::ptr::replace(st, Stage::Taken) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(out)));
}

/// `Vtable::fail`: on g0, for a G that cannot run (no stack could be had):
/// one that never ran, or an async task between polls.
///
/// # Safety
///
/// The G is not on any stack and the caller owns its execution (rule 2).
unsafe fn fail<F, T>(h: NonNull<Header>, err: JoinError) {
    // SAFETY: the caller guarantees exclusivity; the cell has type F, T.
    unsafe { finish_in_place(stage::<F, T>(h), Err(err)) };
}

/// Drops what `st` holds where it lies (an async task's future is pinned
/// there) and stores `out`. A panic while dropping is caught here (this may
/// run on g0, where no unwind may go) and becomes the result if `out` was
/// a success.
///
/// # Safety
///
/// `st` is a live stage that the caller owns exclusively.
pub(crate) unsafe fn finish_in_place<F, T>(st: *mut Stage<F, T>, out: Result<T, JoinError>) {
    // SAFETY: the caller guarantees the stage is live and ours; after the
    // drop (even a panicking one) it is overwritten without another drop.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { std::ptr::drop_in_place(st) }));
    let out = match (out, dropped) {
        (Ok(_), Err(p)) => Err(JoinError::from_panic(p)),
        (out, _) => out,
    };
    // SAFETY: as above.
    unsafe { st.write(Stage::Done(out)) };
}

/// `Vtable::read_output`.
///
/// # Safety
///
/// The join state is DONE (the output is written and published), the caller
/// is the only joiner, and `dst` points to a `Result<T, JoinError>` slot.
unsafe fn read_output<F, T>(h: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the caller guarantees DONE and exclusivity.
    let stage = unsafe { std::ptr::replace(stage::<F, T>(h), Stage::Taken) };
    let Stage::Done(out) = stage else {
        panic!("JoinHandle read a G's output twice or before it was done");
    };
    // SAFETY: the caller guarantees `dst` is a valid slot of this type.
    unsafe { dst.cast::<Result<T, JoinError>>().write(out) };
}

/// `Vtable::dealloc`.
///
/// # Safety
///
/// The last reference is gone.
unsafe fn dealloc<F, T>(h: NonNull<Header>) {
    let cell = h.cast::<Cell<F, T>>();
    // SAFETY: the cell was written by `new_g::<F, T>` into a block of
    // `alloc_cell` with this layout, and nobody references it any more.
    unsafe {
        std::ptr::drop_in_place(cell.as_ptr());
        free_cell(cell.cast(), Layout::new::<Cell<F, T>>());
    }
}
