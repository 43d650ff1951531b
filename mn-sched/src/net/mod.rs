//! Blocking-style networking for code on Gs (`switchyard::mn::net`): the
//! calls look like `std::net`'s, but a call that would block parks the G,
//! not the thread (the M runs other Gs; the netpoller readies the G).
//!
//! Built on the async types of [`crate::aio::net`]: each call polls with
//! the G's own waker ([`crate::current_waker`]) and parks on `Pending`.
//! Read, write and accept deadlines (`set_read_timeout`,
//! `set_write_timeout`, as in std: the call fails with `WouldBlock` when
//! the timeout passes) use the runtime's timers through `park_until`.
//!
//! Callable only on a G of an mn runtime: elsewhere the calls panic with a
//! clear message (a thread would block in them; use std or the async types).

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rt_base::socket::ListenOptions;

use crate::aio::net as anet;
use crate::g::run::current_g;

/// "No timeout" in the timeout atomics.
const NO_TIMEOUT: u64 = u64::MAX;

/// Runs `poll` on the calling G until it is ready, parking in between; with
/// a `timeout`, fails with `WouldBlock` once it has passed.
fn block_on_poll<R>(
    what: &str,
    timeout: Option<Duration>,
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<io::Result<R>>,
) -> io::Result<R> {
    assert!(
        current_g().is_some(),
        "mn_sched::net::{what} called outside a G: these calls park the G; \
         on a plain thread use std::net, in async code mn_sched::aio::net"
    );
    let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far));
    let waker = crate::current_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        // Each poll is a step of a blocking wait, not an await: inside an
        // async task's poll its coop budget must not make it return
        // `Pending` again and again (the park would return at once: a spin).
        let unbudgeted = rt_base::coop::Unconstrained::enter();
        let polled = poll(&mut cx);
        drop(unbudgeted);
        if let Poll::Ready(r) = polled {
            return r;
        }
        match deadline {
            None => crate::park(),
            Some(d) => {
                if Instant::now() >= d {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("switchyard: mn net {what} timed out"),
                    ));
                }
                crate::park_until(d);
            }
        }
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

fn get_timeout(a: &AtomicU64) -> Option<Duration> {
    match a.load(Ordering::Relaxed) {
        NO_TIMEOUT => None,
        ns => Some(Duration::from_nanos(ns)),
    }
}

fn set_timeout(a: &AtomicU64, t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        // As std: a zero timeout is an error.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    let ns = t.map_or(NO_TIMEOUT, |d| {
        d.as_nanos().min(NO_TIMEOUT as u128 - 1) as u64
    });
    a.store(ns, Ordering::Relaxed);
    Ok(())
}

fn first_addr(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let v: Vec<_> = addr.to_socket_addrs()?.collect();
    if v.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(v)
}

/// A TCP listener whose `accept` parks the G.
pub struct TcpListener {
    inner: anet::TcpListener,
    accept_timeout: AtomicU64,
}

impl TcpListener {
    /// Binds to `addr` (the first address that works) with the default
    /// [`ListenOptions`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let mut last = None;
        for a in first_addr(addr)? {
            match anet::TcpListener::bind(a) {
                Ok(l) => return Ok(Self::wrap(l)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one address"))
    }

    /// Binds to `addr` with explicit options.
    pub fn bind_with(addr: SocketAddr, opts: &ListenOptions) -> io::Result<Self> {
        anet::TcpListener::bind_with(addr, opts).map(Self::wrap)
    }

    /// Adopts a std listener (switched to non-blocking mode).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        anet::TcpListener::from_std(listener).map(Self::wrap)
    }

    fn wrap(inner: anet::TcpListener) -> Self {
        Self {
            inner,
            accept_timeout: AtomicU64::new(NO_TIMEOUT),
        }
    }

    /// Accepts a connection, parking the G until one arrives (or the accept
    /// timeout passes: `WouldBlock`).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let t = get_timeout(&self.accept_timeout);
        block_on_poll("TcpListener::accept", t, |cx| self.inner.poll_accept(cx))
            .map(|(s, a)| (TcpStream::wrap(s), a))
    }

    /// Sets a deadline for each `accept` (None: wait forever).
    pub fn set_accept_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.accept_timeout, t)
    }

    /// An iterator of accepted connections.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::repeat_with(move || self.accept().map(|(s, _)| s))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A TCP connection whose calls park the G.
pub struct TcpStream {
    inner: anet::TcpStream,
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl TcpStream {
    /// Connects to `addr` (each address in turn), parking the G meanwhile.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::connect_inner(addr, None)
    }

    /// Connects with a deadline (`TimedOut` when it passes).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<Self> {
        Self::connect_inner(addr, Some(timeout))
    }

    fn connect_inner(addr: impl ToSocketAddrs, timeout: Option<Duration>) -> io::Result<Self> {
        let mut last = None;
        for a in first_addr(addr)? {
            let r = mio::net::TcpStream::connect(a)
                .and_then(anet::TcpStream::from_mio)
                .and_then(|s| {
                    block_on_poll("TcpStream::connect", timeout, |cx| s.poll_connected(cx))
                        .map_err(|e| {
                            if e.kind() == io::ErrorKind::WouldBlock {
                                io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
                            } else {
                                e
                            }
                        })?;
                    Ok(s)
                });
            match r {
                Ok(s) => return Ok(Self::wrap(s)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one address"))
    }

    /// Adopts a connected std stream (switched to non-blocking mode).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<Self> {
        anet::TcpStream::from_std(stream).map(Self::wrap)
    }

    fn wrap(inner: anet::TcpStream) -> Self {
        Self {
            inner,
            read_timeout: AtomicU64::new(NO_TIMEOUT),
            write_timeout: AtomicU64::new(NO_TIMEOUT),
        }
    }

    /// Sets the read deadline of each call (None: wait forever; zero is an
    /// error, as in std).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.read_timeout, t)
    }

    /// Sets the write deadline of each call.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.write_timeout, t)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(get_timeout(&self.read_timeout))
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(get_timeout(&self.write_timeout))
    }

    /// Reads without consuming.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let t = get_timeout(&self.read_timeout);
        block_on_poll("TcpStream::peek", t, |cx| self.inner.poll_peek(cx, buf))
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Takes the pending socket error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = get_timeout(&self.read_timeout);
        block_on_poll("TcpStream::read", t, |cx| self.inner.poll_read_buf(cx, buf))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = get_timeout(&self.write_timeout);
        block_on_poll("TcpStream::write", t, |cx| {
            self.inner.poll_write_buf(cx, buf)
        })
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let t = get_timeout(&self.write_timeout);
        block_on_poll("TcpStream::write", t, |cx| {
            self.inner.poll_write_vectored_buf(cx, bufs)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A UDP socket whose calls park the G.
pub struct UdpSocket {
    inner: anet::UdpSocket,
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        anet::UdpSocket::bind(addr).map(Self::wrap)
    }

    /// Adopts a std socket (switched to non-blocking mode).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        anet::UdpSocket::from_std(socket).map(Self::wrap)
    }

    fn wrap(inner: anet::UdpSocket) -> Self {
        Self {
            inner,
            read_timeout: AtomicU64::new(NO_TIMEOUT),
            write_timeout: AtomicU64::new(NO_TIMEOUT),
        }
    }

    /// Sets the default peer.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// Sends a datagram to `addr`.
    pub fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        let t = get_timeout(&self.write_timeout);
        block_on_poll("UdpSocket::send_to", t, |cx| {
            self.inner.poll_send_to(cx, buf, addr)
        })
    }

    /// Receives a datagram and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let t = get_timeout(&self.read_timeout);
        block_on_poll("UdpSocket::recv_from", t, |cx| {
            self.inner.poll_recv_from(cx, buf)
        })
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let t = get_timeout(&self.write_timeout);
        block_on_poll("UdpSocket::send", t, |cx| self.inner.poll_send(cx, buf))
    }

    /// Receives from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let t = get_timeout(&self.read_timeout);
        block_on_poll("UdpSocket::recv", t, |cx| self.inner.poll_recv(cx, buf))
    }

    /// Sets the receive deadline of each call.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.read_timeout, t)
    }

    /// Sets the send deadline of each call.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.write_timeout, t)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
