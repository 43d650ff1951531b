//! Mutex, WaitGroup, and the park/unpark primitive.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mn_sched::{current_waker, go, park, park_until, yield_now, Mutex, WaitGroup};
use util::run;

#[test]
fn mutex_excludes_across_parks() {
    let (count, max_inside) = run(4, || {
        let m = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..16)
            .map(|_| {
                let (m, inside, max_inside) = (m.clone(), inside.clone(), max_inside.clone());
                // SAFETY: the guard held across yields is an mn Mutex guard.
                unsafe {
                    go(move || {
                        for _ in 0..200 {
                            let mut g = m.lock();
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            max_inside.fetch_max(now, Ordering::SeqCst);
                            yield_now(); // park while holding the lock
                            *g += 1;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    })
                }
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let n = *m.lock();
        (n, max_inside.load(Ordering::SeqCst))
    });
    assert_eq!(count, 16 * 200);
    assert_eq!(max_inside, 1, "two Gs held the Mutex at once");
}

#[test]
fn mutex_try_lock_and_into_inner() {
    let m = Mutex::new(vec![1]);
    let g = m.lock();
    assert!(m.try_lock().is_none());
    drop(g);
    m.try_lock().unwrap().push(2);
    assert_eq!(m.into_inner(), vec![1, 2]);
}

#[test]
fn waitgroup_waits_for_every_done() {
    let (done, seen) = run(2, || {
        let wg = WaitGroup::new();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..500 {
            wg.add(1);
            let (wg, done) = (wg.clone(), done.clone());
            // SAFETY: nothing held across parks.
            unsafe {
                go(move || {
                    mn_sched::sleep(Duration::from_micros(100));
                    done.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                })
            };
        }
        wg.wait();
        (done.load(Ordering::SeqCst), wg.count())
    });
    assert_eq!((done, seen), (500, 0));
}

#[test]
#[should_panic(expected = "more times than add")]
fn waitgroup_done_without_add_panics() {
    WaitGroup::new().done();
}

#[test]
fn wake_before_park_is_not_lost() {
    run(2, || {
        let w = current_waker();
        w.wake_by_ref(); // a wake while running...
        park(); // ...makes the next park return at once
        let flag = Arc::new(AtomicBool::new(false));
        let (f2, w2) = (flag.clone(), current_waker());
        // SAFETY: nothing held across parks.
        unsafe {
            go(move || {
                f2.store(true, Ordering::Release);
                w2.wake();
            })
        };
        while !flag.load(Ordering::Acquire) {
            park();
        }
    });
}

#[test]
fn waking_a_runnable_g_is_harmless() {
    run(2, || {
        let w = current_waker();
        for _ in 0..1000 {
            w.wake_by_ref();
            yield_now();
        }
    });
}

#[test]
fn park_until_returns_at_the_deadline() {
    run(1, || {
        let t = Instant::now();
        let deadline = t + Duration::from_millis(20);
        while Instant::now() < deadline {
            park_until(deadline);
        }
        let late = t.elapsed();
        assert!(
            late < Duration::from_secs(5),
            "woke {late:?} after a 20 ms deadline"
        );
    });
}

#[test]
fn sleepers_wake_in_deadline_order() {
    let order = run(2, || {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = [50u64, 10, 30, 20, 40]
            .into_iter()
            .map(|ms| {
                let log = log.clone();
                // SAFETY: the std guard is taken after the park, not across it.
                unsafe {
                    go(move || {
                        mn_sched::sleep(Duration::from_millis(ms * 4));
                        log.lock().unwrap().push(ms);
                    })
                }
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let v = log.lock().unwrap().clone();
        v
    });
    assert_eq!(order, vec![10, 20, 30, 40, 50]);
}

#[test]
fn sleep_is_not_starved_by_yielding_gs_at_one_proc() {
    run(1, || {
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                // SAFETY: nothing held across parks.
                unsafe {
                    go(move || {
                        while !stop.load(Ordering::Relaxed) {
                            yield_now();
                        }
                    })
                }
            })
            .collect();
        let t = Instant::now();
        mn_sched::sleep(Duration::from_millis(10));
        stop.store(true, Ordering::Relaxed);
        spinners.into_iter().for_each(|h| h.join().unwrap());
        assert!(t.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn primitives_work_on_plain_threads() {
    let m = Arc::new(Mutex::new(0));
    let wg = WaitGroup::new();
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let (m, wg) = (m.clone(), wg.clone());
            wg.add(1);
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    *m.lock() += 1;
                }
                wg.done();
            })
        })
        .collect();
    wg.wait();
    ts.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(*m.lock(), 4000);
}
