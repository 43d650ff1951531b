//! `lock_os_thread`: a G bound to one M. While locked, the G runs only on
//! that M (its `gettid` never changes) and the M runs nothing else: when
//! the G parks or yields, the M hands its P to another M and sleeps
//! (`stoplockedm`); when another M picks the G from a queue, it hands the G
//! and its own P to the locked M and parks (`startlockedm`). A G that exits
//! while locked ends its thread (Go's rule: the thread may have been changed
//! in ways that must not leak to other Gs).
//!
//! Every locked G may pin one more thread than the Ps need, so locking is
//! refused with [`ThreadLimitError`] unless the locked Gs plus one M per P
//! fit under `max_threads`.
//!
//! The runtime pins Gs for its own reasons too, counted apart from the
//! user's `lock_os_thread` nesting (`Own::pinned`), so that
//! `unlock_os_thread` can never undo them:
//!
//! * a park while panicking (g/run.rs): `pin`/`unpin` for one park, without
//!   a reservation (it must not fail);
//! * a park or yield in the middle of an async task's poll (g/run.rs), and
//!   a G hosting `spawn_local` tasks (aio/local.rs), for as long as they
//!   last: a [`ThreadPin`], which holds a reservation like a locked G.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use super::m::M;
use crate::g::run::current_g;
use crate::g::Header;

/// `lock_os_thread` was refused: no OS thread can be dedicated under the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadLimitError {
    /// The cap (`max_threads`).
    pub max_threads: usize,
    /// Ps of the runtime (each needs an M besides the locked ones).
    pub procs: usize,
}

impl fmt::Display for ThreadLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lock_os_thread: no OS thread can be dedicated to this task: max_threads \
             (RUNTIME_MAXTHREADS) = {} leaves none beyond one per P ({}) and the tasks already locked",
            self.max_threads, self.procs
        )
    }
}

impl std::error::Error for ThreadLimitError {}

/// See [`crate::lock_os_thread`].
pub(crate) fn lock_os_thread() -> Result<(), ThreadLimitError> {
    // Not onto the thread of `block_on_future`: that thread must stay free
    // to run main (sched/host.rs).
    super::host::leave_host();
    let Some(g) = current_g() else { return Ok(()) };
    // SAFETY: `g` is the running G: its private state is ours (rule 3) and
    // its runtime alive (rule 4).
    let (h, own, shared) = unsafe { (g.as_ref(), &mut *g.as_ref().own.get(), g.as_ref().shared()) };
    if own.lock_count == 0 {
        if !shared.threads.lock_reserve(shared.nprocs()) {
            return Err(ThreadLimitError {
                max_threads: shared.config.max_threads,
                procs: shared.nprocs(),
            });
        }
        if own.pinned == 0 {
            bind(h);
        }
    }
    own.lock_count += 1;
    Ok(())
}

/// See [`crate::unlock_os_thread`].
pub(crate) fn unlock_os_thread() {
    let Some(g) = current_g() else { return };
    // SAFETY: as in `lock_os_thread`.
    let (h, own, shared) = unsafe { (g.as_ref(), &mut *g.as_ref().own.get(), g.as_ref().shared()) };
    if own.lock_count == 0 {
        return;
    }
    own.lock_count -= 1;
    if own.lock_count == 0 {
        shared.threads.lock_release();
        if own.pinned == 0 {
            unbind(h);
        }
    }
}

/// A runtime pin of the running G to its M, with a thread reserved under
/// the cap as for `lock_os_thread`; dropped (on the same G) it unpins and
/// gives the reservation back.
pub(crate) struct ThreadPin {
    g: NonNull<Header>,
}

impl ThreadPin {
    /// Pins the running G `h`; an error when the cap leaves no thread to
    /// dedicate to it.
    pub(crate) fn reserve(h: &Header) -> Result<Self, ThreadLimitError> {
        // SAFETY: `h` is the running G: its runtime is alive (rule 4).
        let shared = unsafe { h.shared() };
        if !shared.threads.lock_reserve(shared.nprocs()) {
            return Err(ThreadLimitError {
                max_threads: shared.config.max_threads,
                procs: shared.nprocs(),
            });
        }
        pin(h);
        Ok(Self {
            g: NonNull::from(h),
        })
    }
}

impl Drop for ThreadPin {
    fn drop(&mut self) {
        // SAFETY: a ThreadPin lives on its G's stack and is dropped there:
        // the G is running (alive), and pinned, so on the M it pinned.
        let h = unsafe { self.g.as_ref() };
        unpin(h);
        // SAFETY: as above; the runtime outlives its running G (rule 4).
        unsafe { h.shared() }.threads.lock_release();
    }
}

/// Binds the running G `h` to this M for one park (while panicking, or
/// under a [`ThreadPin`]).
pub(crate) fn pin(h: &Header) {
    // SAFETY: `h` is the running G (rule 3).
    let own = unsafe { &mut *h.own.get() };
    own.pinned += 1;
    if own.pinned == 1 && own.lock_count == 0 {
        bind(h);
    }
}

/// Undoes `pin`.
pub(crate) fn unpin(h: &Header) {
    // SAFETY: `h` is the running G (rule 3).
    let own = unsafe { &mut *h.own.get() };
    own.pinned -= 1;
    if own.pinned == 0 && own.lock_count == 0 {
        unbind(h);
    }
}

/// Binds `h` and the current M to each other.
fn bind(h: &Header) {
    let m = M::current().expect("a running G is on an M");
    h.locked_m.store(m.as_ptr(), Ordering::Release);
    // SAFETY: this thread's live M.
    let m = unsafe { m.as_ref() };
    match m.host.as_deref() {
        // A host runs other Gs while its bound ones wait (sched/host.rs).
        Some(host) => host.bind(h),
        None => m
            .locked_g
            .store(NonNull::from(h).as_ptr(), Ordering::Relaxed),
    }
}

/// Unbinds `h` and the current M.
fn unbind(h: &Header) {
    h.locked_m.store(std::ptr::null_mut(), Ordering::Release);
    let m = M::current().expect("a running G is on an M");
    // SAFETY: this thread's live M.
    let m = unsafe { m.as_ref() };
    match m.host.as_deref() {
        Some(host) => host.unbind(h),
        None => m.locked_g.store(std::ptr::null_mut(), Ordering::Relaxed),
    }
}
