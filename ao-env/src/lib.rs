//! Environments for AO games: the source of truth for what dev, staging, prod
//! (or any named environment) should be, checked before anything is deployed
//! and compared against what really runs.
//!
//! - **Layered config.** A base TOML file plus one overlay per environment
//!   (`ao-env.toml`, `ao-env.prod.toml`, ...). Tables merge key by key, later
//!   layers win, and every final value knows the file, line and column that set
//!   it ([`Environment::explain`]).
//! - **Validation.** A typed schema: unknown keys are errors with a "did you
//!   mean", every error carries file, line and field path, and all problems of
//!   a file are reported at once ([`Diagnostics`]). Semantic checks: names and
//!   ids well formed, shard counts and limits in range, every bundle target
//!   exists in the ao-bundle config and declares the handlers a process expects,
//!   production needs approvals, no secret goes into a process's (public) config.
//! - **Isolation.** No environment references another's process ids or shares
//!   its authority or wallet unless it says so ([`Project::check`]).
//! - **Secrets by reference.** `env:NAME` or `file:PATH`, resolved only when a
//!   caller asks ([`SecretResolver`]); a [`Secret`] prints as `[redacted]`.
//! - **Drift.** Desired state (config + release manifest hashes) against what
//!   each process reports through a dry-run `Info` ([`INFO_LUA`], booted into
//!   every process ao-env spawns, records a BLAKE3 hash of every Eval): every
//!   difference and a remediation [`Plan`] of plain [`Action`]s, with a CI exit
//!   code contract ([`ExitCode`]: 0 clean, 1 error, 2 drift). The core
//!   ([`drift()`]) is pure; [`Provisioner`] is the driver over `AoTransport`.
//! - **Consistency.** Two environments compared field by field, only declared
//!   differences allowed, optionally against the code that really runs
//!   ([`consistency()`]).
//! - **Provisioning and sync.** Spawn every instance, load its release,
//!   configure it, record ids in an atomically written state file
//!   ([`FileStateStore`]); re-applying is idempotent, even after a crash
//!   between a spawn and its record (a [`SpawnIntent`] is saved first and the
//!   process found again by its nonce tag, [`SpawnLookup`]); teardown retires processes
//!   and keeps their records. [`sync()`] copies game config (never secrets)
//!   between environments with declared rewrites.
//!
//! What it deliberately does not do: sign messages or hold keys (the host's
//! transport does; ao-env only resolves the reference when asked), verify who
//! approved (approvals are names), defend against a hostile process owner (an
//! owner's Eval can rewrite `info.lua` and make it lie; drift detection guards
//! against mistakes and changes behind the tool's back), or link Lua: it reads
//! ao-bundle's config and manifests with its own small structs.
//!
//! # Example
//!
//! ```
//! use ao_env::{Project, SourceFile};
//!
//! let base = SourceFile::new("ao-env.toml", r#"
//! game = "arena"
//! [processes.world]
//! target = "arena"
//! shard = 2
//! "#, 0);
//! let prod = SourceFile::new("ao-env.prod.toml", "[processes.world]\nshards = 4\n", 1);
//! let project = Project::from_sources(base, vec![("prod".into(), prod)], None, ".".as_ref());
//! let err = project.environment("prod").unwrap_err();
//! let text = err.to_string();
//! assert!(text.contains("error: unknown key `shard` in `processes.world`"));
//! assert!(text.contains("--> ao-env.toml:5:1 (processes.world.shard)"));
//! assert!(text.contains("help: did you mean `shards`?"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate has no optional features.

mod apply;
mod consistency;
mod desired;
mod drift;
mod error;
mod isolation;
mod layer;
mod merge;
mod model;
mod observe;
mod path;
mod project;
mod release;
mod schema;
mod secret;
mod state;
mod suggest;
mod sync;
mod value;

pub use apply::{ApplyReport, InfoLookup, Provisioner, SPAWN_NONCE_TAG, SpawnLookup, gate};
pub use consistency::{CodeDifference, ConsistencyReport, FieldDifference, consistency};
pub use desired::{Desired, DesiredInstance, SPAWN_TAGS};
pub use drift::{Action, Difference, DriftReport, ExitCode, Plan, drift};
pub use error::{Diagnostic, Diagnostics, Error, ErrorKind};
pub use merge::{Explanation, Merged, Setting};
pub use model::{Allow, Approvals, Cron, Environment, ProcessSpec, Rewrite, SyncRule};
pub use observe::{
    EvalRecord, INFO_FORMAT, INFO_LUA, Observation, Observed, info_message, observe, observe_process,
};
pub use path::{FieldPath, PathPattern, Segment};
pub use project::Project;
pub use release::{BundleTarget, BundleTargets, CodeSource, FsCode, MemoryCode, Release, Releases};
pub use schema::{COMPUTE_LIMITS, MAX_SHARDS, MEMORY_LIMITS};
pub use secret::{MapSecrets, Secret, SecretRef, SecretResolver, SystemSecrets};
pub use state::{
    FileStateStore, InstanceKey, MemoryStateStore, Record, SpawnIntent, State, StateStore, write_atomic,
};
pub use sync::{SyncChange, SyncOutcome, sync, sync_to_file};
pub use value::{Origin, SourceFile, Value, to_toml_document};
