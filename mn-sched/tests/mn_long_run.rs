//! A cheap request beside a task that computes for tens of milliseconds
//! with no await, at 2 Ps: the idle P must answer it while the other
//! computes (the case work stealing exists for), not once the computation
//! ends or sysmon takes the busy P at 10 ms. The computing task is woken
//! by the network, so the thread that was watching the poller is the one
//! that runs it: once a long run has been seen, another idle thread must
//! take up the watch (`Shared::pass_sleeper_post`), and, if no CPU counts
//! as spare, notice the P stuck behind the computing task
//! (sched/long_run.rs). Real sockets on 127.0.0.1.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use util::rt;

/// How long an expensive request computes.
const COST: Duration = Duration::from_millis(60);

/// A server task on `rt` for `s`: each byte read is answered with one
/// byte; an `S` first computes for [`COST`] without an await.
fn serve(rt: &mn_sched::Runtime, s: std::net::TcpStream) -> mn_sched::aio::task::JoinHandle<()> {
    s.set_nonblocking(true).unwrap();
    rt.handle().spawn_future(async move {
        let s = mn_sched::aio::net::TcpStream::from_std(s).unwrap();
        let mut b = [0u8; 1];
        loop {
            match s.read(&mut b).await {
                Ok(1) => {}
                _ => return,
            }
            if b[0] == b'S' {
                let t = Instant::now();
                while t.elapsed() < COST {
                    std::hint::spin_loop();
                }
            }
            if s.write(&b).await.is_err() {
                return;
            }
        }
    })
}

/// One round trip of `byte` on `c`, and how long it took.
fn round_trip(c: &mut TcpStream, byte: u8) -> Duration {
    let t = Instant::now();
    c.write_all(&[byte]).unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(b[0], byte);
    t.elapsed()
}

/// The cheap request's round trip, sent 3 ms into the expensive one's
/// computation, and the expensive one's.
fn cheap_beside_expensive(hot: &mut TcpStream, cheap: &mut TcpStream) -> (Duration, Duration) {
    // Every M idle again, one watching the poller...
    std::thread::sleep(Duration::from_millis(30));
    // ... which has just polled (sysmon polls a poller nobody has polled
    // for 10 ms: that must not be what answers).
    round_trip(cheap, b'c');
    let sent = Instant::now();
    hot.write_all(b"S").unwrap();
    std::thread::sleep(Duration::from_millis(3));
    let cheap_took = round_trip(cheap, b'c');
    let mut b = [0u8; 1];
    hot.read_exact(&mut b).unwrap();
    (cheap_took, sent.elapsed())
}

#[test]
fn a_cheap_request_is_answered_while_another_task_computes() {
    let rt = rt(2);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut hot = TcpStream::connect(addr).unwrap();
    let _hot_task = serve(&rt, l.accept().unwrap().0);
    let mut cheap = TcpStream::connect(addr).unwrap();
    let _cheap_task = serve(&rt, l.accept().unwrap().0);
    hot.set_nodelay(true).unwrap();
    cheap.set_nodelay(true).unwrap();
    round_trip(&mut hot, b'h');
    round_trip(&mut cheap, b'c');
    // One expensive request first: sysmon sees it compute (a long run),
    // and from then on, for a second, the idle threads watch closely. The
    // first long run after a quiet spell may go unseen until sysmon's next
    // look (its naps last up to 10 ms).
    round_trip(&mut hot, b'S');
    // The cheap answer needs an idle thread to act within a few ms of the
    // send. Without one it waits for the computation (57 ms more) or for
    // sysmon's poll 10 ms after the last (7 ms after the send, every
    // time). On a machine whose CPUs are all busy the watching thread
    // itself waits for a CPU now and then: five tries, one must make it.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (cheap_took, whole) = cheap_beside_expensive(&mut hot, &mut cheap);
        seen.push((cheap_took, whole));
        if cheap_took < Duration::from_millis(5) {
            return;
        }
    }
    panic!(
        "the cheap request waited for the computing task: (cheap round trip, whole) = {seen:?}; {:?}",
        rt.stats()
    );
}
