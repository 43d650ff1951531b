//! A stream socket's read and write as plain system calls (the TCP stream
//! of [`super::TcpStream`] uses them, in both engines).
//!
//! glibc's `recv` and `send`, which std's `TcpStream` calls, are pthread
//! cancellation points: in a process with more than one thread each call
//! brackets the system call with `__pthread_enable_asynccancel` and
//! `__pthread_disable_asynccancel`, two atomic read-modify-writes of the
//! thread's cancel state. switchyard never cancels a thread, so its streams
//! enter the kernel through `syscall(2)` with the arguments std passes (the
//! same `recvfrom` and `sendto` a strace shows either way). An mn runtime
//! always has several threads: there a `recvfrom` that finds nothing costs
//! some 20 ns less through `syscall` than through `recv`, and in a
//! user-space profile of an echo server (2 Ps, 1,000 connections) the share
//! of its user time in and around the two calls about halved (user time is
//! about a tenth of its CPU; the whole-process difference is inside the
//! noise). A lone event loop is single-threaded, where glibc skips the
//! bracket and both ways cost the same; beside the blocking pool or other
//! loops it gains what mn gains.

use std::io;
use std::os::fd::RawFd;

/// `recv(fd, buf, 0)`: bytes read, 0 at the end of the stream.
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recvfrom(2) writes at most `buf.len()` bytes into `buf`,
    // which is valid and writable for that long; the null address and
    // length pointers ask for no peer address. Every argument is passed
    // as a `c_long`, the width `syscall` reads.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd as libc::c_long,
            buf.as_mut_ptr() as libc::c_long,
            buf.len() as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    byte_count(n)
}

/// `send(fd, buf, MSG_NOSIGNAL)` (as std: a closed peer is `EPIPE`, not a
/// `SIGPIPE`): bytes written.
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sendto(2) reads at most `buf.len()` bytes from `buf`, which
    // is valid for that long; a null address with length 0 sends on the
    // connected socket. Every argument is passed as a `c_long`.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd as libc::c_long,
            buf.as_ptr() as libc::c_long,
            buf.len() as libc::c_long,
            libc::MSG_NOSIGNAL as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    byte_count(n)
}

/// A transfer's return value: bytes moved, or the error in `errno`.
fn byte_count(n: libc::c_long) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    /// Bytes go both ways through the raw calls; an empty non-blocking
    /// socket says `WouldBlock`; the end of the stream reads as 0; a send
    /// to a closed peer is an error, not a SIGPIPE that kills the test.
    #[test]
    fn raw_calls_move_bytes_and_report_errors() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let e = recv(b.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        a.write_all(b"hello").unwrap();
        let mut got = 0;
        while got < 5 {
            match recv(b.as_raw_fd(), &mut buf[got..]) {
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(send(b.as_raw_fd(), b"world").unwrap(), 5);
        let mut back = [0u8; 5];
        a.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"world");
        drop(a);
        // The peer's FIN, then (after its RST) EPIPE or ECONNRESET.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match recv(b.as_raw_fd(), &mut buf) {
                Ok(0) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                r => panic!("expected the end of the stream, got {r:?}"),
            }
            assert!(std::time::Instant::now() < deadline);
        }
        let mut failed = false;
        for _ in 0..100 {
            if send(b.as_raw_fd(), b"x").is_err() {
                failed = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(failed, "sends to a closed peer kept succeeding");
    }
}
