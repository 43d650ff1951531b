//! Runtime calls racing sysmon's retakes with the fences of syscall.rs
//! steps U2/U4 kept full (`fence(SeqCst)` on both sides), as on a kernel
//! without `membarrier`. Its own test binary: the choice is per process and
//! must come before the first runtime is built. `mn_sysmon.rs` runs the
//! same scenario on membarrier where the kernel has it.

mod util;

#[test]
fn runtime_calls_race_retakes_with_full_fences() {
    mn_sched::bench_support::use_full_fences();
    let st = util::retake_race(1);
    assert!(!mn_sched::bench_support::fences_expedited());
    assert!(st.user_retakes >= 1, "no retake happened: {st:?}");
    util::retake_race(2);
}
