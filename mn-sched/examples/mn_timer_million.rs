//! One million armed timers on the mn runtime (its per-P timer wheels,
//! without async tasks): 1,000 Gs on 2 Ps each arm 1,000
//! `aio::time::Sleep`s due in 1 s, then wait for all of them. Prints the time to arm, how late the last
//! one fired, and the RSS the timers cost. A measurement, not a test:
//! `cargo run --release -p switchyard-mn --example mn_timer_million`.

use std::task::Context;
use std::time::{Duration, Instant};

use mn_sched::aio::time::sleep_until;
use mn_sched::{go, Runtime, WaitGroup};

const GS: usize = 1000;
const PER_G: usize = 1000;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let h = rt.handle();
    // SAFETY: the Gs hold no thread-local reference or std lock guard.
    let (arm, peak, late, rss0, rss1) = unsafe {
        rt.block_on(move || {
            let rss0 = rss_kib();
            let deadline = Instant::now() + Duration::from_secs(1);
            let armed = WaitGroup::new();
            let done = WaitGroup::new();
            let t = Instant::now();
            for _ in 0..GS {
                let (armed, done) = (armed.clone(), done.clone());
                armed.add(1);
                done.add(1);
                go(move || {
                    let w = mn_sched::current_waker();
                    let mut cx = Context::from_waker(&w);
                    let mut v: Vec<_> = (0..PER_G).map(|_| sleep_until(deadline)).collect();
                    for s in &mut v {
                        assert!(s.poll_elapsed(&mut cx).is_pending());
                    }
                    armed.done();
                    // Wait for every timer of this G, then drop them.
                    while v.iter_mut().any(|s| s.poll_elapsed(&mut cx).is_pending()) {
                        mn_sched::park();
                    }
                    done.done();
                });
            }
            armed.wait();
            let arm = t.elapsed();
            let peak = h.stats().timers;
            let rss1 = rss_kib();
            done.wait();
            (arm, peak, deadline.elapsed(), rss0, rss1)
        })
    }
    .unwrap();
    println!(
        "{} timers armed in {:?} ({:.0} ns each, 2 Ps); pending at peak {peak}; \
         all fired {:?} after the deadline; RSS +{} KiB while armed ({:.0} B per timer, \
         Sleeps and G stacks included)",
        GS * PER_G,
        arm,
        arm.as_nanos() as f64 / (GS * PER_G) as f64,
        late,
        rss1.saturating_sub(rss0),
        (rss1.saturating_sub(rss0) * 1024) as f64 / (GS * PER_G) as f64,
    );
}
