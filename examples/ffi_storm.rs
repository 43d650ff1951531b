//! ffi_storm: N tasks each in a blocking C call (seed tasks 9 and 10: a cgo
//! storm makes Go's threads climb to ~100; a semaphore of 8 keeps them ~15).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example ffi_storm -- [--n 100] [--sleep 2s] [--limit 8]
//! ```
//!
//! Each task calls libc `sleep` through FFI (a foreign function the runtime
//! cannot see into) inside `switchyard::syscall`. For a `--sleep` that is not
//! a whole number of seconds, libc `usleep` is called instead (`call=usleep`
//! in the result). `--limit L` makes each task first take a permit of a
//! `switchyard::sync::Semaphore` of L, so at most L calls are in flight.
//! * single: every call blocks the loop; the calls run one after another
//!   (wall ≈ N × sleep) on 1 thread, with or without a limit.
//! * mn: each blocked call holds a thread while sysmon hands its P on: the
//!   threads climb towards N; with `--limit L` they stay at most L + Ps + a
//!   few (sysmon, the main thread).
//!
//! Result keys: `n`, `sleep_ms`, `call` (sleep|usleep), `limit` (0 = none),
//! `serial_ms`, and `thread_bound` (L + procs + 3, with a limit).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Flags, Here, Report, Sampler};
use switchyard::sync::Semaphore;

const USAGE: &str = "usage: ffi_storm [--n N] [--sleep DUR] [--limit L]
  --n N         tasks, each making one blocking C call (default 100)
  --sleep DUR   length of each call (default 2s; libc sleep for whole seconds, else usleep)
  --limit L     at most L calls at once, through a Semaphore (default: no limit)";

fn main() {
    let mut f = Flags::parse("ffi_storm", USAGE);
    let n: usize = f.value("--n", 100);
    let sleep = f.duration("--sleep", Duration::from_secs(2));
    let limit: usize = f.value("--limit", 0);
    f.finish();

    let sampler = Sampler::start();
    let (here, wall) = common::run_main(switchyard::Builder::new(), async move {
        let here = Here::now();
        let t0 = Instant::now();
        storm(n, sleep, limit).await;
        (here, t0.elapsed())
    });
    let samples = sampler.finish();

    let call = if sleep.subsec_nanos() == 0 {
        "sleep"
    } else {
        "usleep"
    };
    let serial = sleep * n as u32;
    println!(
        "ffi_storm: {n} tasks each in libc {call}({sleep:?}) through FFI, {}, mode={}",
        if limit > 0 {
            format!("at most {limit} at once (Semaphore)")
        } else {
            "no limit".to_string()
        },
        here.mode
    );
    println!(
        "  done after {:.0} ms (one after another: {:.0} ms); up to {} OS thread(s)",
        wall.as_secs_f64() * 1e3,
        serial.as_secs_f64() * 1e3,
        samples.peak()
    );
    let mut r = Report::new("ffi_storm", here);
    r.kv("n", n)
        .num("sleep_ms", sleep.as_secs_f64() * 1e3)
        .kv("call", call)
        .kv("limit", limit)
        .num("serial_ms", serial.as_secs_f64() * 1e3);
    if limit > 0 {
        r.kv("thread_bound", limit + here.procs + 3);
    }
    r.finish(wall, &samples);
}

/// Spawns the N tasks, each making one blocking C call (after taking a
/// permit when limited); waits for all.
async fn storm(n: usize, sleep: Duration, limit: usize) {
    let sem = (limit > 0).then(|| Arc::new(Semaphore::new(limit)));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let sem = sem.clone();
            switchyard::spawn(async move {
                let _permit = match &sem {
                    Some(s) => Some(s.acquire().await.expect("semaphore open")),
                    None => None,
                };
                switchyard::syscall(|| c_sleep(sleep));
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("caller task");
    }
}

/// Blocks the calling thread in the C library: `sleep(3)` for whole seconds,
/// `usleep(3)` otherwise.
fn c_sleep(d: Duration) {
    if d.subsec_nanos() == 0 {
        let mut left = d.as_secs().min(u32::MAX as u64) as libc::c_uint;
        while left > 0 {
            // SAFETY: sleep(3) has no preconditions; it returns the seconds
            // left when a signal interrupted it.
            left = unsafe { libc::sleep(left) };
        }
    } else {
        let us = d.as_micros().min(libc::useconds_t::MAX as u128) as libc::useconds_t;
        // SAFETY: usleep(3) has no preconditions.
        unsafe { libc::usleep(us) };
    }
}
