//! What recording a trace costs: spawn+join and channel ping-pong with
//! `RUNTIME_TRACE` off and on, in single mode and in mn
//! with 2 Ps (the `trace_mn_*` groups; there both ends of the ping-pong are
//! Gs). Off must cost nothing but one branch per poll (per G run in mn);
//! on, each poll/run appends a slice (and each wake an arrow) to its lane's
//! buffer (per M in mn).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::Mode;

fn runtime(trace: bool) -> switchyard::Runtime {
    runtime_in(Mode::Single, 1, trace)
}

fn runtime_in(mode: Mode, procs: usize, trace: bool) -> switchyard::Runtime {
    let mut b = switchyard::testing::builder(mode, procs);
    if trace {
        b = b.trace(std::env::temp_dir().join("switchyard-bench-trace.json"));
    }
    b.build().unwrap()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_spawn_join_1000");
    for (name, on) in [("off", false), ("on", true)] {
        g.bench_function(name, |b| {
            let rt = runtime(on);
            b.iter_custom(|iters| {
                rt.block_on(async move {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let hs: Vec<_> = (0..1000).map(|_| switchyard::spawn(async {})).collect();
                        for h in hs {
                            h.await.unwrap();
                        }
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_pingpong");
    for (name, on) in [("off", false), ("on", true)] {
        g.bench_function(name, |b| {
            let rt = runtime(on);
            b.iter_custom(|iters| {
                rt.block_on(async move {
                    let (tx1, mut rx1) = switchyard::sync::mpsc::channel::<u64>(1);
                    let (tx2, mut rx2) = switchyard::sync::mpsc::channel::<u64>(1);
                    let echo = switchyard::spawn(async move {
                        while let Some(v) = rx1.recv().await {
                            if tx2.send(v).await.is_err() {
                                break;
                            }
                        }
                    });
                    let t = Instant::now();
                    for i in 0..iters {
                        tx1.send(i).await.unwrap();
                        rx2.recv().await.unwrap();
                    }
                    let e = t.elapsed();
                    drop(tx1);
                    echo.await.unwrap();
                    e
                })
            })
        });
    }
    g.finish();
}

fn mn_spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_mn_spawn_join_1000");
    for (name, on) in [("off", false), ("on", true)] {
        g.bench_function(name, |b| {
            let rt = runtime_in(Mode::Mn, 2, on);
            b.iter_custom(|iters| {
                rt.block_on(async move {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let hs: Vec<_> = (0..1000).map(|_| switchyard::spawn(async {})).collect();
                        for h in hs {
                            h.await.unwrap();
                        }
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn mn_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_mn_pingpong");
    for (name, on) in [("off", false), ("on", true)] {
        g.bench_function(name, |b| {
            let rt = runtime_in(Mode::Mn, 2, on);
            b.iter_custom(|iters| {
                rt.block_on(async move {
                    // Both ends on Gs (the main future only waits).
                    switchyard::spawn(async move {
                        let (tx1, mut rx1) = switchyard::sync::mpsc::channel::<u64>(1);
                        let (tx2, mut rx2) = switchyard::sync::mpsc::channel::<u64>(1);
                        let echo = switchyard::spawn(async move {
                            while let Some(v) = rx1.recv().await {
                                if tx2.send(v).await.is_err() {
                                    break;
                                }
                            }
                        });
                        let t = Instant::now();
                        for i in 0..iters {
                            tx1.send(i).await.unwrap();
                            rx2.recv().await.unwrap();
                        }
                        let e = t.elapsed();
                        drop(tx1);
                        echo.await.unwrap();
                        e
                    })
                    .await
                    .unwrap()
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = spawn_join, pingpong, mn_spawn_join, mn_pingpong
}
criterion_main!(benches);
