//! mn-sched's context switch and yield, beside may's, in the same groups.
//!
//! * `bare_switch` — one switch between two contexts, no scheduler (time per
//!   switch: half a round trip). mn-sched: its inline-asm switch
//!   (`bench_support`); may: its `generator` crate (`resume` + `yield_`).
//!   Target: ≤ 10 ns.
//! * `yield_round_trip` — two Gs (coroutines) yielding to each other through
//!   the run queue; time per round trip (two yields). mn-sched at 1 P and at
//!   2 Ps; may with 1 worker (`may::config` is per process: this binary sets
//!   1 worker). Target: ≤ 50 ns.
//!
//! Run: `cargo bench -p switchyard-benches --bench mn_switch`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use generator::Gn;
use mn_sched::{go, yield_now, Runtime};

fn bare_switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("bare_switch");
    g.bench_function("mn-sched", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            mn_sched::bench_support::bare_switch_round_trips(iters);
            t.elapsed() / 2
        })
    });
    g.bench_function("may-generator", |b| {
        let mut gen = Gn::<()>::new_scoped(|mut s| loop {
            s.yield_(());
        });
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(gen.resume());
            }
            t.elapsed() / 2
        })
    });
    g.finish();
}

/// `iters` yield round trips between two Gs of `rt`.
fn mn_yield_round_trips(rt: &Runtime, iters: u64) -> Duration {
    // SAFETY: the Gs only yield.
    unsafe {
        rt.block_on(move || {
            let other = go(move || {
                for _ in 0..iters {
                    yield_now();
                }
            });
            let t = Instant::now();
            for _ in 0..iters {
                yield_now();
            }
            let d = t.elapsed();
            other.join().unwrap();
            d
        })
    }
    .unwrap()
}

fn yield_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield_round_trip");
    for procs in [1, 2] {
        let rt = Runtime::builder().procs(procs).build().unwrap();
        g.bench_function(format!("mn-sched {procs}P"), |b| {
            b.iter_custom(|iters| mn_yield_round_trips(&rt, iters))
        });
    }
    g.bench_function("may 1 worker", |b| {
        b.iter_custom(|iters| {
            let h = may::go!(move || {
                let other = may::go!(move || {
                    for _ in 0..iters {
                        may::coroutine::yield_now();
                    }
                });
                let t = Instant::now();
                for _ in 0..iters {
                    may::coroutine::yield_now();
                }
                let d = t.elapsed();
                other.join().unwrap();
                d
            });
            h.join().unwrap()
        })
    });
    g.finish();
}

fn config() -> Criterion {
    may::config().set_workers(1);
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bare_switch, yield_round_trip
}
criterion_main!(benches);
