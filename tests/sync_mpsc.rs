//! `sync::mpsc`: ordering, back-pressure, close, the end of the senders,
//! cancellation of both futures, FIFO among blocked senders, wakes from a
//! plain OS thread, and the cooperative budget — in every mode.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use switchyard::sync::mpsc::{self, SendError, TryRecvError, TrySendError};
use switchyard::time::timeout;

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// Counts how many of its values were dropped.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

switchyard::test_all_modes! {
    async fn messages_arrive_in_order_then_none() {
        let (tx, mut rx) = mpsc::channel(4);
        let producer = switchyard::spawn(async move {
            for i in 0..1000u32 {
                tx.send(i).await.unwrap();
            }
        });
        for i in 0..1000u32 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.recv().await, None, "every sender is gone");
        producer.await.unwrap();
    }

    async fn a_full_channel_holds_the_sender_back() {
        let (tx, mut rx) = mpsc::channel(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let mut send = pin!(tx.send(3));
        assert!(poll_once(send.as_mut()).await.is_pending(), "no room: the send waits");
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.recv().await, Some(1));
        // Rule 3: the receive moved the blocked message into the buffer.
        assert_eq!(rx.len(), 2);
        assert!(matches!(tx.try_send(4), Err(TrySendError::Full(4))));
        assert_eq!(send.await, Ok(()));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    async fn blocked_senders_are_served_in_fifo_order() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0u32).unwrap();
        // Park 20 sends in a known order (polled by hand, so the order does
        // not depend on how the engine schedules tasks).
        let mut sends: Vec<_> = (1..=20u32).map(|i| Box::pin(tx.send(i))).collect();
        for s in &mut sends {
            assert!(poll_once(s.as_mut()).await.is_pending());
        }
        for i in 0..=20u32 {
            assert_eq!(rx.recv().await, Some(i));
        }
        for s in sends {
            assert_eq!(s.await, Ok(()));
        }
        drop(tx);
        assert_eq!(rx.recv().await, None);
    }

    async fn many_producers_each_keep_their_order() {
        let (tx, mut rx) = mpsc::channel(3);
        let producers: Vec<_> = (0..8u32)
            .map(|p| {
                let tx = tx.clone();
                switchyard::spawn(async move {
                    for i in 0..500u32 {
                        tx.send((p, i)).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u32; 8];
        while let Some((p, i)) = rx.recv().await {
            assert_eq!(i, next[p as usize], "producer {p} out of order");
            next[p as usize] += 1;
        }
        assert_eq!(next, [500; 8]);
        for h in producers {
            h.await.unwrap();
        }
    }

    async fn the_receiver_sees_none_only_when_every_clone_is_gone() {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let clones: Vec<_> = (0..5).map(|_| tx.clone()).collect();
        drop(tx);
        for (i, c) in clones.into_iter().enumerate() {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "clone {i} still alive");
            drop(c);
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv().await, None);
    }

    async fn dropping_the_last_sender_wakes_a_waiting_receiver() {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let waiter = switchyard::spawn(async move { rx.recv().await });
        switchyard::yield_now().await;
        drop(tx);
        assert_eq!(waiter.await.unwrap(), None);
    }

    async fn senders_get_their_message_back_when_the_receiver_is_gone() {
        let (tx, rx) = mpsc::channel(1);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send("hello").await, Err(SendError("hello")));
        assert!(matches!(tx.try_send("again"), Err(TrySendError::Closed("again"))));
    }

    async fn close_refuses_blocked_and_new_sends_but_keeps_the_buffer() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(1).await.unwrap();
        let tx2 = tx.clone();
        let blocked = switchyard::spawn(async move { tx2.send(2).await });
        switchyard::yield_now().await;
        rx.close();
        assert_eq!(blocked.await.unwrap(), Err(SendError(2)), "the blocked message comes back");
        assert_eq!(tx.send(3).await, Err(SendError(3)));
        assert_eq!(rx.recv().await, Some(1), "buffered before close: still delivered");
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    async fn a_dropped_recv_loses_no_message() {
        let (tx, mut rx) = mpsc::channel(8);
        // Time out waiting, many times, while messages trickle in.
        let producer = switchyard::spawn(async move {
            for i in 0..50u32 {
                switchyard::time::sleep(Duration::from_millis(1)).await;
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        let mut timeouts = 0;
        loop {
            match timeout(Duration::from_micros(300), rx.recv()).await {
                Ok(Some(v)) => got.push(v),
                Ok(None) => break,
                Err(_) => timeouts += 1,
            }
        }
        producer.await.unwrap();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert!(timeouts > 0, "some receives were cancelled");
    }

    async fn a_recv_woken_then_dropped_leaves_the_message_for_the_next() {
        let (tx, mut rx) = mpsc::channel(1);
        {
            let mut recv = pin!(rx.recv());
            assert!(poll_once(recv.as_mut()).await.is_pending());
            tx.send(7).await.unwrap(); // wakes the parked receive...
        } // ...which is dropped without another poll.
        assert_eq!(rx.recv().await, Some(7));
    }

    async fn a_send_dropped_while_blocked_is_taken_back_and_frees_no_capacity() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(Tracked(dropped.clone())).await.unwrap();
        {
            let mut send = pin!(tx.send(Tracked(dropped.clone())));
            assert!(poll_once(send.as_mut()).await.is_pending());
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the unsent message died with its future");
        assert!(matches!(tx.try_send(Tracked(dropped.clone())), Err(TrySendError::Full(_))));
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        drop(rx.recv().await.unwrap());
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty), "nothing else was sent");
        assert!(tx.try_send(Tracked(dropped.clone())).is_ok(), "capacity is back");
    }

    async fn a_send_dropped_after_its_message_was_taken_stays_sent() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(1).await.unwrap();
        {
            let mut send = pin!(tx.send(2));
            assert!(poll_once(send.as_mut()).await.is_pending());
            assert_eq!(rx.recv().await, Some(1)); // moves 2 in, wakes the send
        } // dropped before it could return Ok
        assert_eq!(rx.recv().await, Some(2));
        drop(tx);
        assert_eq!(rx.recv().await, None);
    }

    async fn cancelling_a_blocked_sender_keeps_the_others_in_order() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        let mut a = pin!(tx.send(1));
        let mut b = Box::pin(tx.send(2)); // boxed, so that drop(b) drops it
        let mut c = pin!(tx.send(3));
        assert!(poll_once(a.as_mut()).await.is_pending());
        assert!(poll_once(b.as_mut()).await.is_pending());
        assert!(poll_once(c.as_mut()).await.is_pending());
        drop(b);
        assert_eq!(rx.recv().await, Some(0));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(a.await, Ok(()));
        assert_eq!(c.await, Ok(()));
    }

    async fn buffered_messages_are_dropped_once_with_the_receiver() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::unbounded();
        for _ in 0..10 {
            tx.try_send(Tracked(dropped.clone())).unwrap();
        }
        drop(rx);
        assert_eq!(dropped.load(Ordering::SeqCst), 10);
        let Err(SendError(back)) = tx.send(Tracked(dropped.clone())).await else {
            panic!("send to a dropped receiver must fail");
        };
        drop(back);
        assert_eq!(dropped.load(Ordering::SeqCst), 11);
    }

    async fn a_message_holding_the_last_sender_does_not_deadlock_the_drop() {
        // The buffered message's destructor drops a sender of its own channel.
        struct Msg(#[allow(dead_code)] mpsc::Sender<Msg>);
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(Msg(tx.clone())).unwrap();
        drop(tx);
        drop(rx);
    }

    async fn unbounded_never_waits() {
        let (tx, mut rx) = mpsc::unbounded();
        assert_eq!(tx.max_capacity(), None);
        // Nobody receives meanwhile: a send that waited would never finish.
        let sends = async {
            for i in 0..10_000u32 {
                tx.send(i).await.unwrap();
            }
        };
        timeout(Duration::from_secs(10), sends).await.unwrap();
        for i in 0..10_000u32 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
    }

    async fn the_receiver_is_a_stream() {
        let (tx, mut rx) = mpsc::channel(3);
        switchyard::spawn(async move {
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(v) = poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await {
            got.push(v);
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    async fn a_plain_os_thread_wakes_a_waiting_task() {
        let (tx, mut rx) = mpsc::channel(2);
        let thread = std::thread::spawn(move || {
            for i in 0..200u32 {
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                tx.blocking_send(i).unwrap();
            }
        });
        for i in 0..200u32 {
            assert_eq!(timeout(Duration::from_secs(10), rx.recv()).await, Ok(Some(i)));
        }
        assert_eq!(rx.recv().await, None);
        thread.join().unwrap();
    }

    async fn a_plain_os_thread_receives_from_a_task() {
        let (tx, mut rx) = mpsc::channel(1);
        let thread = std::thread::spawn(move || {
            let mut sum = 0u64;
            while let Some(v) = rx.blocking_recv() {
                sum += v;
            }
            sum
        });
        for i in 1..=100u64 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        let sum = switchyard::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
        assert_eq!(sum, 5050);
    }

    async fn blocking_send_inside_a_runtime_panics_clearly() {
        let (tx, _rx) = mpsc::channel(1);
        let err = switchyard::spawn(async move { tx.blocking_send(1u8).ok() })
            .await
            .unwrap_err();
        assert!(err.panic_message().unwrap().contains("inside a runtime"), "{err:?}");
    }

    async fn an_always_ready_channel_still_lets_others_run() {
        // The receiver never waits (the buffer always holds messages), so
        // only the cooperative budget makes it yield to the other task.
        let (tx, mut rx) = mpsc::unbounded();
        for i in 0..100_000u32 {
            tx.try_send(i).unwrap();
        }
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = switchyard::spawn(async move {
            loop {
                t.fetch_add(1, Ordering::Relaxed);
                switchyard::yield_now().await;
            }
        });
        switchyard::yield_now().await;
        let before = ticks.load(Ordering::Relaxed);
        for _ in 0..100_000u32 {
            rx.recv().await.unwrap();
        }
        assert!(ticks.load(Ordering::Relaxed) > before + 10, "the ticker ran meanwhile");
        ticker.abort();
    }
}
