//! A socket that outlives its runtime (moved out of `block_on`, the runtime
//! then dropped): used afterwards — from a new runtime, from a plain
//! executor, or already waiting in another runtime when its own one is
//! dropped — every operation completes with an error saying the runtime is
//! gone, in both modes. Never a hang: each check runs under a watchdog.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use switchyard::net::{TcpListener, TcpStream, UdpSocket};
use switchyard::{Builder, Mode, Runtime};

/// How long an operation may take to fail before the test calls it a hang.
const LIMIT: Duration = Duration::from_secs(10);

fn runtime(mode: Mode) -> Runtime {
    Builder::new()
        .mode(mode)
        .procs(2)
        .ignore_env()
        .build()
        .expect("runtime")
}

/// Sockets made in a runtime that was then dropped.
struct Orphans {
    listener: TcpListener,
    stream: TcpStream,
    /// The accepted end, kept open so that `stream` has nothing to read.
    _peer: TcpStream,
    udp: UdpSocket,
}

fn orphans(mode: Mode) -> Orphans {
    let rt = runtime(mode);
    let s = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Orphans {
            listener,
            stream,
            _peer: peer,
            udp,
        }
    });
    drop(rt);
    s
}

/// Runs `f` on a thread; fails the test if it does not finish in [`LIMIT`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {LIMIT:?} (hang)"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: failed (its panic is above)"),
    }
}

/// Polls `f` to completion on the calling thread, parking it in between:
/// an executor that knows nothing of switchyard.
fn plain_block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn assert_gone<T: std::fmt::Debug>(what: &str, r: io::Result<T>) {
    let e = r.expect_err(what);
    let msg = e.to_string();
    assert!(
        msg.contains("runtime") && msg.contains("has shut down"),
        "{what}: {msg}"
    );
}

/// Every operation that waits for readiness, on each orphan.
async fn use_all(s: &Orphans) {
    assert_gone("accept", s.listener.accept().await);
    let mut buf = [0u8; 16];
    assert_gone("read", s.stream.read(&mut buf).await);
    assert_gone("recv_from", s.udp.recv_from(&mut buf).await);
}

fn used_from_a_new_runtime(mode: Mode) {
    within("a new runtime", move || {
        let s = orphans(mode);
        runtime(mode).block_on(async move { use_all(&s).await });
    });
}

fn used_from_a_plain_executor(mode: Mode) {
    within("a plain executor", move || {
        let s = orphans(mode);
        plain_block_on(async move { use_all(&s).await });
    });
}

#[test]
fn single_socket_used_from_a_new_runtime_after_its_own_is_dropped() {
    used_from_a_new_runtime(Mode::Single);
}

#[test]
fn single_socket_used_from_a_plain_executor_after_its_runtime_is_dropped() {
    used_from_a_plain_executor(Mode::Single);
}

#[test]
fn mn_socket_used_from_a_new_runtime_after_its_own_is_dropped() {
    used_from_a_new_runtime(Mode::Mn);
}

#[test]
fn mn_socket_used_from_a_plain_executor_after_its_runtime_is_dropped() {
    used_from_a_plain_executor(Mode::Mn);
}

/// An mn socket may be used from another runtime while its own one lives
/// (its netpoller serves it). A read waiting there when the socket's
/// runtime is dropped is woken with the error.
#[test]
fn mn_read_waiting_elsewhere_fails_when_the_sockets_runtime_is_dropped() {
    within("a waiting read", || {
        let rt = runtime(Mode::Mn);
        let (stream, peer) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (peer, _) = listener.accept().await.unwrap();
            (stream, peer)
        });
        let (started_tx, started_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            runtime(Mode::Mn).block_on(async move {
                started_tx.send(()).unwrap();
                let mut buf = [0u8; 16];
                stream.read(&mut buf).await
            })
        });
        started_rx.recv().unwrap();
        // Let the read reach its wait (nothing ever arrives to read).
        std::thread::sleep(Duration::from_millis(100));
        drop(rt);
        assert_gone("the waiting read", reader.join().unwrap());
        drop(peer);
    });
}
