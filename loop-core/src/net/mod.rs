//! Networking on the loop: TCP, UDP, and socket creation shared with mn-sched.

pub mod socket;
mod tcp;
mod udp;

pub use socket::ListenOptions;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
