//! TEMPORARY bridge to mn-sched pieces that land with issue 7's mn half
//! (the task dump); replaced by `mn_sched::{dump, tasks}` at that merge.

/// Until mn-sched's task dump lands (issue 7's mn half).
pub(crate) fn dump() -> String {
    "switchyard: the task dump is not built for RUNTIME_MODE=mn yet\n".to_string()
}

/// Until mn-sched's task list lands (issue 7's mn half).
pub(crate) fn tasks() -> Vec<loop_core::trace::TaskInfo> {
    Vec::new()
}
