//! Retrying transport calls: exponential backoff with jitter under a deadline.
//!
//! The schedule ([`Backoff`]) is pure: time and randomness come in as
//! arguments, so it is deterministic under test. [`retry`] drives it over a
//! [`Clock`] you supply (a [`ManualClock`] in tests, [`ThreadClock`] for a
//! blocking caller, or your runtime's timer) and retries only errors that are
//! [retryable](crate::TransportError::is_retryable).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::TransportError;

/// How to retry: delays grow from `initial_delay` by `multiplier` up to
/// `max_delay`, at most `max_attempts` calls in all, never past `deadline`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the second attempt (before jitter).
    pub initial_delay: Duration,
    /// Cap on any single delay.
    pub max_delay: Duration,
    /// Growth factor per attempt (at least 1.0).
    pub multiplier: f64,
    /// Total calls, the first included (at least 1).
    pub max_attempts: u32,
    /// Total time budget from the first call; `None` for no deadline.
    pub deadline: Option<Duration>,
    /// How delays are randomised.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    /// 100 ms doubling to 10 s, 8 attempts, 60 s deadline, full jitter.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            max_attempts: 8,
            deadline: Some(Duration::from_secs(60)),
            jitter: Jitter::Full,
        }
    }
}

/// How a computed delay `d` is randomised, so many clients do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly `d`.
    None,
    /// Uniform in `[0, d]` ("full jitter").
    Full,
    /// Uniform in `[d/2, d]` ("equal jitter").
    Equal,
}

/// A source of randomness for jitter. [`SplitMix64`] is a seeded, deterministic one.
pub trait RandomSource: Send {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// A small seeded generator (SplitMix64): the same seed gives the same delays.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Time for the retry driver: now, and a way to wait.
pub trait Clock: Send + Sync {
    /// Time elapsed since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Virtual time for tests: `sleep` advances the clock at once and records the wait.
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0 += by;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 += duration;
        state.1.push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Real time for blocking callers (e.g. under `pollster::block_on`): `sleep`
/// blocks the calling thread. Async hosts should implement [`Clock`] with their timer.
#[derive(Debug, Clone, Copy)]
pub struct ThreadClock {
    origin: Instant,
}

impl Default for ThreadClock {
    fn default() -> Self {
        Self { origin: Instant::now() }
    }
}

impl Clock for ThreadClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        std::thread::sleep(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Why the retry driver gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The error was final; retrying cannot help.
    Final,
    /// `max_attempts` calls were made.
    Attempts,
    /// The next wait would pass the deadline.
    Deadline,
}

/// The last error of a retried call, with how many attempts were made and why it stopped.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {attempts} attempt{}, {reason})", if *.attempts == 1 { "" } else { "s" })]
pub struct RetryError {
    /// The error of the last attempt.
    #[source]
    pub error: TransportError,
    /// Calls made.
    pub attempts: u32,
    /// Why no further attempt was made.
    pub gave_up: GiveUp,
    reason: &'static str,
}

/// The pure retry schedule: call [`next_delay`](Self::next_delay) after each
/// failed attempt; `None` means stop.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    started: Duration,
    attempts: u32,
    base: Duration,
}

impl Backoff {
    /// A schedule for `policy` whose first attempt starts at `now`.
    pub fn new(policy: RetryPolicy, now: Duration) -> Self {
        let base = policy.initial_delay;
        Self { policy, started: now, attempts: 1, base }
    }

    /// Attempts made so far (the first call counts).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After a failed attempt at `now`: how long to wait before the next one,
    /// or why not to try again. `at_least` (a server's `Retry-After`) raises the wait.
    pub fn next_delay(
        &mut self,
        now: Duration,
        at_least: Option<Duration>,
        rng: &mut dyn RandomSource,
    ) -> Result<Duration, GiveUp> {
        if self.attempts >= self.policy.max_attempts.max(1) {
            return Err(GiveUp::Attempts);
        }
        let capped = self.base.min(self.policy.max_delay);
        let mut delay = match self.policy.jitter {
            Jitter::None => capped,
            Jitter::Full => scale(capped, rng.next_u64()),
            Jitter::Equal => capped / 2 + scale(capped / 2, rng.next_u64()),
        };
        if let Some(min) = at_least {
            delay = delay.max(min);
        }
        if let Some(deadline) = self.policy.deadline {
            let elapsed = now.saturating_sub(self.started);
            // Saturating: a huge Retry-After from the remote end must give up, not panic.
            if elapsed.saturating_add(delay) >= deadline {
                return Err(GiveUp::Deadline);
            }
        }
        self.attempts += 1;
        // Growth past what a Duration holds (a huge or infinite multiplier, an
        // uncapped `max_delay`) stays at the cap instead of panicking in `mul_f64`.
        let grown = self.base.as_secs_f64() * self.policy.multiplier.max(1.0);
        self.base =
            Duration::try_from_secs_f64(grown).unwrap_or(self.policy.max_delay).min(self.policy.max_delay);
        Ok(delay)
    }
}

/// `d * (r / 2^64)`: a uniform fraction of `d`, exact in nanoseconds.
fn scale(d: Duration, r: u64) -> Duration {
    let nanos = (d.as_nanos().min(u128::from(u64::MAX)) * u128::from(r)) >> 64;
    Duration::from_nanos(nanos as u64)
}

/// Calls `op` until it succeeds, fails finally, runs out of attempts, or would
/// pass the deadline. `op` gets the 1-based attempt number.
///
/// ```
/// use ao_transport::retry::{retry, ManualClock, RetryPolicy, SplitMix64};
/// use ao_transport::{TransportError, TransportErrorKind};
///
/// let clock = ManualClock::new();
/// let mut rng = SplitMix64::new(7);
/// let result = pollster::block_on(retry(&RetryPolicy::default(), &clock, &mut rng, |attempt| async move {
///     if attempt < 3 { Err(TransportError::new(TransportErrorKind::Timeout, "slow cu")) } else { Ok(attempt) }
/// }));
/// assert_eq!(result.unwrap(), 3);
/// assert_eq!(clock.sleeps().len(), 2);
/// ```
pub async fn retry<T, F, Fut>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    rng: &mut dyn RandomSource,
    mut op: F,
) -> Result<T, RetryError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, TransportError>>,
{
    let mut backoff = Backoff::new(policy.clone(), clock.now());
    loop {
        let attempt = backoff.attempts();
        let error = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if !error.is_retryable() {
            return Err(RetryError {
                error,
                attempts: attempt,
                gave_up: GiveUp::Final,
                reason: "error is final",
            });
        }
        match backoff.next_delay(clock.now(), error.retry_after(), rng) {
            Ok(delay) => clock.sleep(delay).await,
            Err(gave_up) => {
                let reason = match gave_up {
                    GiveUp::Attempts => "attempts exhausted",
                    _ => "deadline reached",
                };
                return Err(RetryError { error, attempts: attempt, gave_up, reason });
            }
        }
    }
}
