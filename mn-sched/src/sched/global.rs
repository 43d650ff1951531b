//! The global run queue: an intrusive FIFO of Gs linked through
//! `Header::link`, only touched under the sched lock (rule 5 of g/mod.rs).
//! It takes the overflow of local rings, Gs made runnable from outside any
//! P (other threads, other runtimes, timers fired by an M without a P), and
//! is checked by every M once per 61 schedule ticks so no G starves there.

use std::ptr::NonNull;

use crate::g::Header;

/// A singly linked list of Gs (FIFO).
#[derive(Debug, Default)]
pub(crate) struct GList {
    head: Option<NonNull<Header>>,
    tail: Option<NonNull<Header>>,
    len: usize,
}

impl GList {
    /// Number of Gs in the list.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `g`.
    pub(crate) fn push(&mut self, g: NonNull<Header>) {
        // SAFETY: `g` is a live runnable G handed to the queue; while it is in
        // the list its link belongs to the list (rule 5), and we hold the
        // list mutably (under the sched lock).
        unsafe { *g.as_ref().link.get() = None };
        match self.tail {
            // SAFETY: as above, for the current tail.
            Some(t) => unsafe { *t.as_ref().link.get() = Some(g) },
            None => self.head = Some(g),
        }
        self.tail = Some(g);
        self.len += 1;
    }

    /// Appends every G of `other`, leaving it empty.
    pub(crate) fn append(&mut self, other: &mut GList) {
        let Some(head) = other.head.take() else {
            return;
        };
        match self.tail {
            // SAFETY: our tail is in our list (rule 5).
            Some(t) => unsafe { *t.as_ref().link.get() = Some(head) },
            None => self.head = Some(head),
        }
        self.tail = other.tail.take();
        self.len += std::mem::take(&mut other.len);
    }

    /// Removes the first G.
    pub(crate) fn pop(&mut self) -> Option<NonNull<Header>> {
        let g = self.head?;
        // SAFETY: `g` is in our list (rule 5).
        self.head = unsafe { (*g.as_ref().link.get()).take() };
        if self.head.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        Some(g)
    }
}

impl super::Shared {
    /// Appends one G to the global queue (from outside any P).
    pub(crate) fn global_push(&self, g: NonNull<Header>) {
        let mut l = self.lock();
        l.global.push(g);
        self.global_len
            .store(l.global.len(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Appends a batch (a ring's overflow) to the global queue.
    pub(crate) fn global_push_list(&self, list: &mut GList) {
        let mut l = self.lock();
        l.global.append(list);
        self.global_len
            .store(l.global.len(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Go's `globrunqget`: takes a fair share of the global queue (at most
    /// `max` if nonzero, at most half a ring), returns the first and puts
    /// the rest in `held`'s ring.
    pub(crate) fn global_get(
        &self,
        held: &super::p::Held<'_>,
        max: usize,
    ) -> Option<NonNull<Header>> {
        let mut batch = GList::default();
        {
            let mut l = self.lock();
            let len = l.global.len();
            let mut n = (len / self.nprocs() + 1)
                .min(len)
                .min(super::runq::RUNQ_SIZE / 2);
            if max > 0 {
                n = n.min(max);
            }
            for _ in 0..n {
                batch.push(l.global.pop().expect("counted"));
            }
            self.global_len
                .store(l.global.len(), std::sync::atomic::Ordering::SeqCst);
        }
        let first = batch.pop()?;
        while let Some(g) = batch.pop() {
            held.push_back(g, self);
        }
        Some(first)
    }
}
