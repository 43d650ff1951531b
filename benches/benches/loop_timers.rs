//! Timer cost and precision: switchyard single mode (hierarchical wheel)
//! beside tokio current_thread, and for precision mn beside tokio
//! multi_thread too.
//!
//! * `sleep_register_cancel` — make a 1 s sleep, poll it once (it registers
//!   on the wheel), drop it (it cancels): the per-sleeper bookkeeping.
//! * `sleepers_10k_1ms` — 10,000 tasks each sleeping 1 ms, all awaited: the
//!   figure includes the 1 ms itself, so compare the two, not the absolute.
//! * `sleep_10ms_beside_a_ticker` — the wall time of one 10 ms sleep in a
//!   spawned task while another task sleeps 3.7 ms in a loop (timers of
//!   another phase): 10 ms plus how late the runtime wakes. switchyard
//!   single and mn at 2 Ps beside tokio current_thread and multi_thread
//!   with 2 workers; `examples/timer_lateness.rs` gives the percentiles
//!   (and Go's, with a parked socket as well).
//!
//! Run: `cargo bench -p switchyard-benches --bench loop_timers` (the precision group alone:
//! `cargo bench -p switchyard-benches --bench loop_timers -- sleep_10ms`).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
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

/// The sleep each iteration measures.
const SLEEP: Duration = Duration::from_millis(10);
/// The other task's period: not a divisor of `SLEEP`, so the two tasks'
/// deadlines fall at different instants.
const TICK: Duration = Duration::from_micros(3700);

fn sleep_beside_a_ticker(c: &mut Criterion) {
    let mut g = c.benchmark_group("sleep_10ms_beside_a_ticker");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, mode, procs) in [
        ("switchyard-single", Mode::Single, 1),
        ("switchyard-mn", Mode::Mn, 2),
    ] {
        let rt = switchyard::testing::builder(mode, procs).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = rt.handle();
        let ticker = handle.spawn({
            let stop = stop.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    switchyard::time::sleep(TICK).await;
                }
            }
        });
        measure(&mut g, name, |iters| {
            rt.block_on(handle.spawn(async move {
                let t = Instant::now();
                for _ in 0..iters {
                    switchyard::time::sleep(SLEEP).await;
                }
                t.elapsed()
            }))
            .unwrap()
        });
        stop.store(true, Ordering::Relaxed);
        rt.block_on(ticker).unwrap();
    }
    for (name, rt) in [
        (
            "tokio-current_thread",
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap(),
        ),
        (
            "tokio-multi_thread",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_time()
                .build()
                .unwrap(),
        ),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = rt.spawn({
            let stop = stop.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(TICK).await;
                }
            }
        });
        measure(&mut g, name, |iters| {
            rt.block_on(rt.spawn(async move {
                let t = Instant::now();
                for _ in 0..iters {
                    tokio::time::sleep(SLEEP).await;
                }
                t.elapsed()
            }))
            .unwrap()
        });
        stop.store(true, Ordering::Relaxed);
        rt.block_on(ticker).unwrap();
    }
    g.finish();
}

/// One bench function: `sleeps(iters)` runs that many sleeps in a row and
/// returns their wall time.
fn measure(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut sleeps: impl FnMut(u64) -> Duration,
) {
    g.bench_function(name, |b| b.iter_custom(&mut sleeps));
}

criterion_group!(benches, register_cancel, sleepers, sleep_beside_a_ticker);
criterion_main!(benches);
