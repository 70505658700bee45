//! Alerting properties on virtual time: the evaluator, router and incident
//! log driven by random scrapes. No alert fires before its `for` duration; a
//! resolved alert stops notifying; a silenced or inhibited alert never notifies.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ao_health::{
    AlertState, Alerting, Cmp, Condition, Evaluator, InhibitRule, Labels, Matcher, Route, Router, Rule,
    Sample, Selector, Severity, Timestamp,
};
use proptest::prelude::*;

const PROCESSES: [&str; 2] = ["a", "b"];

fn samples(values: &[u8]) -> Vec<Sample> {
    PROCESSES
        .iter()
        .zip(values)
        .map(|(p, v)| Sample::new("mem", Labels::new().with("process", *p), f64::from(*v)))
        .collect()
}

fn mem_rule(severity: Severity, above: f64, for_s: u64, keep_s: u64) -> Rule {
    Rule::builder("MemHigh", Condition::threshold(Selector::new("mem"), Cmp::Gt, above))
        .severity(severity)
        .for_duration(Duration::from_secs(for_s))
        .keep_firing_for(Duration::from_secs(keep_s))
        .build()
        .unwrap()
}

/// A scrape: seconds since the previous one and a value per process.
fn scrapes() -> impl Strategy<Value = Vec<(u64, [u8; 2])>> {
    prop::collection::vec((1u64..40, [0u8..10, 0u8..10]), 1..60)
}

fn router(wait: u64, interval: u64, repeat: u64, inhibit: Vec<InhibitRule>) -> Router {
    let root = Route::to("ops")
        .group_by(&["alertname", "process"])
        .group_wait(Duration::from_secs(wait))
        .group_interval(Duration::from_secs(interval))
        .repeat_interval(Duration::from_secs(repeat));
    Router::new(root, inhibit).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Firing needs the condition to have held at every evaluation for at
    /// least `for`; and once it has, the alert is firing.
    #[test]
    fn no_alert_fires_before_its_for_duration(for_s in 0u64..120, keep_s in 0u64..60, steps in scrapes()) {
        let mut e = Evaluator::new(vec![mem_rule(Severity::Warning, 5.0, for_s, keep_s)]);
        let mut now = Timestamp::from_secs(10_000);
        // Per process: when the current streak of true evaluations began.
        let mut streak: BTreeMap<&str, Option<Timestamp>> = BTreeMap::new();
        let mut history: Vec<(Timestamp, [u8; 2])> = Vec::new();
        for (dt, values) in steps {
            now = now + Duration::from_secs(dt);
            history.push((now, values));
            for (i, p) in PROCESSES.iter().enumerate() {
                let s = streak.entry(p).or_default();
                if values[i] > 5 { s.get_or_insert(now); } else { *s = None; }
            }
            for t in e.evaluate(now, &samples(&values)) {
                if t.to != AlertState::Firing || t.from == AlertState::Firing { continue; }
                let p = t.alert.labels.get("process").unwrap();
                let i = PROCESSES.iter().position(|x| *x == p).unwrap();
                let since = t.alert.active_since;
                prop_assert!(now.saturating_since(since) >= Duration::from_secs(for_s),
                    "{p} fired at {now} though active only since {since}");
                for (at, v) in history.iter().filter(|(at, _)| *at >= since) {
                    prop_assert!(v[i] > 5, "{p} fired though false at {at}");
                }
            }
            let firing: BTreeSet<String> = e.alerts().iter()
                .filter(|a| a.state == AlertState::Firing)
                .map(|a| a.labels.get("process").unwrap().to_owned())
                .collect();
            for p in PROCESSES {
                if let Some(since) = streak[p] && now.saturating_since(since) >= Duration::from_secs(for_s) {
                    prop_assert!(firing.contains(p), "{p} true since {since} but not firing at {now}");
                }
            }
        }
    }

    /// Every notified firing alert is firing in the evaluator at that time; a
    /// resolved alert is notified once as resolved, only after it was notified
    /// firing, and not again until it fires anew.
    #[test]
    fn a_resolved_alert_stops_notifying(
        for_s in 0u64..60, keep_s in 0u64..30,
        wait in 0u64..30, interval in 1u64..60, repeat in 1u64..300,
        steps in scrapes(),
    ) {
        let e = Evaluator::new(vec![mem_rule(Severity::Warning, 5.0, for_s, keep_s)]);
        let mut alerting = Alerting::new(e, router(wait, interval, repeat, vec![]));
        let mut now = Timestamp::from_secs(10_000);
        // Per fingerprint: last notified as firing (true) or resolved (false).
        let mut told: BTreeMap<u64, bool> = BTreeMap::new();
        for (dt, values) in steps {
            now = now + Duration::from_secs(dt);
            let step = alerting.step(now, &samples(&values));
            for t in &step.transitions {
                // Firing anew after its resolution was told: it may be told again.
                if t.is_firing() && told.get(&t.alert.fingerprint()) == Some(&false) {
                    told.remove(&t.alert.fingerprint());
                }
            }
            let firing_now: BTreeSet<u64> = alerting.evaluator.alerts().iter()
                .filter(|a| a.state == AlertState::Firing).map(ao_health::Alert::fingerprint).collect();
            for n in &step.notifications {
                for a in &n.firing {
                    prop_assert!(firing_now.contains(&a.fingerprint()), "notified firing but not firing at {now}");
                    prop_assert!(told.get(&a.fingerprint()) != Some(&false), "notified again after its resolution");
                    told.insert(a.fingerprint(), true);
                }
                for a in &n.resolved {
                    prop_assert!(!firing_now.contains(&a.fingerprint()));
                    prop_assert_eq!(told.get(&a.fingerprint()), Some(&true), "resolved without having been firing");
                    told.insert(a.fingerprint(), false);
                }
            }
        }
        // The incident log agrees with the evaluator about what is open.
        let open: BTreeSet<u64> = alerting.incidents.open().map(|i| i.labels.fingerprint()).collect();
        let firing: BTreeSet<u64> = alerting.evaluator.alerts().iter()
            .filter(|a| a.state == AlertState::Firing).map(ao_health::Alert::fingerprint).collect();
        prop_assert_eq!(open, firing);
    }

    /// With a critical rule inhibiting the warning of the same process and
    /// random silences, no notification ever carries an alert that an
    /// independent model says is silenced or inhibited at that time.
    #[test]
    fn silenced_or_inhibited_alerts_never_notify(
        wait in 0u64..30, interval in 1u64..60, repeat in 1u64..300,
        silences in prop::collection::vec((0usize..2, 0u64..600, 1u64..600), 0..4),
        steps in scrapes(),
    ) {
        let rules = vec![mem_rule(Severity::Warning, 4.0, 0, 0), mem_rule(Severity::Critical, 7.0, 0, 0)];
        let inhibit = vec![InhibitRule::severity(Severity::Critical, Severity::Warning, &["alertname", "process"])];
        let mut alerting = Alerting::new(Evaluator::new(rules), router(wait, interval, repeat, inhibit));
        let start = Timestamp::from_secs(10_000);
        let mut windows = Vec::new();
        for (p, from, len) in silences {
            let (s, e) = (start + Duration::from_secs(from), start + Duration::from_secs(from + len));
            alerting.router.add_silence(vec![Matcher::eq("process", PROCESSES[p])], s, e, "test", "").unwrap();
            windows.push((PROCESSES[p], s, e));
        }
        let mut now = start;
        for (dt, values) in steps {
            now = now + Duration::from_secs(dt);
            let step = alerting.step(now, &samples(&values));
            let critical: BTreeSet<String> = alerting.evaluator.alerts().iter()
                .filter(|a| a.state == AlertState::Firing && a.severity == Severity::Critical)
                .map(|a| a.labels.get("process").unwrap().to_owned()).collect();
            for n in &step.notifications {
                for a in n.firing.iter().chain(&n.resolved) {
                    let p = a.labels.get("process").unwrap();
                    let silenced = windows.iter().any(|(sp, s, e)| *sp == p && *s <= now && now < *e);
                    prop_assert!(!silenced, "{p} notified at {now} inside a silence");
                    let inhibited = a.severity == Severity::Warning && critical.contains(p);
                    prop_assert!(!inhibited, "warning for {p} notified at {now} while its critical fires");
                }
            }
        }
    }
}

/// A silence over a process's whole life: nothing about it is ever sent, while
/// the other process, alerting the same way, is.
#[test]
fn a_process_silenced_for_its_whole_life_never_notifies() {
    let mut alerting = Alerting::new(
        Evaluator::new(vec![mem_rule(Severity::Warning, 5.0, 0, 0)]),
        router(0, 10, 30, vec![]),
    );
    let start = Timestamp::from_secs(0);
    alerting
        .router
        .add_silence(
            vec![Matcher::eq("process", "b")],
            start,
            Timestamp::from_secs(1_000_000),
            "ops",
            "maintenance",
        )
        .unwrap();
    let mut notified = Vec::new();
    for i in 0..200u64 {
        let v = if (i / 7) % 2 == 0 { 9 } else { 1 };
        let step = alerting.step(Timestamp::from_secs(i * 10), &samples(&[v, v]));
        notified.extend(step.notifications);
    }
    let processes: BTreeSet<&str> = notified
        .iter()
        .flat_map(|n| n.firing.iter().chain(&n.resolved))
        .map(|a| a.labels.get("process").unwrap())
        .collect();
    assert_eq!(processes, BTreeSet::from(["a"]));
    assert!(notified.len() > 20, "a alerted and resolved many times: {}", notified.len());
    // Incidents are opened for the silenced process too: silences mute notifications, not facts.
    assert!(alerting.incidents.all().any(|i| i.labels.get("process") == Some("b")));
}

/// Prometheus's alerting-rule state machine for one series, written out
/// independently of the evaluator: `for`, then `keep_firing_for` counted from
/// the first evaluation at which the condition no longer holds.
#[derive(Debug, Default)]
struct PromModel {
    active_at: Option<Timestamp>,
    firing: bool,
    keep_firing_since: Option<Timestamp>,
}

impl PromModel {
    /// The state after an evaluation at `now`: `None` inactive, `Some(firing)`.
    fn eval(&mut self, now: Timestamp, holds: bool, hold: Duration, keep: Duration) -> Option<bool> {
        if holds {
            self.keep_firing_since = None;
            let since = *self.active_at.get_or_insert(now);
            if !self.firing && now.saturating_since(since) >= hold {
                self.firing = true;
            }
            return Some(self.firing);
        }
        if self.firing && !keep.is_zero() {
            let since = *self.keep_firing_since.get_or_insert(now);
            if now.saturating_since(since) < keep {
                return Some(true);
            }
        }
        *self = Self::default();
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The evaluator's state for each process equals the Prometheus model's
    /// at every evaluation, and an alert kept firing through a gap emits no
    /// transition (so no new notification or incident) when the condition returns.
    #[test]
    fn keep_firing_for_as_prometheus(for_s in 0u64..60, keep_s in 0u64..90, steps in scrapes()) {
        let (hold, keep) = (Duration::from_secs(for_s), Duration::from_secs(keep_s));
        let mut e = Evaluator::new(vec![mem_rule(Severity::Warning, 5.0, for_s, keep_s)]);
        let mut models: [PromModel; 2] = Default::default();
        let mut now = Timestamp::from_secs(10_000);
        for (dt, values) in steps {
            now = now + Duration::from_secs(dt);
            let transitions = e.evaluate(now, &samples(&values));
            let alerts = e.alerts();
            for (i, p) in PROCESSES.iter().enumerate() {
                let was = models[i].firing;
                let want = models[i].eval(now, values[i] > 5, hold, keep);
                let got = alerts.iter().find(|a| a.labels.get("process") == Some(p)).map(|a| a.state == AlertState::Firing);
                prop_assert_eq!(got, want, "{} at {}", p, now);
                let mine: Vec<_> = transitions.iter().filter(|t| t.alert.labels.get("process") == Some(p)).collect();
                if was && want == Some(true) {
                    prop_assert!(mine.is_empty(), "{} kept firing but a transition was emitted at {}: {:?}", p, now, mine);
                }
                if was && want.is_none() {
                    prop_assert!(mine.len() == 1 && mine[0].is_resolved(), "{} should resolve at {}", p, now);
                }
            }
        }
    }
}

/// The condition clears and returns inside `keep_firing_for`: one incident,
/// no second firing notification; after it clears for good it resolves
/// `keep_firing_for` after the first false evaluation, on virtual time.
#[test]
fn keep_firing_for_bridges_a_gap_without_a_new_incident() {
    let rule = mem_rule(Severity::Critical, 5.0, 0, 60);
    // Long group and repeat intervals: any notification after the first is due to a change.
    let mut alerting = Alerting::new(Evaluator::new(vec![rule]), router(0, 3600, 36_000, vec![]));
    let t = Timestamp::from_secs;
    let high = [9u8, 0];
    let low = [0u8, 0];
    let first = alerting.step(t(0), &samples(&high));
    assert!(first.transitions[0].is_firing());
    assert_eq!(first.incidents.len(), 1);
    assert_eq!(first.notifications.len(), 1);
    let mut later = Vec::new();
    // Clear at 10 and 40, back at 50 (inside 10 + 60): still the same alert.
    for (at, v) in [(10, low), (40, low), (50, high), (60, high), (70, low), (120, low)] {
        let step = alerting.step(t(at), &samples(&v));
        assert!(step.transitions.is_empty(), "at {at}: {:?}", step.transitions);
        assert!(step.incidents.is_empty(), "at {at}");
        later.extend(step.notifications);
    }
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(alerting.evaluator.alerts()[0].state, AlertState::Firing);
    // Cleared since 70: resolves at the first evaluation at or after 130.
    let step = alerting.step(t(129), &samples(&low));
    assert!(step.transitions.is_empty());
    let step = alerting.step(t(130), &samples(&low));
    assert!(step.transitions[0].is_resolved());
    assert_eq!(step.transitions[0].alert.resolved_at, Some(t(130)));
    assert_eq!(alerting.incidents.all().count(), 1);
    assert!(alerting.incidents.open().next().is_none());
    assert_eq!(alerting.incidents.all().next().unwrap().time_to_resolve(), Some(Duration::from_secs(130)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An absence rule from the evaluator's first evaluation: a metric never
    /// seen is absent at once (as `absent_over_time` with no data), so the
    /// alert is pending from the start and fires at the first evaluation at
    /// least `for` later, never before; a metric seen for a while fires
    /// `window` after its last sample plus `for`.
    #[test]
    fn absence_fires_after_for_from_the_start(
        for_s in 0u64..300, window_s in 1u64..120,
        gaps in prop::collection::vec(1u64..40, 1..60),
        seen_for in 0usize..10,
    ) {
        let rule = Rule::builder("Gone", Condition::absent(Selector::new("up"), Duration::from_secs(window_s)))
            .for_duration(Duration::from_secs(for_s))
            .build()
            .unwrap();
        let mut e = Evaluator::new(vec![rule]);
        let start = Timestamp::from_secs(50_000);
        let mut now = start;
        let mut last_seen: Option<Timestamp> = None;
        // When the condition began to hold (the model).
        let mut absent_since: Option<Timestamp> = None;
        let up = [Sample::new("up", Labels::new(), 1.0)];
        for (i, gap) in gaps.iter().enumerate() {
            if i > 0 {
                now = now + Duration::from_secs(*gap);
            }
            let present = i < seen_for;
            if present {
                last_seen = Some(now);
            }
            let absent = last_seen.is_none_or(|t| now.saturating_since(t) >= Duration::from_secs(window_s));
            if absent { absent_since.get_or_insert(now); } else { absent_since = None; }
            let transitions = e.evaluate(now, if present { &up[..] } else { &[] });
            let firing = e.alerts().iter().any(|a| a.state == AlertState::Firing);
            let want = absent_since.is_some_and(|s| now.saturating_since(s) >= Duration::from_secs(for_s));
            prop_assert_eq!(firing, want, "at +{}s", now.saturating_since(start).as_secs());
            if seen_for == 0 {
                // Never seen: pending (or firing, with for = 0) from the very first evaluation.
                prop_assert!(!e.alerts().is_empty());
                if i == 0 {
                    prop_assert_eq!(transitions.len(), 1);
                }
            }
        }
    }
}
