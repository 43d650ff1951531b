//! Async types over the mn runtime (issue 5): futures that any executor
//! running on an mn runtime can poll (an async task on a G, a
//! `block_on_future`, or a G polling by hand), with the same method names
//! as `loop_core`'s so compat dispatches on both engines with one `match`.
//!
//! * [`time`] — `sleep`, `sleep_until`, [`time::Sleep`] on the per-P timer
//!   wheels (timer.rs).
//! * [`net`] — `TcpListener`, `TcpStream`, `UdpSocket` on the netpoller.
//! * [`signal`] — [`signal::Signal`], a signal's deliveries as a stream.
//!
//! The futures bind to the runtime of the thread that first polls them
//! (`Handle::current()`); sockets bind to the runtime they are created in.

pub mod net;
pub mod signal;
pub mod time;
