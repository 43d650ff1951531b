//! hyper: the `http` example's keep-alive "hello" server written with hyper 1
//! over `switchyard::hyper`, for wrk and for `compare` (beside Go's net/http:
//! a full HTTP/1.1 implementation on each side).
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --features hyper --example hyper -- [--addr 127.0.0.1:8080] [--for DUR] [--header-timeout DUR]
//! wrk -t1 -c50 -d5s http://127.0.0.1:8080/
//! ```
//!
//! `GET /` gets `200 OK` with `Hello, World!` (and hyper's `date` and
//! `content-length`); any other method or path gets `404`. Connections stay
//! open (HTTP/1.1 keep-alive) until the client closes or asks to; hyper
//! parses, frames and pipelines. A client that has not sent a whole request
//! head `--header-timeout` (default 10s) after the connection is ready for
//! one is disconnected: hyper's `header_read_timeout`, timed by
//! `switchyard::hyper::Timer`. hyper arms it whenever it waits for a head,
//! so it also closes a kept-alive connection left idle that long.
//!
//! Once ready it prints `listening on ADDR` (port 0 picks a free one). It
//! stops on SIGINT or SIGTERM, or after `--for`, and prints what it served.
//! Result keys: `addr`, `requests`, `connections`, `req_per_s` (over the
//! whole time it listened), `header_timeouts` (connections closed by the
//! header-read timeout).

mod common;

use std::convert::Infallible;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Flags, Here, Report, Sampler};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use switchyard::hyper::{Io, Timer};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};

const USAGE: &str = "usage: hyper [--addr ADDR] [--for DUR] [--header-timeout DUR]
  --addr ADDR            where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --for DUR              stop after this long (default: until SIGINT or SIGTERM)
  --header-timeout DUR   close a connection whose request head is not in after this (default 10s)";

const HELLO: &[u8] = b"Hello, World!";

/// What the server did, for the exit report.
#[derive(Default)]
struct Served {
    /// Connections accepted.
    connections: AtomicU64,
    /// Requests answered (any status).
    requests: AtomicU64,
    /// Connections hyper ended because a request head was late.
    header_timeouts: AtomicU64,
}

fn main() {
    let mut f = Flags::parse("hyper", USAGE);
    let addr = f
        .text("--addr")
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let run_for = f.text("--for").map(|v| {
        common::parse_duration(&v)
            .unwrap_or_else(|| f.fail(&format!("--for {v:?}: expected a duration")))
    });
    let header_timeout = f.duration("--header-timeout", Duration::from_secs(10));
    f.finish();

    let sampler = Sampler::start();
    let served = Arc::new(Served::default());
    // One driver per loop (RUNTIME_LOOPS=N in single mode: every loop binds
    // the address with SO_REUSEPORT and serves its share); one otherwise.
    let ends = common::run_each_main(switchyard::Builder::new(), |id| {
        let (addr, served) = (addr.clone(), served.clone());
        async move {
            let here = Here::now();
            let listener = TcpListener::bind(addr.as_str())
                .await
                .unwrap_or_else(|e| common::refuse("hyper", &format!("bind {addr}: {e}")));
            let bound = listener.local_addr().expect("local addr");
            let mut stop = common::StopSignals::listen().expect("SIGINT and SIGTERM handlers");
            if id == 0 {
                println!("listening on {bound}");
                let _ = std::io::stdout().flush();
            }
            let t0 = Instant::now();
            switchyard::spawn(accept_loop(listener, served, header_timeout));

            let why = stop.wait(run_for).await;
            (here, bound, why, t0.elapsed())
        }
    });
    let (here, bound, why, wall) = ends.into_iter().next().expect("loop 0's end");
    let samples = sampler.finish();

    let requests = served.requests.load(Ordering::Relaxed);
    let connections = served.connections.load(Ordering::Relaxed);
    let header_timeouts = served.header_timeouts.load(Ordering::Relaxed);
    let rate = requests as f64 / wall.as_secs_f64().max(1e-9);
    println!(
        "hyper: {why}: served {requests} requests on {connections} connections in {:.1} s ({rate:.0} requests/s), mode={}",
        wall.as_secs_f64(),
        here.mode
    );
    let mut r = Report::new("hyper", here);
    r.kv("addr", bound)
        .kv("requests", requests)
        .kv("connections", connections)
        .num("req_per_s", rate)
        .kv("header_timeouts", header_timeouts);
    r.finish(wall, &samples);
}

/// Accepts forever, one task per connection.
async fn accept_loop(listener: TcpListener, served: Arc<Served>, header_timeout: Duration) {
    let mut builder = http1::Builder::new();
    builder.timer(Timer).header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                served.connections.fetch_add(1, Ordering::Relaxed);
                switchyard::spawn(serve(stream, builder.clone(), served.clone()));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                eprintln!("hyper: accept: {e}; retrying in 10 ms");
                switchyard::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One connection, handed to hyper until the peer closes or a head is late.
async fn serve(stream: TcpStream, builder: Arc<http1::Builder>, served: Arc<Served>) {
    let _ = stream.set_nodelay(true);
    let counter = served.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        counter.requests.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok::<_, Infallible>(answer(&req)))
    });
    if let Err(e) = builder.serve_connection(Io::new(stream), service).await {
        if e.is_timeout() {
            served.header_timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `GET /`: the hello; anything else: 404.
fn answer(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = if req.method() == Method::GET && req.uri().path() == "/" {
        (StatusCode::OK, HELLO)
    } else {
        (StatusCode::NOT_FOUND, &b""[..])
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(body)))
        .expect("a valid response")
}
