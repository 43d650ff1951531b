//! Spawning and joining: results, panics, handles, many Gs, many runtimes.

mod util;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mn_sched::{go, try_go, yield_now, Handle, JoinError, Runtime, SpawnError};
use util::{gettid, rt, run};

#[test]
fn hundred_thousand_gs_at_two_procs() {
    let n = 100_000u64;
    let sum = run(2, move || {
        // SAFETY: the Gs only compute.
        let hs: Vec<_> = (0..n).map(|i| unsafe { go(move || i) }).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, n * (n - 1) / 2);
}

/// Yielding Gs spawned on one P spread to the other: an idle P's M steals
/// them. (Each G keeps yielding until two threads were seen or 5 s passed,
/// so a slow thread wake-up on a loaded machine cannot make it flaky.)
#[test]
fn gs_run_on_more_than_one_thread() {
    let tids = run(2, || {
        let tids = Arc::new(Mutex::new(HashSet::new()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let hs: Vec<_> = (0..200)
            .map(|_| {
                let tids = tids.clone();
                // SAFETY: the std lock guard is dropped before each park.
                unsafe {
                    go(move || loop {
                        let seen = {
                            let mut t = tids.lock().unwrap();
                            t.insert(gettid());
                            t.len()
                        };
                        if seen >= 2 || std::time::Instant::now() > deadline {
                            break;
                        }
                        yield_now();
                    })
                }
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let n = tids.lock().unwrap().len();
        n
    });
    assert!(
        tids >= 2,
        "yielding Gs at 2 procs all ran on {tids} thread(s) for 5 s"
    );
}

#[test]
fn panic_is_an_err_through_the_join_handle() {
    let r = run(2, || {
        // SAFETY: no thread-local or lock held.
        let h = unsafe { go(|| -> u32 { panic!("boom in a G") }) };
        let e = h.join().unwrap_err();
        (e.is_panic(), e.panic_message().map(str::to_owned))
    });
    assert_eq!(r, (true, Some("boom in a G".to_owned())));
}

#[test]
fn panic_of_the_main_g_is_an_err_and_the_runtime_lives_on() {
    let rt = rt(1);
    // SAFETY: nothing held across parks.
    let e = unsafe { rt.block_on::<_, ()>(|| panic!("main boom")) }.unwrap_err();
    assert!(matches!(e, JoinError::Panicked(_)));
    // SAFETY: as above.
    assert_eq!(unsafe { rt.block_on(|| 7) }.unwrap(), 7);
}

#[test]
fn join_from_a_plain_thread_blocks_the_thread() {
    let rt = rt(2);
    let handle = rt.handle();
    let t = std::thread::spawn(move || {
        // SAFETY: the G only sleeps and computes.
        let h = unsafe {
            handle.spawn(|| {
                mn_sched::sleep(std::time::Duration::from_millis(20));
                5
            })
        }
        .unwrap();
        h.join().unwrap()
    });
    assert_eq!(t.join().unwrap(), 5);
}

#[test]
fn handles_spawn_from_many_threads() {
    let rt = rt(2);
    let count = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (h, count) = (rt.handle(), count.clone());
            std::thread::spawn(move || {
                let js: Vec<_> = (0..500)
                    .map(|_| {
                        let count = count.clone();
                        // SAFETY: the G only counts.
                        unsafe { h.spawn(move || count.fetch_add(1, Ordering::Relaxed)) }.unwrap()
                    })
                    .collect();
                js.into_iter().for_each(|j| {
                    j.join().unwrap();
                });
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(count.load(Ordering::Relaxed), 2000);
}

#[test]
fn detached_gs_still_run() {
    let count = run(2, || {
        let wg = mn_sched::WaitGroup::new();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            wg.add(1);
            let (wg, count) = (wg.clone(), count.clone());
            // SAFETY: nothing held across parks.
            drop(unsafe {
                go(move || {
                    count.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                })
            });
        }
        wg.wait();
        count.load(Ordering::Relaxed)
    });
    assert_eq!(count, 1000);
}

#[test]
fn go_outside_a_runtime_is_a_clear_error() {
    // SAFETY: the closure is never run.
    let e = unsafe { try_go(|| ()) }.unwrap_err();
    assert!(matches!(e, SpawnError::NoRuntime));
    assert!(e.to_string().contains("outside an mn runtime"), "{e}");
}

#[test]
fn handle_current_inside_and_outside() {
    assert!(Handle::current().is_none());
    assert!(run(1, || Handle::current().is_some()));
}

#[test]
fn several_runtimes_side_by_side() {
    let rts: Vec<Runtime> = (1..=3).map(rt).collect();
    let hs: Vec<_> = rts
        .iter()
        .map(|r| r.handle())
        .map(|h| {
            // SAFETY: the Gs only compute.
            unsafe { h.spawn(|| (0..1000u64).sum::<u64>()) }.unwrap()
        })
        .collect();
    for h in hs {
        assert_eq!(h.join().unwrap(), 499_500);
    }
}

#[test]
fn block_on_inside_its_own_runtime_panics_clearly() {
    let rt = Arc::new(rt(1));
    let inner = rt.clone();
    // SAFETY: nothing held across parks (both closures).
    let e = unsafe { rt.block_on(move || inner.block_on(|| ())) }.unwrap_err();
    assert!(
        e.panic_message()
            .unwrap_or_default()
            .contains("inside the same runtime"),
        "{e}"
    );
}

#[test]
fn bad_config_is_a_clear_error() {
    let e = Runtime::builder().procs(0).build().unwrap_err();
    assert!(e.to_string().contains("RUNTIME_MAXPROCS"), "{e}");
    let e = Runtime::builder().stack_size(1024).build().unwrap_err();
    assert!(e.to_string().contains("RUNTIME_STACK_SIZE"), "{e}");
}
