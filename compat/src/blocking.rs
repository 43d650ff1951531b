//! `spawn_blocking`: a bounded pool of threads for calls that would block.
//!
//! The libuv/tokio escape hatch, the same in every mode. At most
//! `RUNTIME_BLOCKING_THREADS` threads (default 4); none exists until the first
//! job, and each exits after `RUNTIME_IDLE_THREAD_TIMEOUT` (default 10 s) with
//! nothing to do. Jobs beyond the bound wait in a FIFO queue. The result comes
//! back through a small shared slot that wakes the awaiting task with its own
//! waker, so it works under any engine.
//!
//! When the runtime is dropped the pool is told to stop: queued jobs that never
//! started are dropped (their handles report cancellation), running ones finish
//! on their own threads, which then exit; nothing waits for them.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::coop::{self, WaitReason};
use crate::error::JoinError;
use crate::hooks::ThreadHooks;

type Job = Box<dyn FnOnce() + Send>;

/// The pool's shared state.
struct State {
    queue: VecDeque<Job>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads ever started.
    started: u64,
    shutdown: bool,
}

struct PoolInner {
    state: Mutex<State>,
    cond: Condvar,
    max: usize,
    idle_timeout: Duration,
    /// Run at each pool thread's start and end (`Builder::on_thread_start`).
    hooks: ThreadHooks,
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A counts snapshot of the pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Threads alive now.
    pub threads: usize,
    /// Of those, threads waiting for work.
    pub idle: usize,
    /// Jobs waiting for a thread.
    pub queued: usize,
    /// Threads started since the runtime began.
    pub started: u64,
}

/// A bounded, lazily started, self-shrinking thread pool.
pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

impl Pool {
    pub(crate) fn new(max: usize, idle_timeout: Duration, hooks: ThreadHooks) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    started: 0,
                    shutdown: false,
                }),
                cond: Condvar::new(),
                max: max.max(1),
                idle_timeout,
                hooks,
            }),
        }
    }

    /// Queues `job`, starting a thread if none is idle and the bound allows.
    /// Fails only if no thread exists and none could be started.
    fn submit(&self, job: Job) -> io::Result<()> {
        let mut s = self.inner.lock();
        if s.shutdown {
            return Err(io::Error::other("switchyard: the runtime is shutting down"));
        }
        s.queue.push_back(job);
        if s.idle > 0 {
            drop(s);
            self.inner.cond.notify_one();
            return Ok(());
        }
        if s.threads >= self.inner.max {
            return Ok(());
        }
        s.threads += 1;
        s.started += 1;
        drop(s);
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name("switchyard-blocking".into())
            .spawn(move || worker(inner));
        if let Err(e) = spawned {
            let mut s = self.inner.lock();
            s.threads -= 1;
            s.started -= 1;
            if s.threads == 0 {
                // Nobody will ever run what is queued: hand the job back as
                // an error (the queue holds only this caller's job and any
                // earlier ones that failed the same way).
                let jobs: Vec<Job> = s.queue.drain(..).collect();
                drop(s);
                drop(jobs);
                return Err(e);
            }
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let s = self.inner.lock();
        PoolStats {
            threads: s.threads,
            idle: s.idle,
            queued: s.queue.len(),
            started: s.started,
        }
    }

    /// Runs `f` on the pool; the handle resolves to its result.
    pub(crate) fn spawn<F, R>(&self, f: F) -> BlockingHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                result: None,
                waker: None,
            }),
        });
        let mut guard = SlotGuard(Some(slot.clone()));
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic);
            if let Some(slot) = guard.0.take() {
                slot.complete(result);
            }
        });
        if let Err(e) = self.submit(job) {
            slot.complete(Err(JoinError::spawn_failed(e)));
        }
        BlockingHandle { slot }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let jobs: Vec<Job> = {
            let mut s = self.inner.lock();
            s.shutdown = true;
            s.queue.drain(..).collect()
        };
        self.inner.cond.notify_all();
        drop(jobs);
    }
}

/// A pool thread: run jobs; exit after the idle timeout or at shutdown.
fn worker(inner: Arc<PoolInner>) {
    ThreadHooks::run(&inner.hooks.start, "on_thread_start");
    worker_loop(&inner);
    ThreadHooks::run(&inner.hooks.stop, "on_thread_stop");
}

/// The body of [`worker`], between its thread hooks.
fn worker_loop(inner: &PoolInner) {
    let mut s = inner.lock();
    loop {
        if let Some(job) = s.queue.pop_front() {
            drop(s);
            job();
            s = inner.lock();
            continue;
        }
        if s.shutdown {
            break;
        }
        s.idle += 1;
        let (next, timeout) = inner
            .cond
            .wait_timeout(s, inner.idle_timeout)
            .unwrap_or_else(|e| e.into_inner());
        s = next;
        s.idle -= 1;
        if timeout.timed_out() && s.queue.is_empty() {
            break;
        }
    }
    s.threads -= 1;
}

struct SlotState<R> {
    result: Option<Result<R, JoinError>>,
    waker: Option<Waker>,
}

/// Where a job's result waits for its handle.
struct Slot<R> {
    state: Mutex<SlotState<R>>,
}

impl<R> Slot<R> {
    fn complete(&self, result: Result<R, JoinError>) {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.result = Some(result);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Completes the slot as cancelled if the job is dropped without running.
struct SlotGuard<R>(Option<Arc<Slot<R>>>);

impl<R> Drop for SlotGuard<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.complete(Err(JoinError::cancelled()));
        }
    }
}

/// Awaits a [`spawn_blocking`](crate::spawn_blocking) job's result.
pub struct BlockingHandle<R> {
    slot: Arc<Slot<R>>,
}

impl<R> Future for BlockingHandle<R> {
    type Output = Result<R, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        coop::wait(WaitReason::Blocking)
    }
}

impl<R> std::fmt::Debug for BlockingHandle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockingHandle")
    }
}
