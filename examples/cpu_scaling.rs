//! cpu_scaling: K tasks spinning for D, at MAXPROCS 1..n (seed task 6:
//! "throughput scales roughly linearly with GOMAXPROCS").
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example cpu_scaling -- [--tasks 4] [--duration 1s] [--procs 1,2]
//! ```
//!
//! For each entry of `--procs` (default 1 up to the CPUs this process may
//! use; the seed used 1,2,4) a fresh runtime is built with that many Ps and K
//! tasks each count in a tight loop, with no await, until a shared deadline
//! D away. Two figures per run: the total count (millions; only ratios mean
//! anything, never counts across languages) and the largest task's share of
//! it (0.25 for 4 tasks sharing fairly).
//! * single: one thread whatever `--procs` says, and no preemption: the first
//!   task runs until the deadline (share ≈ 1.0), the others barely start.
//! * mn: Ps run tasks in parallel; sysmon retakes the P of a task that ran
//!   10 ms without a runtime call, so the tasks also share. A retaken task
//!   keeps computing on its own thread (no switch under its feet), so more
//!   threads compute than there are Ps — the documented trade for never
//!   starving a P's other tasks (`stats().ms_without_p`): even at 1 P the
//!   four spinners use every CPU, and `scaling` stays near 1.
//! * single with `RUNTIME_LOOPS` above 1 (the cluster model, `run_each`):
//!   each entry of `--procs` is a number of loops, as it is a number of Ps
//!   in mn (`RUNTIME_LOOPS` only selects the model; `--procs` says how
//!   many). Task i runs on loop i mod N, so each loop computes its share
//!   of the K tasks on its own thread, all up to the same deadline; the
//!   figures add up every loop's counts. No loop preempts its tasks either,
//!   so the first task of each loop spins alone (share ≈ 1/N), and the
//!   total grows with the loops as long as there are cores for them.
//!
//! Result keys: `tasks`, `duration_ms`, `procs_list`, then per entry P
//! `total_m_pP` and `max_share_pP`, and `scaling` (total at the last entry ÷
//! total at the first); with loops also `loops` (the last entry's) and
//! `loops_list` (the same as `procs_list`: the loops of each entry).

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{spin_until, Flags, Here, Report, Sampler};
use switchyard::Mode;

const USAGE: &str = "usage: cpu_scaling [--tasks K] [--duration DUR] [--procs LIST]
  --tasks K        spinning tasks (default 4)
  --duration DUR   how long they spin (default 1s)
  --procs LIST     Ps to try, e.g. 1,2,4 (default 1 up to the CPU count)";

/// What one runtime measured.
struct Round {
    /// Ps asked for.
    procs: usize,
    /// Sum of every task's count.
    total: u64,
    /// The largest task's count / total.
    max_share: f64,
}

fn main() {
    let mut f = Flags::parse("cpu_scaling", USAGE);
    let tasks: usize = f.value("--tasks", 4).max(1);
    let duration = f.duration("--duration", Duration::from_secs(1));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let procs_list = f.list("--procs", (1..=cpus).collect());
    f.finish();

    // Single mode with RUNTIME_LOOPS above 1: the entries of --procs are
    // loops (the cluster model) instead of one thread whatever they say.
    let cluster = common::configured_mode() == Mode::Single && common::configured_loops() > 1;

    let sampler = Sampler::start();
    let t0 = Instant::now();
    let mut here = None;
    let mut rounds = Vec::new();
    for &procs in &procs_list {
        let mut builder = switchyard::Builder::new().procs(procs);
        if cluster {
            builder = builder.loops(procs);
        }
        // One deadline for every loop of the round, set by the first loop
        // to start (the others start within a thread's start-up of it).
        let deadline = Arc::new(OnceLock::new());
        let ends = common::run_each_main(builder, |id| {
            let deadline = deadline.clone();
            async move {
                let here = Here::now();
                let deadline = *deadline.get_or_init(|| Instant::now() + duration);
                // This loop's share of the tasks: i mod loops (all of them
                // with one loop, in single and in mn).
                let hs: Vec<_> = (0..tasks)
                    .filter(|i| i % here.loops == id)
                    .map(|_| switchyard::spawn(async move { spin_until(deadline) }))
                    .collect();
                let mut counts = Vec::with_capacity(hs.len());
                for h in hs {
                    counts.push(h.await.expect("spinner task"));
                }
                (here, counts)
            }
        });
        let h = ends[0].0;
        let counts: Vec<u64> = ends.into_iter().flat_map(|(_, c)| c).collect();
        let total: u64 = counts.iter().sum();
        let max = counts.iter().copied().max().unwrap_or(0);
        rounds.push(Round {
            procs,
            total,
            max_share: max as f64 / total.max(1) as f64,
        });
        here = Some(h);
    }
    let wall = t0.elapsed();
    let samples = sampler.finish();
    let here = here.expect("at least one entry in --procs");

    println!(
        "cpu_scaling: {tasks} tasks spinning for {duration:?}, mode={}",
        here.mode
    );
    let unit = if cluster { "loops" } else { "procs" };
    for r in &rounds {
        println!(
            "  {unit}={}: total {:.1} M iterations, largest task's share {:.3}",
            r.procs,
            r.total as f64 / 1e6,
            r.max_share
        );
    }
    if cluster {
        println!(
            "  each loop spins its share of the tasks on its own thread, no loop preempts \
             its first task, and no loop takes work from another"
        );
    } else if here.mode == Mode::Single {
        println!(
            "  single mode has one thread whatever --procs says, and no preemption: \
             the first task spins until the deadline"
        );
    }
    let scaling = rounds.last().map_or(0.0, |l| l.total as f64) / rounds[0].total.max(1) as f64;
    let list: Vec<String> = procs_list.iter().map(|p| p.to_string()).collect();
    let mut rep = Report::new("cpu_scaling", here);
    rep.kv("tasks", tasks)
        .num("duration_ms", duration.as_secs_f64() * 1e3)
        .kv("procs_list", list.join(","));
    if cluster {
        rep.kv("loops_list", list.join(","));
    }
    for r in &rounds {
        rep.num(&format!("total_m_p{}", r.procs), r.total as f64 / 1e6)
            .num(&format!("max_share_p{}", r.procs), r.max_share);
    }
    rep.num("scaling", scaling);
    rep.finish(wall, &samples);
}
