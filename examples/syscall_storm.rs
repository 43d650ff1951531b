//! syscall_storm: N tasks each in a blocking `nanosleep(D)` (seed 000: "can
//! the Go runtime behave like the JavaScript event loop?").
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example syscall_storm -- [--n 10] [--sleep 1s]
//! RUNTIME_MODE=mn     cargo run --release --example syscall_storm -- --max-threads 4
//! ```
//!
//! Each task calls libc `nanosleep` — a real blocking system call, not a
//! runtime sleep — inside `switchyard::syscall` (or `syscall_blocking` with
//! `--call syscall_blocking`). What happens is the mode's business:
//! * single: the call runs on the loop thread and blocks everything, as in
//!   JavaScript; the sleeps run one after another: wall ≈ N × D, 1 thread.
//! * mn: sysmon hands the P of a thread stuck in the call to another thread,
//!   so the sleeps overlap: wall ≈ D, about N + Ps threads — unless
//!   `--max-threads` (= `RUNTIME_MAXTHREADS`) caps them, which is the point
//!   of that flag: the calls then queue for a thread.
//!
//! OS threads are sampled every 10 ms; `--samples FILE` writes them as
//! `t_ms,threads` lines (time since the first spawn) for `compare`'s chart.
//! Result keys: `n`, `sleep_ms`, `call`, `max_threads`, `serial_ms` (N × D),
//! `wall_over_sleep` (wall / D: about N when serial, about 1 when parallel).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Flags, Here, Report, Sampler};
use switchyard::Mode;

const USAGE: &str = "usage: syscall_storm [--n N] [--sleep DUR] [--max-threads M] [--call syscall|syscall_blocking] [--samples FILE]
  --n N            tasks, each making one blocking nanosleep (default 10)
  --sleep DUR      length of each nanosleep (default 1s)
  --max-threads M  cap on the runtime's OS threads (RUNTIME_MAXTHREADS; mn)
  --call C         wrap each call in switchyard::syscall (default) or syscall_blocking
  --samples FILE   write the thread samples as t_ms,threads lines";

fn main() {
    let mut f = Flags::parse("syscall_storm", USAGE);
    let n: usize = f.value("--n", 10);
    let sleep = f.duration("--sleep", Duration::from_secs(1));
    let max_threads: Option<usize> = f.text("--max-threads").map(|v| {
        v.parse()
            .unwrap_or_else(|_| f.fail(&format!("--max-threads {v:?}: expected a number")))
    });
    let blocking = match f.text("--call").as_deref() {
        None | Some("syscall") => false,
        Some("syscall_blocking") => true,
        Some(o) => f.fail(&format!(
            "--call {o:?}: expected syscall or syscall_blocking"
        )),
    };
    let samples_path: Option<PathBuf> = f.text("--samples").map(PathBuf::from);
    f.finish();

    let mut builder = switchyard::Builder::new();
    if let Some(m) = max_threads {
        builder = builder.max_threads(m);
    }
    let sampler = Sampler::start();
    let (here, t0, wall) = common::run_main(builder, async move {
        let here = Here::now();
        let t0 = Instant::now();
        storm(n, sleep, blocking).await;
        (here, t0, t0.elapsed())
    });
    let samples = sampler.finish();
    if let Some(p) = &samples_path {
        if let Err(e) = samples.write_csv(p, t0) {
            eprintln!("syscall_storm: writing {}: {e}", p.display());
        }
    }

    let call = if blocking {
        "syscall_blocking"
    } else {
        "syscall"
    };
    let serial = sleep * n as u32;
    println!(
        "syscall_storm: {n} tasks each in a blocking nanosleep({sleep:?}) through switchyard::{call}, mode={}",
        here.mode
    );
    println!(
        "  done after {:.0} ms (the sleeps one after another would take {:.0} ms)",
        wall.as_secs_f64() * 1e3,
        serial.as_secs_f64() * 1e3
    );
    if here.mode == Mode::Single {
        println!(
            "  single mode: each call blocked the one loop thread, as in JavaScript{}",
            if max_threads.is_some() {
                "; --max-threads had nothing to cap (no thread is ever started for a syscall)"
            } else {
                ""
            }
        );
    }
    let mut r = Report::new("syscall_storm", here);
    r.kv("n", n)
        .num("sleep_ms", sleep.as_secs_f64() * 1e3)
        .kv("call", call)
        .kv(
            "max_threads",
            max_threads.map_or("default".to_string(), |m| m.to_string()),
        )
        .num("serial_ms", serial.as_secs_f64() * 1e3)
        .num("wall_over_sleep", wall.as_secs_f64() / sleep.as_secs_f64());
    r.finish(wall, &samples);
}

/// Spawns the N blocking tasks and waits for all of them.
async fn storm(n: usize, sleep: Duration, blocking: bool) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            switchyard::spawn(async move {
                if blocking {
                    switchyard::syscall_blocking(|| common::nanosleep(sleep));
                } else {
                    switchyard::syscall(|| common::nanosleep(sleep));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("sleeper task");
    }
}
