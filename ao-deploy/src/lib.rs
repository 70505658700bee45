//! Zero-downtime rollouts of AO processes, as resumable sans-IO state machines.
//!
//! (Crate docs are completed as the crate grows.)

mod analysis;
mod error;
mod fsutil;
mod release;
mod rollout;
mod spec;
mod ts;

pub use analysis::{MEASURED, Verdict, judge};
pub use error::{Error, ErrorKind};
pub use release::{CodeStore, DirCodeStore, MemoryCodeStore, Release};
pub use rollout::{
    Action, ActionId, ActionKind, Code, Command, Event, Failure, Outcome, PauseReason, Phase, PlannedStep,
    ProcModel, Role, Rollout, RouteMode, RouterModel, Served, Serving, StepRecord, StepResult, UnitModel,
};
pub use spec::{
    AnalysisSpec, CanaryStep, Cmp, Expectation, Finalize, HealthWindow, MetricCheck, ReleaseRef, RolloutSpec,
    SmokeTest, SpawnSpec, StateOptions, Strategy, Target, Validation,
};
