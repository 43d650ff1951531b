//! TCP and UDP, written once for both engines: [`TcpListener`],
//! [`TcpStream`] and [`UdpSocket`], generic over the poller's
//! [`Registration`](crate::io::Registration) (the contract and why it is a
//! type parameter: [`crate::io`]).
//!
//! Each engine names its own instantiation under its old path:
//!
//! | engine | its types | registration |
//! |---|---|---|
//! | loop-core | `loop_core::net::{TcpListener, TcpStream, UdpSocket}` | `loop_core::io::Registration`: a slot in the loop's I/O slab |
//! | mn-sched | `mn_sched::aio::net::{…}` | `mn_sched::aio::net::Registration`: an atomic readiness word in the netpoller |
//! | compat | inside `switchyard::net::{…}` | an enum of the two, chosen when the socket is registered |
//!
//! Sockets are created by [`crate::socket`]; a socket is registered, for
//! reading and writing (a listener: reading), with the runtime running on
//! the thread that creates it, and deregistered when it is dropped.
//! Streams read and write with plain system calls (`raw`), the same
//! `recvfrom` and `sendto` std makes, without glibc's cancellation-point
//! bracket.

mod raw;
mod tcp;
mod udp;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
