//! Multi-producer, single-consumer channels: [`channel`] (bounded) and
//! [`unbounded`] (also named [`unbounded_channel`], as in tokio), both
//! returning a [`Sender`] and a [`Receiver`]. The receiver is a
//! [`FusedStream`]: it ends when every sender is gone and the buffer is
//! empty.
//!
//! For tokio users: `channel(n)` is tokio's (a buffer of `n` messages, `n`
//! at least 1, `send().await` waits while it is full); an unbounded
//! channel's halves are the same `Sender` and `Receiver` types
//! ([`UnboundedSender`] and [`UnboundedReceiver`] name them), so its
//! synchronous send — tokio's `UnboundedSender::send(v)` — is
//! [`Sender::try_send`], which never returns `Full` there.
//!
//! Cancel-safe: dropping a [`RecvFuture`] (in a `timeout` or `select!`)
//! never loses a message; dropping a [`SendFuture`] that waits for room
//! takes its message back out (it was never sent), and one dropped after
//! its message went in leaves it sent. Blocked senders are served in the
//! order they came.
//!
//! ```
//! # extern crate compat as switchyard;
//! use switchyard::sync::mpsc;
//!
//! switchyard::run(async {
//!     let (tx, mut rx) = mpsc::channel(8);
//!     for id in 0..3 {
//!         let tx = tx.clone(); // one Sender per producer
//!         switchyard::spawn(async move {
//!             tx.send(format!("hello from {id}")).await.unwrap();
//!         });
//!     }
//!     drop(tx); // recv gives None once every sender is gone
//!     let mut got = Vec::new();
//!     while let Some(msg) = rx.recv().await {
//!         got.push(msg);
//!     }
//!     got.sort();
//!     assert_eq!(got, ["hello from 0", "hello from 1", "hello from 2"]);
//! });
//! ```

mod error;

pub use error::{SendError, TryRecvError, TrySendError};

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use futures_core::{FusedStream, Stream};
use rt_base::state_lock::StateLock;

use super::blocking;
use super::waiters::{WaiterKey, Waiters, WakeList};
use crate::coop::{self, WaitReason};

/// Buffer slots a bounded channel allocates up front, at most; a larger
/// buffer grows (by doubling) up to its capacity the first time it fills.
const PREALLOCATE: usize = 64;

/// A channel holding at most `capacity` messages: a send waits while it is
/// full.
///
/// ```
/// # extern crate compat as switchyard;
/// use switchyard::sync::mpsc::{self, TrySendError};
///
/// switchyard::run(async {
///     let (tx, mut rx) = mpsc::channel(2);
///     tx.try_send(1).unwrap();
///     tx.try_send(2).unwrap();
///     assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
///     assert_eq!(rx.recv().await, Some(1)); // room again
///     tx.send(3).await.unwrap();
///     assert_eq!(rx.len(), 2);
/// });
/// ```
///
/// # Panics
/// If `capacity` is 0 (for a rendezvous use [`oneshot`](super::oneshot) or
/// [`Notify`](super::Notify)).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "switchyard: mpsc::channel capacity must be at least 1"
    );
    new_pair(capacity, VecDeque::with_capacity(capacity.min(PREALLOCATE)))
}

/// A channel without a bound: a send never waits ([`Sender::try_send`] is
/// its synchronous form and never returns `Full`). Memory grows with the
/// backlog if the receiver falls behind.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new_pair(usize::MAX, VecDeque::new())
}

/// [`unbounded`] under tokio's name, for code moving from tokio.
///
/// The halves are this module's [`Sender`] and [`Receiver`] (aliased as
/// [`UnboundedSender`] and [`UnboundedReceiver`]): tokio's synchronous
/// `tx.send(v)` is `tx.try_send(v)` here (it never returns `Full`), and
/// `tx.send(v).await` works too.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use switchyard::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
///
/// let (tx, mut rx): (UnboundedSender<u32>, UnboundedReceiver<u32>) =
///     mpsc::unbounded_channel();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap(); // never waits, never Full
/// }
/// drop(tx);
/// let mut n = 0;
/// while let Some(i) = rx.recv().await {
///     assert_eq!(i, n);
///     n += 1;
/// }
/// assert_eq!(n, 1000);
/// # });
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    unbounded()
}

/// The sending half of an [`unbounded_channel`] (tokio's name): the same
/// type as a bounded channel's [`Sender`].
pub type UnboundedSender<T> = Sender<T>;

/// The receiving half of an [`unbounded_channel`] (tokio's name): the same
/// type as a bounded channel's [`Receiver`].
pub type UnboundedReceiver<T> = Receiver<T>;

fn new_pair<T>(capacity: usize, queue: VecDeque<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        capacity,
        state: StateLock::new(State {
            queue,
            rx_waker: None,
            rx_closed: false,
            senders: 1,
            blocked: Waiters::new(),
        }),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// What senders and the receiver share.
///
/// One lock (`StateLock`, a test-and-set lock released by a plain store)
/// guards the channel's state: a ring buffer
/// (`VecDeque`, which for a bounded channel never grows past its capacity,
/// so a message costs no allocation), the receiver's waker, the sender count,
/// and a FIFO of *blocked senders*, each parked with its message.
///
/// Rules:
/// 1. A send that finds room (and, by rule 2, nobody blocked) pushes the
///    message and takes the receiver's waker, waking it after the lock.
/// 2. A send that finds the buffer full parks in the FIFO *with its message*.
///    So "someone is blocked" implies "the buffer is full", and no later
///    send can overtake a blocked one.
/// 3. A receive that pops a message refills the freed place at once from the
///    oldest blocked sender: its message moves into the buffer, its slot is
///    marked `Taken`, and it is woken only to return `Ok`. The receiver never
///    sleeps while a blocked sender holds a message for it.
/// 4. When the receiver closes (or is dropped) every blocked sender is
///    marked `Refused` with its message, to hand back in `SendError`; new
///    sends fail at once. Messages already buffered can still be received.
/// 5. When the last sender is dropped the receiver is woken; once the
///    buffer is empty it sees `None`.
///
/// Cancellation: a message is never moved into a waiting receive future —
/// it stays in the buffer until a poll returns it — so dropping a
/// [`RecvFuture`] never loses one. A [`SendFuture`] dropped while blocked
/// takes its message back out of the FIFO (it was never sent and is dropped
/// with the future); dropped after rule 3 took it, the message stays sent.
/// Either way the channel's capacity is intact.
///
/// Cost of an uncontended operation: one lock, no allocation, and no waker
/// clone when the receiver re-polls with the same waker.
struct Chan<T> {
    /// The bound; `usize::MAX` for an unbounded channel.
    capacity: usize,
    state: StateLock<State<T>>,
}

/// The channel under its lock.
struct State<T> {
    /// Buffered messages, oldest first.
    queue: VecDeque<T>,
    /// The receiver's task, while it waits for a message (rule 1 takes it).
    rx_waker: Option<Waker>,
    /// The receiver closed the channel or is gone (rule 4).
    rx_closed: bool,
    /// Live `Sender`s (rule 5).
    senders: usize,
    /// Senders waiting for room, each with its message (rule 2).
    blocked: Waiters<Blocked<T>>,
}

/// A blocked sender's slot.
enum Blocked<T> {
    /// Parked with its message.
    Waiting(T),
    /// Rule 3: the message moved into the buffer.
    Taken,
    /// Rule 4: the receiver closed; the message goes back.
    Refused(T),
}

impl<T> State<T> {
    /// Pops the oldest message and refills from a blocked sender (rule 3);
    /// the waker is the sender's, to wake after the lock.
    #[inline]
    fn pop(&mut self) -> Option<(T, Option<Waker>)> {
        let value = self.queue.pop_front()?;
        let mut waker = None;
        if let Some(key) = self.blocked.pop_front() {
            let Blocked::Waiting(next) =
                std::mem::replace(self.blocked.data_mut(key), Blocked::Taken)
            else {
                unreachable!("a linked sender still holds its message")
            };
            self.queue.push_back(next);
            waker = self.blocked.take_waker(key);
        }
        Some((value, waker))
    }

    /// Whether no message can arrive any more.
    #[inline]
    fn finished(&self) -> bool {
        self.senders == 0 || self.rx_closed
    }

    /// Rule 4: closes the channel and refuses every blocked sender.
    fn close(&mut self, wakes: &mut WakeList) {
        self.rx_closed = true;
        while let Some(key) = self.blocked.pop_front() {
            let slot = self.blocked.data_mut(key);
            if let Blocked::Waiting(v) = std::mem::replace(slot, Blocked::Taken) {
                *slot = Blocked::Refused(v);
            }
            wakes.push(self.blocked.take_waker(key));
        }
    }
}

// ------------------------------------------------------------------ Sender

/// The sending half; clone it for more producers. The channel closes for
/// the receiver when every clone is dropped.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room while a bounded channel is full.
    /// Fails, handing `value` back, if the receiver is gone or closed.
    ///
    /// Cancel-safe (see the module docs): dropping the future
    /// either leaves the message sent or takes it back out; capacity and
    /// the order of other senders are unaffected. Blocked senders are
    /// served in FIFO order.
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            chan: &self.chan,
            value: Some(value),
            key: None,
        }
    }

    /// Sends `value` if there is room now (always, for an unbounded channel).
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut st = self.chan.state.lock();
        if st.rx_closed {
            return Err(TrySendError::Closed(value));
        }
        if st.queue.len() >= self.chan.capacity {
            return Err(TrySendError::Full(value));
        }
        st.queue.push_back(value);
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Sends from a thread outside any runtime (a `std::thread`, a
    /// `spawn_blocking` job), parking it while the channel is full.
    ///
    /// # Panics
    /// Inside a runtime, where it would block every task: use `send().await`.
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        blocking::block_on("Sender::blocking_send", self.send(value))
    }

    /// Whether the receiver is gone or closed: every send would fail.
    pub fn is_closed(&self) -> bool {
        self.chan.state.lock().rx_closed
    }

    /// The bound of the channel; `None` if unbounded.
    pub fn max_capacity(&self) -> Option<usize> {
        (self.chan.capacity != usize::MAX).then_some(self.chan.capacity)
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.state.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.chan.state.lock();
            st.senders -= 1;
            if st.senders > 0 {
                return;
            }
            st.rx_waker.take()
        };
        // Rule 5: the last sender wakes the receiver to see the end.
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("max_capacity", &self.max_capacity())
            .finish_non_exhaustive()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    /// The message, until it is pushed or parked.
    value: Option<T>,
    /// Our slot among the blocked senders, while parked.
    key: Option<WaiterKey>,
}

// The message is never pinned: it only moves in and out by value.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        let mut st = this.chan.state.lock();
        if let Some(key) = this.key {
            // Parked before: still waiting, or taken / refused (rules 3, 4).
            if st.blocked.is_linked(key) {
                st.blocked.register(key, cx.waker());
                return coop::wait(WaitReason::ChanSend);
            }
            this.key = None;
            let outcome = st.blocked.remove(key);
            drop(st);
            return Poll::Ready(match outcome {
                Blocked::Taken => Ok(()),
                Blocked::Refused(v) => Err(SendError(v)),
                Blocked::Waiting(_) => unreachable!("an unlinked sender was answered"),
            });
        }
        let value = this
            .value
            .take()
            .expect("switchyard: SendFuture polled after completion");
        if st.rx_closed {
            return Poll::Ready(Err(SendError(value)));
        }
        if st.queue.len() < this.chan.capacity {
            // Rule 1.
            debug_assert!(st.blocked.is_empty(), "blocked senders imply a full buffer");
            st.queue.push_back(value);
            let waker = st.rx_waker.take();
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        // Rule 2.
        this.key = Some(st.blocked.push_back(Blocked::Waiting(value), cx.waker()));
        coop::wait(WaitReason::ChanSend)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Waiting: the message comes back out (and is dropped here,
            // after the lock). Taken: it stays sent.
            let slot = self.chan.state.lock().blocked.remove(key);
            drop(slot);
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("blocked", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------- Receiver

/// The receiving half; also a [`Stream`] of messages.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// Receives the next message; `None` once every sender is gone (or the
    /// channel was closed) and the buffer is empty.
    ///
    /// Cancel-safe: dropping the future never loses a message.
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture { rx: self }
    }

    /// Polls for the next message (for hand-written futures and streams).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        ready!(coop::poll_proceed(cx));
        let mut st = self.chan.state.lock();
        if let Some((value, waker)) = st.pop() {
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Some(value));
        }
        if st.finished() {
            return Poll::Ready(None);
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        coop::wait(WaitReason::ChanReceive)
    }

    /// Receives a message if one is buffered now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.chan.state.lock();
        match st.pop() {
            Some((value, waker)) => {
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(value)
            }
            None if st.finished() => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Receives from a thread outside any runtime, parking it meanwhile.
    ///
    /// # Panics
    /// Inside a runtime, where it would block every task: use `recv().await`.
    pub fn blocking_recv(&mut self) -> Option<T> {
        blocking::block_on("Receiver::blocking_recv", self.recv())
    }

    /// Closes the channel: sends fail from now on (blocked senders get their
    /// messages back), while messages already buffered can still be received.
    pub fn close(&mut self) {
        let mut wakes = WakeList::new();
        self.chan.state.lock().close(&mut wakes);
        wakes.wake_all();
    }

    /// Messages buffered now (blocked senders' messages not counted).
    pub fn len(&self) -> usize {
        self.chan.state.lock().queue.len()
    }

    /// Whether no message is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound of the channel; `None` if unbounded.
    pub fn max_capacity(&self) -> Option<usize> {
        (self.chan.capacity != usize::MAX).then_some(self.chan.capacity)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut wakes = WakeList::new();
        let (queue, waker) = {
            let mut st = self.chan.state.lock();
            st.close(&mut wakes);
            (std::mem::take(&mut st.queue), st.rx_waker.take())
        };
        // Buffered messages die here, after the lock: their destructors may
        // drop senders of this very channel.
        drop(queue);
        drop(waker);
        wakes.wake_all();
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The stream ends (`poll_next` gives `None`, here and at every later
/// poll) once every sender is gone or the receiver closed, and the buffer
/// is empty; so `select!`'s `select_next_some()` can take the receiver
/// without `.fuse()`.
///
/// ```
/// # extern crate compat as switchyard;
/// # switchyard::run(async {
/// use futures_core::stream::FusedStream;
///
/// let (tx, mut rx) = switchyard::sync::mpsc::channel(4);
/// tx.send(1).await.unwrap();
/// drop(tx);
/// assert!(!rx.is_terminated(), "a message is still buffered");
/// assert_eq!(rx.recv().await, Some(1));
/// assert!(rx.is_terminated());
/// # });
/// ```
impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        let st = self.chan.state.lock();
        st.finished() && st.queue.is_empty()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("max_capacity", &self.max_capacity())
            .finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    rx: &'a mut Receiver<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}
