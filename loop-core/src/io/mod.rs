//! I/O readiness on the loop: the loop's side of rt-base's readiness
//! contract ([`rt_base::io`]), which the sockets of [`crate::net`] and the
//! signals of [`crate::signal`] are written over.
//!
//! Every socket registers once with the loop's `mio::Poll` (edge-triggered)
//! and gets a slot in the core's I/O slab; its mio token is the slab key plus
//! the slot's generation, never a pointer, so an event for a source closed in
//! the same batch is recognised and dropped.
//!
//! A slot keeps readiness bits ([`Ready`], translated from the event by
//! rt-base, as mn's netpoller does) and one waker per direction. An event
//! sets bits and wakes; an operation clears what the contract says (all of
//! its direction's bits on `WouldBlock`, the ready bit alone after a short
//! transfer) and waits. Because the loop is single-threaded, no event can
//! be processed between an operation's syscall and its clearing of the
//! bits, so clearing never loses readiness and the event's word is not
//! checked (the multi-threaded netpoller needs a tick for this; here
//! program order suffices).

use std::io;
use std::task::{Context, Poll, Waker};

use mio::event::Source;
use mio::Interest;
pub use rt_base::io::{Direction, Ready, ReadyEvent};

use crate::context;
use crate::remote::{self, RemoteCall};
use crate::runtime::Core;
use crate::trace::pending;

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

/// A source's registration with its loop (the loop's
/// [`rt_base::io::Registration`]): plain data, so the socket is `Send`.
/// Used on another thread, or after its runtime was dropped, every operation
/// fails with a clear error.
#[derive(Debug)]
pub struct Registration {
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

impl rt_base::io::Registration for Registration {
    /// Registers `source` with the loop running on this thread.
    fn register<S: Source + ?Sized>(source: &mut S, interest: Interest) -> io::Result<Self> {
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

    #[inline]
    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        context::with_core(self.short, |core| {
            core.io_poll_ready(self.key, self.generation, dir, cx)
        })
        .unwrap_or_else(|| Poll::Ready(Err(foreign(self.short))))
    }

    /// Clears at once: on the loop's thread no event can have come since
    /// the event was seen.
    #[inline]
    fn clear_readiness(&self, event: ReadyEvent) {
        context::with_core(self.short, |core| {
            core.io_clear(self.key, self.generation, event.to_clear())
        });
    }

    /// Removes the source from epoll and frees the slot. On another thread
    /// only the slot is freed (through the remote queue); closing the fd
    /// removes it from epoll anyway.
    fn deregister<S: Source + ?Sized>(&self, source: &mut S) {
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
    pub(crate) fn io_register<S: Source + ?Sized>(
        &self,
        source: &mut S,
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

    #[inline]
    fn io_poll_ready(
        &self,
        key: u32,
        generation: u32,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ReadyEvent>> {
        let mut io = self.io.borrow_mut();
        let Some(slot) = io
            .get_mut(key as usize)
            .filter(|s| s.generation == generation)
        else {
            return Poll::Ready(Err(io::Error::other(
                "switchyard: socket no longer registered",
            )));
        };
        if Ready::from_bits(slot.ready).intersects(dir.mask()) {
            return Poll::Ready(Ok(ReadyEvent::new(u64::from(slot.ready), dir)));
        }
        let w = match dir {
            Direction::Read => &mut slot.reader,
            Direction::Write => &mut slot.writer,
        };
        match w {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        pending(dir.wait_reason())
    }

    #[inline]
    fn io_clear(&self, key: u32, generation: u32, bits: Ready) {
        if let Some(slot) = self.io.borrow_mut().get_mut(key as usize) {
            if slot.generation == generation {
                slot.ready &= !bits.bits();
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
        let bits = Ready::from_event(event);
        slot.ready |= bits.bits();
        if bits.intersects(Direction::Read.mask()) {
            out.extend(slot.reader.take());
        }
        if bits.intersects(Direction::Write.mask()) {
            out.extend(slot.writer.take());
        }
    }
}
