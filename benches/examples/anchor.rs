//! switchyard's side of the peers' workloads (../shared/peers): the same
//! W1–W7 programs as the tokio, may, Go and Node anchors, printing the same
//! JSON lines, so `benches/peers.sh` can run them in one run beside the peers.
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release -p switchyard-benches --example anchor -- w1
//! RUNTIME_MODE=mn RUNTIME_MAXPROCS=2 cargo run --release -p switchyard-benches --example anchor -- w3
//! ```
//!
//! Each line is `{"w":"w1","sys":"sy-single (JoinHandle)","metric":"ns_per_task","value":123.4}`;
//! the label is `sy-single`, or `sy-mnP<procs>` in mn mode. As in the peers'
//! programs, the workload driver runs inside a spawned task; `w1-main` and
//! `w3-main` run it in the main future itself, as a program ported from Go's
//! `func main` would (label `… from main`), to compare the two shapes.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::sync::{mpsc, WaitGroup};
use switchyard::time::sleep;
use switchyard::Mode;

fn emit(w: &str, sys: &str, metric: &str, value: f64) {
    println!("{{\"w\":\"{w}\",\"sys\":\"{sys}\",\"metric\":\"{metric}\",\"value\":{value}}}");
    let _ = std::io::stdout().flush();
}

fn arg(i: usize) -> Option<String> {
    std::env::args().nth(i)
}

fn arg_or<T: std::str::FromStr>(i: usize, d: T) -> T {
    arg(i).and_then(|s| s.parse().ok()).unwrap_or(d)
}

/// A real blocking syscall (libc nanosleep through std), not a runtime sleep.
fn blocking_sleep(d: Duration) {
    std::thread::sleep(d);
}

/// Spins on a counter until `deadline`, checking the clock every 1024
/// increments; `black_box` keeps each increment real.
#[inline(never)]
fn spin_until(deadline: Instant) -> u64 {
    let mut c: u64 = 0;
    loop {
        c = std::hint::black_box(c + 1);
        if c & 1023 == 0 && Instant::now() >= deadline {
            return c;
        }
    }
}

fn main() {
    let w = arg(1).expect("usage: anchor <w1|w2|w3|w4|w5|w7>[-main] [args]");
    switchyard::run(async move {
        let s = switchyard::stats().expect("inside switchyard::run");
        let sys = match s.mode {
            Mode::Single => "sy-single".to_string(),
            Mode::Mn => format!("sy-mnP{}", s.procs),
        };
        match w.strip_suffix("-main") {
            Some(base) => driver(base.to_string(), format!("{sys} from main")).await,
            None => switchyard::spawn(driver(w, sys)).await.unwrap(),
        }
    })
}

async fn driver(w: String, sys: String) {
    match w.as_str() {
        "w1" => w1(&sys).await,
        "w2" => w2(&sys).await,
        "w3" => w3(&sys).await,
        "w4" => w4(&sys).await,
        "w5" => w5(&sys).await,
        "w7" => w7(&sys).await,
        other => panic!("unknown workload {other} (W6 is the echo example)"),
    }
}

/// W1: spawn N (100k) tasks that each just signal completion; wait for all.
/// Twice: awaiting every JoinHandle, and a WaitGroup. 1 warm-up + 5 rounds.
async fn w1(sys: &str) {
    let n: usize = arg_or(2, 100_000);
    for rep in 0..6 {
        let t = Instant::now();
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            hs.push(switchyard::spawn(async {}));
        }
        for h in hs {
            h.await.unwrap();
        }
        if rep > 0 {
            emit(
                "w1",
                &format!("{sys} (JoinHandle)"),
                "ns_per_task",
                t.elapsed().as_nanos() as f64 / n as f64,
            );
        }
    }
    for rep in 0..6 {
        let t = Instant::now();
        let wg = WaitGroup::new();
        wg.add(n);
        for _ in 0..n {
            let wg = wg.clone();
            switchyard::spawn(async move { wg.done() });
        }
        wg.wait().await;
        if rep > 0 {
            emit(
                "w1",
                &format!("{sys} (WaitGroup)"),
                "ns_per_task",
                t.elapsed().as_nanos() as f64 / n as f64,
            );
        }
    }
}

/// W2: N (1M) tasks each sleeping 1 s; wait for all. Arg 3 = "count": also
/// report the peak number alive at once.
async fn w2(sys: &str) {
    let n: usize = arg_or(2, 1_000_000);
    let count = arg(3).as_deref() == Some("count");
    let alive = Arc::new(AtomicUsize::new(0));
    let mut peak = 0;
    let t = Instant::now();
    let mut hs = Vec::with_capacity(n);
    for _ in 0..n {
        if count {
            peak = peak.max(alive.fetch_add(1, Ordering::Relaxed) + 1);
            let alive = alive.clone();
            hs.push(switchyard::spawn(async move {
                sleep(Duration::from_secs(1)).await;
                alive.fetch_sub(1, Ordering::Relaxed);
            }));
        } else {
            // The sleep starts when the task first runs, as in the peers.
            hs.push(switchyard::spawn(async {
                sleep(Duration::from_secs(1)).await
            }));
        }
    }
    let spawned = t.elapsed();
    for h in hs {
        h.await.unwrap();
    }
    if count {
        emit(
            "w2",
            &format!("{sys} (instrumented)"),
            "peak_alive",
            peak as f64,
        );
        emit(
            "w2",
            &format!("{sys} (instrumented)"),
            "spawn_phase_s",
            spawned.as_secs_f64(),
        );
    } else {
        emit("w2", sys, "inner_wall_s", t.elapsed().as_secs_f64());
        emit("w2", sys, "spawn_phase_s", spawned.as_secs_f64());
    }
}

/// W3: ping-pong an integer between two tasks over two bounded(1) channels;
/// batches of 1000 round trips until 1 s has passed; 1 warm-up + 5 rounds.
async fn w3(sys: &str) {
    let (tx1, mut rx1) = mpsc::channel::<u64>(1);
    let (tx2, mut rx2) = mpsc::channel::<u64>(1);
    switchyard::spawn(async move {
        while let Some(v) = rx1.recv().await {
            if tx2.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let mut x = 0u64;
    for rep in 0..6 {
        let t = Instant::now();
        let mut count = 0u64;
        loop {
            for _ in 0..1000 {
                tx1.send(x).await.unwrap();
                x = rx2.recv().await.unwrap();
            }
            count += 1000;
            if t.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
        if rep > 0 {
            emit(
                "w3",
                &format!("{sys} mpsc(1)"),
                "ns_per_roundtrip",
                t.elapsed().as_nanos() as f64 / count as f64,
            );
        }
    }
    assert!(x > 0);
}

/// W4: 10 tasks each make a real blocking call (nanosleep 1 s). Arg 2:
/// "direct" (inside the task), "syscall" (through `switchyard::syscall`) or
/// "spawn_blocking" (the pool).
async fn w4(sys: &str) {
    let how = arg(2).unwrap_or_else(|| "direct".into());
    let t = Instant::now();
    let mut hs = Vec::new();
    for _ in 0..10 {
        match how.as_str() {
            "spawn_blocking" => {
                let h = switchyard::spawn_blocking(|| blocking_sleep(Duration::from_secs(1)));
                hs.push(switchyard::spawn(async move { h.await.unwrap() }));
            }
            "syscall" => hs.push(switchyard::spawn(async {
                switchyard::syscall(|| blocking_sleep(Duration::from_secs(1)))
            })),
            _ => hs.push(switchyard::spawn(async {
                blocking_sleep(Duration::from_secs(1))
            })),
        }
    }
    for h in hs {
        h.await.unwrap();
    }
    let label = if how == "direct" {
        sys.to_string()
    } else {
        format!("{sys} {how}")
    };
    emit("w4", &label, "inner_wall_s", t.elapsed().as_secs_f64());
    emit(
        "w4",
        &label,
        "threads_at_end",
        switchyard::os::thread_count() as f64,
    );
}

/// W5: N (10k) tasks parked on a 5 s timer; OS threads while they sleep.
async fn w5(sys: &str) {
    let n: usize = arg_or(2, 10_000);
    let hs: Vec<_> = (0..n)
        .map(|_| switchyard::spawn(sleep(Duration::from_secs(5))))
        .collect();
    sleep(Duration::from_millis(2500)).await;
    emit(
        "w5",
        sys,
        "threads_mid_sleep",
        switchyard::os::thread_count() as f64,
    );
    for h in hs {
        h.await.unwrap();
    }
}

/// W7: 4 tasks each spin a counter until a shared deadline 1 s away.
async fn w7(sys: &str) {
    for _ in 0..3 {
        let t = Instant::now();
        let deadline = t + Duration::from_secs(1);
        let hs: Vec<_> = (0..4)
            .map(|_| switchyard::spawn(async move { spin_until(deadline) }))
            .collect();
        let mut counts = Vec::new();
        for h in hs {
            counts.push(h.await.unwrap());
        }
        let total: u64 = counts.iter().sum();
        let max = *counts.iter().max().unwrap();
        emit("w7", sys, "total_count_M", total as f64 / 1e6);
        emit("w7", sys, "max_task_share", max as f64 / total as f64);
        emit("w7", sys, "wall_s", t.elapsed().as_secs_f64());
    }
}
