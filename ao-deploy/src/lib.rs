//! Zero-downtime rollouts of AO processes, with automatic rollback, as
//! resumable sans-IO state machines.
//!
//! Updating a live AO game process by hand is one Eval with no safety net.
//! ao-deploy makes it a [`Rollout`]: a deterministic state machine that takes
//! events (and the time they happened) and emits [`Action`]s — spawn, eval,
//! dry-run, hold, transfer state, switch, probe, wait, retire. A thin
//! [`Driver`] runs each action over [`AoTransport`](ao_transport::AoTransport);
//! a [`Runner`] journals every event before the core sees it, so a crashed
//! deployer [resumes](DeployDir::resume) where it stopped.
//!
//! - **Releases** ([`Release`]): a bundle, its ao-bundle integrity manifest,
//!   its ao-env config and a version; refused before anything changes when the
//!   bundle does not match its manifest or the environment does not validate.
//! - **Strategies** ([`Strategy`]): in-place (snapshot first; on failure re-Eval
//!   the previous release and restore the state), blue-green (spawn green, load,
//!   move the state, smoke-test, switch the router, keep blue for a delay,
//!   retire it), rolling (shards in batches, health-checked between them, a
//!   failure threshold), canary (a growing share of senders mirrored to the
//!   canary, whose replies are held back, judged by [analyses](AnalysisSpec) of
//!   ao-health probes and the processes' stats; promotion moves the
//!   authoritative state and switches). Operators pause, resume, promote (skip
//!   the remaining pauses, weights and analyses) and abort ([`Command`]).
//! - **The router** ([`ROUTER_LUA`]): a small Lua process clients keep talking
//!   to. It forwards to the active process with the original sender in
//!   `Forwarded-From`, buffers while a switch happens and flushes in order —
//!   none lost, none doubled (every forwarded message carries a sequence number
//!   the process module checks) — and takes switches only from the deployer.
//!   Its buffer is bounded ([`ROUTER_MAX_BUFFER`]): when full, a message is
//!   refused to its sender (`Deploy-Router-Busy`), never dropped silently.
//!   Messages forwarded before a hold and still in flight are waited for: an
//!   export that finds the process behind the router's last forwarded sequence
//!   number waits and exports again, up to [`StateOptions::drain_timeout_ms`],
//!   and only past it rolls back.
//! - **The process module** ([`DEPLOY_LUA`]): loaded before a release's code.
//!   The game sees a forwarded message as sent by its original sender only when
//!   it comes from its router, so authorization and replies keep working;
//!   `Export-State` / `Import-State` move the game's globals in chunks, in a
//!   canonical encoding ([`encode`], [`decode`]) the Rust side migrates
//!   ([`Migration`]) and checks by BLAKE3 after the import.
//! - **Journal** ([`Journal`]): append-only, checksummed records, fsynced; a
//!   torn tail is cut (its bytes kept beside the journal) and reported, a
//!   corrupt record refused with its offset.
//!   **Lease** ([`acquire`]): one rollout per process; a second deployer is told
//!   who holds it; a stale lease is taken over only explicitly, and a renewal
//!   racing that takeover never overwrites it (the old holder learns it lost).
//! - **Plans** ([`PlanRun`], [`run_plan`]): rollouts in a dependency graph,
//!   independent parts in parallel, the done parts rolled back in reverse order
//!   when one fails.
//! - **Promotion** ([`check_promotion`]): dev → staging → prod, gated on success
//!   and soak time in the previous environment and on approvals recorded with
//!   who and when, counted by ao-env's approval model; skipping is an error.
//! - **History** ([`History`]): each deployment's steps, durations, result and
//!   failing step; success rate and mean times to deploy and to roll back per
//!   environment, exported as ao-health metrics.
//!
//! # The state machine
//!
//! ```text
//!            new
//!             │
//!             v        pause (deferred while a router holds)
//!       Progressing ───────────────────────> Paused ──resume/promote──┐
//!        │    │  ^                             │                      │
//!        │    │  └─────────────────────────────┼──────────────────────┘
//!        │    │ all steps passed               │ abort
//!        │    v                                │
//!        │  AwaitingFinalize ──finalize──> Succeeded | Partial
//!        │    │ abort                          │
//!        v    v                                v
//!  (a step fails, or abort) ──> RollingBack ──> RolledBack | RollbackFailed
//! ```
//!
//! The last four phases are terminal: they emit no action and refuse every
//! event. Every action but `Spawn` is idempotent, so the action in flight at a
//! crash simply runs again; a spawn is found again by its reference through a
//! [`SpawnLookup`]. The core's rollback is planned from its model of the world
//! (what each router does, what code each process holds, who has served), so
//! it undoes exactly what happened, however far the rollout got.
//!
//! What it deliberately does not do: sign messages or hold keys (the host's
//! transport does); split a game world between two authoritative processes (a
//! canary mirrors traffic instead; its replies are held back); buffer traffic
//! for a process without a router (an in-place update without one cannot hold
//! messages: a rollback that restores the snapshot says how many message
//! effects it undid); find orphaned spawns without a [`SpawnLookup`].
//!
//! # Example
//!
//! A blue-green update of a tiny game on ao-local: the score moves with the
//! code, and the router keeps the players' messages flowing.
//!
//! ```
//! use std::sync::Arc;
//! use ao_deploy::*;
//! use ao_health::Timestamp;
//! use ao_local::LocalAo;
//! use ao_transport::{AoTransport, Message, retry::Clock};
//!
//! let manifest = |code: &str| format!(
//!     r#"{{"version":1,"tool":"doc","bundle":{{"path":"g.lua","bytes":{},"blake3":"{}"}},"sources":[],"options":{{"entries":["main"],"search":[],"externals":[],"strict":false}}}}"#,
//!     code.len(), blake3::hash(code.as_bytes()).to_hex());
//! let v1 = "Score = Score or 0\nHandlers.add('Hit', 'Hit', function(m) Score = Score + 1 end)\n\
//!           Handlers.add('Ping', 'Ping', function(m) m.reply({ Action = 'Pong' }) end)";
//! let v2 = format!("{v1}\nHandlers.add('Score', 'Score', function(m) m.reply({{ Data = tostring(Score) }}) end)");
//! let r1 = Release::from_code("game", "1", v1.as_bytes().to_vec(), &manifest(v1), Default::default())?;
//! let r2 = Release::from_code("game", "2", v2.as_bytes().to_vec(), &manifest(&v2), Default::default())?;
//!
//! // Blue runs v1 behind a router; players hit it.
//! let ao = LocalAo::new();
//! let blue = ao.spawn_aos("")?;
//! let router = ao.spawn_aos(&router_boot(&blue, &ao.signer()))?;
//! for src in [DEPLOY_LUA.to_owned(), configure(r1.reference(), Some(&router), &["Score".into()]), v1.to_owned()] {
//!     assert!(ao.eval(&blue, &src)?.error.is_none());
//! }
//! for _ in 0..3 {
//!     ao.submit(Message::builder(router.clone()).tag("Action", "Hit").build()?)?;
//! }
//!
//! let spec = RolloutSpec {
//!     id: "doc-1".into(),
//!     environment: "dev".into(),
//!     release: r2.reference().clone(),
//!     previous: r1.reference().clone(),
//!     strategy: Strategy::BlueGreen {
//!         target: Target { name: "game/0".into(), process: blue.clone(), router: Some(router.clone()) },
//!         spawn: SpawnSpec { module: ao_local::aos_module(), scheduler: ao_local::local_scheduler(), tags: vec![], boot: None },
//!         scale_down_delay_ms: 1_000,
//!     },
//!     validation: Validation::default(),
//!     state: StateOptions { globals: vec!["Score".into()], chunk_bytes: 1024, ..StateOptions::default() },
//!     finalize: Finalize::Auto,
//!     authority: ao.signer(),
//!     labels: Default::default(),
//! };
//! // `--plan`: what would happen, without touching anything.
//! assert_eq!(Rollout::preview(&spec)?[0].step, "spawn green");
//!
//! let code = MemoryCodeStore::new();
//! code.put_release(&r1)?;
//! code.put_release(&r2)?;
//! let snapshots = MemorySnapshots::default();
//! let transport: Arc<dyn AoTransport> = Arc::new(ao.clone());
//! let clock: Arc<dyn Clock> = Arc::new(ao.clone()); // ao-local's virtual clock: no real waiting
//! let mut driver = Driver::new(transport, clock, &code, &snapshots, &NoMigration);
//! let mut rollout = Rollout::new(spec, Timestamp::from_millis(0))?;
//! let first = rollout.drain_actions();
//! let report = Runner::new(&mut driver).run(&mut rollout, first)?;
//! assert_eq!(report.stop, Stop::Finished(Phase::Succeeded));
//!
//! // Players keep the router's id; green serves with blue's score.
//! let green = rollout.units()[0].green.as_ref().and_then(|g| g.process.clone()).unwrap();
//! let score = ao.simulate(Message::builder(green).tag("Action", "Score").build()?)?;
//! assert_eq!(score.messages[0].data_str(), Some("3"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate has no optional features.

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
pub use driver::{
    DRIVER_FAMILIES, DirSnapshots, Driver, MemorySnapshots, Snapshot, SnapshotStore, SpawnLookup, WallClock,
};
pub use error::{Error, ErrorKind};
pub use history::{DeploymentRecord, EnvironmentStats, HISTORY_FAMILIES, History};
pub use journal::{Contents, Journal, MAGIC, MAX_RECORD, Record, TornTail, decode_journal, encode_record};
pub use lease::{Lease, LeaseGuard, acquire, read_lease, take_over};
pub use lua::{
    DEPLOY_LUA, ROUTER_LUA, ROUTER_MAX_BUFFER, bucket, configure, long_string, router_boot,
    router_boot_limited,
};
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
