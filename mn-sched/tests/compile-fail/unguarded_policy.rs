// Unguarded stacks are not a guard policy.
fn main() {
    let _ = mn_sched::Runtime::builder().guard(mn_sched::GuardPolicy::Unguarded);
}
