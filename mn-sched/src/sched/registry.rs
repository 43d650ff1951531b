//! The registry of Gs that have parked at least once, so that shutdown can
//! find and unwind every parked G, including one nobody else references
//! (nothing else knows where a G is parked: wait lists belong to channels
//! and mutexes the runtime cannot enumerate).
//!
//! A G joins at its first park (from its own stack, rule 3 of g/mod.rs) and
//! leaves at its exit (its M, on g0); Gs that never park (most of a
//! spawn-heavy workload) never touch the registry's lock. The list is
//! intrusive (`Header::reg`), so joining allocates nothing.

use std::ptr::NonNull;
use std::sync::Mutex;

use crate::g::state::WAITING;
use crate::g::{GRef, Header};

/// One G as the dump sees it (`Registry::snapshot`).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) struct Listed {
    pub(crate) id: u64,
    /// Its status word's status (g/state.rs).
    pub(crate) status: u32,
    /// Its last wait reason (a `WaitReason` as u8).
    pub(crate) reason: u8,
    /// Where it was spawned, if recorded.
    pub(crate) site: Option<&'static std::panic::Location<'static>>,
    /// The name a task builder gave it.
    pub(crate) name: Option<String>,
    /// sysmon's coarse clock when it last parked.
    pub(crate) parked_ms: u32,
}

/// An intrusive doubly linked list of Gs under a lock.
#[derive(Default)]
pub(crate) struct Registry {
    head: Mutex<Option<NonNull<Header>>>,
}

// SAFETY: the raw pointers are only followed under the lock, and every
// listed G is alive (it leaves the list before its life reference drops).
unsafe impl Send for Registry {}
// SAFETY: as above.
unsafe impl Sync for Registry {}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<NonNull<Header>>> {
        self.head.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists the running G `g` if it is not listed yet.
    pub(crate) fn register(&self, g: NonNull<Header>) {
        // SAFETY: `g` is the running G: its private state is ours (rule 3).
        let own = unsafe { &mut *g.as_ref().own.get() };
        if own.registered {
            return;
        }
        own.registered = true;
        let mut head = self.lock();
        // SAFETY: under the lock, the links of listed Gs are ours (rule 5).
        unsafe {
            let links = &mut *g.as_ref().reg.get();
            links.prev = None;
            links.next = *head;
            if let Some(h) = *head {
                (*h.as_ref().reg.get()).prev = Some(g);
            }
        }
        *head = Some(g);
    }

    /// Unlists `g` (at its exit).
    pub(crate) fn remove(&self, g: NonNull<Header>) {
        let mut head = self.lock();
        // SAFETY: under the lock (rule 5); `g` is listed and alive.
        unsafe {
            let links = &mut *g.as_ref().reg.get();
            match links.prev {
                Some(p) => (*p.as_ref().reg.get()).next = links.next,
                None => *head = links.next,
            }
            if let Some(n) = links.next {
                (*n.as_ref().reg.get()).prev = links.prev;
            }
            links.prev = None;
            links.next = None;
        }
    }

    /// References to every listed G that is parked now.
    pub(crate) fn parked(&self) -> Vec<GRef> {
        let head = self.lock();
        let mut out = Vec::new();
        let mut cur = *head;
        while let Some(g) = cur {
            // SAFETY: listed Gs are alive while listed (under the lock).
            let h = unsafe { g.as_ref() };
            // A G asleep on its thread (a park inside `syscall`) is as
            // parked as a WAITING one: shutdown must wake it too.
            if h.state.status() == WAITING || h.state.is_thread_parked() {
                // SAFETY: as above.
                out.push(unsafe { GRef::clone_raw(g) });
            }
            // SAFETY: as above.
            cur = unsafe { (*h.reg.get()).next };
        }
        out
    }

    /// For the task dump: what the dump shows of every listed G that is
    /// not dead, read under the lock (no reference taken).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn snapshot(&self) -> Vec<Listed> {
        let head = self.lock();
        let mut out = Vec::new();
        let mut cur = *head;
        while let Some(g) = cur {
            // SAFETY: listed Gs are alive while listed (under the lock).
            let h = unsafe { g.as_ref() };
            let status = h.state.status();
            if status != crate::g::state::DEAD {
                use std::sync::atomic::Ordering::Relaxed;
                out.push(Listed {
                    id: h.id,
                    status,
                    reason: h.wait_reason.load(Relaxed),
                    site: h.spawned.site(),
                    name: h.spawned.name().map(str::to_string),
                    parked_ms: h.parked_ms.load(Relaxed),
                });
            }
            // SAFETY: as above.
            cur = unsafe { (*h.reg.get()).next };
        }
        out
    }
}
