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

use std::io::{self, Write};
use std::time::Duration;

use switchyard::net::{TcpListener, TcpStream};

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
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;
        if demo {
            switchyard::spawn(demo_load());
        }
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("metrics: accept: {e}");
                    switchyard::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            switchyard::spawn(async move {
                if let Err(e) = serve(&stream).await {
                    eprintln!("metrics: {e}");
                }
            });
        }
    })
}

/// Answers one request (then closes: `Connection: close`).
async fn serve(stream: &TcpStream) -> io::Result<()> {
    let mut req = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || req.len() > 16 * 1024 {
            return Ok(());
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
    stream.shutdown(std::net::Shutdown::Write).await
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
