//! The client side of the "a socket beside tasks that yield" tests, shared
//! by mn-sched's (`mn-sched/tests/mn_sysmon.rs`) and compat's
//! (`tests/compat_runtime.rs`): one-byte round trips to an echo.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `n` round trips of one byte on `c`, a millisecond apart; their median.
pub fn median_round_trip(c: &mut TcpStream, n: usize) -> Duration {
    let mut took: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            c.write_all(b"x").unwrap();
            c.read_exact(&mut [0u8; 1]).unwrap();
            let rt = t.elapsed();
            std::thread::sleep(Duration::from_millis(1));
            rt
        })
        .collect();
    took.sort();
    took[took.len() / 2]
}
