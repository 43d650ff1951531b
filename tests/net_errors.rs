//! Sockets after an error, in every mode: the error is reported once, and
//! the socket then waits for the next event instead of spinning.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use switchyard::net::UdpSocket;
use switchyard::time::timeout;

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Awaits `fut`, counting how many times it is polled.
async fn counting_polls<F: Future>(fut: F) -> (F::Output, u32) {
    let mut fut = pin!(fut);
    let mut polls = 0;
    let out = std::future::poll_fn(|cx| {
        polls += 1;
        fut.as_mut().poll(cx)
    })
    .await;
    (out, polls)
}

switchyard::test_all_modes! {
    async fn a_receive_after_a_socket_error_waits_without_spinning() {
        // A port nothing listens on: a datagram sent there comes back as an
        // ICMP port-unreachable, which a connected UDP socket records as a
        // pending ECONNREFUSED (and epoll reports as an error event).
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer_addr = closed.local_addr().unwrap();
        drop(closed);
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.connect(peer_addr).await.unwrap();
        let me = sock.local_addr().unwrap();
        sock.send(b"ping").await.unwrap();
        let mut buf = [0u8; 16];
        let err = timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("the error is reported")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");

        // The peer appears later and sends a datagram; meanwhile the
        // receive waits.
        const LATER: Duration = Duration::from_millis(300);
        let peer = std::thread::spawn(move || {
            std::thread::sleep(LATER);
            let peer = std::net::UdpSocket::bind(peer_addr).unwrap();
            peer.send_to(b"late", me).unwrap();
        });
        let cpu = thread_cpu();
        let (got, polls) = counting_polls(timeout(Duration::from_secs(10), sock.recv(&mut buf))).await;
        let cpu = thread_cpu() - cpu;
        peer.join().unwrap();
        let n = got.expect("the datagram arrives").expect("and is received");
        assert_eq!(&buf[..n], b"late");
        // Waiting, the receive is polled when the datagram comes (and
        // perhaps once or twice more); a spinning one is polled every turn
        // of the loop and burns most of a core.
        assert!(
            polls <= 10 && cpu < LATER / 10,
            "while waiting {LATER:?} the receive was polled {polls} times and its \
             thread used {cpu:?} of CPU"
        );
    }
}
