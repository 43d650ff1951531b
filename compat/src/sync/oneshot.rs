//! A channel for exactly one value: [`channel`] returns a [`Sender`] whose
//! `send` consumes it and a [`Receiver`] that is itself the future of the
//! value.
//!
//! Cancel-safe: the value stays in the channel until a poll returns it, so
//! awaiting `&mut receiver` inside a `timeout` and giving up loses nothing;
//! await it again later.
//!
//! ```
//! # extern crate compat as switchyard;
//! use switchyard::sync::oneshot;
//!
//! switchyard::run(async {
//!     // A request carrying the channel its reply goes back on.
//!     let (reply_tx, reply_rx) = oneshot::channel();
//!     switchyard::spawn(async move {
//!         let _ = reply_tx.send(2 + 2); // Err(value) if nobody waits any more
//!     });
//!     assert_eq!(reply_rx.await, Ok(4));
//!
//!     // A sender dropped without sending: the receiver gets an error.
//!     let (tx, rx) = oneshot::channel::<u32>();
//!     drop(tx);
//!     assert!(rx.await.is_err());
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{ready, Context, Poll, Waker};

use super::{blocking, lock};
use crate::coop::{self, WaitReason};

/// A new one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(StdMutex::new(State {
        value: None,
        tx_done: false,
        rx_closed: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner },
    )
}

/// Both halves' shared state.
///
/// One `std::sync::Mutex` guards the slot, both sides' wakers and two flags.
///
/// Rules:
/// 1. `send` stores the value, unless the receiver is gone or closed (then
///    the value comes back), and wakes the receiver.
/// 2. The sender's drop (without a send) marks the channel finished and
///    wakes the receiver, which then sees [`RecvError`].
/// 3. The receiver's `close` or drop marks it closed and wakes a task in
///    [`Sender::closed`]; a value sent before `close` can still be taken with
///    [`Receiver::try_recv`], and is dropped (after the lock) with the
///    receiver.
struct State<T> {
    /// The value, between `send` and the receive.
    value: Option<T>,
    /// The sender sent or was dropped (rules 1, 2).
    tx_done: bool,
    /// The receiver closed or was dropped (rule 3).
    rx_closed: bool,
    /// The receiver's task, while it waits.
    rx_waker: Option<Waker>,
    /// The task in `Sender::closed`, while it waits.
    tx_waker: Option<Waker>,
}

/// Stores `waker` in `slot` unless the stored one wakes the same task.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// The receiver is gone or the sender was dropped without sending.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError(());

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Not sent yet.
    Empty,
    /// It will never come: the sender was dropped, or the value was already
    /// taken.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("oneshot value not sent yet"),
            TryRecvError::Closed => f.write_str("oneshot sender dropped without sending"),
        }
    }
}

impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}

// ------------------------------------------------------------------ Sender

/// The sending half: sends one value, or is dropped.
pub struct Sender<T> {
    /// `None` once `send` consumed the sender (so `Drop` does nothing).
    inner: Option<Arc<StdMutex<State<T>>>>,
}

impl<T> Sender<T> {
    /// Sends `value`; if the receiver is gone or closed, hands it back.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("a live sender holds its channel");
        let mut st = lock(&inner);
        st.tx_done = true;
        if st.rx_closed {
            return Err(value);
        }
        st.value = Some(value);
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone or closed: a send would fail.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| lock(i).rx_closed)
    }

    /// Waits until the receiver is gone or closed — to stop computing a
    /// value nobody wants.
    pub fn closed(&mut self) -> ClosedFuture<'_, T> {
        ClosedFuture { tx: self }
    }

    /// Polls for the receiver's closing (see [`closed`](Self::closed)).
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        ready!(coop::poll_proceed(cx));
        let inner = self
            .inner
            .as_ref()
            .expect("a live sender holds its channel");
        let mut st = lock(inner);
        if st.rx_closed {
            return Poll::Ready(());
        }
        register(&mut st.tx_waker, cx.waker());
        coop::wait(WaitReason::ChanSend)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // Rule 2.
        let (waker, tx_waker) = {
            let mut st = lock(&inner);
            st.tx_done = true;
            (st.rx_waker.take(), st.tx_waker.take())
        };
        drop(tx_waker);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

/// The future of [`Sender::closed`].
#[must_use = "futures do nothing unless awaited"]
pub struct ClosedFuture<'a, T> {
    tx: &'a mut Sender<T>,
}

impl<T> Future for ClosedFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().tx.poll_closed(cx)
    }
}

impl<T> fmt::Debug for ClosedFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosedFuture").finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------- Receiver

/// The receiving half; await it (or `&mut` it) for the value.
pub struct Receiver<T> {
    inner: Arc<StdMutex<State<T>>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = lock(&self.inner);
        match st.value.take() {
            Some(v) => Ok(v),
            None if st.tx_done => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Waits for the value from a thread outside any runtime.
    ///
    /// # Panics
    /// Inside a runtime, where it would block every task: use `.await`.
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        blocking::block_on("oneshot::Receiver::blocking_recv", self)
    }

    /// Refuses the value from now on (a later `send` fails, and a task in
    /// [`Sender::closed`] wakes); one already sent can still be
    /// taken with [`try_recv`](Self::try_recv).
    pub fn close(&mut self) {
        let waker = {
            let mut st = lock(&self.inner);
            st.rx_closed = true;
            st.tx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        ready!(coop::poll_proceed(cx));
        let mut st = lock(&self.inner);
        if let Some(v) = st.value.take() {
            return Poll::Ready(Ok(v));
        }
        if st.tx_done || st.rx_closed {
            return Poll::Ready(Err(RecvError(())));
        }
        register(&mut st.rx_waker, cx.waker());
        coop::wait(WaitReason::ChanReceive)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (value, waker) = {
            let mut st = lock(&self.inner);
            st.rx_closed = true;
            (st.value.take(), st.tx_waker.take())
        };
        drop(value);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
