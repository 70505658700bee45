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

use crate::error::{Error, ErrorKind};
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
/// the transport allows. Latency and the timeout are both read from the
/// probe's [`Clock`] (the wall clock by default; ao-local's or a
/// `ManualClock` in tests), so a virtual clock gives deterministic timeouts.
/// The wait is also bounded in real time by the same timeout, for a clock
/// that does not move while the transport's future is pending.
///
/// Built with [`AoProbe::builder`] (or [`ping`](Self::ping) /
/// [`with_message`](Self::with_message)), which refuses a bad configuration
/// with [`ErrorKind::InvalidProbe`] naming the setting.
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

/// What an [`AoProbeBuilder`] dry-runs.
enum ProbeTarget {
    None,
    Text(String),
    Process(ProcessId),
    Message(Message),
}

/// Configures an [`AoProbe`]; [`build`](Self::build) checks the settings.
#[must_use]
pub struct AoProbeBuilder {
    name: String,
    transport: Arc<dyn AoTransport>,
    target: ProbeTarget,
    expect: Option<Expect>,
    timeout: Duration,
    degraded_after: Option<Duration>,
    clock: Option<Arc<dyn Clock>>,
    critical: bool,
}

impl fmt::Debug for AoProbeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AoProbeBuilder")
            .field("name", &self.name)
            .field("expect", &self.expect)
            .field("timeout", &self.timeout)
            .field("degraded_after", &self.degraded_after)
            .finish_non_exhaustive()
    }
}

impl AoProbeBuilder {
    /// Pings this process, given as text (a config file's value): checked at build.
    pub fn target(mut self, process: impl Into<String>) -> Self {
        self.target = ProbeTarget::Text(process.into());
        self
    }

    /// Pings this process (`Action = Ping`, healthy on a `Pong` reply unless [`expect`](Self::expect) says otherwise).
    pub fn process(mut self, process: ProcessId) -> Self {
        self.target = ProbeTarget::Process(process);
        self
    }

    /// Dry-runs this message instead (healthy when it evaluates without error,
    /// unless [`expect`](Self::expect) says otherwise).
    pub fn message(mut self, message: Message) -> Self {
        self.target = ProbeTarget::Message(message);
        self
    }

    /// What the reply must show.
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = Some(expect);
        self
    }

    /// Longer than this is unhealthy (default 5 s; must be more than zero).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longer than this (but within the timeout) is degraded; more than zero, less than the timeout.
    pub fn degraded_after(mut self, after: Duration) -> Self {
        self.degraded_after = Some(after);
        self
    }

    /// The clock latency and the timeout are read from (default: the wall clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Failing makes the aggregate only degraded.
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }

    /// Checks the settings: a non-empty name, a target that parses (or a
    /// message), a timeout above zero, `degraded_after` between zero and the
    /// timeout, a non-empty expected reply action.
    pub fn build(self) -> Result<AoProbe, Error> {
        let name = self.name;
        let bad = |field, reason: String| {
            Err(Error::new(ErrorKind::InvalidProbe { probe: name.clone(), field, reason }))
        };
        if name.trim().is_empty() {
            return bad("name", "is empty".into());
        }
        let ping = |process: ProcessId| Message::builder(process).tag("Action", "Ping").build();
        let (message, default_expect) = match self.target {
            ProbeTarget::None => return bad("target", "no process or message given".into()),
            ProbeTarget::Text(t) if t.trim().is_empty() => return bad("target", "is empty".into()),
            ProbeTarget::Text(t) => match ProcessId::try_from(t.trim()) {
                Ok(p) => (ping(p), Expect::ReplyAction("Pong".into())),
                Err(e) => return bad("target", format!("{t:?} is not a process id: {e}")),
            },
            ProbeTarget::Process(p) => (ping(p), Expect::ReplyAction("Pong".into())),
            ProbeTarget::Message(m) => (Ok(m), Expect::NoError),
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => return bad("message", e.to_string()),
        };
        let expect = self.expect.unwrap_or(default_expect);
        if matches!(&expect, Expect::ReplyAction(a) if a.is_empty()) {
            return bad("expect", "the expected reply action is empty".into());
        }
        if self.timeout.is_zero() {
            return bad("timeout", "must be more than zero".into());
        }
        match self.degraded_after {
            Some(d) if d.is_zero() => return bad("degraded_after", "must be more than zero".into()),
            Some(d) if d >= self.timeout => {
                return bad(
                    "degraded_after",
                    format!("{d:?} is not less than the {:?} timeout", self.timeout),
                );
            }
            _ => {}
        }
        Ok(AoProbe {
            name,
            transport: self.transport,
            message,
            expect,
            timeout: self.timeout,
            degraded_after: self.degraded_after,
            clock: self.clock.unwrap_or_else(|| Arc::new(ThreadClock::default())),
            critical: self.critical,
        })
    }
}

impl AoProbe {
    /// A probe named `name` over `transport`, to configure: give it a
    /// [`process`](AoProbeBuilder::process) (or [`target`](AoProbeBuilder::target)) to ping, or a
    /// [`message`](AoProbeBuilder::message) to dry-run.
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use ao_health::{AoProbe, ErrorKind};
    /// let ao = Arc::new(ao_local::LocalAo::new());
    /// let err = AoProbe::builder("arena", ao).target("").timeout(Duration::ZERO).build().unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::InvalidProbe { field: "target", .. }));
    /// ```
    pub fn builder(name: impl Into<String>, transport: Arc<dyn AoTransport>) -> AoProbeBuilder {
        AoProbeBuilder {
            name: name.into(),
            transport,
            target: ProbeTarget::None,
            expect: None,
            timeout: Duration::from_secs(5),
            degraded_after: None,
            clock: None,
            critical: true,
        }
    }

    /// A `Ping` probe of `process` with the defaults: healthy on a `Pong` reply within 5 s.
    pub fn ping(
        name: impl Into<String>,
        transport: Arc<dyn AoTransport>,
        process: ProcessId,
    ) -> Result<Self, Error> {
        Self::builder(name, transport).process(process).build()
    }

    /// A probe that dry-runs `message` and is healthy when it evaluates without error.
    pub fn with_message(
        name: impl Into<String>,
        transport: Arc<dyn AoTransport>,
        message: Message,
    ) -> Result<Self, Error> {
        Self::builder(name, transport).message(message).build()
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
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
        let outcome =
            block_on_timeout(self.transport.dry_run(self.message.clone()), self.timeout, self.clock.as_ref());
        let latency = self.clock.now().saturating_sub(start);
        let result = match outcome {
            None => {
                return CheckResult::unhealthy(format!("no reply within {:?}", self.timeout))
                    .with_latency(latency.max(self.timeout));
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

/// Longest real-time wait between polls, so a virtual clock moved by
/// another thread is noticed without a wake-up.
const POLL_STEP: Duration = Duration::from_millis(10);

/// Polls `fut` on this thread until it completes, or until `timeout` has
/// passed on `clock` (then it is dropped). Between polls the thread parks
/// until the future wakes it (or [`POLL_STEP`]); `timeout` of real time is a
/// backstop for a clock that does not move.
pub(crate) fn block_on_timeout<F: Future>(fut: F, timeout: Duration, clock: &dyn Clock) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let start = clock.now();
    // A timeout too long for the platform's clock has, in effect, no backstop.
    let now = Instant::now();
    let backstop = now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let now = Instant::now();
        if clock.now().saturating_sub(start) >= timeout || now >= backstop {
            return None;
        }
        std::thread::park_timeout((backstop - now).min(POLL_STEP));
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

    /// A future that moves a virtual clock on at every poll and wakes itself,
    /// completing after `polls` polls if ever: time passes only on the clock.
    struct Ticking<'a> {
        clock: &'a ao_transport::retry::ManualClock,
        step: Duration,
        polls: Option<usize>,
    }

    impl Future for Ticking<'_> {
        type Output = usize;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.clock.advance(self.step);
            match self.polls {
                Some(0) => Poll::Ready(7),
                Some(ref mut n) => {
                    *n -= 1;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                None => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        }
    }

    #[test]
    fn block_on_timeout_is_judged_on_the_clock() {
        use ao_transport::retry::ManualClock;
        let clock = ManualClock::new();
        assert_eq!(block_on_timeout(std::future::ready(7), Duration::ZERO, &clock), Some(7));
        // Never completes: gives up once 50 ms have passed on the clock (5 polls of 10 ms).
        let hung = Ticking { clock: &clock, step: Duration::from_millis(10), polls: None };
        assert_eq!(block_on_timeout(hung, Duration::from_millis(50), &clock), None);
        assert_eq!(clock.now(), Duration::from_millis(50));
        // Completes on its 4th poll, 40 ms in: within a 50 ms timeout.
        let slow = Ticking { clock: &clock, step: Duration::from_millis(10), polls: Some(3) };
        assert_eq!(block_on_timeout(slow, Duration::from_millis(50), &clock), Some(7));
        assert_eq!(clock.now(), Duration::from_millis(90));
    }

    /// A timeout past what `Instant` can hold does not panic.
    #[test]
    fn an_endless_timeout_is_fine() {
        let clock = ao_transport::retry::ManualClock::new();
        let hung = Ticking { clock: &clock, step: Duration::from_secs(u64::MAX / 4), polls: None };
        assert_eq!(block_on_timeout(hung, Duration::from_secs(u64::MAX / 2), &clock), None);
    }

    /// A clock that never moves and a future that never wakes: the real-time
    /// backstop (here 1 ms) still ends the wait.
    #[test]
    fn a_frozen_clock_is_bounded_by_the_backstop() {
        let clock = ao_transport::retry::ManualClock::new();
        assert_eq!(block_on_timeout(std::future::pending::<()>(), Duration::from_millis(1), &clock), None);
    }
}
