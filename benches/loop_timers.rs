//! Timer cost: switchyard single mode (hierarchical wheel) beside tokio
//! current_thread.
//!
//! * `sleep_register_cancel` — make a 1 s sleep, poll it once (it registers
//!   on the wheel), drop it (it cancels): the per-sleeper bookkeeping.
//! * `sleepers_10k_1ms` — 10,000 tasks each sleeping 1 ms, all awaited: the
//!   figure includes the 1 ms itself, so compare the two, not the absolute.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::Mode;

fn poll_once<F: Future>(f: F) {
    let mut f = pin!(f);
    let _ = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}

fn register_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("sleep_register_cancel");
    g.bench_function("switchyard-single", |b| {
        let rt = switchyard::testing::builder(Mode::Single, 1)
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let t = Instant::now();
                for _ in 0..iters {
                    poll_once(switchyard::time::sleep(Duration::from_secs(1)));
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("tokio-current_thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let t = Instant::now();
                for _ in 0..iters {
                    poll_once(tokio::time::sleep(Duration::from_secs(1)));
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

fn sleepers(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut g = c.benchmark_group("sleepers_10k_1ms");
    g.sample_size(20);
    g.bench_function("switchyard-single", |b| {
        let rt = switchyard::testing::builder(Mode::Single, 1)
            .build()
            .unwrap();
        b.iter(|| {
            rt.block_on(async {
                let hs: Vec<_> = (0..N)
                    .map(|_| switchyard::spawn(switchyard::time::sleep(Duration::from_millis(1))))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.bench_function("tokio-current_thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        b.iter(|| {
            rt.block_on(async {
                let hs: Vec<_> = (0..N)
                    .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(1))))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, register_cancel, sleepers);
criterion_main!(benches);
