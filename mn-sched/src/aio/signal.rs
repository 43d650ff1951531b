//! A signal's deliveries as an async stream on the mn netpoller: the
//! process-wide handler of `rt_base::signal` writes to a pipe whose read
//! end is registered here.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use mio::unix::SourceFd;
use mio::Interest;
use rt_base::signal::SignalPipe;

use rt_base::io::{Direction, Registration as _};

use crate::netpoll::Registration;

/// Deliveries of one signal. Several deliveries between two receives count
/// once.
pub struct Signal {
    pipe: SignalPipe,
    fd: RawFd,
    reg: Registration,
}

impl Signal {
    /// Starts listening for `signo` (on the runtime of the calling G or
    /// thread). Fails for signals that cannot be caught.
    pub fn new(signo: i32) -> io::Result<Signal> {
        let pipe = SignalPipe::new(signo)?;
        let fd = pipe.fd();
        let reg = Registration::register(&mut SourceFd(&fd), Interest::READABLE)?;
        Ok(Signal { pipe, fd, reg })
    }

    /// Ready with `Some(())` once the signal arrived since the last receive.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.reg.poll_io(cx, Direction::Read, || self.pipe.take()) {
            Poll::Ready(Ok(_)) => Poll::Ready(Some(())),
            // The pipe broke: no more deliveries.
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => rt_base::trace::pending(rt_base::trace::WaitReason::Signal),
        }
    }

    /// Waits for the next delivery.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.reg.deregister(&mut SourceFd(&self.fd));
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("fd", &self.fd).finish()
    }
}
