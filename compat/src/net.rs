//! Networking, the same in every mode: TCP, UDP and name resolution.
//!
//! Addresses are anything [`ToSocketAddrs`]: a literal (`"127.0.0.1:7000"`,
//! a `SocketAddr`, `(ip, port)`) resolves on the spot; a name
//! (`"localhost:7000"`) is resolved by `getaddrinfo` on the blocking pool, so
//! the loop never blocks on DNS. Binding and connecting try each resolved
//! address in turn and return the last error if none works.
//!
//! Every operation works through `&self`, so one task may read while
//! another writes on the same stream, with no split needed (or move the
//! halves of [`TcpStream::into_split`] to different tasks). Streams
//! implement futures-io's `AsyncRead` and `AsyncWrite` (for the stream and
//! for `&stream`), not tokio's.
//!
//! The sockets are rt-base's (`rt_base::net`, written once for both
//! engines) over compat's registration (registration.rs), which picks the
//! engine of the runtime that creates the socket; the types here add what
//! the one API adds (names resolved on the blocking pool, the N loops'
//! shared ports, [`TcpStream::into_split`]).
//!
//! A socket belongs to the runtime it was created in. In single mode it
//! works only on that runtime's thread; an mn socket works from any thread
//! while its runtime lives (its netpoller serves it). Once that runtime is
//! dropped, every operation on the socket fails at once with an error
//! saying the runtime has shut down, in both modes (a read already waiting
//! in another runtime is woken with it): it never waits for a poller that
//! is gone.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use rt_base::socket::{is_connection_error, is_resource_exhausted, ListenOptions};

use crate::config::Mode;
use crate::engine;
use crate::registration::Registration;

mod sealed {
    /// Keeps [`ToSocketAddrs`](super::ToSocketAddrs) implementable only here.
    pub trait Sealed {}
}

/// What an address argument turned into.
#[doc(hidden)]
#[derive(Debug)]
pub enum Target {
    /// Literal addresses, ready to use.
    Resolved(Vec<SocketAddr>),
    /// A `host:port` to look up.
    Name(String),
}

/// Anything that names socket addresses (sealed: implemented for the usual
/// std types and strings).
pub trait ToSocketAddrs: sealed::Sealed {
    #[doc(hidden)]
    fn to_target(&self) -> Target;
}

macro_rules! literal_addrs {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl ToSocketAddrs for $t {
            fn to_target(&self) -> Target {
                Target::Resolved(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
literal_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn to_target(&self) -> Target {
        match self.parse::<SocketAddr>() {
            Ok(a) => Target::Resolved(vec![a]),
            Err(_) => Target::Name(self.to_string()),
        }
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn to_target(&self) -> Target {
        self.as_str().to_target()
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> Target {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Target::Resolved(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Target::Name(format!("{}:{}", self.0, self.1)),
        }
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> Target {
        (self.0.as_str(), self.1).to_target()
    }
}

impl sealed::Sealed for [SocketAddr] {}
impl ToSocketAddrs for [SocketAddr] {
    fn to_target(&self) -> Target {
        Target::Resolved(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}

/// Resolves `host` (`"name:port"` or a literal) to socket addresses. Names
/// are looked up with `getaddrinfo` on the blocking pool.
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(host.to_target()).await.map(Vec::into_iter)
}

async fn resolve(target: Target) -> io::Result<Vec<SocketAddr>> {
    match target {
        Target::Resolved(v) => Ok(v),
        Target::Name(name) => crate::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&name).map(Iterator::collect)
        })
        .await
        .map_err(io::Error::from)?,
    }
}

/// Tries `f` on each address; the first success wins, else the last error.
async fn each_addr<T, F, Fut>(addr: impl ToSocketAddrs, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in resolve(addr.to_target()).await? {
        match f(a).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to use")))
}

/// A TCP listening socket.
///
/// ```
/// # extern crate compat as switchyard;
/// use switchyard::net::{TcpListener, TcpStream};
///
/// switchyard::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?; // port 0: any free port
///     let addr = listener.local_addr()?;
///     let client = switchyard::spawn(async move {
///         let stream = TcpStream::connect(addr).await?;
///         stream.write_all(b"ping").await
///     });
///
///     let (stream, peer) = listener.accept().await?;
///     assert_eq!(peer, stream.peer_addr()?);
///     let mut buf = [0u8; 4];
///     stream.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     client.await??;
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct TcpListener {
    inner: rt_base::net::TcpListener<Registration>,
}

impl TcpListener {
    /// Binds with the default [`ListenOptions`] (reuse-address on, backlog
    /// 4096); port 0 picks a free port.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, ListenOptions::default()).await
    }

    /// Binds with explicit options.
    pub async fn bind_with(
        addr: impl ToSocketAddrs,
        opts: ListenOptions,
    ) -> io::Result<TcpListener> {
        each_addr(addr, |a| async move {
            let inner = match engine::expect_mode("TcpListener::bind") {
                Mode::Single => {
                    // Several loops: every loop binds the port, and the
                    // kernel spreads the connections between them.
                    let opts = ListenOptions {
                        reuse_port: opts.reuse_port || crate::loops::reuse_port(),
                        ..opts
                    };
                    crate::loops::shared_port_bind(a, |a| {
                        let l = rt_base::net::TcpListener::bind_with(a, &opts)?;
                        let bound = l.local_addr()?;
                        Ok((l, bound))
                    })?
                }
                #[cfg(feature = "mn")]
                Mode::Mn => rt_base::net::TcpListener::bind_with(a, &opts)?,
                #[cfg(not(feature = "mn"))]
                Mode::Mn => engine::no_mn(),
            };
            Ok(TcpListener { inner })
        })
        .await
    }

    /// Adopts a std listener.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        engine::expect_mode("TcpListener::from_std");
        let inner = rt_base::net::TcpListener::from_std(listener)?;
        Ok(TcpListener { inner })
    }

    /// Accepts a connection. Errors come back as they are; when the process
    /// is out of file descriptors ([`is_resource_exhausted`]) back off and
    /// call again — the listener stays usable.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (inner, addr) = self.inner.accept().await?;
        Ok((TcpStream { inner }, addr))
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

/// A TCP connection.
///
/// Reads and writes take `&self`: one task may read while another writes,
/// through a shared reference (or the halves of
/// [`into_split`](TcpStream::into_split)).
///
/// ```
/// # extern crate compat as switchyard;
/// use std::net::Shutdown;
/// use switchyard::net::{TcpListener, TcpStream};
///
/// switchyard::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     // An upper-casing server for one connection.
///     switchyard::spawn(async move {
///         let (stream, _) = listener.accept().await?;
///         let mut buf = [0u8; 64];
///         loop {
///             let n = stream.read(&mut buf).await?;
///             if n == 0 {
///                 return stream.shutdown(Shutdown::Write).await; // end of our replies
///             }
///             stream.write_all(&buf[..n].to_ascii_uppercase()).await?;
///         }
///     });
///
///     let stream = TcpStream::connect(addr).await?;
///     stream.set_nodelay(true)?;
///     stream.write_all(b"hello").await?;
///     stream.shutdown(Shutdown::Write).await?; // the server reads end of stream
///     let mut reply = Vec::new();
///     let mut buf = [0u8; 64];
///     loop {
///         let n = stream.read(&mut buf).await?;
///         if n == 0 {
///             break;
///         }
///         reply.extend_from_slice(&buf[..n]);
///     }
///     assert_eq!(reply, b"HELLO");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct TcpStream {
    inner: rt_base::net::TcpStream<Registration>,
}

impl TcpStream {
    /// Connects to the first address that accepts.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| async move {
            engine::expect_mode("TcpStream::connect");
            let inner = rt_base::net::TcpStream::connect(a).await?;
            Ok(TcpStream { inner })
        })
        .await
    }

    /// Adopts a connected std stream.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        engine::expect_mode("TcpStream::from_std");
        let inner = rt_base::net::TcpStream::from_std(stream)?;
        Ok(TcpStream { inner })
    }

    /// Reads some bytes; `Ok(0)` at end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).await
    }

    /// Reads exactly `buf.len()` bytes, or fails with `UnexpectedEof`.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf).await
    }

    /// Writes some bytes.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).await
    }

    /// Reads without consuming.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }

    /// Shuts down reading, writing or both (`Write`: the peer reads EOF).
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown_now(how)
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

    /// Splits into halves that can move to different tasks. As in tokio,
    /// dropping the [`OwnedWriteHalf`] shuts the write direction down (the
    /// peer reads end of stream); the socket closes when both are gone.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let s = Arc::new(self);
        (
            OwnedReadHalf(s.clone()),
            OwnedWriteHalf {
                stream: s,
                shutdown_on_drop: true,
            },
        )
    }

    fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_read_buf(cx, buf)
    }

    fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored_buf(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored_buf(cx, bufs)
    }

    fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// The reading half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(Arc<TcpStream>);

/// The writing half of [`TcpStream::into_split`].
///
/// Dropping it shuts the connection's write direction down
/// (`shutdown(Write)`), as tokio's `OwnedWriteHalf` does: the peer reads end
/// of stream, so a task that writes a reply and drops its half ends the
/// exchange, while the read half can still read.
/// [`forget`](OwnedWriteHalf::forget) drops it without the shutdown.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use switchyard::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let client = TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
/// let (_read, write) = client.into_split();
/// write.write_all(b"last words").await?;
/// drop(write); // the server reads the bytes, then end of stream
/// let mut buf = [0u8; 16];
/// let n = server.read(&mut buf).await?;
/// assert_eq!(&buf[..n], b"last words");
/// assert_eq!(server.read(&mut buf).await?, 0);
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
    /// Cleared by `forget`.
    shutdown_on_drop: bool,
}

impl OwnedWriteHalf {
    /// Drops the half without shutting the write direction down: the peer
    /// sees end of stream only when the read half is dropped too (the
    /// socket then closes).
    ///
    /// ```
    /// # extern crate compat as switchyard;
    /// # switchyard::run(async {
    /// use std::time::Duration;
    /// use switchyard::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").await?;
    /// let client = TcpStream::connect(listener.local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    /// let (read, write) = client.into_split();
    /// write.forget();
    /// let mut buf = [0u8; 1];
    /// let read_soon = switchyard::time::timeout(Duration::from_millis(20), server.read(&mut buf));
    /// assert!(read_soon.await.is_err(), "no end of stream yet");
    /// drop(read); // the last half: the socket closes
    /// assert_eq!(server.read(&mut buf).await?, 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // A connection already reset or shut down reports an error
            // here (ENOTCONN): there is nothing left to end.
            let _ = self.stream.shutdown_now(Shutdown::Write);
        }
    }
}

impl std::ops::Deref for OwnedReadHalf {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.0
    }
}

impl std::ops::Deref for OwnedWriteHalf {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

macro_rules! async_read {
    ($t:ty, $s:ident => $stream:expr) => {
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let $s = self.get_mut();
                $stream.poll_read_buf(cx, buf)
            }
        }
    };
}

macro_rules! async_write {
    ($t:ty, $s:ident => $stream:expr) => {
        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $s = self.get_mut();
                $stream.poll_write_buf(cx, buf)
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $s = self.get_mut();
                $stream.poll_write_vectored_buf(cx, bufs)
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = self.get_mut();
                Poll::Ready($stream.shutdown_now(Shutdown::Write))
            }
        }
    };
}

async_read!(TcpStream, s => s);
async_read!(&TcpStream, s => *s);
async_read!(OwnedReadHalf, s => s.0);
async_write!(TcpStream, s => s);
async_write!(&TcpStream, s => *s);
async_write!(OwnedWriteHalf, s => s.stream);

/// A UDP socket.
///
/// ```
/// # extern crate compat as switchyard;
/// use switchyard::net::UdpSocket;
///
/// switchyard::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"hi", b.local_addr()?).await?;
///
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///
///     // connect: send/recv with one peer only.
///     b.connect(from).await?;
///     b.send(b"back").await?;
///     let n = a.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"back");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct UdpSocket {
    inner: rt_base::net::UdpSocket<Registration>,
}

impl UdpSocket {
    /// Binds to the first address that works (port 0 picks a free port).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| async move {
            let inner = match engine::expect_mode("UdpSocket::bind") {
                Mode::Single => crate::loops::shared_port_bind(a, |a| {
                    let s = rt_base::net::UdpSocket::bind_with(a, crate::loops::reuse_port())?;
                    let bound = s.local_addr()?;
                    Ok((s, bound))
                })?,
                #[cfg(feature = "mn")]
                Mode::Mn => rt_base::net::UdpSocket::bind(a)?,
                #[cfg(not(feature = "mn"))]
                Mode::Mn => engine::no_mn(),
            };
            Ok(UdpSocket { inner })
        })
        .await
    }

    /// Sets the default peer for `send`/`recv` (datagrams from others are
    /// filtered out).
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let me = &self.inner;
        each_addr(addr, |a| async move { me.connect(a) }).await
    }

    /// Sends a datagram to `addr`.
    pub async fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let me = &self.inner;
        each_addr(addr, |a| async move { me.send_to(buf, a).await }).await
    }

    /// Receives a datagram and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf).await
    }

    /// Sends to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send(buf).await
    }

    /// Receives from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf).await
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
