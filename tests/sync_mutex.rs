//! `sync::Mutex`: mutual exclusion under many tasks, FIFO handoff,
//! cancellation (a granted lock future dropped passes the lock on), and OS
//! threads sharing it with tasks — in every mode.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use switchyard::sync::Mutex;
use switchyard::time::{sleep, timeout};

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

switchyard::test_all_modes! {
    async fn lock_and_try_lock() {
        let m = Mutex::new(1);
        {
            let mut g = m.lock().await;
            *g += 1;
            assert!(m.try_lock().is_err());
        }
        assert_eq!(*m.try_lock().unwrap(), 2);
        let mut m = m;
        *m.get_mut() += 1;
        assert_eq!(m.into_inner(), 3);
    }

    async fn many_tasks_never_overlap_and_lose_no_update() {
        // Each task reads, yields with the guard held, then writes: without
        // exclusion across the await, updates would be lost.
        let m = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (m, inside) = (m.clone(), inside.clone());
                switchyard::spawn(async move {
                    for _ in 0..40 {
                        let mut g = m.lock().await;
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        let seen = *g;
                        switchyard::yield_now().await;
                        *g = seen + 1;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, 50 * 40);
    }

    async fn waiters_get_the_lock_in_fifo_order() {
        let m = Mutex::new(());
        let held = m.lock().await;
        let mut waiters: Vec<_> = (0..8).map(|_| Box::pin(m.lock())).collect();
        for w in &mut waiters {
            assert!(poll_once(w.as_mut()).await.is_pending());
        }
        drop(held);
        // Each round, poll every waiter (newest first): only the oldest
        // remaining one may hold the lock.
        for expected in 0..8 {
            let mut winner = None;
            for i in (expected..8).rev() {
                if let Poll::Ready(g) = poll_once(waiters[i].as_mut()).await {
                    assert!(winner.is_none(), "two waiters got the lock");
                    winner = Some((i, g));
                }
            }
            let (i, guard) = winner.expect("the lock was handed over");
            assert_eq!(i, expected, "handoff out of order");
            drop(guard);
        }
        assert!(m.try_lock().is_ok());
    }

    async fn try_lock_does_not_barge_past_a_granted_waiter() {
        let m = Mutex::new(0);
        let held = m.lock().await;
        let mut w = Box::pin(m.lock());
        assert!(poll_once(w.as_mut()).await.is_pending());
        drop(held);
        assert!(m.try_lock().is_err(), "the lock was handed to the waiter");
        *w.await += 1;
        assert_eq!(*m.try_lock().unwrap(), 1);
    }

    async fn a_granted_lock_future_dropped_passes_the_lock_on() {
        let m = Mutex::new(0);
        let held = m.lock().await;
        let mut a = Box::pin(m.lock());
        let mut b = Box::pin(m.lock());
        assert!(poll_once(a.as_mut()).await.is_pending());
        assert!(poll_once(b.as_mut()).await.is_pending());
        drop(held); // a is granted...
        drop(a); // ...and dropped before it could see it
        let mut g = b.await;
        *g += 1;
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 1, "the lock is free again");
    }

    async fn timed_out_lockers_leave_it_usable() {
        let m = Arc::new(Mutex::new(0u32));
        let held = m.lock().await;
        let lockers: Vec<_> = (0..20)
            .map(|i| {
                let m = m.clone();
                switchyard::spawn(async move {
                    // Half give up while the lock is held; half wait it out.
                    let patience = if i % 2 == 0 { 1 } else { 10_000 };
                    match timeout(Duration::from_millis(patience), m.lock()).await {
                        Ok(mut g) => {
                            *g += 1;
                            true
                        }
                        Err(_) => false,
                    }
                })
            })
            .collect();
        sleep(Duration::from_millis(30)).await;
        drop(held);
        let mut got = 0;
        for l in lockers {
            got += l.await.unwrap() as u32;
        }
        assert!(got >= 10, "every patient locker got it");
        assert_eq!(*m.try_lock().unwrap(), got);
    }

    async fn tasks_and_os_threads_share_it() {
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        *m.blocking_lock() += 1;
                    }
                })
            })
            .collect();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                switchyard::spawn(async move {
                    for _ in 0..250 {
                        let mut g = m.lock().await;
                        *g += 1;
                        drop(g);
                        switchyard::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            timeout(Duration::from_secs(20), t).await.unwrap().unwrap();
        }
        let threads = switchyard::spawn_blocking(move || {
            threads.into_iter().for_each(|t| t.join().unwrap())
        });
        threads.await.unwrap();
        assert_eq!(*m.lock().await, 2000);
    }
}
