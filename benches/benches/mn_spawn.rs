//! Spawn + join of 100,000 blocking-style Gs at 2 Ps (the seeds' spawn
//! experiment, Go's W1 in ../shared/peers), mn-sched beside may.
//!
//! One iteration = one round of 100,000 Gs; divide the time by 100,000 for
//! the cost per G (the throughput line gives Gs per second).
//!
//! * `mn-sched JoinHandle` — spawn all 100,000, then join each handle.
//! * `mn-sched WaitGroup` — spawn all, each calls `done` on one `&'static`
//!   WaitGroup; wait. Go's W1 exactly: Go's goroutines capture `wg` by
//!   reference, with no reference count.
//! * `mn-sched WaitGroup, Arc clone per G` — the same with a WaitGroup
//!   cloned into each G: three atomic read-modify-writes per G on one cache
//!   line from two cores (clone at spawn, `done` and drop in the G), which
//!   is what a Rust program that clones its group pays on top.
//! * `mn-sched JoinHandle, batches of 1000` and `may JoinHandle, batches of
//!   1000` — spawn 1000, join them, repeat: may cannot hold 100,000
//!   coroutines at once under the default `vm.max_map_count` (each of its
//!   stacks is a mapping plus an mprotect guard: it fails near 65,000), and
//!   with batches its stacks come from its pool (capacity 1000), as in the
//!   recorded peers run.
//! * `stack size` — mn-sched's JoinHandle round at 64 KiB, 256 KiB (the
//!   default) and 1 MiB stacks: the size does not change the cost.
//!
//! Targets: ≤ 0.8× Go's per-goroutine time and ≤ 0.5× may's.
//! Run: `cargo bench -p switchyard-benches --bench mn_spawn` (Go: `anchor w1` from the peers folder).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mn_sched::{go, Runtime, WaitGroup};

const N: u64 = 100_000;

fn rounds<F>(iters: u64, round: F) -> Duration
where
    F: Fn() -> Duration,
{
    (0..iters).map(|_| round()).sum()
}

fn mn_round(rt: &Runtime, batch: u64) -> Duration {
    // SAFETY: the Gs hold nothing.
    unsafe {
        rt.block_on(move || {
            let t = Instant::now();
            let mut left = N;
            while left > 0 {
                let b = batch.min(left);
                let hs: Vec<_> = (0..b).map(|_| go(|| ())).collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
                left -= b;
            }
            t.elapsed()
        })
    }
    .unwrap()
}

fn mn_waitgroup_round(rt: &Runtime, wg: &'static WaitGroup) -> Duration {
    // SAFETY: the Gs hold nothing.
    unsafe {
        rt.block_on(move || {
            let t = Instant::now();
            wg.add(N as usize);
            for _ in 0..N {
                drop(go(move || wg.done()));
            }
            wg.wait();
            t.elapsed()
        })
    }
    .unwrap()
}

fn mn_waitgroup_arc_round(rt: &Runtime) -> Duration {
    // SAFETY: the Gs hold nothing.
    unsafe {
        rt.block_on(|| {
            let t = Instant::now();
            let wg = WaitGroup::new();
            wg.add(N as usize);
            for _ in 0..N {
                let wg = wg.clone();
                drop(go(move || wg.done()));
            }
            wg.wait();
            t.elapsed()
        })
    }
    .unwrap()
}

fn may_round(batch: u64) -> Duration {
    may::go!(move || {
        let t = Instant::now();
        let mut left = N;
        while left > 0 {
            let b = batch.min(left);
            let hs: Vec<_> = (0..b).map(|_| may::go!(|| ())).collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            left -= b;
        }
        t.elapsed()
    })
    .join()
    .unwrap()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join_100k_2P");
    g.throughput(Throughput::Elements(N));
    let rt = Runtime::builder().procs(2).build().unwrap();
    g.bench_function("mn-sched JoinHandle", |b| {
        b.iter_custom(|i| rounds(i, || mn_round(&rt, N)))
    });
    let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
    g.bench_function("mn-sched WaitGroup", |b| {
        b.iter_custom(|i| rounds(i, || mn_waitgroup_round(&rt, wg)))
    });
    g.bench_function("mn-sched WaitGroup, Arc clone per G", |b| {
        b.iter_custom(|i| rounds(i, || mn_waitgroup_arc_round(&rt)))
    });
    g.bench_function("mn-sched JoinHandle, batches of 1000", |b| {
        b.iter_custom(|i| rounds(i, || mn_round(&rt, 1000)))
    });
    g.bench_function("may JoinHandle, batches of 1000", |b| {
        b.iter_custom(|i| rounds(i, || may_round(1000)))
    });
    g.finish();

    let mut g = c.benchmark_group("spawn_join_100k_2P_stack_size");
    g.throughput(Throughput::Elements(N));
    for kib in [64usize, 256, 1024] {
        let rt = Runtime::builder()
            .procs(2)
            .stack_size(kib * 1024)
            .build()
            .unwrap();
        g.bench_function(format!("mn-sched {kib} KiB"), |b| {
            b.iter_custom(|i| rounds(i, || mn_round(&rt, N)))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    may::config().set_workers(2);
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_join
}
criterion_main!(benches);
