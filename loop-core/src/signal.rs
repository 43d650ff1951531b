//! Unix signals on the loop: a [`SignalPipe`] (rt-base's self-pipe, shared
//! with mn-sched) whose read end is registered with the loop like a socket,
//! so [`Signal::recv`] completes when a delivery's byte arrives.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use mio::unix::SourceFd;
use mio::Interest;

pub use rt_base::signal::SignalPipe;

use rt_base::io::Registration as _;

use crate::io::{Direction, Registration};

/// A stream of deliveries of one signal, on the loop.
#[derive(Debug)]
pub struct Signal {
    pipe: SignalPipe,
    reg: Registration,
}

impl Signal {
    /// Listens for `signo` on the current loop.
    pub fn new(signo: i32) -> io::Result<Signal> {
        let pipe = SignalPipe::new(signo)?;
        let reg = Registration::register(&mut SourceFd(&pipe.fd()), Interest::READABLE)?;
        Ok(Signal { pipe, reg })
    }

    /// Waits for the next delivery (deliveries since the last call coalesce).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.reg.poll_io(cx, Direction::Read, || self.pipe.take()) {
            Poll::Ready(Ok(_)) => Poll::Ready(Some(())),
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => crate::trace::pending(crate::trace::WaitReason::Signal),
        }
    }
}

impl Drop for Signal {
    /// On the loop thread the pipe leaves epoll here; on another thread only
    /// its I/O slot is freed (through the remote queue), and closing the
    /// pipe (the `SignalPipe`'s drop, next) takes it out of epoll.
    fn drop(&mut self) {
        self.reg.deregister(&mut SourceFd(&self.pipe.fd()));
    }
}
