//! Guard installation and the mapping budget of the mprotect fallback.
//!
//! `MADV_GUARD_INSTALL` (value 102, Linux ≥ 6.13; `libc` does not have it
//! yet) turns a range into guard markers in the page tables: any access
//! faults, no VMA is created, and `MADV_DONTNEED` leaves the markers alone. A
//! kernel without it answers `EINVAL`, and the pool switches to `mprotect`
//! for good.
//!
//! An `mprotect(PROT_NONE)` guard splits the arena's VMA: every guarded slot
//! costs two mappings (the guard and the stack above it). The kernel refuses
//! mappings past `vm.max_map_count` (65,530 by default), and so would every
//! other `mmap` in the process (thread stacks, malloc arenas), so the budget
//! is `max_map_count − mappings in use − MARGIN`; past it, a stack is an
//! error that names the sysctl.

use std::io;

/// `madvise` advice that installs guard markers (linux/mman.h).
pub(super) const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Kernel mappings an mprotect-guarded slot may add.
pub(super) const MAPS_PER_MPROTECT_STACK: usize = 2;
/// Mappings left to the rest of the process (threads, malloc, libraries).
const MARGIN: usize = 4096;

/// How guards are put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)`.
    Madvise,
    /// `mprotect(PROT_NONE)` (fallback).
    Mprotect,
    /// No guard (the `unsafe` `Builder::unguarded_stacks`).
    None,
}

/// Installs the guard of the slot starting at `slot`. Switches `kind` from
/// `Madvise` to `Mprotect` if the kernel does not know guard markers.
pub(super) fn install(kind: &mut GuardKind, slot: usize, len: usize) -> io::Result<()> {
    if *kind == GuardKind::Madvise {
        // SAFETY: [slot, slot+len) is the guard part of a slot we just carved
        // from our own mapping; nothing lives there.
        let rc = unsafe { libc::madvise(slot as *mut libc::c_void, len, MADV_GUARD_INSTALL) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
        *kind = GuardKind::Mprotect;
    }
    if *kind == GuardKind::Mprotect {
        // SAFETY: as above; PROT_NONE only affects our own guard range.
        let rc = unsafe { libc::mprotect(slot as *mut libc::c_void, len, libc::PROT_NONE) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What is left of `vm.max_map_count` for mprotect guards.
#[derive(Debug, Clone, Copy)]
pub(super) struct MapBudget {
    /// `vm.max_map_count` (or the test's pretend figure).
    pub(super) max_map_count: usize,
    /// Mappings the process had when this budget was computed.
    pub(super) mapped_at_start: usize,
    /// Mappings still available to guards.
    left: usize,
}

impl MapBudget {
    /// Reads the sysctl and the process's mapping count; with `pretend`, the
    /// budget is exactly `pretend` mappings (test hook).
    pub(super) fn read(pretend: Option<usize>) -> Self {
        let mapped = count_mappings();
        if let Some(left) = pretend {
            return Self {
                max_map_count: mapped + left,
                mapped_at_start: mapped,
                left,
            };
        }
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65_530);
        Self {
            max_map_count: max,
            mapped_at_start: mapped,
            left: max.saturating_sub(mapped).saturating_sub(MARGIN),
        }
    }

    /// Takes `n` mappings from the budget if they are there.
    pub(super) fn take(&mut self, n: usize) -> bool {
        if self.left < n {
            return false;
        }
        self.left -= n;
        true
    }
}

/// Number of mappings of this process (lines of /proc/self/maps).
fn count_mappings() -> usize {
    std::fs::read("/proc/self/maps")
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}
