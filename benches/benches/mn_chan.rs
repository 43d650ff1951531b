//! Channel ping-pong between two Gs (Go's W3 in ../shared/peers): time per
//! round trip (a send and a receive each way), mn-sched beside may.
//!
//! * `mn-sched rendezvous 2P` — capacity-0 channels (Go's unbuffered `chan`)
//!   at 2 Ps: the pair stays on one P (runnext), the other P idles.
//! * `mn-sched rendezvous 1P`, `mn-sched bounded(1) 2P`.
//! * `may mpsc 2 workers` — `may::sync::mpsc` (unbounded), as in the recorded
//!   peers run.
//!
//! Targets: ≤ 0.8× Go's and ≤ 0.8× may's time per round trip (their
//! recorded figures: docs/perf-journal.md).
//! Run: `cargo bench -p switchyard-benches --bench mn_chan` (Go: `anchor w3 0` from the peers folder).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mn_sched::{chan, go, Runtime};

fn mn_ping_pong(rt: &Runtime, cap: usize, iters: u64) -> Duration {
    // SAFETY: the Gs only use channels.
    unsafe {
        rt.block_on(move || {
            let (tx, rx) = chan::bounded::<u64>(cap);
            let (tx2, rx2) = chan::bounded::<u64>(cap);
            let echo = go(move || {
                for v in rx.iter() {
                    tx2.send(v + 1).unwrap();
                }
            });
            let mut x = 0;
            let t = Instant::now();
            for _ in 0..iters {
                tx.send(x).unwrap();
                x = rx2.recv().unwrap();
            }
            let d = t.elapsed();
            drop(tx);
            echo.join().unwrap();
            assert_eq!(x, iters);
            d
        })
    }
    .unwrap()
}

fn may_ping_pong(iters: u64) -> Duration {
    may::go!(move || {
        let (tx, rx) = may::sync::mpsc::channel::<u64>();
        let (tx2, rx2) = may::sync::mpsc::channel::<u64>();
        let echo = may::go!(move || {
            while let Ok(v) = rx.recv() {
                if tx2.send(v + 1).is_err() {
                    break;
                }
            }
        });
        let mut x = 0;
        let t = Instant::now();
        for _ in 0..iters {
            tx.send(x).unwrap();
            x = rx2.recv().unwrap();
        }
        let d = t.elapsed();
        drop(tx);
        echo.join().unwrap();
        d
    })
    .join()
    .unwrap()
}

fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("chan_ping_pong");
    let rt2 = Runtime::builder().procs(2).build().unwrap();
    let rt1 = Runtime::builder().procs(1).build().unwrap();
    g.bench_function("mn-sched rendezvous 2P", |b| {
        b.iter_custom(|i| mn_ping_pong(&rt2, 0, i))
    });
    g.bench_function("mn-sched rendezvous 1P", |b| {
        b.iter_custom(|i| mn_ping_pong(&rt1, 0, i))
    });
    g.bench_function("mn-sched bounded(1) 2P", |b| {
        b.iter_custom(|i| mn_ping_pong(&rt2, 1, i))
    });
    g.bench_function("may mpsc 2 workers", |b| b.iter_custom(may_ping_pong));
    g.finish();
}

fn config() -> Criterion {
    may::config().set_workers(2);
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ping_pong
}
criterion_main!(benches);
