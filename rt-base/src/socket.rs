//! Socket creation with the options a server wants, through socket2.
//!
//! Shared by both engines (each builds its sockets here): a listening
//! socket is non-blocking and close-on-exec from birth, has `SO_REUSEADDR`
//! (restarting a server does not wait for TIME_WAIT), an optional
//! `SO_REUSEPORT`, and a backlog large enough for a burst of thousands of
//! connects.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Options of a listening TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// `listen(2)` backlog (the kernel caps it at `net.core.somaxconn`).
    pub backlog: i32,
    /// `SO_REUSEADDR` (default on).
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: several sockets share the port (default off).
    pub reuse_port: bool,
    /// Only IPv6 on an IPv6 address (default: the OS default).
    pub only_v6: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 4096,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
        }
    }
}

/// A non-blocking listening socket bound to `addr`.
pub fn tcp_listen(addr: SocketAddr, opts: &ListenOptions) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    if opts.reuse_address {
        socket.set_reuse_address(true)?;
    }
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if let (Some(v6), SocketAddr::V6(_)) = (opts.only_v6, addr) {
        socket.set_only_v6(v6)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

/// A non-blocking UDP socket bound to `addr`.
pub fn udp_bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    udp_bind_with(addr, false)
}

/// A non-blocking UDP socket bound to `addr`, with `SO_REUSEPORT` if
/// `reuse_port` (several sockets share the port; the kernel spreads the
/// datagrams by their source).
pub fn udp_bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Whether an `accept` error means the process or system ran out of a
/// resource (file descriptors, buffers, memory): a server should back off
/// and retry rather than stop.
pub fn is_resource_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether an `accept` error concerns only the one connection being
/// accepted (it was reset or aborted before we got it): just accept again.
pub fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}
