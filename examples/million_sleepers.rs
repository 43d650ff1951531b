//! million_sleepers: N tasks each sleeping D (seed 002: a million goroutines
//! vs a million OS threads): wall time, peak RSS and bytes per live task.
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example million_sleepers -- [--n 1000000] [--sleep 1s]
//! RUNTIME_MODE=single cargo run --release --example million_sleepers -- --threads [--n 10000]
//! RUNTIME_MODE=mn     cargo run --release --example million_sleepers -- --style go
//! ```
//!
//! Styles:
//! * `async` (default) — `switchyard::spawn` + `time::sleep`, a `WaitGroup`
//!   to wait for all, as the seed's Go program does.
//! * `threads` (or `--threads`) — one `std::thread` per sleeper (N defaults
//!   to 10,000: `kernel.pid_max` here is 32,768), started inside `syscall`.
//! * `go` — blocking-style Gs (`switchyard::mn::go` + `mn::sleep`, an
//!   `mn::WaitGroup`): mn only; in single mode it says so and exits 2.
//!
//! A live-task counter (one atomic add and sub per task) gives the peak number
//! alive at once; `bytes_per_task` = (peak RSS − RSS before spawning) / that
//! peak. Result keys: `style`, `n`, `sleep_ms`, `spawn_ms`, `peak_alive`,
//! `base_rss_kb`, `bytes_per_task`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{configured_mode, refuse, Flags, Here, Report, Sampler};
use switchyard::sync::WaitGroup;
use switchyard::Mode;

const USAGE: &str =
    "usage: million_sleepers [--n N] [--sleep DUR] [--style async|threads|go] [--threads]
  --n N          sleepers (default 1000000; 10000 with threads)
  --sleep DUR    how long each sleeps (default 1s)
  --style S      async (tasks, default), threads (std::thread), go (blocking-style Gs, mn only)
  --threads      same as --style threads";

/// What runs each sleeper.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A spawned future awaiting `time::sleep`.
    Async,
    /// An OS thread in `std::thread::sleep`.
    Threads,
    /// A blocking-style G in `mn::sleep` (mn only).
    Go,
}

fn main() {
    let mut f = Flags::parse("million_sleepers", USAGE);
    let threads_flag = f.flag("--threads");
    let style = match f.text("--style").as_deref() {
        None if threads_flag => Style::Threads,
        None | Some("async") => Style::Async,
        Some("threads") => Style::Threads,
        Some("go") => {
            refuse_go_in_single();
            Style::Go
        }
        Some(other) => f.fail(&format!("--style {other:?}: expected async, threads or go")),
    };
    let default_n = if style == Style::Threads {
        10_000
    } else {
        1_000_000
    };
    let n: usize = f.value("--n", default_n);
    let sleep = f.duration("--sleep", Duration::from_secs(1));
    f.finish();

    let sampler = Sampler::start();
    let base_rss_kb = switchyard::os::rss_kb();
    let (here, spawn_phase, peak_alive, wall) =
        common::run_main(switchyard::Builder::new(), async move {
            let here = Here::now();
            let t0 = Instant::now();
            let (spawned, peak) = match style {
                Style::Async => sleep_tasks(n, sleep).await,
                Style::Threads => switchyard::syscall(|| sleep_threads(n, sleep)),
                Style::Go => sleep_gs(n, sleep),
            };
            (here, spawned, peak, t0.elapsed())
        });
    let samples = sampler.finish();

    let peak_rss_kb = switchyard::os::peak_rss_kb();
    let grown = peak_rss_kb.saturating_sub(base_rss_kb) * 1024;
    let per_task = grown as f64 / peak_alive.max(1) as f64;
    let what = if style == Style::Threads {
        "OS threads"
    } else {
        "tasks"
    };
    println!(
        "million_sleepers: {n} {what} each sleeping {sleep:?}, mode={}",
        here.mode
    );
    println!(
        "  spawned in {:.0} ms; done after {:.0} ms; at most {peak_alive} alive at once",
        spawn_phase.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3
    );
    println!(
        "  RSS grew by {} KiB: {per_task:.0} bytes per live {}",
        grown / 1024,
        if style == Style::Threads {
            "thread (user space only)"
        } else {
            "task"
        }
    );
    let mut r = Report::new("million_sleepers", here);
    r.kv(
        "style",
        match style {
            Style::Async => "async",
            Style::Threads => "threads",
            Style::Go => "go",
        },
    )
    .kv("n", n)
    .num("sleep_ms", sleep.as_secs_f64() * 1e3)
    .num("spawn_ms", spawn_phase.as_secs_f64() * 1e3)
    .kv("peak_alive", peak_alive)
    .kv("base_rss_kb", base_rss_kb)
    .num("bytes_per_task", per_task);
    r.finish(wall, &samples);
}

/// `--style go`: blocking-style Gs exist only in mn.
fn refuse_go_in_single() {
    if configured_mode() == Mode::Single {
        refuse(
            "million_sleepers",
            "--style go runs blocking-style Gs (switchyard::mn::go), which only \
             RUNTIME_MODE=mn has; in single mode use --style async (the default)",
        )
    }
}

/// The same with blocking-style Gs: one driver G spawns `n` Gs that each
/// sleep in `mn::sleep`, then waits on an `mn::WaitGroup`; the main thread
/// (which polls the main future, not a G) waits for the driver.
fn sleep_gs(n: usize, sleep: Duration) -> (Duration, usize) {
    use switchyard::mn;
    let handle = mn::Handle::current().expect("--style go runs inside an mn runtime");
    let driver = move || {
        let alive = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(mn::WaitGroup::new());
        wg.add(n);
        let t = Instant::now();
        let mut peak = 0;
        for _ in 0..n {
            peak = peak.max(alive.fetch_add(1, Ordering::Relaxed) + 1);
            let (alive, wg) = (alive.clone(), wg.clone());
            // SAFETY: the G holds no thread-local reference or std lock
            // guard across its park (it only sleeps, then touches atomics).
            drop(unsafe {
                mn::go(move || {
                    mn::sleep(sleep);
                    alive.fetch_sub(1, Ordering::Relaxed);
                    wg.done();
                })
            });
        }
        let spawned = t.elapsed();
        wg.wait();
        (spawned, peak)
    };
    // SAFETY: the driver G holds no thread-local reference or std lock guard
    // across a park (its state is local: atomics, an Arc'd WaitGroup).
    let g = unsafe { handle.spawn(driver) }.expect("spawning the driver G");
    g.join().expect("the driver G")
}

/// Spawns `n` sleeping tasks, then waits for all; returns the spawn phase's
/// length and the most alive at once.
async fn sleep_tasks(n: usize, sleep: Duration) -> (Duration, usize) {
    let alive = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    wg.add(n);
    let t = Instant::now();
    let mut peak = 0;
    for _ in 0..n {
        peak = peak.max(alive.fetch_add(1, Ordering::Relaxed) + 1);
        let (alive, wg) = (alive.clone(), wg.clone());
        switchyard::spawn(async move {
            switchyard::time::sleep(sleep).await;
            alive.fetch_sub(1, Ordering::Relaxed);
            wg.done();
        });
    }
    let spawned = t.elapsed();
    wg.wait().await;
    (spawned, peak)
}

/// The same with one OS thread per sleeper.
fn sleep_threads(n: usize, sleep: Duration) -> (Duration, usize) {
    let alive = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut peak = 0;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            peak = peak.max(alive.fetch_add(1, Ordering::Relaxed) + 1);
            let alive = alive.clone();
            std::thread::spawn(move || {
                std::thread::sleep(sleep);
                alive.fetch_sub(1, Ordering::Relaxed);
            })
        })
        .collect();
    let spawned = t.elapsed();
    for h in handles {
        h.join().expect("sleeper thread");
    }
    (spawned, peak)
}
