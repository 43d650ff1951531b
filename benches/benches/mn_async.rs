//! Async tasks on mn-sched's Gs beside tokio multi_thread with 2
//! workers, in the same criterion groups:
//!
//! * `async_spawn_join_100k` — one iteration spawns 100,000 async tasks at
//!   2 Ps from a task and awaits every JoinHandle (divide by 100,000 for
//!   the cost per task; the throughput line gives tasks per second).
//!   Each mn task is a G with its own stack (the Go model). The
//!   `spawned from block_on_future` / `block_on` lines spawn from the
//!   calling thread instead (mn: the external path through the global
//!   queue; tokio: its inject queue).
//! * `async_pingpong` — two spawned tasks bounce a counter 10,000 times
//!   through a minimal one-slot, waker-based channel written here (the same
//!   code on both runtimes: only the scheduler differs).
//!
//! Run: `cargo bench -p switchyard-benches --bench mn_async`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mn_sched::aio::task;
use mn_sched::Runtime;

const N: u64 = 100_000;
const ROUND_TRIPS: u64 = 10_000;

fn mn_rt() -> Runtime {
    Runtime::builder().procs(2).build().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_spawn_join_100k");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    let rt = mn_rt();
    g.bench_function("mn-sched async tasks, 2 Ps", |b| {
        b.iter(|| {
            let h = rt.handle().spawn_future(async {
                let hs: Vec<_> = (0..N).map(|i| task::spawn(async move { i })).collect();
                let mut s = 0;
                for h in hs {
                    s += h.await.unwrap();
                }
                s
            });
            assert_eq!(rt.block_on_future(h).unwrap(), N * (N - 1) / 2);
        })
    });
    g.bench_function(
        "mn-sched async tasks, 2 Ps, spawned from block_on_future",
        |b| {
            b.iter(|| {
                let s = rt.block_on_future(async {
                    let hs: Vec<_> = (0..N).map(|i| task::spawn(async move { i })).collect();
                    let mut s = 0;
                    for h in hs {
                        s += h.await.unwrap();
                    }
                    s
                });
                assert_eq!(s, N * (N - 1) / 2);
            })
        },
    );
    let trt = tokio_rt();
    g.bench_function(
        "tokio multi_thread, 2 workers, spawned from block_on",
        |b| {
            b.iter(|| {
                let s = trt.block_on(async {
                    let hs: Vec<_> = (0..N).map(|i| tokio::spawn(async move { i })).collect();
                    let mut s = 0;
                    for h in hs {
                        s += h.await.unwrap();
                    }
                    s
                });
                assert_eq!(s, N * (N - 1) / 2);
            })
        },
    );
    g.bench_function("tokio multi_thread, 2 workers", |b| {
        b.iter(|| {
            let h = trt.spawn(async {
                let hs: Vec<_> = (0..N).map(|i| tokio::spawn(async move { i })).collect();
                let mut s = 0;
                for h in hs {
                    s += h.await.unwrap();
                }
                s
            });
            assert_eq!(trt.block_on(h).unwrap(), N * (N - 1) / 2);
        })
    });
    g.finish();
}

/// A one-slot channel: a value and the receiver's waker under one lock.
#[derive(Default)]
struct Slot(Mutex<(Option<u64>, Option<Waker>)>);

impl Slot {
    fn send(&self, v: u64) {
        let w = {
            let mut s = self.0.lock().unwrap();
            s.0 = Some(v);
            s.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    fn recv(&self) -> Recv<'_> {
        Recv(self)
    }
}

struct Recv<'a>(&'a Slot);

impl Future for Recv<'_> {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let mut s = self.0 .0.lock().unwrap();
        if let Some(v) = s.0.take() {
            return Poll::Ready(v);
        }
        match &s.1 {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.1 = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The two tasks: `ping` sends n, `pong` answers n + 1, ROUND_TRIPS times.
fn players(
    spawn: impl Fn(
        Pin<Box<dyn Future<Output = u64> + Send>>,
    ) -> Pin<Box<dyn Future<Output = u64> + Send>>,
) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    let (a, b) = (Arc::new(Slot::default()), Arc::new(Slot::default()));
    let (a2, b2) = (a.clone(), b.clone());
    let pong = spawn(Box::pin(async move {
        for _ in 0..ROUND_TRIPS {
            let v = a2.recv().await;
            b2.send(v + 1);
        }
        0
    }));
    let ping = spawn(Box::pin(async move {
        let mut v = 0;
        for _ in 0..ROUND_TRIPS {
            a.send(v);
            v = b.recv().await;
        }
        v
    }));
    Box::pin(async move {
        let v = ping.await;
        pong.await;
        v
    })
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_pingpong");
    g.throughput(Throughput::Elements(ROUND_TRIPS));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(6));
    let rt = mn_rt();
    g.bench_function("mn-sched async tasks, 2 Ps", |b| {
        b.iter(|| {
            let h = rt.handle().clone();
            let v = rt.block_on_future(players(move |f| {
                let j = h.spawn_future(f);
                Box::pin(async move { j.await.unwrap() })
            }));
            assert_eq!(v, ROUND_TRIPS);
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio multi_thread, 2 workers", |b| {
        b.iter(|| {
            let h = trt.handle().clone();
            let v = trt.block_on(players(move |f| {
                let j = h.spawn(f);
                Box::pin(async move { j.await.unwrap() })
            }));
            assert_eq!(v, ROUND_TRIPS);
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_join, pingpong);
criterion_main!(benches);
