//! Spawn + join cost: switchyard single mode beside tokio current_thread.
//!
//! One iteration spawns 1,000 trivial tasks and awaits every JoinHandle, from
//! a driver that is itself a spawned task (as the peers' programs do). The
//! figure is the time per 1,000 tasks; divide by 1,000 for ns per task.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchyard::{Mode, Runtime};

const BATCH: usize = 1_000;

fn sy_runtime() -> Runtime {
    switchyard::testing::builder(Mode::Single, 1)
        .build()
        .unwrap()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join_1000");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("switchyard-single", |b| {
        let rt = sy_runtime();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                switchyard::spawn(async move {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let hs: Vec<_> = (0..BATCH).map(|_| switchyard::spawn(async {})).collect();
                        for h in hs {
                            h.await.unwrap();
                        }
                    }
                    t.elapsed()
                })
                .await
                .unwrap()
            })
        })
    });
    g.bench_function("tokio-current_thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let hs: Vec<_> = (0..BATCH).map(|_| tokio::spawn(async {})).collect();
                        for h in hs {
                            h.await.unwrap();
                        }
                    }
                    t.elapsed()
                })
                .await
                .unwrap()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = spawn_join
}
criterion_main!(benches);
