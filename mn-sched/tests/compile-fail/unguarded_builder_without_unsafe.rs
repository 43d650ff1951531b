// The builder method is an `unsafe fn`: safe code cannot call it.
fn main() {
    let _ = mn_sched::Runtime::builder().unguarded_stacks();
}
