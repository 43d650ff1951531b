//! The blocking-style API for code on Gs (re-exported by switchyard as
//! `switchyard::mn`): spawn with [`go`], give way with [`yield_now`], wait
//! with [`sleep`], and pin a G to its thread with [`lock_os_thread`].

use std::time::{Duration, Instant};

use crate::g::run::current_g;
use crate::join::JoinHandle;
use crate::runtime::{Handle, SpawnError};
use crate::sched::locked::{self, ThreadLimitError};

/// Spawns a G running `f` on the current G's runtime, like Go's `go f()`.
///
/// The new G is put in the P's `runnext`: it runs when the caller parks or
/// yields, or sooner on another P that steals it. Dropping the returned
/// handle detaches the G.
///
/// # Safety
///
/// `f` runs as a blocking-style G, which may park in any mn call (channels,
/// `Mutex`, `WaitGroup`, `join`, `sleep`, `yield_now`) and resume **on
/// another OS thread**. Across any such park, `f` must not hold:
///
/// * a reference into a thread-local (`thread_local!` `with` closures,
///   `std::thread::current()`'s identity used as "this thread"), because the
///   value belongs to the thread it was taken on and may be used by the G
///   that thread runs next; and
/// * a guard of a `std` lock (`std::sync::Mutex`, `RwLock`), because those
///   must be released by the thread that took them; use [`crate::Mutex`].
///
/// Blocking OS calls and busy loops are sound but hold the P (other Gs of
/// that P wait); wrap blocking calls in [`syscall`](crate::syscall) so
/// sysmon can hand the P on. Async tasks need no such contract: a park
/// inside one of their polls keeps the task on its thread.
///
/// # Panics
///
/// Outside an mn runtime, or if no stack can be had (see [`try_go`]).
pub unsafe fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: the caller upholds the contract above.
    match unsafe { try_go(f) } {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`go`], but returns an error instead of panicking.
///
/// # Safety
///
/// As for [`go`].
pub unsafe fn try_go<F, T>(f: F) -> Result<JoinHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let handle = Handle::current().ok_or(SpawnError::NoRuntime)?;
    // SAFETY: forwarded from the caller.
    let h = unsafe { handle.spawn(f) };
    // Preemption: a G that sysmon flagged (ran > 10 ms) yields here.
    if crate::sched::sysmon::preempt_requested() {
        crate::g::run::yield_now();
    }
    h
}

/// Puts the current G at the back of its P's run queue so others run first
/// (behind the Gs of the global queue too, when it holds any; yields the
/// thread outside a runtime). Call it in long CPU loops: a G is
/// never preempted in the middle of its code.
#[inline]
pub fn yield_now() {
    crate::g::run::yield_now();
}

/// Parks the current G (or thread) for `d`.
pub fn sleep(d: Duration) {
    sleep_until(Instant::now() + d);
}

/// Parks the current G (or thread) until `deadline`.
pub fn sleep_until(deadline: Instant) {
    while Instant::now() < deadline {
        crate::park::note_wait(crate::park::why::SLEEP); // for the dump
        crate::park::park_until(deadline);
    }
}

/// Binds the current G to its OS thread until the matching
/// [`unlock_os_thread`] (calls nest): the G keeps its thread (`gettid` does
/// not change) and the thread runs no other G. A G that exits still locked
/// ends its thread. Outside a runtime this does nothing (a thread is always
/// on its own thread).
///
/// Returns an error when `max_threads` leaves no thread to dedicate (each
/// P still needs one).
pub fn lock_os_thread() -> Result<(), ThreadLimitError> {
    locked::lock_os_thread()
}

/// Undoes one [`lock_os_thread`].
pub fn unlock_os_thread() {
    locked::unlock_os_thread();
}

/// The task id of the running G (None outside one).
pub fn current_task_id() -> Option<u64> {
    // SAFETY: the running G is alive.
    current_g().map(|g| unsafe { g.as_ref() }.id)
}

#[cfg(not(loom))]
/// The Go-style dump of the current runtime's tasks (every running
/// G, and every G that has parked and is not dead, with its state, wait
/// reason and M). Called from a G or inside `block_on_future`.
///
/// # Panics
/// Outside a runtime.
pub fn dump() -> String {
    crate::Handle::current()
        .expect("mn_sched::dump called outside a runtime")
        .dump()
}

#[cfg(not(loom))]
/// The current runtime's tasks as data (see [`dump`]).
///
/// # Panics
/// Outside a runtime.
pub fn tasks() -> Vec<rt_base::trace::TaskInfo> {
    crate::Handle::current()
        .expect("mn_sched::tasks called outside a runtime")
        .tasks()
}
