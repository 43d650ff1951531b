//! What tokio users reach for, in every mode: channel receivers, signals
//! and intervals in futures' `select!` with `select_next_some()` (they are
//! `FusedStream`s), `mpsc::unbounded_channel`, `mpsc::channel(n)`'s
//! buffer, `stats()` outside a runtime, and the end of stream a peer sees
//! when an `OwnedWriteHalf` is dropped.

use std::time::{Duration, Instant};

use futures_core::stream::FusedStream;
use futures_util::{select, StreamExt};
use switchyard::net::{TcpListener, TcpStream};
use switchyard::signal::{signal, SignalKind};
use switchyard::sync::mpsc::{self, TrySendError};
use switchyard::time::{interval, timeout};
use switchyard::{spawn, Mode};

/// Generous: how long a test waits for something that should come at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// A connected pair on 127.0.0.1: (client, server's end).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Reads until end of stream (at most `PATIENCE`); what was read.
async fn read_to_end(s: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = timeout(PATIENCE, s.read(&mut buf))
            .await
            .expect("end of stream within the patience")
            .unwrap();
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

switchyard::test_all_modes! {
    async fn receivers_take_select_next_some_without_fuse() {
        let (tx, mut bounded) = mpsc::channel::<u32>(4);
        let (utx, mut unbounded) = mpsc::unbounded_channel::<u32>();
        spawn(async move {
            for i in 0..50 {
                tx.send(i).await.unwrap();
                utx.try_send(1000 + i).unwrap();
            }
        });
        let (mut a, mut b) = (Vec::new(), Vec::new());
        loop {
            select! {
                x = bounded.select_next_some() => a.push(x),
                y = unbounded.select_next_some() => b.push(y),
                // Both streams said they ended: select! stops polling them.
                complete => break,
            }
        }
        assert_eq!(a, (0..50).collect::<Vec<_>>());
        assert_eq!(b, (1000..1050).collect::<Vec<_>>());
        assert!(bounded.is_terminated() && unbounded.is_terminated());
        assert_eq!(bounded.next().await, None, "and stays ended");
    }


    async fn a_receiver_is_terminated_only_once_empty_and_alone() {
        let (tx, mut rx) = mpsc::channel::<u8>(8);
        assert!(!rx.is_terminated(), "a sender is alive");
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        drop(tx);
        assert!(!rx.is_terminated(), "two messages are buffered");
        assert_eq!(rx.recv().await, Some(1));
        assert!(!rx.is_terminated(), "one is");
        assert_eq!(rx.recv().await, Some(2));
        assert!(rx.is_terminated());
        assert_eq!(rx.recv().await, None);

        // Closed by the receiver: ended once the buffer is drained, though
        // the sender lives.
        let (tx, mut rx) = mpsc::unbounded_channel::<u8>();
        tx.try_send(9).unwrap();
        rx.close();
        assert!(!rx.is_terminated());
        assert_eq!(rx.recv().await, Some(9));
        assert!(rx.is_terminated());
        drop(tx);
    }


    async fn a_signal_and_an_interval_share_a_select() {
        // Each tick of the interval sends SIGUSR1 to the process, until the
        // signal stream (a FusedStream) sees a delivery.
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        assert!(!usr1.is_terminated());
        let mut ticks = interval(Duration::from_millis(5));
        assert!(!ticks.is_terminated(), "an interval never ends");
        let start = Instant::now();
        let mut sent = 0;
        loop {
            select! {
                () = usr1.select_next_some() => break,
                _due = ticks.select_next_some() => {
                    assert!(start.elapsed() < PATIENCE, "no delivery after {sent} signals");
                    // SAFETY: kill(2) has no memory preconditions; SIGUSR1
                    // has our handler (installed by `signal` above, and it
                    // stays), so it does not end the process.
                    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
                    sent += 1;
                }
            }
        }
        assert!(sent >= 1);
        assert!(!usr1.is_terminated(), "a signal stream goes on");
    }


    async fn an_interval_is_a_stream_of_due_instants() {
        let period = Duration::from_millis(10);
        let start = Instant::now();
        let mut ticks = interval(period);
        let (_tx, mut never) = mpsc::channel::<()>(1);
        let mut due = Vec::new();
        while due.len() < 5 {
            select! {
                t = ticks.select_next_some() => due.push(t),
                _ = never.select_next_some() => unreachable!("nothing is sent"),
            }
        }
        // The first tick at once, then one per period, on schedule.
        for pair in due.windows(2) {
            assert_eq!(pair[1] - pair[0], period);
        }
        assert!(start.elapsed() >= 4 * period, "{:?}", start.elapsed());
        // Through StreamExt too.
        let more: Vec<Instant> = ticks.by_ref().take(2).collect().await;
        assert_eq!(more[0] - due[4], period);
    }


    async fn unbounded_channel_is_tokios_name_for_unbounded() {
        let (tx, mut rx): (mpsc::UnboundedSender<u32>, mpsc::UnboundedReceiver<u32>) =
            mpsc::unbounded_channel();
        assert_eq!(tx.max_capacity(), None);
        for i in 0..10_000 {
            tx.try_send(i).unwrap();
        }
        tx.send(10_000).await.unwrap();
        assert_eq!(rx.len(), 10_001);
        drop(tx);
        let mut n = 0;
        while let Some(i) = rx.recv().await {
            assert_eq!(i, n);
            n += 1;
        }
        assert_eq!(n, 10_001);
    }

    async fn channel_n_buffers_n_messages_as_in_tokio() {
        let (tx, mut rx) = mpsc::channel::<u32>(3);
        assert_eq!(tx.max_capacity(), Some(3));
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert!(
            timeout(Duration::from_millis(20), tx.send(3)).await.is_err(),
            "a send waits while the buffer is full"
        );
        assert_eq!(rx.recv().await, Some(0));
        timeout(PATIENCE, tx.send(3)).await.unwrap().unwrap();
        drop(tx);
        let rest: Vec<u32> = rx.collect().await;
        assert_eq!(rest, [1, 2, 3]);
    }

    async fn dropping_the_write_half_gives_the_peer_end_of_stream() {
        let (client, server) = tcp_pair().await;
        let (read, write) = client.into_split();
        write.write_all(b"request").await.unwrap();
        drop(write);
        assert_eq!(read_to_end(&server).await, b"request");
        // Only the write direction ended: the read half still reads.
        server.write_all(b"reply").await.unwrap();
        drop(server);
        assert_eq!(read_to_end(&read).await, b"reply");
    }

    async fn a_write_half_dropped_by_its_task_ends_an_echo_exchange() {
        // The shape of a tokio program: a writer task and a reader, the
        // writer's end telling the echo server to finish.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let mut echoed = 0;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return echoed;
                }
                s.write_all(&buf[..n]).await.unwrap();
                echoed += n;
            }
        });
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        let writer = spawn(async move {
            for i in 0..100u8 {
                write.write_all(&[i; 100]).await.unwrap();
            }
        });
        let got = read_to_end(&read).await;
        writer.await.unwrap();
        let want: Vec<u8> = (0..100u8).flat_map(|i| [i; 100]).collect();
        assert!(got == want, "{} bytes came back", got.len());
        assert_eq!(timeout(PATIENCE, server).await.unwrap().unwrap(), 10_000);
    }

    async fn a_forgotten_write_half_leaves_the_stream_open() {
        let (client, server) = tcp_pair().await;
        let (read, write) = client.into_split();
        write.forget();
        let mut buf = [0u8; 8];
        assert!(
            timeout(Duration::from_millis(100), server.read(&mut buf)).await.is_err(),
            "no end of stream while the read half lives"
        );
        drop(read);
        assert_eq!(read_to_end(&server).await, b"");
    }

    async fn stats_inside_a_runtime_is_some() {
        let s = switchyard::stats().expect("inside a runtime");
        assert!(s.threads >= 1);
        // A plain thread started from a task runs no runtime.
        let outside = std::thread::spawn(switchyard::stats).join().unwrap();
        assert_eq!(outside, None);
        // Nor does a thread of the blocking pool.
        assert_eq!(switchyard::spawn_blocking(switchyard::stats).await.unwrap(), None);
    }
}

#[test]
fn stats_outside_a_runtime_is_none_not_a_panic() {
    assert_eq!(switchyard::stats(), None);
    let mode =
        switchyard::testing::block_on(Mode::Mn, 2, async { switchyard::stats().map(|s| s.mode) });
    assert_eq!(mode, Some(Mode::Mn));
    assert_eq!(switchyard::stats(), None, "after the runtime, none again");
}

#[test]
fn channel_zero_panics_as_in_tokio() {
    let e = std::panic::catch_unwind(|| mpsc::channel::<u8>(0)).unwrap_err();
    let msg = e.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("capacity must be at least 1"), "{msg}");
}
