//! Async TCP and UDP on the mn netpoller: rt-base's types (written once
//! for both engines, [`rt_base::net`]), with exactly the public methods of
//! the event loop's, over the netpoller's [`Registration`].
//!
//! Each socket is registered once, for read and write, when it is created
//! (with the runtime of the creating G or thread); its readiness lives in
//! the netpoller's slab (netpoll/io.rs), so the sockets are `Send + Sync`
//! and every operation works through `&self` (one task may read while
//! another writes). Once the runtime is dropped, every operation on a
//! socket that outlived it fails with an error that says so.

pub use crate::netpoll::Registration;

/// A TCP listening socket on the netpoller.
pub type TcpListener = rt_base::net::TcpListener<Registration>;
/// A TCP connection on the netpoller.
pub type TcpStream = rt_base::net::TcpStream<Registration>;
/// A UDP socket on the netpoller.
pub type UdpSocket = rt_base::net::UdpSocket<Registration>;
