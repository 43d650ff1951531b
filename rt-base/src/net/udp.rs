//! UDP, written once for both engines.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use mio::Interest;

use crate::io::{Direction, PollEvented, Registration};
use crate::socket;

/// A UDP socket, registered with the poller `R`.
pub struct UdpSocket<R: Registration> {
    io: PollEvented<mio::net::UdpSocket, R>,
}

impl<R: Registration> UdpSocket<R> {
    /// Binds to `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::from_std(socket::udp_bind(addr)?)
    }

    /// Binds to `addr` with `SO_REUSEPORT` if `reuse_port`.
    pub fn bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<Self> {
        Self::from_std(socket::udp_bind_with(addr, reuse_port)?)
    }

    /// Adopts a std socket (switched to non-blocking mode).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let io = PollEvented::new(
            mio::net::UdpSocket::from_std(socket),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(UdpSocket { io })
    }

    /// Sets the default peer for `send` and `recv`, and filters others out.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.get_ref().connect(addr)
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
        self.io
            .poll_io(cx, Direction::Write, |s| s.send_to(buf, addr))
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
        self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// Sends to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls a [`send`](Self::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls a [`recv`](Self::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }
}

impl<R: Registration> fmt::Debug for UdpSocket<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
