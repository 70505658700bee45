//! What a rollout is asked to do: the release, the strategy, the validation.
//!
//! Everything here is plain data, serialised into the journal's first record so a
//! resumed rollout rebuilds exactly the machine that crashed.

use std::collections::BTreeMap;

use ao_transport::{Address, ModuleId, ProcessId};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A release as the rollout core sees it: no code bytes, only what identifies
/// the code (its BLAKE3) and what is sent with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    /// The bundle target it was built from (`arena`).
    pub target: String,
    /// Its version label (`1.4.0`, a git revision).
    pub version: String,
    /// BLAKE3 of the bundle, 64 lowercase hex digits (what its manifest records).
    pub hash: String,
    /// Config handed to the process with the code (`Deploy.Config`, and `AoEnv.Config`
    /// when ao-env's `info.lua` runs there).
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
}

impl ReleaseRef {
    /// `target@version (hash prefix)`.
    pub fn label(&self) -> String {
        format!("{}@{} ({})", self.target, self.version, &self.hash[..self.hash.len().min(12)])
    }
}

/// One serving position: a process, and the router in front of it if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Its name (`world/0`).
    pub name: String,
    /// The process that serves now (blue).
    pub process: ProcessId,
    /// The router clients talk to, if the process has one.
    #[serde(default)]
    pub router: Option<ProcessId>,
}

/// How to spawn a new (green) process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnSpec {
    /// The module to run.
    pub module: ModuleId,
    /// The scheduler unit.
    pub scheduler: Address,
    /// Spawn tags (`Name`, `Authority`, limits).
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Lua run at boot (`On-Boot = Data`), such as ao-env's `info.lua`.
    #[serde(default)]
    pub boot: Option<String>,
}

/// A canary step, as in Argo Rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CanaryStep {
    /// Mirror this share of senders (0–100 %) to the canary.
    SetWeight(u8),
    /// Wait this long (milliseconds), or until an operator resumes or promotes (`None`).
    Pause(Option<u64>),
    /// Judge the canary with an analysis.
    Analysis(AnalysisSpec),
}

/// How to compare a measured value with a threshold: the check passes when
/// `value <cmp> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Cmp {
    /// Whether `value <self> threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// One success condition of an analysis: `metric <cmp> threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCheck {
    /// A measured value's name (see [`MEASURED`](crate::MEASURED)).
    pub metric: String,
    /// The comparison.
    pub cmp: Cmp,
    /// The threshold.
    pub threshold: f64,
}

/// An analysis run: `count` measurements `interval_ms` apart; each is
/// successful when every check holds, failed when one does not, inconclusive
/// when a value is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSpec {
    /// Its name, for reports.
    pub name: String,
    /// Time between measurements.
    pub interval_ms: u64,
    /// Measurements to take.
    pub count: u32,
    /// The conditions.
    pub checks: Vec<MetricCheck>,
    /// Failed measurements tolerated; one more fails the analysis (abort = rollback).
    #[serde(default)]
    pub failure_limit: u32,
    /// Inconclusive measurements tolerated; one more pauses the rollout for an operator.
    #[serde(default)]
    pub inconclusive_limit: u32,
}

/// A smoke test: one message, dry-run against the new code before traffic
/// moves, and what its result must show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeTest {
    /// Its name, for reports.
    pub name: String,
    /// Tags of the message.
    pub tags: Vec<(String, String)>,
    /// Data of the message.
    #[serde(default)]
    pub data: String,
    /// What the result must show.
    #[serde(default)]
    pub expect: Expectation,
}

/// What a smoke test's dry-run result must show. Empty means: no error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// A reply must carry every one of these tags.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// That reply's data must equal this.
    #[serde(default)]
    pub data: Option<String>,
    /// That reply's data must contain this.
    #[serde(default)]
    pub data_contains: Option<String>,
    /// The printed output must contain this.
    #[serde(default)]
    pub output_contains: Option<String>,
    /// The evaluation must fail (a test that a bad request is refused).
    #[serde(default)]
    pub error: bool,
}

/// The health window after traffic moves: probes every `interval_ms` for
/// `duration_ms`; more than `max_failures` failed probes fail the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWindow {
    /// How long to watch.
    pub duration_ms: u64,
    /// Time between probes.
    pub interval_ms: u64,
    /// Failed probes tolerated.
    #[serde(default)]
    pub max_failures: u32,
}

impl Default for HealthWindow {
    /// One probe, no tolerance.
    fn default() -> Self {
        Self { duration_ms: 0, interval_ms: 1_000, max_failures: 0 }
    }
}

/// Smoke tests before the switch and the health window after it: a release is
/// complete only when both pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// Dry-run tests of the new code.
    #[serde(default)]
    pub smoke: Vec<SmokeTest>,
    /// Probes after the switch.
    #[serde(default)]
    pub health: HealthWindow,
}

/// How a rollout replaces the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Eval the new code into the running process; snapshot state first; on
    /// failure re-Eval the previous release and restore the state. With a
    /// router, traffic is buffered while the code changes.
    InPlace {
        /// The process.
        target: Target,
    },
    /// Spawn green, load it, move the state, smoke-test it, switch the router,
    /// keep blue for `scale_down_delay_ms`, retire it.
    BlueGreen {
        /// The process and its router (required).
        target: Target,
        /// How to spawn green.
        spawn: SpawnSpec,
        /// How long blue stays after the switch, ready for a rollback.
        scale_down_delay_ms: u64,
    },
    /// Update shards in place, `max_unavailable` at a time, health-checked
    /// between batches; past `max_failures` failed shards, every updated shard
    /// rolls back.
    Rolling {
        /// The shards.
        targets: Vec<Target>,
        /// Shards updated at once.
        max_unavailable: u32,
        /// Failed shards tolerated (each rolled back at once).
        max_failures: u32,
    },
    /// Spawn a canary with a copy of the state, mirror a growing share of
    /// senders to it (its replies held back), judge it by analyses; promotion
    /// moves the authoritative state and switches the router.
    Canary {
        /// The process and its router (required).
        target: Target,
        /// How to spawn the canary.
        spawn: SpawnSpec,
        /// The steps.
        steps: Vec<CanaryStep>,
        /// How long the stable process stays after promotion.
        scale_down_delay_ms: u64,
    },
}

impl Strategy {
    /// `in-place`, `blue-green`, `rolling` or `canary`.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::InPlace { .. } => "in-place",
            Strategy::BlueGreen { .. } => "blue-green",
            Strategy::Rolling { .. } => "rolling",
            Strategy::Canary { .. } => "canary",
        }
    }

    /// The serving positions it touches, in order.
    pub fn targets(&self) -> Vec<&Target> {
        match self {
            Strategy::InPlace { target }
            | Strategy::BlueGreen { target, .. }
            | Strategy::Canary { target, .. } => vec![target],
            Strategy::Rolling { targets, .. } => targets.iter().collect(),
        }
    }
}

/// Whether a rollout that passed everything finishes by itself or waits for a
/// `Finalize` (multi-process plans hold every part until all are verified, so a
/// later failure can still roll the earlier parts back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finalize {
    /// Finish at once.
    #[default]
    Auto,
    /// Wait for [`Command::Finalize`](crate::Command::Finalize) (or an abort).
    Manual,
}

/// How state moves between processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateOptions {
    /// The Lua globals that hold the game state (`Arena`).
    pub globals: Vec<String>,
    /// Largest piece of state per message.
    pub chunk_bytes: usize,
    /// How long, after the router holds traffic, the rollout waits for the
    /// process to handle every message the router forwarded before the hold
    /// (messages still in flight on AO) before it gives up and rolls back.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// How often it exports again while it waits for those messages.
    #[serde(default = "default_drain_interval_ms")]
    pub drain_interval_ms: u64,
}

/// 30 s: several AO message round trips under load.
fn default_drain_timeout_ms() -> u64 {
    30_000
}

fn default_drain_interval_ms() -> u64 {
    1_000
}

impl Default for StateOptions {
    /// No globals; 64 KiB chunks; drain for 30 s, checking every second.
    fn default() -> Self {
        Self {
            globals: Vec::new(),
            chunk_bytes: 64 * 1024,
            drain_timeout_ms: default_drain_timeout_ms(),
            drain_interval_ms: default_drain_interval_ms(),
        }
    }
}

/// Everything a rollout needs to run, and to be resumed from its journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSpec {
    /// A unique id (journal and lease name it; spawn references derive from it).
    pub id: String,
    /// The environment (`dev`), for history and metrics.
    pub environment: String,
    /// The release to roll out.
    pub release: ReleaseRef,
    /// The release that runs now (what a rollback restores).
    pub previous: ReleaseRef,
    /// How.
    pub strategy: Strategy,
    /// Smoke tests and the health window.
    #[serde(default)]
    pub validation: Validation,
    /// How state moves.
    #[serde(default)]
    pub state: StateOptions,
    /// Finish by itself or wait for a `Finalize`.
    #[serde(default)]
    pub finalize: Finalize,
    /// The deployer's wallet: the only sender the router takes switches from.
    pub authority: Address,
    /// Free-form labels (who started it, the plan it belongs to).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl RolloutSpec {
    /// Checks the spec is self-consistent: ids and hashes well formed, routers
    /// where the strategy needs one, weights and batch sizes in range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Error::spec(format!("rollout id {:?} must be 1-64 of [A-Za-z0-9._-]", self.id)));
        }
        for (what, r) in [("release", &self.release), ("previous", &self.previous)] {
            if !is_hash(&r.hash) {
                return Err(Error::spec(format!("{what} hash {:?} is not 64 lowercase hex digits", r.hash)));
            }
        }
        if self.state.chunk_bytes < 16 {
            return Err(Error::spec(format!("state.chunk_bytes {} is below 16", self.state.chunk_bytes)));
        }
        if self.state.drain_interval_ms == 0 {
            return Err(Error::spec("state.drain_interval_ms must be above 0"));
        }
        if self.validation.health.interval_ms == 0 {
            return Err(Error::spec("validation.health.interval_ms must be above 0"));
        }
        let targets = self.strategy.targets();
        if targets.is_empty() {
            return Err(Error::spec("no target"));
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &targets {
            if !names.insert(&t.name) {
                return Err(Error::spec(format!("target {} appears twice", t.name)));
            }
            if t.router.as_ref() == Some(&t.process) {
                return Err(Error::spec(format!("target {}: the router cannot be the process", t.name)));
            }
        }
        match &self.strategy {
            Strategy::BlueGreen { target, .. } | Strategy::Canary { target, .. }
                if target.router.is_none() =>
            {
                Err(Error::spec(format!(
                    "{} needs a router in front of {}",
                    self.strategy.name(),
                    target.name
                )))
            }
            Strategy::Rolling { max_unavailable: 0, .. } => {
                Err(Error::spec("rolling: max_unavailable must be at least 1"))
            }
            Strategy::Canary { steps, .. } => {
                for (i, s) in steps.iter().enumerate() {
                    match s {
                        CanaryStep::SetWeight(w) if *w > 100 => {
                            return Err(Error::spec(format!("canary step {i}: weight {w} is over 100")));
                        }
                        CanaryStep::Analysis(a)
                            if a.count == 0 || a.interval_ms == 0 || a.checks.is_empty() =>
                        {
                            return Err(Error::spec(format!(
                                "canary step {i}: analysis {} needs count, interval_ms and checks above 0",
                                a.name
                            )));
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canary spec with every field set: the journal's first record, pinned.
    pub(crate) fn sample() -> RolloutSpec {
        let pid = |b: u8| ProcessId::from_bytes([b; 32]);
        RolloutSpec {
            id: "dev-world-2".into(),
            environment: "dev".into(),
            release: ReleaseRef {
                target: "arena".into(),
                version: "2".into(),
                hash: "2".repeat(64),
                config: serde_json::Map::from_iter([("max_players".to_owned(), 16.into())]),
            },
            previous: ReleaseRef {
                target: "arena".into(),
                version: "1".into(),
                hash: "1".repeat(64),
                config: serde_json::Map::new(),
            },
            strategy: Strategy::Canary {
                target: Target { name: "world/0".into(), process: pid(1), router: Some(pid(2)) },
                spawn: SpawnSpec {
                    module: ModuleId::from_bytes([3; 32]),
                    scheduler: Address::from_bytes([4; 32]),
                    tags: vec![("Name".into(), "arena-dev-world-0".into())],
                    boot: None,
                },
                steps: vec![
                    CanaryStep::SetWeight(20),
                    CanaryStep::Pause(Some(30_000)),
                    CanaryStep::Analysis(AnalysisSpec {
                        name: "errors".into(),
                        interval_ms: 10_000,
                        count: 3,
                        checks: vec![MetricCheck {
                            metric: "canary_error_ratio".into(),
                            cmp: Cmp::Le,
                            threshold: 0.01,
                        }],
                        failure_limit: 0,
                        inconclusive_limit: 1,
                    }),
                    CanaryStep::Pause(None),
                ],
                scale_down_delay_ms: 60_000,
            },
            validation: Validation {
                smoke: vec![SmokeTest {
                    name: "ping".into(),
                    tags: vec![("Action".into(), "Ping".into())],
                    data: String::new(),
                    expect: Expectation {
                        tags: vec![("Action".into(), "Pong".into())],
                        data: Some("pong".into()),
                        ..Expectation::default()
                    },
                }],
                health: HealthWindow { duration_ms: 60_000, interval_ms: 10_000, max_failures: 1 },
            },
            state: StateOptions {
                globals: vec!["Arena".into()],
                chunk_bytes: 65_536,
                ..StateOptions::default()
            },
            finalize: Finalize::Auto,
            authority: Address::from_bytes([9; 32]),
            labels: BTreeMap::from([("by".into(), "ann".into())]),
        }
    }

    #[test]
    fn spec_json_is_pinned() {
        let json = serde_json::to_string_pretty(&sample()).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/spec.json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(path, &json).unwrap();
        }
        assert_eq!(json, std::fs::read_to_string(path).unwrap(), "UPDATE_GOLDEN=1 rewrites it");
        assert_eq!(serde_json::from_str::<RolloutSpec>(&json).unwrap(), sample());
        sample().validate().unwrap();
    }

    #[test]
    fn inconsistent_specs_are_refused() {
        type Change = Box<dyn Fn(&mut RolloutSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.id = "a b".into()), "rollout id"),
            (Box::new(|s| s.release.hash = "XY".into()), "release hash"),
            (Box::new(|s| s.state.chunk_bytes = 8), "chunk_bytes"),
            (
                Box::new(|s| {
                    if let Strategy::Canary { target, .. } = &mut s.strategy {
                        target.router = None;
                    }
                }),
                "needs a router",
            ),
            (
                Box::new(|s| {
                    if let Strategy::Canary { steps, .. } = &mut s.strategy {
                        steps[0] = CanaryStep::SetWeight(101);
                    }
                }),
                "weight 101",
            ),
        ];
        for (change, expected) in cases {
            let mut s = sample();
            change(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
