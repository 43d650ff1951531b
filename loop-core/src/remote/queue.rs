//! The remote queue: a locked `Vec` plus a "pushed since you last looked" flag.
//!
//! The signalling protocol between foreign threads and the loop:
//!
//! * Producer: (P1) lock, push, unlock; (P2) `notified.swap(true)`; if it was
//!   false, the caller writes the eventfd (`mio::Waker::wake`), which makes a
//!   blocked `epoll_wait` return.
//! * Loop, once per turn: (L1) `notified.swap(false)`; if it was true, (L2)
//!   lock and take the whole queue. Before blocking in `epoll_wait` it uses a
//!   zero timeout if `notified` is set.
//!
//! Why nothing is lost: a push whose P2 comes after the loop's L1 sees `false`
//! and writes the eventfd, so the next `epoll_wait` returns at once; a push
//! whose P2 comes before L1 is taken by the L2 that follows. At most one
//! eventfd write happens per turn, however many threads push. The model is
//! checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p switchyard-loop --release --lib loom_`.

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;

/// The queue and its "someone pushed since you last looked" flag.
pub(crate) struct Queue<T> {
    items: Mutex<Vec<T>>,
    notified: AtomicBool,
}

impl<T> Queue<T> {
    #[allow(clippy::new_without_default)]
    pub(crate) fn new() -> Self {
        Queue {
            items: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
        }
    }

    /// P1 and P2: pushes; returns true if the caller must signal the loop.
    pub(crate) fn push(&self, item: T) -> bool {
        self.items.lock().unwrap().push(item);
        !self.notified.swap(true, Ordering::AcqRel)
    }

    /// L1 and L2: takes everything pushed since the last call, into `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<T>) {
        if self.notified.swap(false, Ordering::AcqRel) {
            out.append(&mut self.items.lock().unwrap());
        }
    }

    /// Whether a push happened since the last drain (the loop must not block).
    pub(crate) fn pending(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::Queue;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering};
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// Two producers push while the loop drains and "blocks" (waits for an
    /// eventfd write when it saw nothing pending): every item arrives, and
    /// the loop never sleeps past a push.
    #[test]
    fn loom_remote_queue_loses_no_push() {
        loom::model(|| {
            let q = Arc::new(Queue::new());
            let eventfd = Arc::new(AtomicUsize::new(0));
            let producers: Vec<_> = (0..2)
                .map(|i| {
                    let (q, eventfd) = (q.clone(), eventfd.clone());
                    thread::spawn(move || {
                        if q.push(i) {
                            eventfd.fetch_add(1, Ordering::Release);
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            let mut seen_signals = 0;
            while got.len() < 2 {
                q.drain_into(&mut got);
                if got.len() == 2 {
                    break;
                }
                if !q.pending() {
                    // Block until an eventfd write we have not consumed yet.
                    loop {
                        let s = eventfd.load(Ordering::Acquire);
                        if s > seen_signals {
                            seen_signals = s;
                            break;
                        }
                        thread::yield_now();
                    }
                }
            }
            got.sort();
            assert_eq!(got, vec![0, 1]);
            for p in producers {
                p.join().unwrap();
            }
        });
    }
}
