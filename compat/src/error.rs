//! The errors of the API: [`Error`], why a runtime could not be built, and
//! [`JoinError`], why a task (or a `spawn_blocking` job) gave no output.
//! Both engines' join errors become a [`JoinError`] here.

use std::any::Any;
use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::config::ConfigError;

/// Why a runtime could not be built.
#[derive(Debug)]
pub enum Error {
    /// A bad `RUNTIME_*` value.
    Config(ConfigError),
    /// The OS refused a resource (epoll, eventfd, threads, memory).
    Io(io::Error),
    /// No trace can be written where `RUNTIME_TRACE` (or
    /// [`Builder::trace`](crate::Builder::trace)) points; found when the
    /// runtime starts, not at exit.
    Trace {
        /// The path.
        path: PathBuf,
        /// Whether it came from `RUNTIME_TRACE` (else from the builder).
        from_env: bool,
        /// Why not.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Io(e) => write!(f, "could not start the runtime: {e}"),
            Error::Trace {
                path,
                from_env: true,
                source,
            } => write!(
                f,
                "RUNTIME_TRACE={:?}: cannot write a trace there: {source}",
                path.display().to_string()
            ),
            Error::Trace { path, source, .. } => write!(
                f,
                "Builder::trace({:?}): cannot write a trace there: {source}",
                path.display().to_string()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Trace { source, .. } => Some(source),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Trace { ref source, .. } => io::Error::new(source.kind(), e.to_string()),
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// Why a task produced no output.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
    SpawnFailed(std::io::Error),
}

impl JoinError {
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        JoinError {
            repr: Repr::Panic(payload),
        }
    }

    pub(crate) fn spawn_failed(e: std::io::Error) -> Self {
        JoinError {
            repr: Repr::SpawnFailed(e),
        }
    }

    /// The task was aborted, or dropped when its runtime shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// No thread could be started to run the job (`spawn_blocking`).
    pub fn is_spawn_failure(&self) -> bool {
        matches!(self.repr, Repr::SpawnFailed(_))
    }

    /// The panic's payload, to resume it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the error is not a panic.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.repr {
            Repr::Panic(p) => p,
            _ => panic!("JoinError::into_panic on a task that did not panic"),
        }
    }

    /// The panic message, when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => rt_base::panic::message(p),
            _ => None,
        }
    }
}

#[cfg(feature = "mn")]
impl From<mn_sched::JoinError> for JoinError {
    fn from(e: mn_sched::JoinError) -> Self {
        match e {
            mn_sched::JoinError::Panicked(p) => JoinError::panic(p),
            mn_sched::JoinError::NoStack(e) => JoinError::spawn_failed(std::io::Error::other(e)),
            _ => JoinError::cancelled(),
        }
    }
}

impl From<loop_core::JoinError> for JoinError {
    fn from(e: loop_core::JoinError) -> Self {
        if e.is_panic() {
            JoinError::panic(e.into_panic())
        } else {
            JoinError::cancelled()
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => write!(
                f,
                "JoinError::Panic({:?})",
                self.panic_message().unwrap_or("..")
            ),
            Repr::SpawnFailed(e) => write!(f, "JoinError::SpawnFailed({e})"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(p) => rt_base::panic::fmt_task_panicked(p, f),
            Repr::SpawnFailed(e) => write!(f, "no thread could be started for the task: {e}"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e.to_string())
    }
}
