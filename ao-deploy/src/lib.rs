//! Zero-downtime rollouts of AO processes, as resumable sans-IO state machines.
//!
//! (Crate docs are completed as the crate grows.)

mod analysis;
mod config;
mod deployment;
mod driver;
mod error;
mod fsutil;
mod history;
mod journal;
mod lease;
mod lua;
mod plan;
mod promotion;
mod release;
mod rollout;
mod runner;
mod spec;
mod state;
mod ts;

pub use analysis::{MEASURED, Verdict, judge};
pub use config::{DeployConfig, ProcessDeploy, StrategyKind, parse_duration};
pub use deployment::{Current, CurrentShard, DeployDir, ResumeReport, Session, shard_of};
pub use driver::{DirSnapshots, Driver, MemorySnapshots, Snapshot, SnapshotStore, SpawnLookup, WallClock};
pub use error::{Error, ErrorKind};
pub use history::{DeploymentRecord, EnvironmentStats, HISTORY_FAMILIES, History};
pub use journal::{Contents, Journal, MAGIC, MAX_RECORD, Record, TornTail, decode_journal, encode_record};
pub use lease::{Lease, LeaseGuard, acquire, read_lease, take_over};
pub use lua::{DEPLOY_LUA, ROUTER_LUA, bucket, configure, long_string, router_boot};
pub use plan::{NodeState, PlanAction, PlanEvent, PlanNode, PlanPart, PlanPhase, PlanRun, run_plan};
pub use promotion::{Approval, ApprovalLog, Promotion, PromotionPolicy, check_promotion, human};
pub use release::{CodeStore, DirCodeStore, MemoryCodeStore, Release};
pub use rollout::{
    Action, ActionId, ActionKind, Code, Command, Event, Failure, Outcome, PauseReason, Phase, PlannedStep,
    ProcModel, Role, Rollout, RouteMode, RouterModel, Served, Serving, StepRecord, StepResult, UnitModel,
};
pub use runner::{Between, Control, CrashPoint, FileControl, QueuedCommands, RunReport, Runner, Stop};
pub use spec::{
    AnalysisSpec, CanaryStep, Cmp, Expectation, Finalize, HealthWindow, MetricCheck, ReleaseRef, RolloutSpec,
    SmokeTest, SpawnSpec, StateOptions, Strategy, Target, Validation,
};
pub use state::{Key, MAX_DEPTH, Migration, NoMigration, StateValue, decode, encode, state_hash};
