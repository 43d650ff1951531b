//! Networking on the loop: TCP and UDP, rt-base's types (written once for
//! both engines, [`rt_base::net`]) over the loop's registration
//! ([`crate::io::Registration`]: a slot in the loop's I/O slab). Sockets
//! are created by rt-base's `socket` (shared with mn-sched), re-exported
//! here.
//!
//! A socket is registered with the loop running on the thread that
//! creates it. It is `Send`, and can be moved into spawned tasks; used on
//! another thread, or after its runtime was dropped, every operation fails
//! with an error that says so.

pub use rt_base::socket;

pub use socket::ListenOptions;

use crate::io::Registration;

/// A TCP listening socket on the loop.
pub type TcpListener = rt_base::net::TcpListener<Registration>;
/// A TCP connection on the loop.
pub type TcpStream = rt_base::net::TcpStream<Registration>;
/// A UDP socket on the loop.
pub type UdpSocket = rt_base::net::UdpSocket<Registration>;
