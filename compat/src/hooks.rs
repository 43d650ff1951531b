//! The functions a `Builder` was given to run on each thread the runtime
//! starts and stops: mn's Ms and the blocking pool's threads.

use std::fmt;
use std::sync::Arc;

/// The functions run on each thread the runtime starts and stops
/// ([`Builder::on_thread_start`](crate::Builder::on_thread_start),
/// [`Builder::on_thread_stop`](crate::Builder::on_thread_stop)).
#[derive(Clone, Default)]
pub(crate) struct ThreadHooks {
    pub(crate) start: Option<Arc<dyn Fn() + Send + Sync>>,
    pub(crate) stop: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl fmt::Debug for ThreadHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHooks")
            .field("start", &self.start.is_some())
            .field("stop", &self.stop.is_some())
            .finish()
    }
}

impl ThreadHooks {
    /// Runs `hook` on the calling thread; a panic in it is reported on
    /// stderr and goes no further.
    pub(crate) fn run(hook: &Option<Arc<dyn Fn() + Send + Sync>>, which: &str) {
        if let Some(h) = hook {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h())).is_err() {
                rt_base::diag::line(&format!(
                    "switchyard: the {which} hook panicked on thread {:?}; ignored",
                    std::thread::current().name().unwrap_or("?")
                ));
            }
        }
    }
}
