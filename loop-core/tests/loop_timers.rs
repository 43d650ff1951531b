//! Timers on the loop: never early, in order, cancelled on drop, timeouts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loop_core::time::{sleep, sleep_until, timeout};
use loop_core::{spawn, Runtime};

#[test]
fn sleep_never_fires_early() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for ms in [0u64, 1, 2, 5, 13, 50] {
            let t = Instant::now();
            sleep(Duration::from_millis(ms)).await;
            assert!(
                t.elapsed() >= Duration::from_millis(ms),
                "{ms} ms slept {:?}",
                t.elapsed()
            );
        }
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    let rt = Runtime::new().unwrap();
    let order = rt.block_on(async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let mut hs = Vec::new();
        for ms in [40u64, 10, 70, 20, 5, 100, 30] {
            let order = order.clone();
            hs.push(spawn(async move {
                sleep_until(start + Duration::from_millis(ms)).await;
                order.lock().unwrap().push(ms);
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, vec![5, 10, 20, 30, 40, 70, 100]);
}

#[test]
fn dropping_a_sleep_cancels_its_timer() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let r = timeout(Duration::from_millis(5), sleep(Duration::from_secs(3600))).await;
        assert!(r.is_err());
        assert_eq!(
            loop_core::stats().unwrap().timers,
            0,
            "the hour-long timer was cancelled"
        );
    });
}

#[test]
fn timeout_returns_the_value_when_in_time() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let v = timeout(Duration::from_secs(5), async {
            sleep(Duration::from_millis(5)).await;
            9
        })
        .await;
        assert_eq!(v, Ok(9));
        let t = Instant::now();
        let e = timeout(Duration::from_millis(20), std::future::pending::<()>()).await;
        assert!(e.is_err());
        assert!(t.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn ten_thousand_sleepers_all_wake() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| spawn(async move { sleep(Duration::from_millis(1 + i % 200)).await }))
            .collect();
        assert_eq!(loop_core::stats().unwrap().live_tasks, 10_000);
        for h in hs {
            h.await.unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(loop_core::stats().unwrap().timers, 0);
    });
}

#[test]
fn reset_moves_the_deadline() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let t = Instant::now();
        let mut s = sleep(Duration::from_secs(3600));
        assert!(timeout(Duration::from_millis(5), &mut s).await.is_err());
        s.reset(Instant::now() + Duration::from_millis(10));
        s.await;
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(15) && e < Duration::from_secs(60),
            "{e:?}"
        );
    });
}
