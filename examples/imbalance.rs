//! imbalance: a few expensive connections beside many cheap ones, and
//! what each model does when the expensive ones share a core.
//!
//! ```text
//! RUNTIME_MODE=single RUNTIME_LOOPS=2 cargo run --release --example imbalance -- [--hot 2] [--cost 4ms]
//!     [--hot-think 6ms] [--cheap 16] [--cheap-every 10ms] [--duration 3s] [--warmup 500ms]
//! RUNTIME_MODE=mn cargo run --release --example imbalance
//! ```
//!
//! The server runs on the runtime under test, started with `run_each`, so
//! it runs as one loop (`single`), as N loops (`RUNTIME_LOOPS=N`, the
//! cluster model: every loop listens on the port with `SO_REUSEPORT` and
//! the kernel spreads the connections by their addresses) or on mn's Ps.
//! A request is 8 bytes; the server answers each with 8 bytes: the loop
//! that served it (`switchyard::loop_id`, 0 in mn and with one loop) and
//! the number of loops. An expensive request (first byte 1) first computes
//! for `--cost` with no await, as a handler that renders, compresses or
//! hashes does; a cheap one (first byte 0) is answered at once.
//!
//! The client runs in the same process on plain OS threads with blocking
//! sockets, outside the runtime, so it is the same in every model. It
//! first places its connections: it opens connections one after another
//! and asks each which loop serves it, keeping the first `--hot` that land
//! on the first connection's loop (the hot loop) as the expensive ones and
//! `--cheap` ÷ N on each loop as the cheap ones, closing the rest. So with
//! N loops every expensive connection shares one loop, as bad luck in the
//! kernel's hash does on a real server, and the cheap ones are spread
//! evenly; with one loop and in mn the first connections are kept as they
//! come (everything is on "loop 0"). Then, for `--warmup` plus
//! `--duration`, one thread per connection:
//!
//! * an expensive connection sends a request, waits for its answer, waits
//!   `--hot-think`, and again (a closed loop: its requests per second fall
//!   when the server is slow);
//! * a cheap connection sends one request every `--cheap-every`, starting
//!   at a different phase for each. Its latency is measured from the send,
//!   or, when the previous answer came after the next send was due, from
//!   when it was due: the wait a slow server caused is never left out
//!   because the client was still waiting (no coordinated omission), and
//!   a late wake-up of the client's own thread is not counted as the
//!   server's.
//!
//! With the defaults the expensive work is 4 ms of every 10 ms on each of
//! two connections: 80% of one core when both share a loop. In the cluster
//! model the cheap requests on that loop wait behind it while the other
//! loop idles: no loop takes work from another. In mn an idle P takes
//! the cheap requests (and the second expensive one) from the busy one:
//! once mn has seen a task compute for a millisecond with no switch, an
//! idle thread watches the network while the others run and takes up the
//! requests that wait behind a computing task
//! (`mn-sched/src/sched/long_run.rs`).
//!
//! Result keys: `hot`, `cheap`, `cost_ms`, `hot_think_ms`,
//! `cheap_every_ms`, `duration_ms`, `hot_loop`, `placed_after` (connections
//! opened to place them), `hot_rps` and `cheap_rps` (answers per second to
//! requests sent after the warm-up), `hot_p50_ms`, `hot_p99_ms`,
//! `cheap_p50_us`, `cheap_p99_us`, `cheap_max_us` (every cheap request),
//! `hot_loop_cheap_p50_us`, `hot_loop_cheap_p99_us` (the cheap requests
//! served by the hot loop: all of them with one loop and in mn),
//! `other_loops_cheap_p50_us`, `other_loops_cheap_p99_us` (the rest;
//! `nan` when there is none), `expensive_per_loop` (expensive requests
//! each loop served, comma-separated), `spin_threads` (OS threads that
//! computed an expensive request) and `errors`. `peak_threads` counts the
//! client's threads too (one per connection).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::hist::Hist;
use common::{spin_until, Flags, Here, Report, Sampler};
use switchyard::net::{is_connection_error, TcpListener, TcpStream};

const USAGE: &str = "usage: imbalance [--hot K] [--cost DUR] [--hot-think DUR] [--cheap C] [--cheap-every DUR] [--duration DUR] [--warmup DUR]
  --hot K            expensive connections, all placed on one loop (default 2)
  --cost DUR         CPU each expensive request computes, with no await (default 4ms)
  --hot-think DUR    an expensive connection's pause between an answer and its next request (default 6ms)
  --cheap C          cheap connections, spread evenly over the loops (default 16)
  --cheap-every DUR  each cheap connection's request interval (default 10ms)
  --duration DUR     how long to measure (default 3s)
  --warmup DUR       load before measuring, not counted (default 500ms)";

/// A request's first byte: answer at once.
const CHEAP: u8 = 0;
/// A request's first byte: compute `--cost` first.
const EXPENSIVE: u8 = 1;

/// What the server saw, shared by its loops.
#[derive(Default)]
struct Seen {
    /// OS threads that computed an expensive request.
    spin_threads: Mutex<BTreeSet<i32>>,
    /// Loops that have bound the port.
    bound: AtomicUsize,
    /// Set by the client when it is done: every loop's main returns.
    stop: AtomicBool,
}

/// What one loop of the server reports at the end.
struct LoopEnd {
    here: Here,
    expensive: u64,
}

/// The client's settings.
#[derive(Clone, Copy)]
struct Load {
    hot: usize,
    cheap: usize,
    hot_think: Duration,
    cheap_every: Duration,
}

/// One connection's measured requests.
struct Measured {
    /// The loop that served it.
    loop_id: u32,
    /// Latencies of the requests sent after the warm-up (ns).
    lat: Hist,
    /// Whether the connection failed.
    error: bool,
}

fn main() {
    let mut f = Flags::parse("imbalance", USAGE);
    let hot: usize = f.value("--hot", 2).max(1);
    let cost = f.duration("--cost", Duration::from_millis(4));
    let hot_think = f.duration("--hot-think", Duration::from_millis(6));
    let cheap: usize = f.value("--cheap", 16).max(1);
    let cheap_every = f
        .duration("--cheap-every", Duration::from_millis(10))
        .max(Duration::from_micros(100));
    let duration = f.duration("--duration", Duration::from_secs(3));
    let warmup = f.duration("--warmup", Duration::from_millis(500));
    f.finish();
    let load = Load {
        hot,
        cheap,
        hot_think,
        cheap_every,
    };

    let sampler = Sampler::start();
    let seen = Arc::new(Seen::default());
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = {
        let seen = seen.clone();
        std::thread::Builder::new()
            .name("server".into())
            .spawn(move || serve(cost, seen, addr_tx))
            .expect("start the server's thread")
    };
    let Ok(addr) = addr_rx.recv() else {
        // The server ended before listening: run_each has said why (a bad
        // RUNTIME_* value exits 2 there); a panic is re-raised here.
        let _ = server.join();
        common::refuse("imbalance", "the server did not start");
    };

    let t0 = Instant::now();
    let placed = place(addr, load).unwrap_or_else(|e| {
        seen.stop.store(true, Ordering::Relaxed);
        common::refuse("imbalance", &e)
    });
    let (hot_runs, cheap_runs) = drive(&placed, load, warmup, duration);
    let wall = t0.elapsed();
    seen.stop.store(true, Ordering::Relaxed);
    let ends = match server.join() {
        Ok(ends) => ends,
        Err(p) => std::panic::resume_unwind(p),
    };
    let samples = sampler.finish();

    let here = ends[0].here;
    let loops = here.loops;
    let secs = duration.as_secs_f64();
    let sum = |runs: &[Measured], pick: &dyn Fn(&Measured) -> bool| {
        let mut h = Hist::new();
        for m in runs.iter().filter(|m| pick(m)) {
            h.add(&m.lat);
        }
        h
    };
    let hot_lat = sum(&hot_runs, &|_| true);
    let cheap_lat = sum(&cheap_runs, &|_| true);
    let on_hot = sum(&cheap_runs, &|m| m.loop_id == placed.hot_loop);
    let elsewhere = sum(&cheap_runs, &|m| m.loop_id != placed.hot_loop);
    let errors = hot_runs
        .iter()
        .chain(&cheap_runs)
        .filter(|m| m.error)
        .count();
    // Percentiles in µs (ms for the expensive ones); nan for no sample.
    let us = |h: &Hist, p: f64| {
        if h.is_empty() {
            f64::NAN
        } else {
            h.pct(p) as f64 / 1e3
        }
    };
    let per_loop: Vec<String> = ends.iter().map(|e| e.expensive.to_string()).collect();
    let spin_threads = seen.spin_threads.lock().unwrap().len();

    println!(
        "imbalance: {hot} expensive connections ({cost:?} of CPU per request, {hot_think:?} between) \
         on loop {} of {loops}, {cheap} cheap ones (one request every {cheap_every:?}), mode={}",
        placed.hot_loop, here.mode
    );
    println!(
        "  expensive: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms; computed on {spin_threads} OS thread(s); per loop: {}",
        hot_lat.len() as f64 / secs,
        us(&hot_lat, 50.0) / 1e3,
        us(&hot_lat, 99.0) / 1e3,
        per_loop.join(", ")
    );
    println!(
        "  cheap: {:.0} requests/s, p50 {:.0} µs, p99 {:.0} µs; on the hot loop p50 {:.0} µs, p99 {:.0} µs; \
         on the others p50 {:.0} µs, p99 {:.0} µs",
        cheap_lat.len() as f64 / secs,
        us(&cheap_lat, 50.0),
        us(&cheap_lat, 99.0),
        us(&on_hot, 50.0),
        us(&on_hot, 99.0),
        us(&elsewhere, 50.0),
        us(&elsewhere, 99.0),
    );
    let mut r = Report::new("imbalance", here);
    r.kv("hot", hot)
        .kv("cheap", cheap)
        .num("cost_ms", cost.as_secs_f64() * 1e3)
        .num("hot_think_ms", hot_think.as_secs_f64() * 1e3)
        .num("cheap_every_ms", cheap_every.as_secs_f64() * 1e3)
        .num("duration_ms", secs * 1e3)
        .kv("hot_loop", placed.hot_loop)
        .kv("placed_after", placed.opened)
        .num("hot_rps", hot_lat.len() as f64 / secs)
        .num("cheap_rps", cheap_lat.len() as f64 / secs)
        .num("hot_p50_ms", us(&hot_lat, 50.0) / 1e3)
        .num("hot_p99_ms", us(&hot_lat, 99.0) / 1e3)
        .num("cheap_p50_us", us(&cheap_lat, 50.0))
        .num("cheap_p99_us", us(&cheap_lat, 99.0))
        .num("cheap_max_us", us(&cheap_lat, 100.0))
        .num("hot_loop_cheap_p50_us", us(&on_hot, 50.0))
        .num("hot_loop_cheap_p99_us", us(&on_hot, 99.0))
        .num("other_loops_cheap_p50_us", us(&elsewhere, 50.0))
        .num("other_loops_cheap_p99_us", us(&elsewhere, 99.0))
        .kv("expensive_per_loop", per_loop.join(","))
        .kv("spin_threads", spin_threads)
        .kv("errors", errors);
    r.finish(wall, &samples);
}

// ------------------------------------------------------------------ server

/// Runs the server on every loop until `seen.stop`; sends the address once
/// every loop listens. Returns each loop's end, in loop order.
fn serve(cost: Duration, seen: Arc<Seen>, addr_tx: mpsc::Sender<SocketAddr>) -> Vec<LoopEnd> {
    let addr_tx = Mutex::new(Some(addr_tx));
    common::run_each_main(switchyard::Builder::new(), |id| {
        let seen = seen.clone();
        let addr_tx = addr_tx.lock().unwrap().take_if(|_| id == 0);
        async move {
            let here = Here::now();
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| common::refuse("imbalance", &format!("bind: {e}")));
            let addr = listener.local_addr().expect("local_addr");
            seen.bound.fetch_add(1, Ordering::SeqCst);
            let expensive = Arc::new(AtomicU64::new(0));
            switchyard::spawn(accept_loop(listener, cost, seen.clone(), expensive.clone()));
            // The client connects once every loop listens, so that the
            // kernel spreads its connections over all of them.
            if let Some(tx) = addr_tx {
                while seen.bound.load(Ordering::SeqCst) < here.loops {
                    switchyard::time::sleep(Duration::from_millis(1)).await;
                }
                let _ = tx.send(addr);
            }
            while !seen.stop.load(Ordering::Relaxed) {
                switchyard::time::sleep(Duration::from_millis(10)).await;
            }
            LoopEnd {
                here,
                expensive: expensive.load(Ordering::Relaxed),
            }
        }
    })
}

async fn accept_loop(listener: TcpListener, cost: Duration, seen: Arc<Seen>, n: Arc<AtomicU64>) {
    let mut backoff = common::AcceptBackoff::new("imbalance");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.accepted();
                switchyard::spawn(answer(stream, cost, seen.clone(), n.clone()));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => backoff.failed(&e).await,
        }
    }
}

/// Answers one connection's requests until it closes.
async fn answer(stream: TcpStream, cost: Duration, seen: Arc<Seen>, expensive: Arc<AtomicU64>) {
    let _ = stream.set_nodelay(true);
    let loop_id = switchyard::loop_id().unwrap_or(0) as u32;
    let loops = switchyard::stats().map_or(1, |s| s.loops) as u32;
    let mut reply = [0u8; 8];
    reply[..4].copy_from_slice(&loop_id.to_le_bytes());
    reply[4..].copy_from_slice(&loops.to_le_bytes());
    let mut req = [0u8; 8];
    while stream.read_exact(&mut req).await.is_ok() {
        if req[0] == EXPENSIVE {
            seen.spin_threads.lock().unwrap().insert(common::gettid());
            // The handler's work: CPU with no await, so nothing else runs
            // on this thread meanwhile.
            spin_until(Instant::now() + cost);
            expensive.fetch_add(1, Ordering::Relaxed);
        }
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

// ------------------------------------------------------------------ client

/// The client's connections, placed.
struct Placed {
    /// The loop every expensive connection is on.
    hot_loop: u32,
    /// The expensive connections.
    hot: Vec<std::net::TcpStream>,
    /// The cheap connections.
    cheap: Vec<std::net::TcpStream>,
    /// Connections opened to place them (kept and closed).
    opened: usize,
}

/// One request on a blocking connection; returns (loop id, loops).
fn request(s: &mut std::net::TcpStream, kind: u8) -> std::io::Result<(u32, u32)> {
    s.write_all(&[kind, 0, 0, 0, 0, 0, 0, 0])?;
    let mut a = [0u8; 8];
    s.read_exact(&mut a)?;
    let word = |i: usize| u32::from_le_bytes(a[i..i + 4].try_into().expect("4 bytes"));
    Ok((word(0), word(4)))
}

/// Opens connections until `load.hot` of them are on the first one's loop
/// and `load.cheap` are spread evenly over the loops.
fn place(addr: SocketAddr, load: Load) -> Result<Placed, String> {
    let connect = || -> Result<(std::net::TcpStream, u32, u32), String> {
        let mut s =
            std::net::TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let (id, loops) = request(&mut s, CHEAP).map_err(|e| format!("first request: {e}"))?;
        Ok((s, id, loops))
    };
    let (first, hot_loop, loops) = connect()?;
    let n = loops.max(1) as usize;
    // The cheap connections each loop gets: C ÷ N, the first C mod N loops
    // one more.
    let want: Vec<usize> = (0..n)
        .map(|l| load.cheap / n + usize::from(l < load.cheap % n))
        .collect();
    let mut cheap_on: Vec<Vec<std::net::TcpStream>> = (0..n).map(|_| Vec::new()).collect();
    let mut hot = vec![first];
    let mut opened = 1;
    let limit = 100 * (load.hot + load.cheap) + 100;
    loop {
        let done = hot.len() >= load.hot && cheap_on.iter().zip(&want).all(|(c, w)| c.len() >= *w);
        if done {
            break;
        }
        if opened >= limit {
            return Err(format!(
                "{opened} connections did not place {} expensive ones on loop {hot_loop} and {} cheap \
                 ones over {n} loops: is the kernel spreading connections over the loops?",
                load.hot, load.cheap
            ));
        }
        let (s, id, _) = connect()?;
        opened += 1;
        let l = id as usize;
        if id == hot_loop && hot.len() < load.hot {
            hot.push(s);
        } else if l < n && cheap_on[l].len() < want[l] {
            cheap_on[l].push(s);
        }
        // Any other is closed here: its loop has what it needs.
    }
    Ok(Placed {
        hot_loop,
        hot,
        cheap: cheap_on.into_iter().flatten().collect(),
        opened,
    })
}

/// Runs the load, one thread per connection; returns the expensive and the
/// cheap connections' measurements.
fn drive(
    placed: &Placed,
    load: Load,
    warmup: Duration,
    duration: Duration,
) -> (Vec<Measured>, Vec<Measured>) {
    // Every thread starts at `start`, measures from `measure` to `end`.
    let start = Instant::now() + Duration::from_millis(20);
    let measure = start + warmup;
    let end = measure + duration;
    let sleep_until = |t: Instant| {
        let now = Instant::now();
        if t > now {
            std::thread::sleep(t - now);
        }
    };
    std::thread::scope(|scope| {
        let hot: Vec<_> = placed
            .hot
            .iter()
            .map(|s| {
                let mut s = s.try_clone().expect("clone a connection");
                scope.spawn(move || {
                    let mut m = Measured {
                        loop_id: placed.hot_loop,
                        lat: Hist::new(),
                        error: false,
                    };
                    sleep_until(start);
                    loop {
                        let t = Instant::now();
                        if t >= end {
                            return m;
                        }
                        match request(&mut s, EXPENSIVE) {
                            Ok((id, _)) => m.loop_id = id,
                            Err(_) => {
                                m.error = true;
                                return m;
                            }
                        }
                        if t >= measure {
                            m.lat.record_duration(t.elapsed());
                        }
                        std::thread::sleep(load.hot_think);
                    }
                })
            })
            .collect();
        let n = placed.cheap.len().max(1) as u32;
        let cheap: Vec<_> = placed
            .cheap
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut s = s.try_clone().expect("clone a connection");
                scope.spawn(move || {
                    let mut m = Measured {
                        loop_id: 0,
                        lat: Hist::new(),
                        error: false,
                    };
                    // Each connection at its own phase of the interval.
                    let mut due = start + load.cheap_every * i as u32 / n;
                    while due < end {
                        let from = if Instant::now() < due {
                            sleep_until(due);
                            Instant::now()
                        } else {
                            due
                        };
                        match request(&mut s, CHEAP) {
                            Ok((id, _)) => m.loop_id = id,
                            Err(_) => {
                                m.error = true;
                                return m;
                            }
                        }
                        if due >= measure {
                            m.lat.record_duration(from.elapsed());
                        }
                        due += load.cheap_every;
                    }
                    m
                })
            })
            .collect();
        let join = |hs: Vec<std::thread::ScopedJoinHandle<'_, Measured>>| -> Vec<Measured> {
            hs.into_iter()
                .map(|h| h.join().expect("a client thread"))
                .collect()
        };
        (join(hot), join(cheap))
    })
}
