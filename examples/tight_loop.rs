//! tight_loop: a loop with no await beside a task that prints every 10 ms
//! (the peers' W8; Go preempts the spinner, a JavaScript loop cannot).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example tight_loop -- [--spin 1s] [--tick 10ms] [--procs 1]
//! RUNTIME_MODE=single cargo run --release --example tight_loop -- --preempt-every 1ms
//! ```
//!
//! The printer task sleeps `--tick`, prints a line and notes the gap since
//! its last line, over and over. Five ticks in, a spinner task counts in a
//! loop with no await for `--spin`; five ticks after it ends, the printer
//! stops. On a runtime of `--procs` Ps (default 1, so the two tasks compete
//! for one P):
//! * single: the spinner holds the only thread: the printer starves, its
//!   largest gap ≈ `--spin` (JavaScript does the same).
//! * `--preempt-every D`: the spinner awaits `yield_now` every D — preempt
//!   points written by hand — so the printer gets its turn at least every D.
//! * mn: sysmon retakes the P of a task that ran 10 ms without a runtime
//!   call; the printer keeps (nearly) its rhythm with no change to the code.
//!
//! `--gaps FILE` writes `t_ms,gap_ms` lines (time since the spinner started)
//! for `compare`'s chart; `--quiet` leaves the tick lines out. Result keys:
//! `spin_ms`, `tick_ms`, `preempt_every_ms` (0 = none), `ticks`,
//! `max_gap_ms`, `p50_gap_ms`, `late_ticks` (gaps over twice the tick),
//! `spin_m` (millions of iterations).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hist::Hist;
use common::{Flags, Here, Report, Sampler};
use switchyard::Mode;

const USAGE: &str = "usage: tight_loop [--spin DUR] [--tick DUR] [--procs P] [--preempt-every DUR] [--gaps FILE] [--quiet]
  --spin DUR            how long the spinner spins with no await (default 1s)
  --tick DUR            the printer's period (default 10ms)
  --procs P             Ps of the runtime (mn; default 1)
  --preempt-every DUR   the spinner awaits yield_now this often (default: never)
  --gaps FILE           write the printer's gaps as t_ms,gap_ms lines
  --quiet               do not print a line per tick";

/// The printer's record: when each line was printed.
type Ticks = Vec<Instant>;

fn main() {
    let mut f = Flags::parse("tight_loop", USAGE);
    let spin = f.duration("--spin", Duration::from_secs(1));
    let tick = f.duration("--tick", Duration::from_millis(10));
    let procs: usize = f.value("--procs", 1).max(1);
    let preempt = f.duration("--preempt-every", Duration::ZERO);
    let gaps_path: Option<PathBuf> = f.text("--gaps").map(PathBuf::from);
    let quiet = f.flag("--quiet");
    f.finish();

    let sampler = Sampler::start();
    let builder = switchyard::Builder::new().procs(procs);
    let (here, ticks, spin_start, spun, wall) = common::run_main(builder, async move {
        let here = Here::now();
        let t0 = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let printer = switchyard::spawn(printer(tick, stop.clone(), quiet));
        switchyard::time::sleep(tick * 5).await;
        let spin_start = Instant::now();
        let spun = switchyard::spawn(spinner(spin, preempt))
            .await
            .expect("spinner task");
        switchyard::time::sleep(tick * 5).await;
        stop.store(true, Ordering::Relaxed);
        let ticks = printer.await.expect("printer task");
        (here, ticks, spin_start, spun, t0.elapsed())
    });
    let samples = sampler.finish();

    let since_spin = |t: Instant| match t.checked_duration_since(spin_start) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(spin_start.duration_since(t).as_secs_f64() * 1e3),
    };
    let gaps: Vec<(f64, f64)> = ticks
        .windows(2)
        .map(|w| {
            (
                since_spin(w[1]),
                w[1].duration_since(w[0]).as_secs_f64() * 1e3,
            )
        })
        .collect();
    if let Some(p) = &gaps_path {
        let mut out = String::from("t_ms,gap_ms\n");
        for (t, g) in &gaps {
            out.push_str(&format!("{t:.1},{g:.2}\n"));
        }
        if let Err(e) = std::fs::write(p, out) {
            eprintln!("tight_loop: writing {}: {e}", p.display());
        }
    }
    let tick_ms = tick.as_secs_f64() * 1e3;
    let max_gap = gaps.iter().map(|g| g.1).fold(0.0, f64::max);
    let late = gaps.iter().filter(|g| g.1 > 2.0 * tick_ms).count();
    let mut all = Hist::new();
    for g in &gaps {
        all.record((g.1 * 1e6).round() as u64);
    }
    let p50 = all.pct(50.0) as f64 / 1e6;
    println!(
        "tight_loop: a task spun {spin:?} with no await beside a printer ticking every {tick:?}, mode={} procs={}",
        here.mode, here.procs
    );
    println!(
        "  printer: {} ticks, median gap {p50:.1} ms, largest gap {max_gap:.1} ms, {late} gap(s) over {:.0} ms",
        ticks.len(),
        2.0 * tick_ms
    );
    if here.mode == Mode::Single && preempt.is_zero() {
        println!("  single mode: the spinner held the only thread, so the printer starved (as in JavaScript)");
    }
    if !preempt.is_zero() {
        println!("  the spinner awaited yield_now every {preempt:?} (preempt points by hand)");
    }
    let mut r = Report::new("tight_loop", here);
    r.num("spin_ms", spin.as_secs_f64() * 1e3)
        .num("tick_ms", tick_ms)
        .num("preempt_every_ms", preempt.as_secs_f64() * 1e3)
        .kv("ticks", ticks.len())
        .num("max_gap_ms", max_gap)
        .num("p50_gap_ms", p50)
        .kv("late_ticks", late)
        .num("spin_m", spun as f64 / 1e6);
    r.finish(wall, &samples);
}

/// Prints a line every `tick` until `stop`; returns when each was printed.
async fn printer(tick: Duration, stop: Arc<AtomicBool>, quiet: bool) -> Ticks {
    let start = Instant::now();
    let mut ticks = vec![start];
    while !stop.load(Ordering::Relaxed) {
        switchyard::time::sleep(tick).await;
        let now = Instant::now();
        if !quiet {
            let gap = now
                .duration_since(*ticks.last().expect("one tick"))
                .as_secs_f64()
                * 1e3;
            let t = now.duration_since(start).as_secs_f64() * 1e3;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "tick {:>4} t={t:>7.1}ms gap={gap:>6.1}ms", ticks.len());
        }
        ticks.push(now);
    }
    ticks
}

/// Counts for `spin` with no await — or, with a `preempt` period, awaiting
/// `yield_now` that often. Returns the count.
async fn spinner(spin: Duration, preempt: Duration) -> u64 {
    let deadline = Instant::now() + spin;
    if preempt.is_zero() {
        return common::spin_until(deadline);
    }
    let mut total = 0;
    loop {
        let slice_end = (Instant::now() + preempt).min(deadline);
        total += common::spin_until(slice_end);
        if Instant::now() >= deadline {
            return total;
        }
        switchyard::yield_now().await;
    }
}
