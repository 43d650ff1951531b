//! The thread budget: Ms never exceed max_threads (the work waits, a warning
//! is printed once), and ordinary work needs no more Ms than Ps.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mn_sched::{go, lock_os_thread, yield_now, Runtime};
use util::{is_child, run_child_ok};

/// Runs a busy workload at 4 Ps; returns the most Ms seen alive and the
/// number of Gs that completed.
fn busy_workload(rt: &Runtime) -> (usize, usize) {
    let handle = rt.handle();
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (handle, stop) = (handle.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(handle.stats().threads);
                std::thread::sleep(Duration::from_micros(200));
            }
            max
        })
    };
    let d = done.clone();
    // SAFETY: nothing held across parks.
    unsafe {
        rt.block_on(move || {
            let hs: Vec<_> = (0..400)
                .map(|i| {
                    let d = d.clone();
                    go(move || {
                        for _ in 0..20 {
                            yield_now();
                        }
                        if i % 7 == 0 {
                            mn_sched::sleep(Duration::from_millis(1));
                        }
                        d.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    }
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let max = sampler.join().unwrap().max(rt.stats().threads);
    (max, done.load(Ordering::Relaxed))
}

#[test]
fn ms_never_exceed_max_threads_and_the_work_still_completes() {
    if is_child("cap") {
        let rt = Runtime::builder().procs(4).max_threads(2).build().unwrap();
        let (max, done) = busy_workload(&rt);
        println!("CHILD max={max} done={done}");
        return;
    }
    let (stdout, stderr) = run_child_ok(
        "ms_never_exceed_max_threads_and_the_work_still_completes",
        "cap",
    );
    assert!(stdout.contains("done=400"), "{stdout}");
    let max: usize = stdout
        .split("CHILD max=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max <= 2, "{max} Ms alive with max_threads = 2");
    assert!(
        stderr
            .matches("reached max_threads (RUNTIME_MAXTHREADS) = 2")
            .count()
            <= 1,
        "{stderr}"
    );
}

#[test]
fn the_cap_warning_is_printed_once() {
    if is_child("warn") {
        // 2 Ps, 1 thread: the second P can never get an M.
        let rt = Runtime::builder().procs(2).max_threads(1).build().unwrap();
        let (max, done) = busy_workload(&rt);
        println!("CHILD max={max} done={done}");
        return;
    }
    let (stdout, stderr) = run_child_ok("the_cap_warning_is_printed_once", "warn");
    assert!(stdout.contains("CHILD max=1 done=400"), "{stdout}");
    assert_eq!(
        stderr
            .matches("reached max_threads (RUNTIME_MAXTHREADS) = 1")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn ordinary_work_needs_no_more_ms_than_ps() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let (max, done) = busy_workload(&rt);
    assert_eq!(done, 400);
    assert!(max <= 2, "{max} Ms for 2 Ps");
}

#[test]
fn locked_gs_take_threads_within_the_cap() {
    let rt = Runtime::builder().procs(1).max_threads(3).build().unwrap();
    // SAFETY: nothing held across parks.
    let results = unsafe {
        rt.block_on(|| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    go(|| {
                        let r = lock_os_thread().is_ok();
                        mn_sched::sleep(Duration::from_millis(30));
                        if r {
                            mn_sched::unlock_os_thread();
                        }
                        r
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|&ok| ok)
                .count()
        })
    }
    .unwrap();
    // 1 P needs 1 M; 3 threads leave room for 2 locked Gs at a time.
    assert!(
        (1..=2).contains(&results),
        "{results} Gs locked at once under a cap of 3"
    );
    assert!(rt.stats().threads <= 3);
}
