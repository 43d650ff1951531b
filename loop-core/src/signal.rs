//! Unix signals on the loop: rt-base's [`Signal`](rt_base::signal::Signal)
//! (written once for both engines) over the loop's registration, so a
//! [`SignalPipe`] (rt-base's self-pipe, shared with mn-sched) has its read
//! end registered with the loop like a socket, and [`Signal::recv`]
//! completes when a delivery's byte arrives.

pub use rt_base::signal::SignalPipe;

/// A stream of deliveries of one signal, on the loop.
pub type Signal = rt_base::signal::Signal<crate::io::Registration>;
