//! Work driven from the main future against the same work driven from a
//! spawned task, in mn mode at 2 Ps, beside tokio's multi_thread runtime
//! (2 workers) driven from `block_on` and from a task.
//!
//! In mn the main future runs as a G on a P of the calling thread (Go's
//! main goroutine), so a ping-pong between main and a task, or a spawn
//! storm from main, stays on one P as it does between two tasks. tokio's
//! `block_on` future runs outside its workers: every wake between it and a
//! task crosses threads (tokio documents "spawn your main"). Go's figure
//! for the same ping-pong in `func main` is the peers' W3
//! (`ONLY=w3 benches/peers.sh`, which also runs `anchor w3-main`).
//!
//! * `main_pingpong`: one round trip bounces an integer through two
//!   bounded(1) channels (switchyard's `sync::mpsc`, tokio's `mpsc`).
//! * `main_spawn_join`: spawn `iters` empty tasks, then await every handle.
//!
//! Run: `cargo bench -p switchyard-benches --bench mn_main`. Targets: mn
//! main↔task at most 1.2× task↔task; spawn+join from main at most 1.2×
//! from a task.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

/// `iters` round trips between the calling future and a spawned echo task.
async fn sy_round_trips(iters: u64) -> Duration {
    use switchyard::sync::mpsc;
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
}

/// Spawns `iters` empty tasks from the calling future and awaits them all.
async fn sy_spawn_join(iters: u64) -> Duration {
    let start = Instant::now();
    let hs: Vec<_> = (0..iters).map(|_| switchyard::spawn(async {})).collect();
    for h in hs {
        h.await.unwrap();
    }
    start.elapsed()
}

async fn tokio_round_trips(iters: u64) -> Duration {
    use tokio::sync::mpsc;
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
}

async fn tokio_spawn_join(iters: u64) -> Duration {
    let start = Instant::now();
    let hs: Vec<_> = (0..iters).map(|_| tokio::spawn(async {})).collect();
    for h in hs {
        h.await.unwrap();
    }
    start.elapsed()
}

fn mn_runtime() -> switchyard::Runtime {
    switchyard::Builder::new()
        .ignore_env()
        .mode(switchyard::Mode::Mn)
        .procs(2)
        .build()
        .expect("mn runtime")
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("main_pingpong");
    g.measurement_time(Duration::from_secs(3));
    let rt = mn_runtime();
    g.bench_function("mn2 main<->task", |b| {
        b.iter_custom(|iters| rt.block_on(sy_round_trips(iters)));
    });
    g.bench_function("mn2 task<->task", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move { switchyard::spawn(sy_round_trips(iters)).await.unwrap() })
        });
    });
    drop(rt);
    let rt = tokio_runtime();
    g.bench_function("tokio-mt2 block_on<->task", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_round_trips(iters)));
    });
    g.bench_function("tokio-mt2 task<->task", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move { tokio::spawn(tokio_round_trips(iters)).await.unwrap() })
        });
    });
    g.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("main_spawn_join");
    g.measurement_time(Duration::from_secs(3));
    let rt = mn_runtime();
    g.bench_function("mn2 from main", |b| {
        b.iter_custom(|iters| rt.block_on(sy_spawn_join(iters)));
    });
    g.bench_function("mn2 from a task", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move { switchyard::spawn(sy_spawn_join(iters)).await.unwrap() })
        });
    });
    drop(rt);
    let rt = tokio_runtime();
    g.bench_function("tokio-mt2 from block_on", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_spawn_join(iters)));
    });
    g.bench_function("tokio-mt2 from a task", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move { tokio::spawn(tokio_spawn_join(iters)).await.unwrap() })
        });
    });
    g.finish();
}

criterion_group!(benches, pingpong, spawn_join);
criterion_main!(benches);
