//! The built-in ECS metrics: entities, systems, ticks, memory, messages, errors, rejections.

use std::time::{Duration, Instant};

use ao_transport::{EvalResult, TransportError, TransportErrorKind};

use crate::error::Error;
use crate::metrics::{Buckets, Counter, Gauge, Histogram};
use crate::registry::{Family, Registry};

/// Names of the families [`EcsMetrics::register`] adds, as registered
/// (counters without `_total`).
pub const ECS_FAMILIES: &[&str] = &[
    "ao_ecs_entities",
    "ao_ecs_archetype_entities",
    "ao_ecs_system_duration_seconds",
    "ao_ecs_tick_duration_seconds",
    "ao_lua_memory_bytes",
    "process_resident_memory_bytes",
    "ao_messages",
    "ao_message_errors",
    "ao_messages_rejected",
];

/// The ECS families of one registry. Cheap to clone.
///
/// They are ordinary families, registered through the same [`Registry`] calls
/// a host uses for its own metrics. Resolve per-process handles once with
/// [`process`](Self::process).
///
/// ```
/// use ao_health::{EcsMetrics, Format, Registry};
///
/// let registry = Registry::new();
/// let ecs = EcsMetrics::register(&registry)?;
/// let arena = ecs.process("arena-1");
/// let (movement, regen) = (arena.system("movement"), arena.system("regeneration"));
/// let moves = arena.action("Move");
/// for _tick in 0..3 {
///     let mut tick = arena.tick_timer();
///     moves.messages.inc(); // one Move handled
///     tick.system(&movement); // time since the tick began
///     tick.system(&regen); // time since movement ended
/// } // dropped: the tick's duration is recorded
/// arena.entities("position").set(12.0);
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("ao_ecs_tick_duration_seconds_count{process=\"arena-1\"} 3\n"));
/// assert!(text.contains("ao_messages_total{process=\"arena-1\",action=\"Move\"} 3\n"));
/// # Ok::<(), ao_health::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EcsMetrics {
    entities: Family<Gauge>,
    archetypes: Family<Gauge>,
    systems: Family<Histogram>,
    ticks: Family<Histogram>,
    lua_memory: Family<Gauge>,
    messages: Family<Counter>,
    errors: Family<Counter>,
    rejected: Family<Counter>,
}

impl EcsMetrics {
    /// Registers the ECS families in `registry`, with [`Buckets::tick_seconds`] for durations.
    pub fn register(registry: &Registry) -> Result<Self, Error> {
        Self::register_with_buckets(registry, &Buckets::tick_seconds())
    }

    /// Registers the ECS families with these duration buckets (seconds).
    pub fn register_with_buckets(registry: &Registry, buckets: &Buckets) -> Result<Self, Error> {
        let r = registry;
        let metrics = Self {
            entities: r.gauge_family(
                "ao_ecs_entities",
                "Entities that have the component.",
                &["process", "component"],
            )?,
            archetypes: r.gauge_family(
                "ao_ecs_archetype_entities",
                "Entities in the archetype (set of components).",
                &["process", "archetype"],
            )?,
            systems: r.histogram_family(
                "ao_ecs_system_duration_seconds",
                "Time one system took in one tick.",
                &["process", "system"],
                buckets,
            )?,
            ticks: r.histogram_family(
                "ao_ecs_tick_duration_seconds",
                "Time one tick took, all systems included.",
                &["process"],
                buckets,
            )?,
            lua_memory: r.gauge_family(
                "ao_lua_memory_bytes",
                "Lua memory in use by the process.",
                &["process"],
            )?,
            messages: r.counter_family("ao_messages", "Messages evaluated.", &["process", "action"])?,
            errors: r.counter_family(
                "ao_message_errors",
                "Messages whose evaluation failed.",
                &["process", "action"],
            )?,
            rejected: r.counter_family(
                "ao_messages_rejected",
                "Messages refused before evaluation (security signal).",
                &["process", "reason"],
            )?,
        };
        r.gauge_fn("process_resident_memory_bytes", "Resident memory of this host process.", || {
            resident_memory_bytes().map(|b| b as f64)
        })?;
        Ok(metrics)
    }

    /// The handles for one AO process, resolved once.
    pub fn process(&self, process: &str) -> ProcessMetrics {
        ProcessMetrics {
            process: process.to_owned(),
            tick: self.ticks.with(&[process]),
            lua_memory: self.lua_memory.with(&[process]),
            families: self.clone(),
        }
    }
}

/// Why a message was refused before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The sender may not do this (a transport's `Unauthorized`).
    Unauthorized,
    /// An `Eval` from a wallet other than the owner, as the process counted it.
    UnauthorizedEval,
    /// The message was malformed or refused as invalid.
    Invalid,
    /// The sender was rate limited.
    RateLimited,
}

impl Rejection {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::UnauthorizedEval => "unauthorized_eval",
            Self::Invalid => "invalid",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// The ECS handles of one AO process.
#[derive(Debug, Clone)]
pub struct ProcessMetrics {
    process: String,
    tick: Histogram,
    lua_memory: Gauge,
    families: EcsMetrics,
}

/// The counters of one action (`Action` tag) of one process.
#[derive(Debug, Clone)]
pub struct ActionMetrics {
    /// Messages evaluated.
    pub messages: Counter,
    /// Messages whose evaluation failed.
    pub errors: Counter,
}

impl ActionMetrics {
    /// Counts one evaluated message, and an error if it failed.
    #[inline]
    pub fn observe(&self, result: &EvalResult) {
        self.messages.inc();
        if result.error.is_some() {
            self.errors.inc();
        }
    }
}

impl ProcessMetrics {
    /// The process label value.
    pub fn process(&self) -> &str {
        &self.process
    }

    /// The tick-duration histogram.
    pub fn tick(&self) -> &Histogram {
        &self.tick
    }

    /// Times one tick; [`TickTimer::system`] splits it into systems.
    pub fn tick_timer(&self) -> TickTimer<'_> {
        let now = Instant::now();
        TickTimer { tick: &self.tick, clock: Some((now, now)), done: false }
    }

    /// A tick timer that times only the ticks `sampler` picks (one in
    /// `every`); on the others it reads no clock and records nothing. For
    /// ticks so short that four clock reads matter: the duration histograms
    /// then count the sampled ticks, and their quantiles stay unbiased.
    pub fn sampled_tick_timer(&self, sampler: &mut TickSampler) -> TickTimer<'_> {
        if sampler.next() {
            self.tick_timer()
        } else {
            TickTimer { tick: &self.tick, clock: None, done: true }
        }
    }

    /// The duration histogram of one system (time it with [`Histogram::start_timer`]
    /// or [`TickTimer::system`]).
    pub fn system(&self, system: &str) -> Histogram {
        self.families.systems.with(&[&self.process, system])
    }

    /// The entity-count gauge of one component.
    pub fn entities(&self, component: &str) -> Gauge {
        self.families.entities.with(&[&self.process, component])
    }

    /// The entity-count gauge of one archetype (name it by its components, e.g. `health+position`).
    pub fn archetype(&self, archetype: &str) -> Gauge {
        self.families.archetypes.with(&[&self.process, archetype])
    }

    /// Sets the entity count of every component listed.
    pub fn set_component_counts<'a>(&self, counts: impl IntoIterator<Item = (&'a str, u64)>) {
        for (component, n) in counts {
            self.entities(component).set(n as f64);
        }
    }

    /// The counters of one action.
    pub fn action(&self, action: &str) -> ActionMetrics {
        ActionMetrics {
            messages: self.families.messages.with(&[&self.process, action]),
            errors: self.families.errors.with(&[&self.process, action]),
        }
    }

    /// The counter of one kind of rejection.
    pub fn rejected(&self, reason: Rejection) -> Counter {
        self.families.rejected.with(&[&self.process, reason.as_str()])
    }

    /// The Lua memory gauge.
    pub fn lua_memory(&self) -> &Gauge {
        &self.lua_memory
    }

    /// Records what a process reports of itself (ao-local's `ProcessInfo`, or
    /// a process's own report): Lua memory in use and the refused `Eval`s so far.
    pub fn record_vitals(&self, lua_memory_bytes: usize, unauthorized_evals_total: u64) {
        self.lua_memory.set(lua_memory_bytes as f64);
        self.rejected(Rejection::UnauthorizedEval).absorb_total(unauthorized_evals_total);
    }

    /// Counts a failed call for `action`: a refusal (unauthorized, invalid,
    /// rate limited) as a rejection, anything else as an error of the action.
    pub fn observe_failure(&self, action: &str, error: &TransportError) {
        let reason = match error.kind() {
            TransportErrorKind::Unauthorized => Some(Rejection::Unauthorized),
            TransportErrorKind::Rejected => Some(Rejection::Invalid),
            TransportErrorKind::RateLimited => Some(Rejection::RateLimited),
            _ => None,
        };
        match reason {
            Some(r) => self.rejected(r).inc(),
            None => self.families.errors.with(&[&self.process, action]).inc(),
        }
    }
}

/// Times a tick and, lap by lap, the systems in it: one clock read per system.
///
/// Dropping it (or [`finish`](Self::finish)) records the whole tick.
#[derive(Debug)]
#[must_use = "the timer records when dropped; bind it to a variable for the tick to time"]
pub struct TickTimer<'a> {
    tick: &'a Histogram,
    /// Start and last lap; `None` on a tick the sampler skipped.
    clock: Option<(Instant, Instant)>,
    done: bool,
}

/// Picks one tick in `every` for [`ProcessMetrics::sampled_tick_timer`].
#[derive(Debug, Clone)]
pub struct TickSampler {
    every: u32,
    n: u32,
}

impl TickSampler {
    /// Samples one tick in `every` (at least 1), starting with the first.
    pub fn new(every: u32) -> Self {
        Self { every: every.max(1), n: 0 }
    }

    fn next(&mut self) -> bool {
        let pick = self.n == 0;
        self.n = (self.n + 1) % self.every;
        pick
    }
}

impl TickTimer<'_> {
    /// Records the time since the previous lap (or the tick's start) into `system`.
    #[inline]
    pub fn system(&mut self, system: &Histogram) {
        if let Some((_, lap)) = &mut self.clock {
            let now = Instant::now();
            system.observe_duration(now - *lap);
            *lap = now;
        }
    }

    /// Records the tick as ending at the last system lap (no further clock
    /// read), or now if there was none, and returns its duration. Dropping the
    /// timer instead ends the tick at the drop. A skipped tick returns zero.
    pub fn finish(mut self) -> Duration {
        self.done = true;
        let Some((start, lap)) = self.clock else { return Duration::ZERO };
        let d = lap - start;
        let d = if d.is_zero() { start.elapsed() } else { d };
        self.tick.observe_duration(d);
        d
    }
}

impl Drop for TickTimer<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Some((start, _)) = self.clock
        {
            self.tick.observe_duration(start.elapsed());
        }
    }
}

/// Resident memory of this process from `/proc/self/status` (`VmRSS`), in
/// bytes; `None` where there is no procfs.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let kb: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => kb.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    #[test]
    fn vm_rss_parsing() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: 12 MB\n"), None);
        assert_eq!(parse_vm_rss("VmRSS: x kB\n"), None);
        assert_eq!(parse_vm_rss("VmHWM: 1 kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().unwrap() > 1024 * 1024, "a test binary uses more than 1 MiB");
        }
    }

    #[test]
    fn tick_timer_laps_sum_to_the_tick() {
        let registry = Registry::new();
        let ecs = EcsMetrics::register(&registry).unwrap();
        let process = ecs.process("p");
        let (movement, regen) = (process.system("movement"), process.system("regen"));
        let mut timer = process.tick_timer();
        timer.system(&movement);
        timer.system(&regen);
        let total = timer.finish();
        let (first, second, tick) = (movement.snapshot(), regen.snapshot(), process.tick().snapshot());
        assert_eq!((first.count(), second.count(), tick.count()), (1, 1, 1));
        assert!((first.sum + second.sum - total.as_secs_f64()).abs() < 1e-9, "laps partition the tick");
        assert_eq!(tick.sum, total.as_secs_f64());
    }

    #[test]
    fn a_sampler_times_one_tick_in_n() {
        let registry = Registry::new();
        let process = EcsMetrics::register(&registry).unwrap().process("p");
        let system = process.system("s");
        let mut sampler = TickSampler::new(4);
        let mut timed = Vec::new();
        for _ in 0..10 {
            let before = system.snapshot().count();
            let mut t = process.sampled_tick_timer(&mut sampler);
            t.system(&system);
            t.finish();
            timed.push(system.snapshot().count() > before);
        }
        assert_eq!(timed, [true, false, false, false, true, false, false, false, true, false]);
        assert_eq!((process.tick().snapshot().count(), system.snapshot().count()), (3, 3));
    }

    #[test]
    fn failures_are_sorted_into_rejections_and_errors() {
        let r = Registry::new();
        let p = EcsMetrics::register(&r).unwrap().process("p");
        p.observe_failure("Eval", &TransportError::new(TransportErrorKind::Unauthorized, "not owner"));
        p.observe_failure("Move", &TransportError::new(TransportErrorKind::RateLimited, "slow down"));
        p.observe_failure("Move", &TransportError::new(TransportErrorKind::Evaluation, "lua error"));
        assert_eq!(p.rejected(Rejection::Unauthorized).get(), 1);
        assert_eq!(p.rejected(Rejection::RateLimited).get(), 1);
        assert_eq!(p.action("Move").errors.get(), 1);
        assert_eq!(p.action("Move").messages.get(), 0);
        p.record_vitals(4096, 2);
        p.record_vitals(8192, 1);
        assert_eq!(p.lua_memory().get(), 8192.0);
        assert_eq!(p.rejected(Rejection::UnauthorizedEval).get(), 2);
    }
}
