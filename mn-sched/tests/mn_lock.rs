//! lock_os_thread: pinning, thread end on locked exit, the thread budget.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mn_sched::{go, lock_os_thread, unlock_os_thread, yield_now, Runtime};
use util::{gettid, run};

#[test]
fn locked_g_keeps_its_thread_across_1000_yields_while_others_run() {
    let (same, others_ran, others_tids) = run(2, || {
        let stop = Arc::new(AtomicBool::new(false));
        let others: Vec<_> = (0..4)
            .map(|_| {
                let stop = stop.clone();
                // SAFETY: nothing held across parks.
                unsafe {
                    go(move || {
                        let mut n = 0u64;
                        let mut tids = std::collections::HashSet::new();
                        while !stop.load(Ordering::Relaxed) {
                            tids.insert(gettid());
                            n += 1;
                            yield_now();
                        }
                        (n, tids)
                    })
                }
            })
            .collect();
        // SAFETY: gettid is read fresh after each yield; nothing is held.
        let locked = unsafe {
            go(|| {
                lock_os_thread().unwrap();
                let tid = gettid();
                let same = (0..1000).all(|_| {
                    yield_now();
                    gettid() == tid
                });
                unlock_os_thread();
                (same, tid)
            })
        };
        let (same, tid) = locked.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        let mut ran = 0;
        let mut shared_thread = false;
        for h in others {
            let (n, tids) = h.join().unwrap();
            ran += n;
            shared_thread |= tids.contains(&tid);
        }
        (same, ran, shared_thread)
    });
    assert!(same, "a locked G changed thread");
    assert!(others_ran > 0, "other Gs did not run meanwhile");
    assert!(
        !others_tids,
        "another G ran on the locked thread while it was locked"
    );
}

#[test]
fn locked_g_parks_and_comes_back_on_its_thread() {
    let same = run(2, || {
        let (tx, rx) = mn_sched::chan::rendezvous::<()>();
        // SAFETY: nothing held across parks.
        let h = unsafe {
            go(move || {
                lock_os_thread().unwrap();
                let tid = gettid();
                let same = (0..50).all(|_| {
                    rx.recv().unwrap();
                    gettid() == tid
                });
                unlock_os_thread();
                same
            })
        };
        for _ in 0..50 {
            tx.send(()).unwrap();
        }
        h.join().unwrap()
    });
    assert!(same);
}

#[test]
fn exiting_locked_ends_the_thread() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    // SAFETY: nothing held across parks.
    let tid = unsafe {
        rt.block_on(|| {
            let h = go(|| {
                lock_os_thread().unwrap();
                gettid()
            });
            h.join().unwrap()
        })
    }
    .unwrap();
    // The locked G's thread ends once it exits: its tid disappears.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/self/task/{tid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "thread {tid} still alive"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn lock_os_thread_fails_clearly_when_no_thread_can_be_had() {
    let rt = Runtime::builder().procs(1).max_threads(2).build().unwrap();
    // SAFETY: nothing held across parks.
    let r = unsafe {
        rt.block_on(|| {
            lock_os_thread().expect("1 P + 1 locked fits in 2 threads");
            // SAFETY: as above.
            let second = go(|| lock_os_thread().map_err(|e| e.to_string()))
                .join()
                .unwrap();
            unlock_os_thread();
            second
        })
    }
    .unwrap();
    let e = r.unwrap_err();
    assert!(e.contains("RUNTIME_MAXTHREADS"), "{e}");
}
