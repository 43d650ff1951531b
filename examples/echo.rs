//! TCP echo server: every byte read on a connection is written back, until
//! the peer closes its side; then the server closes its own (half-close is
//! honoured: bytes still in flight are echoed before the EOF).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example echo [ADDR]
//! ```
//!
//! ADDR defaults to 127.0.0.1:7000 (port 0 picks a free port). Once ready it
//! prints `listening on <addr>`. SIGINT or SIGTERM stops it: it prints what it
//! served and the runtime's stats, and exits 0 (also when nobody reads its
//! stdout any more: the lines are dropped, the status stays 0). Out of file
//! descriptors, the accept loop backs off (5 ms doubling to 1 s) and keeps
//! serving the connections it has; its error lines are rate-limited (at
//! most 10 a second, then a count of the rest) and never block the server.

mod common;

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{say, AcceptBackoff};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};

/// What the server did, for the exit report.
#[derive(Default)]
struct Served {
    connections: AtomicU64,
    bytes: AtomicU64,
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let served = Arc::new(Served::default());
    // One main per loop: with RUNTIME_LOOPS=N (single mode) every loop
    // binds the address (SO_REUSEPORT) and serves its share; otherwise
    // this is `run` of one main.
    let ends = switchyard::run_each(|id| {
        let (addr, served) = (addr.as_str(), served.clone());
        async move {
            let listener = TcpListener::bind(addr).await?;
            let mut stop = common::StopSignals::listen()?;
            if id == 0 {
                say(format_args!("listening on {}", listener.local_addr()?));
            }
            switchyard::spawn(accept_loop(listener, served));

            let which = stop.wait(None).await;
            let s = switchyard::stats().expect("inside switchyard::run_each");
            Ok::<_, io::Error>((which, s))
        }
    });
    let mut ends = ends.into_iter().collect::<io::Result<Vec<_>>>()?;
    let (which, first) = ends.remove(0);
    let (live, total) = ends
        .iter()
        .fold((first.live_tasks, first.total_tasks), |(l, t), (_, s)| {
            (l + s.live_tasks, t + s.total_tasks)
        });
    let loops = if first.loops > 1 {
        format!(" loops={}", first.loops)
    } else {
        String::new()
    };
    say(format_args!(
        "echo: {which}: served {} connections, {} bytes; mode={}{loops} threads={} live_tasks={live} total_tasks={total}",
        served.connections.load(Ordering::Relaxed),
        served.bytes.load(Ordering::Relaxed),
        first.mode,
        first.threads,
    ));
    Ok(())
}

async fn accept_loop(listener: TcpListener, served: Arc<Served>) {
    let mut backoff = AcceptBackoff::new("echo");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.accepted();
                served.connections.fetch_add(1, Ordering::Relaxed);
                switchyard::spawn(echo(stream, served.clone()));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => backoff.failed(&e).await,
        }
    }
}

async fn echo(stream: TcpStream, served: Arc<Served>) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
        served.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = stream.shutdown(Shutdown::Write).await;
}
