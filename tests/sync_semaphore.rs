//! `sync::Semaphore`: a bound on concurrency under many tasks, strict FIFO
//! (a large request is not starved), permits returned on drop and by
//! cancelled waiters, `add_permits`, `close`, owned permits released on
//! another OS thread — in every mode.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use switchyard::sync::{Semaphore, TryAcquireError};
use switchyard::time::timeout;

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

switchyard::test_all_modes! {
    async fn permits_come_back_on_drop() {
        let s = Semaphore::new(3);
        let a = s.acquire().await.unwrap();
        let b = s.acquire_many(2).await.unwrap();
        assert_eq!((a.num_permits(), b.num_permits()), (1, 2));
        assert_eq!(s.available_permits(), 0);
        assert_eq!(s.try_acquire().err(), Some(TryAcquireError::NoPermits));
        drop(b);
        assert_eq!(s.available_permits(), 2);
        a.forget();
        assert_eq!(s.available_permits(), 2, "a forgotten permit stays out");
        s.add_permits(5);
        assert_eq!(s.try_acquire_many(7).unwrap().num_permits(), 7);
        assert_eq!(s.available_permits(), 7);
    }

    async fn concurrency_never_exceeds_the_permits() {
        let s = Arc::new(Semaphore::new(4));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (s, inside, peak) = (s.clone(), inside.clone(), peak.clone());
                switchyard::spawn(async move {
                    for _ in 0..20 {
                        let n = 1 + (i % 2);
                        let _p = s.acquire_many(n).await.unwrap();
                        let now = inside.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
                        assert!(now <= 4, "{now} permits in use out of 4");
                        peak.fetch_max(now, Ordering::SeqCst);
                        switchyard::yield_now().await;
                        inside.fetch_sub(n as usize, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) >= 2);
        assert_eq!(s.available_permits(), 4, "every permit came back");
    }

    async fn a_large_request_at_the_head_is_not_starved() {
        let s = Semaphore::new(2);
        let one = s.acquire().await.unwrap();
        let mut big = Box::pin(s.acquire_many(2));
        assert!(poll_once(big.as_mut()).await.is_pending());
        // One permit is free, but the big request is first in line.
        let mut small = Box::pin(s.acquire());
        assert!(poll_once(small.as_mut()).await.is_pending());
        assert_eq!(s.try_acquire().err(), Some(TryAcquireError::NoPermits));
        drop(one);
        let big = big.await.unwrap();
        assert!(poll_once(small.as_mut()).await.is_pending());
        drop(big);
        assert_eq!(small.await.unwrap().num_permits(), 1);
    }

    async fn waiters_are_granted_in_fifo_order() {
        let s = Semaphore::new(0);
        let mut waiters: Vec<_> = (0..6).map(|_| Box::pin(s.acquire())).collect();
        for w in &mut waiters {
            assert!(poll_once(w.as_mut()).await.is_pending());
        }
        for expected in 0..6 {
            s.add_permits(1);
            let mut granted = Vec::new();
            let mut permits = Vec::new();
            for (i, w) in waiters.iter_mut().enumerate().skip(expected).rev() {
                if let Poll::Ready(p) = poll_once(w.as_mut()).await {
                    granted.push(i);
                    permits.push(p.unwrap());
                }
            }
            assert_eq!(granted, vec![expected]);
            permits.into_iter().for_each(|p| p.forget());
        }
    }

    async fn a_granted_acquire_dropped_returns_its_permits() {
        let s = Semaphore::new(0);
        let mut a = Box::pin(s.acquire_many(2));
        let mut b = Box::pin(s.acquire_many(2));
        assert!(poll_once(a.as_mut()).await.is_pending());
        assert!(poll_once(b.as_mut()).await.is_pending());
        s.add_permits(2); // granted to a...
        drop(a); // ...which is dropped before it saw them: b gets them
        assert_eq!(b.await.unwrap().num_permits(), 2);
        assert_eq!(s.available_permits(), 2);
    }

    async fn a_waiting_head_dropped_lets_the_ones_behind_through() {
        let s = Semaphore::new(1);
        let mut big = Box::pin(s.acquire_many(3));
        let mut small = Box::pin(s.acquire());
        assert!(poll_once(big.as_mut()).await.is_pending());
        assert!(poll_once(small.as_mut()).await.is_pending());
        drop(big);
        assert!(poll_once(small.as_mut()).await.is_ready());
    }

    async fn timed_out_acquires_lose_no_permit() {
        let s = Arc::new(Semaphore::new(2));
        let held = s.clone().acquire_many_owned(2).await.unwrap();
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let s = s.clone();
                switchyard::spawn(async move {
                    let patience = Duration::from_millis(if i % 3 == 0 { 10_000 } else { 1 });
                    timeout(patience, s.acquire()).await.is_ok()
                })
            })
            .collect();
        switchyard::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.available_permits(), 2);
    }

    async fn close_fails_waiters_and_later_acquires() {
        let s = Arc::new(Semaphore::new(1));
        let held = s.acquire().await.unwrap();
        let s2 = s.clone();
        let waiter = switchyard::spawn(async move { s2.acquire().await.is_err() });
        switchyard::yield_now().await;
        s.close();
        assert!(s.is_closed());
        assert!(waiter.await.unwrap(), "the waiter failed");
        assert!(s.acquire().await.is_err());
        assert_eq!(s.try_acquire().err(), Some(TryAcquireError::Closed));
        drop(held);
        assert_eq!(s.available_permits(), 1, "a held permit still returns");
    }

    async fn an_owned_permit_released_on_an_os_thread_wakes_a_task() {
        let s = Arc::new(Semaphore::new(1));
        let permit = s.clone().acquire_owned().await.unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(permit);
        });
        let p = timeout(Duration::from_secs(10), s.acquire()).await.unwrap().unwrap();
        assert_eq!(p.num_permits(), 1);
        drop(p);
        switchyard::spawn_blocking(move || t.join().unwrap()).await.unwrap();
    }
}
