//! The driver: runs one [`Action`] over [`AoTransport`] and says what came of it.
//!
//! Thin on purpose: every decision is the core's. Retryable transport errors
//! are retried here with backoff (ao-transport's retry helper on the injected
//! [`Clock`]); what still fails is reported to the core as a failure, which
//! rolls back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ao_health::{AoProbe, HealthCheck, Status, Timestamp};
use ao_transport::retry::{Backoff, Clock, RetryPolicy, SplitMix64, retry};
use ao_transport::{
    AoTransport, EvalResult, Message, OutboxMessage, ProcessId, SpawnRequest, Tag, TransportError,
};

use crate::error::{Error, ErrorKind};
use crate::lua::{DEPLOY_LUA, configure};
use crate::release::CodeStore;
use crate::rollout::{Action, ActionKind, Outcome};
use crate::spec::{ReleaseRef, RolloutSpec, SmokeTest, SpawnSpec};
use crate::state::{Migration, decode, encode, join_blob, split_blob, state_hash};

/// A state snapshot kept for an in-place rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The canonical state bytes.
    pub bytes: Vec<u8>,
    /// The process's message count when it was taken.
    pub messages: u64,
}

/// Where snapshots are kept between the snapshot and the restore (which may be
/// in another run of the deployer, after a crash).
pub trait SnapshotStore: Send + Sync {
    /// Keeps a snapshot under `key`, replacing any older one.
    fn put(&self, key: &str, snapshot: &Snapshot) -> Result<(), Error>;
    /// The snapshot under `key`.
    fn get(&self, key: &str) -> Result<Option<Snapshot>, Error>;
}

/// Snapshots in memory.
#[derive(Debug, Default)]
pub struct MemorySnapshots(Mutex<BTreeMap<String, Snapshot>>);

impl SnapshotStore for MemorySnapshots {
    fn put(&self, key: &str, snapshot: &Snapshot) -> Result<(), Error> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), snapshot.clone());
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Snapshot>, Error> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned())
    }
}

/// Snapshots in a directory: `<key>.state`, a header line with the hash and
/// message count, then the bytes; written atomically, checked when read.
#[derive(Debug, Clone)]
pub struct DirSnapshots {
    dir: std::path::PathBuf,
}

impl DirSnapshots {
    /// A store in `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, key: &str) -> std::path::PathBuf {
        let name: String =
            key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        self.dir.join(format!("{name}.state"))
    }
}

impl SnapshotStore for DirSnapshots {
    fn put(&self, key: &str, snapshot: &Snapshot) -> Result<(), Error> {
        let mut bytes =
            format!("{} {} {}\n", state_hash(&snapshot.bytes), snapshot.messages, key.len()).into_bytes();
        bytes.extend_from_slice(&snapshot.bytes);
        crate::fsutil::write_atomic(&self.path(key), &bytes)
    }

    fn get(&self, key: &str) -> Result<Option<Snapshot>, Error> {
        let path = self.path(key);
        let raw = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |why: &str| Error::protocol(format!("reading snapshot {}", path.display()), why.to_owned());
        let nl = raw.iter().position(|&b| b == b'\n').ok_or_else(|| bad("no header"))?;
        let header = std::str::from_utf8(&raw[..nl]).map_err(|_| bad("header is not text"))?;
        let mut parts = header.split(' ');
        let (Some(hash), Some(messages)) = (parts.next(), parts.next()) else {
            return Err(bad("short header"));
        };
        let messages = messages.parse().map_err(|_| bad("bad message count"))?;
        let bytes = raw[nl + 1..].to_vec();
        if state_hash(&bytes) != hash {
            return Err(bad("the snapshot does not match its hash"));
        }
        Ok(Some(Snapshot { bytes, messages }))
    }
}

/// Finds processes a spawn may have created before a crash or a lost reply:
/// the candidates are dry-run for the `DeployRef` they were booted with.
/// On ao-local, every local process; on AO, a gateway query by the `Deploy-Ref` tag.
pub trait SpawnLookup: Send + Sync {
    /// Processes that may carry a given spawn reference.
    fn candidates(&self, reference: &str) -> Result<Vec<ProcessId>, Error>;
}

/// Wall-clock time for drivers outside tests: Unix time, `sleep` blocks the thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Duration {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
    }

    fn sleep(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        std::thread::sleep(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Runs actions over a transport.
pub struct Driver<'a> {
    ao: Arc<dyn AoTransport>,
    clock: Arc<dyn Clock>,
    code: &'a dyn CodeStore,
    snapshots: &'a dyn SnapshotStore,
    migration: &'a dyn Migration,
    lookup: Option<&'a dyn SpawnLookup>,
    retry: RetryPolicy,
    rng: SplitMix64,
    probe_timeout: Duration,
    notes: Vec<String>,
    metrics: Option<DriverMetrics>,
}

/// ao-health metric families the driver keeps up to date when given a registry.
#[derive(Debug, Clone)]
struct DriverMetrics {
    /// Every analysis value measured, by rollout and metric name.
    analysis: ao_health::Family<ao_health::Gauge>,
    /// Health probes of deployed processes, by rollout and process: 1 up, 0 down.
    probe_up: ao_health::Family<ao_health::Gauge>,
    /// Actions run, by kind and outcome.
    actions: ao_health::Family<ao_health::Counter>,
}

/// Names of the families [`Driver::metrics`] registers.
pub const DRIVER_FAMILIES: &[&str] = &["ao_deploy_analysis_value", "ao_deploy_probe_up", "ao_deploy_actions"];

impl std::fmt::Debug for Driver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("retry", &self.retry).finish_non_exhaustive()
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn tag<'m>(m: &'m OutboxMessage, name: &str) -> Option<&'m str> {
    m.tag(name)
}

fn num(m: &OutboxMessage, name: &str, what: &str) -> Result<u64, Error> {
    tag(m, name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::protocol(what.to_owned(), format!("reply has no numeric {name} tag")))
}

impl<'a> Driver<'a> {
    /// A driver over `ao`, timing with `clock`, taking code from `code` and
    /// keeping snapshots in `snapshots`, migrating state with `migration`.
    pub fn new(
        ao: Arc<dyn AoTransport>,
        clock: Arc<dyn Clock>,
        code: &'a dyn CodeStore,
        snapshots: &'a dyn SnapshotStore,
        migration: &'a dyn Migration,
    ) -> Self {
        Self {
            ao,
            clock,
            code,
            snapshots,
            migration,
            lookup: None,
            retry: RetryPolicy::default(),
            rng: SplitMix64::new(0x0ade_9107),
            probe_timeout: Duration::from_secs(5),
            notes: Vec::new(),
            metrics: None,
        }
    }

    /// Publishes what the driver measures in `registry` (ao-health): analysis
    /// values, probe results, actions by kind and outcome ([`DRIVER_FAMILIES`]).
    pub fn metrics(mut self, registry: &ao_health::Registry) -> Result<Self, Error> {
        let bad = |e: ao_health::Error| Error::protocol("registering deploy metrics", e.to_string());
        self.metrics = Some(DriverMetrics {
            analysis: registry
                .gauge_family(
                    "ao_deploy_analysis_value",
                    "Values measured for canary analyses.",
                    &["rollout", "metric"],
                )
                .map_err(bad)?,
            probe_up: registry
                .gauge_family(
                    "ao_deploy_probe_up",
                    "Health probes of deployed processes (1 up, 0 down).",
                    &["rollout", "process"],
                )
                .map_err(bad)?,
            actions: registry
                .counter_family(
                    "ao_deploy_actions",
                    "Rollout actions run, by kind and outcome.",
                    &["kind", "outcome"],
                )
                .map_err(bad)?,
        });
        Ok(self)
    }

    /// Finds spawns again after a crash or a lost reply (otherwise a repeated
    /// spawn may leave an orphan process, which is noted).
    #[must_use]
    pub fn lookup(mut self, lookup: &'a dyn SpawnLookup) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// How retryable transport errors are retried (default: ao-transport's).
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Timeout of each health probe (default 5 s).
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// The current time on the driver's clock.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.clock.now().as_millis() as u64)
    }

    /// Sleeps on the driver's clock until `until` (now if it has passed).
    pub fn sleep_until(&self, until: Timestamp) {
        let now = self.now();
        if until > now {
            block(self.clock.sleep(until.saturating_since(now)));
        }
    }

    /// Notes about what the driver did beyond the core's view (a spawn found
    /// again, a possible orphan); taken by the caller.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn retried<T, F, Fut>(&mut self, what: &str, op: F) -> Result<T, Error>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<T, TransportError>>,
    {
        let clock = self.clock.clone();
        block(retry(&self.retry, clock.as_ref(), &mut self.rng, op)).map_err(|e| Error::retried(what, e))
    }

    /// Sends `msg` (retrying), then reads its result (retrying the read alone).
    fn call(&mut self, what: &str, msg: &Message) -> Result<EvalResult, Error> {
        let ao = self.ao.clone();
        let target = msg.target().clone();
        let id = self.retried(what, |_| ao.send(msg.clone()))?;
        self.retried(what, |_| ao.result(target.clone(), id.clone()))
    }

    fn dry_run(&mut self, what: &str, msg: &Message) -> Result<EvalResult, Error> {
        let ao = self.ao.clone();
        self.retried(what, |_| ao.dry_run(msg.clone()))
    }

    fn eval(&mut self, what: &str, process: &ProcessId, source: &str) -> Result<EvalResult, Error> {
        self.eval_once(what, process, source, None)
    }

    /// An Eval; with `once`, tagged `Deploy-Eval-Id` so that the process module
    /// runs it at most once (a send retried after a lost reply, or the action
    /// run again after a crash, is not applied twice).
    fn eval_once(
        &mut self,
        what: &str,
        process: &ProcessId,
        source: &str,
        once: Option<&str>,
    ) -> Result<EvalResult, Error> {
        let mut b = Message::builder(process.clone()).tag("Action", "Eval");
        if let Some(id) = once {
            b = b.tag("Deploy-Eval-Id", id);
        }
        let msg = b.data(source).build().map_err(|e| Error::protocol(what, e.to_string()))?;
        let r = self.call(what, &msg)?;
        match &r.error {
            Some(e) => Err(Error::protocol(what, format!("the process failed to evaluate it: {e}"))),
            None => Ok(r),
        }
    }

    /// The reply with `Action = action` in `r`, or the error the process answered instead.
    fn reply<'r>(what: &str, r: &'r EvalResult, action: &str) -> Result<&'r OutboxMessage, Error> {
        if let Some(e) = &r.error {
            return Err(Error::protocol(what, format!("the process failed: {e}")));
        }
        if let Some(m) = r.message_with_tag("Action", action) {
            return Ok(m);
        }
        let refusal = r.messages.iter().find_map(|m| m.tag("Error")).unwrap_or("no reply");
        Err(Error::protocol(what, format!("expected a {action} reply: {refusal}")))
    }

    fn msg(what: &str, target: &ProcessId, tags: &[(&str, &str)], data: &[u8]) -> Result<Message, Error> {
        let mut b = Message::builder(target.clone());
        for (n, v) in tags {
            b = b.tag(*n, *v);
        }
        b.data(data.to_vec()).build().map_err(|e| Error::protocol(what, e.to_string()))
    }

    fn info(&mut self, process: &ProcessId) -> Result<serde_json::Value, Error> {
        let what = format!("reading Deploy-Info of {process}");
        let msg = Self::msg(&what, process, &[("Action", "Deploy-Info")], b"")?;
        let r = self.dry_run(&what, &msg)?;
        let m = Self::reply(&what, &r, "Deploy-Info")?;
        serde_json::from_slice(&m.data).map_err(|e| Error::protocol(what, format!("bad JSON: {e}")))
    }

    /// Exports a process's state: (bytes, last forwarded message it handled).
    fn export(&mut self, process: &ProcessId, id: &str, chunk: usize) -> Result<(Vec<u8>, u64), Error> {
        let what = format!("exporting the state of {process}");
        let size = chunk.to_string();
        let mut out = Vec::new();
        let mut i: u64 = 1;
        let mut expected: Option<(u64, u64)> = None;
        let mut last;
        loop {
            let n = i.to_string();
            let msg = Self::msg(
                &what,
                process,
                &[("Action", "Export-State"), ("Export-Id", id), ("Chunk-Size", &size), ("Chunk", &n)],
                b"",
            )?;
            let r = self.call(&what, &msg)?;
            let m = Self::reply(&what, &r, "State-Chunk")?;
            let chunks = num(m, "Chunks", &what)?;
            let total = num(m, "Total-Bytes", &what)?;
            last = num(m, "Ledger-Last", &what)?;
            if expected.is_some_and(|e| e != (chunks, total)) {
                return Err(Error::protocol(what, "the state changed between chunks"));
            }
            expected = Some((chunks, total));
            out.extend_from_slice(&m.data);
            if i >= chunks {
                break;
            }
            i += 1;
        }
        if expected.is_some_and(|(_, total)| total != out.len() as u64) {
            return Err(Error::protocol(
                what,
                format!("got {} bytes of {}", out.len(), expected.map_or(0, |e| e.1)),
            ));
        }
        Ok((out, last))
    }

    /// Imports `bytes`; `Ok(false)` when an earlier attempt with the same id
    /// had already applied them (the process may have moved on since).
    fn import(&mut self, process: &ProcessId, id: &str, bytes: &[u8], chunk: usize) -> Result<bool, Error> {
        let what = format!("importing state into {process}");
        let pieces: Vec<&[u8]> = if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(chunk).collect() };
        let n = pieces.len().to_string();
        for (i, piece) in pieces.iter().enumerate() {
            let c = (i + 1).to_string();
            let msg = Self::msg(
                &what,
                process,
                &[("Action", "Import-State"), ("Import-Id", id), ("Chunk", &c), ("Chunks", &n)],
                piece,
            )?;
            let r = self.call(&what, &msg)?;
            // A repeated import (after a crash or a lost reply) is already applied: done.
            if r.error.is_none()
                && let Some(m) = r.message_with_tag("Action", "State-Imported")
            {
                return Ok(m.tag("Already") != Some("true"));
            }
            let want = if i + 1 == pieces.len() { "State-Imported" } else { "State-Chunk-Received" };
            Self::reply(&what, &r, want)?;
        }
        Ok(true)
    }

    fn migrate(&self, spec: &RolloutSpec, bytes: &[u8], backward: bool) -> Result<Vec<u8>, Error> {
        let (globals, ledger) = split_blob(decode(bytes)?)?;
        let globals = if backward {
            self.migration.down(&spec.release, &spec.previous, globals)
        } else {
            self.migration.up(&spec.previous, &spec.release, globals)
        }
        .map_err(|e| Error::new(ErrorKind::Migration(e)))?;
        Ok(encode(&join_blob(globals, ledger)))
    }

    /// Loads ao-deploy's module, the config, and the release's code, in that
    /// order: the code is the last Eval, so ao-env's `info.lua` (when the
    /// process runs it) records exactly the release's hash and drift stays clean.
    fn load(
        &mut self,
        process: &ProcessId,
        release: &ReleaseRef,
        router: Option<&ProcessId>,
        spec: &RolloutSpec,
        eval_id: &str,
    ) -> Result<String, Error> {
        let label = release.label();
        let code = self.code.get(&release.hash)?.ok_or_else(|| {
            Error::refused(
                &label,
                "its code is not in the code store (a rollback needs the previous release's code)",
            )
        })?;
        let code = String::from_utf8(code).map_err(|_| Error::refused(&label, "the code is not UTF-8"))?;
        // Run again after a crash once the code was evaluated: nothing to do.
        // Evaluating the module and the config again would be harmless to the
        // game but would make them the last Eval, the one ao-env's info.lua
        // reports as the code (drift); the code itself is evaluated once.
        let done = self.info(process).ok().is_some_and(|i| i["last_eval"].as_str() == Some(eval_id));
        if done {
            self.notes.push(format!("load {label} into {process}: already done by an earlier attempt"));
        } else {
            self.eval(&format!("loading ao-deploy's module into {process}"), process, DEPLOY_LUA)?;
            self.eval(
                &format!("configuring {process}"),
                process,
                &configure(release, router, &spec.state.globals),
            )?;
            self.eval_once(&format!("loading {label} into {process}"), process, &code, Some(eval_id))?;
        }
        let info = self.info(process)?;
        Ok(info["release"].as_str().unwrap_or_default().to_owned())
    }

    fn spawn(&mut self, reference: &str, spawn: &SpawnSpec) -> Result<ProcessId, Error> {
        if let Some(found) = self.find_spawn(reference)? {
            self.notes.push(format!("spawn {reference}: found {found} from an earlier attempt"));
            return Ok(found);
        }
        let what = format!("spawning {reference}");
        let mut tags = Vec::new();
        for (n, v) in &spawn.tags {
            tags.push(Tag::new(n, v).map_err(|e| Error::protocol(&what, e.to_string()))?);
        }
        tags.push(Tag::new("Deploy-Ref", reference).map_err(|e| Error::protocol(&what, e.to_string()))?);
        tags.push(Tag::new("On-Boot", "Data").map_err(|e| Error::protocol(&what, e.to_string()))?);
        let mut boot = format!("DeployRef = {}\n", crate::lua::long_string(reference));
        if let Some(b) = &spawn.boot {
            boot.push_str(b);
        }
        let request =
            SpawnRequest::new(spawn.module.clone(), spawn.scheduler.clone(), tags, boot.into_bytes())
                .map_err(|e| Error::protocol(&what, e.to_string()))?;
        // Retried by hand: before each new attempt, look for the process an
        // earlier attempt may have spawned before its reply was lost.
        let mut backoff = Backoff::new(self.retry.clone(), self.clock.now());
        loop {
            let error = match block(self.ao.spawn(request.clone())) {
                Ok(p) => return Ok(p),
                Err(e) => e,
            };
            if !error.is_retryable() {
                return Err(Error::transport(&what, error));
            }
            if let Some(found) = self.find_spawn(reference)? {
                self.notes.push(format!("spawn {reference}: the reply was lost; found {found}"));
                return Ok(found);
            }
            if self.lookup.is_none() {
                self.notes.push(format!(
                    "spawn {reference}: retrying without a lookup; an earlier attempt may have left an orphan process"
                ));
            }
            match backoff.next_delay(self.clock.now(), error.retry_after(), &mut self.rng) {
                Ok(delay) => block(self.clock.sleep(delay)),
                Err(_) => return Err(Error::transport(&what, error)),
            }
        }
    }

    fn find_spawn(&mut self, reference: &str) -> Result<Option<ProcessId>, Error> {
        let Some(lookup) = self.lookup else { return Ok(None) };
        for candidate in lookup.candidates(reference)? {
            let Ok(msg) = Self::msg("lookup", &candidate, &[("Action", "Eval")], b"return DeployRef") else {
                continue;
            };
            if let Ok(r) = block(self.ao.dry_run(msg))
                && r.error.is_none()
                && r.output == reference
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    fn smoke(&mut self, process: &ProcessId, tests: &[SmokeTest]) -> Result<Vec<String>, Error> {
        let mut failures = Vec::new();
        for t in tests {
            let what = format!("smoke test {}", t.name);
            let mut b = Message::builder(process.clone());
            for (n, v) in &t.tags {
                b = b.tag(n, v);
            }
            let msg = match b.data(t.data.clone()).build() {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{}: {e}", t.name));
                    continue;
                }
            };
            let r = self.dry_run(&what, &msg)?;
            if let Some(why) = check_expectation(t, &r) {
                failures.push(format!("{}: {why}", t.name));
            }
        }
        Ok(failures)
    }

    fn probe(&self, process: &ProcessId) -> Result<(bool, Option<String>, Duration), Error> {
        let probe = AoProbe::builder(format!("deploy-{process}"), self.ao.clone())
            .process(process.clone())
            .clock(self.clock.clone())
            .timeout(self.probe_timeout)
            .build()
            .map_err(|e| Error::protocol("probe", e.to_string()))?;
        let r = probe.check();
        Ok((r.status != Status::Unhealthy, r.reason, r.latency.unwrap_or_default()))
    }

    fn measure(&mut self, stable: &ProcessId, canary: &ProcessId) -> Result<BTreeMap<String, f64>, Error> {
        let mut values = BTreeMap::new();
        let ratio = |info: &serde_json::Value| {
            let m = info["stats"]["messages"].as_f64().unwrap_or(0.0);
            let e = info["stats"]["errors"].as_f64().unwrap_or(0.0);
            (m > 0.0).then(|| e / m)
        };
        let c = self.info(canary)?;
        let s = self.info(stable)?;
        values.insert("canary_messages".into(), c["stats"]["messages"].as_f64().unwrap_or(0.0));
        let (cr, sr) = (ratio(&c), ratio(&s));
        if let Some(cr) = cr {
            values.insert("canary_error_ratio".into(), cr);
        }
        if let Some(sr) = sr {
            values.insert("stable_error_ratio".into(), sr);
        }
        if let (Some(cr), Some(sr)) = (cr, sr) {
            values.insert("error_ratio_delta".into(), cr - sr);
        }
        let (up, _, latency) = self.probe(canary)?;
        values.insert("canary_probe_up".into(), f64::from(u8::from(up)));
        values.insert("canary_probe_latency_ms".into(), latency.as_secs_f64() * 1000.0);
        let (up, _, _) = self.probe(stable)?;
        values.insert("stable_probe_up".into(), f64::from(u8::from(up)));
        Ok(values)
    }

    /// Runs one action. A returned error is reported to the core as a failure.
    pub fn execute(&mut self, spec: &RolloutSpec, action: &Action) -> Result<Outcome, Error> {
        let result = self.run_action(spec, action);
        if let Some(m) = &self.metrics {
            let kind = kind_name(&action.kind);
            m.actions.with(&[kind, if result.is_ok() { "ok" } else { "failed" }]).inc();
            match &result {
                Ok(Outcome::Measured { values }) => {
                    for (k, v) in values {
                        m.analysis.with(&[&spec.id, k]).set(*v);
                    }
                }
                Ok(Outcome::Probed { healthy, .. }) => {
                    if let ActionKind::Probe { process } = &action.kind {
                        m.probe_up.with(&[&spec.id, process.as_str()]).set(f64::from(u8::from(*healthy)));
                    }
                }
                _ => {}
            }
        }
        result
    }

    fn run_action(&mut self, spec: &RolloutSpec, action: &Action) -> Result<Outcome, Error> {
        let chunk = spec.state.chunk_bytes;
        let id = format!("{}-{}", spec.id, action.id);
        Ok(match &action.kind {
            ActionKind::Spawn { reference, spawn } => {
                Outcome::Spawned { process: self.spawn(reference, spawn)? }
            }
            ActionKind::Prepare { process, release, router } => {
                // The running release again (a hot reload of the same code), now with the module.
                let hash = self.load(process, release, router.as_ref(), spec, &id)?;
                if hash != release.hash {
                    return Err(Error::protocol("prepare", format!("the module reports release {hash}")));
                }
                Outcome::Prepared
            }
            ActionKind::Load { process, release, router } => {
                Outcome::Loaded { hash: self.load(process, release, router.as_ref(), spec, &id)? }
            }
            ActionKind::Hold { router } => {
                let what = format!("holding router {router}");
                let r = self.call(&what, &Self::msg(&what, router, &[("Action", "Deploy-Hold")], b"")?)?;
                let m = Self::reply(&what, &r, "Deploy-Held")?;
                Outcome::Held { last_seq: num(m, "Last-Seq", &what)? }
            }
            ActionKind::Snapshot { process, key, backward } => {
                let messages = self.info(process)?["stats"]["messages"].as_u64().unwrap_or(0);
                let (bytes, last_seq) = self.export(process, &id, chunk)?;
                let bytes = if *backward { self.migrate(spec, &bytes, true)? } else { bytes };
                self.snapshots.put(key, &Snapshot { bytes: bytes.clone(), messages })?;
                Outcome::Snapshotted { hash: state_hash(&bytes), bytes: bytes.len() as u64, last_seq }
            }
            ActionKind::Restore { process, key } => {
                let snap = self
                    .snapshots
                    .get(key)?
                    .ok_or_else(|| Error::protocol("restore", format!("no snapshot {key} is kept")))?;
                let messages = self.info(process)?["stats"]["messages"].as_u64().unwrap_or(0);
                let applied_now = self.import(process, &id, &snap.bytes, chunk)?;
                let (now, _) = self.export(process, &format!("{id}-check"), chunk)?;
                if !applied_now {
                    // Restored by an earlier attempt (the deployer crashed, or the
                    // reply was lost); what the process did since is its own:
                    // importing again would undo it, comparing would fail.
                    self.notes.push(format!(
                        "restore {key}: already applied by an earlier attempt; the process holds state {}",
                        state_hash(&now)
                    ));
                    return Ok(Outcome::Restored { hash: state_hash(&now), discarded: 0 });
                }
                if now != snap.bytes {
                    return Err(Error::protocol(
                        "restore",
                        format!(
                            "the process holds state {}, the snapshot is {}",
                            state_hash(&now),
                            state_hash(&snap.bytes)
                        ),
                    ));
                }
                Outcome::Restored {
                    hash: state_hash(&now),
                    discarded: messages.saturating_sub(snap.messages),
                }
            }
            ActionKind::Transfer { from, to, backward } => {
                let (exported, source_last_seq) = self.export(from, &id, chunk)?;
                let migrated = self.migrate(spec, &exported, *backward)?;
                self.import(to, &id, &migrated, chunk)?;
                let (imported, _) = self.export(to, &format!("{id}-check"), chunk)?;
                Outcome::Transferred {
                    exported: state_hash(&exported),
                    migrated: state_hash(&migrated),
                    imported: state_hash(&imported),
                    bytes: migrated.len() as u64,
                    source_last_seq,
                }
            }
            ActionKind::Smoke { process, tests } => Outcome::Smoke { failures: self.smoke(process, tests)? },
            ActionKind::Route { router, primary, shadow } => {
                let what = format!("routing {router} to {primary}");
                let (canary, weight) = shadow
                    .as_ref()
                    .map_or((String::new(), "0".to_owned()), |(p, w)| (p.to_string(), w.to_string()));
                let active = primary.to_string();
                let tags = [
                    ("Action", "Deploy-Route"),
                    ("Active", active.as_str()),
                    ("Shadow", &canary),
                    ("Weight", &weight),
                ];
                let result = self.call(&what, &Self::msg(&what, router, &tags, b"")?)?;
                let reply = Self::reply(&what, &result, "Deploy-Routed")?;
                let rejected = tag(reply, "Rejected").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                if rejected > 0 {
                    self.notes.push(format!(
                        "router {router}: its buffer was full; {rejected} message(s) refused to their senders (Deploy-Router-Busy)"
                    ));
                }
                Outcome::Routed { flushed: num(reply, "Flushed", &what)? }
            }
            ActionKind::Probe { process } => {
                let (healthy, reason, _) = self.probe(process)?;
                Outcome::Probed { healthy, reason }
            }
            ActionKind::Measure { stable, canary } => {
                Outcome::Measured { values: self.measure(stable, canary)? }
            }
            ActionKind::Wait { until } => {
                self.sleep_until(*until);
                Outcome::Waited
            }
            ActionKind::Retire { process } => {
                let what = format!("retiring {process}");
                let r = self.call(&what, &Self::msg(&what, process, &[("Action", "Deploy-Retire")], b"")?)?;
                Self::reply(&what, &r, "Deploy-Retired")?;
                Outcome::Retired
            }
        })
    }
}

fn kind_name(k: &ActionKind) -> &'static str {
    match k {
        ActionKind::Spawn { .. } => "spawn",
        ActionKind::Prepare { .. } => "prepare",
        ActionKind::Load { .. } => "load",
        ActionKind::Hold { .. } => "hold",
        ActionKind::Snapshot { .. } => "snapshot",
        ActionKind::Restore { .. } => "restore",
        ActionKind::Transfer { .. } => "transfer",
        ActionKind::Smoke { .. } => "smoke",
        ActionKind::Route { .. } => "route",
        ActionKind::Probe { .. } => "probe",
        ActionKind::Measure { .. } => "measure",
        ActionKind::Wait { .. } => "wait",
        ActionKind::Retire { .. } => "retire",
    }
}

/// Why a smoke test's result does not meet its expectation, if it does not.
pub(crate) fn check_expectation(t: &SmokeTest, r: &EvalResult) -> Option<String> {
    let e = &t.expect;
    match (&r.error, e.error) {
        (None, true) => return Some("expected an error, the message was handled".into()),
        (Some(err), false) => return Some(format!("error: {err}")),
        _ => {}
    }
    if let Some(want) = &e.output_contains
        && !r.output.contains(want.as_str())
    {
        return Some(format!("output does not contain {want:?}"));
    }
    if e.tags.is_empty() && e.data.is_none() && e.data_contains.is_none() {
        return None;
    }
    let reply = r.messages.iter().find(|m| e.tags.iter().all(|(n, v)| m.tag(n) == Some(v.as_str())));
    let Some(reply) = reply else {
        let want: Vec<String> = e.tags.iter().map(|(n, v)| format!("{n}={v}")).collect();
        return Some(format!("no reply with {}", want.join(", ")));
    };
    let data = String::from_utf8_lossy(&reply.data);
    if let Some(want) = &e.data
        && data != want.as_str()
    {
        return Some(format!("reply data is {data:?}, expected {want:?}"));
    }
    if let Some(want) = &e.data_contains
        && !data.contains(want.as_str())
    {
        return Some(format!("reply data {data:?} does not contain {want:?}"));
    }
    None
}
