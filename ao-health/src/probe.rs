//! Health checks: probes over [`AoTransport`], custom [`HealthCheck`]s, an
//! aggregate status with reasons, and availability over a window.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ao_transport::retry::{Clock, ThreadClock};
use ao_transport::{AoTransport, Message, ProcessId};

use crate::error::Error;
use crate::metrics::{Buckets, Gauge, Histogram};
use crate::registry::{Family, Registry};
use crate::time::Timestamp;

/// Names of the families [`ProbeMetrics::register`] adds.
pub const PROBE_FAMILIES: &[&str] =
    &["ao_probe_up", "ao_probe_duration_seconds", "ao_probe_availability_ratio", "ao_health_status"];

/// How healthy something is. Ordered: `Healthy < Degraded < Unhealthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Working as it should.
    Healthy,
    /// Working, but slow or partly failing.
    Degraded,
    /// Not working.
    Unhealthy,
}

impl Status {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// The value of the `ao_health_status` gauge: 0, 1, 2.
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Healthy => 0.0,
            Self::Degraded => 1.0,
            Self::Unhealthy => 2.0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The status.
    pub status: Status,
    /// How long the check took, if it measured that.
    pub latency: Option<Duration>,
    /// Why it is not healthy (or a note when it is).
    pub reason: Option<String>,
}

impl CheckResult {
    /// Healthy, with no note.
    pub fn healthy() -> Self {
        Self { status: Status::Healthy, latency: None, reason: None }
    }

    /// Degraded, with a reason.
    pub fn degraded(reason: impl Into<String>) -> Self {
        Self { status: Status::Degraded, latency: None, reason: Some(reason.into()) }
    }

    /// Unhealthy, with a reason.
    pub fn unhealthy(reason: impl Into<String>) -> Self {
        Self { status: Status::Unhealthy, latency: None, reason: Some(reason.into()) }
    }

    /// The same result with a latency.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }
}

/// A check of one thing: a process answering, a queue draining, a disk filling.
pub trait HealthCheck: Send + Sync {
    /// A short, stable name (the `check` label).
    fn name(&self) -> &str;

    /// Runs the check. It should bound its own time (see [`AoProbe`]'s timeout).
    fn check(&self) -> CheckResult;

    /// Whether failing makes the whole aggregate unhealthy (`true`, the
    /// default) or only degraded.
    fn critical(&self) -> bool {
        true
    }
}

/// What a probe's reply must show to count as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Evaluation without an error.
    NoError,
    /// Also a reply message whose `Action` tag is this (`Pong` for a `Ping`).
    ReplyAction(String),
}

/// Dry-runs a message (by default `Action = Ping`, expecting a `Pong` reply)
/// against a process over any [`AoTransport`], with a timeout and latency.
///
/// A dry run changes nothing in the process, so probing is safe at any rate
/// the transport allows. Latency is read from the probe's [`Clock`] (the wall
/// clock by default; ao-local's virtual clock in tests), and the wait for the
/// transport's future is bounded in real time by the same timeout.
pub struct AoProbe {
    name: String,
    transport: Arc<dyn AoTransport>,
    message: Message,
    expect: Expect,
    timeout: Duration,
    degraded_after: Option<Duration>,
    clock: Arc<dyn Clock>,
    critical: bool,
}

impl fmt::Debug for AoProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AoProbe")
            .field("name", &self.name)
            .field("target", &self.message.target())
            .field("expect", &self.expect)
            .field("timeout", &self.timeout)
            .field("degraded_after", &self.degraded_after)
            .finish_non_exhaustive()
    }
}

impl AoProbe {
    /// A `Ping` probe of `process`: healthy on a `Pong` reply within 5 s.
    pub fn ping(
        name: impl Into<String>,
        transport: Arc<dyn AoTransport>,
        process: ProcessId,
    ) -> Result<Self, Error> {
        let message = Message::builder(process)
            .tag("Action", "Ping")
            .build()
            .map_err(|e| Error::rule("probe", e.to_string()))?;
        Ok(Self::with_message(name, transport, message).expect(Expect::ReplyAction("Pong".into())))
    }

    /// A probe that dry-runs `message` and is healthy when it evaluates without error.
    pub fn with_message(name: impl Into<String>, transport: Arc<dyn AoTransport>, message: Message) -> Self {
        Self {
            name: name.into(),
            transport,
            message,
            expect: Expect::NoError,
            timeout: Duration::from_secs(5),
            degraded_after: None,
            clock: Arc::new(ThreadClock::default()),
            critical: true,
        }
    }

    /// What the reply must show.
    #[must_use]
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// Longer than this is unhealthy (default 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longer than this (but within the timeout) is degraded.
    #[must_use]
    pub fn degraded_after(mut self, after: Duration) -> Self {
        self.degraded_after = Some(after);
        self
    }

    /// The clock latency is read from.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Failing makes the aggregate only degraded.
    #[must_use]
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }
}

impl HealthCheck for AoProbe {
    fn name(&self) -> &str {
        &self.name
    }

    fn critical(&self) -> bool {
        self.critical
    }

    fn check(&self) -> CheckResult {
        let start = self.clock.now();
        let outcome = block_on_timeout(self.transport.dry_run(self.message.clone()), self.timeout);
        let latency = self.clock.now().saturating_sub(start);
        let result = match outcome {
            None => {
                return CheckResult::unhealthy(format!("no reply within {:?}", self.timeout))
                    .with_latency(self.timeout);
            }
            Some(Err(e)) => CheckResult::unhealthy(format!("dry run failed: {e}")),
            Some(Ok(_)) if latency > self.timeout => CheckResult::unhealthy(format!(
                "reply took {latency:?}, more than the {:?} timeout",
                self.timeout
            )),
            Some(Ok(r)) => match (&r.error, &self.expect) {
                (Some(e), _) => CheckResult::unhealthy(format!("process error: {e}")),
                (None, Expect::ReplyAction(a)) if !r.messages.iter().any(|m| m.tag("Action") == Some(a)) => {
                    CheckResult::unhealthy(format!("no reply with Action = {a}"))
                }
                _ => match self.degraded_after {
                    Some(d) if latency > d => {
                        CheckResult::degraded(format!("slow: {latency:?}, more than {d:?}"))
                    }
                    _ => CheckResult::healthy(),
                },
            },
        };
        result.with_latency(latency)
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this thread until it completes or `timeout` passes (then it is dropped).
pub(crate) fn block_on_timeout<F: Future>(fut: F, timeout: Duration) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// One check's part of a [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// Whether it is critical.
    pub critical: bool,
    /// What it found.
    pub result: CheckResult,
}

/// The aggregate of several checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Unhealthy if a critical check is; degraded if any check is not healthy; healthy otherwise.
    pub status: Status,
    /// Every check, in the order run.
    pub checks: Vec<CheckReport>,
}

impl HealthReport {
    /// Aggregates check results: a failing non-critical check only degrades.
    pub fn aggregate(checks: Vec<CheckReport>) -> Self {
        let status = checks
            .iter()
            .map(|c| if c.critical { c.result.status } else { c.result.status.min(Status::Degraded) })
            .max()
            .unwrap_or(Status::Healthy);
        Self { status, checks }
    }

    /// `name: reason` for every check that is not healthy.
    pub fn reasons(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.result.status != Status::Healthy)
            .map(|c| {
                format!("{}: {}", c.name, c.result.reason.as_deref().unwrap_or(c.result.status.as_str()))
            })
            .collect()
    }
}

/// The fraction of successful probes over a sliding window (sans-IO: times are arguments).
///
/// A probe counts as up when it is not unhealthy. At most `capacity` results are kept.
#[derive(Debug, Clone)]
pub struct Availability {
    window: Duration,
    capacity: usize,
    results: VecDeque<(Timestamp, bool)>,
}

impl Availability {
    /// A tracker over `window`, keeping at most `capacity` results.
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self { window, capacity: capacity.max(1), results: VecDeque::new() }
    }

    /// Records a result at `at`.
    pub fn record(&mut self, at: Timestamp, up: bool) {
        self.results.push_back((at, up));
        while self.results.len() > self.capacity {
            self.results.pop_front();
        }
    }

    /// Up results over all results in `(now - window, now]`; `None` if there are none.
    pub fn ratio(&mut self, now: Timestamp) -> Option<f64> {
        // Before a whole window has passed since the epoch, everything is in it.
        if now.saturating_since(Timestamp::EPOCH) >= self.window {
            let from = now - self.window;
            while self.results.front().is_some_and(|(t, _)| *t <= from) {
                self.results.pop_front();
            }
        }
        let (up, all) = self
            .results
            .iter()
            .filter(|(t, _)| *t <= now)
            .fold((0usize, 0usize), |(u, a), (_, ok)| (u + usize::from(*ok), a + 1));
        (all > 0).then(|| up as f64 / all as f64)
    }
}

/// The probe families of a registry.
#[derive(Debug, Clone)]
pub struct ProbeMetrics {
    up: Family<Gauge>,
    duration: Family<Histogram>,
    availability: Family<Gauge>,
    status: Gauge,
}

impl ProbeMetrics {
    /// Registers the probe families.
    pub fn register(registry: &Registry) -> Result<Self, Error> {
        Ok(Self {
            up: registry.gauge_family("ao_probe_up", "1 if the last check was not unhealthy.", &["check"])?,
            duration: registry.histogram_family(
                "ao_probe_duration_seconds",
                "Time a check took.",
                &["check"],
                &Buckets::default_seconds(),
            )?,
            availability: registry.gauge_family(
                "ao_probe_availability_ratio",
                "Fraction of checks not unhealthy over the availability window.",
                &["check"],
            )?,
            status: registry
                .gauge("ao_health_status", "Aggregate status: 0 healthy, 1 degraded, 2 unhealthy.")?,
        })
    }
}

/// Runs checks, aggregates them, tracks availability and records metrics.
pub struct Prober {
    checks: Vec<Box<dyn HealthCheck>>,
    availability: BTreeMap<String, Availability>,
    window: Duration,
    metrics: Option<ProbeMetrics>,
    last: Option<HealthReport>,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
        f.debug_struct("Prober").field("checks", &names).field("window", &self.window).finish_non_exhaustive()
    }
}

impl Prober {
    /// A prober with an availability window (e.g. 1 hour).
    pub fn new(window: Duration) -> Self {
        Self { checks: Vec::new(), availability: BTreeMap::new(), window, metrics: None, last: None }
    }

    /// Adds a check.
    #[must_use]
    pub fn check(mut self, check: impl HealthCheck + 'static) -> Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Records results into these metrics.
    #[must_use]
    pub fn metrics(mut self, metrics: ProbeMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs every check once, in order, and returns the aggregate. `now` stamps availability.
    pub fn run(&mut self, now: Timestamp) -> HealthReport {
        let mut reports = Vec::with_capacity(self.checks.len());
        for c in &self.checks {
            let result = c.check();
            let up = result.status != Status::Unhealthy;
            let window = self.window;
            let avail = self
                .availability
                .entry(c.name().to_owned())
                .or_insert_with(|| Availability::new(window, 100_000));
            avail.record(now, up);
            if let Some(m) = &self.metrics {
                m.up.with(&[c.name()]).set(if up { 1.0 } else { 0.0 });
                if let Some(l) = result.latency {
                    m.duration.with(&[c.name()]).observe_duration(l);
                }
                if let Some(r) = avail.ratio(now) {
                    m.availability.with(&[c.name()]).set(r);
                }
            }
            reports.push(CheckReport { name: c.name().to_owned(), critical: c.critical(), result });
        }
        let report = HealthReport::aggregate(reports);
        if let Some(m) = &self.metrics {
            m.status.set(report.status.as_gauge());
        }
        self.last = Some(report.clone());
        report
    }

    /// Availability of one check over the window ending at `now`.
    pub fn availability(&mut self, check: &str, now: Timestamp) -> Option<f64> {
        self.availability.get_mut(check)?.ratio(now)
    }

    /// The report of the last [`run`](Self::run).
    pub fn last_report(&self) -> Option<&HealthReport> {
        self.last.as_ref()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    fn report(name: &str, critical: bool, status: Status) -> CheckReport {
        let result = match status {
            Status::Healthy => CheckResult::healthy(),
            Status::Degraded => CheckResult::degraded("slow"),
            Status::Unhealthy => CheckResult::unhealthy("down"),
        };
        CheckReport { name: name.into(), critical, result }
    }

    #[test]
    fn aggregation_table() {
        use Status::*;
        for (checks, want) in [
            (vec![], Healthy),
            (vec![("a", true, Healthy), ("b", false, Healthy)], Healthy),
            (vec![("a", true, Healthy), ("b", false, Unhealthy)], Degraded),
            (vec![("a", true, Degraded), ("b", false, Healthy)], Degraded),
            (vec![("a", true, Unhealthy), ("b", false, Healthy)], Unhealthy),
            (vec![("a", false, Unhealthy), ("b", false, Unhealthy)], Degraded),
        ] {
            let r = HealthReport::aggregate(checks.iter().map(|(n, c, s)| report(n, *c, *s)).collect());
            assert_eq!(r.status, want, "{checks:?}");
        }
        let r = HealthReport::aggregate(vec![report("db", true, Unhealthy), report("ok", true, Healthy)]);
        assert_eq!(r.reasons(), ["db: down"]);
    }

    #[test]
    fn availability_slides() {
        let mut a = Availability::new(Duration::from_secs(10), 100);
        assert_eq!(a.ratio(Timestamp::from_secs(0)), None);
        for (t, up) in [(1, true), (2, false), (3, true), (4, true)] {
            a.record(Timestamp::from_secs(t), up);
        }
        assert_eq!(a.ratio(Timestamp::from_secs(4)), Some(0.75));
        // At 12 s the window is (2, 12]: results at 3 and 4 remain.
        assert_eq!(a.ratio(Timestamp::from_secs(12)), Some(1.0));
        assert_eq!(a.ratio(Timestamp::from_secs(30)), None);
        let mut small = Availability::new(Duration::from_secs(100), 2);
        for (t, up) in [(1, false), (2, true), (3, true)] {
            small.record(Timestamp::from_secs(t), up);
        }
        assert_eq!(small.ratio(Timestamp::from_secs(3)), Some(1.0), "capacity drops the oldest");
    }

    #[test]
    fn block_on_timeout_gives_up_on_a_pending_future() {
        assert_eq!(block_on_timeout(std::future::ready(7), Duration::ZERO), Some(7));
        let start = Instant::now();
        assert_eq!(block_on_timeout(std::future::pending::<()>(), Duration::from_millis(30)), None);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
