//! The added cost of `mn_sched::syscall` (lazy entersyscall/exitsyscall:
//! one store, one CAS) around `getpid`, beside the plain call, in one group.
//! Go's figure comes from `examples/go/syscall_cost.go` (its `syscall.Getpid`
//! goes through entersyscall/exitsyscall; `go run` it in the same session).
//! Target: ≤ 50 ns added.
//!
//! A second group times what a runtime call pays for sysmon's right to take
//! the P from user code: the ownership claim beside the bare load
//! it replaced. Target: a few ns.
//!
//! Run: `cargo bench -p switchyard-benches --bench mn_syscall`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mn_sched::Runtime;

fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions; the raw syscall skips any libc
    // caching.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// `iters` calls of `f` timed inside a G of `rt`.
fn on_g(rt: &Runtime, iters: u64, wrapped: bool) -> Duration {
    // SAFETY: the G holds nothing across a park.
    unsafe {
        rt.block_on(move || {
            let t = Instant::now();
            for _ in 0..iters {
                if wrapped {
                    std::hint::black_box(mn_sched::syscall(getpid));
                } else {
                    std::hint::black_box(getpid());
                }
            }
            t.elapsed()
        })
    }
    .unwrap()
}

fn syscall_cost(c: &mut Criterion) {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let mut g = c.benchmark_group("syscall_getpid");
    g.bench_function("plain", |b| b.iter_custom(|n| on_g(&rt, n, false)));
    g.bench_function("mn-sched-syscall", |b| {
        b.iter_custom(|n| on_g(&rt, n, true))
    });
    g.finish();
}

/// Sysmon's "retake the P, not the G": every runtime call from user code
/// now claims its P from sysmon (a store to the M's call count, a compiler
/// fence, two loads, then a store back: the membarrier-backed claim of
/// sched/syscall.rs; it was a CAS before). This group times that
/// check beside the bare load it replaced, on a G.
fn runtime_call_check(c: &mut Criterion) {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let time = |n: u64, claim: bool| {
        // SAFETY: the G holds nothing across a park.
        unsafe {
            rt.block_on(move || {
                let t = Instant::now();
                mn_sched::bench_support::runtime_call_checks(n, claim);
                t.elapsed()
            })
        }
        .unwrap()
    };
    let mut g = c.benchmark_group("runtime_call_check");
    g.bench_function("load-only (before)", |b| b.iter_custom(|n| time(n, false)));
    g.bench_function("claim", |b| b.iter_custom(|n| time(n, true)));
    g.finish();
}

criterion_group!(benches, syscall_cost, runtime_call_check);
criterion_main!(benches);
