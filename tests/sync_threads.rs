//! The sync primitives shared between runtimes on different OS threads:
//! every wake crosses threads, as it will between Ps in mn mode. Each
//! thread runs its own single-mode runtime; the invariants (no lost
//! message, update, permit or lock) are checked at the end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use switchyard::sync::{mpsc, Mutex, Notify, Semaphore, WaitGroup};
use switchyard::time::timeout;
use switchyard::Mode;

/// Runs `f`'s future on a fresh single-mode runtime on each of `n` threads.
fn on_threads<F, Fut>(n: usize, f: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let f = Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            thread::spawn(move || switchyard::testing::block_on(Mode::Single, 1, f(i)))
        })
        .collect();
    for t in threads {
        t.join().expect("a runtime thread panicked");
    }
}

#[test]
fn ping_pong_between_two_runtimes() {
    let (tx1, rx1) = mpsc::channel::<u64>(1);
    let (tx2, rx2) = mpsc::channel::<u64>(1);
    let echo = thread::spawn(move || {
        switchyard::testing::block_on(Mode::Single, 1, async move {
            let mut rx1 = rx1;
            while let Some(v) = rx1.recv().await {
                tx2.send(v + 1).await.unwrap();
            }
        })
    });
    switchyard::testing::block_on(Mode::Single, 1, async move {
        let mut rx2 = rx2;
        let mut x = 0;
        for _ in 0..20_000 {
            tx1.send(x).await.unwrap();
            x = rx2.recv().await.unwrap();
        }
        assert_eq!(x, 20_000);
    });
    echo.join().unwrap();
}

#[test]
fn producers_on_many_runtimes_lose_nothing() {
    const PER_TASK: u32 = 3_000;
    let (tx, mut rx) = mpsc::channel::<(usize, u32)>(4);
    let consumer = thread::spawn(move || {
        switchyard::testing::block_on(Mode::Single, 1, async move {
            let mut next = [0u32; 8];
            while let Some((p, i)) = rx.recv().await {
                assert_eq!(i, next[p], "producer {p} out of order");
                next[p] += 1;
            }
            next
        })
    });
    // Four runtimes, two producing tasks on each: producer 2 * thread + task.
    on_threads(4, move |t| {
        let tx = tx.clone();
        async move {
            let tasks: Vec<_> = (0..2)
                .map(|k| {
                    let tx = tx.clone();
                    switchyard::spawn(async move {
                        for i in 0..PER_TASK {
                            tx.send((2 * t + k, i)).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            for h in tasks {
                h.await.unwrap();
            }
        }
    });
    assert_eq!(consumer.join().unwrap(), [PER_TASK; 8]);
}

#[test]
fn a_mutex_hammered_from_four_runtimes() {
    let m = Arc::new(Mutex::new(0u64));
    let inside = Arc::new(AtomicUsize::new(0));
    let (m2, inside2) = (m.clone(), inside.clone());
    on_threads(4, move |_| {
        let (m, inside) = (m2.clone(), inside2.clone());
        async move {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (m, inside) = (m.clone(), inside.clone());
                    switchyard::spawn(async move {
                        for i in 0..300u32 {
                            // Some lockers give up at once: cancellation
                            // under contention must not lose the lock.
                            let g = if i % 5 == 0 {
                                match timeout(Duration::from_micros(1), m.lock()).await {
                                    Ok(g) => g,
                                    Err(_) => continue,
                                }
                            } else {
                                m.lock().await
                            };
                            let mut g = g;
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                            let seen = *g;
                            if i % 3 == 0 {
                                switchyard::yield_now().await;
                            }
                            *g = seen + 1;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    let total = *m.try_lock().expect("the mutex ends unlocked");
    assert!(total >= 4 * 8 * 240, "{total} updates");
    assert!(total <= 4 * 8 * 300);
}

#[test]
fn a_semaphore_hammered_from_four_runtimes() {
    let s = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let (s2, inside2) = (s.clone(), inside.clone());
    on_threads(4, move |_| {
        let (s, inside) = (s2.clone(), inside2.clone());
        async move {
            let tasks: Vec<_> = (0..8u32)
                .map(|t| {
                    let (s, inside) = (s.clone(), inside.clone());
                    switchyard::spawn(async move {
                        for i in 0..300u32 {
                            let n = 1 + (t + i) % 3;
                            let permit = if i % 4 == 0 {
                                match timeout(Duration::from_micros(1), s.acquire_many(n)).await {
                                    Ok(p) => p.unwrap(),
                                    Err(_) => continue,
                                }
                            } else {
                                s.acquire_many(n).await.unwrap()
                            };
                            let now = inside.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
                            assert!(now <= 3, "{now} permits in use out of 3");
                            if i % 2 == 0 {
                                switchyard::yield_now().await;
                            }
                            inside.fetch_sub(n as usize, Ordering::SeqCst);
                            drop(permit);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert_eq!(s.available_permits(), 3, "every permit came back");
}

#[test]
fn notify_and_wait_group_across_runtimes() {
    let ready = Arc::new(Notify::new());
    let wg = WaitGroup::new();
    wg.add(4);
    let (ready2, wg2) = (ready.clone(), wg.clone());
    let workers = thread::spawn(move || {
        on_threads(4, move |_| {
            let (ready, wg) = (ready2.clone(), wg2.clone());
            async move {
                ready.notified().await;
                wg.done();
            }
        })
    });
    switchyard::testing::block_on(Mode::Single, 1, async move {
        // notify_one four times: each stored permit or waiter takes one.
        for _ in 0..4 {
            ready.notify_one();
            switchyard::time::sleep(Duration::from_millis(1)).await;
        }
        while timeout(Duration::from_millis(20), wg.wait()).await.is_err() {
            // A permit is stored only once: top up any worker that came late.
            ready.notify_one();
        }
    });
    workers.join().unwrap();
}
