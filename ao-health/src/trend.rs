//! Trends and capacity: bounded in-memory series downsampled to 1-minute and
//! 1-hour buckets; mean, quantiles and rate over a window; forecasts of when
//! a threshold is crossed. Sans-IO: times are arguments.
//!
//! Values are finite: [`Series::record`] refuses `NaN` and infinities with
//! [`ErrorKind::NotFinite`], so means, quantiles, rates and forecasts are
//! never `NaN`. Means and interpolations are computed so that they cannot
//! overflow either (a mean lies between the smallest and largest value).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::registry::Snapshot;
use crate::time::Timestamp;

/// How much of each resolution a series keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples kept (720: two hours at 10 s).
    pub raw: usize,
    /// 1-minute buckets kept (1440: a day).
    pub minutes: usize,
    /// 1-hour buckets kept (720: thirty days).
    pub hours: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self { raw: 720, minutes: 1440, hours: 720 }
    }
}

/// A resolution of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// Every sample as recorded.
    Raw,
    /// One bucket per minute.
    Minute,
    /// One bucket per hour.
    Hour,
}

impl Resolution {
    fn width_ms(self) -> u64 {
        match self {
            Self::Raw => 0,
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
        }
    }
}

/// A downsampled bucket: aggregates of the samples in `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Start of the bucket.
    pub start: Timestamp,
    /// When its last sample was taken.
    pub last_at: Timestamp,
    /// When the sample its `increase` counts from was taken: the series'
    /// sample before the bucket, or the bucket's first if the series began in it.
    pub increase_from: Timestamp,
    /// Samples in it.
    pub count: u64,
    /// Their sum (`±Inf` if it overflowed; [`mean`](Self::mean) does not).
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The last one.
    pub last: f64,
    /// Counter increase from the sample before the bucket to its last, resets counted.
    pub increase: f64,
    mean: f64,
}

impl Bucket {
    /// The mean of its samples (kept as a running mean, so it cannot overflow).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    fn new(start: Timestamp, t: Timestamp, v: f64, prev: Option<Timestamp>, increase: f64) -> Self {
        let increase_from = prev.unwrap_or(t);
        Self {
            start,
            last_at: t,
            increase_from,
            count: 1,
            sum: v,
            min: v,
            max: v,
            last: v,
            increase,
            mean: v,
        }
    }

    fn add(&mut self, t: Timestamp, v: f64, increase: f64) {
        self.count += 1;
        self.sum += v;
        let n = self.count as f64;
        self.mean = (self.mean * ((n - 1.0) / n) + v / n).clamp(self.min.min(v), self.max.max(v));
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = v;
        self.last_at = t;
        self.increase += increase;
    }
}

/// The weighted mean of `(value, weight)` pairs: each value scaled by its
/// share of the total weight first, so it cannot overflow, and the result
/// kept within the values' range.
fn weighted_mean(items: &[(f64, u64)]) -> Option<f64> {
    let total: u64 = items.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let (lo, hi) =
        items.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (v, _)| (lo.min(*v), hi.max(*v)));
    let m: f64 = items.iter().map(|(v, n)| v * (*n as f64 / total as f64)).sum();
    Some(m.clamp(lo, hi))
}

/// One metric's history at three resolutions, each bounded.
#[derive(Debug, Clone)]
pub struct Series {
    retention: Retention,
    raw: VecDeque<(Timestamp, f64)>,
    minutes: VecDeque<Bucket>,
    hours: VecDeque<Bucket>,
    last: Option<(Timestamp, f64)>,
    /// Whether the raw and minute tiers have dropped anything yet: until they
    /// have, they hold the whole history.
    evicted: [bool; 2],
}

/// The direction in which a forecast threshold is crossed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crossing {
    /// The series rises to at least this value (memory use, queue length).
    Above(f64),
    /// The series falls to at most this value (free disk, remaining budget).
    Below(f64),
}

/// How to extrapolate a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Least-squares line through the window's points.
    Linear,
    /// Holt's double exponential smoothing (level `alpha`, trend `beta`, each
    /// clamped to `(0, 1]`), for uneven sample spacing: weights recent change more.
    Holt {
        /// Level smoothing.
        alpha: f64,
        /// Trend smoothing.
        beta: f64,
    },
}

/// When a threshold will be crossed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Forecast {
    /// The last sample is already past the threshold.
    Reached,
    /// This long after the last sample.
    In(Duration),
    /// The trend is flat or heads away from the threshold.
    Never,
    /// Fewer than two samples, or all at one time.
    Insufficient,
}

impl Series {
    /// An empty series.
    pub fn new(retention: Retention) -> Self {
        Self {
            retention,
            raw: VecDeque::new(),
            minutes: VecDeque::new(),
            hours: VecDeque::new(),
            last: None,
            evicted: [false; 2],
        }
    }

    /// Records a sample. Samples must come in time order: an older one is
    /// refused ([`ErrorKind::OutOfOrder`]); so is a `NaN` or infinite value
    /// ([`ErrorKind::NotFinite`]), which leaves the series as it was.
    pub fn record(&mut self, t: Timestamp, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error::new(ErrorKind::NotFinite {
                series: String::new(),
                at_ms: t.as_millis(),
                value: v,
            }));
        }
        if let Some((last_t, _)) = self.last
            && t < last_t
        {
            return Err(Error::new(ErrorKind::OutOfOrder {
                series: String::new(),
                last_ms: last_t.as_millis(),
                got_ms: t.as_millis(),
            }));
        }
        let increase = match self.last {
            Some((_, prev)) if v >= prev => v - prev,
            // A reset: the counter restarted from zero (a negative value is no count).
            Some(_) => v.max(0.0),
            None => 0.0,
        };
        let prev_at = self.last.map(|(t, _)| t);
        self.last = Some((t, v));
        self.evicted[0] |= push_bounded(&mut self.raw, (t, v), self.retention.raw);
        for (tier, res, cap) in [
            (&mut self.minutes, Resolution::Minute, self.retention.minutes),
            (&mut self.hours, Resolution::Hour, self.retention.hours),
        ] {
            let start = Timestamp::from_millis(t.as_millis() / res.width_ms() * res.width_ms());
            match tier.back_mut() {
                Some(b) if b.start == start => b.add(t, v, increase),
                _ => {
                    let dropped = push_bounded(tier, Bucket::new(start, t, v, prev_at, increase), cap);
                    if res == Resolution::Minute {
                        self.evicted[1] |= dropped;
                    }
                }
            }
        }
        Ok(())
    }

    /// The last sample.
    pub fn last(&self) -> Option<(Timestamp, f64)> {
        self.last
    }

    /// Raw samples kept.
    pub fn raw(&self) -> impl Iterator<Item = (Timestamp, f64)> + '_ {
        self.raw.iter().copied()
    }

    /// Buckets kept at a downsampled resolution (`Raw` gives none).
    pub fn buckets(&self, res: Resolution) -> impl Iterator<Item = &Bucket> {
        let tier = match res {
            Resolution::Raw => None,
            Resolution::Minute => Some(&self.minutes),
            Resolution::Hour => Some(&self.hours),
        };
        tier.into_iter().flatten()
    }

    /// The finest resolution whose kept history reaches back to `now - window`,
    /// or holds the whole history (the hour tier if none does).
    pub fn resolution_for(&self, now: Timestamp, window: Duration) -> Resolution {
        let from = now.saturating_sub(window);
        if !self.evicted[0] || self.raw.front().is_some_and(|(t, _)| *t <= from) {
            Resolution::Raw
        } else if !self.evicted[1] || self.minutes.front().is_some_and(|b| b.start <= from) {
            Resolution::Minute
        } else if self.hours.front().is_some() {
            Resolution::Hour
        } else {
            Resolution::Raw
        }
    }

    /// `(time, value)` points over `(now - window, now]` at the resolution
    /// chosen by [`resolution_for`](Self::resolution_for): raw samples, or
    /// bucket means stamped at the bucket's middle.
    pub fn window(&self, now: Timestamp, window: Duration) -> (Resolution, Vec<(Timestamp, f64)>) {
        let res = self.resolution_for(now, window);
        (res, self.points(res, now, window))
    }

    fn points(&self, res: Resolution, now: Timestamp, window: Duration) -> Vec<(Timestamp, f64)> {
        match res {
            Resolution::Raw => self
                .raw
                .iter()
                .filter(|(t, _)| *t <= now && now.saturating_since(*t) < window)
                .copied()
                .collect(),
            _ => self
                .in_window(res, now, window)
                .map(|b| (b.start + Duration::from_millis(res.width_ms() / 2), b.mean()))
                .collect(),
        }
    }

    fn in_window(&self, res: Resolution, now: Timestamp, window: Duration) -> impl Iterator<Item = &Bucket> {
        let from = now.saturating_sub(window);
        let w = res.width_ms();
        self.buckets(res).filter(move |b| b.start.as_millis() + w > from.as_millis() && b.start <= now)
    }

    /// Mean over the window.
    pub fn mean(&self, now: Timestamp, window: Duration) -> Option<f64> {
        let items: Vec<(f64, u64)> = match self.resolution_for(now, window) {
            Resolution::Raw => {
                self.points(Resolution::Raw, now, window).into_iter().map(|(_, v)| (v, 1)).collect()
            }
            res => self.in_window(res, now, window).map(|b| (b.mean(), b.count)).collect(),
        };
        weighted_mean(&items)
    }

    /// The `q`-quantile (0 ≤ q ≤ 1, clamped; `None` for `NaN`) over the
    /// window, interpolating between ranks. Exact on raw samples; on buckets,
    /// the quantile of bucket means weighted by their sample counts (an approximation).
    pub fn quantile(&self, now: Timestamp, window: Duration, q: f64) -> Option<f64> {
        if q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let mut weighted: Vec<(f64, u64)> = match self.resolution_for(now, window) {
            Resolution::Raw => {
                self.points(Resolution::Raw, now, window).into_iter().map(|(_, v)| (v, 1)).collect()
            }
            res => self.in_window(res, now, window).map(|b| (b.mean(), b.count)).collect(),
        };
        if weighted.is_empty() {
            return None;
        }
        weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = weighted.iter().map(|(_, n)| n).sum();
        let rank = q * (total - 1) as f64;
        let value_at = |r: u64| {
            let mut seen = 0;
            for (v, n) in &weighted {
                seen += n;
                if r < seen {
                    return *v;
                }
            }
            weighted[weighted.len() - 1].0
        };
        let (lo, hi) = (rank.floor() as u64, rank.ceil() as u64);
        let (a, b) = (value_at(lo), value_at(hi));
        let f = rank - rank.floor();
        // Not `a + (b - a) * f`: `b - a` overflows for far-apart values.
        Some(if f == 0.0 { a } else { (a * (1.0 - f) + b * f).clamp(a, b) })
    }

    /// A counter's per-second rate over the window, resets counted, over the
    /// span the samples actually cover (not the nominal window, and with no
    /// extrapolation to its edges, unlike `PromQL`'s `rate`): from raw samples,
    /// the increase from the first sample in the window to the last over the
    /// time between them; from buckets, the buckets' increases over the time
    /// from the first one's [`increase_from`](Bucket::increase_from) to the
    /// last one's [`last_at`](Bucket::last_at). So a series younger than the
    /// window, or with a gap, gives its true rate. `None` without two samples
    /// at different times.
    pub fn rate(&self, now: Timestamp, window: Duration) -> Option<f64> {
        match self.resolution_for(now, window) {
            Resolution::Raw => {
                let p = self.points(Resolution::Raw, now, window);
                let (first, last) = (p.first()?, p.last()?);
                let secs = last.0.saturating_since(first.0).as_secs_f64();
                if secs <= 0.0 {
                    return None;
                }
                let increase: f64 = p
                    .windows(2)
                    .map(|w| if w[1].1 >= w[0].1 { w[1].1 - w[0].1 } else { w[1].1.max(0.0) })
                    .sum();
                Some(increase / secs)
            }
            res => {
                let first = self.in_window(res, now, window).next()?;
                let last = self.in_window(res, now, window).last()?;
                let secs = last.last_at.saturating_since(first.increase_from).as_secs_f64();
                if secs <= 0.0 {
                    return None;
                }
                let increase: f64 = self.in_window(res, now, window).map(|b| b.increase).sum();
                Some(increase / secs)
            }
        }
    }

    /// When the series will cross `threshold`, extrapolating the window's points.
    pub fn forecast(
        &self,
        now: Timestamp,
        window: Duration,
        threshold: Crossing,
        method: Method,
    ) -> Forecast {
        let (_, points) = self.window(now, window);
        forecast(&points, threshold, method)
    }
}

/// Pushes `v`, dropping the oldest past `cap`; returns whether any was dropped.
fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) -> bool {
    q.push_back(v);
    let mut dropped = false;
    while q.len() > cap.max(1) {
        q.pop_front();
        dropped = true;
    }
    dropped
}

/// When a series of `(time, value)` points (in time order) crosses
/// `threshold`, measured from its last point. Points whose value is `NaN` or
/// infinite are left out; a fit that overflows is [`Forecast::Never`].
pub fn forecast(points: &[(Timestamp, f64)], threshold: Crossing, method: Method) -> Forecast {
    let finite: Vec<(Timestamp, f64)>;
    let points = if points.iter().all(|p| p.1.is_finite()) {
        points
    } else {
        finite = points.iter().copied().filter(|p| p.1.is_finite()).collect();
        &finite
    };
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Forecast::Insufficient };
    if points.len() < 2 || last.0 <= first.0 {
        return Forecast::Insufficient;
    }
    match threshold {
        Crossing::Above(v) if last.1 >= v => return Forecast::Reached,
        Crossing::Below(v) if last.1 <= v => return Forecast::Reached,
        _ => {}
    }
    let x = |t: Timestamp| t.saturating_since(first.0).as_secs_f64();
    let (level, slope) = match method {
        Method::Linear => {
            let n = points.len() as f64;
            let mx = points.iter().map(|p| x(p.0)).sum::<f64>() / n;
            let my = points.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = points.iter().map(|p| (x(p.0) - mx).powi(2)).sum();
            let sxy: f64 = points.iter().map(|p| (x(p.0) - mx) * (p.1 - my)).sum();
            if sxx <= 0.0 {
                return Forecast::Insufficient;
            }
            let b = sxy / sxx;
            (my + b * (x(last.0) - mx), b)
        }
        Method::Holt { alpha, beta } => {
            let (alpha, beta) = (alpha.clamp(f64::MIN_POSITIVE, 1.0), beta.clamp(f64::MIN_POSITIVE, 1.0));
            // Start from the first step with time between its points.
            let Some(i) = points.iter().position(|p| p.0 > first.0) else { return Forecast::Insufficient };
            let mut level = first.1;
            let mut trend = (points[i].1 - first.1) / (x(points[i].0));
            let mut prev_t = first.0;
            for p in &points[1..] {
                let dt = p.0.saturating_since(prev_t).as_secs_f64();
                if dt <= 0.0 {
                    continue;
                }
                let new_level = alpha * p.1 + (1.0 - alpha) * (level + trend * dt);
                trend = beta * (new_level - level) / dt + (1.0 - beta) * trend;
                level = new_level;
                prev_t = p.0;
            }
            (level, trend)
        }
    };
    let (target, toward) = match threshold {
        Crossing::Above(v) => (v, slope > 0.0),
        Crossing::Below(v) => (v, slope < 0.0),
    };
    if !toward || !slope.is_finite() || !level.is_finite() || !target.is_finite() {
        return Forecast::Never;
    }
    let secs = ((target - level) / slope).max(0.0);
    if !secs.is_finite() || secs > 1e15 {
        return Forecast::Never;
    }
    Forecast::In(Duration::from_secs_f64(secs))
}

/// Series by key (`name{labels}`), bounded in number.
#[derive(Debug, Clone)]
pub struct TrendStore {
    retention: Retention,
    max_series: usize,
    series: BTreeMap<String, Series>,
}

impl TrendStore {
    /// A store of at most `max_series` series with this retention each.
    pub fn new(retention: Retention, max_series: usize) -> Self {
        Self { retention, max_series, series: BTreeMap::new() }
    }

    /// Records one sample of the series `key`.
    pub fn record(&mut self, key: &str, t: Timestamp, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            // Refused before a series is made for it.
            return Err(Error::new(ErrorKind::NotFinite {
                series: key.to_owned(),
                at_ms: t.as_millis(),
                value: v,
            }));
        }
        if !self.series.contains_key(key) && self.series.len() >= self.max_series {
            return Err(Error::new(ErrorKind::Cardinality {
                metric: key.to_owned(),
                limit: self.max_series,
            }));
        }
        let retention = self.retention;
        let s = self.series.entry(key.to_owned()).or_insert_with(|| Series::new(retention));
        s.record(t, v).map_err(|e| match e.kind() {
            ErrorKind::OutOfOrder { last_ms, got_ms, .. } => Error::new(ErrorKind::OutOfOrder {
                series: key.to_owned(),
                last_ms: *last_ms,
                got_ms: *got_ms,
            }),
            _ => e,
        })
    }

    /// Records a registry snapshot taken at `now`: counters and gauges, and
    /// each histogram's `_sum` and `_count` (not its buckets). Returns the
    /// errors of the samples it could not record (out of order, or a `NaN`
    /// or infinite gauge or sum, which is skipped).
    pub fn record_snapshot(&mut self, now: Timestamp, snapshot: &Snapshot) -> Vec<Error> {
        let mut errors = Vec::new();
        for s in snapshot
            .samples()
            .iter()
            .filter(|s| !(s.name.ends_with("_bucket") && s.labels.get("le").is_some()))
        {
            if let Err(e) = self.record(&s.key(), now, s.value) {
                errors.push(e);
            }
        }
        errors
    }

    /// One series.
    pub fn series(&self, key: &str) -> Option<&Series> {
        self.series.get(key)
    }

    /// The keys of every series, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn downsampling_buckets() {
        let mut s = Series::new(Retention { raw: 3, minutes: 2, hours: 2 });
        for (t, v) in [(0, 1.0), (30, 3.0), (60, 10.0), (119, 2.0), (120, 5.0)] {
            s.record(at(t), v).unwrap();
        }
        assert_eq!(s.raw().map(|p| p.1).collect::<Vec<_>>(), [10.0, 2.0, 5.0], "raw keeps 3");
        let m: Vec<&Bucket> = s.buckets(Resolution::Minute).collect();
        assert_eq!(m.len(), 2, "minutes keep 2");
        assert_eq!((m[0].start, m[0].count, m[0].min, m[0].max, m[0].mean()), (at(60), 2, 2.0, 10.0, 6.0));
        // 3 -> 10 (+7), 10 -> 2 (reset: +2)
        assert_eq!(m[0].increase, 9.0);
        let h: Vec<&Bucket> = s.buckets(Resolution::Hour).collect();
        assert_eq!((h.len(), h[0].count, h[0].sum), (1, 5, 21.0));
        let err = s.record(at(100), 1.0).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::OutOfOrder { last_ms: 120_000, got_ms: 100_000, .. }));
    }

    #[test]
    fn quantiles_interpolate() {
        let mut s = Series::new(Retention::default());
        for (i, v) in [5.0, 1.0, 4.0, 2.0, 3.0].into_iter().enumerate() {
            s.record(at(i as u64), v).unwrap();
        }
        let w = Duration::from_secs(60);
        for (q, want) in [(0.0, 1.0), (0.5, 3.0), (1.0, 5.0), (0.25, 2.0), (0.9, 4.6)] {
            let got = s.quantile(at(4), w, q).unwrap();
            assert!((got - want).abs() < 1e-12, "q={q}: {got}");
        }
        assert_eq!(s.mean(at(4), w), Some(3.0));
        assert_eq!(Series::new(Retention::default()).quantile(at(0), w, 0.5), None);
    }
}
