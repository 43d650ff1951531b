//! Percentiles of a set of measurements (latencies, gaps, counts), kept in
//! a log-linear (HDR-style) histogram instead of a sorted vector.
//!
//! Every example that reports a median, p90, p99 or max of many samples
//! records them here: `compare`'s built-in load generator (round-trip
//! latencies), `timer_lateness` (overshoots and late slices), `tight_loop`
//! (the printer's gaps), `imbalance` (request latencies) and mn's
//! `mn_sysmon_latency` (handoff latencies). Memory stays bounded however many samples
//! a load run takes (at most [`BUCKETS`] counters, grown only as far as the
//! largest value needs), and several histograms merge with [`Hist::add`].
//!
//! Values are unsigned integers in a unit the caller picks (nanoseconds for
//! times), from 0 to [`MAX`] (2^42 − 1: about 73 minutes in ns); a larger
//! one is recorded as [`MAX`]. Values below 2048 each have a bucket of
//! their own, so their percentiles are exact. Above, each power of two
//! [2^k, 2^(k+1)) is cut into 1024 equal buckets, 2^(k−10) wide: a
//! percentile there is within 0.1 % (1/1024) of the sample it stands for.
//! A percentile is the nearest-rank one: the smallest recorded value that
//! at least that share of the samples is at or below, the rank counted in
//! integers, reported as the top of its bucket (never above the largest
//! sample). [`Hist::max`] is the largest sample itself, exactly.

use std::time::Duration;

/// The largest value recorded as it is: 2^42 − 1 (about 73 minutes in ns).
pub const MAX: u64 = (1 << 42) - 1;

/// Values below this have a bucket each.
const EXACT: u64 = 2048;

/// log2 of the buckets per power of two above [`EXACT`].
const SUB_BITS: u32 = 10;

/// The most buckets a histogram has: 2048 exact ones, then 1024 for each
/// power of two from 2^11 to 2^41.
pub const BUCKETS: usize = EXACT as usize + (41 - 11 + 1) * (1 << SUB_BITS);

/// Samples recorded so far.
#[derive(Clone, Debug, Default)]
pub struct Hist {
    /// Samples per bucket ([`bucket`]); only as long as the highest bucket
    /// used so far needs.
    counts: Vec<u64>,
    /// How many samples in all.
    total: u64,
    /// The largest sample (after clamping to [`MAX`]); 0 with none.
    max: u64,
}

/// The bucket of `v` (at most [`MAX`]).
fn bucket(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    // v >= 2^11: its top bit is `top`, and the SUB_BITS bits below it pick
    // one of 1024 equal slices of [2^top, 2^(top+1)).
    let top = 63 - v.leading_zeros();
    let sub = (v >> (top - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    EXACT as usize + ((top - 11) as usize) * (1 << SUB_BITS) + sub as usize
}

/// The largest value that falls in bucket `i`.
fn bucket_top(i: usize) -> u64 {
    if (i as u64) < EXACT {
        return i as u64;
    }
    let j = i - EXACT as usize;
    let shift = (j >> SUB_BITS) as u32 + 1; // top - SUB_BITS
    let sub = (j & ((1 << SUB_BITS) - 1)) as u64;
    let low = ((1 << SUB_BITS) + sub) << shift;
    low + (1 << shift) - 1
}

impl Hist {
    /// An empty histogram (it allocates on its first sample).
    pub fn new() -> Hist {
        Hist::default()
    }

    /// Records `v` ([`MAX`] if larger).
    pub fn record(&mut self, v: u64) {
        let v = v.min(MAX);
        let i = bucket(v);
        if i >= self.counts.len() {
            // Grow in one step to the bucket's whole power of two, so a run
            // of rising values does not reallocate on every sample.
            let end = (i | ((1 << SUB_BITS) - 1)) + 1;
            self.counts.resize(end.min(BUCKETS), 0);
        }
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Records `d` in nanoseconds.
    pub fn record_duration(&mut self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub fn add(&mut self, other: &Hist) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many samples.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `p`th percentile (0–100, nearest rank: the sample of rank
    /// ⌈p × n / 100⌉, at least the first); 0 with no samples.
    pub fn pct(&self, p: f64) -> u64 {
        let n = u128::from(self.total);
        if n == 0 {
            return 0;
        }
        // The rank in integers (p to a millionth), so that p99.9 of 1000
        // samples is the 999th: a float product such as 0.999 × 1000 can
        // land just past a whole rank and take the next one.
        let ppm = (p.clamp(0.0, 100.0) * 1e4).round() as u128;
        let rank = (ppm * n).div_ceil(1_000_000).max(1);
        let mut seen: u128 = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u128::from(c);
            if seen >= rank {
                return bucket_top(i).min(self.max);
            }
        }
        self.max
    }

    /// The largest sample, exactly (clamped to [`MAX`]); 0 with no samples.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The `p`th percentile as a duration (values recorded in ns).
    pub fn pct_duration(&self, p: f64) -> Duration {
        Duration::from_nanos(self.pct(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_thousand_are_exact() {
        let mut h = Hist::new();
        // Recorded out of order: the histogram does not care.
        for v in (1..=1000u64).rev() {
            h.record(v);
        }
        assert_eq!(h.len(), 1000);
        assert_eq!(h.pct(50.0), 500);
        assert_eq!(h.pct(90.0), 900);
        assert_eq!(h.pct(99.0), 990);
        assert_eq!(h.pct(99.9), 999);
        assert_eq!(h.pct(100.0), 1000);
        assert_eq!(h.max(), 1000);
    }

    #[test]
    fn nearest_rank_on_a_few_samples() {
        let mut h = Hist::new();
        for v in [30, 10, 20] {
            h.record(v);
        }
        // ceil(0.5 × 3) = 2nd smallest; ceil(0.99 × 3) = 3rd.
        assert_eq!(h.pct(50.0), 20);
        assert_eq!(h.pct(99.0), 30);
        assert_eq!(h.pct(0.0), 10);
    }

    #[test]
    fn large_values_stay_within_a_tenth_of_a_percent() {
        let mut h = Hist::new();
        // 1 ms .. 100 ms in ns, one sample each µs-step of 100 µs.
        let vals: Vec<u64> = (1..=1000u64).map(|i| i * 100_000).collect();
        for &v in &vals {
            h.record_duration(Duration::from_nanos(v));
        }
        for (p, want) in [(50.0, 50_000_000u64), (99.0, 99_000_000)] {
            let got = h.pct(p) as f64;
            let err = (got - want as f64).abs() / want as f64;
            assert!(err <= 0.001, "p{p}: {got} vs {want}");
        }
        assert_eq!(h.pct_duration(50.0).as_millis(), 50);
    }

    #[test]
    fn empty_reads_zero_and_add_merges() {
        let mut a = Hist::new();
        assert!(a.is_empty());
        assert_eq!((a.pct(99.0), a.max()), (0, 0));
        let mut b = Hist::new();
        for v in 1..=50u64 {
            a.record(v);
            b.record(v + 50);
        }
        a.add(&b);
        assert_eq!(a.len(), 100);
        assert_eq!(a.pct(50.0), 50);
        assert_eq!(a.max(), 100);
    }

    #[test]
    fn buckets_tile_the_range() {
        // Every bucket's top is one below the next bucket's first value,
        // and the last bucket ends at MAX.
        for i in 0..BUCKETS - 1 {
            let top = bucket_top(i);
            assert_eq!(bucket(top), i, "top of {i}");
            assert_eq!(bucket(top + 1), i + 1, "after the top of {i}");
        }
        assert_eq!(bucket(MAX), BUCKETS - 1);
        assert_eq!(bucket_top(BUCKETS - 1), MAX);
        assert_eq!(
            (bucket(2047), bucket(2048), bucket(2049)),
            (2047, 2048, 2048)
        );
    }

    #[test]
    fn values_past_the_maximum_are_clamped() {
        let mut h = Hist::new();
        h.record(5);
        h.record(u64::MAX);
        h.record_duration(Duration::from_secs(3 * 3600));
        h.record(MAX + 1);
        assert_eq!(h.len(), 4);
        assert_eq!(h.max(), MAX);
        assert_eq!(h.pct(100.0), MAX);
        assert_eq!(h.pct(25.0), 5);
        // An hour still fits, within the usual 0.1 %.
        let hour = 3_600_000_000_000u64;
        let mut h = Hist::new();
        h.record(hour);
        assert_eq!(h.max(), hour);
        assert_eq!(h.pct(50.0), hour, "capped by the exact max");
        h.record(hour - 1_000_000);
        let p = h.pct(1.0);
        assert!(p >= hour - 1_000_000 && (p - (hour - 1_000_000)) as f64 <= hour as f64 * 1e-3);
    }

    #[test]
    fn relative_error_is_within_a_tenth_of_a_percent_at_every_magnitude() {
        // One value per histogram at every magnitude, with awkward low
        // bits: its percentile is reported as its bucket's top (MAX is
        // recorded beside it, so the cap at the exact max does not hide
        // the bucket's width).
        let mut v: u64 = 1;
        while v <= MAX {
            for x in [
                v,
                v + 1,
                v | (v >> 1),
                v.wrapping_mul(3) / 2 + 7,
                (v << 1) - 1,
            ] {
                let mut h = Hist::new();
                h.record(x);
                h.record(MAX);
                let got = h.pct(50.0);
                assert!(got >= x, "{x}: {got}");
                let err = (got - x) as f64 / x as f64;
                if x < 2048 {
                    assert_eq!(got, x);
                } else {
                    assert!(err < 1.0 / 1024.0, "{x}: {got} ({err})");
                }
            }
            v <<= 1;
        }
        // And a spread of many samples: each percentile within 0.1 % of
        // the exact nearest-rank sample of the sorted values.
        let mut vals: Vec<u64> = (0..20_000u64)
            .map(|i| (i * 2_654_435_761) % (1 << (i % 40 + 2)))
            .collect();
        let mut h = Hist::new();
        for &x in &vals {
            h.record(x);
        }
        vals.sort_unstable();
        for p in [
            0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0,
        ] {
            let rank = ((p * 1e4f64).round() as u128 * vals.len() as u128)
                .div_ceil(1_000_000)
                .max(1);
            let want = vals[rank as usize - 1];
            let got = h.pct(p);
            assert!(got >= want, "p{p}: {got} < {want}");
            assert!(
                (got - want) as f64 <= want as f64 * 1e-3,
                "p{p}: {got} vs {want}"
            );
        }
        assert_eq!(h.max(), *vals.last().unwrap());
        assert_eq!(h.pct(100.0), h.max());
    }

    #[test]
    fn memory_grows_only_as_far_as_the_largest_value() {
        let mut h = Hist::new();
        assert_eq!(h.counts.capacity(), 0);
        for v in 0..2048 {
            h.record(v);
        }
        assert_eq!(h.counts.len(), 2048);
        h.record(MAX);
        assert_eq!(h.counts.len(), BUCKETS);
        const { assert!(BUCKETS < 35_000) };
    }
}
