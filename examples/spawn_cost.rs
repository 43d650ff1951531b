//! spawn_cost: what one task costs to start (seed task 2), and what one OS
//! thread costs (seed task 3: "threads are 30–100× slower").
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example spawn_cost -- [--n 100000] [--rounds 5]
//! RUNTIME_MODE=single cargo run --release --example spawn_cost -- --threads [--n 10000]
//! ```
//!
//! Each round spawns N tasks that each signal a `WaitGroup`, then waits for
//! the group; one warm-up round is not counted, the figure is the median round
//! divided by N. `--threads` does the same with N `std::thread`s (each joined;
//! N defaults to 10,000 because `kernel.pid_max` here is 32,768); the threads
//! are started and joined inside `switchyard::syscall`, the honest wrapper for
//! a call that blocks its OS thread.
//!
//! Result keys: `style` (tasks|threads), `n`, `rounds`, `ns_per_task`
//! (median), `ns_per_task_min`.

mod common;

use std::time::Instant;

use common::{median, Flags, Here, Report, Sampler};
use switchyard::sync::WaitGroup;

const USAGE: &str = "usage: spawn_cost [--n N] [--rounds R] [--threads]
  --n N        tasks per round (default 100000; 10000 with --threads)
  --rounds R   timed rounds after one warm-up round (default 5)
  --threads    spawn OS threads (std::thread) instead of tasks";

fn main() {
    let mut f = Flags::parse("spawn_cost", USAGE);
    let threads = f.flag("--threads");
    let n: usize = f.value("--n", if threads { 10_000 } else { 100_000 });
    let rounds: usize = f.value("--rounds", 5).max(1);
    f.finish();

    let sampler = Sampler::start();
    let (here, mut per_task, wall) = common::run_main(switchyard::Builder::new(), async move {
        let here = Here::now();
        let t0 = Instant::now();
        let mut per_task = Vec::with_capacity(rounds);
        for round in 0..=rounds {
            let t = Instant::now();
            if threads {
                switchyard::syscall(|| spawn_threads(n));
            } else {
                spawn_tasks(n).await;
            }
            if round > 0 {
                per_task.push(t.elapsed().as_nanos() as f64 / n as f64);
            }
        }
        (here, per_task, t0.elapsed())
    });
    let samples = sampler.finish();

    let min = per_task.iter().copied().fold(f64::INFINITY, f64::min);
    let med = median(&mut per_task);
    let what = if threads { "OS thread" } else { "task" };
    println!(
        "spawn_cost: {n} {what}s per round, {rounds} rounds (+1 warm-up), mode={}",
        here.mode
    );
    println!(
        "  {med:.0} ns per {what} (median round), {min:.0} ns at best; {:.0} ms in all",
        wall.as_secs_f64() * 1e3
    );
    let mut r = Report::new("spawn_cost", here);
    r.kv("style", if threads { "threads" } else { "tasks" })
        .kv("n", n)
        .kv("rounds", rounds)
        .num("ns_per_task", med)
        .num("ns_per_task_min", min);
    r.finish(wall, &samples);
}

/// Seed task 2: N tasks each calling `done` on one WaitGroup.
async fn spawn_tasks(n: usize) {
    let wg = WaitGroup::new();
    wg.add(n);
    for _ in 0..n {
        let wg = wg.clone();
        switchyard::spawn(async move { wg.done() });
    }
    wg.wait().await;
}

/// N OS threads started, each doing nothing, then all joined.
fn spawn_threads(n: usize) {
    let handles: Vec<_> = (0..n).map(|_| std::thread::spawn(|| {})).collect();
    for h in handles {
        h.join().expect("thread");
    }
}
