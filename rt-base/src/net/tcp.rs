//! TCP, written once for both engines: a listener and a stream over mio,
//! with futures-io traits.
//!
//! Both hold their mio socket in a [`PollEvented`]: the socket and its
//! registration, plain data, so they are `Send` and can be moved into
//! spawned tasks; the readiness itself lives in the engine's poller. Every
//! operation is a `poll_*` method plus an `async` convenience, and works
//! through `&self`, so one task may read while another writes the same
//! stream.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use mio::Interest;

use super::raw;
use crate::io::{Direction, PollEvented, Registration};
use crate::socket::{self, ListenOptions};

/// A TCP listening socket, registered with the poller `R`.
pub struct TcpListener<R: Registration> {
    io: PollEvented<mio::net::TcpListener, R>,
}

impl<R: Registration> TcpListener<R> {
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
        let io = PollEvented::new(
            mio::net::TcpListener::from_std(listener),
            Interest::READABLE,
        )?;
        Ok(TcpListener { io })
    }

    /// Accepts a connection. Errors are returned as they come: on running
    /// out of file descriptors (see [`socket::is_resource_exhausted`]) a
    /// server should back off and call again; the listener stays usable.
    pub async fn accept(&self) -> io::Result<(TcpStream<R>, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream<R>, SocketAddr)>> {
        match self.io.poll_io(cx, Direction::Read, |l| l.accept()) {
            Poll::Ready(Ok((io, addr))) => Poll::Ready(TcpStream::from_mio(io).map(|s| (s, addr))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl<R: Registration> fmt::Debug for TcpListener<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection, registered with the poller `R`.
pub struct TcpStream<R: Registration> {
    io: PollEvented<mio::net::TcpStream, R>,
}

impl<R: Registration> TcpStream<R> {
    /// Connects to `addr` without blocking the thread.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = Self::from_mio(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Polls until a non-blocking connect has finished, as mio prescribes:
    /// writable, then `SO_ERROR`, then `getpeername` to tell a finished
    /// connect from a spurious wake (which forgets the write readiness and
    /// waits again). For a stream made by [`from_mio`](Self::from_mio) from
    /// `mio::net::TcpStream::connect`.
    pub fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if crate::coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let reg = self.io.registration();
        loop {
            let event = match reg.poll_ready(cx, Direction::Write) {
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if let Some(e) = self.io.get_ref().take_error()? {
                return Poll::Ready(Err(e));
            }
            match self.io.get_ref().peer_addr() {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    reg.clear_readiness(event)
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

    /// Adopts a mio stream, connected or still connecting (then wait with
    /// [`poll_connected`](Self::poll_connected)), and registers it for
    /// reading and writing.
    pub fn from_mio(io: mio::net::TcpStream) -> io::Result<Self> {
        let io = PollEvented::new(io, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TcpStream { io })
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
        poll_fn(|cx| self.poll_peek(cx, buf)).await
    }

    /// Polls a [`peek`](Self::peek).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| s.peek(buf))
    }

    /// Shuts down one or both directions (`Write`: the peer reads EOF). A
    /// plain system call: it never waits.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Polls a read into `buf`. A read that fills part of `buf` drained
    /// the socket: the next one waits for the next edge instead of making
    /// a system call that would say `WouldBlock` (crate::io, step 4).
    #[inline]
    pub fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.io.get_ref().as_raw_fd();
        let len = buf.len();
        self.io
            .registration()
            .poll_transfer(cx, Direction::Read, len, || raw::recv(fd, buf))
    }

    /// Polls a write of `buf` (a partial write filled the send buffer, as
    /// a partial read drained the socket).
    #[inline]
    pub fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = self.io.get_ref().as_raw_fd();
        self.io
            .registration()
            .poll_transfer(cx, Direction::Write, buf.len(), || raw::send(fd, buf))
    }

    /// Polls a vectored write (one `writev`).
    pub fn poll_write_vectored_buf(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        let io = self.io.get_ref();
        self.io
            .registration()
            .poll_transfer(cx, Direction::Write, len, || {
                let mut io = io;
                io.write_vectored(bufs)
            })
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl<R: Registration> fmt::Debug for TcpStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

macro_rules! async_io_impls {
    ($($t:ty),*) => {$(
        impl<R: Registration> futures_io::AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_read_buf(cx, buf)
            }
        }

        impl<R: Registration> futures_io::AsyncWrite for $t {
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
                Poll::Ready(self.shutdown(Shutdown::Write))
            }
        }
    )*};
}

async_io_impls!(TcpStream<R>, &TcpStream<R>);
