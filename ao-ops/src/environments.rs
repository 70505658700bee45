//! `ao-ops env`: check, explain, drift, plan, apply, teardown, consistency and
//! sync over `ao-env`, with `ao-local` (a log directory, so state persists
//! between runs) as the AO.
//!
//! Exit codes follow ao-env's contract: 0 clean, 1 error, 2 drift (or an
//! undeclared difference).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ao_env::{
    Desired, ExitCode, FileStateStore, FsCode, InfoLookup, Project, Provisioner, StateStore, consistency,
    observe, sync_to_file,
};

/// Where the environment files, state files and the local AO live.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvPaths {
    /// The base environment file; overlays `<stem>.<env>.toml` sit beside it.
    #[arg(long, default_value = "ao-env.toml")]
    pub config: PathBuf,
    /// Directory of state files (`<env>.state.json`).
    #[arg(long, default_value = ".ao-env/state")]
    pub state: PathBuf,
    /// The ao-local log directory that stands in for AO (kept between runs).
    #[arg(long, default_value = ".ao-env/ao-local")]
    pub local: PathBuf,
    /// Built bundles and manifests (default: the bundle config's `out_dir`).
    #[arg(long)]
    pub releases: Option<PathBuf>,
}

/// `ao-ops env` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EnvCommand {
    /// Validate every environment and the isolation between them.
    Check {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// Also resolve every wallet and secret (environment variables, files):
        /// no two environments may use one wallet under different references,
        /// and no config value may hold a secret's value. Values are never printed.
        #[arg(long)]
        secrets: bool,
    },
    /// Show which file and line set a value, and what it overrides.
    Explain {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// The environment.
        env: String,
        /// A field path such as `processes.world.shards`.
        field: String,
    },
    /// Compare desired and observed state: every difference and the plan (exit 2 on drift).
    Drift {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// The environment.
        env: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the remediation plan only (exit 2 when it is not empty).
    Plan {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// The environment.
        env: String,
    },
    /// Run the plan: spawn, load, configure, retire (protected environments need --approve).
    Apply {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// The environment.
        env: String,
        /// An approver's name (repeatable).
        #[arg(long = "approve")]
        approvals: Vec<String>,
    },
    /// Retire every process of an environment; the state file keeps the records.
    Teardown {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// The environment.
        env: String,
        /// An approver's name (repeatable).
        #[arg(long = "approve")]
        approvals: Vec<String>,
    },
    /// Check that two environments differ only where they declare (exit 2 otherwise).
    Consistency {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// The environment that runs now (staging).
        left: String,
        /// The one it must match (prod).
        right: String,
    },
    /// Copy processes' config from one environment's files into another's overlay.
    Sync {
        /// Where the files are.
        #[command(flatten)]
        paths: EnvPaths,
        /// Copy from.
        #[arg(long)]
        from: String,
        /// Copy into: its overlay's `[processes]` sections are rewritten, the rest of the file kept.
        #[arg(long)]
        to: String,
    },
}

struct Ctx {
    project: Project,
    store: FileStateStore,
    local: PathBuf,
    releases: Option<PathBuf>,
}

impl Ctx {
    fn new(paths: &EnvPaths) -> anyhow::Result<Self> {
        let project = Project::load(&paths.config)?;
        Ok(Self {
            project,
            store: FileStateStore::new(&paths.state),
            local: paths.local.clone(),
            releases: paths.releases.clone(),
        })
    }

    fn ao(&self) -> anyhow::Result<ao_local::LocalAo> {
        ao_local::LocalAo::builder()
            .log_dir(&self.local)
            .build()
            .with_context(|| format!("opening ao-local at {}", self.local.display()))
    }

    fn desired(&self, env: &ao_env::Environment) -> anyhow::Result<Desired> {
        let mut targets = self.project.bundle().context("the base file names no bundle_config")?.clone();
        if let Some(dir) = &self.releases {
            targets.out_dir.clone_from(dir);
        }
        Ok(Desired::new(env, &targets.releases()?)?)
    }
}

/// Runs `ao-ops env ...`; returns the exit code (0 clean, 2 drift); errors are exit 1.
pub fn run(command: &EnvCommand, out: &mut impl Write) -> anyhow::Result<u8> {
    match command {
        EnvCommand::Check { paths, secrets } => {
            let ctx = Ctx::new(paths)?;
            let mut states = BTreeMap::new();
            for name in ctx.project.environments() {
                states.insert(name.to_owned(), ctx.store.load(name)?);
            }
            let envs = ctx.project.check(&states)?;
            for e in &envs {
                let shards: u32 = e.processes.values().map(|p| p.shards).sum();
                writeln!(
                    out,
                    "ok: {} ({} processes, {shards} instances{})",
                    e.name,
                    e.processes.len(),
                    if e.protected { ", protected" } else { "" }
                )?;
            }
            if *secrets {
                ctx.project.check_secrets(&envs, &ao_env::SystemSecrets)?;
                writeln!(out, "ok: secrets resolved; no wallet shared, none in config")?;
            }
            Ok(0)
        }
        EnvCommand::Explain { paths, env, field } => {
            let ctx = Ctx::new(paths)?;
            let e = ctx.project.environment(env)?;
            let x = e.explain(field).with_context(|| format!("{env} has no field {field}"))?;
            write!(out, "{x}")?;
            Ok(0)
        }
        EnvCommand::Drift { paths, env, json } => {
            let ctx = Ctx::new(paths)?;
            let e = ctx.project.environment(env)?;
            let desired = ctx.desired(&e)?;
            let ao = ctx.ao()?;
            let (_, report) = Provisioner::new(&ao, &FsCode, &ctx.store).drift(&desired)?;
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                write!(out, "{report}")?;
            }
            Ok(report.exit_code().code())
        }
        EnvCommand::Plan { paths, env } => {
            let ctx = Ctx::new(paths)?;
            let e = ctx.project.environment(env)?;
            let desired = ctx.desired(&e)?;
            let ao = ctx.ao()?;
            let (_, report) = Provisioner::new(&ao, &FsCode, &ctx.store).drift(&desired)?;
            write!(out, "{}", report.plan)?;
            Ok(if report.plan.is_empty() { 0 } else { ExitCode::Drift.code() })
        }
        EnvCommand::Apply { paths, env, approvals } => {
            let ctx = Ctx::new(paths)?;
            let e = ctx.project.environment(env)?;
            let desired = ctx.desired(&e)?;
            let ao = ctx.ao()?;
            // A spawn an interrupted apply left unrecorded is found again by its nonce tag.
            let lookup = InfoLookup::new(&ao, ao.processes());
            let (report, applied) = Provisioner::new(&ao, &FsCode, &ctx.store)
                .with_lookup(&lookup)
                .reconcile(&e, &desired, approvals)?;
            write!(out, "{}", report.plan)?;
            for pid in &applied.adopted {
                writeln!(out, "recorded {pid}: spawned by an interrupted apply, found by its nonce tag")?;
            }
            for i in &applied.unconfirmed {
                writeln!(
                    out,
                    "warning: {}: a spawn with AoEnv-Spawn-Nonce {} may have left a process running unrecorded",
                    i.instance, i.nonce
                )?;
            }
            writeln!(
                out,
                "applied {} action(s): {} spawned, {} retired; state in {}",
                applied.done,
                applied.spawned.len(),
                applied.retired.len(),
                ctx.store.path(env).display()
            )?;
            Ok(0)
        }
        EnvCommand::Teardown { paths, env, approvals } => {
            let ctx = Ctx::new(paths)?;
            let e = ctx.project.environment(env)?;
            let ao = ctx.ao()?;
            // A process an interrupted apply spawned is found by its nonce tag and retired too.
            let lookup = InfoLookup::new(&ao, ao.processes());
            let applied =
                Provisioner::new(&ao, &FsCode, &ctx.store).with_lookup(&lookup).teardown(&e, approvals)?;
            writeln!(
                out,
                "retired {} process(es); their records stay in {}",
                applied.retired.len(),
                ctx.store.path(env).display()
            )?;
            Ok(0)
        }
        EnvCommand::Consistency { paths, left, right } => {
            let ctx = Ctx::new(paths)?;
            let (l, r) = (ctx.project.environment(left)?, ctx.project.environment(right)?);
            let mut report = consistency(&l, &r);
            // With a state file for the left environment, also check what it really runs.
            let state = ctx.store.load(left)?;
            if !state.instances.is_empty() {
                let ao = ctx.ao()?;
                report = report.with_running(&observe(&ao, &state)?, &ctx.desired(&r)?);
            }
            write!(out, "{report}")?;
            Ok(report.exit_code().code())
        }
        EnvCommand::Sync { paths, from, to } => {
            let ctx = Ctx::new(paths)?;
            let file = ctx.project.overlay_source(to).map(|s| PathBuf::from(s.name()));
            let file = file.with_context(|| format!("no overlay for {to}"))?;
            let outcome = sync_to_file(&ctx.project, from, to, Path::new(&file))?;
            write!(out, "{outcome}")?;
            writeln!(out, "wrote {}", file.display())?;
            Ok(0)
        }
    }
}
