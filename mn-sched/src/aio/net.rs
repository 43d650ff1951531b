//! Async TCP and UDP on the mn netpoller, with exactly the public methods of
//! the event loop's (loop-core's `net`; compat calls both through one
//! `match`).
//!
//! Each socket is registered once, for read and write, when it is created
//! (with the runtime of the creating G or thread); its readiness lives in
//! the netpoller's slab (netpoll/io.rs), so the sockets are `Send + Sync`
//! and every operation works through `&self` (one task may read while
//! another writes).

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use mio::Interest;
use rt_base::socket::{self, ListenOptions};

use crate::netpoll::io::Direction;
use crate::netpoll::raw;
use crate::netpoll::Registration;

/// A TCP listening socket.
pub struct TcpListener {
    pub(crate) io: mio::net::TcpListener,
    pub(crate) reg: Registration,
}

impl TcpListener {
    /// Binds to `addr` with the default [`ListenOptions`].
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::bind_with(addr, &ListenOptions::default())
    }

    /// Binds to `addr` with explicit options.
    pub fn bind_with(addr: SocketAddr, opts: &ListenOptions) -> io::Result<Self> {
        Self::from_std(socket::tcp_listen(addr, opts)?)
    }

    /// Adopts a std listener (switched to non-blocking mode).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let mut io = mio::net::TcpListener::from_std(listener);
        let reg = Registration::new(&mut io, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TcpListener { io, reg })
    }

    /// Accepts a connection (errors as they come: see
    /// `rt_base::socket::is_resource_exhausted`).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self
            .reg
            .state
            .poll_io(cx, Direction::Read, || self.io.accept())
        {
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
    pub(crate) io: mio::net::TcpStream,
    pub(crate) reg: Registration,
}

impl TcpStream {
    /// Connects to `addr` without blocking the thread.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = Self::from_mio(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Waits until a non-blocking connect has finished: writable, then
    /// `SO_ERROR`, then `getpeername` to tell it from a spurious wake.
    pub(crate) fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Err(e) = std::task::ready!(self.reg.state.poll_ready(cx, Direction::Write)) {
                return Poll::Ready(Err(e));
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
                    self.reg.state.clear_now(Direction::Write);
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

    pub(crate) fn from_mio(mut io: mio::net::TcpStream) -> io::Result<Self> {
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
        poll_fn(|cx| self.poll_peek(cx, buf)).await
    }

    pub(crate) fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reg
            .state
            .poll_io(cx, Direction::Read, || self.io.peek(buf))
    }

    /// Shuts down one or both directions (never waits).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Polls a read into `buf`.
    pub fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.reg.state.poll_io_stream(cx, Direction::Read, len, || {
            raw::recv(self.io.as_raw_fd(), buf)
        })
    }

    /// Polls a write of `buf`.
    pub fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.reg
            .state
            .poll_io_stream(cx, Direction::Write, buf.len(), || {
                raw::send(self.io.as_raw_fd(), buf)
            })
    }

    /// Polls a vectored write.
    pub fn poll_write_vectored_buf(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.reg
            .state
            .poll_io_stream(cx, Direction::Write, len, || {
                (&self.io).write_vectored(bufs)
            })
    }

    /// Sets `TCP_NODELAY`.
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

/// A UDP socket.
pub struct UdpSocket {
    pub(crate) io: mio::net::UdpSocket,
    pub(crate) reg: Registration,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::from_std(socket::udp_bind(addr)?)
    }

    /// Adopts a std socket (switched to non-blocking mode).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let mut io = mio::net::UdpSocket::from_std(socket);
        let reg = Registration::new(&mut io, Interest::READABLE | Interest::WRITABLE)?;
        Ok(UdpSocket { io, reg })
    }

    /// Sets the default peer for `send` and `recv`.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.connect(addr)
    }

    /// Sends a datagram to `addr`.
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, buf, addr)).await
    }

    /// Polls a send to `addr`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.reg
            .state
            .poll_io(cx, Direction::Write, || self.io.send_to(buf, addr))
    }

    /// Receives a datagram and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls a receive.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.reg
            .state
            .poll_io(cx, Direction::Read, || self.io.recv_from(buf))
    }

    /// Sends to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    pub(crate) fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.reg
            .state
            .poll_io(cx, Direction::Write, || self.io.send(buf))
    }

    /// Receives from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reg
            .state
            .poll_io(cx, Direction::Read, || self.io.recv(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// Allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.set_broadcast(on)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.reg.deregister(&mut self.io);
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.io.local_addr().ok())
            .finish()
    }
}
