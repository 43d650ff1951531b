//! http: a minimal HTTP/1.1 keep-alive "hello" server, for wrk.
//!
//! ```text
//! RUNTIME_MODE=single cargo run --release --example http -- [--addr 127.0.0.1:8080] [--for DUR]
//!     [--head-timeout DUR] [--idle-timeout DUR] [--max-conns N]
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
//! Slow and idle clients are held for a bounded time, as a server left
//! facing the internet must:
//!
//! * `--head-timeout DUR` (default 10s): a request's head and body must
//!   arrive within this time of its first byte — of the accept, for a new
//!   connection. Past it the client gets `408` (or, if it sent nothing, is
//!   closed), so a client trickling a head a byte at a time ("slowloris")
//!   holds its connection 10 s, not forever.
//! * `--idle-timeout DUR` (default 30s): a kept-alive connection may wait
//!   this long for its next request, and an answer may take this long to
//!   write (a client that never reads is closed after it).
//! * `--max-conns N` (default: the file-descriptor limit less 32, at most
//!   10000): connections open at once. At the cap the server closes the
//!   connection that has waited longest for its client (an idle kept-alive
//!   one, or a slow head), if that is over 250 ms, to take the new one; if
//!   none has waited that long, new ones wait in the listen backlog. So a
//!   flood of slow connections never runs the server out of descriptors,
//!   and a normal request still gets in: a whole cap's worth of slow
//!   connections ahead of it in the backlog delays it by 250 ms.
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

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{say, AcceptBackoff, Flags, Here, Report, Sampler};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};
use switchyard::sync::Notify;

const USAGE: &str = "usage: http [--addr ADDR] [--for DUR] [--head-timeout DUR] [--idle-timeout DUR] [--max-conns N]
  --addr ADDR          where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --for DUR            stop after this long (default: until SIGINT or SIGTERM)
  --head-timeout DUR   a request's head and body must arrive within this time of its
                       first byte, a new connection's within this time of the accept (default 10s)
  --idle-timeout DUR   how long a kept-alive connection may wait for its next request,
                       and an answer may take to write (default 30s)
  --max-conns N        connections open at once; at the cap the one waiting longest for
                       its client is closed to take a new one (default: the descriptor
                       limit less 32, at most 10000)";

/// Descriptors `--max-conns` leaves to the rest of the process by default.
const SPARE_FDS: usize = 32;

/// The most connections `--max-conns` allows by default.
const DEFAULT_MAX_CONNS: usize = 10_000;

/// At the cap, how long a connection must have waited for its client before
/// it may be closed for a new one: a client that has just connected, or
/// just been answered, gets at least this long to send its request (whose
/// first bytes come right behind the handshake, whatever the round trip).
const EVICTABLE_AFTER: Duration = Duration::from_millis(250);

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
const TIMED_OUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// How long clients may take (the flags).
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    /// `--head-timeout`.
    head: Duration,
    /// `--idle-timeout`.
    idle: Duration,
}

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
    let timeouts = Timeouts {
        head: f.duration("--head-timeout", Duration::from_secs(10)),
        idle: f.duration("--idle-timeout", Duration::from_secs(30)),
    };
    if timeouts.head.is_zero() || timeouts.idle.is_zero() {
        f.fail("--head-timeout and --idle-timeout must be longer than 0");
    }
    let max_conns: Option<usize> = f.text("--max-conns").map(|v| match v.parse() {
        Ok(n) if n >= 1 => n,
        _ => f.fail(&format!("--max-conns {v:?}: expected a whole number >= 1")),
    });
    f.finish();

    let sampler = Sampler::start();
    let served = Arc::new(Served::default());
    // One driver per loop (RUNTIME_LOOPS=N in single mode: every loop binds
    // the address with SO_REUSEPORT and serves its share; the connection
    // cap is split between them); one driver otherwise.
    let ends = common::run_each_main(switchyard::Builder::new(), |id| {
        let (addr, served) = (addr.clone(), served.clone());
        async move {
            let here = Here::now();
            let listener = TcpListener::bind(addr.as_str())
                .await
                .unwrap_or_else(|e| common::refuse("http", &format!("bind {addr}: {e}")));
            let bound = listener.local_addr().expect("local addr");
            let mut stop = common::StopSignals::listen().expect("SIGINT and SIGTERM handlers");
            if id == 0 {
                say(format_args!("listening on {bound}"));
            }
            let t0 = Instant::now();
            let loops = switchyard::stats().map_or(1, |s| s.loops);
            // Read after the runtime raised the soft limit to the hard one.
            let max_conns = max_conns.unwrap_or_else(|| {
                fd_limit()
                    .saturating_sub(SPARE_FDS)
                    .clamp(1, DEFAULT_MAX_CONNS)
            });
            let table = Arc::new(Table::new((max_conns / loops).max(1), timeouts));
            switchyard::spawn(accept_loop(listener, served, table));

            let why = stop.wait(run_for).await;
            (here, bound, why, t0.elapsed())
        }
    });
    let (here, bound, why, wall) = ends.into_iter().next().expect("loop 0's end");
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

/// Accepts forever, one task per connection, at most `--max-conns` at once;
/// out of file descriptors it backs off (5 ms doubling to 1 s) with one
/// rate-limited error line.
async fn accept_loop(listener: TcpListener, served: Arc<Served>, table: Arc<Table>) {
    let mut backoff = AcceptBackoff::new("http");
    loop {
        table.wait_for_room().await;
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.accepted();
                served.connections.fetch_add(1, Ordering::Relaxed);
                let entry = Table::add(&table);
                switchyard::spawn(serve(stream, served.clone(), entry));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => backoff.failed(&e).await,
        }
    }
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (1024 if unreadable).
fn fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Max open files"))?;
            let soft = line["Max open files".len()..].split_whitespace().next()?;
            Some(if soft == "unlimited" {
                usize::MAX
            } else {
                soft.parse().ok()?
            })
        })
        .unwrap_or(1024)
}

/// Every open connection, so the accept loop can keep to `--max-conns` and
/// close the one that has waited longest for its client to take a new one.
struct Table {
    /// `--max-conns`.
    max: usize,
    /// The flags every connection runs under.
    timeouts: Timeouts,
    /// The origin of [`Entry::waiting_since`].
    epoch: Instant,
    /// The open connections.
    state: Mutex<TableState>,
    /// Notified each time a connection closes.
    freed: Notify,
}

/// [`Table`] under its lock.
struct TableState {
    /// The id of the next connection.
    next_id: u64,
    /// Open connections by id.
    open: HashMap<u64, Arc<Slot>>,
    /// Connections told to close that have not closed yet.
    closing: usize,
}

/// What the table knows of one connection.
struct Slot {
    /// Since when it has waited for its client (ms after the table's epoch,
    /// plus 1); 0 while the server is answering it.
    waiting_since: AtomicU64,
    /// Set when the table chose it to close.
    evicted: AtomicBool,
    /// Notified then.
    evict: Notify,
}

/// A connection's place in the [`Table`]; leaving it (drop) frees the place.
struct Entry {
    /// The table.
    table: Arc<Table>,
    /// This connection's id.
    id: u64,
    /// Its slot.
    slot: Arc<Slot>,
}

impl Table {
    /// A table for at most `max` connections.
    fn new(max: usize, timeouts: Timeouts) -> Table {
        Table {
            max,
            timeouts,
            epoch: Instant::now(),
            state: Mutex::new(TableState {
                next_id: 0,
                open: HashMap::new(),
                closing: 0,
            }),
            freed: Notify::new(),
        }
    }

    /// Returns once a new connection fits: at the cap, tells the connection
    /// that has waited longest for its client (over [`EVICTABLE_AFTER`]) to
    /// close and waits for a place to free (looking again every 100 ms, and
    /// choosing another, up to 4 at a time, in case the first one became
    /// busy before it saw the word).
    async fn wait_for_room(&self) {
        loop {
            if self.room_or_evict() {
                return;
            }
            // A close in between left a permit: no wake-up is lost.
            let _ =
                switchyard::time::timeout(Duration::from_millis(100), self.freed.notified()).await;
        }
    }

    /// Whether a place is free; if not, and fewer than 4 evictions are under
    /// way, starts one (when some connection has waited for its client for
    /// over [`EVICTABLE_AFTER`]).
    fn room_or_evict(&self) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.open.len() < self.max {
            return true;
        }
        if st.closing < 4 {
            let now = self.epoch.elapsed().as_millis() as u64 + 1;
            let limit = EVICTABLE_AFTER.as_millis() as u64;
            let victim = st
                .open
                .values()
                .filter(|s| !s.evicted.load(Ordering::Relaxed))
                .filter_map(|s| match s.waiting_since.load(Ordering::Relaxed) {
                    0 => None,
                    since if now.saturating_sub(since) < limit => None,
                    since => Some((since, s)),
                })
                .min_by_key(|(since, _)| *since)
                .map(|(_, s)| s.clone());
            if let Some(victim) = victim {
                victim.evicted.store(true, Ordering::Relaxed);
                st.closing += 1;
                victim.evict.notify_one();
            }
        }
        false
    }

    /// Registers a new connection, waiting for its client since now.
    fn add(table: &Arc<Table>) -> Entry {
        let slot = Arc::new(Slot {
            waiting_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        });
        let mut st = table.state.lock().unwrap();
        let id = st.next_id;
        st.next_id += 1;
        st.open.insert(id, slot.clone());
        drop(st);
        let entry = Entry {
            table: table.clone(),
            id,
            slot,
        };
        entry.waiting_since(Instant::now());
        entry
    }
}

impl Entry {
    /// The connection waits for its client, since `t`.
    fn waiting_since(&self, t: Instant) {
        let ms = t.saturating_duration_since(self.table.epoch).as_millis() as u64;
        self.slot.waiting_since.store(ms + 1, Ordering::Relaxed);
    }

    /// The server is answering the connection: it is not to be evicted.
    fn busy(&self) {
        self.slot.waiting_since.store(0, Ordering::Relaxed);
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut st = self.table.state.lock().unwrap();
        st.open.remove(&self.id);
        if self.slot.evicted.load(Ordering::Relaxed) {
            st.closing -= 1;
        }
        drop(st);
        self.table.freed.notify_one();
    }
}

/// One connection: answer every complete request in the buffer, in one
/// write, then read more; until the peer closes or asks to, a timeout
/// passes or the table evicts it. The stream is closed before the entry
/// frees its place, so the cap counts descriptors truly open.
async fn serve(stream: TcpStream, served: Arc<Served>, entry: Entry) {
    serve_conn(&stream, &served, &entry).await;
    drop(stream);
    drop(entry);
}

/// Why a connection's wait for its client ended.
enum Wake {
    /// The read finished.
    Read(std::io::Result<usize>),
    /// The table chose this connection to close.
    Evicted,
    /// Its deadline passed.
    TimedOut,
}

/// [`serve`]'s body.
async fn serve_conn(stream: &TcpStream, served: &Served, entry: &Entry) {
    let _ = stream.set_nodelay(true);
    let timeouts = entry.table.timeouts;
    let mut conn = Conn::new();
    let mut out: Vec<u8> = Vec::new();
    // When the request being read began (its first byte; the accept, for
    // the first one); `None` between requests, when the idle clock runs.
    let mut started = Some(Instant::now());
    let mut idle_since = Instant::now();
    // One timer for the connection's life, moved only when its deadline
    // comes earlier (it is checked when it fires): no timer work per request.
    let mut timer = switchyard::time::sleep(timeouts.head);
    loop {
        let (answered, close) = conn.answer(&mut out, served);
        if !out.is_empty() {
            if !write_within(stream, &out, timeouts.idle).await {
                return;
            }
            out.clear();
            out.shrink_to(KEEP_CAPACITY);
        }
        if close {
            linger(stream, &mut conn.buf).await;
            return;
        }
        conn.shrink();
        let now = Instant::now();
        if answered > 0 {
            // What is left in the buffer, if anything, is a request begun
            // just now; if nothing is, the idle clock starts.
            idle_since = now;
            started = conn.pending().then_some(now);
        }
        let deadline = match started {
            Some(t) => t + timeouts.head,
            None => idle_since + timeouts.idle,
        };
        if deadline < timer.deadline() {
            timer.reset(deadline);
        }
        entry.waiting_since(started.unwrap_or(idle_since));
        let len = conn.buf.len();
        conn.buf.resize(len + READ_CHUNK, 0);
        let wake = {
            let mut read = pin!(stream.read(&mut conn.buf[len..]));
            let mut evicted = pin!(entry.slot.evict.notified());
            poll_fn(|cx| {
                if let Poll::Ready(r) = read.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Read(r));
                }
                if evicted.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Evicted);
                }
                while timer.poll_elapsed(cx).is_ready() {
                    if Instant::now() >= deadline {
                        return Poll::Ready(Wake::TimedOut);
                    }
                    timer.reset(deadline);
                }
                Poll::Pending
            })
            .await
        };
        entry.busy();
        match wake {
            Wake::Read(Ok(0)) | Wake::Read(Err(_)) | Wake::Evicted => return,
            Wake::Read(Ok(n)) => {
                conn.buf.truncate(len + n);
                if started.is_none() {
                    started = Some(Instant::now());
                }
            }
            Wake::TimedOut => {
                if started.is_some() && (len > 0 || conn.skip > 0) {
                    let _ = write_within(stream, TIMED_OUT, timeouts.idle).await;
                }
                let _ = stream.shutdown(std::net::Shutdown::Write).await;
                return;
            }
        }
    }
}

/// Writes all of `out`, giving up (false) if that takes longer than `limit`
/// or fails. The timer is made only if the write has to wait.
async fn write_within(stream: &TcpStream, out: &[u8], limit: Duration) -> bool {
    let mut write = pin!(stream.write_all(out));
    let mut timer: Option<switchyard::time::Sleep> = None;
    poll_fn(|cx| {
        if let Poll::Ready(r) = write.as_mut().poll(cx) {
            return Poll::Ready(r.is_ok());
        }
        let t = timer.get_or_insert_with(|| switchyard::time::sleep(limit));
        if t.poll_elapsed(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Pending
    })
    .await
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
    /// and consumes them; returns how many requests were answered (refused
    /// ones included) and whether the connection closes after.
    fn answer(&mut self, out: &mut Vec<u8>, served: &Served) -> (usize, bool) {
        let mut used = 0;
        let mut answered = 0;
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
                    answered += 1;
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
        (answered, close)
    }

    /// Whether part of a request has been read and not answered.
    fn pending(&self) -> bool {
        !self.buf.is_empty() || self.skip > 0
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
