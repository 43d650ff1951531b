//! Percentiles of a set of measurements (latencies, gaps, counts), kept in
//! an HDR histogram (the `hdrhistogram` crate) instead of a sorted vector.
//!
//! Every example that reports a median, p90, p99 or max of many samples
//! records them here: `compare`'s built-in load generator (round-trip
//! latencies), `timer_lateness` (overshoots and late slices), `tight_loop`
//! (the printer's gaps) and `mn_sysmon_latency` (handoff latencies, which
//! includes this file by path). Memory stays constant however many samples
//! a load run takes, and several histograms merge with [`Hist::add`].
//!
//! Values are unsigned integers in a unit the caller picks (nanoseconds for
//! times). Three significant digits are kept: a percentile is exact below
//! 2048 and within 0.1 % above. A percentile is the nearest-rank one: the
//! smallest recorded value that at least that share of the samples is at or
//! below (reported as the top of its bucket), the rank counted in integers.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Samples recorded so far.
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    /// An empty histogram for values from 0 up to about an hour in ns
    /// (larger values are recorded as that maximum).
    pub fn new() -> Hist {
        Hist(Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"))
    }

    /// Records `v`.
    pub fn record(&mut self, v: u64) {
        self.0.saturating_record(v);
    }

    /// Records `d` in nanoseconds.
    pub fn record_duration(&mut self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub fn add(&mut self, other: &Hist) {
        // Both have the same bounds, so the addition cannot fail.
        self.0.add(&other.0).expect("histograms of equal bounds");
    }

    /// How many samples.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`th percentile (0–100, nearest rank: the sample of rank
    /// ⌈p × n / 100⌉, at least the first); 0 with no samples.
    pub fn pct(&self, p: f64) -> u64 {
        let n = u128::from(self.0.len());
        if n == 0 {
            return 0;
        }
        // The rank in integers (p to a millionth), so that p99.9 of 1000
        // samples is the 999th: `value_at_quantile`'s float product can land
        // just past a whole rank and take the next one.
        let ppm = (p.clamp(0.0, 100.0) * 1e4).round() as u128;
        let rank = (ppm * n).div_ceil(1_000_000).max(1);
        let mut seen: u128 = 0;
        for v in self.0.iter_recorded() {
            seen += u128::from(v.count_at_value());
            if seen >= rank {
                return self.0.highest_equivalent(v.value_iterated_to());
            }
        }
        self.0.max()
    }

    /// The largest sample; 0 with no samples.
    pub fn max(&self) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.max()
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
}
