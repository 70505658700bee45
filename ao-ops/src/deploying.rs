//! `ao-ops deploy | rollback | promote | pause | resume | abort | history` over
//! ao-deploy, with ao-env for what runs where and ao-local (a log directory, so
//! state persists between runs) as the AO.
//!
//! Exit codes a script can rely on: 0 done (or nothing to do), 1 error (bad
//! input, refused release, closed promotion gate), 2 the deployment failed and
//! rolled back (the previous release serves; also a partial rolling update),
//! 3 paused or waiting for an operator, 4 the rollback failed (an operator must
//! look), 5 another deployer holds the lease. Over several processes: 4 if any
//! rollback failed, else the highest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use ao_deploy::{
    Approval, ApprovalLog, CodeStore, Command, Current, CurrentShard, DeployConfig, DeployDir, Driver,
    ErrorKind, FileControl, History, NoMigration, Phase, PlanNode, PlanPart, PlanRun, ProcessDeploy, Release,
    ReleaseRef, Rollout, RolloutSpec, Runner, SpawnLookup, SpawnSpec, StateOptions, Stop, Strategy,
    StrategyKind, Target, Validation, WallClock, check_promotion, human, router_boot,
};
use ao_env::{FileStateStore, InstanceKey, Project, StateStore};
use ao_health::{Format, Registry, Timestamp};
use ao_local::LocalAo;
use ao_transport::retry::Clock;
use ao_transport::{AoTransport, ProcessId};

/// Exit codes.
pub mod exit {
    /// Done, or nothing to do.
    pub const OK: u8 = 0;
    /// An error: bad input, a refused release, a closed gate.
    pub const ERROR: u8 = 1;
    /// The deployment failed and rolled back (or a rolling update ended partial).
    pub const ROLLED_BACK: u8 = 2;
    /// Paused, or waiting for an operator.
    pub const PAUSED: u8 = 3;
    /// The rollback failed: an operator must look.
    pub const ROLLBACK_FAILED: u8 = 4;
    /// Another deployer holds the lease.
    pub const LEASE_HELD: u8 = 5;

    /// The code of a command over several processes: a failed rollback (4)
    /// before anything else, so that one process's lease held elsewhere (5)
    /// never hides it; otherwise the higher.
    pub fn worst(a: u8, b: u8) -> u8 {
        if a == ROLLBACK_FAILED || b == ROLLBACK_FAILED { ROLLBACK_FAILED } else { a.max(b) }
    }
}

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 done (or nothing to do), 1 error (bad input or flags, refused release, closed gate), \
2 failed and rolled back (or a partial rolling update), 3 paused or waiting for an operator, \
4 the rollback failed, 5 another deployer holds the lease. Over several processes: 4 if any rollback failed, else the highest.";

/// Where the environment files, the deployment state and the local AO live.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployPaths {
    /// The base environment file; overlays `<stem>.<env>.toml` sit beside it.
    #[arg(long, default_value = "ao-env.toml")]
    pub config: PathBuf,
    /// How each process is deployed (default: `ao-deploy.toml` beside --config).
    #[arg(long)]
    pub deploy_config: Option<PathBuf>,
    /// Deployment state: leases, journals, snapshots, history, code by hash.
    #[arg(long, default_value = ".ao-deploy")]
    pub dir: PathBuf,
    /// ao-env's state files, kept in step with what is deployed.
    #[arg(long, default_value = ".ao-env/state")]
    pub state: PathBuf,
    /// The ao-local log directory that stands in for AO (kept between runs).
    #[arg(long, default_value = ".ao-env/ao-local")]
    pub local: PathBuf,
    /// Built bundles and manifests (default: the bundle config's `out_dir`).
    #[arg(long)]
    pub releases: Option<PathBuf>,
    /// Who deploys (the lease holder; default `$USER@$HOSTNAME`).
    #[arg(long)]
    pub deployer: Option<String>,
}

/// Which processes of which environment.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Where the files are.
    #[command(flatten)]
    pub paths: DeployPaths,
    /// The environment.
    pub env: String,
    /// The process (default: every process of the environment, as a plan).
    #[arg(long)]
    pub process: Option<String>,
}

/// `ao-ops deploy`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// Which.
    #[command(flatten)]
    pub target: TargetArgs,
    /// The release's version label (default: `sha-` and the first 12 hex digits of its hash).
    #[arg(long)]
    pub version: Option<String>,
    /// Print what would be spawned, evaluated and switched, and do nothing.
    #[arg(long)]
    pub plan: bool,
}

/// `ao-ops promote`.
#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {
    /// Which.
    #[command(flatten)]
    pub target: TargetArgs,
    /// The environment the release comes from (must be the one before ENV).
    #[arg(long)]
    pub from: Option<String>,
    /// Record an approval by this name before checking the gates (repeatable).
    #[arg(long = "approve")]
    pub approvals: Vec<String>,
    /// Print the gates and what would be deployed, and do nothing.
    #[arg(long)]
    pub plan: bool,
}

/// `ao-ops resume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// Which.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Take over a stale lease held by another deployer.
    #[arg(long)]
    pub take_over: bool,
}

/// `ao-ops history`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Deployment state directory.
    #[arg(long, default_value = ".ao-deploy")]
    pub dir: PathBuf,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Print JSON (every deployment with its steps, and the figures per environment).
    #[arg(long)]
    pub json: bool,
    /// Print the figures as Prometheus metrics (ao-health exposition).
    #[arg(long)]
    pub metrics: bool,
}

fn deployer(paths: &DeployPaths) -> String {
    paths.deployer.clone().unwrap_or_else(|| {
        let user = std::env::var("USER").unwrap_or_else(|_| "ao-ops".into());
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        format!("{user}@{host}")
    })
}

fn now() -> Timestamp {
    Timestamp::from_millis(WallClock.now().as_millis() as u64)
}

struct Lookup(LocalAo);

impl SpawnLookup for Lookup {
    fn candidates(&self, _reference: &str) -> Result<Vec<ProcessId>, ao_deploy::Error> {
        Ok(self.0.processes())
    }
}

struct Ctx {
    project: Project,
    config: DeployConfig,
    paths: DeployPaths,
    ao: LocalAo,
    code: ao_deploy::DirCodeStore,
    state: FileStateStore,
    deployer: String,
}

impl Ctx {
    fn new(paths: &DeployPaths) -> anyhow::Result<Self> {
        let project = Project::load(&paths.config)?;
        let deploy_config = paths.deploy_config.clone().unwrap_or_else(|| {
            paths
                .config
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join("ao-deploy.toml")
        });
        // Defaults stand in for a missing ao-deploy.toml beside --config, never
        // for one named explicitly (a typo would deploy with another strategy).
        let config = if deploy_config.exists() || paths.deploy_config.is_some() {
            DeployConfig::load(&deploy_config)?
        } else {
            DeployConfig::from_toml("", &deploy_config.display().to_string())?
        };
        let ao = LocalAo::builder()
            .log_dir(&paths.local)
            .build()
            .with_context(|| format!("opening ao-local at {}", paths.local.display()))?;
        Ok(Self {
            project,
            config,
            code: ao_deploy::DirCodeStore::new(paths.dir.join("code")),
            state: FileStateStore::new(&paths.state),
            deployer: deployer(paths),
            paths: paths.clone(),
            ao,
        })
    }

    fn dir(&self, env: &str, process: &str) -> DeployDir {
        DeployDir::new(self.paths.dir.join(env).join(process))
    }

    fn processes(env: &ao_env::Environment, only: Option<&str>) -> anyhow::Result<Vec<String>> {
        match only {
            Some(p) if env.processes.contains_key(p) => Ok(vec![p.to_owned()]),
            Some(p) => {
                let known: Vec<&str> = env.processes.keys().map(String::as_str).collect();
                bail!("{} has no process {p:?} (processes: {})", env.name, known.join(", "))
            }
            None => Ok(env.processes.keys().cloned().collect()),
        }
    }

    /// The release of `process` in `env` from the built bundle, refused if it does not check out.
    fn release(
        &self,
        env: &str,
        process: &str,
        version: Option<&str>,
    ) -> anyhow::Result<(Release, SpawnSpec)> {
        let key = InstanceKey::new(process, 0);
        // The version label needs the hash: read it once with a placeholder label.
        let out_dir = self.paths.releases.as_deref();
        let (probe, _) = Release::from_environment_in(&self.project, out_dir, env, &key, "unlabelled")?;
        let version = version.map_or_else(|| format!("sha-{}", &probe.reference().hash[..12]), str::to_owned);
        let (release, spawn) = Release::from_environment_in(&self.project, out_dir, env, &key, &version)?;
        self.code.put_release(&release)?;
        Ok((release, spawn))
    }

    fn driver<'a>(&'a self, snaps: &'a dyn ao_deploy::SnapshotStore, lookup: &'a Lookup) -> Driver<'a> {
        static NONE: NoMigration = NoMigration;
        let transport: Arc<dyn AoTransport> = Arc::new(self.ao.clone());
        let clock: Arc<dyn Clock> = Arc::new(WallClock);
        Driver::new(transport, clock, &self.code, snaps, &NONE).lookup(lookup)
    }
}

#[allow(clippy::too_many_arguments)]
fn spec_for(
    id: String,
    env: &str,
    process: &str,
    release: &ReleaseRef,
    current: &Current,
    how: &ProcessDeploy,
    spawn: &SpawnSpec,
    authority: ao_transport::Address,
) -> anyhow::Result<RolloutSpec> {
    let previous =
        current.shards.values().next().map(|s| s.release.clone()).context("no shard is installed")?;
    let targets: Vec<Target> = current
        .shards
        .iter()
        .map(|(n, s)| Target {
            name: format!("{process}/{n}"),
            process: s.process.clone(),
            router: s.router.clone(),
        })
        .collect();
    // Several shards are always rolled, each in place, with the `rolling` settings.
    let kind = if targets.len() > 1 { StrategyKind::Rolling } else { how.strategy };
    let first = || targets[0].clone();
    let strategy = match kind {
        StrategyKind::InPlace => Strategy::InPlace { target: first() },
        StrategyKind::BlueGreen => Strategy::BlueGreen {
            target: first(),
            spawn: spawn.clone(),
            scale_down_delay_ms: how.scale_down_delay_ms,
        },
        StrategyKind::Canary => Strategy::Canary {
            target: first(),
            spawn: spawn.clone(),
            steps: how.canary_steps.clone(),
            scale_down_delay_ms: how.scale_down_delay_ms,
        },
        StrategyKind::Rolling => Strategy::Rolling {
            targets,
            max_unavailable: how.max_unavailable,
            max_failures: how.max_failures,
        },
    };
    Ok(RolloutSpec {
        id,
        environment: env.into(),
        release: release.clone(),
        previous,
        strategy,
        validation: Validation { smoke: how.smoke.clone(), health: how.health.clone() },
        state: StateOptions {
            globals: how.globals.clone(),
            chunk_bytes: how.chunk_bytes,
            drain_timeout_ms: how.drain_timeout_ms,
            ..StateOptions::default()
        },
        finalize: ao_deploy::Finalize::Auto,
        authority,
        labels: BTreeMap::new(),
    })
}

fn rollout_id(env: &str, process: &str, release: &ReleaseRef) -> String {
    let stamp = now().as_millis();
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' })
            .collect::<String>()
    };
    let id = format!("{}-{}-{}-{stamp}", clean(env), clean(process), clean(&release.version));
    id.chars().take(64).collect()
}

/// First install of a process: adopt what ao-env provisioned, or spawn it;
/// load ao-deploy's module, the config and the release; put a router in front.
fn install(
    ctx: &Ctx,
    env: &str,
    process: &str,
    release: &Release,
    spawn: &SpawnSpec,
    out: &mut dyn Write,
) -> anyhow::Result<Current> {
    let e = ctx.project.environment(env)?;
    let spec = &e.processes[process];
    let how = ctx.config.process(process);
    let mut state = ctx.state.load(env)?;
    let mut shards = BTreeMap::new();
    for shard in 0..spec.shards {
        let key = InstanceKey::new(process, shard);
        let blue = match state.instances.get(&key) {
            Some(r) if r.code_hash.as_deref() == Some(release.reference().hash.as_str()) => {
                writeln!(out, "adopting {key} {} (provisioned by ao-env)", r.process)?;
                r.process.clone()
            }
            Some(r) => bail!(
                "{key} ({}) runs code {}, not the built release {}: deploying needs the running code to roll back to; rebuild that release or `ao-ops env apply {env}` first",
                r.process,
                r.code_hash.as_deref().unwrap_or("(unknown)"),
                release.reference().hash
            ),
            None => {
                let mut tags: Vec<ao_transport::Tag> =
                    spawn.tags.iter().map(|(n, v)| ao_transport::Tag::new(n, v)).collect::<Result<_, _>>()?;
                tags.push(ao_transport::Tag::new("On-Boot", "Data")?);
                let request = ao_transport::SpawnRequest::new(
                    spawn.module.clone(),
                    spawn.scheduler.clone(),
                    tags,
                    spawn.boot.clone().unwrap_or_default(),
                )?;
                let pid = ctx.ao.spawn_process(request)?;
                writeln!(out, "spawned {key} {pid}")?;
                pid
            }
        };
        let router =
            how.router.then(|| ctx.ao.spawn_aos(&router_boot(&blue, &ctx.ao.signer()))).transpose()?;
        let code = String::from_utf8(release.code().to_vec())?;
        for (what, src) in [
            ("ao-deploy's module", ao_deploy::DEPLOY_LUA.to_owned()),
            ("the config", ao_deploy::configure(release.reference(), router.as_ref(), &how.globals)),
            ("the release", code),
        ] {
            let r = ctx.ao.eval(&blue, &src)?;
            if let Some(err) = r.error {
                bail!("installing {key}: loading {what} failed: {err}");
            }
        }
        if let Some(r) = &router {
            writeln!(out, "router   {key} {r} -> {blue} (clients talk to the router)")?;
        }
        sync_record(ctx, &mut state, &key, &blue, &release.reference().hash)?;
        shards.insert(
            shard,
            CurrentShard { process: blue, router, release: release.reference().clone(), previous: None },
        );
    }
    ctx.state.save(&state)?;
    let current = Current { shards };
    ctx.dir(env, process).set_current(&current)?;
    writeln!(out, "installed {process} in {env}: {}", release.reference().label())?;
    Ok(current)
}

/// Keeps ao-env's state file in step: the instance's process and code hash, and
/// its handlers now as the baseline (ao-deploy's module adds some).
fn sync_record(
    ctx: &Ctx,
    state: &mut ao_env::State,
    key: &InstanceKey,
    process: &ProcessId,
    hash: &str,
) -> anyhow::Result<()> {
    // The Eval count too: ao-deploy's own Evals are not drift.
    let (handlers, eval_count) = match ao_env::observe_process(&ctx.ao, key, process)? {
        ao_env::Observation::Running(o) => (o.handlers, Some(o.eval_count)),
        _ => (ctx.ao.process_info(process)?.handlers, None),
    };
    let record = ao_env::Record {
        instance: key.clone(),
        process: process.clone(),
        code_hash: Some(hash.into()),
        baseline_handlers: handlers,
        eval_count,
        retired: false,
    };
    if let Some(old) = state.instances.insert(key.clone(), record)
        && old.process != *process
    {
        state.retired.push(ao_env::Record { retired: true, ..old });
    }
    Ok(())
}

fn code_of(phase: &Phase) -> u8 {
    match phase {
        Phase::Succeeded => exit::OK,
        Phase::RolledBack | Phase::Partial => exit::ROLLED_BACK,
        Phase::RollbackFailed => exit::ROLLBACK_FAILED,
        _ => exit::PAUSED,
    }
}

fn print_steps(rollout: &Rollout, out: &mut dyn Write) -> std::io::Result<()> {
    for s in rollout.steps() {
        let ms = s
            .finished
            .map_or_else(|| "-".to_owned(), |f| human(f.as_millis().saturating_sub(s.started.as_millis())));
        let result = match &s.result {
            ao_deploy::StepResult::Ok => "ok".to_owned(),
            ao_deploy::StepResult::Running => "running".to_owned(),
            ao_deploy::StepResult::Skipped => "skipped".to_owned(),
            ao_deploy::StepResult::Failed(why) => format!("FAILED: {why}"),
        };
        writeln!(
            out,
            "  {}{:<10} {:<44} {:>8}  {result}",
            if s.rollback { "↩ " } else { "  " },
            s.target,
            s.step,
            ms
        )?;
    }
    Ok(())
}

/// Runs a session to its end or to a pause, then records what it left.
fn drive(
    ctx: &Ctx,
    env: &str,
    process: &str,
    dir: &DeployDir,
    mut session: ao_deploy::Session,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let snaps = dir.snapshots();
    let lookup = Lookup(ctx.ao.clone());
    let mut d = ctx.driver(&snaps, &lookup);
    let mut control = FileControl::new(dir.control_path());
    let pending = std::mem::take(&mut session.pending);
    let report = Runner::new(&mut d)
        .journal(&mut session.journal)
        .lease(&mut session.lease)
        .control(&mut control)
        .run(&mut session.rollout, pending)?;
    writeln!(
        out,
        "{} {} ({})",
        session.rollout.spec().strategy.name(),
        session.rollout.spec().id,
        session.rollout.spec().release.label()
    )?;
    print_steps(&session.rollout, out)?;
    for note in session.rollout.warnings().iter().chain(&report.notes) {
        writeln!(out, "  note: {note}")?;
    }
    match report.stop {
        Stop::Finished(phase) => {
            if let Some(f) = session.rollout.failure() {
                writeln!(out, "failed: {f}")?;
            }
            if let Some(f) = session.rollout.rollback_error() {
                writeln!(out, "rollback failed: {f}")?;
            }
            let current = dir.current()?.context("the process has no current.json")?;
            let next = current.after(&session.rollout);
            if next != current {
                let mut state = ctx.state.load(env)?;
                for (n, s) in &next.shards {
                    sync_record(
                        ctx,
                        &mut state,
                        &InstanceKey::new(process, *n),
                        &s.process,
                        &s.release.hash,
                    )?;
                }
                ctx.state.save(&state)?;
                dir.set_current(&next)?;
            }
            let journal = dir.finish(session)?;
            writeln!(out, "{phase}; journal kept in {}", journal.display())?;
            Ok(code_of(&phase))
        }
        // Nobody runs a paused rollout: the lease goes (the journal still blocks
        // a second rollout); whoever resumes it takes the lease again.
        Stop::Paused(reason) => {
            session.lease.release()?;
            writeln!(
                out,
                "{}: resume, promote or abort it (ao-ops resume|promote|abort {env} --process {process})",
                Phase::Paused(reason)
            )?;
            Ok(exit::PAUSED)
        }
        Stop::AwaitingFinalize => {
            session.lease.release()?;
            writeln!(out, "verified; waiting to be finalized")?;
            Ok(exit::PAUSED)
        }
    }
}

fn lease_code(e: &ao_deploy::Error) -> Option<u8> {
    matches!(e.kind(), ErrorKind::LeaseHeld { .. }).then_some(exit::LEASE_HELD)
}

fn start(
    ctx: &Ctx,
    env: &str,
    process: &str,
    release: &Release,
    spawn: &SpawnSpec,
    plan: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let dir = ctx.dir(env, process);
    if let Some(c) = dir.in_progress()?
        && let Some((spec, _, holder)) = c.begin()
    {
        writeln!(
            out,
            "rollout {} of {process} in {env} is in progress (started by {holder}): resume or abort it",
            spec.id
        )?;
        return Ok(exit::ERROR);
    }
    let current = match dir.current()? {
        Some(c) => c,
        None if plan => {
            let e = ctx.project.environment(env)?;
            let how = ctx.config.process(process);
            writeln!(
                out,
                "would install {process} in {env} ({} shard(s)): spawn or adopt each, evaluate ao-deploy's module, the config and {}{}",
                e.processes[process].shards,
                release.reference().label(),
                if how.router { ", spawn a router in front" } else { "" }
            )?;
            return Ok(exit::OK);
        }
        None => {
            install(ctx, env, process, release, spawn, out)?;
            return Ok(exit::OK);
        }
    };
    if current.shards.values().all(|s| s.release.hash == release.reference().hash) {
        writeln!(out, "{process} in {env} already runs {}: nothing to do", release.reference().label())?;
        return Ok(exit::OK);
    }
    let how = ctx.config.process(process);
    let spec = spec_for(
        rollout_id(env, process, release.reference()),
        env,
        process,
        release.reference(),
        &current,
        how,
        spawn,
        ctx.ao.signer(),
    )?;
    if plan {
        writeln!(
            out,
            "{} of {process} in {env}: {} -> {}",
            spec.strategy.name(),
            spec.previous.label(),
            spec.release.label()
        )?;
        for s in Rollout::preview(&spec)? {
            writeln!(out, "  [{}] {:<10} {:<44} {}", s.stage, s.target, s.step, s.detail)?;
        }
        return Ok(exit::OK);
    }
    let session = match dir.start(spec, &ctx.deployer, now(), ctx.config.lease_ttl_ms) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "{e}")?;
            return Ok(lease_code(&e).unwrap_or(exit::ERROR));
        }
    };
    drive(ctx, env, process, &dir, session, out)
}

/// `ao-ops deploy`.
pub fn run_deploy(args: &DeployArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let t = &args.target;
    let ctx = Ctx::new(&t.paths)?;
    let env = ctx.project.environment(&t.env)?;
    let processes = Ctx::processes(&env, t.process.as_deref())?;
    let mut releases = BTreeMap::new();
    for p in &processes {
        releases.insert(p.clone(), ctx.release(&t.env, p, args.version.as_deref())?);
    }
    // Later environments are installed by `deploy` and changed only by `promote`.
    if let Some(i) = ctx.config.promotion.order.iter().position(|e| *e == t.env)
        && i > 0
    {
        let installed: Vec<&String> =
            processes.iter().filter(|p| ctx.dir(&t.env, p).current().ok().flatten().is_some()).collect();
        if !installed.is_empty() {
            writeln!(
                out,
                "{} is promoted into, not deployed to: `ao-ops promote {}` once {} succeeded in {}",
                t.env,
                t.env,
                installed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                ctx.config.promotion.order[i - 1]
            )?;
            return Ok(exit::ERROR);
        }
    }
    if processes.len() == 1 || args.plan {
        let mut code = exit::OK;
        for p in &processes {
            let (r, s) = &releases[p];
            code = exit::worst(code, start(&ctx, &t.env, p, r, s, args.plan, out)?);
        }
        return Ok(code);
    }
    deploy_plan(&ctx, &t.env, &processes, &releases, out)
}

/// Several processes: a plan in dependency order, independent ones together,
/// the done parts rolled back in reverse order when one fails.
fn deploy_plan(
    ctx: &Ctx,
    env: &str,
    processes: &[String],
    releases: &BTreeMap<String, (Release, SpawnSpec)>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let mut nodes = Vec::new();
    let mut parts = BTreeMap::new();
    let mut sessions = BTreeMap::new();
    for p in processes {
        let dir = ctx.dir(env, p);
        let (release, spawn) = &releases[p];
        let current = match dir.current()? {
            Some(c) => c,
            None => install(ctx, env, p, release, spawn, out)?,
        };
        if current.shards.values().all(|s| s.release.hash == release.reference().hash) {
            writeln!(out, "{p} in {env} already runs {}", release.reference().label())?;
            continue;
        }
        let how = ctx.config.process(p);
        let mut spec = spec_for(
            rollout_id(env, p, release.reference()),
            env,
            p,
            release.reference(),
            &current,
            how,
            spawn,
            ctx.ao.signer(),
        )?;
        spec.finalize = ao_deploy::Finalize::Manual;
        let session = match dir.start(spec, &ctx.deployer, now(), ctx.config.lease_ttl_ms) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "{p}: {e}")?;
                return Ok(lease_code(&e).unwrap_or(exit::ERROR));
            }
        };
        nodes.push(PlanNode {
            name: p.clone(),
            depends_on: how.depends_on.iter().filter(|d| processes.contains(d)).cloned().collect(),
        });
        let ao_deploy::Session { rollout, pending, journal, lease } = session;
        parts.insert(p.clone(), PlanPart { rollout, pending, journal: Some(journal) });
        sessions.insert(p.clone(), lease);
    }
    if parts.is_empty() {
        return Ok(exit::OK);
    }
    // Dependencies on processes that are already up to date are met.
    for n in &mut nodes {
        n.depends_on.retain(|d| parts.contains_key(d));
    }
    let plan = PlanRun::new(&nodes)?;
    let snaps: BTreeMap<String, ao_deploy::DirSnapshots> =
        parts.keys().map(|p| (p.clone(), ctx.dir(env, p).snapshots())).collect();
    let lookup = Lookup(ctx.ao.clone());
    let (plan, rollouts) = ao_deploy::run_plan(plan, parts, |name| ctx.driver(&snaps[name], &lookup))?;
    for line in plan.log() {
        writeln!(out, "plan: {line}")?;
    }
    let mut code = exit::OK;
    for (p, rollout) in rollouts {
        let dir = ctx.dir(env, &p);
        writeln!(out, "{p}: {}", rollout.phase())?;
        print_steps(&rollout, out)?;
        let current = dir.current()?.context("no current.json")?;
        let next = current.after(&rollout);
        if next != current {
            let mut state = ctx.state.load(env)?;
            for (n, s) in &next.shards {
                sync_record(ctx, &mut state, &InstanceKey::new(&p, *n), &s.process, &s.release.hash)?;
            }
            ctx.state.save(&state)?;
            dir.set_current(&next)?;
        }
        code = exit::worst(code, code_of(&rollout.phase()));
        if rollout.is_terminal() {
            let (journal, _) = ao_deploy::Journal::open(&dir.journal_path())?;
            let lease = sessions.remove(&p).context("lease")?;
            dir.finish(ao_deploy::Session { rollout, pending: vec![], journal, lease })?;
        }
    }
    writeln!(out, "plan {:?}", plan.phase())?;
    Ok(code)
}

/// `ao-ops pause|resume|abort` (and an operator's promote): to the running
/// deployer through its control file if another one holds a fresh lease, else
/// by resuming the rollout here with the command.
pub fn run_command(
    t: &TargetArgs,
    command: Option<Command>,
    take_over: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let ctx = Ctx::new(&t.paths)?;
    let env = ctx.project.environment(&t.env)?;
    let mut code = exit::OK;
    let mut any = false;
    for p in Ctx::processes(&env, t.process.as_deref())? {
        let dir = ctx.dir(&t.env, &p);
        if dir.in_progress()?.is_none() {
            continue;
        }
        any = true;
        code = exit::worst(code, command_one(&ctx, &t.env, &p, &dir, command, take_over, out)?);
    }
    if !any {
        writeln!(out, "no rollout is in progress in {}", t.env)?;
        return Ok(exit::ERROR);
    }
    Ok(code)
}

fn command_one(
    ctx: &Ctx,
    env: &str,
    p: &str,
    dir: &DeployDir,
    command: Option<Command>,
    take_over: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    // Someone else, or another run of this deployer that is still alive.
    if let Some(lease) = dir.lease()?
        && (lease.holder != ctx.deployer || lease.held_by_another_live_process())
        && !lease.is_stale(now())
    {
        let Some(c) = command else {
            writeln!(
                out,
                "{p}: {} is running it (last seen {} ago); pause, promote or abort it instead",
                lease.holder,
                human(lease.idle_ms(now()))
            )?;
            return Ok(exit::LEASE_HELD);
        };
        FileControl::send(&dir.control_path(), c)?;
        writeln!(out, "{p}: sent {c} to {}, who is running rollout {}", lease.holder, lease.rollout)?;
        return Ok(exit::OK);
    }
    let (mut session, report) = match dir.resume(&ctx.deployer, now(), ctx.config.lease_ttl_ms, take_over) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "{p}: {e}")?;
            return Ok(lease_code(&e).unwrap_or(exit::ERROR));
        }
    };
    if let Some(torn) = &report.torn {
        writeln!(
            out,
            "{p}: the journal's last {} byte(s) at {} were torn ({}); cut off{}",
            torn.bytes,
            torn.offset,
            torn.reason,
            torn.kept.as_ref().map_or_else(String::new, |k| format!(", kept in {}", k.display()))
        )?;
    }
    if let Some(from) = &report.taken_over_from {
        writeln!(out, "{p}: took the rollout over from {from}")?;
    }
    writeln!(
        out,
        "{p}: resumed after {} event(s), {} action(s) in flight",
        report.replayed,
        report.in_flight.len()
    )?;
    if let Some(c) = command {
        let event = ao_deploy::Event::Command { at: now(), command: c };
        session.journal.append(&ao_deploy::Record::Event { event: event.clone() })?;
        if let Err(e) = session.rollout.handle(event) {
            writeln!(out, "{p}: {e}")?;
            if !matches!(c, Command::Resume) {
                return Ok(exit::ERROR);
            }
        }
        session.pending.extend(session.rollout.drain_actions());
    }
    drive(ctx, env, p, dir, session, out)
}

/// `ao-ops rollback`: abort a rollout in progress, or deploy the release that ran before.
pub fn run_rollback(t: &TargetArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let ctx = Ctx::new(&t.paths)?;
    let env = ctx.project.environment(&t.env)?;
    let mut code = exit::OK;
    for p in Ctx::processes(&env, t.process.as_deref())? {
        let dir = ctx.dir(&t.env, &p);
        if dir.in_progress()?.is_some() {
            code = exit::worst(code, command_one(&ctx, &t.env, &p, &dir, Some(Command::Abort), false, out)?);
            continue;
        }
        let Some(current) = dir.current()? else {
            writeln!(out, "{p} is not deployed in {}", t.env)?;
            code = exit::worst(code, exit::ERROR);
            continue;
        };
        let Some(previous) = current.shards.values().next().and_then(|s| s.previous.clone()) else {
            writeln!(out, "{p} in {} has no previous release to go back to", t.env)?;
            code = exit::worst(code, exit::ERROR);
            continue;
        };
        let bytes = ctx
            .code
            .get(&previous.hash)?
            .with_context(|| format!("the code of {} is not in the code store", previous.label()))?;
        let (_, spawn) = ctx.release(&t.env, &p, None)?;
        let release = Release::stored(&previous.target, &previous.version, bytes, previous.config.clone())?;
        writeln!(out, "rolling {p} in {} back to {}", t.env, previous.label())?;
        code = exit::worst(code, start(&ctx, &t.env, &p, &release, &spawn, false, out)?);
    }
    Ok(code)
}

/// `ao-ops promote`: an operator's promote of a rollout in progress, or the
/// promotion of what succeeded in the previous environment, through its gates.
pub fn run_promote(args: &PromoteArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let t = &args.target;
    let ctx = Ctx::new(&t.paths)?;
    let to = ctx.project.environment(&t.env)?;
    let processes = Ctx::processes(&to, t.process.as_deref())?;
    if processes.iter().any(|p| ctx.dir(&t.env, p).in_progress().ok().flatten().is_some()) {
        return run_command(t, Some(Command::Promote), false, out);
    }
    let policy = &ctx.config.promotion;
    let history = read_history(&ctx.paths.dir)?;
    let log = ApprovalLog::new(ctx.paths.dir.join("approvals.jsonl"));
    let idx = policy.order.iter().position(|e| *e == t.env);
    let from = match (idx, &args.from) {
        (Some(i), _) if i > 0 => policy.order[i - 1].clone(),
        (_, Some(f)) => f.clone(),
        _ => bail!(
            "{} has no environment before it in [promotion] order ({})",
            t.env,
            policy.order.join(" -> ")
        ),
    };
    let mut code = exit::OK;
    for p in processes {
        let Some(done) = history.deployments.iter().rev().find(|d| {
            d.environment == from
                && d.succeeded()
                && d.targets.split(',').any(|x| x.starts_with(&format!("{p}/")))
        }) else {
            writeln!(out, "{p}: nothing has succeeded in {from} to promote")?;
            code = exit::worst(code, exit::ERROR);
            continue;
        };
        for who in &args.approvals {
            log.record(&Approval {
                environment: t.env.clone(),
                release_hash: done.release_hash.clone(),
                approver: who.clone(),
                at_ms: now().as_millis(),
            })?;
        }
        let approvals = log.read()?;
        let promotion = match check_promotion(
            policy,
            &history,
            &approvals,
            args.from.as_deref(),
            &to,
            &done.release_hash,
            now().as_millis(),
        ) {
            Ok(p) => p,
            Err(e) => {
                writeln!(out, "{p}: {e}")?;
                code = exit::worst(code, exit::ERROR);
                continue;
            }
        };
        writeln!(
            out,
            "{p}: promoting {} from {} to {}{}",
            done.release,
            promotion.from,
            promotion.to,
            if promotion.approvers.is_empty() {
                String::new()
            } else {
                format!(", approved by {}", promotion.approvers.join(", "))
            }
        )?;
        let version = done.release.rsplit_once('@').map_or("promoted", |(_, v)| v);
        let bytes = ctx
            .code
            .get(&done.release_hash)?
            .with_context(|| format!("the code of {} is not in the code store", done.release))?;
        let (built, spawn) = ctx.release(&t.env, &p, None)?;
        let release =
            Release::stored(&built.reference().target, version, bytes, built.reference().config.clone())?;
        code = exit::worst(code, start(&ctx, &t.env, &p, &release, &spawn, args.plan, out)?);
    }
    Ok(code)
}

fn read_history(dir: &Path) -> anyhow::Result<History> {
    let mut journals = Vec::new();
    let envs = match std::fs::read_dir(dir) {
        Ok(envs) => envs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => {
            return Err(e).with_context(|| format!("reading the deployment history in {}", dir.display()));
        }
    };
    for env in envs.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        for p in std::fs::read_dir(env.path())?.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
            let d = DeployDir::new(p.path());
            journals.extend(d.history()?.into_iter().map(|(_, c)| c));
        }
    }
    Ok(History::from_journals(&journals)?)
}

/// `ao-ops history`.
pub fn run_history(args: &HistoryArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut history = read_history(&args.dir)?;
    if let Some(env) = &args.env {
        history.deployments.retain(|d| &d.environment == env);
    }
    if args.metrics {
        let registry = Registry::new();
        history.export(&registry)?;
        write!(out, "{}", registry.encode(Format::Prometheus))?;
    } else if args.json {
        let json = serde_json::json!({ "deployments": history.deployments, "environments": history.stats() });
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else if history.deployments.is_empty() {
        writeln!(out, "no deployments yet")?;
    } else {
        write!(out, "{history}")?;
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::exit;

    #[test]
    fn a_failed_rollback_is_never_hidden_by_another_code() {
        for other in [exit::OK, exit::ERROR, exit::ROLLED_BACK, exit::PAUSED, exit::LEASE_HELD] {
            assert_eq!(exit::worst(exit::ROLLBACK_FAILED, other), exit::ROLLBACK_FAILED);
            assert_eq!(exit::worst(other, exit::ROLLBACK_FAILED), exit::ROLLBACK_FAILED);
        }
        assert_eq!(exit::worst(exit::ROLLED_BACK, exit::LEASE_HELD), exit::LEASE_HELD);
        assert_eq!(exit::worst(exit::OK, exit::PAUSED), exit::PAUSED);
    }
}
