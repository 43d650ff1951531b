//! `sync::oneshot`: the value arrives, a dropped sender is an error, a
//! closed receiver refuses, cancellation keeps the value, and a plain OS
//! thread can complete it — in every mode.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use switchyard::sync::oneshot::{self, TryRecvError};
use switchyard::time::timeout;

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

switchyard::test_all_modes! {
    async fn the_value_reaches_a_waiting_task() {
        let (tx, rx) = oneshot::channel();
        let waiter = switchyard::spawn(rx);
        switchyard::yield_now().await;
        tx.send(42u32).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(42));
    }

    async fn a_value_sent_first_is_ready_at_once() {
        let (tx, mut rx) = oneshot::channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send("now").unwrap();
        assert_eq!(rx.try_recv(), Ok("now"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "already taken");
    }

    async fn a_dropped_sender_is_an_error() {
        let (tx, rx) = oneshot::channel::<u8>();
        let waiter = switchyard::spawn(rx);
        switchyard::yield_now().await;
        drop(tx);
        assert!(waiter.await.unwrap().is_err());
    }

    async fn a_closed_or_dropped_receiver_refuses_the_value() {
        let (tx, mut rx) = oneshot::channel();
        assert!(!tx.is_closed());
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.send(5), Err(5));
        assert!(rx.await.is_err());

        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert_eq!(tx.send("back"), Err("back"));
    }

    async fn a_value_sent_before_close_can_still_be_taken() {
        let (tx, mut rx) = oneshot::channel();
        tx.send(1).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(1));
    }

    async fn the_sender_learns_that_nobody_wants_the_value() {
        let (mut tx, rx) = oneshot::channel::<u8>();
        let watcher = switchyard::spawn(async move {
            tx.closed().await;
            tx.is_closed()
        });
        switchyard::yield_now().await;
        drop(rx);
        assert!(watcher.await.unwrap());
    }

    async fn a_timed_out_wait_keeps_the_value_for_the_next() {
        let (tx, mut rx) = oneshot::channel();
        assert!(timeout(Duration::from_millis(5), &mut rx).await.is_err());
        {
            let mut again = Box::pin(&mut rx);
            assert!(poll_once(again.as_mut()).await.is_pending());
            tx.send(9).unwrap(); // wakes the future, dropped unpolled
        }
        assert_eq!(rx.await, Ok(9));
    }

    async fn a_plain_os_thread_completes_it() {
        let (tx, rx) = oneshot::channel();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(String::from("from a thread")).unwrap();
        });
        let v = timeout(Duration::from_secs(10), rx).await.unwrap().unwrap();
        assert_eq!(v, "from a thread");
        t.join().unwrap();
    }

    async fn a_plain_os_thread_waits_for_it() {
        let (tx, rx) = oneshot::channel();
        let t = std::thread::spawn(move || rx.blocking_recv());
        switchyard::time::sleep(Duration::from_millis(5)).await;
        tx.send(3u8).unwrap();
        let got = switchyard::spawn_blocking(move || t.join().unwrap()).await.unwrap();
        assert_eq!(got, Ok(3));
    }
}
