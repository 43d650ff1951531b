//! Shutdown: parked Gs are unwound at their park point (destructors run),
//! Gs that never started are cancelled, a G that never parks is detached
//! after the timeout, and a park while panicking stays on its thread.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mn_sched::{chan, go, try_go, JoinError, Mutex, Runtime, SpawnError};
use util::gettid;

/// Counts its drops.
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_runtime_unwinds_parked_gs() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (h_tx, h_rx) = mpsc::channel();
    {
        let rt = util::rt(2);
        let d = drops.clone();
        // SAFETY: the Gs hold only their own guards across parks.
        unsafe {
            rt.block_on(move || {
                let (tx, rx) = chan::rendezvous::<()>();
                for _ in 0..10 {
                    let (rx, d) = (rx.clone(), d.clone());
                    h_tx.send(go(move || {
                        let _g = Guard(d);
                        let _ = rx.recv(); // parked forever
                    }))
                    .unwrap();
                }
                std::mem::forget(tx); // the channel never closes
            })
        }
        .unwrap();
        mn_sched::sleep(Duration::from_millis(10));
    } // runtime dropped here
    assert_eq!(
        drops.load(Ordering::SeqCst),
        10,
        "every parked G's guard dropped"
    );
    for h in h_rx.try_iter() {
        assert!(matches!(h.join(), Err(JoinError::Cancelled)));
    }
}

#[test]
fn gs_spawned_during_shutdown_are_cancelled_before_they_start() {
    let ran = Arc::new(AtomicBool::new(false));
    let (h_tx, h_rx) = mpsc::channel();
    {
        let rt = util::rt(1);
        let ran = ran.clone();
        // SAFETY: nothing but the spawner guard is held across the park.
        unsafe {
            rt.block_on(move || {
                let (started_tx, started_rx) = chan::rendezvous::<()>();
                go(move || {
                    /// Spawns a G when dropped (during the unwind at shutdown).
                    struct SpawnOnDrop(Arc<AtomicBool>, mpsc::Sender<mn_sched::JoinHandle<()>>);
                    impl Drop for SpawnOnDrop {
                        fn drop(&mut self) {
                            let ran = self.0.clone();
                            // SAFETY: the new G holds nothing.
                            let h = unsafe { try_go(move || ran.store(true, Ordering::SeqCst)) };
                            self.1
                                .send(h.unwrap_or_else(|e| panic!("spawn during shutdown: {e}")))
                                .unwrap();
                        }
                    }
                    let _s = SpawnOnDrop(ran, h_tx);
                    started_tx.send(()).unwrap();
                    mn_sched::park(); // until shutdown
                    loop {
                        mn_sched::park();
                    }
                });
                // A G that never started would be cancelled without its guard.
                started_rx.recv().unwrap();
            })
        }
        .unwrap();
    }
    let h = h_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the guard spawned a G");
    assert!(matches!(h.join(), Err(JoinError::Cancelled)));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a G spawned during shutdown ran its closure"
    );
}

#[test]
fn spawning_from_outside_after_shutdown_is_refused() {
    let rt = util::rt(1);
    let handle = rt.handle();
    drop(rt);
    // SAFETY: the closure is never run.
    let e = unsafe { handle.spawn(|| ()) }.unwrap_err();
    assert!(matches!(e, SpawnError::Shutdown), "{e}");
}

#[test]
fn a_g_that_never_parks_is_detached_after_the_timeout() {
    let stop = Arc::new(AtomicBool::new(false));
    let rt = Runtime::builder()
        .procs(2)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let s = stop.clone();
    // SAFETY: the G only spins on an atomic.
    unsafe {
        rt.block_on(move || {
            let started = Arc::new(AtomicBool::new(false));
            let st = started.clone();
            go(move || {
                st.store(true, Ordering::SeqCst);
                while !s.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
            // Wait (on the other P) until it spins: a G that never started
            // would just be cancelled.
            while !started.load(Ordering::SeqCst) {
                mn_sched::sleep(Duration::from_millis(1));
            }
        })
    }
    .unwrap();
    let t = Instant::now();
    drop(rt);
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed); // let the detached thread finish
    assert!(
        took >= Duration::from_millis(200),
        "returned before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "shutdown hung: {took:?}");
}

#[test]
fn a_park_while_panicking_stays_on_its_thread() {
    let r = util::run(2, || {
        let m = Arc::new(Mutex::new(()));
        let held = m.lock();
        let m2 = m.clone();
        // SAFETY: the mn Mutex guard may be held across parks.
        let h = unsafe {
            go(move || {
                /// Locks the mutex while the G unwinds from a panic.
                struct LockOnDrop(Arc<Mutex<()>>, Arc<std::sync::Mutex<(i64, i64)>>);
                impl Drop for LockOnDrop {
                    fn drop(&mut self) {
                        assert!(std::thread::panicking());
                        let before = gettid();
                        let _g = self.0.lock(); // parks, pinned to this thread
                        *self.1.lock().unwrap() = (before, gettid());
                    }
                }
                let tids = Arc::new(std::sync::Mutex::new((0, 0)));
                let _d = LockOnDrop(m2, tids.clone());
                std::panic::panic_any(tids)
            })
        };
        mn_sched::sleep(Duration::from_millis(20)); // the G is parked in its Drop
        drop(held);
        let e = h.join().unwrap_err();
        let tids = *e
            .into_panic()
            .unwrap()
            .downcast::<Arc<std::sync::Mutex<(i64, i64)>>>()
            .unwrap()
            .lock()
            .unwrap();
        tids
    });
    assert_ne!(r.0, 0, "the destructor did not run");
    assert_eq!(
        r.0, r.1,
        "a G parked while panicking resumed on another thread"
    );
}

#[test]
fn shutdown_unwinds_a_destructor_that_parks() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let rt = util::rt(2);
        let d = drops.clone();
        // SAFETY: mn Mutex guards may be held across parks.
        unsafe {
            rt.block_on(move || {
                let m = Arc::new(Mutex::new(()));
                let (m1, m2, d1, d2) = (m.clone(), m.clone(), d.clone(), d);
                // G2 holds the mutex and parks forever.
                go(move || {
                    let _g = m2.lock();
                    let _c = Guard(d2);
                    loop {
                        mn_sched::park();
                    }
                });
                mn_sched::sleep(Duration::from_millis(5));
                // G1's destructor needs the mutex while it unwinds.
                go(move || {
                    /// Takes the lock in its destructor.
                    struct NeedsLock(Arc<Mutex<()>>, #[allow(dead_code)] Guard);
                    impl Drop for NeedsLock {
                        fn drop(&mut self) {
                            drop(self.0.lock());
                        }
                    }
                    let _n = NeedsLock(m1, Guard(d1));
                    loop {
                        mn_sched::park();
                    }
                });
                mn_sched::sleep(Duration::from_millis(5));
            })
        }
        .unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2, "both Gs unwound fully");
}
