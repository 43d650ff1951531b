//! TEMPORARY bridge to mn-sched pieces that land with sysmon (issue 6):
//! until then `syscall` runs inline (the M and its P block, as the caveats
//! page says) and the default procs is the affinity count. Replaced by
//! `mn_sched::{syscall, syscall_blocking, default_procs_in}` at that merge.

use std::path::Path;

pub(crate) fn syscall<F: FnOnce() -> R, R>(f: F) -> R {
    f()
}

pub(crate) fn syscall_blocking<F: FnOnce() -> R, R>(f: F) -> R {
    f()
}

pub(crate) fn default_procs_in(_cgroup_root: &Path) -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Until mn-sched's task dump lands (issue 7's mn half).
pub(crate) fn dump() -> String {
    "switchyard: the task dump is not built for RUNTIME_MODE=mn yet\n".to_string()
}

/// Until mn-sched's task list lands (issue 7's mn half).
pub(crate) fn tasks() -> Vec<loop_core::trace::TaskInfo> {
    Vec::new()
}
