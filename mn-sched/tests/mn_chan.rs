//! Channels and select: semantics, closing, timeouts, stress, plain threads.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mn_sched::chan::{self, RecvError, RecvTimeoutError, Select, TryRecvError, TrySendError};
use mn_sched::go;
use util::run;

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    let order = run(2, || {
        let (tx, rx) = chan::rendezvous::<u32>();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = log.clone();
        // SAFETY: the std guard is dropped before each park.
        let h = unsafe {
            go(move || {
                tx.send(1).unwrap();
                l2.lock().unwrap().push("sent");
            })
        };
        mn_sched::sleep(Duration::from_millis(20));
        log.lock().unwrap().push("receiving");
        assert_eq!(rx.recv().unwrap(), 1);
        h.join().unwrap();
        let v = log.lock().unwrap().clone();
        v
    });
    assert_eq!(order, vec!["receiving", "sent"]);
}

#[test]
fn bounded_fills_then_blocks() {
    run(1, || {
        let (tx, rx) = chan::bounded::<u32>(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        // SAFETY: the G holds nothing across parks.
        let h = unsafe { go(move || tx.send(3)) };
        mn_sched::yield_now();
        assert_eq!(rx.len(), 2, "the third send waits");
        assert_eq!((rx.recv(), rx.recv(), rx.recv()), (Ok(1), Ok(2), Ok(3)));
        h.join().unwrap().unwrap();
    });
}

#[test]
fn unbounded_never_blocks_and_keeps_order() {
    let v = run(1, || {
        let (tx, rx) = chan::unbounded::<u32>();
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    });
    assert_eq!(v, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn closing_wakes_the_other_side() {
    run(2, || {
        let (tx, rx) = chan::rendezvous::<u32>();
        // SAFETY: the G holds nothing across parks.
        let h = unsafe { go(move || rx.recv()) };
        mn_sched::sleep(Duration::from_millis(10));
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(RecvError));

        let (tx, rx) = chan::rendezvous::<u32>();
        // SAFETY: as above.
        let h = unsafe { go(move || tx.send(9)) };
        mn_sched::sleep(Duration::from_millis(10));
        drop(rx);
        assert_eq!(
            h.join().unwrap().unwrap_err().0,
            9,
            "a refused send gives its value back"
        );

        let (tx, rx) = chan::bounded::<u32>(4);
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv(), Ok(1), "buffered values outlive the senders");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn ping_pong_between_two_gs() {
    let x = run(2, || {
        let (tx, rx) = chan::rendezvous::<u64>();
        let (tx2, rx2) = chan::rendezvous::<u64>();
        // SAFETY: the G holds nothing across parks.
        unsafe {
            go(move || {
                while let Ok(v) = rx.recv() {
                    tx2.send(v + 1).unwrap();
                }
            })
        };
        let mut x = 0;
        for _ in 0..20_000 {
            tx.send(x).unwrap();
            x = rx2.recv().unwrap();
        }
        x
    });
    assert_eq!(x, 20_000);
}

#[test]
fn many_producers_many_consumers_lose_nothing() {
    let (sum, n) = run(4, || {
        let (tx, rx) = chan::bounded::<u64>(8);
        let per = 2_000u64;
        let producers: Vec<_> = (0..8u64)
            .map(|p| {
                let tx = tx.clone();
                // SAFETY: the G holds nothing across parks.
                unsafe { go(move || (0..per).for_each(|i| tx.send(p * per + i).unwrap())) }
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                // SAFETY: as above.
                unsafe { go(move || rx.iter().fold((0u64, 0u64), |(s, n), v| (s + v, n + 1))) }
            })
            .collect();
        producers.into_iter().for_each(|h| h.join().unwrap());
        consumers
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let total = 8 * 2_000u64;
    assert_eq!((sum, n), (total * (total - 1) / 2, total));
}

#[test]
fn select_takes_the_ready_arm() {
    run(2, || {
        let (tx1, rx1) = chan::bounded::<u32>(1);
        let (_tx2, rx2) = chan::bounded::<&str>(1);
        tx1.send(5).unwrap();
        let got = Select::new()
            .recv(&rx1, |r| format!("one {}", r.unwrap()))
            .recv(&rx2, |r| format!("two {}", r.unwrap()))
            .wait();
        assert_eq!(got, "one 5");
    });
}

#[test]
fn select_with_timeout_times_out_then_succeeds() {
    run(2, || {
        let (tx, rx) = chan::rendezvous::<u32>();
        let t = Instant::now();
        let r = Select::new()
            .recv(&rx, |r| r.unwrap())
            .wait_timeout(Duration::from_millis(30));
        let waited = t.elapsed();
        assert!(r.is_none());
        assert!(
            waited >= Duration::from_millis(30),
            "returned early: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(5),
            "timer far too late: {waited:?}"
        );
        // SAFETY: the G holds nothing across parks.
        unsafe {
            go(move || {
                mn_sched::sleep(Duration::from_millis(10));
                tx.send(3).unwrap();
            })
        };
        let r = Select::new()
            .recv(&rx, |r| r.unwrap())
            .wait_timeout(Duration::from_secs(10));
        assert_eq!(r, Some(3));
    });
}

#[test]
fn recv_timeout_and_deadline() {
    run(1, || {
        let (tx, rx) = chan::bounded::<u32>(1);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(1).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Ok(1));
        drop(tx);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn select_send_arm_and_default() {
    run(2, || {
        let (tx, rx) = chan::rendezvous::<u32>();
        assert!(
            Select::new()
                .send(&tx, 1, |r| r.is_ok())
                .try_select()
                .is_none(),
            "no receiver yet"
        );
        // SAFETY: the G holds nothing across parks.
        let h = unsafe { go(move || rx.recv().unwrap()) };
        let sent = Select::new().send(&tx, 42, |r| r.is_ok()).wait();
        assert!(sent);
        assert_eq!(h.join().unwrap(), 42);
    });
}

/// Two selects on both ends of two rendezvous channels complete each other
/// exactly once (the decision word protocol of select.rs), many times over.
#[test]
fn selects_pair_with_selects() {
    let done = run(2, || {
        let (a_tx, a_rx) = chan::rendezvous::<u32>();
        let (b_tx, b_rx) = chan::rendezvous::<u32>();
        let rounds = 2_000;
        // SAFETY: the G holds nothing across parks.
        let h = unsafe {
            go(move || {
                let mut got = 0;
                for i in 0..rounds {
                    got += Select::new()
                        .recv(&a_rx, |r| r.map(|_| 1).unwrap_or(0))
                        .send(&b_tx, i, |r| r.map(|_| 1).unwrap_or(0))
                        .wait();
                }
                got
            })
        };
        let mut got = 0;
        for i in 0..rounds {
            got += Select::new()
                .send(&a_tx, i, |r| r.map(|_| 1).unwrap_or(0))
                .recv(&b_rx, |r| r.map(|_| 1).unwrap_or(0))
                .wait();
        }
        (got, h.join().unwrap())
    });
    assert_eq!(done, (2_000, 2_000));
}

#[test]
fn select_stress_no_value_lost_or_duplicated() {
    let counts = run(4, || {
        let chans: Vec<_> = (0..3).map(|_| chan::bounded::<u64>(1)).collect();
        let n = 3_000u64;
        let senders: Vec<_> = chans
            .iter()
            .enumerate()
            .map(|(k, (tx, _))| {
                let tx = tx.clone();
                // SAFETY: the G holds nothing across parks.
                unsafe { go(move || (0..n).for_each(|i| tx.send(k as u64 * n + i).unwrap())) }
            })
            .collect();
        let rxs: Vec<_> = chans.iter().map(|(_, rx)| rx.clone()).collect();
        drop(chans);
        let seen = Arc::new((0..3 * n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (rxs, seen) = (rxs.clone(), seen.clone());
                // SAFETY: as above.
                unsafe {
                    go(move || {
                        // Select over the channels still open; a closed one
                        // is always ready (Err), so it leaves the set.
                        let mut open = vec![true; rxs.len()];
                        while open.iter().any(|&o| o) {
                            let mut sel = Select::new();
                            for (k, rx) in rxs.iter().enumerate().filter(|(k, _)| open[*k]) {
                                sel = sel.recv(rx, move |r| (k, r));
                            }
                            match sel.wait() {
                                (_, Ok(v)) => {
                                    seen[v as usize].fetch_add(1, Ordering::Relaxed);
                                }
                                (k, Err(_)) => open[k] = false,
                            }
                        }
                    })
                }
            })
            .collect();
        senders.into_iter().for_each(|h| h.join().unwrap());
        receivers.into_iter().for_each(|h| h.join().unwrap());
        seen.iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    });
    assert!(
        counts.iter().all(|&c| c == 1),
        "a value was lost or received twice"
    );
}

#[test]
fn channels_work_between_plain_threads_and_gs() {
    let rt = util::rt(2);
    let (tx, rx) = chan::rendezvous::<u32>();
    let (tx2, rx2) = chan::rendezvous::<u32>();
    // SAFETY: the G holds nothing across parks.
    let h = unsafe {
        rt.handle().spawn(move || {
            for v in rx.iter() {
                tx2.send(v * 2).unwrap();
            }
        })
    }
    .unwrap();
    for i in 0..100 {
        tx.send(i).unwrap();
        assert_eq!(rx2.recv().unwrap(), i * 2);
    }
    drop(tx);
    h.join().unwrap();
    let r = Select::new()
        .recv(&rx2, |r| r.is_err())
        .wait_timeout(Duration::from_millis(5));
    assert_eq!(r, Some(true), "disconnected once the G ended");
}
