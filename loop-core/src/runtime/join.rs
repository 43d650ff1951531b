//! The slab's side of join handles: whether a task is complete, a local
//! `JoinHandle`'s poll, detaching, aborting, and handing the output to a
//! handle awaited on another thread (`attach_link`). Each names its task
//! by slot key and task id (rule 5 of the ownership rules in `mod.rs`), so
//! a handle whose task is gone never touches the task that took its slot.
//! `task/join.rs` calls these on the loop's thread; other threads reach
//! them through the remote queue.

use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Core, State};
use crate::coop;
use crate::task::cell::JoinLink;
use crate::task::JoinError;
use crate::trace::{self, WaitReason};

impl Core {
    /// Whether the task is complete (rule 5: named by key and id).
    pub(crate) fn is_complete(&self, key: u32, id: u64) -> bool {
        let tasks = self.tasks.borrow();
        match tasks.get(key as usize) {
            Some(s) if s.id == id => s.state == State::Complete,
            _ => true,
        }
    }

    /// A `JoinHandle<T>`'s poll on the loop thread.
    pub(crate) fn poll_join<T: 'static>(
        &self,
        key: u32,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, JoinError>> {
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key as usize).filter(|s| s.id == id) else {
            return Poll::Ready(Err(JoinError::cancelled()));
        };
        if slot.state != State::Complete {
            match &slot.join_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => slot.join_waker = Some(cx.waker().clone()),
            }
            return trace::pending(WaitReason::Join);
        }
        let slot = tasks.remove(key as usize);
        drop(tasks);
        let mut task = slot.task.expect("a complete slot holds its output");
        let out = task
            .as_mut()
            .output()
            .downcast_mut::<Option<Result<T, JoinError>>>()
            .expect("JoinHandle output type matches its task")
            .take()
            .unwrap_or_else(|| Err(JoinError::cancelled()));
        drop(task);
        Poll::Ready(out)
    }

    /// A handle went away: the task runs on; a complete slot is freed.
    pub(crate) fn detach(&self, key: u32, id: u64) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key as usize).filter(|s| s.id == id) else {
            return;
        };
        slot.joined = false;
        let waker = slot.join_waker.take();
        let freed = (slot.state == State::Complete).then(|| tasks.remove(key as usize));
        drop(tasks);
        drop(waker);
        drop(freed);
    }

    /// Cancels the task with this id, if slot `key` still holds it (see
    /// `JoinHandle::abort` and rule 5).
    pub(crate) fn abort(&self, key: u32, id: u64) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key as usize).filter(|s| s.id == id) else {
            return;
        };
        match slot.state {
            State::Complete => {}
            State::Running => slot.abort = true,
            State::Idle => {
                slot.state = State::Running;
                slot.scheduled = false;
                let mut task = slot.task.take().expect("an idle slot holds its task");
                drop(tasks);
                task.as_mut().cancel();
                self.after_poll(key as usize, task, true, WaitReason::Unknown);
            }
        }
    }

    /// A handle awaited on another thread: from now on the output goes to
    /// `link` (at once if the task is already complete).
    pub(crate) fn attach_link<T: Send + 'static>(&self, key: u32, id: u64, link: Arc<JoinLink<T>>) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key as usize).filter(|s| s.id == id) else {
            drop(tasks);
            link.complete(Err(JoinError::cancelled()));
            return;
        };
        slot.joined = false;
        let waker = slot.join_waker.take();
        let complete = slot.state == State::Complete;
        let mut task = if complete {
            tasks.remove(key as usize).task
        } else {
            None
        };
        {
            let task = match task.as_mut() {
                Some(t) => t,
                None => tasks[key as usize]
                    .task
                    .as_mut()
                    .expect("remote operations run between polls: the task is in its slot"),
            };
            *task
                .as_mut()
                .link()
                .downcast_mut::<Option<Arc<JoinLink<T>>>>()
                .expect("JoinHandle output type matches its task") = Some(link);
            if complete {
                task.as_mut().deliver();
            }
        }
        drop(tasks);
        drop(waker);
        drop(task);
    }
}
