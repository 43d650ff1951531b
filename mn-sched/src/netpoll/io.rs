//! Readiness of one registered source, shared by the poller (which sets it)
//! and the Gs and tasks that wait on it: the netpoller's side of rt-base's
//! readiness contract ([`rt_base::io`], whose `Registration::poll_io` runs
//! steps 1, 3 and 4 below over this state; netpoll/mod.rs's
//! `Registration` is the handle the sockets hold).
//!
//! mio is edge-triggered: an event is reported once. The state is one atomic
//! word `tick << 8 | bits` (the bits are rt-base's [`Ready`], translated
//! from the event by rt-base as the loop does): every event ORs its bits
//! in and bumps the tick. The protocol:
//!
//! 1. The operation loads the word `s`. If its direction's bit is clear, it
//!    registers its waker in the waiter list (under the list's lock), then
//!    loads the word again; if the bit is now set it goes on, else Pending.
//! 2. The poller stores the new word (SeqCst RMW), then takes the list's
//!    lock and wakes the direction's waiters. Step 1's registration and
//!    reload are both under/after the lock, so either the poller's lock
//!    comes after the registration (the waker is woken) or the word was
//!    stored before the reload (the operation sees it): no lost wake.
//! 3. On `WouldBlock` the operation clears its bits with a compare-exchange
//!    from the very `s` it saw before the syscall (the [`ReadyEvent`]
//!    `poll_ready` returned carries it). If an event arrived in
//!    between, the tick differs, the exchange fails, and the operation tries
//!    again instead of forgetting readiness that came after its syscall.
//! 4. A stream read or write that moved fewer bytes than asked (but some)
//!    emptied the socket's receive queue or filled its send buffer: the
//!    next call would say `WouldBlock`. So, as in step 3, the operation
//!    clears its direction's *ready* bit (never the closed or error bits)
//!    with a compare-exchange from the `s` it saw ([`ReadyEvent::drained`]): the next call then waits
//!    for the next edge instead of making that syscall. Data that arrives
//!    during or after the call raises a new edge (epoll reports every
//!    arrival on an edge-triggered socket), which bumps the tick: the
//!    exchange fails or the new event sets the bit again. Under the W6
//!    echo load this halved the server's `recvfrom` calls (two per round
//!    trip, one of them `EAGAIN`, before).
//! 5. When the runtime shuts down (runtime.rs step 3) nobody will poll for
//!    its sources again, yet a socket may outlive it (moved out of
//!    `block_on`, or into another runtime). Each source then gets the GONE
//!    bit (same store-then-lock order as step 2, so a waiter registering
//!    meanwhile sees it or is woken), and every operation on it fails with
//!    [`runtime_gone`] instead of waiting for an event that never comes.

use std::io;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

pub(crate) use rt_base::io::Direction;
use rt_base::io::{Ready, ReadyEvent};
use rt_base::state_lock::{StateGuard, StateLock};

/// The error of every operation on a source whose runtime shut down (step 5).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn runtime_gone() -> io::Error {
    io::Error::other(
        "switchyard: the mn runtime this socket was created in has shut down; \
         a socket cannot be used after its runtime is dropped",
    )
}

use crate::loom::AtomicU64;

/// The runtime shut down: no poller serves the source any more (step 5).
/// Above rt-base's readiness bits, which never use it.
const GONE: u64 = 32;
const BITS: u64 = 0xFF;

/// `dir`'s readiness mask in the word.
#[inline]
fn mask(dir: Direction) -> u64 {
    u64::from(dir.mask().bits())
}

/// Waiters of one source.
#[derive(Default)]
struct Waiters {
    read: WaitList,
    write: WaitList,
}

/// The wakers waiting for one direction. Almost always one (the task that
/// owns the socket's reading or writing half), kept inline: a `Vec` alone
/// put each waker behind a pointer into its own allocation, one more cache
/// line per event for the poller (with 1,000 connections, 10% of the
/// server's user time under the W6 echo load went to `Vec::append`).
#[derive(Default)]
struct WaitList {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl WaitList {
    /// Adds `w` unless a waker that wakes the same task is there.
    #[cfg_attr(loom, allow(dead_code))]
    fn register(&mut self, w: &Waker) {
        match &self.first {
            None => self.first = Some(w.clone()),
            Some(f) if f.will_wake(w) => {}
            Some(_) => {
                if !self.more.iter().any(|x| x.will_wake(w)) {
                    self.more.push(w.clone());
                }
            }
        }
    }

    /// Moves every waker to `out`.
    fn drain_into(&mut self, out: &mut Vec<Waker>) {
        if let Some(f) = self.first.take() {
            out.push(f);
        }
        if !self.more.is_empty() {
            out.append(&mut self.more);
        }
    }
}

/// The readiness of one source.
pub(crate) struct IoState {
    /// The generation in the source's token.
    pub(crate) generation: u32,
    /// `tick << 8 | bits`.
    word: AtomicU64,
    /// A test-and-set lock released by a plain store (rt-base's, as
    /// compat's channels): held for a few instructions, by the poller and
    /// by the one task that waits.
    waiters: StateLock<Waiters>,
}

impl IoState {
    pub(crate) fn new(generation: u32) -> Self {
        Self {
            generation,
            word: AtomicU64::new(0),
            waiters: StateLock::new(Waiters::default()),
        }
    }

    fn waiters(&self) -> StateGuard<'_, Waiters> {
        self.waiters.lock()
    }

    /// Step 2: the poller applies an event.
    pub(crate) fn on_event(&self, ev: &mio::event::Event, out: &mut Vec<Waker>) {
        self.set(u64::from(Ready::from_event(ev).bits()), out);
    }

    fn set(&self, bits: u64, out: &mut Vec<Waker>) {
        let _ = self
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some(((w >> 8).wrapping_add(1) << 8) | (w & BITS) | bits)
            });
        let mut w = self.waiters();
        if bits & mask(Direction::Read) != 0 {
            w.read.drain_into(out);
        }
        if bits & mask(Direction::Write) != 0 {
            w.write.drain_into(out);
        }
    }

    /// Wakes every waiter (the source is going away).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn wake_all(&self) {
        let mut out = Vec::new();
        self.set(
            u64::from((Ready::READABLE | Ready::WRITABLE | Ready::ERROR).bits()),
            &mut out,
        );
        out.into_iter().for_each(Waker::wake);
    }

    /// Step 5: the runtime shut down. Sets GONE and moves every waiter to
    /// `out` (the caller decides which to wake).
    pub(crate) fn mark_gone(&self, out: &mut Vec<Waker>) {
        self.set(GONE, out);
        let mut w = self.waiters();
        w.read.drain_into(out);
        w.write.drain_into(out);
    }

    /// Step 1: ready with the word seen, or Pending with the waker stored;
    /// [`runtime_gone`] once the runtime shut down (step 5). (Called by the
    /// registration, which loom builds leave out; their tests call it.)
    #[cfg_attr(loom, allow(dead_code))]
    #[inline]
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        let want = mask(dir) | GONE;
        let s = self.word.load(Ordering::SeqCst);
        if s & want != 0 {
            return Poll::Ready(ready_word(s, dir));
        }
        {
            let mut w = self.waiters();
            match dir {
                Direction::Read => w.read.register(cx.waker()),
                Direction::Write => w.write.register(cx.waker()),
            }
        }
        let s = self.word.load(Ordering::SeqCst);
        if s & want != 0 {
            Poll::Ready(ready_word(s, dir))
        } else {
            // Why the task waits, for the task dump.
            #[cfg(not(loom))]
            rt_base::trace::set_wait_reason(dir.wait_reason());
            Poll::Pending
        }
    }

    /// Steps 3 and 4: forgets `event.to_clear()` if the word is still the
    /// one `event` saw; false if an event came since (the caller tries
    /// again).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline]
    pub(crate) fn clear(&self, event: ReadyEvent) -> bool {
        let s = event.word();
        let bits = u64::from(event.to_clear().bits());
        s & bits == 0
            || self
                .word
                .compare_exchange(s, s & !bits, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }
}

/// What a ready [`IoState::poll_ready`] in `dir` returns for the word `s`.
#[cfg_attr(loom, allow(dead_code))]
#[inline]
fn ready_word(s: u64, dir: Direction) -> io::Result<ReadyEvent> {
    if s & GONE != 0 {
        Err(runtime_gone())
    } else {
        Ok(ReadyEvent::new(s, dir))
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use std::task::Wake;

    const READABLE: u64 = Ready::READABLE.bits() as u64;
    const READ_CLOSED: u64 = Ready::READ_CLOSED.bits() as u64;

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag_waker() -> (std::sync::Arc<Flag>, Waker) {
        let f = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        (f.clone(), Waker::from(f))
    }

    /// Steps 1–2: an event racing a waiter's registration. Either the
    /// waiter sees the readiness, or its waker is among those the event
    /// wakes.
    #[test]
    fn loom_readiness_no_lost_wake() {
        loom::model(|| {
            let st = Arc::new(IoState::new(1));
            let poller = loom::thread::spawn({
                let st = st.clone();
                move || {
                    let mut out = Vec::new();
                    st.set(READABLE, &mut out);
                    out.into_iter().for_each(Waker::wake);
                }
            });
            let (flag, w) = flag_waker();
            let ready = st
                .poll_ready(&mut Context::from_waker(&w), Direction::Read)
                .is_ready();
            poller.join().unwrap();
            assert!(
                ready || flag.0.load(Ordering::SeqCst),
                "readiness arrived but the waiter was neither told nor woken"
            );
        });
    }

    /// Step 4: a partial read clears readiness only if no event came since
    /// the word was seen; the closed bit always survives.
    #[test]
    fn loom_partial_read_clear_keeps_later_event_and_eof() {
        loom::model(|| {
            let st = Arc::new(IoState::new(1));
            let mut out = Vec::new();
            st.set(READABLE | READ_CLOSED, &mut out);
            let s = st.word.load(Ordering::SeqCst);
            let poller = loom::thread::spawn({
                let st = st.clone();
                move || {
                    let mut out = Vec::new();
                    st.set(READABLE, &mut out);
                }
            });
            // The read returned fewer bytes than asked.
            st.clear(ReadyEvent::new(s, Direction::Read).drained());
            poller.join().unwrap();
            let now = st.word.load(Ordering::SeqCst);
            assert!(now & READABLE != 0, "a later event was erased");
            assert!(now & READ_CLOSED != 0, "the end of stream was erased");
        });
    }

    /// Step 3: an event that arrives after the operation saw the word (and
    /// got WouldBlock) is not erased by its clear.
    #[test]
    fn loom_readiness_clear_keeps_later_event() {
        loom::model(|| {
            let st = Arc::new(IoState::new(1));
            let mut out = Vec::new();
            st.set(READABLE, &mut out);
            let s = st.word.load(Ordering::SeqCst);
            let poller = loom::thread::spawn({
                let st = st.clone();
                move || {
                    let mut out = Vec::new();
                    st.set(READABLE, &mut out);
                }
            });
            // The syscall said WouldBlock: forget what `s` showed.
            st.clear(ReadyEvent::new(s, Direction::Read));
            poller.join().unwrap();
            // The second event came after `s` was read: whichever order the
            // clear and the event took, the readiness is still there.
            let now = st.word.load(Ordering::SeqCst);
            assert!(now & READABLE != 0, "a later event was erased");
        });
    }
}
