//! The metric handles: [`Counter`], [`Gauge`], [`Histogram`].
//!
//! A handle is an `Arc` around atomics. Cloning it is cheap, and every update
//! is one or two relaxed atomic operations: no lock, no lookup, no allocation.
//! Resolve a handle once (from a [`Family`](crate::Family) with its label
//! values) and keep it where the hot loop can reach it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    value: Arc<AtomicU64>,
}

impl Counter {
    /// A counter at zero, not registered anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn inc_by(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises the count to `total` if it is below: for counts kept elsewhere
    /// (ao-local's refused Evals, a host's own tally). A lower `total` (the
    /// source restarted) is ignored, so the counter stays monotonic.
    pub fn absorb_total(&self, total: u64) {
        self.value.fetch_max(total, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down, stored as `f64` bits in one atomic.
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    bits: Arc<AtomicU64>,
}

impl Gauge {
    /// A gauge at zero, not registered anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d` (negative to subtract).
    #[inline]
    pub fn add(&self, d: f64) {
        let mut cur = self.bits.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self.bits.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

/// Upper bounds of histogram buckets: finite, strictly increasing; `+Inf` is implied.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets(Arc<[f64]>);

impl Buckets {
    /// Prometheus's default bounds, in seconds: 5 ms to 10 s.
    pub fn default_seconds() -> Self {
        Self(Arc::from(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0][..]))
    }

    /// Bounds for ECS ticks and systems, in seconds: 100 µs doubling to ~0.8 s.
    pub fn tick_seconds() -> Self {
        Self::exponential(0.0001, 2.0, 14).unwrap_or_else(|_| Self::default_seconds())
    }

    /// `count` bounds `start, start·factor, start·factor², …`.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Self, Error> {
        let mut v = Vec::with_capacity(count);
        let mut b = start;
        for _ in 0..count {
            v.push(b);
            b *= factor;
        }
        Self::new(v)
    }

    /// `count` bounds `start, start+width, …`.
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Self, Error> {
        Self::new((0..count).map(|i| start + width * i as f64).collect())
    }

    /// Explicit bounds, checked: at least one, finite, strictly increasing.
    pub fn new(bounds: Vec<f64>) -> Result<Self, Error> {
        let bad =
            |index, reason: &str| Err(Error::new(ErrorKind::InvalidBuckets { index, reason: reason.into() }));
        if bounds.is_empty() {
            return bad(0, "no bounds given");
        }
        for (i, b) in bounds.iter().enumerate() {
            if !b.is_finite() {
                return bad(i, "bound is not finite (+Inf is implied)");
            }
            if i > 0 && *b <= bounds[i - 1] {
                return bad(i, "bounds must be strictly increasing");
            }
        }
        Ok(Self(bounds.into()))
    }

    /// The bounds, without the implied `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.0
    }
}

#[derive(Debug)]
struct HistogramCore {
    bounds: Arc<[f64]>,
    /// Per-bucket (not cumulative) counts; the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// Observations counted into buckets, with their sum.
///
/// `observe` is one bucket search over the bounds, one `fetch_add` and one
/// compare-and-swap on the sum: lock-free. The count is the total of the
/// buckets, so a scrape never sees a count that disagrees with them.
#[derive(Debug, Clone)]
pub struct Histogram {
    core: Arc<HistogramCore>,
}

impl Histogram {
    /// A histogram with these bounds, not registered anywhere.
    pub fn new(buckets: &Buckets) -> Self {
        let counts = (0..=buckets.0.len()).map(|_| AtomicU64::new(0)).collect();
        Self { core: Arc::new(HistogramCore { bounds: buckets.0.clone(), counts, sum: AtomicU64::new(0) }) }
    }

    /// Records one observation. `NaN` is ignored, so the sum stays a number.
    #[inline]
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.core.bounds.partition_point(|b| *b < v);
        self.core.counts[i].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.core.sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + v).to_bits();
            match self.core.sum.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Records a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// A scope guard that records the time until it is dropped (or [`stop`](HistogramTimer::stop)ped).
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        HistogramTimer { histogram: self, start: Instant::now(), done: false }
    }

    /// The current state: bounds, cumulative counts (the last is the total), sum.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(self.core.counts.len());
        let mut total = 0u64;
        for c in &*self.core.counts {
            total = total.wrapping_add(c.load(Ordering::Relaxed));
            cumulative.push(total);
        }
        HistogramSnapshot {
            bounds: self.core.bounds.clone(),
            cumulative,
            sum: f64::from_bits(self.core.sum.load(Ordering::Relaxed)),
        }
    }
}

/// Records the time from its creation to its drop into a [`Histogram`].
#[derive(Debug)]
#[must_use = "the timer records when dropped; bind it to a variable for the scope to time"]
pub struct HistogramTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
    done: bool,
}

impl HistogramTimer<'_> {
    /// Records now and returns the time measured.
    pub fn stop(mut self) -> Duration {
        self.done = true;
        let d = self.start.elapsed();
        self.histogram.observe_duration(d);
        d
    }
}

impl Drop for HistogramTimer<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.histogram.observe_duration(self.start.elapsed());
        }
    }
}

/// A histogram's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds, without `+Inf`.
    pub bounds: Arc<[f64]>,
    /// Cumulative counts per bound, then the `+Inf` count (the total).
    pub cumulative: Vec<u64>,
    /// Sum of all observations.
    pub sum: f64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    #[test]
    fn counter_and_gauge() {
        let c = Counter::new();
        c.inc();
        c.inc_by(4);
        c.absorb_total(3);
        assert_eq!(c.get(), 5);
        c.absorb_total(9);
        assert_eq!(c.get(), 9);
        let g = Gauge::new();
        g.set(2.5);
        g.add(-1.0);
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1.5);
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        let h = Histogram::new(&Buckets::new(vec![1.0, 2.0]).unwrap());
        for v in [0.5, 1.0, 1.5, 2.0, 3.0, f64::NAN, f64::INFINITY] {
            h.observe(v);
        }
        let s = h.snapshot();
        // le=1: 0.5, 1.0; le=2: +1.5, 2.0; +Inf: +3.0, inf
        assert_eq!(s.cumulative, vec![2, 4, 6]);
        assert_eq!(s.count(), 6);
        assert_eq!(s.sum, f64::INFINITY);
    }

    #[test]
    fn bucket_validation() {
        for (bounds, index) in
            [(vec![], 0), (vec![1.0, 1.0], 1), (vec![1.0, f64::INFINITY], 1), (vec![f64::NAN], 0)]
        {
            match Buckets::new(bounds).unwrap_err().kind() {
                ErrorKind::InvalidBuckets { index: i, .. } => assert_eq!(*i, index),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(Buckets::exponential(1.0, 2.0, 4).unwrap().bounds(), &[1.0, 2.0, 4.0, 8.0]);
        assert_eq!(Buckets::linear(0.5, 0.5, 3).unwrap().bounds(), &[0.5, 1.0, 1.5]);
        assert_eq!(Buckets::tick_seconds().bounds().len(), 14);
    }

    #[test]
    fn timer_records_once() {
        let h = Histogram::new(&Buckets::default_seconds());
        let d = h.start_timer().stop();
        {
            let _t = h.start_timer();
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 2);
        assert!(s.sum >= d.as_secs_f64());
    }
}
