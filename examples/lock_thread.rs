//! lock_thread: a task pinned to its OS thread stays there across yields
//! while other tasks run (seed task 11: `LockOSThread` and `gettid`).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example lock_thread -- [--yields 100] [--others 8] [--no-lock]
//! ```
//!
//! The pinned task reads `gettid()`, then yields `--yields` times; after each
//! yield it reads `gettid()` again and counts a drift if it changed. Beside
//! it, `--others` tasks keep yielding and record the threads they ran on.
//! * single: there is one thread; every task runs on it, so nothing needs
//!   locking and the check passes trivially — it is made anyway.
//! * mn: the pinned task is a spawned task (a G) that calls
//!   `switchyard::mn::lock_os_thread` first; other tasks move between
//!   threads, the pinned one must not. With `--no-lock` it may drift.
//!   Try `RUNTIME_MODE=mn RUNTIME_MAXPROCS=4`.
//!
//! A drift while locked (or in single mode) is a bug: the example prints
//! its result line and then fails loudly with exit status 1. With
//! `--no-lock` drifts are reported, not failed. Result keys: `yields`,
//! `others`, `lock` (yes|no|not_needed), `drifts`, `other_tids` (distinct
//! threads the other tasks ran on).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{gettid, Flags, Here, Report, Sampler};
use switchyard::Mode;

const USAGE: &str = "usage: lock_thread [--yields N] [--others K] [--no-lock]
  --yields N   yields of the pinned task, each followed by a gettid check (default 100)
  --others K   tasks yielding beside it (default 8)
  --no-lock    do not lock the task to its thread (mn): drifts are then allowed";

fn main() {
    let mut f = Flags::parse("lock_thread", USAGE);
    let yields: usize = f.value("--yields", 100);
    let others: usize = f.value("--others", 8);
    let no_lock = f.flag("--no-lock");
    f.finish();

    let sampler = Sampler::start();
    let (here, lock, drifts, other_tids, wall) =
        common::run_main(switchyard::Builder::new(), async move {
            let here = Here::now();
            let t0 = Instant::now();
            let lock = match (here.mode, no_lock) {
                (Mode::Single, _) => "not_needed",
                (Mode::Mn, true) => "no",
                (Mode::Mn, false) => "yes",
            };
            let (drifts, other_tids) = pinned_beside_others(yields, others, lock == "yes").await;
            (here, lock, drifts, other_tids, t0.elapsed())
        });
    let samples = sampler.finish();

    println!(
        "lock_thread: one task yielded {yields} times beside {others} others, mode={} (lock: {lock})",
        here.mode
    );
    println!(
        "  gettid changed {drifts} time(s); the other tasks ran on {other_tids} distinct thread(s)"
    );
    let mut r = Report::new("lock_thread", here);
    r.kv("yields", yields)
        .kv("others", others)
        .kv("lock", lock)
        .kv("drifts", drifts)
        .kv("other_tids", other_tids);
    r.finish(wall, &samples);
    if drifts > 0 && lock != "no" {
        eprintln!("lock_thread: drifted! the pinned task changed OS thread {drifts} time(s)");
        std::process::exit(1);
    }
}

/// Runs the pinned check beside `others` yielding tasks; returns the drifts
/// and the number of distinct threads the others ran on.
async fn pinned_beside_others(yields: usize, others: usize, lock: bool) -> (usize, usize) {
    let done = Arc::new(AtomicBool::new(false));
    let helpers: Vec<_> = (0..others)
        .map(|_| {
            let done = done.clone();
            switchyard::spawn(async move {
                let mut tids = HashSet::new();
                while !done.load(Ordering::Relaxed) {
                    tids.insert(gettid());
                    switchyard::yield_now().await;
                }
                tids
            })
        })
        .collect();
    // The pinned task is a task of its own (in mn a G, which can move between
    // Ms unless locked), never the main future (which stays on the thread
    // that called `run`).
    let pinned = switchyard::spawn(async move {
        if lock {
            switchyard::mn::lock_os_thread().expect("lock_os_thread: no thread for the G");
        }
        let tid = gettid();
        let mut drifts = 0;
        for _ in 0..yields {
            switchyard::yield_now().await;
            if gettid() != tid {
                drifts += 1;
            }
        }
        drifts
    });
    let drifts = pinned.await.expect("pinned task");
    done.store(true, Ordering::Relaxed);
    let mut all = HashSet::new();
    for h in helpers {
        all.extend(h.await.expect("helper task"));
    }
    (drifts, all.len())
}
