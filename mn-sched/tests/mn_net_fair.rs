//! An echo server at one P with more connections ready at once than a P's
//! ring holds (256): the Gs the network readies must be served in the
//! order they became ready, so no connection waits much longer than the
//! others. A plain thread drives 1,000 connections in a closed loop with
//! mio; the server spends ~20 µs per message, so it is the bottleneck and
//! nearly every connection waits in its queues. Before the readied Gs
//! queued behind a non-empty global queue, a new poll's Gs went into the
//! ring ahead of those that had overflowed: release echo at 1,000
//! connections had a p99 some fifty times its p50.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Token};
use mn_sched::{aio, go};
use util::block_on;

const CONNS: usize = 1000;
const MSG: usize = 16;

/// The server: one G per connection, echoing each message after ~20 µs
/// of computing.
fn serve(l: aio::net::TcpListener) {
    for _ in 0..CONNS {
        let (s, _) = block_on(l.accept()).unwrap();
        // SAFETY: the G holds no thread-local reference or std lock guard
        // across a park.
        unsafe {
            go(move || {
                block_on(async {
                    let mut buf = [0u8; MSG];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let t = Instant::now();
                                while t.elapsed() < Duration::from_micros(20) {
                                    std::hint::spin_loop();
                                }
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                })
            })
        };
    }
}

/// The client: `CONNS` connections in a closed loop for `run` after
/// `warm`; returns the round-trip latencies measured after `warm`, and
/// how much `count` (read when the measured window opens and again at its
/// end) grew meanwhile.
fn drive(
    addr: std::net::SocketAddr,
    warm: Duration,
    run: Duration,
    count: impl Fn() -> u64,
) -> (Vec<Duration>, u64) {
    let mut poll = mio::Poll::new().unwrap();
    let mut conns: Vec<(TcpStream, Instant, usize)> = Vec::new();
    for i in 0..CONNS {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_nonblocking(true).unwrap();
        let mut s = TcpStream::from_std(s);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)
            .unwrap();
        conns.push((s, Instant::now(), 0));
    }
    for c in &mut conns {
        c.0.write_all(&[7u8; MSG]).unwrap();
        c.1 = Instant::now();
    }
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut at_window: Option<u64> = None;
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; MSG];
    while start.elapsed() < warm + run {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for e in &events {
            let c = &mut conns[e.token().0];
            loop {
                match c.0.read(&mut buf[..MSG - c.2]) {
                    Ok(0) => panic!("the server closed a connection"),
                    Ok(n) => c.2 += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
                if c.2 == MSG {
                    let now = Instant::now();
                    if now.duration_since(start) > warm {
                        at_window.get_or_insert_with(&count);
                        lat.push(now.duration_since(c.1));
                    }
                    c.2 = 0;
                    c.0.write_all(&[7u8; MSG]).unwrap();
                    c.1 = Instant::now();
                }
            }
        }
    }
    let grew = at_window.map_or(0, |c0| count() - c0);
    (lat, grew)
}

/// Starts a server at one P; returns its address (the runtime lives on).
fn start_server() -> (mn_sched::Runtime, std::net::SocketAddr) {
    let rt = util::rt(1);
    let (tx, rx) = std::sync::mpsc::channel();
    // SAFETY: as in `serve`.
    let _server = unsafe {
        rt.handle().spawn(move || {
            let l = aio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            serve(l);
        })
    }
    .unwrap();
    let addr = rx.recv().unwrap();
    (rt, addr)
}

#[test]
fn readied_gs_beyond_the_ring_are_served_in_order() {
    // The property shows only while the server is the bottleneck (its
    // queues full): every connection then waits about one pass over the
    // others, ~CONNS × 20 µs. A client the machine starves of CPU leaves
    // the server idle (p50 of a few µs); such a run is done again.
    for attempt in 1..=3 {
        let (rt, addr) = start_server();
        let (mut lat, preempted) = drive(
            addr,
            Duration::from_millis(500),
            Duration::from_millis(2000),
            || rt.stats().preemptions,
        );
        assert!(lat.len() > 2 * CONNS, "only {} round trips", lat.len());
        lat.sort();
        let p50 = lat[lat.len() / 2];
        let p99 = lat[lat.len() * 99 / 100];
        if p50 < Duration::from_millis(2) {
            eprintln!("attempt {attempt}: the server was not saturated (p50 {p50:?}); again");
            continue;
        }
        // A machine busy elsewhere can keep the server's thread off its CPU
        // mid-message for 10 ms: sysmon then preempts that G (it ran 10 ms
        // of wall time), which sends it to the back of the queue, a whole
        // pass later: a reordering this test cannot judge. With a spinning
        // process beside it, such runs had dozens of preemptions and a p99
        // several times the p50; undisturbed runs have none in the measured
        // window.
        if preempted > 0 {
            eprintln!(
                "attempt {attempt}: the OS starved the server ({preempted} preemptions; p50 {p50:?}, p99 {p99:?}); again"
            );
            continue;
        }
        // FIFO service: p99 within a few percent of p50 (debug build);
        // starved connections wait many passes (before the fix, a p99 about
        // a hundred times the p50; with 600 connections it starved in only
        // half the runs).
        assert!(
            p99 < p50 * 4,
            "p50 {p50:?}, p99 {p99:?} over {} round trips: some connections starve",
            lat.len()
        );
        return;
    }
    eprintln!("the server never was the bottleneck on this machine: nothing to judge");
}
