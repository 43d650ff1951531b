//! compat's per-runtime state that does not depend on the engine.
//!
//! Each engine carries one `Shared` for compat (as opaque user data) and
//! hands it back from any of its tasks: the blocking pool lives here, so both
//! modes share one implementation of it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use crate::blocking::Pool;
use crate::config::Config;
use crate::hooks::ThreadHooks;

/// State shared by all tasks of one runtime.
pub(crate) struct Shared {
    /// The `spawn_blocking` pool.
    pub(crate) pool: Pool,
    /// With several loops (`run_each`): the ports chosen for each port-0
    /// address, in the order the loops first bound it.
    pub(crate) ports: Mutex<HashMap<SocketAddr, Vec<SocketAddr>>>,
}

impl Shared {
    pub(crate) fn new(config: &Config, hooks: &ThreadHooks) -> Self {
        Shared {
            pool: Pool::new(
                config.blocking_threads,
                config.idle_thread_timeout,
                hooks.clone(),
            ),
            ports: Mutex::new(HashMap::new()),
        }
    }
}
