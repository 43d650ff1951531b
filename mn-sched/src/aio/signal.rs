//! A signal's deliveries as an async stream on the mn netpoller: the
//! process-wide handler of `rt_base::signal` writes to a pipe whose read
//! end is registered here (rt-base's [`Signal`](rt_base::signal::Signal),
//! written once for both engines, over the netpoller's registration).

/// Deliveries of one signal (on the runtime of the G or thread that made
/// it). Several deliveries between two receives count once. Fails to be
/// made for signals that cannot be caught.
pub type Signal = rt_base::signal::Signal<crate::netpoll::Registration>;
