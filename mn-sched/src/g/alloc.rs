//! Memory for G cells, reused like Go's free Gs (`gfput`/`gfget`).
//!
//! A spawn-and-join burst allocates and frees a cell per G. Left to the
//! system allocator, a burst of 100,000 cells (~20 MB) is trimmed back to
//! the kernel when freed (glibc shrinks a thread arena's top with
//! `MADV_DONTNEED`) and faulted in again by the next burst, at a few µs a
//! page: that more than doubled the cost of a spawn+join. So cells are
//! kept:
//!
//! * Cells up to [`CLASSES`] × 64 bytes (alignment ≤ 16) come in size
//!   classes of 64 bytes; bigger or over-aligned ones go straight to the
//!   system allocator.
//! * The P the caller holds keeps up to [`P_MAX`] free cells per class;
//!   past that, [`BATCH`] of them go to its runtime's pool, which keeps at
//!   most [`POOL_MAX`] per class and frees the rest. An empty P cache
//!   refills a batch from the pool.
//! * Every block is an ordinary allocation of its class's layout, so any
//!   thread may free any block: a cell freed where no P is held (a plain
//!   thread dropping a JoinHandle) or in another runtime simply goes to that
//!   place's cache or to the system allocator.
//! * A batch refilled from the pool is sorted so the P hands its cells out
//!   in address order. Cells freed on other Ps (detached Gs exit where they
//!   ran) come back in scattered order, and without the sort every round of
//!   a spawn burst touched its cells in a more random order than the last:
//!   detached spawn+done doubled in cost over a dozen rounds of 100,000,
//!   and stays flat with the sort (about a µs of sorting per 128 cells).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::sched::m::M;

/// Size-class granularity.
const CLASS: usize = 64;
/// Number of size classes (cells up to 1 KiB are pooled).
pub(crate) const CLASSES: usize = 16;
/// Free cells a P keeps per class.
const P_MAX: usize = 256;
/// Cells moved between a P and the pool at a time.
const BATCH: usize = 128;
/// Free cells the pool keeps per class (beyond: back to the allocator).
const POOL_MAX: usize = 1 << 17;

/// Free blocks of each size class.
#[derive(Debug, Default)]
pub(crate) struct FreeCells {
    lists: [Vec<NonNull<u8>>; CLASSES],
}

// SAFETY: the blocks are unused memory owned by whoever holds the lists.
unsafe impl Send for FreeCells {}

impl Drop for FreeCells {
    fn drop(&mut self) {
        for (class, list) in self.lists.iter_mut().enumerate() {
            for p in list.drain(..) {
                // SAFETY: every listed block was allocated with this layout.
                unsafe { dealloc(p.as_ptr(), class_layout(class)) };
            }
        }
    }
}

/// A runtime's pool of free cells.
#[derive(Debug, Default)]
pub(crate) struct CellPool {
    free: Mutex<FreeCells>,
}

impl CellPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, FreeCells> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= 16 && layout.size() <= CLASSES * CLASS)
        .then(|| layout.size().max(1).div_ceil(CLASS) - 1)
}

fn class_layout(class: usize) -> Layout {
    Layout::from_size_align((class + 1) * CLASS, 16).expect("valid class layout")
}

/// Allocates a block for `layout`.
pub(crate) fn alloc_cell(layout: Layout) -> NonNull<u8> {
    let Some(class) = class_of(layout) else {
        return raw_alloc(layout);
    };
    with_local_cache(|cache, pool| {
        if let Some(p) = cache.lists[class].pop() {
            return Some(p);
        }
        let mut pool = pool.lock();
        let list = &mut pool.lists[class];
        let n = list.len().min(BATCH);
        let from = list.len() - n;
        cache.lists[class].extend(list.drain(from..));
        drop(pool);
        // Hand cells out in address order (rule below): the cache was empty.
        cache.lists[class].sort_unstable_by(|a, b| b.cmp(a));
        cache.lists[class].pop()
    })
    .flatten()
    .unwrap_or_else(|| raw_alloc(class_layout(class)))
}

/// Frees a block allocated by [`alloc_cell`] for `layout`.
///
/// # Safety
///
/// `p` came from `alloc_cell(layout)`, its contents are dropped, and it is
/// not used again.
pub(crate) unsafe fn free_cell(p: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: allocated by `raw_alloc(layout)`.
        unsafe { dealloc(p.as_ptr(), layout) };
        return;
    };
    let kept = with_local_cache(|cache, pool| {
        let list = &mut cache.lists[class];
        list.push(p);
        if list.len() > P_MAX {
            let spill: Vec<_> = list.drain(list.len() - BATCH..).collect();
            let mut pool = pool.lock();
            let room = POOL_MAX.saturating_sub(pool.lists[class].len());
            let (keep, free) = spill.split_at(room.min(spill.len()));
            pool.lists[class].extend_from_slice(keep);
            drop(pool);
            for q in free {
                // SAFETY: pooled blocks have their class's layout.
                unsafe { dealloc(q.as_ptr(), class_layout(class)) };
            }
        }
    });
    if kept.is_none() {
        // SAFETY: pooled-class blocks are allocated with the class layout.
        unsafe { dealloc(p.as_ptr(), class_layout(class)) };
    }
}

/// Runs `f` on the cache of the P the calling thread's M holds, if any.
fn with_local_cache<R>(f: impl FnOnce(&mut FreeCells, &CellPool) -> R) -> Option<R> {
    let m = M::current()?;
    // SAFETY: this thread's live M, used without a switch.
    let m = unsafe { m.as_ref() };
    let held = m.held()?;
    Some(held.with_local(|l| f(&mut l.cells, &m.shared.cells)))
}

fn raw_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: G cells are never zero-sized (they contain a Header).
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}
