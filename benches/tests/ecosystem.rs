//! Crates a tokio user reaches for, tried inside switchyard tasks in every
//! mode (single, mn with 1 P, mn with 4 Ps): `futures` (join!, select!,
//! FuturesUnordered, StreamExt, futures-channel, futures' io on switchyard
//! sockets), `async-channel`, `async-io` (its own reactor thread),
//! `tokio::sync`, `event-listener` and `async-lock` — and tokio's
//! driver-bound types without a tokio runtime entered, which must fail with
//! tokio's "no reactor" panic (the fix: `benches/examples/tokio_interop.rs`).
//! The results, for readers: `docs/ecosystem.md`.
//!
//! `cargo test -p switchyard-benches --test ecosystem`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc as fmpsc, oneshot as foneshot};
use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt, AsyncWriteExt, FutureExt, SinkExt, StreamExt};
use switchyard::time::{sleep, timeout};
use switchyard::{spawn, yield_now, JoinError, JoinHandle};

/// Generous: how long a test waits for something that should come at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// What tokio says when a driver-bound call finds no runtime context.
const NO_REACTOR: &str = "there is no reactor running";

/// `f`, which should end at once, within the patience.
async fn soon<F: std::future::Future>(f: F) -> F::Output {
    timeout(PATIENCE, f)
        .await
        .expect("done within the patience")
}

/// An echo server on a switchyard listener, its copy loop futures' own
/// `io::copy` over the stream's halves (switchyard's streams implement
/// futures-io's traits). The task's output: bytes echoed.
async fn futures_io_echo_server() -> (SocketAddr, JoinHandle<u64>) {
    let listener = switchyard::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = stream.into_split();
        futures::io::copy(&mut r, &mut w).await.unwrap()
    });
    (addr, server)
}

/// The message of a task's panic.
fn panic_message(e: &JoinError) -> &str {
    assert!(e.is_panic(), "{e:?}");
    e.panic_message().unwrap_or("(not a string)")
}

switchyard::test_all_modes! {
    // ---- futures -------------------------------------------------------

    async fn futures_join_polls_both_futures_at_once() {
        // Each side waits for the other: only a join! that polls both
        // concurrently finishes.
        let (to_b, from_a) = foneshot::channel::<u32>();
        let (to_a, from_b) = foneshot::channel::<u32>();
        let a = async move {
            to_b.send(1).unwrap();
            from_b.await.unwrap()
        };
        let b = async move {
            let x = from_a.await.unwrap();
            to_a.send(x + 1).unwrap();
            x
        };
        let (ra, rb) = soon(async { futures::join!(a, b) }).await;
        assert_eq!((ra, rb), (2, 1));
        // try_join! stops at the first error.
        let r: Result<(u8, u8), &str> =
            futures::try_join!(async { Ok(1) }, async { Err("no") });
        assert_eq!(r, Err("no"));
    }

    async fn futures_select_takes_the_first_ready_branch() {
        let (tx, rx) = foneshot::channel::<&str>();
        spawn(async move {
            sleep(Duration::from_millis(5)).await;
            tx.send("message").unwrap();
        });
        let t = Instant::now();
        let mut long = Box::pin(sleep(Duration::from_secs(30)).fuse());
        let mut rx = rx.fuse();
        let got = futures::select! {
            m = rx => m.unwrap(),
            () = long => "timer",
        };
        assert_eq!(got, "message");
        assert!(t.elapsed() < PATIENCE, "{:?}", t.elapsed());
        // A switchyard timer wins against a future that never ends.
        let mut short = Box::pin(sleep(Duration::from_millis(5)).fuse());
        let mut never = futures::future::pending::<()>().fuse();
        let got = futures::select! {
            () = short => "timer",
            () = never => unreachable!(),
        };
        assert_eq!(got, "timer");
    }

    async fn futures_unordered_yields_in_completion_order() {
        // Five tasks finish in the order 3, 1, 4, 0, 2 (each released only
        // after the previous one was seen): FuturesUnordered yields them
        // so, whatever order they were pushed in.
        let order = [3usize, 1, 4, 0, 2];
        let (mut gates, mut set) = (Vec::new(), FuturesUnordered::new());
        for i in 0..5 {
            let (tx, rx) = foneshot::channel::<()>();
            gates.push(Some(tx));
            set.push(spawn(async move {
                rx.await.unwrap();
                i
            }));
        }
        let mut seen = Vec::new();
        for &i in &order {
            gates[i].take().unwrap().send(()).unwrap();
            let done = soon(set.next()).await.unwrap().unwrap();
            seen.push(done);
        }
        assert_eq!(seen, order);
        assert!(set.next().await.is_none(), "empty at the end");
    }

    async fn futures_stream_ext_combinators() {
        // buffered keeps order while running 4 at a time; the later ones
        // sleep less, so they finish first.
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let squares: Vec<u64> = futures::stream::iter(1..=12u64)
            .map(move |i| {
                let (r, m) = (r.clone(), m.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    sleep(Duration::from_millis(13 - i)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    i * i
                }
            })
            .buffered(4)
            .collect()
            .await;
        assert_eq!(squares, (1..=12u64).map(|i| i * i).collect::<Vec<_>>());
        // The first poll starts four, and never more run at once.
        assert_eq!(most.load(Ordering::SeqCst), 4);
        // filter, then, fold, take_while, chunks.
        let even_sum = futures::stream::iter(0..100u32)
            .filter(|x| futures::future::ready(x % 2 == 0))
            .then(|x| async move {
                yield_now().await;
                x
            })
            .fold(0, |acc, x| async move { acc + x })
            .await;
        assert_eq!(even_sum, (0..100).filter(|x| x % 2 == 0).sum::<u32>());
        let chunks: Vec<Vec<u32>> = futures::stream::iter(0..7u32)
            .take_while(|x| futures::future::ready(*x < 6))
            .chunks(4)
            .collect()
            .await;
        assert_eq!(chunks, vec![vec![0, 1, 2, 3], vec![4, 5]]);
        // A stream built on a switchyard timer.
        let ticks: Vec<u32> = futures::stream::unfold(0u32, |n| async move {
            sleep(Duration::from_millis(1)).await;
            (n < 3).then_some((n, n + 1))
        })
        .collect()
        .await;
        assert_eq!(ticks, [0, 1, 2]);
    }

    async fn futures_channel_mpsc_between_tasks() {
        let (tx, rx) = fmpsc::channel::<(u32, u32)>(2);
        let producers: Vec<_> = (0..3u32)
            .map(|p| {
                let mut tx = tx.clone();
                spawn(async move {
                    for i in 0..200 {
                        tx.send((p, i)).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let got: Vec<(u32, u32)> = soon(rx.collect()).await;
        for h in producers {
            h.await.unwrap();
        }
        assert_eq!(got.len(), 600);
        for p in 0..3 {
            let mine: Vec<u32> = got.iter().filter(|m| m.0 == p).map(|m| m.1).collect();
            assert_eq!(mine, (0..200).collect::<Vec<_>>(), "producer {p}'s order");
        }
        // Backpressure: a buffer of 0 holds one message per sender; the
        // next send waits for the receiver.
        let (mut tx, mut rx) = fmpsc::channel::<u8>(0);
        tx.try_send(1).unwrap();
        assert!(tx.try_send(2).unwrap_err().is_full());
        let sender = spawn(async move {
            tx.send(2).await.unwrap();
            tx.send(3).await.unwrap();
        });
        assert_eq!(soon(rx.next()).await, Some(1));
        assert_eq!(soon(rx.next()).await, Some(2));
        assert_eq!(soon(rx.next()).await, Some(3));
        sender.await.unwrap();
        assert_eq!(soon(rx.next()).await, None, "the sender is gone");
        // Unbounded.
        let (utx, urx) = fmpsc::unbounded::<u32>();
        spawn(async move {
            for i in 0..1000 {
                utx.unbounded_send(i).unwrap();
            }
        });
        let all: Vec<u32> = soon(urx.collect()).await;
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    async fn futures_channel_oneshot_and_its_cancellation() {
        let (tx, rx) = foneshot::channel::<String>();
        spawn(async move {
            sleep(Duration::from_millis(2)).await;
            tx.send("from a task".into()).unwrap();
        });
        assert_eq!(soon(rx).await.unwrap(), "from a task");
        let (tx, rx) = foneshot::channel::<u8>();
        let dropper = spawn(async move {
            yield_now().await;
            drop(tx);
        });
        assert_eq!(soon(rx).await, Err(foneshot::Canceled));
        dropper.await.unwrap();
    }

    async fn futures_io_on_switchyard_sockets() {
        let (addr, server) = futures_io_echo_server().await;
        let c = switchyard::net::TcpStream::connect(addr).await.unwrap();
        let msg: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let (mut r, mut w) = (&c, &c);
        let writer = async {
            w.write_all(&msg).await.unwrap();
            w.close().await.unwrap(); // shuts down the write side
        };
        let mut back = Vec::new();
        let reader = r.read_to_end(&mut back);
        let ((), n) = soon(async { futures::join!(writer, reader) }).await;
        assert_eq!(n.unwrap(), msg.len());
        assert!(back == msg, "{} bytes came back", back.len());
        assert_eq!(server.await.unwrap(), msg.len() as u64);
    }

    // ---- async-channel -------------------------------------------------

    async fn async_channel_is_mpmc_with_backpressure_and_close() {
        let (tx, rx) = async_channel::bounded::<u64>(1);
        assert!(tx.try_send(0).is_ok());
        assert!(matches!(tx.try_send(1), Err(async_channel::TrySendError::Full(1))));
        assert_eq!(rx.recv().await.unwrap(), 0);
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let tx = tx.clone();
                spawn(async move {
                    for i in 0..250 {
                        tx.send(p * 1000 + i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        let mut all = Vec::new();
        for h in consumers {
            all.extend(soon(h).await.unwrap());
        }
        for h in producers {
            h.await.unwrap();
        }
        all.sort_unstable();
        let want: Vec<u64> = (0..4).flat_map(|p| (0..250).map(move |i| p * 1000 + i)).collect();
        assert_eq!(all, want);
        // Closed from the receiving side: senders see it.
        let (tx, rx) = async_channel::unbounded::<u8>();
        assert!(rx.close());
        assert!(tx.is_closed());
        assert_eq!(tx.send(1).await, Err(async_channel::SendError(1)));
    }

    // ---- async-io (its own reactor thread) ------------------------------

    async fn async_io_timer_and_interval() {
        let t = Instant::now();
        let at = async_io::Timer::after(Duration::from_millis(30)).await;
        assert!(at >= t + Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert!(t.elapsed() < PATIENCE, "{:?}", t.elapsed());
        // In spawned tasks too, several at once.
        let hs: Vec<_> = (1..=4u64)
            .map(|i| {
                spawn(async move {
                    let t = Instant::now();
                    async_io::Timer::after(Duration::from_millis(5 * i)).await;
                    (i, t.elapsed())
                })
            })
            .collect();
        for h in hs {
            let (i, took) = soon(h).await.unwrap();
            assert!(took >= Duration::from_millis(5 * i), "{took:?}");
        }
        let ticks: Vec<Instant> =
            async_io::Timer::interval(Duration::from_millis(5)).take(3).collect().await;
        assert_eq!(ticks.len(), 3);
        assert!(ticks[2] >= ticks[0] + Duration::from_millis(10));
    }

    async fn async_io_tcp_stream_to_a_switchyard_listener() {
        let (addr, server) = futures_io_echo_server().await;
        let client = spawn(async move {
            let mut s = async_io::Async::<std::net::TcpStream>::connect(addr).await.unwrap();
            let mut got = Vec::new();
            for i in 0..20u8 {
                s.write_all(&[i; 100]).await.unwrap();
                let mut back = [0u8; 100];
                s.read_exact(&mut back).await.unwrap();
                got.extend_from_slice(&back);
            }
            got
        });
        let got = soon(client).await.unwrap();
        let want: Vec<u8> = (0..20u8).flat_map(|i| [i; 100]).collect();
        assert!(got == want, "{} bytes came back", got.len());
        assert_eq!(soon(server).await.unwrap(), 2000, "the server saw the end");
    }

    async fn async_io_listener_serves_a_switchyard_stream() {
        let listener =
            async_io::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let server = spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            buf
        });
        let c = switchyard::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        soon(c.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, b"hello");
        assert_eq!(&soon(server).await.unwrap(), b"hello");
    }

    // ---- tokio::sync (no tokio runtime needed) ---------------------------

    async fn tokio_mpsc_and_oneshot() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        for p in 0..3u32 {
            let tx = tx.clone();
            spawn(async move {
                for i in 0..100 {
                    tx.send(p * 1000 + i).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = soon(rx.recv()).await {
            got.push(v);
        }
        got.sort_unstable();
        let want: Vec<u32> = (0..3).flat_map(|p| (0..100).map(move |i| p * 1000 + i)).collect();
        assert_eq!(got, want);

        let (utx, mut urx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        spawn(async move { (0..500).for_each(|i| utx.send(i).unwrap()) });
        let mut n = 0;
        while let Some(v) = soon(urx.recv()).await {
            assert_eq!(v, n);
            n += 1;
        }
        assert_eq!(n, 500);

        let (tx, rx) = tokio::sync::oneshot::channel::<&str>();
        spawn(async move { tx.send("done").unwrap() });
        assert_eq!(soon(rx).await.unwrap(), "done");
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        spawn(async move { drop(tx) });
        assert!(soon(rx).await.is_err(), "the sender was dropped");
    }

    async fn tokio_mutex_and_rwlock() {
        let m = Arc::new(tokio::sync::Mutex::new(0u32));
        let inside = Arc::new(AtomicBool::new(false));
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (m, inside) = (m.clone(), inside.clone());
                spawn(async move {
                    for _ in 0..50 {
                        let mut g = m.lock().await;
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                        yield_now().await; // held across an await
                        *g += 1;
                        inside.store(false, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in hs {
            soon(h).await.unwrap();
        }
        assert_eq!(*m.lock().await, 400);

        // Three readers at once: each waits at a barrier of three while
        // holding its read guard, which only shared reading allows.
        let lock = Arc::new(tokio::sync::RwLock::new(7u32));
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (lock, barrier) = (lock.clone(), barrier.clone());
                spawn(async move {
                    let g = lock.read().await;
                    barrier.wait().await;
                    *g
                })
            })
            .collect();
        for h in readers {
            assert_eq!(soon(h).await.unwrap(), 7);
        }
        let r = lock.read().await;
        assert!(lock.try_write().is_err(), "a reader holds it");
        drop(r);
        *lock.write().await = 8;
        assert_eq!(*lock.read().await, 8);
    }

    async fn tokio_semaphore_bounds_concurrency() {
        let sem = Arc::new(tokio::sync::Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let (sem, running, most) = (sem.clone(), running.clone(), most.clone());
                spawn(async move {
                    let _permit = sem.acquire().await.unwrap();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    sleep(Duration::from_millis(2)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in hs {
            soon(h).await.unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
        assert_eq!(sem.available_permits(), 2);
        let (_a, _b) = (sem.try_acquire().unwrap(), sem.try_acquire().unwrap());
        assert!(sem.try_acquire().is_err(), "no third permit");
        sem.close();
        assert!(sem.acquire().await.is_err(), "closed");
    }

    async fn tokio_notify_watch_broadcast() {
        // Notify: a permit stored before anyone waits, then a waiter woken
        // from another task.
        let n = Arc::new(tokio::sync::Notify::new());
        n.notify_one();
        soon(n.notified()).await;
        let (n2, woke) = (n.clone(), Arc::new(AtomicBool::new(false)));
        let w = woke.clone();
        let waiter = spawn(async move {
            n2.notified().await;
            w.store(true, Ordering::SeqCst);
        });
        sleep(Duration::from_millis(10)).await;
        assert!(!woke.load(Ordering::SeqCst), "woken before the notify");
        n.notify_one();
        soon(waiter).await.unwrap();
        assert!(woke.load(Ordering::SeqCst));

        // watch: the receiver sees values in order and the last one, and
        // an error once the sender is gone.
        let (tx, mut rx) = tokio::sync::watch::channel(0u32);
        let sender = spawn(async move {
            for i in 1..=5 {
                tx.send(i).unwrap();
                sleep(Duration::from_millis(1)).await;
            }
        });
        let mut last = 0;
        while soon(rx.changed()).await.is_ok() {
            let v = *rx.borrow_and_update();
            assert!(v > last, "{v} after {last}");
            last = v;
        }
        assert_eq!(last, 5);
        sender.await.unwrap();

        // broadcast: every receiver gets every message, in order; a slow
        // one is told how many it missed.
        let (tx, _) = tokio::sync::broadcast::channel::<u32>(16);
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = tx.subscribe();
                spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        for h in receivers {
            assert_eq!(soon(h).await.unwrap(), (0..10).collect::<Vec<_>>());
        }
        let (tx, mut rx) = tokio::sync::broadcast::channel::<u32>(2);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert!(matches!(
            rx.recv().await,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(3))
        ));
        assert_eq!(rx.recv().await.unwrap(), 3);
        assert_eq!(rx.recv().await.unwrap(), 4);
    }

    // ---- tokio's driver-bound types, no tokio runtime entered ------------

    async fn tokio_time_net_and_spawn_panic_without_a_tokio_runtime() {
        // In a switchyard task no tokio context is set (unless a hook
        // entered one: examples/tokio_interop.rs), so each call panics.
        let e = spawn(async { tokio::time::sleep(Duration::from_millis(1)).await })
            .await
            .unwrap_err();
        assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
        let e = spawn(async {
            let _ = tokio::time::timeout(Duration::from_millis(1), async {}).await;
        })
        .await
        .unwrap_err();
        assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
        let listener = switchyard::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let e = spawn(async move {
            let _ = tokio::net::TcpStream::connect(addr).await;
        })
        .await
        .unwrap_err();
        assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
        let e = spawn(async { drop(tokio::spawn(async {})) }).await.unwrap_err();
        assert!(panic_message(&e).contains(NO_REACTOR), "{e:?}");
        // The runtime goes on after those panics.
        assert_eq!(spawn(async { 5 }).await.unwrap(), 5);
    }

    // ---- event-listener --------------------------------------------------

    async fn event_listener_wakes_waiters_across_tasks() {
        let event = Arc::new(event_listener::Event::new());
        let flag = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (event, flag, done) = (event.clone(), flag.clone(), done.clone());
                spawn(async move {
                    // The crate's documented pattern: check, listen, check, wait.
                    loop {
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                        let listener = event.listen();
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                        listener.await;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        sleep(Duration::from_millis(20)).await;
        assert_eq!(done.load(Ordering::SeqCst), 0, "no waiter ends before the notify");
        flag.store(true, Ordering::SeqCst);
        event.notify(usize::MAX);
        for h in waiters {
            soon(h).await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 3);
        // notify(1) wakes one listener, the oldest.
        let (first, second) = (event.listen(), event.listen());
        assert_eq!(event.notify(1), 1);
        assert!(first.now_or_never().is_some(), "the first listener was notified");
        assert!(second.now_or_never().is_none(), "the second was not");
    }

    // ---- async-lock ------------------------------------------------------

    async fn async_lock_mutex_rwlock_semaphore_barrier_oncecell() {
        let m = Arc::new(async_lock::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..4u32)
            .map(|t| {
                let m = m.clone();
                spawn(async move {
                    for i in 0..50 {
                        let mut g = m.lock().await;
                        g.push((t, i));
                        yield_now().await; // held across an await
                    }
                })
            })
            .collect();
        for h in hs {
            soon(h).await.unwrap();
        }
        assert_eq!(m.lock().await.len(), 200);

        let rw = async_lock::RwLock::new(1u8);
        let (r1, r2) = (rw.read().await, rw.read().await);
        assert!(rw.try_write().is_none(), "readers hold it");
        drop((r1, r2));
        *rw.write().await += 1;
        assert_eq!(*rw.read().await, 2);

        let sem = Arc::new(async_lock::Semaphore::new(1));
        let g = sem.acquire().await;
        let s2 = sem.clone();
        let blocked = spawn(async move {
            let _g = s2.acquire().await;
        });
        sleep(Duration::from_millis(10)).await;
        assert!(sem.try_acquire().is_none(), "the permit is held");
        drop(g);
        soon(blocked).await.unwrap();

        // A barrier of four: every task must be running concurrently to
        // pass it; exactly one is the leader.
        let barrier = Arc::new(async_lock::Barrier::new(4));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                spawn(async move { b.wait().await.is_leader() })
            })
            .collect();
        let mut leaders = 0;
        for h in hs {
            leaders += usize::from(soon(h).await.unwrap());
        }
        assert_eq!(leaders, 1);

        // OnceCell: eight racing tasks, one initialisation.
        let cell = Arc::new(async_lock::OnceCell::<u32>::new());
        let inits = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (cell, inits) = (cell.clone(), inits.clone());
                spawn(async move {
                    *cell
                        .get_or_init(|| async {
                            inits.fetch_add(1, Ordering::SeqCst);
                            sleep(Duration::from_millis(5)).await;
                            42
                        })
                        .await
                })
            })
            .collect();
        for h in hs {
            assert_eq!(soon(h).await.unwrap(), 42);
        }
        assert_eq!(inits.load(Ordering::SeqCst), 1);
    }
}
