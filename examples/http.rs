//! http: a minimal HTTP/1.1 keep-alive "hello" server, for wrk.
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example http -- [--addr 127.0.0.1:8080] [--for DUR]
//! wrk -t1 -c50 -d5s http://127.0.0.1:8080/
//! ```
//!
//! Every request gets `200 OK` with `Hello, World!`; connections stay open
//! (HTTP/1.1 keep-alive) unless the request says `Connection: close` or is
//! HTTP/1.0 without `keep-alive`. Pipelined requests are answered in order,
//! in one write. A request body is skipped by its `Content-Length`; chunked
//! bodies, and heads over 64 KiB, get `400`/`431` and the connection closed.
//! It is not a web server, only the smallest honest one wrk can measure.
//!
//! Failing accepts (out of file descriptors) back off, 5 ms doubling to
//! 1 s; error lines are rate-limited (at most 10 a second, then a count of
//! the rest) and never block the server.
//!
//! Once ready it prints `listening on ADDR` (port 0 picks a free one). It
//! stops on SIGINT or SIGTERM, or after `--for`, prints what it served and
//! exits 0 (also when nobody reads its stdout any more: the lines are
//! dropped, the status stays 0).
//! Result keys: `addr`, `requests`, `connections`, `req_per_s` (over the
//! whole time it listened), `samples_taken` and `samples_kept` (the thread
//! sampler's readings: it keeps a bounded number however long the server
//! runs).

mod common;

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use common::{say, AcceptBackoff, Flags, Here, Report, Sampler};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};
use switchyard::signal::{signal, SignalKind};

const USAGE: &str = "usage: http [--addr ADDR] [--for DUR]
  --addr ADDR   where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --for DUR     stop after this long (default: until SIGINT or SIGTERM)";

/// The largest request head (and body) accepted.
const MAX_REQUEST: usize = 64 * 1024;

const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// What the server did, for the exit report.
#[derive(Default)]
struct Served {
    /// Connections accepted.
    connections: AtomicU64,
    /// Requests answered with 200.
    requests: AtomicU64,
}

fn main() {
    let mut f = Flags::parse("http", USAGE);
    let addr = f
        .text("--addr")
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let run_for = f.text("--for").map(|v| {
        common::parse_duration(&v)
            .unwrap_or_else(|| f.fail(&format!("--for {v:?}: expected a duration")))
    });
    f.finish();

    let sampler = Sampler::start();
    let (here, bound, why, served, wall) =
        common::run_task(switchyard::Builder::new(), async move {
            let here = Here::now();
            let listener = TcpListener::bind(addr.as_str())
                .await
                .unwrap_or_else(|e| common::refuse("http", &format!("bind {addr}: {e}")));
            let bound = listener.local_addr().expect("local addr");
            let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
            let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
            say(format_args!("listening on {bound}"));
            let t0 = Instant::now();
            let served = Arc::new(Served::default());
            switchyard::spawn(accept_loop(listener, served.clone()));

            let mut deadline = run_for.map(switchyard::time::sleep);
            let why = poll_fn(|cx| {
                if interrupt.poll_recv(cx).is_ready() {
                    return Poll::Ready("SIGINT");
                }
                if terminate.poll_recv(cx).is_ready() {
                    return Poll::Ready("SIGTERM");
                }
                match deadline.as_mut().map(|d| d.poll_elapsed(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready("--for elapsed"),
                    _ => Poll::Pending,
                }
            })
            .await;
            (here, bound, why, served, t0.elapsed())
        });
    let samples = sampler.finish();

    let requests = served.requests.load(Ordering::Relaxed);
    let connections = served.connections.load(Ordering::Relaxed);
    let rate = requests as f64 / wall.as_secs_f64().max(1e-9);
    say(format_args!(
        "http: {why}: served {requests} requests on {connections} connections in {:.1} s ({rate:.0} requests/s), mode={}",
        wall.as_secs_f64(),
        here.mode
    ));
    let mut r = Report::new("http", here);
    r.kv("addr", bound)
        .kv("requests", requests)
        .kv("connections", connections)
        .num("req_per_s", rate)
        .kv("samples_taken", samples.taken)
        .kv("samples_kept", samples.points.len());
    r.finish(wall, &samples);
}

/// Accepts forever, one task per connection; out of file descriptors it
/// backs off (5 ms doubling to 1 s) with one rate-limited error line.
async fn accept_loop(listener: TcpListener, served: Arc<Served>) {
    let mut backoff = AcceptBackoff::new("http");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.accepted();
                served.connections.fetch_add(1, Ordering::Relaxed);
                switchyard::spawn(serve(stream, served.clone()));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => backoff.failed(&e).await,
        }
    }
}

/// One connection: answer every complete request in the buffer, in one
/// write, then read more; until the peer closes or asks to.
async fn serve(stream: TcpStream, served: Arc<Served>) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let mut used = 0;
        let mut close = false;
        while let Some(req) = parse(&buf[used..]) {
            match req {
                Parsed::Request { len, keep_alive } => {
                    out.extend_from_slice(HELLO);
                    served.requests.fetch_add(1, Ordering::Relaxed);
                    used += len;
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                Parsed::Bad(reply) => {
                    out.extend_from_slice(reply);
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..used);
        if !close && buf.len() > MAX_REQUEST {
            out.extend_from_slice(TOO_LARGE);
            close = true;
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            let _ = stream.shutdown(std::net::Shutdown::Write).await;
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What the front of the buffer holds.
enum Parsed {
    /// A complete request of `len` bytes (head and body).
    Request {
        /// Bytes it takes in the buffer.
        len: usize,
        /// Whether the connection stays open after it.
        keep_alive: bool,
    },
    /// A request this server will not handle: the reply, then close.
    Bad(&'static [u8]),
}

/// Parses one request at the front of `buf`; `None` if it is not complete.
fn parse(buf: &[u8]) -> Option<Parsed> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok();
    let Some(head) = head else {
        return Some(Parsed::Bad(BAD_REQUEST));
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let version = request_line.rsplit(' ').next().unwrap_or("");
    let mut keep_alive = version == "HTTP/1.1";
    if !version.starts_with("HTTP/1.") {
        return Some(Parsed::Bad(BAD_REQUEST));
    }
    let mut body = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(n) if n <= MAX_REQUEST => body = n,
                _ => return Some(Parsed::Bad(BAD_REQUEST)),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Some(Parsed::Bad(BAD_REQUEST));
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        }
    }
    if buf.len() < head_end + body {
        return None;
    }
    Some(Parsed::Request {
        len: head_end + body,
        keep_alive,
    })
}
