//! Sockets on the loop over 127.0.0.1: echo with many clients byte for byte,
//! half-close, connect errors, UDP, foreign-thread use, cooperative yielding.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loop_core::net::{TcpListener, TcpStream, UdpSocket};
use loop_core::time::sleep;
use loop_core::{spawn, Runtime};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A small deterministic PRNG (xorshift) for payloads.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn echo_conn(s: TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown(Shutdown::Write);
}

async fn serve(l: TcpListener) {
    loop {
        let (s, _) = l.accept().await.unwrap();
        spawn(echo_conn(s));
    }
}

#[test]
fn many_clients_random_payloads_byte_for_byte() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let l = TcpListener::bind(local()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn(serve(l));
        let clients: Vec<_> = (0..200u64)
            .map(|i| {
                spawn(async move {
                    let data = payload(i, 1 + (i as usize * 7919) % 200_000);
                    let s = TcpStream::connect(addr).await.unwrap();
                    let (w, r) = (&s, &s);
                    let mut got = Vec::with_capacity(data.len());
                    let write = async {
                        for chunk in data.chunks(3000) {
                            w.write_all(chunk).await.unwrap();
                        }
                        w.shutdown(Shutdown::Write).unwrap();
                    };
                    let read = async {
                        let mut buf = vec![0u8; 8192];
                        loop {
                            let n = r.read(&mut buf).await.unwrap();
                            if n == 0 {
                                break;
                            }
                            got.extend_from_slice(&buf[..n]);
                        }
                    };
                    join2(write, read).await;
                    assert_eq!(got.len(), data.len(), "client {i}");
                    assert!(got == data, "client {i}: payload differs");
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}

/// Runs two futures concurrently on one task.
async fn join2<A: std::future::Future<Output = ()>, B: std::future::Future<Output = ()>>(
    a: A,
    b: B,
) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut da, mut db) = (false, false);
    std::future::poll_fn(|cx| {
        if !da {
            da = a.as_mut().poll(cx).is_ready();
        }
        if !db {
            db = b.as_mut().poll(cx).is_ready();
        }
        if da && db {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn half_close_the_server_still_echoes_what_was_sent() {
    let rt = Runtime::new().unwrap();
    let addr = rt.block_on(async {
        let l = TcpListener::bind(local()).unwrap();
        let addr = l.local_addr().unwrap();
        spawn(serve(l));
        addr
    });
    // A blocking std client on another thread: send, shut down writing, then
    // read everything back until the server closes its side.
    let client = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        let data = payload(42, 100_000);
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        back == data
    });
    rt.block_on(async {
        while !client.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
    });
    assert!(client.join().unwrap());
}

#[test]
fn connect_to_a_closed_port_fails_with_refused() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn udp_round_trip() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let a = UdpSocket::bind(local()).unwrap();
        let b = UdpSocket::bind(local()).unwrap();
        let b_addr = b.local_addr().unwrap();
        let server = spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            b.send_to(&buf[..n], from).await.unwrap();
        });
        a.send_to(b"ping", b_addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, b_addr);
        server.await.unwrap();
    });
}

#[test]
fn a_socket_used_on_another_thread_fails_clearly() {
    let rt = Runtime::new().unwrap();
    let l = rt.block_on(async { TcpListener::bind(local()).unwrap() });
    let err = std::thread::spawn(move || {
        let other = Runtime::new().unwrap();
        other.block_on(async move { l.accept().await.map(|_| ()).unwrap_err().to_string() })
    })
    .join()
    .unwrap();
    assert!(err.contains("outside the runtime"), "{err}");
}

#[test]
fn creating_a_socket_outside_a_runtime_fails_clearly() {
    let e = TcpListener::bind(local()).unwrap_err();
    assert!(e.to_string().contains("outside a runtime"), "{e}");
}

#[test]
fn a_task_on_an_always_ready_socket_still_lets_timers_run() {
    let rt = Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let s2 = stop.clone();
    // A std thread floods the connection so reads are always ready.
    let flooder = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let chunk = vec![7u8; 64 * 1024];
        while !s2.load(Ordering::Relaxed) {
            if c.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    rt.block_on(async {
        let s = TcpStream::connect(addr).await.unwrap();
        let reader = spawn(async move {
            let mut buf = vec![0u8; 64];
            let mut total = 0u64;
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n as u64,
                }
            }
        });
        // Without the cooperative budget this sleep would never end.
        let t = Instant::now();
        sleep(Duration::from_millis(20)).await;
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "timer starved: {:?}",
            t.elapsed()
        );
        stop.store(true, Ordering::Relaxed);
        reader.abort();
    });
    flooder.join().unwrap();
}
