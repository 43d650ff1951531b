//! [`Builder`]: the settings of one loop (tasks polled per turn, the
//! embedder's user data, a periodic callback, a trace, control signals),
//! which `build` turns into a [`Runtime`]. `Core::new` (in `mod.rs`) takes
//! the builder apart and opens the trace.

use std::any::Any;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Core, Runtime};
use crate::trace::{self, TraceFile};

/// Configures a [`Runtime`].
pub struct Builder {
    // Read by `Core::new` (mod.rs), which takes the builder apart.
    pub(super) event_interval: usize,
    pub(super) user_data: Option<Arc<dyn Any + Send + Sync>>,
    pub(super) periodic: Option<(Duration, Box<dyn FnMut()>)>,
    pub(super) trace: Option<Trace>,
    pub(super) control_signals: bool,
}

/// Where a [`Builder`]'s trace goes: a path `build` checks, or a
/// destination checked already.
pub(super) enum Trace {
    Path(PathBuf),
    File(TraceFile),
    /// One lane of a recorder that several loops share (single mode with
    /// `RUNTIME_LOOPS`): each writes the whole recorder, every loop's lane.
    Shared(TraceFile, Arc<trace::Recorder>, String),
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            event_interval: 128,
            user_data: None,
            periodic: None,
            trace: None,
            control_signals: false,
        }
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("event_interval", &self.event_interval)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks polled per turn at most before the loop looks at timers and
    /// epoll again (default 128; at least 1).
    pub fn event_interval(mut self, n: usize) -> Self {
        self.event_interval = n.max(1);
        self
    }

    /// Attaches opaque state that code running on the loop can fetch with
    /// [`user_data`](super::user_data) (compat keeps its blocking pool there).
    pub fn user_data(mut self, data: Arc<dyn Any + Send + Sync>) -> Self {
        self.user_data = Some(data);
        self
    }

    /// Runs `callback` on the loop thread every `period` (between turns,
    /// never inside a task; late if a task blocks the loop). Used for
    /// `RUNTIME_DEBUG=schedtrace`.
    pub fn periodic(mut self, period: Duration, callback: Box<dyn FnMut()>) -> Self {
        self.periodic = Some((period.max(Duration::from_millis(1)), callback));
        self
    }

    /// Records a Chrome trace-event JSON of every poll, written to `path`
    /// when the runtime is dropped (and on SIGUSR2 with control signals).
    /// `build` checks the path ([`TraceFile::open`]) and fails if no trace
    /// can be written there.
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Self {
        self.trace = Some(Trace::Path(path.into()));
        self
    }

    /// Like [`trace`](Builder::trace), to a destination already checked.
    pub fn trace_file(mut self, file: TraceFile) -> Self {
        self.trace = Some(Trace::File(file));
        self
    }

    /// Like [`trace_file`](Builder::trace_file), into the lane `lane` of
    /// `recorder`, which other loops share: several loops of one program
    /// make one trace with a lane each. The runtime writes the whole
    /// recorder (every loop's lane so far) when dropped and on SIGUSR2, so
    /// the loop that ends last writes the complete trace.
    pub fn trace_shared(
        mut self,
        file: TraceFile,
        recorder: Arc<trace::Recorder>,
        lane: impl Into<String>,
    ) -> Self {
        self.trace = Some(Trace::Shared(file, recorder, lane.into()));
        self
    }

    /// Handles SIGQUIT (prints the task dump on stderr, the program goes
    /// on) and SIGUSR2 (writes the trace; ignored without one) on the loop
    /// itself.
    pub fn control_signals(mut self, on: bool) -> Self {
        self.control_signals = on;
        self
    }

    /// Creates the runtime: an epoll instance and an eventfd, no thread.
    pub fn build(self) -> io::Result<Runtime> {
        Ok(Runtime {
            core: Core::new(self)?,
        })
    }
}
