//! `timeout` and `sleep` beside work that never waits, in every mode: the
//! cooperative budget such work spends must not keep a deadline from
//! firing.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use switchyard::sync::mpsc;
use switchyard::time::{sleep, timeout};

/// Past this, a test whose deadline never fired gives up (and fails).
const GIVE_UP: Duration = Duration::from_secs(4);

/// A deadline that fires later than this after it passed counts as
/// missed (generous: a loaded machine's threads wait for a CPU).
const LATE: Duration = Duration::from_millis(1500);

/// Sends and receives on a channel that always has room and a message, until
/// `GIVE_UP` has passed since `start`: every await completes at once and
/// spends a unit of the task's budget, so each poll ends with the budget
/// spent.
async fn always_ready(start: Instant) -> u64 {
    let (tx, mut rx) = mpsc::channel::<u64>(1);
    let mut n = 0;
    while start.elapsed() < GIVE_UP {
        tx.send(n).await.unwrap();
        n = rx.recv().await.unwrap() + 1;
    }
    n
}

switchyard::test_all_modes! {
    async fn a_timeout_fires_over_a_future_that_is_always_ready() {
        let start = Instant::now();
        let out = timeout(Duration::from_millis(200), always_ready(start)).await;
        let took = start.elapsed();
        assert!(out.is_err(), "the 200 ms timeout never fired ({took:?})");
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(200) + LATE,
            "the 200 ms timeout fired after {took:?}"
        );
    }

    async fn a_zero_timeout_fires_over_a_future_that_is_always_ready() {
        let start = Instant::now();
        let out = timeout(Duration::ZERO, always_ready(start)).await;
        let took = start.elapsed();
        assert!(out.is_err(), "the zero timeout never fired ({took:?})");
        assert!(took < LATE, "the zero timeout fired after {took:?}");
    }

    async fn a_sleep_polled_beside_a_future_that_is_always_ready_ends_on_time() {
        // A hand-written select: the busy future first, then the sleep.
        let start = Instant::now();
        let mut busy = pin!(always_ready(start));
        let mut nap = pin!(sleep(Duration::from_millis(200)));
        let slept = poll_fn(|cx| {
            if busy.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            nap.as_mut().poll(cx).map(|()| true)
        })
        .await;
        let took = start.elapsed();
        assert!(slept, "the 200 ms sleep never ended ({took:?})");
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(200) + LATE,
            "the 200 ms sleep ended after {took:?}"
        );
    }
}
