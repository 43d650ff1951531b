//! ping_pong: the cost of one round trip between two tasks through two
//! channels (seed task 7, "context-switch cost": Go 200–500 ns).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example ping_pong -- [--duration 1s] [--cap 1]
//! ```
//!
//! The driver task sends an integer on one bounded channel; the echo task
//! sends it back plus one on the other. After 1000 warm-up round trips the
//! driver counts round trips in batches of 1000 until `--duration` has
//! passed. Result keys: `duration_ms`, `cap`, `round_trips`,
//! `ns_per_round_trip`.

mod common;

use std::time::{Duration, Instant};

use common::{Flags, Here, Report, Sampler};
use switchyard::sync::mpsc;

const USAGE: &str = "usage: ping_pong [--duration DUR] [--cap C]
  --duration DUR   how long to measure (default 1s)
  --cap C          capacity of each of the two channels (default 1)";

fn main() {
    let mut f = Flags::parse("ping_pong", USAGE);
    let duration = f.duration("--duration", Duration::from_secs(1));
    let cap: usize = f.value("--cap", 1).max(1);
    f.finish();

    let sampler = Sampler::start();
    let (here, (trips, measured), wall) =
        common::run_main(switchyard::Builder::new(), async move {
            let here = Here::now();
            let t0 = Instant::now();
            let out = bounce(duration, cap).await;
            (here, out, t0.elapsed())
        });
    let samples = sampler.finish();

    let ns = measured.as_nanos() as f64 / trips as f64;
    println!(
        "ping_pong: {trips} round trips in {:.0} ms through two channels of capacity {cap}, mode={}",
        measured.as_secs_f64() * 1e3,
        here.mode
    );
    println!("  {ns:.0} ns per round trip");
    let mut r = Report::new("ping_pong", here);
    r.num("duration_ms", duration.as_secs_f64() * 1e3)
        .kv("cap", cap)
        .kv("round_trips", trips)
        .num("ns_per_round_trip", ns);
    r.finish(wall, &samples);
}

/// Bounces an integer until `duration` has passed (after a warm-up);
/// returns the measured round trips and how long they took.
async fn bounce(duration: Duration, cap: usize) -> (u64, Duration) {
    let (to_echo, mut from_driver) = mpsc::channel::<u64>(cap);
    let (to_driver, mut from_echo) = mpsc::channel::<u64>(cap);
    switchyard::spawn(async move {
        while let Some(v) = from_driver.recv().await {
            if to_driver.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let mut x = 0u64;
    for _ in 0..1000 {
        to_echo.send(x).await.expect("echo task alive");
        x = from_echo.recv().await.expect("echo task alive");
    }
    let start = Instant::now();
    let mut trips = 0u64;
    while start.elapsed() < duration {
        for _ in 0..1000 {
            to_echo.send(x).await.expect("echo task alive");
            x = from_echo.recv().await.expect("echo task alive");
        }
        trips += 1000;
    }
    let measured = start.elapsed();
    assert_eq!(x, trips + 1000, "every round trip adds 1");
    (trips, measured)
}
