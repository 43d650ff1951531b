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
//! in one write. It is not a web server, only the smallest honest one wrk
//! can measure — honest about what it refuses, each time with the status
//! and then the connection closed:
//!
//! * a head over 64 KiB (however its bytes arrive): `431`;
//! * a body over 64 KiB: `413` (a body is skipped by its `Content-Length`
//!   as it arrives, never kept);
//! * a chunked body, two different `Content-Length`s, a `Content-Length`
//!   that is not digits, a field line without a colon or with a folded
//!   continuation, a request line that is not `METHOD TARGET HTTP/1.x`, a
//!   head that is not UTF-8: `400`.
//!
//! Lines may end in CRLF or a bare LF, and empty lines before a request
//! are skipped (as RFC 9112 lets a server do). A connection holds a 4 KiB
//! read buffer, more only while a large head is arriving, and gives the
//! rest back once the head is answered.
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
use std::time::{Duration, Instant};

use common::{say, AcceptBackoff, Flags, Here, Report, Sampler};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};
use switchyard::signal::{signal, SignalKind};

const USAGE: &str = "usage: http [--addr ADDR] [--for DUR]
  --addr ADDR   where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --for DUR     stop after this long (default: until SIGINT or SIGTERM)";

/// The largest request head accepted (the request line, the fields and
/// the empty line that ends them).
const MAX_HEAD: usize = 64 * 1024;

/// The largest request body accepted (skipped as it arrives, never kept).
const MAX_BODY: usize = 64 * 1024;

/// Bytes asked of each read.
const READ_CHUNK: usize = 4 * 1024;

/// The capacity a connection's buffers go back to after a large head or a
/// large batch of pipelined answers.
const KEEP_CAPACITY: usize = 2 * READ_CHUNK;

const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BODY_TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

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
    let mut conn = Conn::new();
    let mut out: Vec<u8> = Vec::new();
    loop {
        let close = conn.answer(&mut out, &served);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
            out.shrink_to(KEEP_CAPACITY);
        }
        if close {
            linger(&stream, &mut conn.buf).await;
            return;
        }
        conn.shrink();
        let len = conn.buf.len();
        conn.buf.resize(len + READ_CHUNK, 0);
        match stream.read(&mut conn.buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => conn.buf.truncate(len + n),
        }
    }
}

/// Closes a connection the server is done with, gently: shuts down the
/// writing side (the client reads the last answer, then EOF) and reads and
/// drops whatever the client still sends, for up to 2 s or 256 KiB, so a
/// client still writing a refused request sees the answer rather than a
/// reset ("lingering close").
async fn linger(stream: &TcpStream, buf: &mut Vec<u8>) {
    let _ = stream.shutdown(std::net::Shutdown::Write).await;
    buf.clear();
    buf.resize(READ_CHUNK, 0);
    let _ = switchyard::time::timeout(Duration::from_secs(2), async {
        let mut left = 256 * 1024usize;
        while left > 0 {
            match stream.read(buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// What a connection has read and not answered yet.
struct Conn {
    /// Bytes read and not consumed: the start of the next request.
    buf: Vec<u8>,
    /// How much of `buf` has been searched for the end of the head, so each
    /// byte is searched once however slowly the head arrives.
    scanned: usize,
    /// Body bytes of the last request still to arrive, to discard.
    skip: usize,
}

impl Conn {
    /// A connection that has read nothing.
    fn new() -> Conn {
        Conn {
            buf: Vec::with_capacity(KEEP_CAPACITY),
            scanned: 0,
            skip: 0,
        }
    }

    /// Queues in `out` the answer to every complete request in the buffer
    /// and consumes them; returns whether the connection closes after.
    fn answer(&mut self, out: &mut Vec<u8>, served: &Served) -> bool {
        let mut used = 0;
        let mut close = false;
        loop {
            if self.skip > 0 {
                let k = self.skip.min(self.buf.len() - used);
                used += k;
                self.skip -= k;
                if self.skip > 0 {
                    break;
                }
            }
            if self.scanned == 0 {
                // Empty lines before a request are skipped (RFC 9112 2.2).
                while used < self.buf.len() && matches!(self.buf[used], b'\r' | b'\n') {
                    used += 1;
                }
            }
            let rest = &self.buf[used..];
            if rest.is_empty() {
                break;
            }
            let end = match head_end(rest, self.scanned) {
                Ok(end) => end,
                Err(scanned) => {
                    self.scanned = scanned;
                    if rest.len() > MAX_HEAD {
                        out.extend_from_slice(TOO_LARGE);
                        close = true;
                    }
                    break;
                }
            };
            self.scanned = 0;
            if end > MAX_HEAD {
                out.extend_from_slice(TOO_LARGE);
                close = true;
                break;
            }
            match parse_head(&rest[..end]) {
                Ok(req) => {
                    out.extend_from_slice(HELLO);
                    served.requests.fetch_add(1, Ordering::Relaxed);
                    used += end;
                    self.skip = req.body;
                    if !req.keep_alive {
                        close = true;
                        break;
                    }
                }
                Err(reply) => {
                    out.extend_from_slice(reply);
                    close = true;
                    break;
                }
            }
        }
        self.buf.drain(..used);
        close
    }

    /// Gives back the memory a large head took, once it is answered.
    fn shrink(&mut self) {
        if self.buf.capacity() > KEEP_CAPACITY && self.buf.len() <= READ_CHUNK {
            self.buf.shrink_to(KEEP_CAPACITY);
        }
    }
}

/// Where the head at the front of `buf` ends (just after its empty line),
/// searching from `from`; `Err(n)` if it does not end yet, with `n` the
/// place to search from next time. A line ends with LF or CRLF; `buf`
/// does not start with an empty line.
fn head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut i = from;
    while let Some(k) = buf[i..].iter().position(|&b| b == b'\n') {
        let lf = i + k;
        // The line this LF ends is empty: LF LF, or LF CR LF.
        let empty = (lf >= 1 && buf[lf - 1] == b'\n')
            || (lf >= 2 && buf[lf - 1] == b'\r' && buf[lf - 2] == b'\n');
        if empty {
            return Ok(lf + 1);
        }
        i = lf + 1;
    }
    Err(buf.len())
}

/// What the server needs of a request head.
struct Request {
    /// Body bytes that follow the head.
    body: usize,
    /// Whether the connection stays open after it.
    keep_alive: bool,
}

/// Parses a whole request head (its empty line included); `Err` holds the
/// reply to a head this server refuses.
fn parse_head(head: &[u8]) -> Result<Request, &'static [u8]> {
    let head = std::str::from_utf8(head).map_err(|_| BAD_REQUEST)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    if request_line.contains('\r') {
        return Err(BAD_REQUEST);
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD_REQUEST);
    };
    let minor = version.strip_prefix("HTTP/1.").unwrap_or("");
    if !is_token(method) || target.is_empty() || minor.len() != 1 || !is_digits(minor) {
        return Err(BAD_REQUEST);
    }
    let mut keep_alive = minor != "0";
    let mut body: Option<usize> = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        // A folded line (obsolete) or a stray CR is refused, not guessed at.
        if line.starts_with([' ', '\t']) || line.contains('\r') {
            return Err(BAD_REQUEST);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(BAD_REQUEST);
        };
        if !is_token(name) {
            return Err(BAD_REQUEST);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            if !is_digits(value) {
                return Err(BAD_REQUEST);
            }
            let n = value.parse::<usize>().unwrap_or(usize::MAX);
            if body.is_some_and(|b| b != n) {
                return Err(BAD_REQUEST);
            }
            if n > MAX_BODY {
                return Err(BODY_TOO_LARGE);
            }
            body = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(BAD_REQUEST);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(|o| o.trim_matches([' ', '\t'])) {
                if option.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    Ok(Request {
        body: body.unwrap_or(0),
        keep_alive,
    })
}

/// Whether `s` is a non-empty run of ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is an HTTP token (a method or a field name): one or more
/// of the characters RFC 9110 allows there.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
