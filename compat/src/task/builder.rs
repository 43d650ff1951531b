//! `switchyard::task::Builder`: spawn one task with a name and, in mn mode,
//! a stack size of its own. A child of `task.rs` (it builds that module's
//! `JoinHandle` and reads its `Handle`), kept in its own file.

use std::future::Future;
use std::io;

use super::{EngineHandle, Handle, JoinHandle};
use crate::engine;
use crate::Mode;

/// Options for one task: a name and, in mn mode, a stack size. Unset
/// options take the runtime's. Like `std::thread::Builder` and
/// `tokio::task::Builder`.
///
/// ```
/// # extern crate compat as switchyard;
/// switchyard::run(async {
///     // A task with a large local array: its own 1 MiB stack in mn mode,
///     // where the default stack is 256 KiB (`RUNTIME_STACK_SIZE`).
///     let handle = switchyard::task::Builder::new()
///         .name("parser")
///         .stack_size(1 << 20)
///         .spawn(async {
///             let table = [1u8; 300 * 1024];
///             table.iter().map(|&b| b as usize).sum::<usize>()
///         })
///         .expect("spawn");
///     assert_eq!(handle.await.unwrap(), 300 * 1024);
/// });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task. mn: the task dump (`switchyard::dump`, SIGQUIT) and
    /// a stack overflow's message show it. Single mode records no names.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// mn: gives the task its own stack of `bytes` (rounded up to the page
    /// size) instead of `RUNTIME_STACK_SIZE` — for a task with a large
    /// frame or deep recursion, which would otherwise overflow and abort
    /// the process. Only the pages it touches cost memory. Single mode has
    /// no task stacks and ignores it; the range (16 KiB to 1 GiB) is
    /// checked in both modes, so a program fails the same way in each.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts `future` as a new task on the current runtime. An error if
    /// the stack size is out of range, or (mn) if the runtime shuts down or
    /// no stack can be had.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.check()?;
        let inner = match engine::expect_mode("task::Builder::spawn") {
            Mode::Single => EngineHandle::Single(loop_core::spawn(future)),
            #[cfg(feature = "mn")]
            Mode::Mn => EngineHandle::Mn(self.mn().spawn(future).map_err(mn_error)?),
            #[cfg(not(feature = "mn"))]
            Mode::Mn => engine::no_mn(),
        };
        Ok(JoinHandle { inner })
    }

    /// Starts `future` as a new task on `handle`'s runtime, from any
    /// thread (as [`Handle::spawn`]).
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.check()?;
        let inner = match &handle.inner {
            EngineHandle::Single(h) => EngineHandle::Single(h.spawn(future)),
            #[cfg(feature = "mn")]
            EngineHandle::Mn(h) => {
                EngineHandle::Mn(self.mn().spawn_on(future, h).map_err(mn_error)?)
            }
        };
        Ok(JoinHandle { inner })
    }

    /// The stack size, if set, is one mn could give (a build without the
    /// M:N engine has no stacks to size: any size is ignored).
    #[cfg(not(feature = "mn"))]
    fn check(&self) -> io::Result<()> {
        Ok(())
    }

    /// The stack size, if set, is one mn could give.
    #[cfg(feature = "mn")]
    fn check(&self) -> io::Result<()> {
        use mn_sched::config::{MAX_STACK_SIZE, MIN_STACK_SIZE};
        match self.stack_size {
            Some(n) if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&n) => {
                Err(mn_error(mn_sched::SpawnError::StackSize(n)))
            }
            _ => Ok(()),
        }
    }

    /// The same options for mn's own builder.
    #[cfg(feature = "mn")]
    fn mn(self) -> mn_sched::task::Builder {
        let mut b = mn_sched::task::Builder::new();
        if let Some(name) = self.name {
            b = b.name(name);
        }
        if let Some(bytes) = self.stack_size {
            b = b.stack_size(bytes);
        }
        b
    }
}

/// An mn spawn error as an `io::Error` (a bad stack size is invalid input).
#[cfg(feature = "mn")]
fn mn_error(e: mn_sched::SpawnError) -> io::Error {
    let kind = match e {
        mn_sched::SpawnError::StackSize(_) => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}
