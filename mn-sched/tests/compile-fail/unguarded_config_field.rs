// The Config field behind it is not public.
fn main() {
    let mut config = mn_sched::Config::default();
    config.unguarded = true;
    let _ = mn_sched::Runtime::new(config);
}
