//! How the G stack size was chosen: memory of a parked G, and the cost of
//! spawning Gs that park, for several stack sizes.
//!
//! For each size, a fresh runtime (2 Ps) spawns 100,000 Gs that each park on
//! a channel, then reads /proc/self/status: VmRSS (resident memory) and
//! VmPTE (page tables) per parked G, and the wall time per G to get them all
//! parked (first touches of fresh stack pages included). Then it releases
//! them and drops the runtime. The spawn+join cost with reused stacks is in
//! `benches/mn_spawn.rs` (group `spawn_join_100k_2P_stack_size`).
//!
//! Run: `cargo run --release -p switchyard-mn --example mn_stack_size [N]`

use std::time::Instant;

use mn_sched::{chan, go, Runtime};

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!("{n} parked Gs per size, 2 Ps");
    println!("| stack size | RSS per parked G | page tables per parked G | spawn until all parked, per G |");
    println!("|---|---|---|---|");
    for kib in [32usize, 64, 128, 256, 512, 1024] {
        let rt = Runtime::builder()
            .procs(2)
            .stack_size(kib * 1024)
            .build()
            .unwrap();
        let (rss0, pte0) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
        // SAFETY: the Gs only wait on a channel.
        let (per_g_ns, rss1, pte1) = unsafe {
            rt.block_on(move || {
                let (tx, rx) = chan::rendezvous::<()>();
                let (ready_tx, ready_rx) = chan::unbounded::<()>();
                let t = Instant::now();
                let hs: Vec<_> = (0..n)
                    .map(|_| {
                        let (rx, ready_tx) = (rx.clone(), ready_tx.clone());
                        go(move || {
                            ready_tx.send(()).unwrap();
                            let _ = rx.recv();
                        })
                    })
                    .collect();
                for _ in 0..n {
                    ready_rx.recv().unwrap();
                }
                mn_sched::sleep(std::time::Duration::from_millis(20)); // all parked in recv
                let per_g = t.elapsed().as_nanos() as f64 / n as f64;
                let (rss1, pte1) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
                drop(tx);
                hs.into_iter().for_each(|h| h.join().unwrap());
                (per_g, rss1, pte1)
            })
        }
        .unwrap();
        drop(rt);
        let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 * 1024.0 / n as f64;
        println!(
            "| {kib} KiB | {:.2} KiB | {:.2} KiB | {:.0} ns |",
            per(rss0, rss1) / 1024.0,
            per(pte0, pte1) / 1024.0,
            per_g_ns
        );
    }
}
