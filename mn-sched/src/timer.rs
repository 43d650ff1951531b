//! Timers for `sleep` and `select` timeouts: one ordered map per runtime.
//!
//! A simple structure on purpose: issue 5 brings per-P timers and the
//! netpoller, which will replace this file. What stays is the contract:
//!
//! * `add(deadline, waker)` / `cancel(key)`; a fired timer wakes its waker
//!   once. Callers park in a loop and re-check the clock, so a timer that
//!   fires late or after a cancel is harmless.
//! * No timer thread (the thread budget: procs + main + sysmon). Ms holding
//!   a P fire due timers in findrunnable and every 61st tick; one idle M at
//!   a time sleeps on its futex with the earliest deadline as timeout (the
//!   *sleeper*). Adding an earlier timer wakes the sleeper so it sleeps again
//!   with the new deadline; adding a timer while there is no sleeper wakes an
//!   idle M so that it becomes one. An M joins the idle list before it asks
//!   to be the sleeper, and the sleeper is chosen and the map changed under
//!   one lock, so a timer added while an M goes to sleep is never missed.
//!   (A timer can still wait while every M runs a G that never schedules:
//!   that is issue 6's sysmon.)
//! * The earliest deadline is also kept in an atomic, so "anything due?" is
//!   one load (and a clock read only when some timer exists).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use crate::sched::m::M;

/// Identifies a timer for `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey(Instant, u64);

/// A runtime's timers.
pub(crate) struct Timers {
    inner: Mutex<TimerState>,
    /// Earliest deadline in ns since `epoch`; `u64::MAX` when there is none.
    next: AtomicU64,
    epoch: Instant,
}

/// What the lock protects.
struct TimerState {
    map: BTreeMap<(Instant, u64), Waker>,
    seq: u64,
    /// The idle M sleeping until the earliest deadline.
    sleeper: Option<Arc<M>>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(TimerState {
                map: BTreeMap::new(),
                seq: 0,
                sleeper: None,
            }),
            next: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TimerState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u64::MAX as u128 - 1) as u64
    }

    fn publish_next(&self, st: &TimerState) {
        let next = st.map.keys().next().map_or(u64::MAX, |k| self.nanos(k.0));
        self.next.store(next, Ordering::SeqCst);
    }

    /// Arms a timer that wakes `waker` at `deadline`. Returns its key and
    /// whether no M is sleeping until the timers (the caller must then wake
    /// an idle M to become the sleeper: `Shared::add_timer`).
    fn add(&self, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        let mut st = self.lock();
        st.seq += 1;
        let key = (deadline, st.seq);
        let earliest = st.map.keys().next().is_none_or(|k| *k > key);
        st.map.insert(key, waker);
        self.publish_next(&st);
        let sleeper = if earliest { st.sleeper.clone() } else { None };
        let no_sleeper = st.sleeper.is_none();
        drop(st);
        if let Some(m) = sleeper {
            m.note.wake();
        }
        (TimerKey(key.0, key.1), no_sleeper)
    }

    /// Disarms a timer (no-op if it fired).
    pub(crate) fn cancel(&self, key: TimerKey) {
        let mut st = self.lock();
        if st.map.remove(&(key.0, key.1)).is_some() {
            self.publish_next(&st);
        }
    }

    /// Whether any timer is armed.
    pub(crate) fn pending(&self) -> bool {
        self.next.load(Ordering::SeqCst) != u64::MAX
    }

    /// Whether some timer is due now.
    pub(crate) fn due(&self) -> bool {
        let next = self.next.load(Ordering::Relaxed);
        next != u64::MAX && self.nanos(Instant::now()) >= next
    }

    /// Fires every due timer (wakes run outside the lock).
    pub(crate) fn fire_due(&self) {
        if !self.due() {
            return;
        }
        let now = Instant::now();
        let fired = {
            let mut st = self.lock();
            let later = st.map.split_off(&(now, u64::MAX));
            let fired = std::mem::replace(&mut st.map, later);
            self.publish_next(&st);
            fired
        };
        fired.into_values().for_each(Waker::wake);
    }

    /// An idle M asks to be the sleeper: returns the deadline to sleep until
    /// if it is (none if another M is, or no timer is armed).
    pub(crate) fn become_sleeper(&self, m: &Arc<M>) -> Option<Instant> {
        let mut st = self.lock();
        if st.sleeper.is_some() {
            return None;
        }
        let first = st.map.keys().next()?.0;
        st.sleeper = Some(m.clone());
        Some(first)
    }

    /// The sleeper woke up.
    pub(crate) fn stop_sleeping(&self, m: &Arc<M>) {
        let mut st = self.lock();
        if st.sleeper.as_ref().is_some_and(|s| Arc::ptr_eq(s, m)) {
            st.sleeper = None;
        }
    }

    /// Drops every timer and the sleeper (shutdown).
    pub(crate) fn clear(&self) {
        let (map, sleeper) = {
            let mut st = self.lock();
            let map = std::mem::take(&mut st.map);
            self.publish_next(&st);
            (map, st.sleeper.take())
        };
        drop(map);
        drop(sleeper);
    }
}

impl crate::sched::Shared {
    /// Arms a timer on this runtime (see the module doc).
    pub(crate) fn add_timer(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let (key, no_sleeper) = self.timers.add(deadline, waker);
        if no_sleeper {
            let idle = self.lock().idle_ms.last().cloned();
            if let Some(m) = idle {
                m.note.wake();
            }
        }
        key
    }
}
