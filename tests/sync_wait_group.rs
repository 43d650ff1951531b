//! `sync::WaitGroup`: waiting for a group of tasks, several waiters, the
//! counter's misuse, cancellation, and `done` from OS threads — in every
//! mode.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use switchyard::sync::WaitGroup;
use switchyard::time::timeout;

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

switchyard::test_all_modes! {
    async fn wait_returns_after_every_task_is_done() {
        let wg = WaitGroup::new();
        let finished = Arc::new(AtomicUsize::new(0));
        for i in 0..100u64 {
            wg.add(1);
            let (wg, finished) = (wg.clone(), finished.clone());
            switchyard::spawn(async move {
                if i % 7 == 0 {
                    switchyard::time::sleep(Duration::from_millis(i % 5)).await;
                }
                finished.fetch_add(1, Ordering::SeqCst);
                wg.done();
            });
        }
        wg.wait().await;
        assert_eq!(finished.load(Ordering::SeqCst), 100);
        assert_eq!(wg.count(), 0);
    }

    async fn wait_at_zero_is_ready_at_once() {
        let wg = WaitGroup::new();
        let mut w = Box::pin(wg.wait());
        assert!(poll_once(w.as_mut()).await.is_ready());
    }

    async fn every_waiter_is_released() {
        let wg = WaitGroup::new();
        wg.add(2);
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let wg = wg.clone();
                switchyard::spawn(async move { wg.wait().await })
            })
            .collect();
        switchyard::yield_now().await;
        wg.done();
        wg.done();
        for w in waiters {
            timeout(Duration::from_secs(10), w).await.unwrap().unwrap();
        }
    }

    async fn a_waiter_released_at_zero_stays_released_after_a_new_add() {
        let wg = WaitGroup::new();
        wg.add(1);
        let mut w = Box::pin(wg.wait());
        assert!(poll_once(w.as_mut()).await.is_pending());
        wg.done();
        wg.add(1); // new work before the waiter ran
        assert!(poll_once(w.as_mut()).await.is_ready());
        let mut late = Box::pin(wg.wait());
        assert!(poll_once(late.as_mut()).await.is_pending());
        wg.done();
        late.await;
    }

    async fn a_dropped_wait_leaves_the_group_intact() {
        let wg = WaitGroup::new();
        wg.add(1);
        assert!(timeout(Duration::from_millis(2), wg.wait()).await.is_err());
        let mut w = Box::pin(wg.wait());
        assert!(poll_once(w.as_mut()).await.is_pending());
        drop(w);
        assert_eq!(wg.count(), 1);
        wg.done();
        wg.wait().await;
    }

    async fn done_below_zero_panics() {
        let wg = WaitGroup::new();
        let err = switchyard::spawn(async move { wg.done() }).await.unwrap_err();
        assert!(err.panic_message().unwrap().contains("negative"), "{err:?}");
    }

    async fn os_threads_mark_done() {
        let wg = WaitGroup::new();
        wg.add(4);
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let wg = wg.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(i * 2));
                    wg.done();
                })
            })
            .collect();
        timeout(Duration::from_secs(10), wg.wait()).await.unwrap();
        switchyard::spawn_blocking(move || threads.into_iter().for_each(|t| t.join().unwrap()))
            .await
            .unwrap();
    }
}
