//! The runtime running on this thread, if any.
//!
//! `block_on` installs its core in a thread-local for the duration of the call;
//! everything a task does (spawn, wake, register a timer or a socket) finds its
//! runtime here. There is no other global state: several runtimes may live in
//! one process, each on its own thread (tests run in parallel).
//!
//! Borrow rule: the `RefCell` is borrowed mutably only by `enter` and the
//! guard's drop; everything else takes shared borrows, which nest freely.

use std::cell::RefCell;
use std::rc::Rc;

use crate::runtime::Core;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Runs `f` with the current core if it is runtime `short`; `None` when this
/// thread runs no runtime or another one (the caller then takes the
/// foreign-thread path).
#[inline]
pub(crate) fn with_core<R>(short: u32, f: impl FnOnce(&Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(core) if core.short == short => Some(f(core)),
            _ => None,
        })
        .ok()
        .flatten()
}

/// Runs `f` with the current core, whichever it is.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_deref().map(f))
        .ok()
        .flatten()
}

/// Wakes a task that yields (`yield_now`, or its coop budget ran out): on
/// a loop, at the start of its next turn, after the timers
/// (`wake_deferred` in runtime/turn.rs); anywhere else (an mn G) at once.
/// [`enter`] installs it as this thread's `rt_base::coop` yield hook for
/// the budget's yields.
pub(crate) fn wake_yielder(waker: &std::task::Waker) {
    if with_current(|core| core.defer(waker)).is_none() {
        waker.wake_by_ref();
    }
}

/// The current core, if any.
#[inline]
pub(crate) fn current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Whether a loop-core runtime is running on this thread.
pub fn inside_runtime() -> bool {
    CURRENT
        .try_with(|c| c.try_borrow().map(|c| c.is_some()).unwrap_or(true))
        .unwrap_or(false)
}

/// Makes `core` current until the guard drops.
///
/// # Panics
/// If a runtime is already running on this thread.
pub(crate) fn enter(core: Rc<Core>) -> Enter {
    assert!(
        !inside_runtime(),
        "switchyard: cannot start a runtime from within a runtime (run or block_on was \
         called inside a task or inside another run); spawn the future instead"
    );
    CURRENT.with(|c| *c.borrow_mut() = Some(core));
    rt_base::coop::set_yield_hook(Some(wake_yielder));
    Enter(())
}

/// Undoes [`enter`] on drop, also when the main future panics.
pub(crate) struct Enter(());

impl Drop for Enter {
    fn drop(&mut self) {
        // Take the core out first and drop it after the borrow ends.
        let core = CURRENT.try_with(|c| c.borrow_mut().take()).ok().flatten();
        rt_base::coop::set_yield_hook(None);
        drop(core);
    }
}
