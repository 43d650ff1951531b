//! `sync::Notify`: the stored permit, `notify_waiters`, FIFO of
//! `notify_one`, a notification never lost to a dropped waiter, and wakes
//! from an OS thread — in every mode.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use switchyard::sync::Notify;
use switchyard::time::timeout;

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

switchyard::test_all_modes! {
    async fn notify_one_before_the_wait_stores_one_permit() {
        let n = Notify::new();
        n.notify_one();
        n.notify_one(); // still one permit
        n.notified().await;
        let mut second = Box::pin(n.notified());
        assert!(poll_once(second.as_mut()).await.is_pending());
        n.notify_one();
        second.await;
    }

    async fn notify_one_wakes_waiters_in_fifo_order() {
        let n = Notify::new();
        let mut waiters: Vec<_> = (0..5).map(|_| Box::pin(n.notified())).collect();
        for w in &mut waiters {
            assert!(poll_once(w.as_mut()).await.is_pending());
        }
        for expected in 0..5 {
            n.notify_one();
            let mut woken = Vec::new();
            for (i, w) in waiters.iter_mut().enumerate().skip(expected).rev() {
                if poll_once(w.as_mut()).await.is_ready() {
                    woken.push(i);
                }
            }
            assert_eq!(woken, vec![expected]);
        }
    }

    async fn notify_waiters_wakes_all_and_stores_nothing() {
        let n = Arc::new(Notify::new());
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let n = n.clone();
                // Created (and first polled) inside the task: may come after
                // the notify in mn mode, so re-notify until all are done.
                switchyard::spawn(async move { n.notified().await })
            })
            .collect();
        for w in waiters {
            let mut w = Box::pin(w);
            loop {
                n.notify_waiters();
                if timeout(Duration::from_millis(2), w.as_mut()).await.is_ok() {
                    break;
                }
            }
        }
        let mut after = Box::pin(n.notified());
        assert!(poll_once(after.as_mut()).await.is_pending(), "no permit was stored");
    }

    async fn a_notified_made_before_notify_waiters_is_ready() {
        let n = Notify::new();
        let early = n.notified(); // created, not yet polled
        n.notify_waiters();
        early.await;
        let mut late = Box::pin(n.notified());
        assert!(poll_once(late.as_mut()).await.is_pending());
    }

    async fn a_dropped_notified_passes_its_notification_on() {
        let n = Notify::new();
        let mut a = Box::pin(n.notified());
        let mut b = Box::pin(n.notified());
        assert!(poll_once(a.as_mut()).await.is_pending());
        assert!(poll_once(b.as_mut()).await.is_pending());
        n.notify_one(); // to a...
        drop(a); // ...dropped unpolled: b gets it
        assert!(poll_once(b.as_mut()).await.is_ready());

        // With nobody else waiting, it becomes the stored permit.
        let mut c = Box::pin(n.notified());
        assert!(poll_once(c.as_mut()).await.is_pending());
        n.notify_one();
        drop(c);
        let mut d = Box::pin(n.notified());
        assert!(poll_once(d.as_mut()).await.is_ready());
    }

    async fn timed_out_waits_lose_no_notification() {
        let n = Notify::new();
        for _ in 0..5 {
            assert!(timeout(Duration::from_millis(1), n.notified()).await.is_err());
        }
        n.notify_one();
        timeout(Duration::from_secs(10), n.notified()).await.unwrap();
    }

    async fn an_os_thread_notifies_a_task() {
        let n = Arc::new(Notify::new());
        let n2 = n.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            n2.notify_one();
        });
        timeout(Duration::from_secs(10), n.notified()).await.unwrap();
        switchyard::spawn_blocking(move || t.join().unwrap()).await.unwrap();
    }
}
