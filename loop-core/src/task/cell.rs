//! The heap cell of one task: its future, then its output.
//!
//! A spawned future lives in one `Box<Cell<F>>`, pinned for its whole life,
//! erased behind the [`Task`] trait so the slab can hold tasks of every type.
//! The cell first holds the future; when the future completes (or panics, or
//! is aborted) the future is dropped in place and the cell holds the output
//! until the `JoinHandle` takes it. Only the loop thread touches a cell.
//!
//! If the `JoinHandle` is awaited from another thread, a [`JoinLink`] is
//! attached: the output is then moved into the link (behind a mutex) as soon
//! as the task completes, and the link's waker is woken.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::join::JoinError;

/// A task as the loop sees it, whatever its future's type.
pub(crate) trait Task {
    /// Polls the future once. On completion or panic stores the output, drops
    /// the future and returns `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;

    /// Drops the future if it is still there and stores `Cancelled`.
    fn cancel(self: Pin<&mut Self>);

    /// The output slot, an `Option<Result<T, JoinError>>`, for a typed
    /// `JoinHandle<T>` to downcast and take.
    fn output(self: Pin<&mut Self>) -> &mut dyn Any;

    /// The link slot, an `Option<Arc<JoinLink<T>>>`, for a foreign-thread
    /// `JoinHandle<T>` to attach itself; if the task is already complete the
    /// output is delivered to the link at once.
    fn link(self: Pin<&mut Self>) -> &mut dyn Any;

    /// Moves a completed task's output into its link, if one is attached.
    fn deliver(self: Pin<&mut Self>);

    /// Tells an attached link where the task was placed (slab key and task
    /// id); returns true if the link already asked for an abort.
    fn placed(self: Pin<&mut Self>, key: u32, id: u64) -> bool;
}

/// What a [`JoinLink`] holds.
pub(crate) struct LinkState<T> {
    /// The output, once delivered.
    pub(crate) output: Option<Result<T, JoinError>>,
    /// The waker of whoever awaits the link.
    pub(crate) waker: Option<Waker>,
    /// Where the task sits (slab key, task id), once the loop placed it.
    pub(crate) place: Option<(u32, u64)>,
    /// An abort asked for before the task was placed.
    pub(crate) abort: bool,
}

/// A completed task's output on its way to another thread.
pub(crate) struct JoinLink<T> {
    pub(crate) state: Mutex<LinkState<T>>,
}

impl<T> JoinLink<T> {
    /// A fresh, empty link.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(JoinLink {
            state: Mutex::new(LinkState {
                output: None,
                waker: None,
                place: None,
                abort: false,
            }),
        })
    }

    /// Stores the output (first one wins) and wakes the awaiting side.
    pub(crate) fn complete(&self, output: Result<T, JoinError>) {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.output.is_none() {
                s.output = Some(output);
            }
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The cell: a future, then its output.
pub(crate) struct Cell<F: Future> {
    /// `Some` while the task runs; dropped in place when it ends.
    future: Option<F>,
    /// The result, from completion until a `JoinHandle` takes it.
    output: Option<Result<F::Output, JoinError>>,
    /// Set when the task is awaited from another thread.
    link: Option<Arc<JoinLink<F::Output>>>,
}

impl<F: Future> Cell<F> {
    /// A cell for `future`, optionally already linked (remote spawns).
    pub(crate) fn new(future: F, link: Option<Arc<JoinLink<F::Output>>>) -> Self {
        Cell {
            future: Some(future),
            output: None,
            link,
        }
    }

    /// The cell's fields through the pin. Only `future` is structurally
    /// pinned: it is polled in place and only ever dropped in place.
    fn project(self: Pin<&mut Self>) -> Projection<'_, F> {
        // SAFETY: `future` is never moved out of the cell: it is polled
        // through the `Pin` made in `poll` and only ever dropped in place (by
        // assigning `None`), which the `Pin` contract allows. `output` and
        // `link` are not pinned and are handed out as plain `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        Projection {
            future: &mut this.future,
            output: &mut this.output,
            link: &mut this.link,
        }
    }
}

/// Mutable access to a pinned cell's fields (see [`Cell::project`]).
struct Projection<'a, F: Future> {
    /// Structurally pinned: never move the `F` out.
    future: &'a mut Option<F>,
    output: &'a mut Option<Result<F::Output, JoinError>>,
    link: &'a mut Option<Arc<JoinLink<F::Output>>>,
}

impl<F: Future> Projection<'_, F> {
    /// Records the output and hands it to the link if one is attached.
    fn finish(&mut self, output: Result<F::Output, JoinError>) {
        match self.link {
            Some(link) => link.complete(output),
            None => *self.output = Some(output),
        }
    }

    /// Drops the future in place; a panic in its destructor is returned.
    fn drop_future(&mut self) -> Result<(), JoinError> {
        catch_unwind(AssertUnwindSafe(|| *self.future = None)).map_err(JoinError::panic)
    }
}

impl<F> Task for Cell<F>
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut p = self.project();
        let Some(future) = p.future.as_mut() else {
            return Poll::Ready(());
        };
        // SAFETY: the future lives inside the pinned cell and is never moved
        // (see `project`), so pinning a reference to it is sound.
        let future = unsafe { Pin::new_unchecked(future) };
        let result = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(v)) => Ok(v),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        let dropped = p.drop_future();
        p.finish(result.and_then(|v| dropped.map(|()| v)));
        Poll::Ready(())
    }

    fn cancel(self: Pin<&mut Self>) {
        let mut p = self.project();
        if p.future.is_none() {
            return;
        }
        let outcome = p.drop_future().and(Err(JoinError::cancelled()));
        p.finish(outcome);
    }

    fn output(self: Pin<&mut Self>) -> &mut dyn Any {
        self.project().output
    }

    fn link(self: Pin<&mut Self>) -> &mut dyn Any {
        self.project().link
    }

    fn deliver(self: Pin<&mut Self>) {
        let p = self.project();
        if let (Some(link), Some(out)) = (p.link.as_ref(), p.output.take()) {
            link.complete(out);
        }
    }

    fn placed(self: Pin<&mut Self>, key: u32, id: u64) -> bool {
        let p = self.project();
        let Some(link) = p.link.as_ref() else {
            return false;
        };
        let mut s = link.state.lock().unwrap_or_else(|e| e.into_inner());
        s.place = Some((key, id));
        s.abort
    }
}

impl<F: Future> Drop for Cell<F> {
    /// A linked task dropped before it completed (runtime shutdown) tells its
    /// foreign-thread awaiter, instead of leaving it waiting forever.
    fn drop(&mut self) {
        if let Some(link) = self.link.take() {
            let output = self
                .output
                .take()
                .unwrap_or_else(|| Err(JoinError::cancelled()));
            link.complete(output);
        }
    }
}
