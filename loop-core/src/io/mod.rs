//! I/O readiness: which registered sources epoll said are ready, and who waits.
//!
//! Every socket registers once with the loop's `mio::Poll` (edge-triggered)
//! and gets a slot in the core's I/O slab; its mio token is the slab key plus
//! the slot's generation, never a pointer, so an event for a source closed in
//! the same batch is recognised and dropped.
//!
//! A slot keeps readiness bits and one waker per direction. An event sets bits
//! and wakes; an operation that meets `WouldBlock` clears every bit that lets
//! its direction through — the ready bit, and the closed and error bits too:
//! the socket has just said the operation cannot proceed, so a stored error
//! (already returned by an earlier call, as `recv` returns a UDP socket's
//! ECONNREFUSED once) must not keep the direction "ready", or the operation
//! would retry at once, forever — and waits. Because the loop is single-threaded, no event can be processed
//! between an operation's syscall and its clearing of the bits, so clearing
//! never loses readiness (the multi-threaded netpoller needs sequence numbers
//! for this; here program order suffices). For the same reason a short read or
//! write clears the ready bit (only: the peer may have closed behind the
//! bytes) without a second, `WouldBlock`, syscall: with edge-triggered epoll,
//! bytes arriving later raise a new event.

use std::io;
use std::task::{Context, Poll, Waker};

use mio::event::Source;
use mio::Interest;

use crate::remote::{self, RemoteCall};
use crate::runtime::Core;
use crate::trace::{pending, WaitReason};
use crate::{context, coop};

/// The source can be read (or accepted from).
pub(crate) const READABLE: u8 = 1;
/// The source can be written.
pub(crate) const WRITABLE: u8 = 2;
/// The peer closed its writing side: reads return 0.
pub(crate) const READ_CLOSED: u8 = 4;
/// Our writing side is closed: writes fail.
pub(crate) const WRITE_CLOSED: u8 = 8;
/// An error is pending on the socket.
pub(crate) const ERROR: u8 = 16;

/// A direction of I/O readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Reading, accepting, receiving.
    Read,
    /// Writing, connecting, sending.
    Write,
}

impl Direction {
    /// The bits that let an operation in this direction proceed.
    fn mask(self) -> u8 {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }

    /// The bit a short transfer clears.
    fn ready_bit(self) -> u8 {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }
}

/// One registered source's readiness.
#[derive(Debug)]
pub(crate) struct IoSlot {
    pub(crate) generation: u32,
    pub(crate) ready: u8,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
}

/// The token of a slot: key in the low half, generation in the high half.
pub(crate) fn token(key: usize, generation: u32) -> mio::Token {
    mio::Token(key | (generation as usize) << 32)
}

/// Splits a token back into key and generation.
pub(crate) fn untoken(t: mio::Token) -> (usize, u32) {
    (t.0 & 0xFFFF_FFFF, (t.0 >> 32) as u32)
}

/// A socket's registration with its loop: plain data, so the socket is `Send`.
/// Used on another thread, or after its runtime was dropped, every operation
/// fails with a clear error.
#[derive(Debug)]
pub(crate) struct Registration {
    short: u32,
    key: u32,
    generation: u32,
}

/// The error of an operation on a socket of runtime `short` where that
/// runtime does not run: it was dropped, or it runs on another thread.
fn foreign(short: u32) -> io::Error {
    if remote::lookup(short).is_none() {
        return io::Error::other(
            "switchyard: the runtime this socket was created in has shut down; \
             a socket cannot be used after its runtime is dropped",
        );
    }
    io::Error::other("switchyard: a socket was used outside the runtime (thread) that created it")
}

impl Registration {
    /// Registers `source` with the current runtime.
    pub(crate) fn new(source: &mut impl Source, interest: Interest) -> io::Result<Self> {
        context::with_current(|core| {
            let (key, generation) = core.io_register(source, interest)?;
            Ok(Registration {
                short: core.short,
                key,
                generation,
            })
        })
        .unwrap_or_else(|| {
            Err(io::Error::other(
                "switchyard: a socket was created outside a runtime (use it inside switchyard::run)",
            ))
        })
    }

    /// Ready when an operation in `dir` may proceed; otherwise stores the
    /// waker for that direction.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<()>> {
        context::with_core(self.short, |core| {
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            core.io_poll_ready(self.key, self.generation, dir, cx)
        })
        .unwrap_or_else(|| Poll::Ready(Err(foreign(self.short))))
    }

    /// Forgets that `dir` is ready to move bytes (after a short transfer:
    /// the closed and error bits stay).
    pub(crate) fn clear(&self, dir: Direction) {
        context::with_core(self.short, |core| {
            core.io_clear(self.key, self.generation, dir.ready_bit())
        });
    }

    /// Forgets everything that lets `dir` through (after `WouldBlock`: the
    /// socket said the operation cannot proceed, whatever bits were set).
    pub(crate) fn would_block(&self, dir: Direction) {
        context::with_core(self.short, |core| {
            core.io_clear(self.key, self.generation, dir.mask())
        });
    }

    /// Runs `op` once the source is ready in `dir`, until it stops returning
    /// `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match self.poll_ready(cx, dir) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.would_block(dir),
                r => return Poll::Ready(r),
            }
        }
    }

    /// Removes the source from epoll and frees the slot. On another thread
    /// only the slot is freed (through the remote queue); closing the fd
    /// removes it from epoll anyway.
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        let done = context::with_core(self.short, |core| {
            let _ = core.registry.deregister(source);
            core.io_free(self.key, self.generation);
        });
        if done.is_none() {
            remote::call(
                self.short,
                Box::new(FreeIo {
                    key: self.key,
                    generation: self.generation,
                }),
            );
        }
    }
}

/// Remote op: free an I/O slot whose socket was dropped on another thread.
struct FreeIo {
    key: u32,
    generation: u32,
}

impl RemoteCall for FreeIo {
    fn call(self: Box<Self>, core: &Core) {
        core.io_free(self.key, self.generation);
    }
}

impl Core {
    /// Registers a source and allocates its slot.
    pub(crate) fn io_register(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<(u32, u32)> {
        let generation = self.next_io_generation();
        let key = {
            let mut io = self.io.borrow_mut();
            io.insert(IoSlot {
                generation,
                ready: 0,
                reader: None,
                writer: None,
            })
        };
        if let Err(e) = self
            .registry
            .register(source, token(key, generation), interest)
        {
            self.io.borrow_mut().remove(key);
            return Err(e);
        }
        Ok((key as u32, generation))
    }

    fn io_poll_ready(
        &self,
        key: u32,
        generation: u32,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut io = self.io.borrow_mut();
        let Some(slot) = io
            .get_mut(key as usize)
            .filter(|s| s.generation == generation)
        else {
            return Poll::Ready(Err(io::Error::other(
                "switchyard: socket no longer registered",
            )));
        };
        if slot.ready & dir.mask() != 0 {
            return Poll::Ready(Ok(()));
        }
        let w = match dir {
            Direction::Read => &mut slot.reader,
            Direction::Write => &mut slot.writer,
        };
        match w {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        pending(match dir {
            Direction::Read => WaitReason::IoRead,
            Direction::Write => WaitReason::IoWrite,
        })
    }

    fn io_clear(&self, key: u32, generation: u32, bits: u8) {
        if let Some(slot) = self.io.borrow_mut().get_mut(key as usize) {
            if slot.generation == generation {
                slot.ready &= !bits;
            }
        }
    }

    fn io_free(&self, key: u32, generation: u32) {
        let mut io = self.io.borrow_mut();
        if io
            .get(key as usize)
            .is_some_and(|s| s.generation == generation)
        {
            let slot = io.remove(key as usize);
            drop(io);
            drop(slot);
        }
    }

    /// Applies one epoll event; pushes the wakers to wake on `out`.
    pub(crate) fn io_dispatch(&self, event: &mio::event::Event, out: &mut Vec<Waker>) {
        let (key, generation) = untoken(event.token());
        let mut io = self.io.borrow_mut();
        let Some(slot) = io.get_mut(key).filter(|s| s.generation == generation) else {
            return;
        };
        let mut bits = 0;
        if event.is_readable() {
            bits |= READABLE;
        }
        if event.is_writable() {
            bits |= WRITABLE;
        }
        if event.is_read_closed() {
            bits |= READ_CLOSED;
        }
        if event.is_write_closed() {
            bits |= WRITE_CLOSED;
        }
        if event.is_error() {
            bits |= ERROR;
        }
        slot.ready |= bits;
        if bits & Direction::Read.mask() != 0 {
            out.extend(slot.reader.take());
        }
        if bits & Direction::Write.mask() != 0 {
            out.extend(slot.writer.take());
        }
    }
}
