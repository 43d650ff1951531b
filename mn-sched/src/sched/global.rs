//! The global run queue, only touched under the sched lock. It takes the
//! overflow of local rings, Gs made runnable from outside any P (other
//! threads, other runtimes, timers fired by an M without a P), and is
//! checked by every M once per 61 schedule ticks so no G starves there.
//!
//! It is a FIFO of *chunks*, each an intrusive list of Gs linked through
//! `Header::link` (rule 5 of g/mod.rs). A ring's overflow (129 Gs) goes in
//! as one chunk and an M takes a whole chunk at a time, so every operation
//! under the lock is O(1); the M walks the chunk's links (cache misses on Gs
//! made on another core) after releasing the lock. Rejected: Go's single
//! list, from which the taker cuts `len/procs + 1` Gs by walking their links
//! under the lock; with it, a burst of spawns (100,000 detached Gs at
//! 2 Ps) waits on the contended lock and each G costs about half as much
//! again.

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

    /// Cuts the list into lists of at most `CHUNK + 1` Gs (a ring's
    /// overflow stays whole), in order: a taker moves a whole chunk into
    /// its (empty) ring, which then holds it without overflowing.
    pub(crate) fn into_chunks(mut self) -> Vec<GList> {
        let mut out = Vec::with_capacity(self.len.div_ceil(CHUNK));
        while self.len > CHUNK + 1 {
            let mut c = GList::default();
            for _ in 0..CHUNK {
                let g = self.pop().expect("len counts the Gs");
                c.push(g);
            }
            out.push(c);
        }
        if self.len > 0 {
            out.push(self);
        }
        out
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

/// Most Gs in a chunk made of single pushes (a ring overflow can be 129).
const CHUNK: usize = super::runq::RUNQ_SIZE / 2;

/// The global queue: a FIFO of chunks.
#[derive(Debug, Default)]
pub(crate) struct GlobalQueue {
    chunks: std::collections::VecDeque<GList>,
    len: usize,
}

impl GlobalQueue {
    /// Gs queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends one G (to the last chunk while it is small).
    pub(crate) fn push(&mut self, g: NonNull<Header>) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push(g),
            _ => {
                let mut c = GList::default();
                c.push(g);
                self.chunks.push_back(c);
            }
        }
        self.len += 1;
    }

    /// Appends a batch as one chunk (split first by
    /// [`GList::into_chunks`] if it may be longer than a ring's half).
    pub(crate) fn append(&mut self, list: &mut GList) {
        if list.len() == 0 {
            return;
        }
        self.len += list.len();
        self.chunks.push_back(std::mem::take(list));
    }

    /// Takes the first G.
    pub(crate) fn pop(&mut self) -> Option<NonNull<Header>> {
        let first = self.chunks.front_mut()?;
        let g = first.pop();
        if first.len() == 0 {
            self.chunks.pop_front();
        }
        self.len -= usize::from(g.is_some());
        g
    }

    /// For the task dump: calls `f` on every queued G, in queue order.
    /// Under the sched lock a queued G can neither run nor exit, so its
    /// header may be read.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for c in &self.chunks {
            let mut cur = c.head;
            while let Some(g) = cur {
                // SAFETY: `g` is queued (alive, rule 6 of g/mod.rs) and its
                // link belongs to the list we hold under the lock (rule 5).
                let h = unsafe { g.as_ref() };
                f(h);
                // SAFETY: as above.
                cur = unsafe { *h.link.get() };
            }
        }
    }

    /// Takes the first chunk.
    pub(crate) fn pop_chunk(&mut self) -> Option<GList> {
        let c = self.chunks.pop_front()?;
        self.len -= c.len();
        Some(c)
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

    /// Appends a batch (a ring's overflow, or the Gs a poll readied) to the
    /// global queue, in chunks a ring can take whole.
    pub(crate) fn global_push_list(&self, list: &mut GList) {
        let chunks = std::mem::take(list).into_chunks(); // outside the lock
        let mut l = self.lock();
        for mut c in chunks {
            l.global.append(&mut c);
        }
        self.global_len
            .store(l.global.len(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Takes one G (`max == 1`, step 1 of find.rs, when the ring may be
    /// busy) or the first chunk (else: the ring is empty, and a chunk of at
    /// most 129 fits); returns a G to run and puts the rest in `held`'s ring.
    pub(crate) fn global_get(
        &self,
        held: &super::p::Held<'_>,
        max: usize,
    ) -> Option<NonNull<Header>> {
        let mut chunk = {
            let mut l = self.lock();
            let got = if max == 1 {
                l.global.pop().map(|g| {
                    let mut c = GList::default();
                    c.push(g);
                    c
                })
            } else {
                l.global.pop_chunk()
            };
            self.global_len
                .store(l.global.len(), std::sync::atomic::Ordering::SeqCst);
            got?
        };
        let first = chunk.pop();
        while let Some(g) = chunk.pop() {
            held.push_back(g, self);
        }
        first
    }
}
