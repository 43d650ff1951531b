//! `std::task::Waker`s that unpark a G or a plain thread.
//!
//! Every wait list in the crate (channels, Mutex, WaitGroup, JoinHandle,
//! timers) stores a `Waker`, so a waiter can be a G of any runtime or an
//! ordinary thread, and the async tasks (`aio`) plug in unchanged: a G that
//! polls a future hands the future this same waker. Waking a G is
//! `State::unpark` and, if that moved it out of WAITING, `ready`.

use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Wake, Waker};

use super::{GRef, Header};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that unparks the G referenced by `g`.
pub(crate) fn for_g(g: GRef) -> Waker {
    let raw = RawWaker::new(g.into_raw().as_ptr().cast_const().cast(), &VTABLE);
    // SAFETY: the vtable's functions uphold the RawWaker contract: the data
    // pointer carries one GRef count, cloned and dropped through GRef.
    unsafe { Waker::from_raw(raw) }
}

/// A waker that unparks the calling OS thread.
pub(crate) fn for_thread() -> Waker {
    Waker::from(Arc::new(ThreadWaker(std::thread::current())))
}

/// Unparks a thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Whether `w` wakes a G of the runtime `shared` (a waker made by
/// [`for_g`] for one of its Gs).
pub(crate) fn is_g_of(w: &Waker, shared: &crate::sched::Shared) -> bool {
    if !std::ptr::eq(w.vtable(), &VTABLE) {
        return false;
    }
    // SAFETY: a waker with our vtable holds a count on its G, so the
    // header is alive; `shared` is a plain pointer, only compared.
    let h = unsafe { header(w.data()).as_ref() };
    std::ptr::eq(h.shared.as_ptr(), shared)
}

/// The G behind a waker's data pointer.
fn header(data: *const ()) -> NonNull<Header> {
    NonNull::new(data.cast_mut().cast()).expect("G waker with a null pointer")
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds a count, so the G is alive.
    let g = unsafe { GRef::clone_raw(header(data)) };
    RawWaker::new(g.into_raw().as_ptr().cast_const().cast(), &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: the waker is consumed: its count moves into this GRef.
    let g = unsafe { GRef::from_raw(header(data)) };
    crate::sched::ready::unpark(&g);
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker holds a count; we borrow it for the call and give it
    // back (into_raw) without dropping it.
    let g = unsafe { GRef::from_raw(header(data)) };
    crate::sched::ready::unpark(&g);
    let _ = g.into_raw();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker's count moves into this GRef, dropped here.
    drop(unsafe { GRef::from_raw(header(data)) });
}
