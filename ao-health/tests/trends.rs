//! Trends against synthetic series whose answers are known.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here

use std::time::Duration;

use ao_health::{
    Buckets, Crossing, ErrorKind, Forecast, Method, Registry, Resolution, Retention, Series, Timestamp,
    TrendStore, forecast,
};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000; // seconds; a minute and an hour boundary

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs(T0 + s)
}

fn series(points: impl IntoIterator<Item = (u64, f64)>) -> Vec<(Timestamp, f64)> {
    points.into_iter().map(|(t, v)| (at(t), v)).collect()
}

/// Deterministic noise in [-1, 1].
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn eta_secs(f: Forecast) -> f64 {
    match f {
        Forecast::In(d) => d.as_secs_f64(),
        other => panic!("expected a crossing, got {other:?}"),
    }
}

const HOLT: Method = Method::Holt { alpha: 0.5, beta: 0.5 };

#[test]
fn straight_lines_cross_exactly_when_expected() {
    // 5 + 2t every 10 s up to t = 600 (1205): reaches 2005 after 400 s more.
    let rising = series((0..=60).map(|i| (i * 10, 5.0 + 2.0 * (i * 10) as f64)));
    // 1000 - 0.5t: from 700 at t = 600 down to 100 takes 1200 s.
    let falling = series((0..=60).map(|i| (i * 10, 1000.0 - 0.5 * (i * 10) as f64)));
    for method in [Method::Linear, HOLT] {
        assert!(
            (eta_secs(forecast(&rising, Crossing::Above(2005.0), method)) - 400.0).abs() < 1e-6,
            "{method:?}"
        );
        assert!(
            (eta_secs(forecast(&falling, Crossing::Below(100.0), method)) - 1200.0).abs() < 1e-6,
            "{method:?}"
        );
        assert_eq!(forecast(&rising, Crossing::Below(0.0), method), Forecast::Never, "heads away");
        assert_eq!(forecast(&rising, Crossing::Above(1000.0), method), Forecast::Reached);
    }
    let flat = series((0..10).map(|i| (i, 3.0)));
    assert_eq!(forecast(&flat, Crossing::Above(4.0), Method::Linear), Forecast::Never);
    assert_eq!(forecast(&flat[..1], Crossing::Above(4.0), Method::Linear), Forecast::Insufficient);
    let same_time = vec![(at(5), 1.0), (at(5), 2.0)];
    assert_eq!(forecast(&same_time, Crossing::Above(4.0), HOLT), Forecast::Insufficient);
}

#[test]
fn noise_moves_the_linear_estimate_little() {
    let noisy = series((0..=60).map(|i| (i * 10, 5.0 + 2.0 * (i * 10) as f64 + 3.0 * noise(i))));
    let eta = eta_secs(forecast(&noisy, Crossing::Above(2005.0), Method::Linear));
    assert!((eta - 400.0).abs() / 400.0 < 0.02, "{eta}");
}

#[test]
fn holt_follows_a_change_of_trend_that_a_line_averages_away() {
    // Slope 1 up to t = 300, then 3: at t = 600 the value is 1200; at slope 3,
    // 2100 is 300 s away.
    let v = |t: u64| if t <= 300 { t as f64 } else { 300.0 + 3.0 * (t - 300) as f64 };
    let bent = series((0..=60).map(|i| (i * 10, v(i * 10))));
    let holt = eta_secs(forecast(&bent, Crossing::Above(2100.0), HOLT));
    let line = eta_secs(forecast(&bent, Crossing::Above(2100.0), Method::Linear));
    assert!((holt - 300.0).abs() / 300.0 < 0.05, "holt {holt}");
    assert!((line - 300.0).abs() / 300.0 > 0.2, "the line lags: {line}");
}

#[test]
fn forecasts_from_downsampled_history() {
    // Disk use growing 1 GiB an hour, sampled each minute for two days. A 36 h
    // window is older than the raw and minute tiers, so hour buckets answer.
    let gib = 1024.0 * 1024.0 * 1024.0;
    let mut s = Series::new(Retention::default());
    for m in 0..=(48 * 60) {
        s.record(at(m * 60), 100.0 * gib + (m as f64 / 60.0) * gib).unwrap();
    }
    let now = at(48 * 3600);
    let window = Duration::from_secs(36 * 3600);
    assert_eq!(s.resolution_for(now, window), Resolution::Hour);
    assert_eq!(s.resolution_for(now, Duration::from_secs(3600)), Resolution::Raw);
    assert_eq!(s.resolution_for(now, Duration::from_secs(20 * 3600)), Resolution::Minute);
    // From 148 GiB at the last sample, 200 GiB is 52 h away.
    let eta = eta_secs(s.forecast(now, window, Crossing::Above(200.0 * gib), Method::Linear));
    assert!((eta / 3600.0 - 52.0).abs() < 0.6, "{} h", eta / 3600.0);
    let (res, points) = s.window(now, window);
    assert_eq!(res, Resolution::Hour);
    assert_eq!(points.len(), 37, "36 h of hour buckets, the current one included");
    // The minute tier keeps a day: 1440 buckets.
    assert_eq!(s.buckets(Resolution::Minute).count(), 1440);
    assert_eq!(s.raw().count(), 720);
}

#[test]
fn rate_mean_and_quantiles_at_each_resolution() {
    let mut s = Series::new(Retention::default());
    // A counter at 2/s, sampled every 10 s for a day.
    for i in 0..=8640u64 {
        s.record(at(i * 10), 2.0 * (i * 10) as f64).unwrap();
    }
    let now = at(86_400);
    let raw = s.rate(now, Duration::from_secs(300)).unwrap();
    assert!((raw - 2.0).abs() < 1e-12, "{raw}");
    let minutes = s.rate(now, Duration::from_secs(18 * 3600)).unwrap();
    assert_eq!(s.resolution_for(now, Duration::from_secs(18 * 3600)), Resolution::Minute);
    assert!((minutes - 2.0).abs() / 2.0 < 0.005, "{minutes}");

    // A counter reset counts the value after it as the increase.
    let mut c = Series::new(Retention::default());
    for (t, v) in [(0, 0.0), (10, 100.0), (20, 5.0), (30, 25.0)] {
        c.record(at(t), v).unwrap();
    }
    assert_eq!(c.rate(at(30), Duration::from_secs(60)), Some((100.0 + 5.0 + 20.0) / 30.0));

    // Values 1..=100: mean 50.5, median 50.5, p99 99.01 (interpolated ranks).
    let mut g = Series::new(Retention::default());
    for v in 1..=100u64 {
        g.record(at(v), v as f64).unwrap();
    }
    let w = Duration::from_secs(1000);
    assert_eq!(g.mean(at(100), w), Some(50.5));
    assert_eq!(g.quantile(at(100), w, 0.5), Some(50.5));
    assert!((g.quantile(at(100), w, 0.99).unwrap() - 99.01).abs() < 1e-9);
    assert_eq!(g.quantile(at(100), w, 0.0), Some(1.0));
    // Only the last 10 s: 91..=100.
    assert_eq!(g.mean(at(100), Duration::from_secs(10)), Some(95.5));
}

#[test]
fn the_store_files_registry_snapshots() {
    let registry = Registry::new();
    let msgs = registry.counter_family("ao_messages", "Messages.", &["process"]).unwrap().with(&["p"]);
    let mem = registry.gauge("ao_lua_memory_bytes", "Memory.").unwrap();
    let tick = registry.histogram("ao_tick_seconds", "Tick.", &Buckets::default_seconds()).unwrap();
    let mut store = TrendStore::new(Retention::default(), 4);
    for i in 0..10u64 {
        msgs.inc_by(5);
        mem.set(1000.0 + i as f64);
        tick.observe(0.01);
        assert!(store.record_snapshot(at(i * 10), &registry.snapshot()).is_empty());
    }
    let keys: Vec<&str> = store.keys().collect();
    assert_eq!(
        keys,
        [
            "ao_lua_memory_bytes",
            "ao_messages_total{process=\"p\"}",
            "ao_tick_seconds_count",
            "ao_tick_seconds_sum"
        ]
    );
    let rate =
        store.series("ao_messages_total{process=\"p\"}").unwrap().rate(at(90), Duration::from_secs(120));
    assert_eq!(rate, Some(0.5));
    // A fifth series is over the limit; an old sample is refused with its series named.
    let err = store.record("new", at(100), 1.0).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Cardinality { limit: 4, .. }));
    let err = store.record("ao_lua_memory_bytes", at(5), 1.0).unwrap_err();
    assert!(err.to_string().starts_with("ao_lua_memory_bytes: sample at"), "{err}");
}

/// A counter at 2/s for only ten minutes, asked for its rate over an hour
/// that the raw tier cannot answer: the minute buckets give 2/s, the rate
/// over the ten minutes the samples cover, not 2/s × 10 min / 60 min.
#[test]
fn rate_is_over_the_span_the_samples_cover() {
    let mut s = Series::new(Retention { raw: 5, minutes: 1440, hours: 720 });
    for i in 0..=60u64 {
        s.record(at(i * 10), 1000.0 + 2.0 * (i * 10) as f64).unwrap();
    }
    let now = at(600);
    let hour = Duration::from_secs(3600);
    assert_eq!(s.resolution_for(now, hour), Resolution::Minute, "raw keeps 50 s; minutes reach back");
    let r = s.rate(now, hour).unwrap();
    assert!((r - 2.0).abs() < 1e-9, "{r}");
    // The same at the hour tier, and with a gap: 2/s for 10 min, no samples
    // for 20 min, then 2/s again from where it left off for 10 min: the
    // increase over the 40 min from the first sample to the last.
    let mut gap = Series::new(Retention { raw: 5, minutes: 5, hours: 720 });
    let mut v = 0.0;
    for i in 0..=240u64 {
        let t = i * 10;
        if (600..1800).contains(&t) {
            continue;
        }
        if t > 0 && t != 1800 {
            v += 20.0;
        }
        gap.record(at(t), v).unwrap();
    }
    let now = at(2400);
    assert_eq!(gap.resolution_for(now, Duration::from_secs(7200)), Resolution::Hour);
    let r = gap.rate(now, Duration::from_secs(7200)).unwrap();
    // v rose from 0 at t = 0 to its last value at t = 2400.
    assert!((r - v / 2400.0).abs() < 1e-9, "{r}");
    // One sample has no rate at any resolution.
    let mut one = Series::new(Retention { raw: 1, minutes: 1, hours: 1 });
    one.record(at(0), 5.0).unwrap();
    assert_eq!(one.rate(at(0), hour), None);
}

#[test]
fn non_finite_samples_are_refused_and_leave_the_series_alone() {
    let mut s = Series::new(Retention::default());
    s.record(at(0), 1.0).unwrap();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = s.record(at(5), v).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::NotFinite { at_ms, .. } if *at_ms == (T0 + 5) * 1000), "{e}");
    }
    assert_eq!(s.raw().count(), 1);
    assert_eq!(s.last(), Some((at(0), 1.0)));
    let mut store = TrendStore::new(Retention::default(), 4);
    let e = store.record("g{a=\"b\"}", at(0), f64::NAN).unwrap_err();
    assert!(e.to_string().starts_with("g{a=\"b\"}: sample at"), "{e}");
    // A histogram whose sum went infinite: its _sum is skipped and reported, the rest kept.
    let registry = Registry::new();
    registry.histogram("h", "H.", &Buckets::default_seconds()).unwrap().observe(f64::INFINITY);
    let errors = store.record_snapshot(at(1), &registry.snapshot());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(store.series("h_count").is_some() && store.series("h_sum").is_none());
}

/// Any finite value, NaN and infinities included.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e6,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::MAX),
        1 => Just(-f64::MAX),
        1 => any::<f64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever is recorded, nothing panics and no statistic is NaN: non-finite
    /// values are refused, means and quantiles stay within the recorded range.
    #[test]
    fn statistics_are_never_nan(
        steps in prop::collection::vec((0u64..400, any_value()), 1..200),
        window in 1u64..100_000,
        q in any::<f64>(),
        raw in 1usize..50, minutes in 1usize..50,
    ) {
        let mut s = Series::new(Retention { raw, minutes, hours: 50 });
        let mut t = 0;
        let mut kept = Vec::new();
        for (dt, v) in steps {
            t += dt;
            match s.record(at(t), v) {
                Ok(()) => kept.push(v),
                Err(e) => {
                    let refused = matches!(e.kind(), ErrorKind::NotFinite { .. });
                    prop_assert!(!v.is_finite() && refused, "{}", e);
                }
            }
        }
        let now = at(t);
        let w = Duration::from_secs(window);
        let (lo, hi) = kept.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        if let Some(m) = s.mean(now, w) {
            prop_assert!(m >= lo && m <= hi, "mean {} outside [{}, {}]", m, lo, hi);
        }
        for q in [q, 0.0, 0.5, 1.0] {
            if let Some(v) = s.quantile(now, w, q) {
                prop_assert!(v >= lo && v <= hi, "q{} = {} outside [{}, {}]", q, v, lo, hi);
            }
        }
        if let Some(r) = s.rate(now, w) {
            prop_assert!(!r.is_nan() && r >= 0.0, "rate {}", r);
        }
        for method in [Method::Linear, HOLT] {
            for c in [Crossing::Above(hi), Crossing::Below(lo), Crossing::Above(0.0)] {
                // Returns an answer (no panic from a NaN duration).
                let _ = s.forecast(now, w, c, method);
            }
        }
    }

    /// `forecast` on arbitrary points, NaN among them, never panics.
    #[test]
    fn forecast_takes_any_points(points in prop::collection::vec((0u64..1000, any_value()), 0..30), threshold in any_value()) {
        let mut points: Vec<(Timestamp, f64)> = points.into_iter().map(|(t, v)| (at(t), v)).collect();
        points.sort_by_key(|p| p.0);
        for method in [Method::Linear, HOLT, Method::Holt { alpha: f64::NAN, beta: -1.0 }] {
            for c in [Crossing::Above(threshold), Crossing::Below(threshold)] {
                if let Forecast::In(d) = forecast(&points, c, method) {
                    prop_assert!(d.as_secs_f64() <= 1e15);
                }
            }
        }
    }
}
