//! Alert rules and their sans-IO evaluator: samples and `now` in, state changes out.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::labels::{Labels, MatchOp, Matcher, check_label_name, check_metric_name};
use crate::registry::Sample;
use crate::time::{Timestamp, prometheus_duration};

/// How urgent an alert is; also its `severity` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For the record.
    Info,
    /// Someone should look soon.
    Warning,
    /// Page someone now.
    Critical,
}

impl Severity {
    /// `info`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// A comparison of a value with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    /// Whether `value <op> threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Gt => value > threshold,
            Self::Ge => value >= threshold,
            Self::Lt => value < threshold,
            Self::Le => value <= threshold,
            #[allow(clippy::float_cmp)]
            Self::Eq => value == threshold,
            #[allow(clippy::float_cmp)]
            Self::Ne => value != threshold,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }
}

/// A metric name and label matchers, as in `PromQL`: `ao_messages_total{process="p"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    /// The sample name (`ao_message_errors_total`, `ao_lua_memory_bytes`).
    pub metric: String,
    /// Label matchers.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Every series of `metric`.
    pub fn new(metric: impl Into<String>) -> Self {
        Self { metric: metric.into(), matchers: Vec::new() }
    }

    /// Adds a matcher.
    #[must_use]
    pub fn matcher(mut self, m: Matcher) -> Self {
        self.matchers.push(m);
        self
    }

    /// Whether a sample belongs to this selector.
    pub fn selects(&self, sample: &Sample) -> bool {
        sample.name == self.metric && self.matchers.iter().all(|m| m.matches(&sample.labels))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if !self.matchers.is_empty() {
            f.write_str("{")?;
            for (i, m) in self.matchers.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{m}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// When a rule's alert is active.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A series' value compared with a threshold: `selector > value`.
    Threshold {
        /// The series.
        selector: Selector,
        /// The comparison.
        cmp: Cmp,
        /// The threshold.
        value: f64,
    },
    /// A counter's per-second rate over a window compared with a threshold:
    /// `rate(selector[window]) > value`. Counter resets are handled as
    /// Prometheus does; the rate needs two samples in the window, and is the
    /// increase between the first and the last over the time between them.
    /// However long the window and however frequent the evaluations, the
    /// evaluator's bounded history covers the whole window: it keeps at most
    /// about 3600 points per series, at least `window / 3600` apart, with
    /// resets folded in so thinning loses no increase.
    Rate {
        /// The counter series.
        selector: Selector,
        /// The window.
        window: Duration,
        /// The comparison.
        cmp: Cmp,
        /// The threshold, per second.
        value: f64,
    },
    /// No sample of the selector within the window: `absent_over_time(selector[window])`.
    /// The alert's labels are the selector's equality matchers. A metric the
    /// evaluator has never seen is absent from its first evaluation (as
    /// `absent_over_time` over no data), so with `for` the alert fires at the
    /// first evaluation at least `for` after the evaluator started, not before.
    Absent {
        /// The series that should exist.
        selector: Selector,
        /// How long without a sample counts as absent.
        window: Duration,
    },
}

impl Condition {
    /// `selector <cmp> value`.
    pub fn threshold(selector: Selector, cmp: Cmp, value: f64) -> Self {
        Self::Threshold { selector, cmp, value }
    }

    /// `rate(selector[window]) <cmp> value`.
    pub fn rate(selector: Selector, window: Duration, cmp: Cmp, value: f64) -> Self {
        Self::Rate { selector, window, cmp, value }
    }

    /// `absent_over_time(selector[window])`.
    pub fn absent(selector: Selector, window: Duration) -> Self {
        Self::Absent { selector, window }
    }

    fn selector(&self) -> &Selector {
        match self {
            Self::Threshold { selector, .. }
            | Self::Rate { selector, .. }
            | Self::Absent { selector, .. } => selector,
        }
    }

    /// The condition as a `PromQL` expression.
    pub fn expr(&self) -> String {
        match self {
            Self::Threshold { selector, cmp, value } => format!("{selector} {} {value}", cmp.as_str()),
            Self::Rate { selector, window, cmp, value } => {
                format!("rate({selector}[{}]) {} {value}", prometheus_duration(*window), cmp.as_str())
            }
            Self::Absent { selector, window } => {
                format!("absent_over_time({selector}[{}])", prometheus_duration(*window))
            }
        }
    }
}

/// An alert rule: a condition, how long it must hold, and what the alert carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    name: String,
    condition: Condition,
    for_duration: Duration,
    keep_firing_for: Duration,
    severity: Severity,
    labels: Labels,
    annotations: BTreeMap<String, String>,
}

impl Rule {
    /// Starts a rule named `name` (its `alertname`).
    pub fn builder(name: impl Into<String>, condition: Condition) -> RuleBuilder {
        RuleBuilder {
            rule: Rule {
                name: name.into(),
                condition,
                for_duration: Duration::ZERO,
                keep_firing_for: Duration::ZERO,
                severity: Severity::Warning,
                labels: Labels::new(),
                annotations: BTreeMap::new(),
            },
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The condition.
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// How long the condition must hold before the alert fires.
    pub fn for_duration(&self) -> Duration {
        self.for_duration
    }

    /// How long the alert keeps firing after the condition clears, counted
    /// from the first evaluation at which it no longer holds.
    pub fn keep_firing_for(&self) -> Duration {
        self.keep_firing_for
    }

    /// The severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Extra labels put on the alert (`severity` included).
    pub fn labels(&self) -> Labels {
        self.labels.clone().with("severity", self.severity.as_str())
    }

    /// Annotation templates (`{{ $labels.process }}` and `{{ $value }}` are expanded).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The condition as a `PromQL` expression.
    pub fn expr(&self) -> String {
        self.condition.expr()
    }
}

/// Builds a [`Rule`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
#[must_use]
pub struct RuleBuilder {
    rule: Rule,
}

impl RuleBuilder {
    /// The condition must hold this long (at every evaluation) before the alert fires.
    pub fn for_duration(mut self, d: Duration) -> Self {
        self.rule.for_duration = d;
        self
    }

    /// A firing alert keeps firing this long after its condition clears, as
    /// Prometheus's `keep_firing_for`: counted from the first evaluation at
    /// which the condition no longer holds, it resolves at the first
    /// evaluation at least `d` after that. If the condition holds again
    /// before then, the alert simply goes on firing (no new transition,
    /// so no new notification or incident), and a later clear starts a new
    /// `d`. A pending alert is not kept: it goes back to inactive at once.
    pub fn keep_firing_for(mut self, d: Duration) -> Self {
        self.rule.keep_firing_for = d;
        self
    }

    /// The severity (default warning).
    pub fn severity(mut self, s: Severity) -> Self {
        self.rule.severity = s;
        self
    }

    /// A label put on the alert.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.rule.labels.insert(name, value);
        self
    }

    /// An annotation (`summary`, `description`, `runbook_url`, ...).
    pub fn annotation(mut self, name: impl Into<String>, template: impl Into<String>) -> Self {
        self.rule.annotations.insert(name.into(), template.into());
        self
    }

    /// Checks the rule: a valid alert name, metric and label names, finite
    /// thresholds, windows of at least one millisecond, and no `severity`
    /// label given apart from the severity.
    pub fn build(self) -> Result<Rule, Error> {
        let r = self.rule;
        let name = r.name.clone();
        check_metric_name(&r.name).map_err(|e| Error::rule(&name, format!("alert name: {e}")))?;
        let sel = r.condition.selector();
        check_metric_name(&sel.metric).map_err(|e| Error::rule(&name, e.to_string()))?;
        for m in &sel.matchers {
            check_label_name(&name, &m.name)?;
        }
        match &r.condition {
            Condition::Threshold { value, .. } | Condition::Rate { value, .. } if !value.is_finite() => {
                return Err(Error::rule(&name, "the threshold is not finite"));
            }
            Condition::Rate { window, .. } | Condition::Absent { window, .. } if window.as_millis() == 0 => {
                return Err(Error::rule(&name, "the window is shorter than 1 ms"));
            }
            _ => {}
        }
        for (l, _) in r.labels.iter() {
            check_label_name(&name, l)?;
            if l == "severity" || l == "alertname" {
                return Err(Error::rule(&name, format!("label {l:?} is set by the rule itself")));
            }
        }
        for k in r.annotations.keys() {
            check_label_name(&name, k)?;
        }
        Ok(r)
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Not active (never was, cleared while pending, or resolved).
    Inactive,
    /// Active, waiting out its `for` duration.
    Pending,
    /// Firing.
    Firing,
}

/// One alert: a rule applied to one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its labels: the series' labels, the rule's labels, `alertname` and `severity`.
    pub labels: Labels,
    /// Annotations, expanded.
    pub annotations: BTreeMap<String, String>,
    /// The severity.
    pub severity: Severity,
    /// Its state.
    pub state: AlertState,
    /// The value that made it active (the rate for rate rules, 1 for absence).
    pub value: f64,
    /// When the condition began to hold.
    pub active_since: Timestamp,
    /// When it fired.
    pub fired_at: Option<Timestamp>,
    /// When it resolved.
    pub resolved_at: Option<Timestamp>,
}

impl Alert {
    /// Its `alertname`.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").unwrap_or("")
    }

    /// A stable identity: the fingerprint of its labels.
    pub fn fingerprint(&self) -> u64 {
        self.labels.fingerprint()
    }
}

/// A change of an alert's state at an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The alert after the change.
    pub alert: Alert,
    /// The state before.
    pub from: AlertState,
    /// The state after.
    pub to: AlertState,
    /// When (the evaluation's `now`).
    pub at: Timestamp,
}

impl Transition {
    /// The alert started firing.
    pub fn is_firing(&self) -> bool {
        self.to == AlertState::Firing && self.from != AlertState::Firing
    }

    /// The alert was firing and resolved.
    pub fn is_resolved(&self) -> bool {
        self.from == AlertState::Firing && self.to == AlertState::Inactive
    }
}

#[derive(Debug, Clone)]
struct Active {
    series: Labels,
    since: Timestamp,
    /// A firing alert whose condition no longer holds: the first evaluation
    /// at which it did not (Prometheus's `KeepFiringSince`).
    cleared_at: Option<Timestamp>,
    fired_at: Option<Timestamp>,
    value: f64,
}

/// A rate rule's history of one series: bounded, and covering its window.
#[derive(Debug, Clone, Default)]
struct RateHistory {
    /// `(time, count)` oldest first, where the count has every reset before
    /// it folded in, so it never decreases and any two points give the increase between them.
    points: VecDeque<(Timestamp, f64)>,
    /// The last raw value seen, to detect resets.
    last_raw: f64,
}

impl RateHistory {
    /// Adds a sample at `now`, keeping points at least `window / MAX_RATE_POINTS`
    /// apart, the newest sample always last.
    fn push(&mut self, now: Timestamp, v: f64, window: Duration) {
        if !v.is_finite() || self.points.back().is_some_and(|(t, _)| *t >= now) {
            return;
        }
        let count = match self.points.back() {
            None => v,
            Some((_, c)) if v >= self.last_raw => c + (v - self.last_raw),
            Some((_, c)) => c + v.max(0.0),
        };
        self.last_raw = v;
        let spacing = window / MAX_RATE_POINTS as u32;
        let n = self.points.len();
        // The last point is provisional until it is `spacing` after the one before it.
        if n >= 2 && self.points[n - 1].0.saturating_since(self.points[n - 2].0) < spacing {
            self.points[n - 1] = (now, count);
        } else {
            self.points.push_back((now, count));
        }
        // Never reached while the spacing holds; a bound on memory regardless.
        while self.points.len() > 2 * MAX_RATE_POINTS {
            self.points.pop_front();
        }
    }

    /// Drops points older than `from`.
    fn trim(&mut self, from: Timestamp) {
        while self.points.front().is_some_and(|(t, _)| *t < from) {
            self.points.pop_front();
        }
    }

    /// Per-second increase from the first point to the last.
    fn rate(&self) -> Option<f64> {
        let (first, last) = (self.points.front()?, self.points.back()?);
        let secs = last.0.saturating_since(first.0).as_secs_f64();
        (secs > 0.0).then(|| (last.1 - first.1) / secs)
    }
}

#[derive(Debug, Clone)]
struct RuleState {
    rule: Rule,
    /// Rate rules: each series' history.
    history: BTreeMap<Labels, RateHistory>,
    /// Absence rules: the last time a matching sample was seen.
    last_seen: Option<Timestamp>,
    alerts: BTreeMap<Labels, Active>,
}

/// Points a rate rule keeps per series over its window (a 1 h window at 1 s
/// scrapes unthinned); longer windows or faster evaluations are thinned.
const MAX_RATE_POINTS: usize = 3600;

/// Evaluates rules against samples: state + (`now`, samples) → transitions.
///
/// No clock, no IO. Call [`evaluate`](Self::evaluate) at each scrape with
/// that scrape's samples; the `for` duration is checked at evaluations, as
/// Prometheus does, so an alert fires at the first evaluation at least `for`
/// after its condition began to hold, and only if it held at every
/// evaluation in between.
#[derive(Debug, Clone)]
pub struct Evaluator {
    rules: Vec<RuleState>,
}

impl Evaluator {
    /// An evaluator of these rules.
    pub fn new(rules: Vec<Rule>) -> Self {
        let rules = rules
            .into_iter()
            .map(|rule| RuleState {
                rule,
                history: BTreeMap::new(),
                last_seen: None,
                alerts: BTreeMap::new(),
            })
            .collect();
        Self { rules }
    }

    /// The rules.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|r| &r.rule)
    }

    /// Evaluates every rule at `now` against `samples` (one scrape) and returns what changed.
    #[must_use = "transitions are what the router and incident log consume"]
    pub fn evaluate(&mut self, now: Timestamp, samples: &[Sample]) -> Vec<Transition> {
        let mut out = Vec::new();
        for state in &mut self.rules {
            let active = state.active_series(now, samples);
            state.advance(now, active, &mut out);
        }
        out
    }

    /// Alerts now pending or firing.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut v = Vec::new();
        for s in &self.rules {
            for (labels, a) in &s.alerts {
                v.push(s.alert(
                    labels,
                    a,
                    if a.fired_at.is_some() { AlertState::Firing } else { AlertState::Pending },
                ));
            }
        }
        v
    }
}

impl RuleState {
    /// The series for which the condition holds now, with their values.
    fn active_series(&mut self, now: Timestamp, samples: &[Sample]) -> Vec<(Labels, f64)> {
        let rule = &self.rule;
        match &rule.condition {
            Condition::Threshold { selector, cmp, value } => samples
                .iter()
                .filter(|s| selector.selects(s) && cmp.holds(s.value, *value))
                .map(|s| (s.labels.clone(), s.value))
                .collect(),
            Condition::Rate { selector, window, cmp, value } => {
                for s in samples.iter().filter(|s| selector.selects(s)) {
                    self.history.entry(s.labels.clone()).or_default().push(now, s.value, *window);
                }
                let from = now.saturating_sub(*window);
                let mut out = Vec::new();
                self.history.retain(|labels, h| {
                    h.trim(from);
                    if let Some(r) = h.rate()
                        && cmp.holds(r, *value)
                    {
                        out.push((labels.clone(), r));
                    }
                    !h.points.is_empty()
                });
                out
            }
            Condition::Absent { selector, window } => {
                if samples.iter().any(|s| selector.selects(s)) {
                    self.last_seen = Some(now);
                }
                let absent = self.last_seen.is_none_or(|t| now.saturating_since(t) >= *window);
                if absent {
                    let labels = selector
                        .matchers
                        .iter()
                        .filter(|m| m.op == MatchOp::Equal)
                        .map(|m| (m.name.clone(), m.value.clone()))
                        .collect();
                    vec![(labels, 1.0)]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn alert_labels(&self, series: &Labels) -> Labels {
        let mut l = series.clone();
        l.extend(&self.rule.labels());
        l.insert("alertname", self.rule.name.clone());
        l
    }

    fn alert(&self, labels: &Labels, a: &Active, state: AlertState) -> Alert {
        let annotations =
            self.rule.annotations.iter().map(|(k, v)| (k.clone(), expand(v, &a.series, a.value))).collect();
        Alert {
            labels: labels.clone(),
            annotations,
            severity: self.rule.severity,
            state,
            value: a.value,
            active_since: a.since,
            fired_at: a.fired_at,
            resolved_at: None,
        }
    }

    fn advance(&mut self, now: Timestamp, active: Vec<(Labels, f64)>, out: &mut Vec<Transition>) {
        let mut seen = std::collections::BTreeSet::new();
        for (series, value) in active {
            let labels = self.alert_labels(&series);
            seen.insert(labels.clone());
            let for_duration = self.rule.for_duration;
            let entry = self.alerts.entry(labels.clone());
            let (from, a) = match entry {
                std::collections::btree_map::Entry::Vacant(v) => {
                    let a = v.insert(Active { series, since: now, cleared_at: None, fired_at: None, value });
                    (AlertState::Inactive, a.clone())
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let a = o.get_mut();
                    // Back within `keep_firing_for`: the same alert goes on firing.
                    a.cleared_at = None;
                    a.value = value;
                    a.series = series;
                    let from = if a.fired_at.is_some() { AlertState::Firing } else { AlertState::Pending };
                    (from, a.clone())
                }
            };
            let mut a = a;
            let to = if a.fired_at.is_some() || now.saturating_since(a.since) >= for_duration {
                if a.fired_at.is_none() {
                    a.fired_at = Some(now);
                    if let Some(stored) = self.alerts.get_mut(&labels) {
                        stored.fired_at = Some(now);
                    }
                }
                AlertState::Firing
            } else {
                AlertState::Pending
            };
            if from != to {
                out.push(Transition { alert: self.alert(&labels, &a, to), from, to, at: now });
            }
        }
        let keep = self.rule.keep_firing_for;
        let gone: Vec<Labels> = self.alerts.keys().filter(|l| !seen.contains(*l)).cloned().collect();
        for labels in gone {
            let Some(stored) = self.alerts.get_mut(&labels) else { continue };
            if stored.fired_at.is_some() && !keep.is_zero() {
                let cleared = *stored.cleared_at.get_or_insert(now);
                if now.saturating_since(cleared) < keep {
                    continue; // keep_firing_for: still firing, counted from the first false evaluation
                }
            }
            let a = stored.clone();
            self.alerts.remove(&labels);
            let from = if a.fired_at.is_some() { AlertState::Firing } else { AlertState::Pending };
            let mut alert = self.alert(&labels, &a, AlertState::Inactive);
            if from == AlertState::Firing {
                alert.resolved_at = Some(now);
            }
            out.push(Transition { alert, from, to: AlertState::Inactive, at: now });
        }
    }
}

/// Expands `{{ $value }}` and `{{ $labels.NAME }}` (spaces optional); other text stays as written.
pub(crate) fn expand(template: &str, labels: &Labels, value: f64) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = after[..close].trim();
        if inner == "$value" {
            out.push_str(&value.to_string());
        } else if let Some(name) = inner.strip_prefix("$labels.") {
            out.push_str(labels.get(name).unwrap_or(""));
        } else {
            out.push_str(&rest[open..open + 2 + close + 2]);
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    fn s(name: &str, labels: &[(&str, &str)], v: f64) -> Sample {
        Sample::new(name, labels.iter().copied().collect(), v)
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    #[test]
    fn expand_templates() {
        let l = Labels::new().with("process", "arena");
        for (t, want) in [
            ("{{ $labels.process }} at {{$value}}/s", "arena at 2.5/s"),
            ("{{ $labels.missing }}!", "!"),
            ("{{ .Other }} and {{ unclosed", "{{ .Other }} and {{ unclosed"),
            ("no templates", "no templates"),
        ] {
            assert_eq!(expand(t, &l, 2.5), want, "{t}");
        }
    }

    #[test]
    fn threshold_with_for_and_keep_firing_for() {
        use AlertState::*;
        let rule = Rule::builder("MemoryHigh", Condition::threshold(Selector::new("mem"), Cmp::Gt, 100.0))
            .for_duration(Duration::from_secs(20))
            .keep_firing_for(Duration::from_secs(15))
            .severity(Severity::Critical)
            .label("team", "game")
            .annotation("summary", "{{ $labels.process }} uses {{ $value }}")
            .build()
            .unwrap();
        let mut e = Evaluator::new(vec![rule]);
        let p = [("process", "a")];
        let states = |ts: &[Transition]| ts.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>();
        assert_eq!(states(&e.evaluate(at(0), &[s("mem", &p, 150.0)])), [(Inactive, Pending)]);
        assert!(e.evaluate(at(10), &[s("mem", &p, 150.0)]).is_empty());
        let fired = e.evaluate(at(20), &[s("mem", &p, 160.0)]);
        assert_eq!(states(&fired), [(Pending, Firing)]);
        let alert = &fired[0].alert;
        assert_eq!(
            alert.labels.to_string(),
            r#"{alertname="MemoryHigh", process="a", severity="critical", team="game"}"#
        );
        assert_eq!(alert.annotations["summary"], "a uses 160");
        assert_eq!(alert.fired_at, Some(at(20)));
        // Cleared at 30 (first false evaluation): keeps firing until 30 + 15 s.
        assert!(e.evaluate(at(30), &[s("mem", &p, 50.0)]).is_empty());
        assert!(e.evaluate(at(44), &[s("mem", &p, 50.0)]).is_empty(), "14 s after the clear: still firing");
        assert_eq!(e.alerts()[0].state, Firing);
        let resolved = e.evaluate(at(45), &[s("mem", &p, 50.0)]);
        assert_eq!(states(&resolved), [(Firing, Inactive)]);
        assert!(resolved[0].is_resolved());
        assert_eq!(resolved[0].alert.resolved_at, Some(at(45)));
        // A pending alert that clears goes back to inactive without firing.
        assert_eq!(states(&e.evaluate(at(50), &[s("mem", &p, 150.0)])), [(Inactive, Pending)]);
        assert_eq!(states(&e.evaluate(at(60), &[])), [(Pending, Inactive)]);
        assert!(e.alerts().is_empty());
    }

    #[test]
    fn rate_over_a_window_with_a_reset() {
        let rule = Rule::builder(
            "Errors",
            Condition::rate(Selector::new("err_total"), Duration::from_secs(60), Cmp::Gt, 1.0),
        )
        .build()
        .unwrap();
        let mut e = Evaluator::new(vec![rule]);
        assert!(e.evaluate(at(0), &[s("err_total", &[], 0.0)]).is_empty(), "one point has no rate");
        assert!(e.evaluate(at(30), &[s("err_total", &[], 15.0)]).is_empty(), "0.5/s");
        // Reset to 5 at 60: increase 15 + 5 = 20 over 60 s, still below 1/s.
        assert!(e.evaluate(at(60), &[s("err_total", &[], 5.0)]).is_empty());
        // At 90 the window is [30, 90]: 15 -> 5 (reset, +5) -> 75 (+70) = 75 / 60 s = 1.25/s.
        let t = e.evaluate(at(90), &[s("err_total", &[], 75.0)]);
        assert_eq!(t.len(), 1);
        assert!(t[0].is_firing(), "for = 0 fires at once");
        assert!((t[0].alert.value - 1.25).abs() < 1e-12, "{}", t[0].alert.value);
    }

    /// A 2 h window evaluated every second: 1/s for the first hour, 3/s for
    /// the second (with a reset in it), so 2/s over the window. Thinned to at
    /// most ~3600 points, yet covering the whole window.
    #[test]
    fn long_rate_windows_are_covered_and_bounded() {
        let rule = Rule::builder(
            "R",
            Condition::rate(Selector::new("c_total"), Duration::from_secs(7200), Cmp::Ge, 0.0),
        )
        .build()
        .unwrap();
        let mut e = Evaluator::new(vec![rule]);
        let (mut v, mut last) = (0.0, None);
        for i in 0..=7200u64 {
            if i > 0 {
                v += if i <= 3600 { 1.0 } else { 3.0 };
            }
            // A restart at 5000 s: the counter begins again from its increment.
            if i == 5000 {
                v = 3.0;
            }
            let _ = e.evaluate(at(i), &[s("c_total", &[], v)]);
            last = e.alerts().first().map(|a| a.value);
        }
        let rate = last.unwrap();
        assert!((rate - 2.0).abs() < 1e-3, "{rate}");
        let history = &e.rules[0].history[&Labels::new()];
        assert!(history.points.len() <= MAX_RATE_POINTS + 2, "{}", history.points.len());
        assert!(
            history.points.front().unwrap().0 <= at(2),
            "covers the window: {:?}",
            history.points.front()
        );
        // Many evaluations a second over a short window stay bounded too.
        let rule = Rule::builder(
            "Fast",
            Condition::rate(Selector::new("c_total"), Duration::from_secs(10), Cmp::Ge, 0.0),
        )
        .build()
        .unwrap();
        let mut e = Evaluator::new(vec![rule]);
        for i in 0..20_000u64 {
            let _ = e.evaluate(Timestamp::from_millis(i), &[s("c_total", &[], i as f64)]);
        }
        let kept = e.rules[0].history[&Labels::new()].points.len();
        assert!(kept <= MAX_RATE_POINTS + 2 && kept > MAX_RATE_POINTS / 2, "{kept}");
        assert!((e.alerts()[0].value - 1000.0).abs() < 1e-6, "{}", e.alerts()[0].value);
    }

    #[test]
    fn absence() {
        let sel = Selector::new("up").matcher(Matcher::eq("job", "arena")).matcher(Matcher::ne("env", "dev"));
        let rule =
            Rule::builder("ArenaGone", Condition::absent(sel, Duration::from_secs(30))).build().unwrap();
        assert_eq!(rule.expr(), r#"absent_over_time(up{job="arena", env!="dev"}[30s])"#);
        let mut e = Evaluator::new(vec![rule]);
        assert!(e.evaluate(at(0), &[s("up", &[("job", "arena")], 1.0)]).is_empty());
        assert!(e.evaluate(at(20), &[]).is_empty(), "seen 20 s ago");
        let t = e.evaluate(at(30), &[s("up", &[("job", "other")], 1.0)]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].alert.labels.get("job"), Some("arena"));
        assert_eq!(t[0].alert.labels.get("env"), None);
        let back = e.evaluate(at(40), &[s("up", &[("job", "arena")], 1.0)]);
        assert!(back[0].is_resolved());
    }

    #[test]
    fn builder_checks() {
        let c = || Condition::threshold(Selector::new("m"), Cmp::Gt, 1.0);
        for (b, why) in [
            (Rule::builder("bad name", c()), "alert name"),
            (Rule::builder("A", Condition::threshold(Selector::new("m"), Cmp::Gt, f64::NAN)), "not finite"),
            (Rule::builder("A", Condition::absent(Selector::new("m"), Duration::from_micros(10))), "1 ms"),
            (Rule::builder("A", c()).label("severity", "x"), "set by the rule"),
            (Rule::builder("A", c()).label("a-b", "x"), "invalid label name"),
            (Rule::builder("A", Condition::threshold(Selector::new("9m"), Cmp::Gt, 1.0)), "metric name"),
        ] {
            let e = b.build().unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn expressions() {
        let sel = Selector::new("ao_message_errors_total").matcher(Matcher::eq("process", "p\"1"));
        let r =
            Rule::builder("E", Condition::rate(sel, Duration::from_secs(300), Cmp::Ge, 0.5)).build().unwrap();
        assert_eq!(r.expr(), r#"rate(ao_message_errors_total{process="p\"1"}[5m]) >= 0.5"#);
        let t = Rule::builder("M", Condition::threshold(Selector::new("m"), Cmp::Le, -2.0)).build().unwrap();
        assert_eq!(t.expr(), "m <= -2");
    }
}
