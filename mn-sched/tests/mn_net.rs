//! Networking on the mn runtime, over real sockets on 127.0.0.1:
//! the blocking-style `mn_sched::net` types on Gs, the async
//! `mn_sched::aio::net` types polled from Gs, readiness races, deadlines
//! and signals.

mod util;

use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mn_sched::{aio, go, net, JoinHandle};
use util::{block_on, rt, run};

/// Spawns a G (test bodies uphold `go`'s contract).
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    // SAFETY: test Gs hold no thread-local reference or std lock guard
    // across a park.
    unsafe { go(f) }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`
/// (a hang is a failure, not a stuck CI job).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}: hang"))
}

/// The bytes client `i` sends: distinct per client and position.
fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i * 31 + k * 7 + k / 251) as u8).collect()
}

const CONNS: usize = 1000;
const MSG: usize = 2048;

#[test]
fn blocking_echo_1000_connections() {
    within(Duration::from_secs(120), || {
        run(2, || {
            let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let server = spawn(move || {
                for _ in 0..CONNS {
                    let (mut s, _) = l.accept().unwrap();
                    spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = s.read(&mut buf).unwrap();
                            if n == 0 {
                                break;
                            }
                            s.write_all(&buf[..n]).unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..CONNS)
                .map(|i| {
                    spawn(move || {
                        let mut s = net::TcpStream::connect(addr).unwrap();
                        let msg = pattern(i, MSG);
                        s.write_all(&msg).unwrap();
                        let mut back = vec![0u8; MSG];
                        s.read_exact(&mut back).unwrap();
                        assert!(back == msg, "client {i}: echo differs");
                        s.shutdown(std::net::Shutdown::Write).unwrap();
                        assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0);
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            server.join().unwrap();
            // 2,000 sockets waited on without a thread each: the Ms are the
            // Ps' (the netpoller is one of the idle Ms, not a thread). On a
            // loaded machine (the ASan suite in parallel) sysmon may take a
            // P from a G the OS left without CPU for 10 ms, and start an M
            // for it: a few more, never one per socket.
            let threads = mn_sched::Handle::current().unwrap().stats().threads;
            assert!(threads <= 2 + 4, "{threads} Ms for 2 Ps and 2,000 sockets");
        });
    });
}

#[test]
fn async_echo_1000_connections_polled_from_gs() {
    within(Duration::from_secs(120), || {
        run(2, || {
            let l = aio::net::TcpListener::bind(local()).unwrap();
            let addr = l.local_addr().unwrap();
            let server = spawn(move || {
                for _ in 0..CONNS {
                    let (s, _) = block_on(l.accept()).unwrap();
                    spawn(move || {
                        block_on(async {
                            let mut buf = [0u8; 4096];
                            loop {
                                let n = s.read(&mut buf).await.unwrap();
                                if n == 0 {
                                    break;
                                }
                                s.write_all(&buf[..n]).await.unwrap();
                            }
                        })
                    });
                }
            });
            let clients: Vec<_> = (0..CONNS)
                .map(|i| {
                    spawn(move || {
                        block_on(async {
                            let s = aio::net::TcpStream::connect(addr).await.unwrap();
                            let msg = pattern(i, MSG);
                            s.write_all(&msg).await.unwrap();
                            let mut back = vec![0u8; MSG];
                            s.read_exact(&mut back).await.unwrap();
                            assert!(back == msg, "client {i}: echo differs");
                            s.shutdown(std::net::Shutdown::Write).unwrap();
                            assert_eq!(s.read(&mut [0u8; 1]).await.unwrap(), 0);
                        })
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            server.join().unwrap();
        });
    });
}

/// A connected pair: (the G side, a plain std stream for another thread).
fn pair_blocking() -> (net::TcpStream, std::net::TcpStream) {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (s, peer)
}

#[test]
fn readiness_race_write_vs_park_blocking() {
    const ITERS: usize = 3000;
    within(Duration::from_secs(120), || {
        run(2, || {
            let (mut s, mut peer) = pair_blocking();
            // Another OS thread writes one byte when told, racing the G's
            // read: its WouldBlock, the clearing of readiness, the park.
            let (go_tx, go_rx) = mpsc::channel::<u32>();
            let writer = std::thread::spawn(move || {
                for spin in go_rx {
                    for _ in 0..spin {
                        std::hint::spin_loop();
                    }
                    peer.write_all(&[7]).unwrap();
                }
            });
            let mut b = [0u8; 1];
            for i in 0..ITERS {
                go_tx.send((i as u32 * 37) % 2000).unwrap();
                s.read_exact(&mut b).unwrap();
                assert_eq!(b[0], 7);
            }
            drop(go_tx);
            writer.join().unwrap();
        });
    });
}

#[test]
fn readiness_race_write_vs_registration_async() {
    const ITERS: usize = 2000;
    within(Duration::from_secs(120), || {
        run(2, || {
            let l = aio::net::TcpListener::bind(local()).unwrap();
            let addr = l.local_addr().unwrap();
            for i in 0..ITERS {
                // The peer writes at once, racing the accepted stream's
                // registration and the first read's park.
                let spin = (i as u32 * 53) % 3000;
                let w = std::thread::spawn(move || {
                    let mut c = std::net::TcpStream::connect(addr).unwrap();
                    for _ in 0..spin {
                        std::hint::spin_loop();
                    }
                    c.write_all(&[i as u8]).unwrap();
                    c
                });
                let (s, _) = block_on(l.accept()).unwrap();
                let mut b = [0u8; 1];
                block_on(s.read_exact(&mut b)).unwrap();
                assert_eq!(b[0], i as u8);
                drop(w.join().unwrap());
            }
        });
    });
}

#[test]
fn read_timeout_fails_with_would_block_after_the_deadline() {
    run(2, || {
        let (mut s, _peer) = pair_blocking();
        s.set_read_timeout(Some(Duration::from_millis(60))).unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(60)));
        let t = Instant::now();
        let e = s.read(&mut [0u8; 8]).unwrap_err();
        let el = t.elapsed();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        assert!(el >= Duration::from_millis(60), "{el:?}");
        assert!(el < Duration::from_secs(3), "{el:?}");
        assert!(s.set_read_timeout(Some(Duration::ZERO)).is_err());
    });
}

#[test]
fn read_with_timeout_gets_data_that_arrives_in_time() {
    run(2, || {
        let (mut s, mut peer) = pair_blocking();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let w = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            peer.write_all(b"hi").unwrap();
            peer
        });
        let mut b = [0u8; 2];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hi");
        drop(w.join().unwrap());
    });
}

#[test]
fn udp_blocking_and_async() {
    run(2, || {
        let a = net::UdpSocket::bind(local()).unwrap();
        let b = aio::net::UdpSocket::bind(local()).unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let rx = spawn(move || {
            let mut buf = [0u8; 16];
            let (n, from) = block_on(b.recv_from(&mut buf)).unwrap();
            assert_eq!(from, aa);
            block_on(b.send_to(&buf[..n], from)).unwrap();
        });
        a.send_to(b"ping", ba).unwrap();
        let mut buf = [0u8; 16];
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], ba));
        rx.join().unwrap();
    });
}

#[test]
fn blocking_net_outside_a_g_panics_clearly() {
    let rt = rt(1);
    let h = rt.handle();
    // Created on a G, used from a plain thread.
    // SAFETY: the G holds no thread-local reference or std lock guard.
    let l = unsafe { h.spawn(|| net::TcpListener::bind("127.0.0.1:0").unwrap()) }
        .unwrap()
        .join()
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.accept()));
    let e = r.unwrap_err();
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("outside a G"), "{msg}");
}

#[test]
fn sockets_outside_a_runtime_are_an_error() {
    let e = aio::net::UdpSocket::bind(local()).unwrap_err();
    assert!(e.to_string().contains("outside an mn runtime"), "{e}");
}

#[test]
fn stats_count_io_sources() {
    let rt = rt(2);
    let h = rt.handle();
    // SAFETY: as above.
    let (with, without) = unsafe {
        rt.block_on(move || {
            let a = net::UdpSocket::bind(local()).unwrap();
            let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
            let with = h.stats().io_sources;
            drop((a, l));
            (with, h.stats().io_sources)
        })
    }
    .unwrap();
    assert_eq!((with, without), (2, 0));
}

#[test]
fn shutdown_unwinds_gs_parked_on_sockets() {
    let rt = rt(2);
    let h = rt.handle();
    let (tx, rx) = mpsc::channel();
    // SAFETY: as above.
    unsafe {
        h.spawn(move || {
            let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(()).unwrap();
            let _ = l.accept();
        })
    }
    .unwrap();
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    drop(rt);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        h.stats().io_sources,
        0,
        "the unwound G's listener deregistered"
    );
}

#[test]
fn signal_raised_to_self_is_received() {
    within(Duration::from_secs(30), || {
        run(2, || {
            let mut sig = aio::signal::Signal::new(libc::SIGUSR1).unwrap();
            assert!(format!("{sig:?}").contains("Signal"));
            let t = std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                // SAFETY: raise has no preconditions; the handler is installed.
                unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
            });
            assert_eq!(block_on(sig.recv()), Some(()));
            t.join().unwrap();
            assert!(aio::signal::Signal::new(libc::SIGKILL).is_err());
        });
    });
}

/// Many short runs of a ping-pong pair on one runtime (the bench's shape):
/// every round trip parks both Gs on I/O, so a lost readiness wake-up
/// anywhere shows as a hang.
#[test]
fn ping_pong_round_trips_on_one_runtime() {
    within(Duration::from_secs(120), || {
        let rt = rt(2);
        for round in 0..40u64 {
            // SAFETY: the Gs hold no thread-local reference or std lock guard.
            let n = unsafe {
                rt.block_on(move || {
                    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = l.local_addr().unwrap();
                    let server = spawn(move || {
                        let (mut s, _) = l.accept().unwrap();
                        s.set_nodelay(true).unwrap();
                        let mut buf = [0u8; 64];
                        while s.read_exact(&mut buf).is_ok() {
                            s.write_all(&buf).unwrap();
                        }
                    });
                    let mut c = net::TcpStream::connect(addr).unwrap();
                    c.set_nodelay(true).unwrap();
                    let mut buf = [round as u8; 64];
                    let mut n = 0;
                    for _ in 0..500 + round * 50 {
                        c.write_all(&buf).unwrap();
                        c.read_exact(&mut buf).unwrap();
                        n += 1;
                    }
                    drop(c);
                    server.join().unwrap();
                    n
                })
            }
            .unwrap();
            assert_eq!(n, 500 + round * 50);
        }
    });
}

#[test]
fn types_are_send_sync_and_sleep_is_unpin() {
    fn send_sync<T: Send + Sync + std::fmt::Debug>() {}
    fn send_unpin<T: Send + Unpin + std::fmt::Debug + Future<Output = ()>>() {}
    send_sync::<aio::net::TcpListener>();
    send_sync::<aio::net::TcpStream>();
    send_sync::<aio::net::UdpSocket>();
    send_sync::<net::TcpListener>();
    send_sync::<net::TcpStream>();
    send_sync::<net::UdpSocket>();
    send_sync::<aio::signal::Signal>();
    send_unpin::<aio::time::Sleep>();
}

#[test]
fn connected_udp_peek_and_accept_timeout() {
    run(2, || {
        let a = aio::net::UdpSocket::bind(local()).unwrap();
        let b = net::UdpSocket::bind(local()).unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        block_on(a.send(b"abc")).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        b.send(b"xy").unwrap();
        assert_eq!(block_on(a.recv(&mut buf)).unwrap(), 2);

        // peek leaves the bytes for the read.
        let (s, mut peer) = pair_blocking();
        peer.write_all(b"peek").unwrap();
        let mut p = [0u8; 4];
        assert_eq!(s.peek(&mut p).unwrap(), 4);
        let mut r = [0u8; 4];
        (&s).read_exact(&mut r).unwrap();
        assert_eq!((&p, &r), (b"peek", b"peek"));

        // An accept with a timeout and no client.
        let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_accept_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let t = Instant::now();
        let e = l.accept().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        assert!(t.elapsed() >= Duration::from_millis(30));
    });
}

#[test]
fn connect_to_a_closed_port_is_an_error() {
    run(2, || {
        // Bind then drop: the port is (almost certainly) closed now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let e = block_on(aio::net::TcpStream::connect(addr)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn short_reads_and_writes_lose_no_data_nor_the_end_of_stream() {
    // A read that returns fewer bytes than its buffer forgets the socket's
    // readiness (netpoll/io.rs step 4) and waits for the next edge. The
    // peer writes chunks of 1..=150 bytes at uneven pace, racing that; the
    // server reads into 64 bytes (so some reads fill it, some do not) and
    // echoes. Every byte must come back and the final short read must
    // still see the end of stream.
    const CHUNKS: usize = 3000;
    within(Duration::from_secs(60), || {
        let l = std::net::TcpListener::bind(local()).unwrap();
        let addr = l.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let mut r = c.try_clone().unwrap();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                r.read_to_end(&mut got).unwrap();
                got
            });
            let mut sent = Vec::new();
            for i in 0..CHUNKS {
                let chunk = pattern(i, 1 + (i * 37) % 150);
                c.write_all(&chunk).unwrap();
                sent.extend_from_slice(&chunk);
                if i % 7 == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            c.shutdown(std::net::Shutdown::Write).unwrap();
            (sent, reader.join().unwrap())
        });
        let (server, _) = l.accept().unwrap();
        let echoed = rt(2).block_on_future(async move {
            let s = aio::net::TcpStream::from_std(server).unwrap();
            let mut buf = [0u8; 64];
            let mut total = 0usize;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
                total += n;
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            total
        });
        let (sent, got) = client.join().unwrap();
        assert_eq!(echoed, sent.len());
        assert!(got == sent, "the echo differs from what was sent");
    });
}

#[test]
fn a_backlog_of_ready_sockets_gets_a_helper_m() {
    // Two Ps. Twenty async readers are parked on their sockets; a plain
    // thread writes to all of them at once, so one poll readies the lot on
    // one P. A batch that small wakes no second M at once (ready.rs
    // `wake_to_back`), but each reader then computes 5 ms: the backlog must
    // not stay with the one M — another must come and steal from it (the
    // backlog check, or a spinning M's hand-over, whichever comes first).
    // (When sysmon's poll for a stale netpoller finds the readiness first,
    // the readers go to the global queue and both Ms take from there: help
    // without a steal. So the test counts the threads the readers ran on.)
    let rt = rt(2);
    let (threads, _) = util::ready_burst(&rt, 20, Duration::from_millis(5));
    let s = rt.stats();
    assert!(
        threads >= 2,
        "nobody helped with the backlog: all readers ran on one thread: {s:?}"
    );
}
