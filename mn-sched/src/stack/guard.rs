//! Guard installation and the mapping budget of the mprotect fallback.
//!
//! `MADV_GUARD_INSTALL` (value 102, Linux ≥ 6.13; `libc` does not have it
//! yet) turns a range into guard markers in the page tables: any access
//! faults, no VMA is created, and `MADV_DONTNEED` leaves the markers alone.
//! Whether the kernel has it is probed once per process, on a scratch
//! mapping, when the first runtime is built ([`markers_supported`]), so a
//! runtime knows its guard kind — and with it whether stacks are taken at
//! spawn (rule 3 of `stack/mod.rs`) — before its first G exists. A kernel
//! without it gets `mprotect` guards for every stack, as
//! `GuardPolicy::Mprotect` does.
//!
//! An `mprotect(PROT_NONE)` guard splits the arena's VMA: every guarded slot
//! costs two mappings (the guard and the stack above it). The kernel refuses
//! mappings past `vm.max_map_count` (65,530 by default), and so would every
//! other `mmap` in the process (thread stacks, malloc arenas), so the budget
//! is `max_map_count − mappings in use − MARGIN`; past it, a stack is an
//! error that names the sysctl.

use std::io;
use std::sync::OnceLock;

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

/// Whether this kernel installs guard markers (probed once per process).
pub(super) fn markers_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(probe_markers)
}

/// Installs a guard marker on the first page of a scratch mapping. Any
/// failure (`EINVAL` from a kernel older than 6.13, or a sandbox refusing
/// the call) means "no markers": mprotect guards work everywhere.
fn probe_markers() -> bool {
    let page = super::page_size();
    // SAFETY: a fresh anonymous private mapping of our own; nothing else
    // uses it, and it is unmapped below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return false;
    }
    // SAFETY: the first page of the mapping just made, holding nothing.
    let ok = unsafe { libc::madvise(ptr, page, MADV_GUARD_INSTALL) } == 0;
    // SAFETY: the mapping made above, no longer used.
    unsafe { libc::munmap(ptr, 2 * page) };
    ok
}

/// Installs the guard of the slot starting at `slot`.
pub(super) fn install(kind: GuardKind, slot: usize, len: usize) -> io::Result<()> {
    let rc = match kind {
        // SAFETY: [slot, slot+len) is the guard part of a slot we just
        // carved from our own mapping; nothing lives there.
        GuardKind::Madvise => unsafe {
            libc::madvise(slot as *mut libc::c_void, len, MADV_GUARD_INSTALL)
        },
        // SAFETY: as above; PROT_NONE only affects our own guard range.
        GuardKind::Mprotect => unsafe {
            libc::mprotect(slot as *mut libc::c_void, len, libc::PROT_NONE)
        },
        GuardKind::None => 0,
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
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
