//! TCP on the loop: a listener and a stream over mio, with futures-io traits.
//!
//! Both hold their mio socket and a [`Registration`]: plain data, so they are
//! `Send` and can be moved into spawned tasks; the readiness itself lives in
//! the loop's I/O slab. Every operation is a `poll_*` method plus an `async`
//! convenience, and works through `&self`, so one task may read while another
//! writes the same stream.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::Interest;

use super::socket::{self, ListenOptions};
use crate::io::{Direction, Registration};

/// A TCP listening socket.
pub struct TcpListener {
    io: mio::net::TcpListener,
    reg: Registration,
}

impl TcpListener {
    /// Binds to `addr` with the default [`ListenOptions`] (port 0 picks a
    /// free port; see [`local_addr`](Self::local_addr)).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::bind_with(addr, &ListenOptions::default())
    }

    /// Binds to `addr` with explicit options.
    pub fn bind_with(addr: SocketAddr, opts: &ListenOptions) -> io::Result<Self> {
        Self::from_std(socket::tcp_listen(addr, opts)?)
    }

    /// Adopts a std listener (it is switched to non-blocking mode).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let mut io = mio::net::TcpListener::from_std(listener);
        let reg = Registration::new(&mut io, Interest::READABLE)?;
        Ok(TcpListener { io, reg })
    }

    /// Accepts a connection. Errors are returned as they come: on running out
    /// of file descriptors (see [`socket::is_resource_exhausted`]) a server
    /// should back off and call again; the listener stays usable.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self.reg.poll_io(cx, Direction::Read, || self.io.accept()) {
            Poll::Ready(Ok((io, addr))) => Poll::Ready(TcpStream::from_mio(io).map(|s| (s, addr))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.reg.deregister(&mut self.io);
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.io.local_addr().ok())
            .finish()
    }
}

/// A TCP connection.
pub struct TcpStream {
    io: mio::net::TcpStream,
    reg: Registration,
}

impl TcpStream {
    /// Connects to `addr` without blocking the loop.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = Self::from_mio(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Waits until a non-blocking connect has finished, as mio prescribes:
    /// writable, then `SO_ERROR`, then `getpeername` to tell a finished
    /// connect from a spurious wake.
    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.reg.poll_ready(cx, Direction::Write) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            if let Some(e) = self.io.take_error()? {
                return Poll::Ready(Err(e));
            }
            match self.io.peer_addr() {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    self.reg.clear(Direction::Write)
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Adopts a connected std stream (switched to non-blocking mode).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Self::from_mio(mio::net::TcpStream::from_std(stream))
    }

    fn from_mio(mut io: mio::net::TcpStream) -> io::Result<Self> {
        let reg = Registration::new(&mut io, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TcpStream { io, reg })
    }

    /// Reads some bytes; `Ok(0)` at end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_buf(cx, buf)).await
    }

    /// Reads exactly `buf.len()` bytes, or fails with `UnexpectedEof`.
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Writes some bytes.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write_buf(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Reads without consuming.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.reg.poll_io(cx, Direction::Read, || self.io.peek(buf))).await
    }

    /// Shuts down one or both directions (`Write`: the peer reads EOF). A
    /// plain syscall: it never waits.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Polls a read into `buf`.
    pub fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.reg.poll_io(cx, Direction::Read, || {
            let n = (&self.io).read(buf)?;
            // A short read drained the socket: skip the EAGAIN syscall (see io.rs).
            if n > 0 && n < buf.len() {
                self.reg.clear(Direction::Read);
            }
            Ok(n)
        })
    }

    /// Polls a write of `buf`.
    pub fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.reg.poll_io(cx, Direction::Write, || {
            let n = (&self.io).write(buf)?;
            if n > 0 && n < buf.len() {
                self.reg.clear(Direction::Write);
            }
            Ok(n)
        })
    }

    /// Polls a vectored write.
    pub fn poll_write_vectored_buf(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.reg
            .poll_io(cx, Direction::Write, || (&self.io).write_vectored(bufs))
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.nodelay()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// Takes the pending socket error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.take_error()
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.reg.deregister(&mut self.io);
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.io.local_addr().ok())
            .field("peer", &self.io.peer_addr().ok())
            .finish()
    }
}

macro_rules! async_io_impls {
    ($t:ty) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_read_buf(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_buf(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_vectored_buf(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.io.shutdown(Shutdown::Write))
            }
        }
    };
}

async_io_impls!(TcpStream);
async_io_impls!(&TcpStream);
