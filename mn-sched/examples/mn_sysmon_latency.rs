//! Handoff latency of mn-sched's syscall support (sysmon's handoff): how long a G
//! queued on a P waits once the G running there enters a blocking call.
//!
//! Two Ps; P0 is kept busy by a computing G (no runtime call for the whole
//! run), so no idle M can steal the queued G: only a handoff runs it. On
//! the other P a G records a start time, spawns a G (queued on its P) and
//! blocks 5 ms in `syscall` (lazy: sysmon retakes the P after one tick) or
//! `syscall_blocking` (eager: the P is handed off at once). The figure is
//! the time from the start mark to the queued G's first instruction.
//!
//! Last, ten Gs each in `syscall(|| nanosleep(1 s))` at 2 Ps: wall time and
//! the most OS threads of the process seen (`/proc/self/status`).
//!
//! Run: `cargo run --release -p switchyard-mn --example mn_sysmon_latency [-- rounds]`.
//! Targets: lazy ≤ 2 ms at p99 (Go: ~7 ms at p50), eager ≤ 100 µs at p99;
//! ten 1 s syscalls ≤ 1.05 s on ≤ 13 threads (Go: 1.00 s on 13).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mn_sched::{go, syscall, syscall_blocking, Runtime};
// The percentiles the examples share (test-support, a dev-dependency).
use test_support::hist::Hist;

fn nanosleep(d: Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: a valid timespec; a null remainder is allowed.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// `rounds` handoff latencies, lazy or eager.
fn measure(rounds: usize, eager: bool) -> Vec<Duration> {
    let rt = Runtime::builder().procs(2).build().unwrap();
    // SAFETY: the Gs hold no thread-local reference or std guard across a park.
    unsafe {
        rt.block_on(move || {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            // The busy P: computes until told to stop, no runtime call.
            let busy = go(move || {
                while !s.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
            let out = Arc::new(Mutex::new(Vec::with_capacity(rounds)));
            for _ in 0..rounds {
                let out = out.clone();
                let g = go(move || {
                    let t0 = Instant::now();
                    let queued = go(move || out.lock().unwrap().push(t0.elapsed()));
                    let d = Duration::from_millis(5);
                    if eager {
                        syscall_blocking(|| nanosleep(d));
                    } else {
                        syscall(|| nanosleep(d));
                    }
                    queued
                });
                g.join().unwrap().join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            busy.join().unwrap();
            let v = std::mem::take(&mut *out.lock().unwrap());
            v
        })
    }
    .unwrap()
}

/// Threads of this process now.
fn threads_now() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Ten 1 s `syscall`s at 2 Ps: wall time and peak process threads.
fn ten_syscalls() -> (Duration, usize) {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(threads_now());
                std::thread::sleep(Duration::from_millis(1));
            }
            max
        })
    };
    let t0 = Instant::now();
    // SAFETY: the Gs hold nothing across a park.
    unsafe {
        rt.block_on(|| {
            let hs: Vec<_> = (0..10)
                .map(|_| go(|| syscall(|| nanosleep(Duration::from_secs(1)))))
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    }
    .unwrap();
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    // The sampler thread itself is one of the threads seen.
    (wall, sampler.join().unwrap() - 1)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    for (name, eager) in [("lazy syscall", false), ("eager syscall_blocking", true)] {
        let mut h = Hist::new();
        for d in measure(rounds, eager) {
            h.record_duration(d);
        }
        println!(
            "{name}: queued G ran after p50 {:?}, p99 {:?}, max {:?} ({} rounds)",
            h.pct_duration(50.0),
            h.pct_duration(99.0),
            h.pct_duration(100.0),
            h.len()
        );
    }
    let (wall, threads) = ten_syscalls();
    println!("ten syscall(nanosleep(1 s)) at 2 Ps: {wall:?} wall, at most {threads} threads (main, sysmon and Ms; sampler excluded)");
}
