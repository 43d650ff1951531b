//! One arena: a single `MAP_NORESERVE` mapping cut into equal slots (guard +
//! stack each), carved front to back and never returned to the kernel before
//! the runtime is dropped. `MADV_NOHUGEPAGE` keeps a touched top page from
//! pulling in a 2 MiB huge page (THP is `madvise`-only here, but a system set
//! to `always` would otherwise cost 512× the memory per parked G).
//! Each arena is listed in the overflow handler's registry while it lives.

use std::io;
use std::ptr::NonNull;

use super::overflow;

/// A mapped arena and how far it has been carved.
#[derive(Debug)]
pub(super) struct Arena {
    base: NonNull<u8>,
    len: usize,
    slot_size: usize,
    nslots: usize,
    next: usize,
    registry: Option<usize>,
}

// SAFETY: an Arena owns its mapping; carving hands out disjoint slots and the
// pool only touches the arena under its lock.
unsafe impl Send for Arena {}

impl Arena {
    /// Maps an arena of `nslots` slots of `slot_size` bytes (each a guard of
    /// `guard_size` then a stack of `stack_size`).
    pub(super) fn map(
        nslots: usize,
        slot_size: usize,
        guard_size: usize,
        stack_size: usize,
    ) -> io::Result<Self> {
        let len = nslots
            .checked_mul(slot_size)
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `ptr..ptr+len` is the mapping just created. Failure only
        // means huge pages stay possible, so the result is ignored.
        unsafe { libc::madvise(ptr, len, libc::MADV_NOHUGEPAGE) };
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap does not return null");
        let registry = overflow::register(
            base.as_ptr() as usize,
            len,
            slot_size,
            guard_size,
            stack_size,
        );
        Ok(Self {
            base,
            len,
            slot_size,
            nslots,
            next: 0,
            registry,
        })
    }

    /// The start address of the next unused slot, if any is left.
    pub(super) fn carve(&mut self) -> Option<usize> {
        if self.next == self.nslots {
            return None;
        }
        let slot = self.base.as_ptr() as usize + self.next * self.slot_size;
        self.next += 1;
        Some(slot)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if let Some(i) = self.registry {
            overflow::unregister(i);
        }
        // SAFETY: the pool drops arenas only when the runtime is gone and no
        // G can run on any of these stacks; the range is exactly our mapping.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
