//! Channel ping-pong: one round trip bounces an integer between two tasks
//! through two bounded(1) mpsc channels (send, receive, send back, receive).
//!
//! Measures switchyard in single mode (`switchyard::sync::mpsc::channel(1)`)
//! beside tokio's current_thread runtime (`tokio::sync::mpsc::channel(1)`),
//! on the same work: in both, the driver runs inside a spawned task (as the
//! peers' programs in ../shared/peers do) and the echoing peer is a second
//! spawned task. `iter_custom` times a batch of `iters` round trips inside
//! the driver, so runtime start-up and task spawning stay out of the figure.
//!
//! Run: `cargo bench -p switchyard-benches --bench sync_pingpong`.
//! Targets of the sync primitives: at most 0.7× tokio current_thread's
//! time per round trip, and at most Node's (its figure recorded in
//! ../shared/peers/results.md on the same machine kind).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

/// switchyard single mode: `iters` round trips, timed inside a spawned task.
fn switchyard_round_trips(rt: &switchyard::Runtime, iters: u64) -> Duration {
    use switchyard::sync::mpsc;
    rt.block_on(async move {
        switchyard::spawn(async move {
            let (tx1, mut rx1) = mpsc::channel::<u64>(1);
            let (tx2, mut rx2) = mpsc::channel::<u64>(1);
            let peer = switchyard::spawn(async move {
                while let Some(v) = rx1.recv().await {
                    if tx2.send(v + 1).await.is_err() {
                        break;
                    }
                }
            });
            let mut x = 0u64;
            let start = Instant::now();
            for _ in 0..iters {
                tx1.send(x).await.unwrap();
                x = rx2.recv().await.unwrap();
            }
            let elapsed = start.elapsed();
            drop(tx1);
            peer.await.unwrap();
            assert_eq!(black_box(x), iters);
            elapsed
        })
        .await
        .unwrap()
    })
}

/// tokio current_thread: the same program with tokio's channels.
fn tokio_round_trips(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    use tokio::sync::mpsc;
    rt.block_on(async move {
        tokio::spawn(async move {
            let (tx1, mut rx1) = mpsc::channel::<u64>(1);
            let (tx2, mut rx2) = mpsc::channel::<u64>(1);
            let peer = tokio::spawn(async move {
                while let Some(v) = rx1.recv().await {
                    if tx2.send(v + 1).await.is_err() {
                        break;
                    }
                }
            });
            let mut x = 0u64;
            let start = Instant::now();
            for _ in 0..iters {
                tx1.send(x).await.unwrap();
                x = rx2.recv().await.unwrap();
            }
            let elapsed = start.elapsed();
            drop(tx1);
            peer.await.unwrap();
            assert_eq!(black_box(x), iters);
            elapsed
        })
        .await
        .unwrap()
    })
}

fn pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("pingpong");
    group.measurement_time(Duration::from_secs(5));

    let sy = switchyard::Builder::new()
        .ignore_env()
        .mode(switchyard::Mode::Single)
        .build()
        .expect("switchyard single runtime");
    group.bench_function("switchyard_single", |b| {
        b.iter_custom(|iters| switchyard_round_trips(&sy, iters))
    });

    let tk = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current_thread runtime");
    group.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| tokio_round_trips(&tk, iters))
    });

    group.finish();
}

criterion_group!(benches, pingpong);
criterion_main!(benches);
