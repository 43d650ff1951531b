//! The readiness contract: what an engine's poller gives the I/O types,
//! written once for both engines (the types themselves are [`crate::net`]
//! and, for signals, [`crate::signal::Signal`]).
//!
//! Every socket is registered once, edge-triggered, with the poller of the
//! runtime that creates it. The poller turns each epoll event into
//! [`Ready`] bits ([`Ready::from_event`], the one translation both engines
//! use) and wakes the tasks waiting for the direction the bits let through.
//! An operation then follows one protocol, [`Registration::poll_io`]:
//!
//! 1. Spend one unit of the task's cooperative budget ([`crate::coop`]): a
//!    stream that is always ready still lets others run.
//! 2. [`Registration::poll_ready`]: ready with a [`ReadyEvent`] (what was
//!    seen) when the direction's bits are set, else `Pending` with the
//!    task's waker kept and why it waits recorded ([`crate::trace`]).
//! 3. Make the system call. On `WouldBlock`, the socket has just said the
//!    operation cannot proceed: [`Registration::clear_readiness`] forgets
//!    every bit that let the direction through — the ready bit, and the
//!    closed and error bits too (a stored error, already returned once, as
//!    `recv` returns a UDP socket's `ECONNREFUSED`, must not keep the
//!    direction "ready", or the operation would retry at once, forever) —
//!    unless readiness arrived since the event was seen; then back to 2.
//! 4. A stream read or write that moved some bytes but fewer than asked
//!    ([`Registration::poll_transfer`]) emptied the receive queue or filled
//!    the send buffer: the next call would say `WouldBlock`. So only the
//!    direction's ready bit is cleared ([`ReadyEvent::drained`]; the peer
//!    may have closed behind the bytes), and the next call waits for the
//!    next edge instead of making that system call. Bytes that arrive
//!    later raise a new edge.
//!
//! "Unless readiness arrived since" is each engine's business: on the loop
//! no event can be handled between an operation's system call and its
//! clearing (one thread), so program order suffices; mn's netpoller runs on
//! other threads, so its registration keeps a tick beside the bits and
//! clears with a compare-exchange from the word the event carried.
//!
//! # Why a trait, and where the engine is chosen
//!
//! The I/O types are generic over [`Registration`]: loop-core's
//! `net::TcpStream` is `rt_base::net::TcpStream<loop_core::io::Registration>`
//! and mn-sched's is the same type over its netpoller's registration. Each
//! engine's instantiation is monomorphic (its own crate needs only
//! rt-base, never the other engine), so its hot path is what it was when
//! each engine had its own copy. compat, which serves both engines behind
//! one type, instantiates the same types over a two-variant enum that picks
//! the engine when the socket is registered: every operation then costs one
//! well-predicted branch inside `poll_ready` and `clear_readiness`, and
//! nothing above the registration knows about engines.
//!
//! `Ready`, [`Direction`] and [`ReadyEvent`] are plain data and built under
//! `--cfg loom` too (mn's readiness word is model-checked with them);
//! the trait and [`PollEvented`] are not (they spend the coop budget).

use std::fmt;
use std::ops::{BitAnd, BitOr};

#[cfg(not(loom))]
use std::io;
#[cfg(not(loom))]
use std::task::{Context, Poll};

#[cfg(not(loom))]
use mio::event::Source;
#[cfg(not(loom))]
use mio::Interest;

/// Readiness bits of one registered source, as its poller saw them.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Ready(u8);

impl Ready {
    /// Nothing is ready.
    pub const EMPTY: Ready = Ready(0);
    /// The source can be read (or accepted from).
    pub const READABLE: Ready = Ready(1);
    /// The source can be written (or a connect has finished).
    pub const WRITABLE: Ready = Ready(2);
    /// The peer closed its writing side: reads return 0.
    pub const READ_CLOSED: Ready = Ready(4);
    /// Our writing side is closed: writes fail.
    pub const WRITE_CLOSED: Ready = Ready(8);
    /// An error is pending on the socket.
    pub const ERROR: Ready = Ready(16);
    /// Every bit above: an engine may keep its own flags in the bits above
    /// these (mn marks a source whose runtime shut down there).
    pub const ALL: Ready = Ready(31);

    /// The bits, in the low five bits of a byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The readiness named by `bits` (bits outside [`ALL`](Self::ALL) are
    /// dropped).
    #[inline]
    pub const fn from_bits(bits: u8) -> Ready {
        Ready(bits & Self::ALL.0)
    }

    /// Whether any bit of `other` is set here.
    #[inline]
    pub const fn intersects(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The one translation of an epoll event (through mio) into readiness,
    /// shared by the loop's and mn's pollers.
    #[inline]
    pub fn from_event(event: &mio::event::Event) -> Ready {
        let mut bits = 0;
        if event.is_readable() {
            bits |= Self::READABLE.0;
        }
        if event.is_writable() {
            bits |= Self::WRITABLE.0;
        }
        if event.is_read_closed() {
            bits |= Self::READ_CLOSED.0;
        }
        if event.is_write_closed() {
            bits |= Self::WRITE_CLOSED.0;
        }
        if event.is_error() {
            bits |= Self::ERROR.0;
        }
        Ready(bits)
    }
}

impl BitOr for Ready {
    type Output = Ready;
    #[inline]
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl BitAnd for Ready {
    type Output = Ready;
    #[inline]
    fn bitand(self, rhs: Ready) -> Ready {
        Ready(self.0 & rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Ready, &str); 5] = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        let mut set = f.debug_set();
        for (bit, name) in NAMES {
            if self.intersects(bit) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// A direction of I/O readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Reading, accepting, receiving.
    Read,
    /// Writing, connecting, sending.
    Write,
}

impl Direction {
    /// The bits that let an operation in this direction proceed: its ready
    /// bit, its closed bit (the operation then returns at once: 0 or an
    /// error) and the error bit.
    #[inline]
    pub const fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready(Ready::READABLE.0 | Ready::READ_CLOSED.0 | Ready::ERROR.0),
            Direction::Write => Ready(Ready::WRITABLE.0 | Ready::WRITE_CLOSED.0 | Ready::ERROR.0),
        }
    }

    /// The bit a short transfer clears (step 4 of the module doc).
    #[inline]
    pub const fn ready_bit(self) -> Ready {
        match self {
            Direction::Read => Ready::READABLE,
            Direction::Write => Ready::WRITABLE,
        }
    }

    /// What the task dump says of a task waiting in this direction.
    #[cfg(not(loom))]
    #[inline]
    pub fn wait_reason(self) -> crate::trace::WaitReason {
        match self {
            Direction::Read => crate::trace::WaitReason::IoRead,
            Direction::Write => crate::trace::WaitReason::IoWrite,
        }
    }
}

/// What [`Registration::poll_ready`] saw: the registration's state word at
/// that moment (its meaning is the engine's: mn's tick and bits, the
/// loop's bits), and the readiness a later
/// [`clear_readiness`](Registration::clear_readiness) of this event
/// forgets.
///
/// One `u64`, so that `Poll<io::Result<ReadyEvent>>` comes back in two
/// registers through the non-inlined layers of a poll (compat's engine
/// choice holds both engines' code, too much to inline): the word's bits 6
/// and 7, which no engine's state uses (the readiness bits are 0–4, mn's
/// "runtime gone" flag is bit 5), carry the direction and whether the
/// event was [`drained`](Self::drained).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyEvent(u64);

/// The bits of a [`ReadyEvent`] that are not the state word's.
const EVENT_BITS: u64 = 0xC0;
/// Set in a [`ReadyEvent`] of [`Direction::Write`].
const EVENT_WRITE: u64 = 0x40;
/// Set in a [`drained`](ReadyEvent::drained) [`ReadyEvent`].
const EVENT_DRAINED: u64 = 0x80;

impl ReadyEvent {
    /// The event of an operation in `dir` that saw the state `word` (whose
    /// bits 6 and 7 are the event's own and must be clear); its clearing
    /// forgets all of `dir`'s [`mask`](Direction::mask) (the operation said
    /// `WouldBlock`: step 3 of the module doc).
    #[inline]
    pub const fn new(word: u64, dir: Direction) -> ReadyEvent {
        debug_assert!(word & EVENT_BITS == 0, "bits 6 and 7 are the event's");
        ReadyEvent(match dir {
            Direction::Read => word,
            Direction::Write => word | EVENT_WRITE,
        })
    }

    /// The state word seen.
    #[inline]
    pub const fn word(self) -> u64 {
        self.0 & !EVENT_BITS
    }

    /// The direction of the operation that saw it.
    #[inline]
    pub const fn direction(self) -> Direction {
        if self.0 & EVENT_WRITE != 0 {
            Direction::Write
        } else {
            Direction::Read
        }
    }

    /// The bits its clearing forgets.
    #[inline]
    pub const fn to_clear(self) -> Ready {
        if self.0 & EVENT_DRAINED != 0 {
            self.direction().ready_bit()
        } else {
            self.direction().mask()
        }
    }

    /// The same event, whose clearing forgets only the direction's ready
    /// bit, never a closed or error bit: a short transfer drained the
    /// socket (step 4 of the module doc).
    #[inline]
    pub const fn drained(self) -> ReadyEvent {
        ReadyEvent(self.0 | EVENT_DRAINED)
    }
}

/// A source's registration with an engine's poller: the contract each
/// engine meets once (loop-core's reactor slot, mn-sched's netpoller
/// state), and the only place the I/O types meet an engine.
///
/// Implementations are plain handles (`Send + Sync` in both engines): the
/// readiness lives in the poller, so a socket may move between tasks.
#[cfg(not(loom))]
pub trait Registration: Sized {
    /// Registers `source` (a mio socket, or a raw fd through
    /// `mio::unix::SourceFd`) for `interest`, edge-triggered, with the
    /// runtime running on the calling thread; an error outside one.
    fn register<S: Source + ?Sized>(source: &mut S, interest: Interest) -> io::Result<Self>;

    /// Ready with what was seen once an operation in `dir` may proceed;
    /// otherwise `Pending`, with `cx`'s waker kept for that direction and
    /// the wait's reason recorded. An error when the source's runtime is
    /// gone, or runs where the source cannot be served (a loop socket on
    /// another thread). Spends no budget: [`poll_io`](Self::poll_io) does.
    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>>;

    /// Forgets [`event.to_clear()`](ReadyEvent::to_clear), unless readiness
    /// arrived after `event` was seen (then the next `poll_ready` is ready
    /// again, and the operation retries).
    fn clear_readiness(&self, event: ReadyEvent);

    /// Removes `source` from the poller and frees the registration's
    /// state; called once, by the owner's drop, before the source closes.
    fn deregister<S: Source + ?Sized>(&self, source: &mut S);

    /// Runs `op` once the source is ready in `dir`, until it stops
    /// returning `WouldBlock` (steps 1–3 of the module doc).
    #[inline]
    fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        if crate::coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        loop {
            let event = match self.poll_ready(cx, dir) {
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                r => return Poll::Ready(r),
            }
        }
    }

    /// [`poll_io`](Self::poll_io) for a stream transfer of `len` bytes,
    /// with step 4: a transfer that moved some but not all of them clears
    /// the direction's ready bit.
    #[inline]
    fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if crate::coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        loop {
            let event = match self.poll_ready(cx, dir) {
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match op() {
                Ok(n) => {
                    if n > 0 && n < len {
                        self.clear_readiness(event.drained());
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// A mio source and its registration: registered when made, deregistered
/// when dropped (before the source closes). What the I/O types of
/// [`crate::net`] and [`crate::signal::Signal`] hold.
#[cfg(not(loom))]
pub struct PollEvented<S: Source, R: Registration> {
    io: S,
    reg: R,
}

#[cfg(not(loom))]
impl<S: Source, R: Registration> PollEvented<S, R> {
    /// Registers `io` for `interest` with the runtime running on the
    /// calling thread.
    pub fn new(mut io: S, interest: Interest) -> io::Result<Self> {
        let reg = R::register(&mut io, interest)?;
        Ok(PollEvented { io, reg })
    }

    /// The source.
    #[inline]
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The registration.
    #[inline]
    pub fn registration(&self) -> &R {
        &self.reg
    }

    /// [`Registration::poll_io`] on this source.
    #[inline]
    pub fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut(&S) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let mut op = op;
        self.reg.poll_io(cx, dir, || op(&self.io))
    }
}

#[cfg(not(loom))]
impl<S: Source, R: Registration> Drop for PollEvented<S, R> {
    fn drop(&mut self) {
        self.reg.deregister(&mut self.io);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direction_lets_through_its_ready_closed_and_error_bits_only() {
        let read = Direction::Read.mask();
        assert_eq!(read, Ready::READABLE | Ready::READ_CLOSED | Ready::ERROR);
        let write = Direction::Write.mask();
        assert_eq!(write, Ready::WRITABLE | Ready::WRITE_CLOSED | Ready::ERROR);
        assert!(!read.intersects(Ready::WRITABLE | Ready::WRITE_CLOSED));
        assert!(!write.intersects(Ready::READABLE | Ready::READ_CLOSED));
        assert_eq!(Direction::Read.ready_bit(), Ready::READABLE);
        assert_eq!(Direction::Write.ready_bit(), Ready::WRITABLE);
    }

    #[test]
    fn would_block_clears_the_whole_mask_a_short_transfer_the_ready_bit() {
        for dir in [Direction::Read, Direction::Write] {
            // A word with a tick above the bits, as mn's.
            let word = (12345 << 8) | 0x3F;
            let event = ReadyEvent::new(word, dir);
            assert_eq!(event.word(), word);
            assert_eq!(event.direction(), dir);
            assert_eq!(event.to_clear(), dir.mask());
            let drained = event.drained();
            assert_eq!(drained.word(), word, "the same snapshot");
            assert_eq!(drained.direction(), dir);
            assert_eq!(drained.to_clear(), dir.ready_bit());
        }
    }

    #[test]
    fn bits_round_trip_and_foreign_bits_are_dropped() {
        let all = Ready::READABLE
            | Ready::WRITABLE
            | Ready::READ_CLOSED
            | Ready::WRITE_CLOSED
            | Ready::ERROR;
        assert_eq!(all, Ready::ALL);
        assert_eq!(Ready::from_bits(all.bits()), all);
        // mn keeps its GONE flag in bit 5 of its word: never read as readiness.
        assert_eq!(Ready::from_bits(32 | 1), Ready::READABLE);
        assert!(Ready::EMPTY.is_empty());
        assert_eq!(
            format!("{:?}", Ready::READABLE | Ready::ERROR),
            "{READABLE, ERROR}"
        );
    }

    #[cfg(not(loom))]
    mod protocol {
        //! `poll_io` and `poll_transfer` against a registration that
        //! records what it is asked.

        use super::super::*;
        use std::cell::{Cell, RefCell};
        use std::task::Waker;

        /// Ready while `ready` holds bits of the direction; the clears it
        /// was asked for, in order. Its word is `ready` itself (bit 8
        /// stands for a tick): a clear is refused once the word moved on.
        #[derive(Default)]
        struct Fake {
            ready: Cell<u64>,
            cleared: RefCell<Vec<Ready>>,
        }

        impl Registration for Fake {
            fn register<S: Source + ?Sized>(_: &mut S, _: Interest) -> io::Result<Self> {
                Ok(Fake::default())
            }

            fn poll_ready(
                &self,
                _: &mut Context<'_>,
                dir: Direction,
            ) -> Poll<io::Result<ReadyEvent>> {
                if Ready::from_bits(self.ready.get() as u8).intersects(dir.mask()) {
                    Poll::Ready(Ok(ReadyEvent::new(self.ready.get(), dir)))
                } else {
                    Poll::Pending
                }
            }

            fn clear_readiness(&self, event: ReadyEvent) {
                self.cleared.borrow_mut().push(event.to_clear());
                if event.word() == self.ready.get() {
                    self.ready
                        .set(self.ready.get() & !u64::from(event.to_clear().bits()));
                }
            }

            fn deregister<S: Source + ?Sized>(&self, _: &mut S) {}
        }

        fn would_block<T>() -> io::Result<T> {
            Err(io::ErrorKind::WouldBlock.into())
        }

        #[test]
        fn would_block_forgets_the_direction_closed_and_error_bits_included_then_waits() {
            let mut cx = Context::from_waker(Waker::noop());
            let reg = Fake::default();
            // A stored error, already returned: the next call says WouldBlock.
            reg.ready.set(
                (Ready::READABLE | Ready::ERROR | Ready::WRITABLE)
                    .bits()
                    .into(),
            );
            let mut calls = 0;
            let r = reg.poll_io(&mut cx, Direction::Read, || {
                calls += 1;
                would_block::<()>()
            });
            assert!(r.is_pending(), "no spin on a stale error bit");
            assert_eq!(calls, 1);
            assert_eq!(*reg.cleared.borrow(), [Direction::Read.mask()]);
            assert_eq!(reg.ready.get(), Ready::WRITABLE.bits().into());
        }

        #[test]
        fn a_short_transfer_clears_the_ready_bit_only_a_full_one_nothing() {
            let mut cx = Context::from_waker(Waker::noop());
            let reg = Fake::default();
            reg.ready
                .set((Ready::READABLE | Ready::READ_CLOSED).bits().into());
            let r = reg.poll_transfer(&mut cx, Direction::Read, 64, || Ok(64));
            assert!(matches!(r, Poll::Ready(Ok(64))));
            assert!(
                reg.cleared.borrow().is_empty(),
                "a full read drained nothing"
            );
            let r = reg.poll_transfer(&mut cx, Direction::Read, 64, || Ok(10));
            assert!(matches!(r, Poll::Ready(Ok(10))));
            assert_eq!(*reg.cleared.borrow(), [Ready::READABLE]);
            // The end of stream stays: the next read gets its 0 at once.
            let r = reg.poll_transfer(&mut cx, Direction::Read, 64, || Ok(0));
            assert!(matches!(r, Poll::Ready(Ok(0))));
            assert_eq!(reg.cleared.borrow().len(), 1, "a read of 0 clears nothing");
        }

        #[test]
        fn each_operation_spends_one_unit_of_budget_however_often_it_retries() {
            let mut cx = Context::from_waker(Waker::noop());
            let reg = Fake::default();
            crate::coop::reset();
            for _ in 0..crate::coop::BUDGET - 1 {
                reg.ready.set(Ready::WRITABLE.bits().into());
                let mut first = true;
                // WouldBlock, but an event came meanwhile (the word moved
                // on): the clear is refused and the operation retries.
                let r = reg.poll_transfer(&mut cx, Direction::Write, 8, || {
                    if std::mem::take(&mut first) {
                        reg.ready.set(u64::from(Ready::WRITABLE.bits()) | 1 << 8);
                        would_block()
                    } else {
                        Ok(8)
                    }
                });
                assert!(matches!(r, Poll::Ready(Ok(8))));
                assert_eq!(reg.cleared.borrow_mut().len(), 1);
                reg.cleared.borrow_mut().clear();
            }
            reg.ready.set(Ready::WRITABLE.bits().into());
            assert!(reg.poll_io(&mut cx, Direction::Write, || Ok(())).is_ready());
            // The budget is spent: the next operation yields before its call.
            let r = reg.poll_io(&mut cx, Direction::Write, || -> io::Result<()> {
                panic!("called with the budget spent")
            });
            assert!(r.is_pending());
            crate::coop::unconstrain();
        }
    }

    #[cfg(not(loom))]
    mod events {
        //! The translation, on real epoll events of real sockets on
        //! 127.0.0.1.

        use super::super::*;
        use std::io::{Read, Write};
        use std::net::Shutdown;
        use std::time::Duration;

        use mio::net::{TcpListener, TcpStream, UdpSocket};
        use mio::{Events, Poll, Token};

        /// Waits (at most 5 s) for events of `token` and returns their
        /// readiness, ORed.
        fn ready_of(poll: &mut Poll, token: Token) -> Ready {
            let mut events = Events::with_capacity(16);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let mut seen = Ready::EMPTY;
            while std::time::Instant::now() < deadline {
                poll.poll(&mut events, Some(Duration::from_millis(50)))
                    .unwrap();
                for ev in events.iter().filter(|e| e.token() == token) {
                    seen = seen | Ready::from_event(ev);
                }
                if !seen.is_empty() {
                    return seen;
                }
            }
            seen
        }

        /// A connected pair: (client registered with `poll`, server side).
        fn pair(poll: &Poll, interest: Interest) -> (TcpStream, std::net::TcpStream) {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            c.set_nonblocking(true).unwrap();
            let mut c = TcpStream::from_std(c);
            poll.registry()
                .register(&mut c, Token(1), interest)
                .unwrap();
            (c, s)
        }

        #[test]
        fn a_connected_stream_is_writable_and_bytes_make_it_readable() {
            let mut poll = Poll::new().unwrap();
            let (mut c, mut s) = pair(&poll, Interest::READABLE | Interest::WRITABLE);
            let first = ready_of(&mut poll, Token(1));
            assert!(first.intersects(Ready::WRITABLE), "{first:?}");
            assert!(
                !first.intersects(Ready::READABLE | Ready::ERROR),
                "{first:?}"
            );
            s.write_all(b"hi").unwrap();
            let next = ready_of(&mut poll, Token(1));
            assert!(next.intersects(Ready::READABLE), "{next:?}");
            assert!(!next.intersects(Ready::READ_CLOSED), "{next:?}");
            let mut buf = [0u8; 8];
            assert_eq!(c.read(&mut buf).unwrap(), 2);
        }

        #[test]
        fn the_peer_shutting_its_write_side_is_read_closed() {
            let mut poll = Poll::new().unwrap();
            let (_c, s) = pair(&poll, Interest::READABLE);
            s.shutdown(Shutdown::Write).unwrap();
            let got = ready_of(&mut poll, Token(1));
            assert!(got.intersects(Ready::READ_CLOSED), "{got:?}");
            assert!(Direction::Read.mask().intersects(got));
            assert!(
                !got.intersects(Ready::WRITE_CLOSED | Ready::ERROR),
                "{got:?}"
            );
        }

        #[test]
        fn a_reset_connection_is_an_error_and_closed_both_ways() {
            let mut poll = Poll::new().unwrap();
            let (_c, s) = pair(&poll, Interest::READABLE | Interest::WRITABLE);
            // Drain the first (writable) edge, then reset: SO_LINGER 0
            // makes the close send RST.
            let _ = ready_of(&mut poll, Token(1));
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
            let got = ready_of(&mut poll, Token(1));
            assert!(got.intersects(Ready::ERROR), "{got:?}");
            assert!(got.intersects(Ready::READ_CLOSED), "{got:?}");
            assert!(got.intersects(Ready::WRITE_CLOSED), "{got:?}");
        }

        #[test]
        fn a_connection_arriving_makes_a_listener_readable() {
            let mut poll = Poll::new().unwrap();
            let mut l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            poll.registry()
                .register(&mut l, Token(2), Interest::READABLE)
                .unwrap();
            let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let got = ready_of(&mut poll, Token(2));
            assert_eq!(got, Ready::READABLE);
        }

        #[test]
        fn a_refused_datagram_is_an_error_on_the_socket() {
            let mut poll = Poll::new().unwrap();
            // A port nobody listens on: bind one, note it, close it.
            let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let gone_addr = gone.local_addr().unwrap();
            drop(gone);
            let mut u = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            u.connect(gone_addr).unwrap();
            poll.registry()
                .register(&mut u, Token(3), Interest::READABLE)
                .unwrap();
            u.send(b"x").unwrap();
            let got = ready_of(&mut poll, Token(3));
            // The ICMP port unreachable comes back as a pending error.
            assert!(got.intersects(Ready::ERROR), "{got:?}");
            let e = u.take_error().unwrap().expect("ECONNREFUSED pending");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        }
    }
}
