//! A hierarchical timing wheel: O(1) insert and cancel, amortised O(1) expiry.
//!
//! Time is counted in whole ticks (the loop uses 2^15 ns, 32.8 µs, per tick;
//! mn's per-P wheels one microsecond) since the wheel's creation. Six
//! levels of 64 slots each cover 2^36 ticks (26 days at 32.8 µs); deadlines
//! beyond the current 2^36-tick block wait in an overflow list that is
//! re-filed when time reaches the next block.
//!
//! ```text
//! level 0: 64 slots × 1 tick        (the current 64-tick block)
//! level 1: 64 slots × 64 ticks      (the current 4,096-tick block)
//! level 2: 64 slots × 4,096 ticks
//! ...                                 an entry lives at the level of the
//! level 5: 64 slots × 2^30 ticks      highest bit in which its deadline
//!                                     differs from `elapsed`
//! ```
//!
//! Invariants:
//! 1. Every entry has `deadline >= elapsed` and sits at `level_for(elapsed,
//!    deadline)`, in slot `(deadline >> 6·level) & 63`. So all entries of
//!    level L expire before any entry of level L+1, and within a level the
//!    slots at or after `elapsed`'s own slot hold them (no wrap-around). An
//!    entry due exactly at `elapsed` (left there by a cascade or by a fire
//!    limit) sits in level 0 at `elapsed`'s slot and is the next to fire.
//! 2. A slot is an intrusive doubly-linked list threaded through the entry
//!    slab by index (`prev`/`next`), so cancelling unlinks in O(1); the
//!    `occupied` bitmap of a level finds the next non-empty slot with one
//!    `trailing_zeros`.
//! 3. Advancing to `now` visits only non-empty slots: a level-0 slot fires all
//!    its entries; a higher slot is emptied and its entries are filed again
//!    relative to the new `elapsed`, which moves them down ("cascading").
//!
//! Entries are named by a [`TimerKey`] (slab index plus a generation), so a
//! key kept after its entry fired or was cancelled is harmlessly stale.
//!
//! Rejected: a binary heap (O(log n) insert and no O(1) cancel: a million
//! sleepers pay 20 comparisons each); one flat wheel of 2^k slots (either huge
//! or it must rescan long-deadline entries on every lap).

use slab::Slab;

/// Bits of the deadline handled by one level.
const BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << BITS;
/// Number of levels.
const LEVELS: usize = 6;
/// The pseudo-level holding deadlines beyond the current top-level block
/// (one list, in its slot 0).
const OVERFLOW: usize = LEVELS;
/// Ticks covered by one block of the top level.
const TOP_SPAN: u64 = 1 << (BITS as u64 * LEVELS as u64);
/// "No entry" in the intrusive lists.
const NIL: u32 = u32::MAX;

/// Names one entry of a [`Wheel`]; stale once the entry fired or was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

/// One pending timer.
#[derive(Debug)]
struct Entry<T> {
    /// The tick at which it fires.
    deadline: u64,
    /// Guards against stale [`TimerKey`]s.
    generation: u32,
    /// Where it is filed, so removal needs no search.
    level: u8,
    slot: u8,
    prev: u32,
    next: u32,
    value: T,
}

/// One ring of 64 slots.
#[derive(Debug, Clone, Copy)]
struct Level {
    /// Head and tail of each slot's list.
    head: [u32; SLOTS],
    tail: [u32; SLOTS],
    /// Bit i set when slot i is non-empty.
    occupied: u64,
}

impl Level {
    const EMPTY: Level = Level {
        head: [NIL; SLOTS],
        tail: [NIL; SLOTS],
        occupied: 0,
    };
}

/// A hierarchical timing wheel of values `T` keyed by tick deadlines.
#[derive(Debug)]
pub struct Wheel<T> {
    entries: Slab<Entry<T>>,
    levels: Box<[Level; LEVELS + 1]>,
    /// Every deadline `<= elapsed` has fired.
    elapsed: u64,
    next_generation: u32,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub fn new() -> Self {
        Wheel {
            entries: Slab::new(),
            levels: Box::new([Level::EMPTY; LEVELS + 1]),
            elapsed: 0,
            next_generation: 0,
        }
    }

    /// Number of pending entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The tick up to which every deadline has fired.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Files `value` to fire at tick `deadline`. A deadline that has already
    /// passed (`<= elapsed`) is refused and handed back: the caller treats it
    /// as expired at once.
    pub fn insert(&mut self, deadline: u64, value: T) -> Result<TimerKey, T> {
        if deadline <= self.elapsed {
            return Err(value);
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let index = self.entries.insert(Entry {
            deadline,
            generation,
            level: 0,
            slot: 0,
            prev: NIL,
            next: NIL,
            value,
        });
        let index = u32::try_from(index).expect("timer wheel: more than 2^32 timers");
        self.file(index);
        Ok(TimerKey { index, generation })
    }

    /// Whether `key` still names a pending entry.
    pub fn contains(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|e| e.generation == key.generation)
    }

    /// The value of a pending entry.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(e) if e.generation == key.generation => Some(&mut e.value),
            _ => None,
        }
    }

    /// Cancels a pending entry and returns its value; `None` if it already
    /// fired or was removed.
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.contains(key) {
            return None;
        }
        self.unlink(key.index);
        Some(self.entries.remove(key.index as usize).value)
    }

    /// The earliest tick at which some entry is due, if any. The answer may be
    /// a slot boundary earlier than the entry's own deadline (when the entry
    /// still has to cascade); it is never later.
    pub fn next_expiration(&self) -> Option<u64> {
        (0..=LEVELS).find_map(|level| self.next_in_level(level))
    }

    /// Advances time to `now`, passing every value whose deadline is `<= now`
    /// to `fire`, in deadline order (ties in insertion order). At most `limit`
    /// values are fired; returns how many were. When the limit stops it early,
    /// `elapsed` stays before the remaining due entries so a later call fires
    /// them.
    pub fn advance(&mut self, now: u64, limit: usize, mut fire: impl FnMut(T)) -> usize {
        let mut fired = 0;
        while fired < limit {
            let Some((level, when)) =
                (0..=LEVELS).find_map(|l| self.next_in_level(l).map(|w| (l, w)))
            else {
                break;
            };
            if when > now {
                break;
            }
            // `when` is never before `elapsed`, and moving `elapsed` up to it
            // keeps every entry findable (see `next_in_level`).
            self.elapsed = when;
            let slot = if level == OVERFLOW {
                0
            } else {
                ((when >> (BITS * level as u32)) as usize) & (SLOTS - 1)
            };
            if level == 0 {
                // Every entry of this slot is due exactly now: fire in FIFO
                // order, up to the limit. What the limit leaves stays in the
                // slot at `elapsed` and is found first next time.
                while fired < limit {
                    let head = self.levels[0].head[slot];
                    if head == NIL {
                        break;
                    }
                    self.unlink(head);
                    fire(self.entries.remove(head as usize).value);
                    fired += 1;
                }
            } else {
                // Cascade: empty the slot and file its entries again relative
                // to the slot's start, which moves each to a lower level (the
                // overflow list is re-filed when a new top block begins; an
                // entry due exactly at the start lands in level 0 at
                // `elapsed`'s own slot, and fires on the next turn of this loop).
                let mut cur = self.levels[level].head[slot];
                self.levels[level].head[slot] = NIL;
                self.levels[level].tail[slot] = NIL;
                self.levels[level].occupied &= !(1 << slot);
                while cur != NIL {
                    let next = self.entries[cur as usize].next;
                    self.file(cur);
                    cur = next;
                }
            }
        }
        if fired < limit && self.next_expiration().is_none_or(|w| w > now) {
            self.elapsed = self.elapsed.max(now);
        }
        fired
    }

    /// The earliest slot boundary of `level` holding entries.
    fn next_in_level(&self, level: usize) -> Option<u64> {
        let occupied = self.levels[level].occupied;
        if occupied == 0 {
            return None;
        }
        if level == OVERFLOW {
            return Some((self.elapsed | (TOP_SPAN - 1)) + 1);
        }
        let shift = BITS * level as u32;
        let pos = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
        // By invariant 1 no occupied slot lies before `pos`: level 0 holds
        // `pos` itself only for entries due exactly at `elapsed` (left by a
        // cascade or by a fire limit); higher levels only hold later slots.
        let ahead = occupied & (u64::MAX << pos);
        debug_assert_eq!(ahead, occupied, "timer wheel: an entry behind elapsed");
        let slot = ahead.trailing_zeros() as u64;
        let block = self.elapsed & !((1u64 << (shift + BITS)) - 1);
        Some(block + (slot << shift))
    }

    /// Files entry `index` (unlinked) into the level and slot its deadline
    /// needs relative to `elapsed`; appends, so equal deadlines keep FIFO order.
    fn file(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let (level, slot) = if deadline > self.elapsed | (TOP_SPAN - 1) {
            (OVERFLOW, 0)
        } else {
            let level = level_for(self.elapsed, deadline);
            let slot = ((deadline >> (BITS * level as u32)) as usize) & (SLOTS - 1);
            (level, slot)
        };
        let tail = self.levels[level].tail[slot];
        {
            let e = &mut self.entries[index as usize];
            e.level = level as u8;
            e.slot = slot as u8;
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.levels[level].head[slot] = index;
        } else {
            self.entries[tail as usize].next = index;
        }
        self.levels[level].tail[slot] = index;
        self.levels[level].occupied |= 1 << slot;
    }

    /// Removes entry `index` from its slot's list (the slab entry stays).
    fn unlink(&mut self, index: u32) {
        let (level, slot, prev, next) = {
            let e = &self.entries[index as usize];
            (e.level as usize, e.slot as usize, e.prev, e.next)
        };
        if prev == NIL {
            self.levels[level].head[slot] = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.levels[level].tail[slot] = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        if self.levels[level].head[slot] == NIL {
            self.levels[level].occupied &= !(1 << slot);
        }
    }
}

/// The level at which a deadline is filed: that of the highest bit in which it
/// differs from `elapsed` (level 0 when only the low 6 bits differ). The
/// deadline must lie in `elapsed`'s top-level block.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / BITS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn drain(w: &mut Wheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, usize::MAX, |v| out.push(v));
        out
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = Wheel::new();
        w.insert(10, 1).unwrap();
        assert!(drain(&mut w, 9).is_empty());
        assert_eq!(drain(&mut w, 10), vec![1]);
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_is_refused() {
        let mut w = Wheel::new();
        drain(&mut w, 100);
        assert_eq!(w.insert(100, 7), Err(7));
        assert_eq!(w.insert(50, 8), Err(8));
        assert!(w.insert(101, 9).is_ok());
    }

    #[test]
    fn cancel_is_o1_and_key_goes_stale() {
        let mut w = Wheel::new();
        let a = w.insert(5_000, 1).unwrap();
        let b = w.insert(5_000, 2).unwrap();
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(w.remove(a), None);
        assert!(!w.contains(a));
        assert_eq!(drain(&mut w, 5_000), vec![2]);
        assert!(!w.contains(b));
        // A new entry in a reused slab slot does not revive the old keys.
        let c = w.insert(6_000, 3).unwrap();
        assert!(c.index == a.index || c.index == b.index);
        assert_eq!(w.remove(a), None);
        assert_eq!(w.remove(b), None);
        assert!(w.contains(c));
    }

    #[test]
    fn cascades_from_every_level() {
        let mut w = Wheel::new();
        let deadlines = [
            1u64,
            63,
            64,
            65,
            4_095,
            4_096,
            262_143,
            262_144,
            1 << 24,
            1 << 30,
            1 << 35,
        ];
        for (i, d) in deadlines.iter().enumerate() {
            w.insert(*d, i as u32).unwrap();
        }
        for (i, d) in deadlines.iter().enumerate() {
            assert_eq!(w.next_expiration().map(|n| n <= *d), Some(true));
            assert!(drain(&mut w, d - 1).is_empty(), "fired early at {}", d - 1);
            assert_eq!(drain(&mut w, *d), vec![i as u32], "deadline {d}");
        }
        assert!(w.next_expiration().is_none());
    }

    #[test]
    fn far_deadlines_are_clamped_then_refiled() {
        let mut w = Wheel::new();
        let far = TOP_SPAN * 3 + 12_345;
        w.insert(far, 1).unwrap();
        assert!(drain(&mut w, far - 1).is_empty());
        assert_eq!(drain(&mut w, far), vec![1]);
    }

    #[test]
    fn limit_leaves_the_rest_for_later() {
        let mut w = Wheel::new();
        for i in 0..10 {
            w.insert(3, i).unwrap();
        }
        let mut got = Vec::new();
        assert_eq!(w.advance(3, 4, |v| got.push(v)), 4);
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert_eq!(w.next_expiration(), Some(3));
        assert_eq!(w.advance(3, 100, |v| got.push(v)), 6);
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    /// Random inserts, cancels and advances checked against a sorted map.
    #[test]
    fn matches_a_model() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut w = Wheel::new();
        let mut model: BTreeMap<(u64, u32), TimerKey> = BTreeMap::new();
        let mut now = 0u64;
        for id in 0..20_000u32 {
            match rand() % 10 {
                0..=5 => {
                    let span = [70u64, 5_000, 300_000, 1 << 26][(rand() % 4) as usize];
                    let d = now + 1 + rand() % span;
                    let k = w.insert(d, id).unwrap();
                    model.insert((d, id), k);
                }
                6 | 7 if !model.is_empty() => {
                    let nth = (rand() as usize) % model.len();
                    let (&key, &k) = model.iter().nth(nth).unwrap();
                    assert_eq!(w.remove(k), Some(key.1));
                    model.remove(&key);
                }
                _ => {
                    now += rand() % 3_000;
                    let mut got = Vec::new();
                    w.advance(now, usize::MAX, |v| got.push(v));
                    let due: Vec<(u64, u32)> =
                        model.range(..(now + 1, 0)).map(|(k, _)| *k).collect();
                    let mut want: Vec<u32> = due.iter().map(|k| k.1).collect();
                    for k in &due {
                        model.remove(k);
                    }
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "at now={now}");
                }
            }
            assert_eq!(w.len(), model.len());
            if let (Some(n), Some(((d, _), _))) = (w.next_expiration(), model.iter().next()) {
                assert!(
                    n <= *d && n > w.elapsed(),
                    "next {n} elapsed {} min {d}",
                    w.elapsed()
                );
                assert!(n > now, "an entry due at {n} was left behind at now={now}");
            }
        }
    }

    #[test]
    fn fires_in_deadline_order() {
        let mut w = Wheel::new();
        for d in [500u64, 3, 70, 4_100, 64, 65, 3] {
            w.insert(d, d as u32).unwrap();
        }
        assert_eq!(drain(&mut w, 10_000), vec![3, 3, 64, 65, 70, 500, 4_100]);
    }
}
