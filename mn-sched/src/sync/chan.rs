//! Channels, Go's `chan`: bounded ([`bounded`], capacity ≥ 1), rendezvous
//! ([`rendezvous`], capacity 0: a send waits for its receiver) and
//! [`unbounded`]. Multi-producer, multi-consumer; both ends clone. A
//! blocking operation parks the G (or the thread, outside a runtime), never
//! the M.
//!
//! One lock per channel guards the buffer and the two wait lists, held only
//! for the few instructions of an operation, never across a park. As in Go,
//! a value goes straight from a sender to a receiver that is already
//! waiting (no trip through the buffer), and a receiver that empties a slot
//! of a full buffer moves the first blocked sender's value in and wakes it.
//! Invariants: receivers wait only while the buffer is empty, senders only
//! while it is full.
//!
//! Closing is Rust's: when every `Sender` is gone, receivers drain the
//! buffer and then get `RecvError`; when every `Receiver` is gone, senders
//! get their value back in `SendError`.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

pub use super::select::Select;
use super::waitlist::{block_on, WaitList, Waiter, CLOSED, COMPLETED};
use crate::park::current_waker;

/// The sending end of a channel.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving end of a channel.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// A channel whose buffer holds `cap` values (0: a rendezvous channel).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            buf: VecDeque::with_capacity(cap.min(1024)),
            cap,
            recvq: WaitList::default(),
            sendq: WaitList::default(),
            senders: 1,
            receivers: 1,
        }),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A rendezvous channel: every send waits until a receiver takes the value
/// (Go's unbuffered `make(chan T)`).
pub fn rendezvous<T>() -> (Sender<T>, Receiver<T>) {
    bounded(0)
}

/// A channel whose sends never wait.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    bounded(usize::MAX)
}

/// The shared part of a channel.
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
}

/// What the channel lock guards.
pub(crate) struct State<T> {
    buf: VecDeque<T>,
    cap: usize,
    pub(crate) recvq: WaitList<T>,
    pub(crate) sendq: WaitList<T>,
    senders: usize,
    receivers: usize,
}

impl<T> Chan<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wakes `w`, if any.
pub(crate) fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl<T> State<T> {
    /// Receives without waiting; also returns a sender to wake.
    pub(crate) fn try_recv(&mut self) -> Result<(T, Option<Waker>), TryRecvError> {
        if let Some(v) = self.buf.pop_front() {
            let woken = self.sendq.pop_claimed().map(|w| {
                // SAFETY: unlinked under the channel lock; a blocked sender's
                // slot holds its value (waitlist.rs rules 2, 5).
                unsafe {
                    let sent = w
                        .as_ref()
                        .take_value()
                        .expect("a blocked sender holds a value");
                    self.buf.push_back(sent);
                    Waiter::complete(w, COMPLETED)
                }
            });
            return Ok((v, woken));
        }
        if let Some(w) = self.sendq.pop_claimed() {
            // SAFETY: as above (a rendezvous hand-over).
            let (v, waker) = unsafe { (w.as_ref().take_value(), Waiter::complete(w, COMPLETED)) };
            return Ok((v.expect("a blocked sender holds a value"), Some(waker)));
        }
        Err(if self.senders == 0 {
            TryRecvError::Disconnected
        } else {
            TryRecvError::Empty
        })
    }

    /// Sends without waiting; returns a receiver to wake.
    pub(crate) fn try_send(&mut self, v: T) -> Result<Option<Waker>, TrySendError<T>> {
        if self.receivers == 0 {
            return Err(TrySendError::Disconnected(v));
        }
        if let Some(w) = self.recvq.pop_claimed() {
            // SAFETY: unlinked under the channel lock (rules 2, 5).
            return Ok(Some(unsafe {
                Waiter::put_value(w, v);
                Waiter::complete(w, COMPLETED)
            }));
        }
        if self.buf.len() < self.cap {
            self.buf.push_back(v);
            return Ok(None);
        }
        Err(TrySendError::Full(v))
    }

    /// Whether a receive might complete now (select's re-check).
    pub(crate) fn recv_may_succeed(&self) -> bool {
        !self.buf.is_empty() || self.senders == 0 || !self.sendq.is_empty()
    }

    /// Whether a send might complete now.
    pub(crate) fn send_may_succeed(&self) -> bool {
        self.receivers == 0 || !self.recvq.is_empty() || self.buf.len() < self.cap
    }
}

impl<T> Sender<T> {
    /// Sends `v`, waiting while the buffer is full (or, on a rendezvous
    /// channel, until a receiver takes it). Fails, returning `v`, once every
    /// receiver is gone.
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        let mut st = self.chan.lock();
        let v = match st.try_send(v) {
            Ok(w) => {
                drop(st);
                wake(w);
                return Ok(());
            }
            Err(TrySendError::Disconnected(v)) => return Err(SendError(v)),
            Err(TrySendError::Full(v)) => v,
        };
        let waiter = Waiter::new(current_waker(), Some(v));
        let wp = NonNull::from(&waiter);
        // SAFETY: under the lock; `waiter` stays in this frame until it is
        // completed or removed by the Unqueue guard of `block_on`.
        unsafe { st.sendq.push_back(wp) };
        drop(st);
        crate::park::note_wait(crate::park::why::CHAN_SEND);
        // SAFETY: (in the closure) under the lock; `wp` is alive.
        let outcome = block_on(&waiter, || unsafe {
            self.chan.lock().sendq.remove(wp);
        });
        match outcome {
            COMPLETED => Ok(()),
            _ => Err(SendError(
                waiter.take_value().expect("a refused send keeps its value"),
            )),
        }
    }

    /// Sends `v` if that needs no waiting.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let w = self.chan.lock().try_send(v)?;
        wake(w);
        Ok(())
    }

    /// Number of values in the buffer now.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// Whether the buffer is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }
}

impl<T: Send> Receiver<T> {
    /// Receives a value, waiting while none is there. Fails once the buffer
    /// is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut st = self.chan.lock();
        match st.try_recv() {
            Ok((v, w)) => {
                drop(st);
                wake(w);
                return Ok(v);
            }
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => {}
        }
        let waiter = Waiter::new(current_waker(), None);
        let wp = NonNull::from(&waiter);
        // SAFETY: as in `send`.
        unsafe { st.recvq.push_back(wp) };
        drop(st);
        crate::park::note_wait(crate::park::why::CHAN_RECEIVE);
        // SAFETY: (in the closure) under the lock; `wp` is alive.
        let outcome = block_on(&waiter, || unsafe {
            self.chan.lock().recvq.remove(wp);
        });
        match outcome {
            COMPLETED => Ok(waiter
                .take_value()
                .expect("a completed receive holds a value")),
            _ => Err(RecvError),
        }
    }

    /// Receives a value if one is there.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let (v, w) = self.chan.lock().try_recv()?;
        wake(w);
        Ok(v)
    }

    /// Receives, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(Instant::now() + timeout)
    }

    /// Receives, waiting at most until `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        Select::new()
            .recv(self, |r| r.map_err(|_| RecvTimeoutError::Disconnected))
            .wait_deadline(deadline)
            .unwrap_or(Err(RecvTimeoutError::Timeout))
    }

    /// An iterator that receives until the channel is disconnected.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// Number of values in the buffer now.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// Whether the buffer is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.chan.lock();
        st.senders -= 1;
        let woken = if st.senders == 0 {
            st.recvq.drain(CLOSED)
        } else {
            Vec::new()
        };
        drop(st);
        woken.into_iter().for_each(Waker::wake);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.chan.lock();
        st.receivers -= 1;
        let (woken, buffered) = if st.receivers == 0 {
            (st.sendq.drain(CLOSED), std::mem::take(&mut st.buf))
        } else {
            (Vec::new(), VecDeque::new())
        };
        drop(st);
        drop(buffered);
        woken.into_iter().for_each(Waker::wake);
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
