//! A task builder: spawn one G with a name and a stack size of its own, in
//! the spirit of `std::thread::Builder` (re-exported by switchyard as
//! `switchyard::mn::task::Builder`; the crate root's `switchyard::task::
//! Builder` is the same for programs that run in both modes).
//!
//! A G's stack is fixed when it is spawned — it does not grow as a
//! goroutine's does — and an overflow aborts the process naming the task.
//! A task that needs a deep stack (a large local array, deep recursion) can
//! be given one here instead of raising `RUNTIME_STACK_SIZE` for every G:
//! its stacks come from a class of that size (stack/mod.rs, rule 5). The
//! name shows in the task dump and in the overflow message. A plain spawn
//! pays nothing for either (g/spawned.rs).

use std::fmt;
use std::future::Future;

use crate::config::{MAX_STACK_SIZE, MIN_STACK_SIZE};
use crate::g::spawned::Opts;
use crate::runtime::{Handle, SpawnError};

/// Options for one task: a name and a stack size (both optional).
///
/// ```no_run
/// # use mn_sched::{task, Runtime};
/// # let rt = Runtime::builder().build().unwrap();
/// # rt.block_on_future(async {
/// let handle = task::Builder::new()
///     .name("parser")
///     .stack_size(1 << 20)
///     .spawn(async { 42 })
///     .unwrap();
/// assert_eq!(handle.await.unwrap(), 42);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .finish()
    }
}

impl Builder {
    /// A builder with no name and the runtime's stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task: the task dump (`dump`, SIGQUIT) and a stack
    /// overflow's message show it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Gives the task a stack of `bytes` (rounded up to the page size;
    /// 16 KiB to 1 GiB, checked at spawn) instead of the runtime's
    /// `stack_size`. Only the pages it touches cost memory.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns `f` as an async task (as [`aio::task::spawn`](crate::aio::task::spawn))
    /// on the caller's runtime: from a G, or from a thread inside
    /// [`Runtime::block_on_future`](crate::Runtime::block_on_future).
    ///
    /// Errors: outside an mn runtime, a stack size out of range, or no
    /// stack to be had (with eager stacks).
    #[track_caller]
    pub fn spawn<F>(self, f: F) -> Result<crate::aio::task::JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let opts = self.opts()?;
        if let Some(m) = crate::sched::m::M::current() {
            // SAFETY: this thread's live M, used without a switch (a spawn
            // never parks).
            return crate::aio::task::spawn_on(&unsafe { m.as_ref() }.shared, f, opts);
        }
        let handle = Handle::current().ok_or(SpawnError::NoRuntime)?;
        crate::aio::task::spawn_on(handle.shared(), f, opts)
    }

    /// Spawns `f` as an async task on `handle`'s runtime, from any thread.
    #[track_caller]
    pub fn spawn_on<F>(
        self,
        f: F,
        handle: &Handle,
    ) -> Result<crate::aio::task::JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::aio::task::spawn_on(handle.shared(), f, self.opts()?)
    }

    /// Spawns `f` as a blocking-style G (as [`try_go`](crate::try_go)) on
    /// the current G's runtime.
    ///
    /// # Safety
    ///
    /// As for [`go`](crate::go): `f` must not hold a thread-local
    /// reference or a `std` lock guard across a park.
    #[track_caller]
    pub unsafe fn go<F, T>(self, f: F) -> Result<crate::JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = std::panic::Location::caller();
        let opts = self.opts()?.unwrap_or(Opts {
            site: None,
            name: None,
            stack_size: 0,
        });
        let handle = Handle::current().ok_or(SpawnError::NoRuntime)?;
        let opts = Box::new(Opts {
            site: Some(site),
            ..opts
        });
        let h = crate::sched::ready::spawn_with(handle.shared(), f, opts);
        // As in `try_go`: a G that sysmon flagged (ran > 10 ms) yields here.
        if crate::sched::sysmon::preempt_requested() {
            crate::g::run::yield_now();
        }
        h
    }

    /// The options to record (None: nothing beyond a plain spawn), or why
    /// the stack size cannot be had.
    fn opts(self) -> Result<Option<Opts>, SpawnError> {
        let stack_size = match self.stack_size {
            None => 0,
            Some(n) if (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&n) => {
                n.next_multiple_of(crate::stack::page_size())
            }
            Some(n) => return Err(SpawnError::StackSize(n)),
        };
        if self.name.is_none() && stack_size == 0 {
            return Ok(None);
        }
        Ok(Some(Opts {
            site: None,
            name: self.name.map(String::into_boxed_str),
            stack_size,
        }))
    }
}
