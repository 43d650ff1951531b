//! `Builder::on_thread_start` / `on_thread_stop`: called on every thread the
//! runtime starts (mn's Ms, the blocking pool), on that thread, before it
//! runs anything — so per-thread context set there (another runtime
//! entered, a thread-local) is seen by every task and blocking job.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard::{spawn, spawn_blocking, Builder, Mode};

thread_local! {
    /// Set by the start hook: "this thread was prepared".
    static PREPARED: Cell<bool> = const { Cell::new(false) };
}

fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

struct Seen {
    starts: AtomicUsize,
    stops: AtomicUsize,
    threads: Mutex<HashSet<i64>>,
}

fn builder(mode: Mode, procs: usize, seen: &Arc<Seen>) -> Builder {
    let (a, b) = (seen.clone(), seen.clone());
    Builder::new()
        .ignore_env()
        .mode(mode)
        .procs(procs)
        .on_thread_start(move || {
            PREPARED.with(|p| p.set(true));
            a.threads.lock().unwrap().insert(gettid());
            a.starts.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            b.stops.fetch_add(1, Ordering::SeqCst);
        })
}

fn seen() -> Arc<Seen> {
    Arc::new(Seen {
        starts: AtomicUsize::new(0),
        stops: AtomicUsize::new(0),
        threads: Mutex::new(HashSet::new()),
    })
}

#[test]
fn mn_tasks_run_only_on_threads_the_hook_prepared() {
    let seen = seen();
    let rt = builder(Mode::Mn, 2, &seen).build().unwrap();
    let unprepared = rt.block_on(async {
        let hs: Vec<_> = (0..200)
            .map(|i| {
                spawn(async move {
                    let mut bad = 0;
                    for _ in 0..5 {
                        if !PREPARED.with(Cell::get) {
                            bad += 1;
                        }
                        if i % 2 == 0 {
                            switchyard::yield_now().await;
                        } else {
                            switchyard::time::sleep(Duration::from_micros(200)).await;
                        }
                    }
                    bad
                })
            })
            .collect();
        let mut bad = 0;
        for h in hs {
            bad += h.await.unwrap();
        }
        bad
    });
    assert_eq!(unprepared, 0, "a task ran on a thread the hook never saw");
    drop(rt);
    let (starts, stops) = (
        seen.starts.load(Ordering::SeqCst),
        seen.stops.load(Ordering::SeqCst),
    );
    assert!(starts >= 2, "two Ps need two Ms: {starts} starts");
    assert_eq!(starts, stops, "every thread started was stopped");
    assert_eq!(seen.threads.lock().unwrap().len(), starts);
}

#[test]
fn the_blocking_pool_calls_the_hooks_in_both_modes() {
    for (mode, procs) in [(Mode::Single, 1), (Mode::Mn, 1)] {
        let seen = seen();
        let rt = builder(mode, procs, &seen).build().unwrap();
        let prepared =
            rt.block_on(async { spawn_blocking(|| PREPARED.with(Cell::get)).await.unwrap() });
        assert!(
            prepared,
            "{mode:?}: a blocking job ran on an unprepared thread"
        );
        drop(rt);
        let starts = seen.starts.load(Ordering::SeqCst);
        assert!(starts >= 1, "{mode:?}: {starts} starts");
        if mode == Mode::Single {
            // Only the pool's thread: the loop runs on the caller's.
            assert_eq!(starts, 1, "single: the pool thread only");
            assert!(
                !PREPARED.with(Cell::get),
                "the caller's thread is not the runtime's"
            );
        }
    }
}

#[test]
fn a_panicking_hook_is_reported_and_the_runtime_goes_on() {
    let rt = Builder::new()
        .ignore_env()
        .mode(Mode::Mn)
        .procs(2)
        .on_thread_start(|| panic!("hook trouble"))
        .build()
        .unwrap();
    let v = rt.block_on(async {
        let a = spawn(async { 1 });
        let b = spawn_blocking(|| 2);
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(v, 3);
}
