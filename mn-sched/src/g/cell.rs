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

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize};

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
enum Stage<F, T> {
    Ready(F),
    Running,
    Done(Result<T, JoinError>),
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

/// Allocates a G for `f` with two references: the life reference and the
/// caller's (for its JoinHandle).
pub(crate) fn new_g<F, T>(id: u64, shared: &Shared, f: F) -> NonNull<Header>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = Cell {
        header: Header {
            state: State::new(),
            refs: AtomicUsize::new(2),
            vtable: &VtableOf::<F, T>::VTABLE,
            id,
            shared: NonNull::from(shared),
            ctx: UnsafeCell::new(Ctx::default()),
            join: JoinState::new(),
            own: UnsafeCell::new(Own::default()),
            locked_m: AtomicPtr::new(std::ptr::null_mut()),
            preempt: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
            wait_reason: AtomicU8::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
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
/// `h` was made by `new_g::<F, T>` and is alive.
unsafe fn stage<F, T>(h: NonNull<Header>) -> *mut Stage<F, T> {
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
}

/// `Vtable::fail`: on g0, for a G that never ran (no stack could be had).
///
/// # Safety
///
/// The G has not run and the caller owns its execution (rule 2).
unsafe fn fail<F, T>(h: NonNull<Header>, err: JoinError)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: the caller guarantees exclusivity; the cell has type F, T.
    let old = unsafe { std::ptr::replace(stage::<F, T>(h), Stage::Done(Err(err))) };
    drop(old);
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
