//! TCP round trip over loopback inside one runtime: a client task sends 64
//! bytes, an echo task sends them back. switchyard single mode beside tokio
//! current_thread: both pay the same syscalls, so the difference is the
//! reactor's own cost per readiness event and per operation.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::Mode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_round_trip_64B");
    g.bench_function("switchyard-single", |b| {
        let rt = switchyard::testing::builder(Mode::Single, 1)
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let l = switchyard::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .unwrap();
                let addr = l.local_addr().unwrap();
                let server = switchyard::spawn(async move {
                    let (s, _) = l.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let mut buf = [0u8; 64];
                    while s.read_exact(&mut buf).await.is_ok() {
                        s.write_all(&buf).await.unwrap();
                    }
                });
                let c = switchyard::net::TcpStream::connect(addr).await.unwrap();
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
        })
    });
    g.bench_function("tokio-current_thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
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
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = round_trip
}
criterion_main!(benches);
