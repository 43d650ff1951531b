//! G stacks: fixed-size slots carved from large arenas, reused through a
//! per-P cache and a global pool; never one mmap per G.
//!
//! ```text
//!   arena (one MAP_NORESERVE mapping, MADV_NOHUGEPAGE)
//!   +---------+-----------------+---------+-----------------+----
//!   | guard 0 | stack 0         | guard 1 | stack 1         | ...
//!   | 64 KiB  | stack_size      | 64 KiB  | stack_size      |
//!   +---------+-----------------+---------+-----------------+----
//!   low                     top ^                       top ^   high
//!   a G's stack grows down from its top towards its own guard
//! ```
//!
//! Orders of magnitude on a small VM: a fresh mapping with an mprotect
//! guard, touched once and unmapped, ~10 µs; a first touch of a page a few
//! µs; a guard install or a syscall about a µs; popping a cached stack a
//! few ns. Hence:
//!
//! 1. **Reuse.** A P keeps up to [`CACHE_MAX`] stacks; it refills and spills
//!    [`CACHE_BATCH`] at a time from/to the global pool under one lock. New
//!    slots are carved from the current arena (arenas double in size up to
//!    [`ARENA_MAX_SLOTS`] slots) only when the pool is empty.
//! 2. **Guards without mappings.** Each slot's guard is installed once, when
//!    the slot is carved, with `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13):
//!    page-table markers, no extra VMA, and they survive `MADV_DONTNEED`.
//!    Older kernels (or [`GuardPolicy::Mprotect`]) get `mprotect(PROT_NONE)`
//!    guards, two VMAs per slot, counted against `vm.max_map_count` (see
//!    `guard.rs`); past that budget getting a stack is an error naming the
//!    sysctl, never a silent unguarded stack. Stacks without guards exist
//!    only behind the `unsafe` `Builder::unguarded_stacks`, whose caller
//!    promises that no G overflows.
//! 3. **Lazy.** A G gets its stack when it first runs, not when it is
//!    spawned, so a burst of spawned-but-not-started Gs costs no stack memory
//!    and the P that runs a G both takes and returns its stack (hot in
//!    cache). Only mprotect guards — `GuardPolicy::Mprotect`, or `Auto` on a
//!    kernel without guard markers, which is known before the first G
//!    (`guard.rs`) — take stacks eagerly at spawn, so that running out of
//!    mappings is an error `spawn` can return, never a G that cannot go
//!    on. An async task goes further: it gives its stack back each time it
//!    waits and takes one again when woken (aio/cell.rs), so waiting tasks
//!    hold none — except with eager stacks, where it keeps the one it was
//!    promised at spawn.
//! 4. **RSS back from deep stacks.** Only touched pages cost memory: a G that
//!    parks shallow touches one page. A G records the lowest stack pointer it
//!    had at its switches (park, yield, exit); if that is more than
//!    [`DEEP_PAGES`] pages below the top when the stack is returned, the
//!    pages below the top one are given back with `MADV_DONTNEED`. A G that
//!    went deep and came back up without a runtime call in between is not
//!    seen: its pages stay with the cached stack until a later deep return
//!    (bounded by the cache sizes). Rejected: a canary word in a lower page
//!    (checking it faults the page in: ~2 µs on every return) and `mincore`
//!    on every return (a syscall on the hot path).
//! 5. **Other sizes.** A task builder may give one G a stack size of its
//!    own (`task::Builder::stack_size`: one task with a large frame needs
//!    not raise every G's stack). Each such size has a class of its own —
//!    its own arenas (the first of 4 slots, doubling), so that the overflow
//!    handler knows the size of a slot from its arena, and its own free
//!    list — reached under the pool's lock; only the runtime's size goes
//!    through the Ps' caches. The G asks for its size each time it takes a
//!    stack (an async task, each time it is woken).

mod arena;
mod guard;
pub(crate) mod overflow;

use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::{Config, GuardPolicy, GUARD_SIZE};
use arena::Arena;
use guard::{GuardKind, MapBudget};

/// Most stacks a P keeps for reuse.
pub(crate) const CACHE_MAX: usize = 64;
/// Stacks moved at once between a P's cache and the global pool.
pub(crate) const CACHE_BATCH: usize = 32;
/// Slots in the first arena; each later arena doubles, up to [`ARENA_MAX_SLOTS`].
const ARENA_FIRST_SLOTS: usize = 64;
/// Slots in the first arena of a size other than the runtime's (rule 5):
/// such stacks are few and often large.
const SIZED_FIRST_SLOTS: usize = 4;
/// Most slots in one arena.
const ARENA_MAX_SLOTS: usize = 1 << 16;
/// A returned stack whose G went deeper than this many pages gives its pages
/// below the top one back to the kernel.
pub(crate) const DEEP_PAGES: usize = 4;

/// The system page size (4 KiB here), read once.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n).unwrap_or(4096).max(4096)
    })
}

/// One G stack: the usable bytes `[base, base + size)`; its guard lies just
/// below `base`. Owned by exactly one G or cache at a time.
#[derive(Debug)]
pub(crate) struct Stack {
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: a Stack is an exclusive claim on a region of an arena; the region
// is plain memory that any thread may use once it holds the claim.
unsafe impl Send for Stack {}

impl Stack {
    /// Highest address (exclusive): where the stack starts growing down.
    pub(crate) fn top(&self) -> usize {
        self.base.as_ptr() as usize + self.size
    }

    /// Lowest usable address.
    pub(crate) fn base(&self) -> usize {
        self.base.as_ptr() as usize
    }

    /// Gives back the pages below the top one if the G went deep (rule 4).
    fn trim(&self, low_sp: usize) {
        let page = page_size();
        let keep_from = self.top() - page;
        if low_sp == 0 || low_sp >= self.top() - DEEP_PAGES * page {
            return;
        }
        // SAFETY: [base, top - page) lies inside this stack's slot, which we
        // own exclusively; its contents are dead (the G has exited).
        let rc = unsafe {
            libc::madvise(
                self.base.as_ptr().cast(),
                keep_from - self.base(),
                libc::MADV_DONTNEED,
            )
        };
        debug_assert_eq!(rc, 0, "madvise(MADV_DONTNEED) on a stack failed");
    }
}

/// A P's private stack cache (touched only by the M holding the P).
#[derive(Debug, Default)]
pub(crate) struct StackCache {
    stacks: Vec<Stack>,
}

/// Why a G could not get a stack.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StackError {
    /// The mprotect fallback ran out of kernel mappings (`vm.max_map_count`).
    MapCount {
        /// The sysctl's value (or the test budget).
        max_map_count: usize,
        /// Mappings the process had when the budget was computed.
        mapped: usize,
        /// Stacks guarded so far by this runtime.
        guarded: usize,
    },
    /// `mmap` or the guard install failed (address space or memory).
    Map(Arc<io::Error>),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MapCount {
                max_map_count,
                mapped,
                guarded,
            } => write!(
                f,
                "cannot guard another G stack: the process had {mapped} memory mappings, \
                 vm.max_map_count is {max_map_count}, and each mprotect-guarded stack costs 2 \
                 ({guarded} stacks guarded so far). Raise the sysctl vm.max_map_count, \
                 or run Linux >= 6.13 (MADV_GUARD_INSTALL needs no mapping per stack)"
            ),
            Self::Map(e) => write!(f, "cannot map memory for G stacks: {e}"),
        }
    }
}

impl std::error::Error for StackError {}

/// The runtime's stacks: arenas, the global free pool, and the guard policy.
#[derive(Debug)]
pub(crate) struct StackPool {
    /// The runtime's stack size (`Config::stack_size`).
    stack_size: usize,
    guard_size: usize,
    /// How guards are installed (`Auto` resolved when the pool is made).
    guard: GuardKind,
    inner: Mutex<PoolInner>,
}

/// The pool's state behind its lock.
#[derive(Debug)]
struct PoolInner {
    /// Stacks of the runtime's size: the only ones the Ps cache.
    default: Class,
    /// Other sizes, asked for by task builders (rule 5); a few at most.
    sized: Vec<Class>,
    /// Mapping budget of the mprotect fallback, computed when first needed.
    budget: Option<MapBudget>,
    /// Test override for the budget (Config::mprotect_map_budget).
    budget_override: Option<usize>,
    /// Slots carved so far (all arenas).
    carved: usize,
}

/// The stacks of one size: their arenas and free list.
#[derive(Debug)]
struct Class {
    stack_size: usize,
    /// Guard plus stack.
    slot_size: usize,
    /// Slots in this class's first arena (later ones double).
    first_slots: usize,
    /// Returned stacks, most recently returned last (LIFO: warm pages first).
    free: Vec<Stack>,
    /// Every arena mapped so far; the last one is being carved.
    arenas: Vec<Arena>,
}

impl Class {
    fn new(stack_size: usize, guard_size: usize, first_slots: usize) -> Self {
        Self {
            stack_size,
            slot_size: stack_size + guard_size,
            first_slots,
            free: Vec::new(),
            arenas: Vec::new(),
        }
    }
}

impl PoolInner {
    /// The class of `size` (a size other than the runtime's), made on
    /// first use.
    fn sized(&mut self, size: usize, guard_size: usize) -> &mut Class {
        let i = match self.sized.iter().position(|c| c.stack_size == size) {
            Some(i) => i,
            None => {
                self.sized
                    .push(Class::new(size, guard_size, SIZED_FIRST_SLOTS));
                self.sized.len() - 1
            }
        };
        &mut self.sized[i]
    }
}

impl StackPool {
    /// A pool for `config` (nothing is mapped until the first stack is asked for).
    pub(crate) fn new(config: &Config) -> Self {
        let guard = match config.guard {
            _ if config.unguarded => GuardKind::None,
            GuardPolicy::Auto if !config.no_guard_markers && guard::markers_supported() => {
                GuardKind::Madvise
            }
            GuardPolicy::Auto | GuardPolicy::Mprotect => GuardKind::Mprotect,
        };
        let guard_size = if guard == GuardKind::None {
            0
        } else {
            GUARD_SIZE
        };
        Self {
            stack_size: config.stack_size,
            guard_size,
            guard,
            inner: Mutex::new(PoolInner {
                default: Class::new(config.stack_size, guard_size, ARENA_FIRST_SLOTS),
                sized: Vec::new(),
                budget: None,
                budget_override: config.mprotect_map_budget,
                carved: 0,
            }),
        }
    }

    /// Whether Gs take their stack at spawn (so `spawn` can report failure):
    /// with mprotect guards (rule 3).
    pub(crate) fn eager(&self) -> bool {
        self.guard == GuardKind::Mprotect
    }

    /// The runtime's stack size (a task builder may ask for another).
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Takes a stack of `size` bytes (0: the runtime's size, page-rounded
    /// otherwise): from `cache`, else a batch from the global pool, else
    /// freshly carved slots. Other sizes come from their own class, under
    /// the pool's lock (rule 5).
    pub(crate) fn get(
        &self,
        cache: Option<&mut StackCache>,
        size: usize,
    ) -> Result<Stack, StackError> {
        if size != 0 && size != self.stack_size {
            return self.get_sized(size);
        }
        let Some(cache) = cache else {
            return self.refill(None);
        };
        if let Some(s) = cache.stacks.pop() {
            return Ok(s);
        }
        self.refill(Some(cache))
    }

    /// Returns a stack whose G went as low as `low_sp` (0: unknown/shallow).
    pub(crate) fn put(&self, cache: Option<&mut StackCache>, stack: Stack, low_sp: usize) {
        stack.trim(low_sp);
        if stack.size != self.stack_size {
            self.lock()
                .sized(stack.size, self.guard_size)
                .free
                .push(stack);
            return;
        }
        let Some(cache) = cache else {
            self.lock().default.free.push(stack);
            return;
        };
        cache.stacks.push(stack);
        if cache.stacks.len() >= CACHE_MAX {
            let spill = cache.stacks.len() - CACHE_BATCH;
            let mut inner = self.lock();
            inner.default.free.extend(cache.stacks.drain(..spill));
        }
    }

    /// Stacks carved so far and stacks free in the global pool.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let sized: usize = inner.sized.iter().map(|c| c.free.len()).sum();
        (inner.carved, inner.default.free.len() + sized)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Slow path of [`get`](Self::get): one lock, a batch for the cache.
    fn refill(&self, cache: Option<&mut StackCache>) -> Result<Stack, StackError> {
        let mut inner = self.lock();
        let want = if cache.is_some() { CACHE_BATCH } else { 1 };
        while inner.default.free.len() < want {
            match self.carve(&mut inner, None) {
                Ok(s) => inner.default.free.push(s),
                Err(e) if inner.default.free.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        let free = &mut inner.default.free;
        let first = free.pop().expect("refill leaves at least one stack");
        if let Some(cache) = cache {
            let n = free.len().min(CACHE_BATCH - 1);
            let from = free.len() - n;
            cache.stacks.extend(free.drain(from..));
        }
        Ok(first)
    }

    /// A stack of a size other than the runtime's: its class's last
    /// returned one, or a freshly carved slot.
    fn get_sized(&self, size: usize) -> Result<Stack, StackError> {
        let mut inner = self.lock();
        if let Some(s) = inner.sized(size, self.guard_size).free.pop() {
            return Ok(s);
        }
        self.carve(&mut inner, Some(size))
    }

    /// Carves one slot of the runtime's size (`None`) or of `size`,
    /// mapping a new arena for it if its current one is used up, and
    /// installs its guard.
    fn carve(&self, inner: &mut PoolInner, size: Option<usize>) -> Result<Stack, StackError> {
        if self.guard == GuardKind::Mprotect {
            self.charge_mprotect(inner)?;
        }
        let guard_size = self.guard_size;
        let class = match size {
            None => &mut inner.default,
            Some(size) => inner.sized(size, guard_size),
        };
        let slot = match class.arenas.last_mut().and_then(Arena::carve) {
            Some(slot) => slot,
            None => {
                let nslots = (class.first_slots << class.arenas.len().min(16)).min(ARENA_MAX_SLOTS);
                let arena = Arena::map(nslots, class.slot_size, guard_size, class.stack_size)
                    .map_err(|e| StackError::Map(Arc::new(e)))?;
                class.arenas.push(arena);
                class
                    .arenas
                    .last_mut()
                    .and_then(Arena::carve)
                    .expect("a new arena has a free slot")
            }
        };
        let stack_size = class.stack_size;
        if let Err(e) = guard::install(self.guard, slot, guard_size) {
            return Err(StackError::Map(Arc::new(e)));
        }
        inner.carved += 1;
        let base = NonNull::new((slot + guard_size) as *mut u8).expect("arena slots are not null");
        Ok(Stack {
            base,
            size: stack_size,
        })
    }

    /// Charges one mprotect guard (two mappings) to the budget, or explains
    /// why it cannot be had.
    fn charge_mprotect(&self, inner: &mut PoolInner) -> Result<(), StackError> {
        let over = inner.budget_override;
        let budget = inner.budget.get_or_insert_with(|| MapBudget::read(over));
        if budget.take(guard::MAPS_PER_MPROTECT_STACK) {
            return Ok(());
        }
        // Other mappings may have gone since we looked: read the figures again once.
        if over.is_none() {
            *budget = MapBudget::read(None);
            if budget.take(guard::MAPS_PER_MPROTECT_STACK) {
                return Ok(());
            }
        }
        Err(StackError::MapCount {
            max_map_count: budget.max_map_count,
            mapped: budget.mapped_at_start,
            guarded: inner.carved,
        })
    }
}
