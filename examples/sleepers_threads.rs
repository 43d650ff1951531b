//! sleepers_threads: how many OS threads N sleeping tasks need (seed task 4:
//! "time.Sleep does not consume a thread"; Go shows 4–10 with 10,000).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example sleepers_threads -- [--n 10000] [--sleep 30s] [--read-after 1s]
//! ```
//!
//! N tasks each await `time::sleep(D)`; after `--read-after` the driver reads
//! `Threads:` from `/proc/self/status` (this example's sampler thread taken
//! off), then waits for all of them. Single mode: 1 thread (the loop). mn:
//! its Ps' threads plus sysmon, however many sleep. Result keys: `n`,
//! `sleep_ms`, `read_after_ms`, `threads_asleep`.

mod common;

use std::time::{Duration, Instant};

use common::{Flags, Here, Report, Sampler};

const USAGE: &str = "usage: sleepers_threads [--n N] [--sleep DUR] [--read-after DUR]
  --n N              sleeping tasks (default 10000)
  --sleep DUR        how long each sleeps (default 30s, as in the seed)
  --read-after DUR   when to read the thread count (default 1s)";

fn main() {
    let mut f = Flags::parse("sleepers_threads", USAGE);
    let n: usize = f.value("--n", 10_000);
    let sleep = f.duration("--sleep", Duration::from_secs(30));
    let read_after = f.duration("--read-after", Duration::from_secs(1));
    f.finish();
    if read_after >= sleep {
        eprintln!("sleepers_threads: --read-after should be shorter than --sleep (the tasks must still be asleep)");
    }

    let sampler = Sampler::start();
    let (here, asleep, wall) = common::run_main(switchyard::Builder::new(), async move {
        let here = Here::now();
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| switchyard::spawn(switchyard::time::sleep(sleep)))
            .collect();
        switchyard::time::sleep(read_after).await;
        // The sampler thread is not the runtime's: take it off.
        let asleep = switchyard::os::thread_count().saturating_sub(1);
        for t in tasks {
            t.await.expect("sleeper task");
        }
        (here, asleep, t0.elapsed())
    });
    let samples = sampler.finish();

    println!(
        "sleepers_threads: {n} tasks asleep for {sleep:?}, mode={}",
        here.mode
    );
    println!(
        "  after {read_after:?}: {asleep} OS thread(s) (without this example's sampler thread)"
    );
    let mut r = Report::new("sleepers_threads", here);
    r.kv("n", n)
        .num("sleep_ms", sleep.as_secs_f64() * 1e3)
        .num("read_after_ms", read_after.as_secs_f64() * 1e3)
        .kv("threads_asleep", asleep);
    r.finish(wall, &samples);
}
