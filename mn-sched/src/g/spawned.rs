//! Where a G was spawned and, for a G made by a task builder
//! (`crate::task::Builder`), its name and stack size: one word of the G's
//! header, so that a plain spawn pays nothing for options it does not use.
//!
//! The word is null (nothing recorded: a `go` G), a `&'static Location`
//! (the spawn site of an async task), or — with its low bit set — a
//! `Box<Opts>` that the G owns until its cell is freed. A `Location` is
//! word-aligned, so its low bit is always clear.
//!
//! Rules: the word is written once, by the spawner, before the G is
//! published (queued, or its stack taken), and never again until the cell
//! is dropped; everyone who may reach the G afterwards (the M that runs it,
//! the dump under the registry lock or with the world stopped, the overflow
//! handler on the G's own thread) reads it with `Relaxed`, ordered after
//! the write by the publication.

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Low bit of the word: it points to a `Box<Opts>`.
const OPTS: usize = 1;

// Both kinds of pointer leave the tag bit free.
const _: () = assert!(std::mem::align_of::<Location<'static>>() > OPTS);
const _: () = assert!(std::mem::align_of::<Opts>() > OPTS);

/// What a task builder gave a G.
#[derive(Debug)]
pub(crate) struct Opts {
    /// The spawn site, for the dump and the trace.
    pub(crate) site: Option<&'static Location<'static>>,
    /// The name, for the dump and the overflow message.
    pub(crate) name: Option<Box<str>>,
    /// Usable stack size in bytes, page-rounded; 0: the runtime's.
    pub(crate) stack_size: usize,
}

/// The word (module doc).
#[derive(Debug)]
pub(crate) struct Spawned(AtomicPtr<()>);

impl Spawned {
    /// Nothing recorded.
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// Records the spawn site (before the G is published).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn set_site(&self, site: &'static Location<'static>) {
        self.set(std::ptr::from_ref(site).cast_mut().cast());
    }

    /// Records a builder's options (before the G is published); the G
    /// owns them from now on.
    pub(crate) fn set_opts(&self, opts: Box<Opts>) {
        let p = Box::into_raw(opts);
        self.set(p.map_addr(|a| a | OPTS).cast());
    }

    fn set(&self, p: *mut ()) {
        let old = self.0.swap(p, Ordering::Relaxed);
        debug_assert!(old.is_null(), "a G's spawn record was written twice");
    }

    /// The options, if a builder gave any.
    pub(crate) fn opts(&self) -> Option<&Opts> {
        let p = self.0.load(Ordering::Relaxed);
        if p.addr() & OPTS == 0 {
            return None;
        }
        // SAFETY: a tagged word is a `Box<Opts>` owned by this G, freed only
        // when the word is dropped (with the G's cell), which outlives
        // `&self`.
        Some(unsafe { &*p.map_addr(|a| a & !OPTS).cast::<Opts>() })
    }

    /// The spawn site, if recorded.
    pub(crate) fn site(&self) -> Option<&'static Location<'static>> {
        let p = self.0.load(Ordering::Relaxed);
        if p.addr() & OPTS != 0 {
            return self.opts().and_then(|o| o.site);
        }
        // SAFETY: an untagged non-null word is a `&'static Location`.
        (!p.is_null()).then(|| unsafe { &*p.cast::<Location<'static>>() })
    }

    /// The name, if a builder gave one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.opts().and_then(|o| o.name.as_deref())
    }

    /// The stack size a builder asked for (0: the runtime's).
    #[inline]
    pub(crate) fn stack_size(&self) -> usize {
        self.opts().map_or(0, |o| o.stack_size)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let p = *self.0.get_mut();
        if p.addr() & OPTS != 0 {
            // SAFETY: a tagged word is a `Box<Opts>` this G owns (module doc),
            // and nothing reads it any more.
            drop(unsafe { Box::from_raw(p.map_addr(|a| a & !OPTS).cast::<Opts>()) });
        }
    }
}
