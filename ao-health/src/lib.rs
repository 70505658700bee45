//! Operate AO game processes: ECS metrics, probes, alerts with routing,
//! Prometheus/OpenMetrics exposition, a Grafana dashboard, trends and forecasts.
//!
//! - **Metrics.** A [`Registry`] of counters, gauges and histograms in label
//!   [`Family`]s. Handles are `Arc`s around atomics: resolve one once
//!   (`family.with(&["arena-1"])`) and every update is a relaxed atomic
//!   operation, lock-free. [`EcsMetrics`] registers the built-in ECS families —
//!   entities per component and archetype, system and tick durations (with
//!   the [`TickTimer`] scope guard, optionally on one tick in N with a
//!   [`TickSampler`]), Lua and resident memory, messages,
//!   errors, rejected and unauthorized messages — through the same calls a
//!   host uses for its own.
//! - **Exposition.** [`Registry::encode`] writes the Prometheus text format
//!   or `OpenMetrics` text ([`Format`]), byte for byte what prometheus-client
//!   writes for the same metrics; CI checks the output with `promtool check
//!   metrics` and the reference `OpenMetrics` parser. [`MetricsServer`] serves
//!   `/metrics` (feature `http`, std only). [`dashboard`] generates a Grafana
//!   dashboard with a panel per family.
//! - **Probes.** [`AoProbe`] dry-runs `Action = Ping` (or any message) over
//!   an [`AoTransport`](ao_transport::AoTransport) with a timeout and measures
//!   latency; [`HealthCheck`] is the trait for custom checks; [`Prober`]
//!   aggregates them into healthy, degraded or unhealthy with reasons and
//!   tracks [`Availability`] over a window.
//! - **Alerts.** [`Rule`]s (threshold, rate over a window, absent metric;
//!   `for`, `keep_firing_for`, labels, severity, annotations) evaluated by a
//!   sans-IO [`Evaluator`]: samples and `now` in, [`Transition`]s out. A
//!   [`Router`] routes them like Alertmanager (route tree, `group_by`,
//!   `group_wait`, `group_interval`, `repeat_interval`, inhibition, silences
//!   with expiry) into [`Notification`]s for a host's [`Notifier`];
//!   [`Incidents`] records opened, acknowledged and resolved incidents.
//!   [`rules_yaml`] exports the rules as a Prometheus rule file.
//! - **Trends.** [`Series`] keeps a bounded history at raw, 1-minute and
//!   1-hour resolution; mean, quantiles and rate over a window; [`forecast`]
//!   says when a threshold will be crossed (least squares or Holt).
//!
//! What it deliberately does not do: run a Prometheus server or evaluate
//! arbitrary `PromQL` (rules are the three condition shapes above, exported
//! as `PromQL`); regular-expression matchers; TLS or authentication on
//! `/metrics` (put it behind the host's proxy); persistence of trends.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ao_health::{
//!     Alerting, Cmp, Condition, EcsMetrics, Evaluator, Format, Registry, Route, Router, Rule,
//!     Selector, Severity, Timestamp,
//! };
//!
//! // Metrics: the built-in ECS families and a custom one, side by side.
//! let registry = Registry::new();
//! let ecs = EcsMetrics::register(&registry)?;
//! let knockouts = registry.counter_family("arena_knockouts", "Players knocked out.", &["process"])?;
//! let arena = ecs.process("arena-1");
//! let errors = arena.action("Move").errors;
//! errors.inc_by(30);
//! knockouts.with(&["arena-1"]).inc();
//! assert!(registry.encode(Format::OpenMetrics).ends_with("# EOF\n"));
//!
//! // Alerts: a rate rule, routed to a pager after a 10 s group wait.
//! let rule = Rule::builder(
//!     "MoveErrors",
//!     Condition::rate(Selector::new("ao_message_errors_total"), Duration::from_secs(60), Cmp::Gt, 0.1),
//! )
//! .severity(Severity::Critical)
//! .annotation("summary", "{{ $labels.process }}: {{ $value }} errors/s")
//! .build()?;
//! let router = Router::new(Route::to("pager").group_wait(Duration::from_secs(10)), vec![])?;
//! let mut alerting = Alerting::new(Evaluator::new(vec![rule]), router);
//! let t0 = Timestamp::from_secs(1_000);
//! let _ = alerting.step(t0, &registry.snapshot().samples());
//! errors.inc_by(30); // 30 more errors in 30 s: 1/s
//! let step = alerting.step(t0 + Duration::from_secs(30), &registry.snapshot().samples());
//! assert!(step.transitions[0].is_firing());
//! let step = alerting.step(t0 + Duration::from_secs(40), &registry.snapshot().samples());
//! assert_eq!(step.notifications[0].receiver, "pager");
//! assert_eq!(step.notifications[0].firing[0].annotations["summary"], "arena-1: 1 errors/s");
//! # Ok::<(), ao_health::Error>(())
//! ```
//!
//! # Features
//!
//! - `http` (default): [`MetricsServer`] and the pure [`parse_request`] /
//!   [`respond`] it is built on. Needs nothing beyond `std`.

mod dashboard;
mod defaults;
mod ecs;
mod error;
mod expo;
mod export;
#[cfg(feature = "http")]
mod http;
mod incident;
mod labels;
mod metrics;
mod notify;
mod probe;
mod registry;
mod route;
mod rule;
mod time;
mod trend;

pub use dashboard::{DashboardOptions, SCHEMA_VERSION, dashboard, dashboard_for, panel_queries};
pub use defaults::{builtin_inhibitions, builtin_rules};
pub use ecs::{
    ActionMetrics, ECS_FAMILIES, EcsMetrics, ProcessMetrics, Rejection, TickSampler, TickTimer,
    resident_memory_bytes,
};
pub use error::{Error, ErrorKind};
pub use expo::{Format, encode};
pub use export::{RuleGroup, rules_yaml};
#[cfg(feature = "http")]
pub use http::{
    HealthFn, MAX_REQUEST_HEAD, MetricsServer, MetricsServerBuilder, Request, Response, ServerStats,
    parse_request, respond,
};
pub use incident::{Incident, IncidentEvent, Incidents};
pub use labels::{Labels, MatchOp, Matcher, matches_all};
pub use metrics::{Buckets, Counter, Gauge, Histogram, HistogramSnapshot, HistogramTimer};
pub use notify::{
    ALERT_FAMILIES, AlertMetrics, Alerting, Dispatcher, MemoryNotifier, Notifier, NotifyError, Step,
};
pub use probe::{
    AoProbe, AoProbeBuilder, Availability, CheckReport, CheckResult, Expect, HealthCheck, HealthReport,
    PROBE_FAMILIES, ProbeMetrics, Prober, Status,
};
pub use registry::{
    DEFAULT_CARDINALITY_LIMIT, Descriptor, Family, FamilyMember, FamilySnapshot, MetricType,
    OVERFLOW_LABEL_VALUE, Registry, Sample, SeriesSnapshot, Snapshot, Value,
};
pub use route::{GroupBy, InhibitRule, Muted, Notification, Route, Router, Silence};
pub use rule::{
    Alert, AlertState, Cmp, Condition, Evaluator, Rule, RuleBuilder, Selector, Severity, Transition,
};
pub use time::Timestamp;
pub use trend::{Bucket, Crossing, Forecast, Method, Resolution, Retention, Series, TrendStore, forecast};

/// Every built-in family name (ECS, probe and alerting), as registered.
pub fn builtin_families() -> Vec<&'static str> {
    ECS_FAMILIES.iter().chain(PROBE_FAMILIES).chain(ALERT_FAMILIES).copied().collect()
}
