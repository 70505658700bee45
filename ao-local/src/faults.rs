//! Seeded fault injection: latency, dropped replies, retryable errors, crashes.

use std::time::Duration;

use ao_transport::retry::{RandomSource, SplitMix64};

/// Which faults to inject, and how often. The same seed gives the same faults
/// at the same calls, so a failing run can be replayed exactly.
///
/// Rates are probabilities per call in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Seed of the fault generator.
    pub seed: u64,
    /// Extra latency per call, uniform in this range; it advances the virtual clock.
    pub latency: Option<(Duration, Duration)>,
    /// `send`: the message is evaluated, but the reply is lost (the caller sees a
    /// timeout). `result`/`dry_run`: the reply is lost.
    pub drop_reply: f64,
    /// The call fails with a retryable "unavailable" error before doing anything.
    pub transient_error: f64,
    /// `send`: the target process crashes before evaluating the message and is
    /// restarted from its log (the caller sees "unavailable").
    pub crash: f64,
}

impl FaultPlan {
    /// No faults, with the given seed.
    pub fn new(seed: u64) -> Self {
        Self { seed, latency: None, drop_reply: 0.0, transient_error: 0.0, crash: 0.0 }
    }
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Draw {
    pub(crate) latency: Duration,
    pub(crate) transient_error: bool,
    pub(crate) crash: bool,
    pub(crate) drop_reply: bool,
}

#[derive(Debug)]
pub(crate) struct Faults {
    plan: FaultPlan,
    rng: SplitMix64,
}

impl Faults {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let rng = SplitMix64::new(plan.seed);
        Self { plan, rng }
    }

    fn chance(&mut self, p: f64) -> bool {
        // Always draw, so one fault's rate does not shift the others' sequence.
        let r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        r < p
    }

    pub(crate) fn draw(&mut self) -> Draw {
        let latency = match self.plan.latency {
            Some((lo, hi)) if hi > lo => {
                let span = hi.saturating_sub(lo).as_nanos().min(u128::from(u64::MAX)) as u64;
                lo + Duration::from_nanos(self.rng.next_u64() % (span + 1))
            }
            Some((lo, _)) => lo,
            None => Duration::ZERO,
        };
        Draw {
            latency,
            transient_error: self.chance(self.plan.transient_error),
            crash: self.chance(self.plan.crash),
            drop_reply: self.chance(self.plan.drop_reply),
        }
    }
}

/// Counts of faults injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Calls delayed by injected latency.
    pub delayed: u64,
    /// Total injected latency.
    pub latency: Duration,
    /// Replies dropped.
    pub dropped_replies: u64,
    /// Retryable errors returned.
    pub transient_errors: u64,
    /// Process crashes (each followed by a restart from the log).
    pub crashes: u64,
}
