//! The [`Rollout`] state machine: events and `now` in, actions out. No IO.
//!
//! A strategy compiles into a *program*: stages run one after another; a stage
//! holds one lane per serving position updated at the same time (a rolling
//! batch), and a lane is a list of steps. A step emits actions one at a time and
//! judges their outcomes. On a failure the core waits for the actions in flight,
//! then plans a rollback from its model of the world (what each router does,
//! what code each process runs, who has served traffic) and runs it the same way.

use std::collections::BTreeMap;
use std::fmt;

use ao_health::Timestamp;
use ao_transport::ProcessId;
use serde::{Deserialize, Serialize};

use crate::analysis::{Verdict, judge};
use crate::error::{Error, ErrorKind};
use crate::spec::{CanaryStep, Finalize, ReleaseRef, RolloutSpec, SmokeTest, SpawnSpec, Strategy};

/// Which of a serving position's processes: the one serving before the rollout
/// (blue, or the stable process of a canary) or the new one (green, the canary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The process that served before.
    Blue,
    /// The process spawned for the new release.
    Green,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Blue => "blue",
            Role::Green => "green",
        })
    }
}

/// Identifies an action; the event reporting its outcome names it.
pub type ActionId = u64;

/// Something the driver must do, then report with [`Event::Done`] or [`Event::Failed`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Its id.
    pub id: ActionId,
    /// The serving position it concerns (`world/0`).
    pub target: String,
    /// What to do.
    pub kind: ActionKind,
}

/// What an [`Action`] asks for. Every kind except `Spawn` is idempotent, so a
/// resumed driver may safely repeat the action that was in flight at a crash;
/// a repeated `Spawn` is found again through its `reference` when the driver
/// has a [`SpawnLookup`](crate::SpawnLookup).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Spawn a process; `reference` is unique to this rollout and position.
    Spawn {
        /// A stable reference (tag `Deploy-Ref`) to find the spawn again.
        reference: String,
        /// How.
        spawn: SpawnSpec,
    },
    /// Install ao-deploy's module into a running process and load the release it
    /// already runs again (a hot reload of the same code: no change of behaviour).
    Prepare {
        /// The process.
        process: ProcessId,
        /// The release it runs.
        release: ReleaseRef,
        /// Its router, trusted for forwarded senders.
        router: Option<ProcessId>,
    },
    /// Eval the module, the config and the release's code (last) into a process.
    Load {
        /// The process.
        process: ProcessId,
        /// The release to load.
        release: ReleaseRef,
        /// Its router, trusted for forwarded senders.
        router: Option<ProcessId>,
    },
    /// Make the router buffer every message until the next `Route`.
    Hold {
        /// The router.
        router: ProcessId,
    },
    /// Export a process's state and keep it under `key` (in-place rollbacks restore it).
    Snapshot {
        /// The process.
        process: ProcessId,
        /// Where the driver keeps it.
        key: String,
        /// Run the migration backward (new release → previous) on what is kept.
        backward: bool,
    },
    /// Import the state kept under `key` into a process.
    Restore {
        /// The process.
        process: ProcessId,
        /// The snapshot.
        key: String,
    },
    /// Export state from one process, migrate it, import it into another and
    /// check what the second holds.
    Transfer {
        /// Source.
        from: ProcessId,
        /// Destination.
        to: ProcessId,
        /// Migrate backward (new release → previous), for a rollback.
        backward: bool,
    },
    /// Dry-run the smoke tests against a process.
    Smoke {
        /// The process.
        process: ProcessId,
        /// The tests.
        tests: Vec<SmokeTest>,
    },
    /// Point the router at `primary` (flushing its buffer there), mirroring
    /// `shadow.1` % of senders to `shadow.0`.
    Route {
        /// The router.
        router: ProcessId,
        /// Where every message goes.
        primary: ProcessId,
        /// A canary that gets copies (replies held back), and the share of senders.
        shadow: Option<(ProcessId, u8)>,
    },
    /// Probe a process once (ao-health).
    Probe {
        /// The process.
        process: ProcessId,
    },
    /// Measure the canary against the stable process for an analysis.
    Measure {
        /// The stable process.
        stable: ProcessId,
        /// The canary.
        canary: ProcessId,
    },
    /// Report [`Outcome::Waited`] at or after this time.
    Wait {
        /// When.
        #[serde(with = "crate::ts")]
        until: Timestamp,
    },
    /// Retire a process: it stops serving for good.
    Retire {
        /// The process.
        process: ProcessId,
    },
}

/// What a successful action produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// `Spawn`: the new process.
    Spawned {
        /// Its id.
        process: ProcessId,
    },
    /// `Prepare` done.
    Prepared,
    /// `Load`: the hash of the code now loaded.
    Loaded {
        /// BLAKE3 of the code, hex.
        hash: String,
    },
    /// `Hold`: the router's last forwarded sequence number.
    Held {
        /// Messages forwarded so far.
        last_seq: u64,
    },
    /// `Snapshot` taken.
    Snapshotted {
        /// BLAKE3 of the exported (and, if asked, migrated) state.
        hash: String,
        /// Its size.
        bytes: u64,
        /// The last forwarded message the process had handled.
        last_seq: u64,
    },
    /// `Restore` done.
    Restored {
        /// BLAKE3 of the state the process holds now.
        hash: String,
        /// Messages the process had handled since the snapshot, whose effects the
        /// restore undid (only possible without a router to hold traffic).
        discarded: u64,
    },
    /// `Transfer` done.
    Transferred {
        /// BLAKE3 of what the source exported.
        exported: String,
        /// BLAKE3 after migration (what the destination must hold).
        migrated: String,
        /// BLAKE3 of what the destination exports after the import.
        imported: String,
        /// Bytes moved.
        bytes: u64,
        /// The last forwarded message the source had handled.
        source_last_seq: u64,
    },
    /// `Smoke`: the failed tests with why (empty: all passed).
    Smoke {
        /// `name: reason` of each failed test.
        failures: Vec<String>,
    },
    /// `Route` done.
    Routed {
        /// Buffered messages the router forwarded on the switch.
        flushed: u64,
    },
    /// `Probe`: healthy or not, and why.
    Probed {
        /// Whether the probe passed.
        healthy: bool,
        /// Why not, or a note.
        reason: Option<String>,
    },
    /// `Measure`: named values (see [`MEASURED`](crate::MEASURED)).
    Measured {
        /// The values; a missing one makes a check inconclusive.
        values: BTreeMap<String, f64>,
    },
    /// `Wait` over.
    Waited,
    /// `Retire` done.
    Retired,
}

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Stop issuing actions (deferred while a router buffers traffic).
    Pause,
    /// Continue after a pause (also a step's pause or an inconclusive analysis, which reruns).
    Resume,
    /// Skip the remaining pauses, weight steps and analyses (smoke tests and the
    /// health window still run); finalize when waiting for it.
    Promote,
    /// Roll back now.
    Abort,
    /// Let a rollout with [`Finalize::Manual`] finish.
    Finalize,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Promote => "promote",
            Command::Abort => "abort",
            Command::Finalize => "finalize",
        })
    }
}

/// An input to the core. Every event carries the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// An action succeeded.
    Done {
        /// The action.
        id: ActionId,
        /// When it finished.
        #[serde(with = "crate::ts")]
        at: Timestamp,
        /// What it produced.
        outcome: Outcome,
    },
    /// An action failed for good (the driver has already retried what was retryable).
    Failed {
        /// The action.
        id: ActionId,
        /// When.
        #[serde(with = "crate::ts")]
        at: Timestamp,
        /// Why.
        error: String,
    },
    /// An operator's command.
    Command {
        /// When.
        #[serde(with = "crate::ts")]
        at: Timestamp,
        /// Which.
        command: Command,
    },
}

impl Event {
    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Done { at, .. } | Event::Failed { at, .. } | Event::Command { at, .. } => *at,
        }
    }
}

/// Why a rollout is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseReason {
    /// An operator asked.
    Operator,
    /// A canary step without a duration: until an operator resumes or promotes.
    Step,
    /// An analysis had more inconclusive measurements than allowed.
    Inconclusive {
        /// The analysis.
        analysis: String,
    },
}

/// Where a rollout stands. The last four are terminal: they accept no event
/// and emit no action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Running forward.
    Progressing,
    /// Paused; see the reason.
    Paused(PauseReason),
    /// Everything passed; waiting for [`Command::Finalize`].
    AwaitingFinalize,
    /// A step failed or an operator aborted; undoing what was done.
    RollingBack,
    /// The new release serves everywhere and passed its validation.
    Succeeded,
    /// A rolling update finished with some shards rolled back (no more than allowed).
    Partial,
    /// Rolled back: the previous release serves everywhere again.
    RolledBack,
    /// The rollback itself failed; an operator must look (the failure says what).
    RollbackFailed,
}

impl Phase {
    /// Whether the rollout has finished.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Partial | Phase::RolledBack | Phase::RollbackFailed)
    }

    /// A short name (`rolling-back`).
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Progressing => "progressing",
            Phase::Paused(_) => "paused",
            Phase::AwaitingFinalize => "awaiting-finalize",
            Phase::RollingBack => "rolling-back",
            Phase::Succeeded => "succeeded",
            Phase::Partial => "partial",
            Phase::RolledBack => "rolled-back",
            Phase::RollbackFailed => "rollback-failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Paused(PauseReason::Inconclusive { analysis }) => {
                write!(f, "paused (analysis {analysis} inconclusive)")
            }
            Phase::Paused(PauseReason::Step) => f.write_str("paused (until promoted or resumed)"),
            Phase::Paused(PauseReason::Operator) => f.write_str("paused (by an operator)"),
            other => f.write_str(other.name()),
        }
    }
}

/// The step that failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The serving position.
    pub target: String,
    /// The step (`smoke green`).
    pub step: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.target, self.step, self.reason)
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepResult {
    /// Still running.
    Running,
    /// Passed.
    Ok,
    /// Failed, with why.
    Failed(String),
    /// Skipped by a promotion.
    Skipped,
}

/// One step as it ran: the history of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The serving position.
    pub target: String,
    /// The step.
    pub step: String,
    /// Part of the rollback.
    pub rollback: bool,
    /// When it started.
    #[serde(with = "crate::ts")]
    pub started: Timestamp,
    /// When it ended.
    #[serde(with = "crate::ts::option")]
    pub finished: Option<Timestamp>,
    /// How.
    pub result: StepResult,
}

/// What code a process holds, as far as the core knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// Freshly spawned: no release.
    Empty,
    /// This release (hash).
    Known(String),
    /// A load was attempted and did not finish cleanly.
    Unknown,
}

/// Whether a process has served (authoritatively) since it got the new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Served {
    /// No.
    No,
    /// Perhaps (a switch to it failed without saying whether it happened).
    Maybe,
    /// Yes.
    Yes,
}

/// The core's model of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcModel {
    /// Its id (`None` until spawned).
    pub process: Option<ProcessId>,
    /// Its code.
    pub code: Code,
    /// Retired.
    pub retired: bool,
    /// Served traffic with the new release's code.
    pub served_new: Served,
}

/// What a router does, as far as the core knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteMode {
    /// Forwards every message to `primary`, mirroring `shadow` % of senders to green.
    Forward {
        /// Who serves.
        primary: Role,
        /// Share of senders mirrored to green.
        shadow: Option<u8>,
    },
    /// Buffers every message.
    Hold,
    /// A route change failed without saying whether it happened.
    Unknown,
}

/// The core's model of a router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterModel {
    /// Its id.
    pub id: ProcessId,
    /// What it does.
    pub mode: RouteMode,
    /// The last sequence number it forwarded when it started holding.
    pub held_seq: Option<u64>,
}

/// The core's model of one serving position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitModel {
    /// Its name.
    pub name: String,
    /// Its router.
    pub router: Option<RouterModel>,
    /// The process that served before.
    pub blue: ProcModel,
    /// The new process, once spawned.
    pub green: Option<ProcModel>,
    /// A snapshot of blue's state was taken before its code changed.
    pub snapshot: bool,
    /// Something was changed (the rollback visits it).
    pub touched: bool,
}

/// Who serves a position now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// This process, with this code.
    Process {
        /// Which one.
        role: Role,
        /// Its id.
        process: ProcessId,
        /// Its code.
        code: Code,
    },
    /// The router buffers (no process serves, nothing is lost).
    Buffering,
    /// Nobody knows (a route change failed ambiguously); the rollback settles it.
    Unknown,
}

impl UnitModel {
    fn proc(&self, role: Role) -> Option<&ProcModel> {
        match role {
            Role::Blue => Some(&self.blue),
            Role::Green => self.green.as_ref(),
        }
    }

    fn proc_mut(&mut self, role: Role) -> Option<&mut ProcModel> {
        match role {
            Role::Blue => Some(&mut self.blue),
            Role::Green => self.green.as_mut(),
        }
    }

    /// Who serves now.
    pub fn serving(&self) -> Serving {
        let role = match &self.router {
            None => Role::Blue,
            Some(r) => match r.mode {
                RouteMode::Forward { primary, .. } => primary,
                RouteMode::Hold => return Serving::Buffering,
                RouteMode::Unknown => return Serving::Unknown,
            },
        };
        match self.proc(role) {
            Some(p) => match &p.process {
                Some(process) => Serving::Process { role, process: process.clone(), code: p.code.clone() },
                None => Serving::Unknown,
            },
            None => Serving::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    New,
    Previous,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Spawn,
    Prepare,
    Load { role: Role, which: Which },
    Hold,
    Snapshot { carry: bool },
    Restore { carry: bool },
    Transfer { from: Role, to: Role },
    Smoke { role: Role },
    Route { primary: Role, shadow: Option<u8>, skippable: bool },
    Health { role: Role },
    Analysis(usize),
    Pause(Option<u64>),
    Wait(u64),
    Retire { role: Role, cleanup: bool },
    AwaitFinalize,
}

impl Op {
    fn skippable(&self) -> bool {
        matches!(self, Op::Route { skippable: true, .. } | Op::Analysis(_) | Op::Pause(_))
    }

    fn name(&self, spec: &RolloutSpec) -> String {
        match self {
            Op::Spawn => "spawn green".into(),
            Op::Prepare => "prepare blue".into(),
            Op::Load { role, which: Which::New } => format!("load {} into {role}", spec.release.label()),
            Op::Load { role, which: Which::Previous } => {
                format!("reload {} into {role}", spec.previous.label())
            }
            Op::Hold => "hold traffic".into(),
            Op::Snapshot { carry: false } => "snapshot blue".into(),
            Op::Snapshot { carry: true } => "export state for rollback".into(),
            Op::Restore { .. } => "restore blue's state".into(),
            Op::Transfer { from, to } => format!("transfer state {from} -> {to}"),
            Op::Smoke { role } => format!("smoke {role}"),
            Op::Route { primary, shadow: None, .. } => format!("switch to {primary}"),
            Op::Route { primary, shadow: Some(w), .. } => format!("serve {primary}, mirror {w}% to green"),
            Op::Health { role } => format!("health window {role}"),
            Op::Analysis(i) => match canary_steps(spec).get(*i) {
                Some(CanaryStep::Analysis(a)) => format!("analysis {}", a.name),
                _ => "analysis".into(),
            },
            Op::Pause(Some(ms)) => format!("pause {ms} ms"),
            Op::Pause(None) => "pause until promoted".into(),
            Op::Wait(ms) => format!("scale-down delay {ms} ms"),
            Op::Retire { role, .. } => format!("retire {role}"),
            Op::AwaitFinalize => "await finalize".into(),
        }
    }
}

fn canary_steps(spec: &RolloutSpec) -> &[CanaryStep] {
    match &spec.strategy {
        Strategy::Canary { steps, .. } => steps,
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
enum Sub {
    #[default]
    Fresh,
    Health {
        end: Timestamp,
        probes: u32,
        failures: u32,
        last_reason: Option<String>,
        wait: bool,
    },
    Analysis {
        taken: u32,
        failures: u32,
        inconclusive: u32,
        wait: bool,
    },
    Waiting {
        until: Timestamp,
    },
    /// An export found the process behind the router (messages forwarded
    /// before the hold still in flight): wait, then export again, until `deadline`.
    Draining {
        deadline: Timestamp,
        wait: bool,
    },
    Blocked,
}

#[derive(Debug, Clone)]
struct Lane {
    unit: usize,
    ops: Vec<Op>,
    pc: usize,
    sub: Sub,
    waiting: Option<ActionId>,
    /// Index into `steps` of the current step's record.
    record: Option<usize>,
    /// A rolling shard's own rollback after it failed.
    local_rollback: bool,
    /// A promotion arrived while this lane's skippable step had an action in flight.
    skip_current: bool,
}

impl Lane {
    fn new(unit: usize, ops: Vec<Op>) -> Self {
        Self {
            unit,
            ops,
            pc: 0,
            sub: Sub::Fresh,
            waiting: None,
            record: None,
            local_rollback: false,
            skip_current: false,
        }
    }

    fn done(&self) -> bool {
        self.pc >= self.ops.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    RollingBack,
}

/// A step's verdict on an outcome.
enum Progress {
    Next,
    Again,
    Inconclusive(String),
}

/// A rollout as a sans-IO state machine.
///
/// Feed it [`Event`]s with [`handle`](Self::handle); take [`Action`]s with
/// [`poll_action`](Self::poll_action) until it returns `None`, run them, and
/// report each outcome as an event. The same spec and the same events always
/// give the same actions, which is what lets a crashed driver resume from its
/// journal. A terminal rollout emits nothing and refuses events.
///
/// ```text
///                 ┌──────── pause/resume ───────┐
///                 v                             │
///  new ──> Progressing ──> AwaitingFinalize ──> Succeeded | Partial
///             │  ^ │               │
///             │  │ └─> Paused ─────┤ (abort, failure)
///             │  └──── resume ─────┘
///             └─(failure, abort)─> RollingBack ──> RolledBack | RollbackFailed
/// ```
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent operator flags, each documented where set
pub struct Rollout {
    spec: RolloutSpec,
    units: Vec<UnitModel>,
    stages: Vec<Vec<Lane>>,
    stage: usize,
    mode: Mode,
    terminal: Option<Phase>,
    next_id: ActionId,
    outstanding: BTreeMap<ActionId, usize>,
    now: Timestamp,
    started: Timestamp,
    failure: Option<Failure>,
    rollback_error: Option<Failure>,
    pause: Option<PauseReason>,
    pause_requested: bool,
    promoted: bool,
    finalized: bool,
    awaiting_finalize: bool,
    committed: bool,
    failed_units: Vec<String>,
    max_failures: u32,
    warnings: Vec<String>,
    steps: Vec<StepRecord>,
    finished_at: Option<Timestamp>,
    failed_at: Option<Timestamp>,
}

/// A step of the plan a rollout would run, for `--plan`: nothing is touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// Stage (batch) number, from 0.
    pub stage: usize,
    /// The serving position.
    pub target: String,
    /// What would be done.
    pub step: String,
    /// What it touches (spawns, evaluates, switches), in words.
    pub detail: String,
}

impl Rollout {
    /// A rollout of `spec` starting at `now`. Fails on an inconsistent spec.
    pub fn new(spec: RolloutSpec, now: Timestamp) -> Result<Self, Error> {
        spec.validate()?;
        let units = spec
            .strategy
            .targets()
            .iter()
            .map(|t| UnitModel {
                name: t.name.clone(),
                router: t.router.clone().map(|id| RouterModel {
                    id,
                    mode: RouteMode::Forward { primary: Role::Blue, shadow: None },
                    held_seq: None,
                }),
                blue: ProcModel {
                    process: Some(t.process.clone()),
                    code: Code::Known(spec.previous.hash.clone()),
                    retired: false,
                    served_new: Served::No,
                },
                green: None,
                snapshot: false,
                touched: false,
            })
            .collect();
        let stages = program(&spec);
        let max_failures = match &spec.strategy {
            Strategy::Rolling { max_failures, .. } => *max_failures,
            _ => 0,
        };
        let mut r = Self {
            spec,
            units,
            stages,
            stage: 0,
            mode: Mode::Forward,
            terminal: None,
            next_id: 1,
            outstanding: BTreeMap::new(),
            now,
            started: now,
            failure: None,
            rollback_error: None,
            pause: None,
            pause_requested: false,
            promoted: false,
            finalized: false,
            awaiting_finalize: false,
            committed: false,
            failed_units: Vec::new(),
            max_failures,
            warnings: Vec::new(),
            steps: Vec::new(),
            finished_at: None,
            failed_at: None,
        };
        r.advance();
        Ok(r)
    }

    /// The plan `spec` would run, step by step, without touching anything.
    pub fn preview(spec: &RolloutSpec) -> Result<Vec<PlannedStep>, Error> {
        spec.validate()?;
        let targets = spec.strategy.targets();
        let mut out = Vec::new();
        for (stage, lanes) in program(spec).iter().enumerate() {
            for lane in lanes {
                let t = targets[lane.unit];
                for op in &lane.ops {
                    out.push(PlannedStep {
                        stage,
                        target: t.name.clone(),
                        step: op.name(spec),
                        detail: describe(spec, t, op),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The spec.
    pub fn spec(&self) -> &RolloutSpec {
        &self.spec
    }

    /// Where it stands.
    pub fn phase(&self) -> Phase {
        if let Some(t) = &self.terminal {
            return t.clone();
        }
        if self.mode == Mode::RollingBack || self.failure.is_some() {
            return Phase::RollingBack;
        }
        if let Some(p) = &self.pause {
            return Phase::Paused(p.clone());
        }
        if self.awaiting_finalize {
            return Phase::AwaitingFinalize;
        }
        Phase::Progressing
    }

    /// Whether it has finished.
    pub fn is_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// The failure that started the rollback, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Why the rollback failed, if it did.
    pub fn rollback_error(&self) -> Option<&Failure> {
        self.rollback_error.as_ref()
    }

    /// Shards of a rolling update that failed and were rolled back on their own.
    pub fn failed_targets(&self) -> &[String] {
        &self.failed_units
    }

    /// Things that went wrong without failing the rollout (a cleanup retire).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The core's model of every serving position.
    pub fn units(&self) -> &[UnitModel] {
        &self.units
    }

    /// Every step so far, in the order they started.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The time of the latest event.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// When the rollout started.
    pub fn started(&self) -> Timestamp {
        self.started
    }

    /// When it reached its terminal phase.
    pub fn finished(&self) -> Option<Timestamp> {
        self.finished_at
    }

    /// When the failure that started the rollback happened.
    pub fn failed_at(&self) -> Option<Timestamp> {
        self.failed_at
    }

    /// Actions emitted and not yet reported.
    pub fn in_flight(&self) -> Vec<ActionId> {
        self.outstanding.keys().copied().collect()
    }

    fn holding(&self) -> bool {
        self.units.iter().any(|u| u.router.as_ref().is_some_and(|r| r.mode == RouteMode::Hold))
    }

    /// The next action to run, or `None` when the rollout waits for events (or has finished).
    /// Call it until it returns `None` after every [`handle`](Self::handle).
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.terminal.is_some()
            || self.pause.is_some()
            || self.failure.is_some() && self.mode == Mode::Forward
        {
            return None;
        }
        if self.rollback_error.is_some() {
            return None;
        }
        let lanes = self.stages.get(self.stage)?.len();
        for li in 0..lanes {
            let lane = &self.stages[self.stage][li];
            if lane.done() || lane.waiting.is_some() || lane.sub == Sub::Blocked {
                continue;
            }
            if self.pause_requested && self.mode == Mode::Forward && !self.holding() {
                self.pause = Some(PauseReason::Operator);
                self.pause_requested = false;
                return None;
            }
            if let Some(kind) = self.start_action(li) {
                let id = self.next_id;
                self.next_id += 1;
                self.stages[self.stage][li].waiting = Some(id);
                self.outstanding.insert(id, li);
                let target = self.units[self.stages[self.stage][li].unit].name.clone();
                return Some(Action { id, target, kind });
            }
        }
        None
    }

    /// Every action available now ([`poll_action`](Self::poll_action) until `None`).
    ///
    /// Drivers call this after [`new`](Self::new) and after every
    /// [`handle`](Self::handle): the core numbers actions in the order they are
    /// polled, so a replay that drains at the same points gives the same ids.
    #[must_use]
    pub fn drain_actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.poll_action()).collect()
    }

    /// Rebuilds a rollout from its spec, start time and events (a journal),
    /// draining actions after each event as a driver does. Returns the rollout
    /// and the actions still in flight, which the resumed driver runs again
    /// (all but `Spawn` are idempotent; a spawn is looked up by its reference).
    ///
    /// Events the core refused when they first arrived (a rejected command)
    /// are refused again and change nothing.
    pub fn replay(
        spec: RolloutSpec,
        started: Timestamp,
        events: &[Event],
    ) -> Result<(Self, Vec<Action>), Error> {
        let mut r = Self::new(spec, started)?;
        let mut pending: Vec<Action> = r.drain_actions();
        for e in events {
            let id = match e {
                Event::Done { id, .. } | Event::Failed { id, .. } => Some(*id),
                Event::Command { .. } => None,
            };
            match r.handle(e.clone()) {
                Ok(()) => {}
                Err(err) if matches!(err.kind(), ErrorKind::Rejected { .. }) => {}
                Err(err) => return Err(err),
            }
            if let Some(id) = id {
                pending.retain(|a| a.id != id);
            }
            pending.extend(r.drain_actions());
        }
        Ok((r, pending))
    }

    /// Feeds one event. Errors: the rollout is terminal, the event names no
    /// action in flight or carries the wrong outcome (misuse), or a command
    /// does not apply now (rejected; nothing changed).
    pub fn handle(&mut self, event: Event) -> Result<(), Error> {
        if let Some(t) = &self.terminal {
            return Err(Error::new(ErrorKind::Terminal { phase: t.name().into() }));
        }
        self.now = self.now.max(event.at());
        match event {
            Event::Command { command, .. } => self.command(command)?,
            Event::Done { id, outcome, .. } => {
                let li = self.take(id)?;
                self.complete(li, Ok(outcome))?;
            }
            Event::Failed { id, error, .. } => {
                let li = self.take(id)?;
                self.complete(li, Err(error))?;
            }
        }
        self.advance();
        Ok(())
    }

    fn take(&mut self, id: ActionId) -> Result<usize, Error> {
        let li = self
            .outstanding
            .remove(&id)
            .ok_or_else(|| Error::misuse(format!("no action {id} is in flight")))?;
        self.stages[self.stage][li].waiting = None;
        Ok(li)
    }

    fn command(&mut self, command: Command) -> Result<(), Error> {
        let reject = |reason: &str| {
            Err(Error::new(ErrorKind::Rejected { command: command.to_string(), reason: reason.into() }))
        };
        if self.mode == Mode::RollingBack || self.failure.is_some() {
            return reject("the rollout is rolling back");
        }
        match command {
            Command::Pause => {
                if self.pause.is_some() || self.pause_requested {
                    return reject("already paused");
                }
                if self.holding() {
                    self.pause_requested = true;
                } else {
                    self.pause = Some(PauseReason::Operator);
                }
            }
            Command::Resume => match self.pause.take() {
                None if self.pause_requested => self.pause_requested = false,
                None => return reject("the rollout is not paused"),
                Some(PauseReason::Operator) => {}
                Some(PauseReason::Step) => self.for_blocked(|lane| {
                    lane.pc += 1;
                    lane.sub = Sub::Fresh;
                }),
                Some(PauseReason::Inconclusive { .. }) => self.for_blocked(|lane| lane.sub = Sub::Fresh),
            },
            Command::Promote => {
                self.promoted = true;
                self.pause = None;
                self.pause_requested = false;
                self.finalized = true;
                let stage = self.stage;
                if let Some(lanes) = self.stages.get_mut(stage) {
                    for lane in lanes {
                        if lane.ops.get(lane.pc).is_some_and(Op::skippable) {
                            if lane.waiting.is_some() {
                                lane.skip_current = true;
                            } else if lane.sub == Sub::Blocked || lane.sub != Sub::Fresh {
                                lane.sub = Sub::Fresh;
                            }
                        }
                    }
                }
            }
            Command::Abort => {
                if self.committed {
                    return reject("the previous release is being retired; roll back with a new rollout");
                }
                self.pause = None;
                self.pause_requested = false;
                let target = self.current_target();
                self.fail_global(target, "operator".into(), "aborted by an operator".into());
            }
            Command::Finalize => {
                if self.spec.finalize == Finalize::Auto {
                    return reject("the rollout finalizes by itself");
                }
                self.finalized = true;
                self.pause = None;
            }
        }
        Ok(())
    }

    fn current_target(&self) -> String {
        self.stages
            .get(self.stage)
            .and_then(|l| l.first())
            .map_or_else(|| self.units[0].name.clone(), |l| self.units[l.unit].name.clone())
    }

    fn for_blocked(&mut self, mut f: impl FnMut(&mut Lane)) {
        let stage = self.stage;
        if let Some(lanes) = self.stages.get_mut(stage) {
            for lane in lanes.iter_mut().filter(|l| l.sub == Sub::Blocked) {
                f(lane);
            }
        }
    }

    fn release(&self, which: Which) -> &ReleaseRef {
        match which {
            Which::New => &self.spec.release,
            Which::Previous => &self.spec.previous,
        }
    }

    fn pid(&self, unit: usize, role: Role) -> Option<ProcessId> {
        self.units[unit].proc(role).and_then(|p| p.process.clone())
    }

    fn begin_record(&mut self, li: usize) {
        let lane = &self.stages[self.stage][li];
        if lane.record.is_some() {
            return;
        }
        let step = lane.ops[lane.pc].name(&self.spec);
        let rollback = self.mode == Mode::RollingBack || lane.local_rollback;
        self.steps.push(StepRecord {
            target: self.units[lane.unit].name.clone(),
            step,
            rollback,
            started: self.now,
            finished: None,
            result: StepResult::Running,
        });
        self.stages[self.stage][li].record = Some(self.steps.len() - 1);
    }

    fn end_record(&mut self, li: usize, result: StepResult) {
        if let Some(i) = self.stages[self.stage][li].record.take() {
            self.steps[i].finished = Some(self.now);
            self.steps[i].result = result;
        }
    }

    /// The action the lane's current step needs next, updating the model for
    /// what the action is about to change.
    fn start_action(&mut self, li: usize) -> Option<ActionKind> {
        self.begin_record(li);
        let now = self.now;
        let lane = &self.stages[self.stage][li];
        let unit = lane.unit;
        let op = lane.ops[lane.pc].clone();
        let router = self.units[unit].router.as_ref().map(|r| r.id.clone());
        let blue = self.pid(unit, Role::Blue);
        let kind = match op {
            Op::Spawn => {
                let spawn = match &self.spec.strategy {
                    Strategy::BlueGreen { spawn, .. } | Strategy::Canary { spawn, .. } => spawn.clone(),
                    _ => return None,
                };
                let reference = format!("{}/{}/green", self.spec.id, self.units[unit].name);
                ActionKind::Spawn { reference, spawn }
            }
            Op::Prepare => {
                ActionKind::Prepare { process: blue?, release: self.spec.previous.clone(), router }
            }
            Op::Load { role, which } => {
                let process = self.pid(unit, role)?;
                let release = self.release(which).clone();
                if let Some(p) = self.units[unit].proc_mut(role) {
                    p.code = Code::Unknown;
                }
                ActionKind::Load { process, release, router }
            }
            Op::Hold => ActionKind::Hold { router: router? },
            Op::Snapshot { .. } | Op::Transfer { .. } if self.drain_wait(li).is_some() => {
                ActionKind::Wait { until: self.drain_wait(li)? }
            }
            Op::Snapshot { carry } => ActionKind::Snapshot {
                process: blue?,
                key: snapshot_key(&self.units[unit].name, carry),
                backward: carry,
            },
            Op::Restore { carry } => {
                ActionKind::Restore { process: blue?, key: snapshot_key(&self.units[unit].name, carry) }
            }
            Op::Transfer { from, to } => ActionKind::Transfer {
                from: self.pid(unit, from)?,
                to: self.pid(unit, to)?,
                backward: from == Role::Green,
            },
            Op::Smoke { role } => ActionKind::Smoke {
                process: self.pid(unit, role)?,
                tests: self.spec.validation.smoke.clone(),
            },
            Op::Route { primary, shadow, .. } => ActionKind::Route {
                router: router?,
                primary: self.pid(unit, primary)?,
                shadow: match shadow {
                    Some(w) => Some((self.pid(unit, Role::Green)?, w)),
                    None => None,
                },
            },
            Op::Health { role } => {
                let window = &self.spec.validation.health;
                let sub = &mut self.stages[self.stage][li].sub;
                if *sub == Sub::Fresh {
                    *sub = Sub::Health {
                        end: now + ms(window.duration_ms),
                        probes: 0,
                        failures: 0,
                        last_reason: None,
                        wait: false,
                    };
                }
                match sub {
                    Sub::Health { wait: true, .. } => {
                        ActionKind::Wait { until: now + ms(window.interval_ms) }
                    }
                    _ => ActionKind::Probe { process: self.pid(unit, role)? },
                }
            }
            Op::Analysis(i) => {
                let Some(CanaryStep::Analysis(a)) = canary_steps(&self.spec).get(i) else { return None };
                let interval = a.interval_ms;
                let sub = &mut self.stages[self.stage][li].sub;
                if *sub == Sub::Fresh {
                    *sub = Sub::Analysis { taken: 0, failures: 0, inconclusive: 0, wait: false };
                }
                match sub {
                    Sub::Analysis { wait: true, .. } => ActionKind::Wait { until: now + ms(interval) },
                    _ => ActionKind::Measure { stable: blue?, canary: self.pid(unit, Role::Green)? },
                }
            }
            Op::Pause(Some(d)) | Op::Wait(d) => {
                let sub = &mut self.stages[self.stage][li].sub;
                if *sub == Sub::Fresh {
                    *sub = Sub::Waiting { until: now + ms(d) };
                }
                match sub {
                    Sub::Waiting { until } => ActionKind::Wait { until: *until },
                    _ => return None,
                }
            }
            Op::Retire { role, .. } => {
                if role == Role::Blue {
                    // Past this point there is nothing to switch back to.
                    self.committed = true;
                }
                ActionKind::Retire { process: self.pid(unit, role)? }
            }
            Op::Pause(None) | Op::AwaitFinalize => return None,
        };
        self.units[unit].touched = true;
        Some(kind)
    }

    /// When a draining step waits until, if it waits now.
    fn drain_wait(&self, li: usize) -> Option<Timestamp> {
        match self.stages[self.stage][li].sub {
            Sub::Draining { deadline, wait: true } => {
                Some(deadline.min(self.now + ms(self.spec.state.drain_interval_ms)))
            }
            _ => None,
        }
    }

    /// Judges an export's `last_seq` against what the router had forwarded
    /// when it started holding: equal passes; behind means messages are still
    /// in flight to the process, so the step waits and exports again, up to
    /// `state.drain_timeout_ms` after it first found them; ahead cannot happen.
    fn drain(&mut self, li: usize, unit: usize, who: &str, last_seq: u64) -> Result<Progress, String> {
        let u = &self.units[unit];
        let Some(held) = u.router.as_ref().and_then(|r| r.held_seq.filter(|_| r.mode == RouteMode::Hold))
        else {
            return Ok(Progress::Next);
        };
        if last_seq == held {
            return Ok(Progress::Next);
        }
        if last_seq > held {
            return Err(format!(
                "the {who} had handled forwarded message {last_seq}, the router forwarded only {held}"
            ));
        }
        let timeout = self.spec.state.drain_timeout_ms;
        let now = self.now;
        let sub = &mut self.stages[self.stage][li].sub;
        let deadline = match sub {
            Sub::Draining { deadline, .. } => *deadline,
            _ => now + ms(timeout),
        };
        if now >= deadline {
            return Err(format!(
                "the {who} had handled forwarded message {last_seq}, the router forwarded {held} before the hold: \
                 {} message(s) still in flight after waiting {timeout} ms (state.drain_timeout_ms)",
                held - last_seq
            ));
        }
        *sub = Sub::Draining { deadline, wait: true };
        Ok(Progress::Again)
    }

    fn complete(&mut self, li: usize, result: Result<Outcome, String>) -> Result<(), Error> {
        let lane = &self.stages[self.stage][li];
        let unit = lane.unit;
        let op = lane.ops[lane.pc].clone();
        let skip = lane.skip_current;
        let settling = self.failure.is_some() && self.mode == Mode::Forward;
        let verdict = match result {
            Ok(outcome) => self.apply(unit, &op, li, &outcome)?,
            Err(error) => {
                self.model_failed(unit, &op);
                Err(error)
            }
        };
        let name = op.name(&self.spec);
        let target = self.units[unit].name.clone();
        if skip {
            let lane = &mut self.stages[self.stage][li];
            lane.skip_current = false;
            lane.pc += 1;
            lane.sub = Sub::Fresh;
            self.end_record(li, StepResult::Skipped);
            return Ok(());
        }
        match verdict {
            Ok(Progress::Next) => {
                let lane = &mut self.stages[self.stage][li];
                lane.pc += 1;
                lane.sub = Sub::Fresh;
                self.end_record(li, StepResult::Ok);
            }
            Ok(Progress::Again) => {}
            Ok(Progress::Inconclusive(analysis)) => {
                self.stages[self.stage][li].sub = Sub::Blocked;
                if !settling {
                    self.pause = Some(PauseReason::Inconclusive { analysis });
                }
            }
            Err(reason) => {
                self.end_record(li, StepResult::Failed(reason.clone()));
                if matches!(op, Op::Retire { cleanup: true, .. }) {
                    self.warnings.push(format!("{target} {name}: {reason}"));
                    self.stages[self.stage][li].pc += 1;
                    self.stages[self.stage][li].sub = Sub::Fresh;
                } else if settling {
                    self.warnings.push(format!("{target} {name} (while stopping): {reason}"));
                } else {
                    self.fail_lane(li, name, reason);
                }
            }
        }
        Ok(())
    }

    /// A failed action leaves the model uncertain where it may have taken effect.
    fn model_failed(&mut self, unit: usize, op: &Op) {
        let u = &mut self.units[unit];
        if *op == Op::Hold
            && let Some(r) = &mut u.router
        {
            r.mode = RouteMode::Unknown;
        }
        if let Op::Route { primary, .. } = op {
            if let Some(r) = &mut u.router {
                r.mode = RouteMode::Unknown;
            }
            if let Some(p) = u.proc_mut(*primary)
                && p.served_new == Served::No
                && (*primary == Role::Green || p.code == Code::Known(self.spec.release.hash.clone()))
            {
                p.served_new = Served::Maybe;
            }
        }
    }

    fn apply(
        &mut self,
        unit: usize,
        op: &Op,
        li: usize,
        outcome: &Outcome,
    ) -> Result<Result<Progress, String>, Error> {
        let mismatch = || Error::misuse(format!("outcome {outcome:?} does not answer step {op:?}"));
        let new_hash = self.spec.release.hash.clone();
        let u = &mut self.units[unit];
        let verdict = match (op, outcome) {
            (Op::Spawn, Outcome::Spawned { process }) => {
                if u.green.is_none() {
                    u.green = Some(ProcModel {
                        process: Some(process.clone()),
                        code: Code::Empty,
                        retired: false,
                        served_new: Served::No,
                    });
                }
                Ok(Progress::Next)
            }
            (Op::Load { role, which }, Outcome::Loaded { hash }) => {
                let expected = match which {
                    Which::New => &self.spec.release.hash,
                    Which::Previous => &self.spec.previous.hash,
                };
                let routed = u.router.is_some();
                let p = u.proc_mut(*role).ok_or_else(mismatch)?;
                if hash == expected {
                    p.code = Code::Known(hash.clone());
                    // Without a router, code loaded into the serving process serves at once.
                    if *role == Role::Blue && !routed && *which == Which::New {
                        p.served_new = Served::Yes;
                    }
                    if *which == Which::Previous {
                        p.served_new = Served::No;
                    }
                    Ok(Progress::Next)
                } else {
                    Err(format!("the process reports code {hash}, expected {expected}"))
                }
            }
            (Op::Hold, Outcome::Held { last_seq }) => {
                let r = u.router.as_mut().ok_or_else(mismatch)?;
                r.mode = RouteMode::Hold;
                r.held_seq = Some(*last_seq);
                Ok(Progress::Next)
            }
            (Op::Snapshot { carry }, Outcome::Snapshotted { last_seq, .. }) => {
                if !carry {
                    u.snapshot = true;
                }
                self.drain(li, unit, "process", *last_seq)
            }
            (Op::Snapshot { .. } | Op::Transfer { .. }, Outcome::Waited) => {
                match &mut self.stages[self.stage][li].sub {
                    Sub::Draining { wait, .. } => *wait = false,
                    _ => return Err(mismatch()),
                }
                Ok(Progress::Again)
            }
            (Op::Restore { .. }, Outcome::Restored { discarded, .. }) => {
                if *discarded > 0 {
                    let name = u.name.clone();
                    self.warnings.push(format!(
                        "{name}: restoring the snapshot undid {discarded} message(s) handled since it was taken (no router to hold traffic)"
                    ));
                }
                Ok(Progress::Next)
            }
            (Op::Transfer { .. }, Outcome::Transferred { migrated, imported, source_last_seq, .. }) => {
                if migrated == imported {
                    // Behind: the next export replaces what the destination holds.
                    self.drain(li, unit, "source", *source_last_seq)
                } else {
                    Err(format!("the destination holds state {imported}, expected {migrated}"))
                }
            }
            (Op::Smoke { .. }, Outcome::Smoke { failures }) => {
                if failures.is_empty() {
                    Ok(Progress::Next)
                } else {
                    Err(format!("failed: {}", failures.join("; ")))
                }
            }
            (Op::Route { primary, shadow, .. }, Outcome::Routed { .. }) => {
                let r = u.router.as_mut().ok_or_else(mismatch)?;
                r.mode = RouteMode::Forward { primary: *primary, shadow: *shadow };
                r.held_seq = None;
                let p = u.proc_mut(*primary).ok_or_else(mismatch)?;
                if *primary == Role::Green || p.code == Code::Known(new_hash) {
                    p.served_new = Served::Yes;
                }
                Ok(Progress::Next)
            }
            (Op::Health { .. }, Outcome::Probed { healthy, reason }) => {
                let max = self.spec.validation.health.max_failures;
                let Sub::Health { end, probes, failures, last_reason, wait } =
                    &mut self.stages[self.stage][li].sub
                else {
                    return Err(mismatch());
                };
                *probes += 1;
                if !healthy {
                    *failures += 1;
                    last_reason.clone_from(reason);
                }
                if *failures > max {
                    Err(format!(
                        "{failures} of {probes} probes failed (at most {max} allowed): {}",
                        last_reason.as_deref().unwrap_or("unhealthy")
                    ))
                } else if self.now >= *end {
                    Ok(Progress::Next)
                } else {
                    *wait = true;
                    Ok(Progress::Again)
                }
            }
            (Op::Health { .. } | Op::Analysis(_), Outcome::Waited) => {
                match &mut self.stages[self.stage][li].sub {
                    Sub::Health { wait, .. } | Sub::Analysis { wait, .. } => *wait = false,
                    _ => return Err(mismatch()),
                }
                Ok(Progress::Again)
            }
            (Op::Analysis(i), Outcome::Measured { values }) => {
                let Some(CanaryStep::Analysis(a)) = canary_steps(&self.spec).get(*i) else {
                    return Err(mismatch());
                };
                let a = a.clone();
                let Sub::Analysis { taken, failures, inconclusive, wait } =
                    &mut self.stages[self.stage][li].sub
                else {
                    return Err(mismatch());
                };
                *taken += 1;
                match judge(&a.checks, values) {
                    Verdict::Successful => {}
                    Verdict::Failed(_) => *failures += 1,
                    Verdict::Inconclusive(_) => *inconclusive += 1,
                }
                if *failures > a.failure_limit {
                    let why = match judge(&a.checks, values) {
                        Verdict::Failed(w) => w,
                        _ => "an earlier measurement failed".into(),
                    };
                    Err(format!(
                        "analysis {}: {failures} failed measurement(s), limit {}: {why}",
                        a.name, a.failure_limit
                    ))
                } else if *inconclusive > a.inconclusive_limit {
                    Ok(Progress::Inconclusive(a.name))
                } else if *taken >= a.count {
                    Ok(Progress::Next)
                } else {
                    *wait = true;
                    Ok(Progress::Again)
                }
            }
            (Op::Prepare, Outcome::Prepared) | (Op::Pause(Some(_)) | Op::Wait(_), Outcome::Waited) => {
                Ok(Progress::Next)
            }
            (Op::Retire { role, .. }, Outcome::Retired) => {
                u.proc_mut(*role).ok_or_else(mismatch)?.retired = true;
                Ok(Progress::Next)
            }
            _ => return Err(mismatch()),
        };
        Ok(verdict)
    }

    fn fail_global(&mut self, target: String, step: String, reason: String) {
        if self.mode == Mode::RollingBack {
            if self.rollback_error.is_none() {
                self.rollback_error = Some(Failure { target, step, reason });
            }
        } else if self.failure.is_none() {
            self.failure = Some(Failure { target, step, reason });
            self.failed_at = Some(self.now);
        }
    }

    fn fail_lane(&mut self, li: usize, step: String, reason: String) {
        let lane = &self.stages[self.stage][li];
        let unit = lane.unit;
        let target = self.units[unit].name.clone();
        let rolling = matches!(self.spec.strategy, Strategy::Rolling { .. });
        if self.mode == Mode::Forward && rolling && !lane.local_rollback {
            self.failed_units.push(target.clone());
            if self.failed_units.len() as u32 > self.max_failures {
                let n = self.failed_units.len();
                self.fail_global(
                    target,
                    step,
                    format!("{reason} ({n} shard(s) failed, at most {} allowed)", self.max_failures),
                );
            } else {
                let ops = rollback_ops(&self.units[unit], &self.spec.previous.hash);
                let lane = &mut self.stages[self.stage][li];
                lane.ops = ops;
                lane.pc = 0;
                lane.sub = Sub::Fresh;
                lane.local_rollback = true;
            }
        } else if self.mode == Mode::Forward && lane.local_rollback {
            // A shard's own rollback failed: roll everything back (it is retried there).
            self.fail_global(target, step, reason);
        } else {
            self.fail_global(target, step, reason);
        }
    }

    fn start_rollback(&mut self) {
        self.mode = Mode::RollingBack;
        // A rollback is never paused: a pause asked for before the failure is dropped.
        self.pause = None;
        self.pause_requested = false;
        self.awaiting_finalize = false;
        let mut stages = Vec::new();
        for (i, u) in self.units.iter().enumerate().rev() {
            if !u.touched {
                continue;
            }
            let ops = rollback_ops(u, &self.spec.previous.hash);
            if !ops.is_empty() {
                stages.push(vec![Lane::new(i, ops)]);
            }
        }
        self.stages = stages;
        self.stage = 0;
    }

    fn finish(&mut self) {
        let phase = match self.mode {
            Mode::Forward => {
                let all_new = self.units.iter().all(|u| serves(u, &self.spec.release.hash));
                if all_new {
                    Phase::Succeeded
                } else if !self.failed_units.is_empty()
                    && self
                        .units
                        .iter()
                        .all(|u| serves(u, &self.spec.release.hash) || serves(u, &self.spec.previous.hash))
                {
                    Phase::Partial
                } else {
                    self.fail_global(
                        self.units[0].name.clone(),
                        "verify".into(),
                        "the new release does not serve everywhere".into(),
                    );
                    return;
                }
            }
            Mode::RollingBack => {
                if let Some(u) = self.units.iter().find(|u| !serves(u, &self.spec.previous.hash)) {
                    self.rollback_error = Some(Failure {
                        target: u.name.clone(),
                        step: "verify".into(),
                        reason: format!(
                            "after the rollback it serves {:?}, not {}",
                            u.serving(),
                            self.spec.previous.hash
                        ),
                    });
                    Phase::RollbackFailed
                } else {
                    Phase::RolledBack
                }
            }
        };
        self.terminal = Some(phase);
        self.finished_at = Some(self.now);
    }

    /// Moves through steps that need no action, stages that are done, and
    /// into (or out of) the rollback, until an action or an event is needed.
    fn advance(&mut self) {
        loop {
            if self.terminal.is_some() {
                return;
            }
            if self.outstanding.is_empty() {
                if self.mode == Mode::Forward && self.failure.is_some() {
                    self.start_rollback();
                    continue;
                }
                if self.mode == Mode::RollingBack && self.rollback_error.is_some() {
                    self.terminal = Some(Phase::RollbackFailed);
                    self.finished_at = Some(self.now);
                    return;
                }
            }
            if self.failure.is_some() && self.mode == Mode::Forward || self.rollback_error.is_some() {
                return;
            }
            let mut changed = false;
            self.awaiting_finalize = false;
            let stage = self.stage;
            let Some(lanes) = self.stages.get(stage) else {
                self.finish();
                if self.terminal.is_some() {
                    return;
                }
                continue;
            };
            for li in 0..lanes.len() {
                let lane = &self.stages[stage][li];
                if lane.done() || lane.waiting.is_some() {
                    continue;
                }
                let op = lane.ops[lane.pc].clone();
                if self.promoted && op.skippable() && self.mode == Mode::Forward {
                    self.begin_record(li);
                    self.end_record(li, StepResult::Skipped);
                    let lane = &mut self.stages[stage][li];
                    lane.pc += 1;
                    lane.sub = Sub::Fresh;
                    changed = true;
                    continue;
                }
                match op {
                    Op::AwaitFinalize => {
                        if self.finalized || self.spec.finalize == Finalize::Auto {
                            self.begin_record(li);
                            self.end_record(li, StepResult::Ok);
                            self.stages[stage][li].pc += 1;
                            changed = true;
                        } else {
                            self.begin_record(li);
                            self.awaiting_finalize = true;
                        }
                    }
                    Op::Pause(None) if self.stages[stage][li].sub != Sub::Blocked => {
                        self.begin_record(li);
                        self.stages[stage][li].sub = Sub::Blocked;
                        self.pause = Some(PauseReason::Step);
                    }
                    _ => {}
                }
            }
            if self.stages[stage].iter().all(Lane::done) {
                self.stage += 1;
                changed = true;
            }
            if !changed {
                return;
            }
        }
    }
}

/// Snapshots are kept per serving position: `world/0/before`, `world/0/carry`.
fn snapshot_key(unit: &str, carry: bool) -> String {
    format!("{unit}/{}", if carry { "carry" } else { "before" })
}

fn serves(u: &UnitModel, hash: &str) -> bool {
    matches!(u.serving(), Serving::Process { code: Code::Known(h), .. } if h == hash)
}

fn ms(v: u64) -> std::time::Duration {
    std::time::Duration::from_millis(v)
}

/// The forward program of a strategy.
fn program(spec: &RolloutSpec) -> Vec<Vec<Lane>> {
    let manual = spec.finalize == Finalize::Manual;
    let in_place = |routed: bool| {
        let mut ops = vec![Op::Prepare];
        if routed {
            ops.push(Op::Hold);
        }
        ops.push(Op::Snapshot { carry: false });
        ops.push(Op::Load { role: Role::Blue, which: Which::New });
        ops.push(Op::Smoke { role: Role::Blue });
        if routed {
            ops.push(Op::Route { primary: Role::Blue, shadow: None, skippable: false });
        }
        ops.push(Op::Health { role: Role::Blue });
        ops
    };
    let finish_switch = |ops: &mut Vec<Op>, delay: u64| {
        ops.push(Op::Route { primary: Role::Green, shadow: None, skippable: false });
        ops.push(Op::Health { role: Role::Green });
        if manual {
            ops.push(Op::AwaitFinalize);
        }
        ops.push(Op::Wait(delay));
        ops.push(Op::Retire { role: Role::Blue, cleanup: true });
    };
    let mut stages = match &spec.strategy {
        Strategy::InPlace { target } => vec![vec![Lane::new(0, in_place(target.router.is_some()))]],
        Strategy::BlueGreen { scale_down_delay_ms, .. } => {
            let mut ops = vec![
                Op::Spawn,
                Op::Load { role: Role::Green, which: Which::New },
                Op::Hold,
                Op::Transfer { from: Role::Blue, to: Role::Green },
                Op::Smoke { role: Role::Green },
            ];
            finish_switch(&mut ops, *scale_down_delay_ms);
            return vec![vec![Lane::new(0, ops)]];
        }
        Strategy::Canary { steps, scale_down_delay_ms, .. } => {
            let mut ops = vec![
                Op::Spawn,
                Op::Load { role: Role::Green, which: Which::New },
                Op::Hold,
                Op::Transfer { from: Role::Blue, to: Role::Green },
                Op::Smoke { role: Role::Green },
                Op::Route { primary: Role::Blue, shadow: None, skippable: false },
            ];
            for (i, s) in steps.iter().enumerate() {
                ops.push(match s {
                    CanaryStep::SetWeight(w) => {
                        Op::Route { primary: Role::Blue, shadow: Some(*w), skippable: true }
                    }
                    CanaryStep::Pause(d) => Op::Pause(*d),
                    CanaryStep::Analysis(_) => Op::Analysis(i),
                });
            }
            ops.extend([
                Op::Hold,
                Op::Transfer { from: Role::Blue, to: Role::Green },
                Op::Smoke { role: Role::Green },
            ]);
            finish_switch(&mut ops, *scale_down_delay_ms);
            return vec![vec![Lane::new(0, ops)]];
        }
        Strategy::Rolling { targets, max_unavailable, .. } => {
            let batch = (*max_unavailable as usize).max(1);
            (0..targets.len())
                .collect::<Vec<_>>()
                .chunks(batch)
                .map(|units| {
                    units.iter().map(|&u| Lane::new(u, in_place(targets[u].router.is_some()))).collect()
                })
                .collect()
        }
    };
    if manual {
        stages.push(vec![Lane::new(0, vec![Op::AwaitFinalize])]);
    }
    stages
}

/// What undoes a serving position's changes, from the model: put the previous
/// release back in service, with the state as it is now.
fn rollback_ops(u: &UnitModel, previous: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    let router_mode = u.router.as_ref().map(|r| r.mode.clone());
    if let Some(green) = u.green.as_ref().filter(|g| !g.retired) {
        if green.served_new != Served::No {
            if router_mode != Some(RouteMode::Hold) {
                ops.push(Op::Hold);
            }
            ops.push(Op::Transfer { from: Role::Green, to: Role::Blue });
            ops.push(Op::Route { primary: Role::Blue, shadow: None, skippable: false });
        } else if router_mode != Some(RouteMode::Forward { primary: Role::Blue, shadow: None }) {
            ops.push(Op::Route { primary: Role::Blue, shadow: None, skippable: false });
        }
        ops.push(Op::Retire { role: Role::Green, cleanup: true });
        return ops;
    }
    if u.blue.code != Code::Known(previous.to_owned()) {
        let served = u.blue.served_new != Served::No;
        if u.router.is_some() && router_mode != Some(RouteMode::Hold) {
            ops.push(Op::Hold);
        }
        if served {
            ops.push(Op::Snapshot { carry: true });
        }
        ops.push(Op::Load { role: Role::Blue, which: Which::Previous });
        if served {
            ops.push(Op::Restore { carry: true });
        } else if u.snapshot {
            ops.push(Op::Restore { carry: false });
        }
        if u.router.is_some() {
            ops.push(Op::Route { primary: Role::Blue, shadow: None, skippable: false });
        }
    } else if u.router.is_some()
        && router_mode != Some(RouteMode::Forward { primary: Role::Blue, shadow: None })
    {
        ops.push(Op::Route { primary: Role::Blue, shadow: None, skippable: false });
    }
    ops
}

fn describe(spec: &RolloutSpec, t: &crate::spec::Target, op: &Op) -> String {
    let short = |p: &ProcessId| p.as_str()[..8].to_owned();
    let router = t.router.as_ref().map_or_else(|| "(no router)".to_owned(), short);
    let drain = if t.router.is_some() {
        format!(
            ", once the process has handled every message forwarded before the hold (waits up to {} ms)",
            spec.state.drain_timeout_ms
        )
    } else {
        String::new()
    };
    match op {
        Op::Spawn => match &spec.strategy {
            Strategy::BlueGreen { spawn, .. } | Strategy::Canary { spawn, .. } => {
                format!(
                    "spawns a process of module {} ({} tag(s){})",
                    short_id(spawn.module.as_str()),
                    spawn.tags.len(),
                    if spawn.boot.is_some() { ", boot code" } else { "" }
                )
            }
            _ => String::new(),
        },
        Op::Prepare => format!("evaluates ao-deploy's module into {}", short(&t.process)),
        Op::Load { role, which } => {
            let r = if *which == Which::New { &spec.release } else { &spec.previous };
            let into = if *role == Role::Blue { short(&t.process) } else { "green".into() };
            format!("evaluates {} into {into}", r.label())
        }
        Op::Hold => format!("router {router} buffers every message"),
        Op::Snapshot { .. } => {
            format!("exports the state of {} ({}){drain}", short(&t.process), spec.state.globals.join(", "))
        }
        Op::Restore { .. } => format!("imports the snapshot into {}", short(&t.process)),
        Op::Transfer { from, to } => {
            format!("moves {} from {from} to {to}, checked by BLAKE3{drain}", spec.state.globals.join(", "))
        }
        Op::Smoke { .. } => format!("dry-runs {} smoke test(s)", spec.validation.smoke.len()),
        Op::Route { primary, shadow, .. } => match shadow {
            None => format!("router {router} forwards to {primary} (buffer flushed in order)"),
            Some(w) => format!("router {router} forwards to {primary} and mirrors {w}% of senders to green"),
        },
        Op::Health { .. } => {
            let h = &spec.validation.health;
            format!(
                "probes every {} ms for {} ms, {} failure(s) allowed",
                h.interval_ms, h.duration_ms, h.max_failures
            )
        }
        Op::Analysis(_) => "measures the canary against blue".into(),
        Op::Pause(Some(ms)) => format!("waits {ms} ms"),
        Op::Pause(None) => "waits for an operator".into(),
        Op::Wait(ms) => format!("keeps blue {} for {ms} ms", short(&t.process)),
        Op::Retire { role, .. } => format!("retires {role}"),
        Op::AwaitFinalize => "waits for the plan to finalize".into(),
    }
}

fn short_id(s: &str) -> &str {
    &s[..s.len().min(8)]
}
