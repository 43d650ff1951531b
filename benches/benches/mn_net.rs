//! mn-sched I/O and timers beside tokio multi_thread, same group, same run:
//!
//! * `tcp_round_trip_64B_mn` — a client sends 64 bytes over loopback, an
//!   echo server sends them back; time per round trip. `mn blocking` uses
//!   `mn_sched::net` on two Gs (2 Ps); `mn async on G` polls the
//!   `mn_sched::aio::net` futures from Gs with a minimal block_on (park on
//!   Pending); `tokio multi_thread` two tasks on 2 workers.
//! * `timer_insert_cancel` — arm a 10 s sleep (first poll) and drop it,
//!   one at a time from one task: the cost of insert + cancel. mn: the
//!   per-P timing wheel; tokio: its timer wheel.
//!
//! Run: `cargo bench -p switchyard-benches --bench mn_net`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mn_sched::{aio, go, net, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Polls `f` on the calling G, parking it on Pending.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let w = mn_sched::current_waker();
    let mut cx = Context::from_waker(&w);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        mn_sched::park();
    }
}

fn mn_rt() -> Runtime {
    Runtime::builder().procs(2).build().unwrap()
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_round_trip_64B_mn");
    g.bench_function("mn blocking", |b| {
        let rt = mn_rt();
        b.iter_custom(|iters| {
            // SAFETY: the Gs hold no thread-local reference or std lock guard.
            unsafe {
                rt.block_on(move || {
                    use std::io::{Read, Write};
                    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = l.local_addr().unwrap();
                    let server = go(move || {
                        let (mut s, _) = l.accept().unwrap();
                        s.set_nodelay(true).unwrap();
                        let mut buf = [0u8; 64];
                        while s.read_exact(&mut buf).is_ok() {
                            s.write_all(&buf).unwrap();
                        }
                    });
                    let mut c = net::TcpStream::connect(addr).unwrap();
                    c.set_nodelay(true).unwrap();
                    let mut buf = [7u8; 64];
                    let t = Instant::now();
                    for _ in 0..iters {
                        c.write_all(&buf).unwrap();
                        c.read_exact(&mut buf).unwrap();
                    }
                    let e = t.elapsed();
                    drop(c);
                    server.join().unwrap();
                    e
                })
            }
            .unwrap()
        })
    });
    g.bench_function("mn async on G", |b| {
        let rt = mn_rt();
        b.iter_custom(|iters| {
            // SAFETY: as above.
            unsafe {
                rt.block_on(move || {
                    let l = aio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                    let addr = l.local_addr().unwrap();
                    let server = go(move || {
                        block_on(async move {
                            let (s, _) = l.accept().await.unwrap();
                            s.set_nodelay(true).unwrap();
                            let mut buf = [0u8; 64];
                            while s.read_exact(&mut buf).await.is_ok() {
                                s.write_all(&buf).await.unwrap();
                            }
                        })
                    });
                    block_on(async move {
                        let c = aio::net::TcpStream::connect(addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        let mut buf = [7u8; 64];
                        let t = Instant::now();
                        for _ in 0..iters {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                        let e = t.elapsed();
                        drop(c);
                        server.join().unwrap();
                        e
                    })
                })
            }
            .unwrap()
        })
    });
    g.bench_function("tokio multi_thread", |b| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = l.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    let (mut s, _) = l.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let mut buf = [0u8; 64];
                    while s.read_exact(&mut buf).await.is_ok() {
                        s.write_all(&buf).await.unwrap();
                    }
                });
                // The client runs as a task too, like the mn client on a G.
                tokio::spawn(async move {
                    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
                    c.set_nodelay(true).unwrap();
                    let mut buf = [7u8; 64];
                    let t = Instant::now();
                    for _ in 0..iters {
                        c.write_all(&buf).await.unwrap();
                        c.read_exact(&mut buf).await.unwrap();
                    }
                    let e = t.elapsed();
                    drop(c);
                    server.await.unwrap();
                    e
                })
                .await
                .unwrap()
            })
        })
    });
    g.finish();
}

fn timer_insert_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_insert_cancel");
    g.bench_function("mn per-P wheel", |b| {
        let rt = mn_rt();
        b.iter_custom(|iters| {
            // SAFETY: as above.
            unsafe {
                rt.block_on(move || {
                    let w = mn_sched::current_waker();
                    let mut cx = Context::from_waker(&w);
                    let t = Instant::now();
                    for _ in 0..iters {
                        let mut s = aio::time::sleep(Duration::from_secs(10));
                        assert!(s.poll_elapsed(&mut cx).is_pending());
                        drop(s);
                    }
                    t.elapsed()
                })
            }
            .unwrap()
        })
    });
    g.bench_function("tokio multi_thread", |b| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    let w = std::task::Waker::noop();
                    let mut cx = Context::from_waker(w);
                    let t = Instant::now();
                    for _ in 0..iters {
                        let mut s = pin!(tokio::time::sleep(Duration::from_secs(10)));
                        assert!(s.as_mut().poll(&mut cx).is_pending());
                    }
                    t.elapsed()
                })
                .await
                .unwrap()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = round_trip, timer_insert_cancel
}
criterion_main!(benches);
