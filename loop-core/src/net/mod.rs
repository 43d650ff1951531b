//! Networking on the loop: TCP and UDP. Sockets are created by rt-base's
//! `socket` (shared with mn-sched), re-exported here.

pub use rt_base::socket;
mod tcp;
mod udp;

pub use socket::ListenOptions;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
