//! Prometheus metrics over plain TCP: `GET /metrics` returns `stats()` and
//! the OS thread count in the Prometheus text format, from a tiny hand-made
//! HTTP/1.1 responder (no framework).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example metrics [ADDR] [--demo]
//! curl -s http://127.0.0.1:9464/metrics
//! ```
//!
//! ADDR defaults to 127.0.0.1:9464 (port 0 picks a free one); it prints
//! `listening on <addr>`. `--demo` adds some moving parts (sleeping tasks,
//! a blocking job now and then) so the gauges change. The alert rule file
//! `examples/metrics.rules.yml` fires when the process has more than 50 OS
//! threads for 30 s.
//!
//! A failing accept backs off (5 ms doubling to 1 s); error lines (a
//! failed accept, a connection reset mid-request) are rate-limited: at
//! most 10 a second, then a count of the rest, never blocking the server.
//!
//! SIGINT or SIGTERM stops it: it prints how many requests it answered and
//! exits 0 (also when nobody reads its stdout any more: the line is
//! dropped, the status stays 0).

mod common;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{say, AcceptBackoff};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let demo = args.iter().any(|a| a == "--demo");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9464".to_string());
    switchyard::run(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        let mut stop = common::StopSignals::listen()?;
        say(format_args!("listening on {}", listener.local_addr()?));
        if demo {
            switchyard::spawn(demo_load());
        }
        let answered = Arc::new(AtomicU64::new(0));
        switchyard::spawn(accept_loop(listener, answered.clone()));
        let which = stop.wait(None).await;
        say(format_args!(
            "metrics: {which}: answered {} requests",
            answered.load(Ordering::Relaxed)
        ));
        Ok(())
    })
}

/// Accepts forever, one task per connection; counts the answers.
async fn accept_loop(listener: TcpListener, answered: Arc<AtomicU64>) {
    let mut backoff = AcceptBackoff::new("metrics");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                backoff.failed(&e).await;
                continue;
            }
        };
        backoff.accepted();
        let answered = answered.clone();
        switchyard::spawn(async move {
            match serve(&stream).await {
                Ok(true) => {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) => common::error(format_args!("metrics: {e}")),
            }
        });
    }
}

/// Answers one request (then closes: `Connection: close`); `false` if the
/// peer closed before a whole request head.
async fn serve(stream: &TcpStream) -> io::Result<bool> {
    let mut req = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || req.len() > 16 * 1024 {
            return Ok(false);
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let first = line.lines().next().unwrap_or("");
    let (status, ctype, body) = if first.starts_with("GET /metrics ") {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            switchyard::stats()
                .expect("inside switchyard::run")
                .to_prometheus(),
        )
    } else {
        ("404 Not Found", "text/plain", "try /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown(std::net::Shutdown::Write).await?;
    Ok(true)
}

/// Something to watch: sleepers coming and going, a blocking job each second.
async fn demo_load() {
    let mut tick = switchyard::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        for i in 0..100u64 {
            switchyard::spawn(switchyard::time::sleep(Duration::from_millis(500 + i * 10)));
        }
        let _ = switchyard::spawn_blocking(|| std::thread::sleep(Duration::from_millis(200))).await;
    }
}
