//! timer_lateness: how long after its deadline a sleep ends, on a runtime
//! that waits in epoll as a server's does (the peers: Go's `time.Sleep` in
//! `examples/go`, tokio's `sleep` in `benches/loop_timers.rs`).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example timer_lateness -- [--sleep 10ms] [--n 200] [--ticker 3.7ms] [--busy DUR] [--procs P]
//! RUNTIME_MODE=mn cargo run --release --example timer_lateness -- --alone
//! RUNTIME_MODE=mn cargo run --release --example timer_lateness -- --busy 50us --procs 1
//! ```
//!
//! The driver task sleeps `--sleep` `--n` times in a row and notes how much
//! longer than asked each took: the overshoot, elapsed − requested. Beside
//! it (unless `--alone`):
//! * a ticker task sleeps `--ticker` in a loop: timers of another phase,
//!   so the runtime's wake-ups do not line up with the driver's deadlines;
//! * a TCP connection on 127.0.0.1 with a task parked reading it: a socket
//!   in the epoll set, so the idle thread waits in `epoll_wait`, whose
//!   timeout counts whole milliseconds, as in a server.
//!
//! With `--busy DUR` (also with `--alone`) one more task computes: it spins
//! DUR on the clock, awaits `yield_now`, and again, until the driver is
//! done. The runtime's thread is then never idle, so no epoll timeout or
//! alarm wakes it: a timer fires when the scheduler looks at the clock
//! between the busy task's slices (Go's twin spins, then
//! `runtime.Gosched()`). On one P (`--procs 1`) the busy task and the
//! driver share the one thread, as they always do in single mode. The busy
//! task also counts, for each sleep, the slices it began at or after the
//! sleep's deadline: slices the scheduler ran instead of the due sleeper.
//! The OS cannot add to that count by preempting the thread (a preempted
//! slice is not a new one), so it is the figure a loaded machine leaves
//! alone, where the µs are not.
//!
//! A sleep must never end early (the count `early` is 0 or the runtime is
//! wrong); how late it ends is what differs. A runtime that rounds its
//! epoll timeout up to the next whole millisecond wakes ~1 ms late (tokio
//! current_thread among them); switchyard arms a timerfd alarm at the
//! deadline and wakes ~0.1 ms late. Figures beside Go
//! and tokio: `benches/README.md`. `--procs P` sets the Ps (mn; default
//! `RUNTIME_MAXPROCS`, else the CPUs).
//!
//! Result keys: `sleep_ms`, `ticker_ms` (0 with `--alone`: no ticker, no
//! socket), `n`, `p50_late_us`, `p90_late_us`, `p99_late_us`,
//! `max_late_us` (overshoots in µs, nearest-rank percentiles of an HDR
//! histogram, `common/hist.rs`), `early` (sleeps that ended before their
//! deadline, counted as 0 late in the percentiles), `ticks` (the ticker's
//! wake-ups), `busy_us` (`--busy` in µs, 0 without it), `busy_yields`
//! (how many times the busy task yielded), `p50_late_slices`,
//! `p99_late_slices`, `max_late_slices` (the busy task's slices begun
//! past a sleep's deadline, per sleep; all 0 without `--busy`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hist::Hist;
use common::{Flags, Here, Report, Sampler};

const USAGE: &str =
    "usage: timer_lateness [--sleep DUR] [--n N] [--ticker DUR] [--alone] [--busy DUR] [--procs P]
  --sleep DUR    each sleep of the driver (default 10ms)
  --n N          how many sleeps, one after the other (default 200)
  --ticker DUR   the ticker task's period (default 3.7ms)
  --alone        no ticker and no socket: the driver's timers only
  --busy DUR     a task that spins DUR, yields, and again, until the driver
                 is done (default: no such task)
  --procs P      Ps of the runtime (mn; default RUNTIME_MAXPROCS, else the CPUs)";

/// What the driver measured.
struct Measured {
    /// Each sleep's overshoot in µs, negative if it ended early.
    late_us: Vec<f64>,
    /// With `--busy`: for each sleep, the busy task's slices begun at or
    /// after its deadline.
    late_slices: Vec<f64>,
    /// How many times the ticker woke.
    ticks: u64,
}

/// What the driver and the busy task share.
struct Busy {
    /// The clock's origin for `deadline_ns`.
    base: Instant,
    /// The deadline of the driver's current sleep, ns after `base`
    /// (`u64::MAX` between sleeps).
    deadline_ns: AtomicU64,
    /// Slices the busy task began at or after that deadline.
    past: AtomicU64,
    /// The driver is done.
    stop: AtomicBool,
}

fn main() {
    let mut f = Flags::parse("timer_lateness", USAGE);
    let sleep = f.duration("--sleep", Duration::from_millis(10));
    let n: usize = f.value("--n", 200).max(1);
    let ticker = f.duration("--ticker", Duration::from_micros(3700));
    let alone = f.flag("--alone");
    let busy = f.duration("--busy", Duration::ZERO);
    let procs: usize = f.value("--procs", 0);
    f.finish();
    if !alone && ticker.is_zero() {
        common::refuse(
            "timer_lateness",
            "--ticker must be above zero (or pass --alone)",
        );
    }

    let sampler = Sampler::start();
    let mut builder = switchyard::Builder::new();
    if procs > 0 {
        builder = builder.procs(procs);
    }
    let (here, m, busy_yields, wall) = common::run_main(builder, async move {
        let here = Here::now();
        let t0 = Instant::now();
        let shared = Arc::new(Busy {
            base: Instant::now(),
            deadline_ns: AtomicU64::new(u64::MAX),
            past: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let busy_task =
            (!busy.is_zero()).then(|| switchyard::spawn(spin_and_yield(busy, shared.clone())));
        let watch = busy_task.as_ref().map(|_| &*shared);
        let m = if alone {
            let (late_us, late_slices) = sleeps(sleep, n, watch).await;
            Measured {
                late_us,
                late_slices,
                ticks: 0,
            }
        } else {
            beside_a_ticker_and_a_socket(sleep, n, ticker, watch).await
        };
        shared.stop.store(true, Ordering::Relaxed);
        let busy_yields = match busy_task {
            Some(t) => t.await.expect("busy task"),
            None => 0,
        };
        (here, m, busy_yields, t0.elapsed())
    });
    let samples = sampler.finish();

    let early = m.late_us.iter().filter(|l| **l < 0.0).count();
    // Overshoots in ns; an early end (counted in `early`, and a bug) is
    // recorded as 0 late.
    let mut late = Hist::new();
    for l in &m.late_us {
        late.record((l * 1e3).max(0.0).round() as u64);
    }
    let us = |p: f64| late.pct(p) as f64 / 1e3;
    let (p50, p90, p99, max) = (us(50.0), us(90.0), us(99.0), us(100.0));
    let mut slices = Hist::new();
    for s in &m.late_slices {
        slices.record(*s as u64);
    }
    let count = |p: f64| slices.pct(p) as f64;
    let (s50, s99, smax) = (count(50.0), count(99.0), count(100.0));
    let beside = if alone {
        "alone".to_string()
    } else {
        format!("beside a {ticker:?} ticker and a parked socket read")
    };
    let beside = if busy.is_zero() {
        beside
    } else {
        format!("{beside}, and a task spinning {busy:?} between yields")
    };
    println!(
        "timer_lateness: {n} sleeps of {sleep:?}, {beside}, mode={} procs={}",
        here.mode, here.procs
    );
    println!(
        "  late by: median {p50:.0} µs, p90 {p90:.0} µs, p99 {p99:.0} µs, most {max:.0} µs; {early} ended early"
    );
    if !busy.is_zero() {
        println!(
            "  busy task's slices begun past a deadline, per sleep: median {s50}, p99 {s99}, most {smax}; {busy_yields} yields in all"
        );
    }
    let mut r = Report::new("timer_lateness", here);
    r.num("sleep_ms", sleep.as_secs_f64() * 1e3)
        .num(
            "ticker_ms",
            if alone {
                0.0
            } else {
                ticker.as_secs_f64() * 1e3
            },
        )
        .kv("n", n)
        .num("p50_late_us", p50)
        .num("p90_late_us", p90)
        .num("p99_late_us", p99)
        .num("max_late_us", max)
        .kv("early", early)
        .kv("ticks", m.ticks)
        .num("busy_us", busy.as_secs_f64() * 1e6)
        .kv("busy_yields", busy_yields)
        .num("p50_late_slices", s50)
        .num("p99_late_slices", s99)
        .num("max_late_slices", smax);
    r.finish(wall, &samples);
}

/// Sleeps `sleep` `n` times; returns each overshoot in µs and, when a busy
/// task is `watch`ed, how many of its slices each sleep's deadline saw
/// begin before the driver ran again.
async fn sleeps(sleep: Duration, n: usize, watch: Option<&Busy>) -> (Vec<f64>, Vec<f64>) {
    let mut late = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(if watch.is_some() { n } else { 0 });
    for _ in 0..n {
        let t = Instant::now();
        if let Some(b) = watch {
            b.past.store(0, Ordering::Relaxed);
            let deadline = (t + sleep - b.base).as_nanos() as u64;
            b.deadline_ns.store(deadline, Ordering::Relaxed);
        }
        switchyard::time::sleep(sleep).await;
        late.push((t.elapsed().as_secs_f64() - sleep.as_secs_f64()) * 1e6);
        if let Some(b) = watch {
            b.deadline_ns.store(u64::MAX, Ordering::Relaxed);
            slices.push(b.past.load(Ordering::Relaxed) as f64);
        }
    }
    (late, slices)
}

/// The measurement with the ticker and the parked reader alive: both start
/// first and end after it.
async fn beside_a_ticker_and_a_socket(
    sleep: Duration,
    n: usize,
    ticker: Duration,
    watch: Option<&Busy>,
) -> Measured {
    // A connection on loopback; the accepted end gets a reader that waits.
    let listener = switchyard::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr");
    let client = switchyard::net::TcpStream::connect(addr)
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    let reader = switchyard::spawn(async move {
        let mut buf = [0u8; 16];
        server.read(&mut buf).await
    });
    // The ticker, of another phase than the driver's sleeps.
    let stop = Arc::new(AtomicBool::new(false));
    let ticking = switchyard::spawn(tick(ticker, stop.clone()));

    let (late_us, late_slices) = sleeps(sleep, n, watch).await;

    // Stop the ticker; a byte ends the reader's wait.
    stop.store(true, Ordering::Relaxed);
    let ticks = ticking.await.expect("ticker task");
    client.write_all(b"x").await.expect("write the last byte");
    let got = reader.await.expect("reader task").expect("read");
    assert_eq!(got, 1, "the reader gets the one byte");
    Measured {
        late_us,
        late_slices,
        ticks,
    }
}

/// Sleeps `period` in a loop until `stop`; returns how many times it woke.
async fn tick(period: Duration, stop: Arc<AtomicBool>) -> u64 {
    let mut ticks = 0;
    while !stop.load(Ordering::Relaxed) {
        switchyard::time::sleep(period).await;
        ticks += 1;
    }
    ticks
}

/// Spins `busy` on the clock and yields, over and over, until the driver
/// is done; counts the slices it begins past the driver's deadline and
/// returns how many times it yielded.
async fn spin_and_yield(busy: Duration, shared: Arc<Busy>) -> u64 {
    let mut yields = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let now_ns = (t - shared.base).as_nanos() as u64;
        if now_ns >= shared.deadline_ns.load(Ordering::Relaxed) {
            shared.past.fetch_add(1, Ordering::Relaxed);
        }
        while t.elapsed() < busy {
            std::hint::spin_loop();
        }
        switchyard::yield_now().await;
        yields += 1;
    }
    yields
}
