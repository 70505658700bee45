//! The driver: runs a [`Plan`] over an [`AoTransport`], recording every
//! process id in the state file as soon as it exists.

use ao_transport::{AoTransport, EvalResult, Message, ProcessId, SpawnRequest, Tag, TransportErrorKind};

use crate::desired::Desired;
use crate::drift::{Action, DriftReport, Plan, drift};
use crate::error::{Error, ErrorKind};
use crate::model::Environment;
use crate::observe::{INFO_LUA, Observation, observe, observe_process};
use crate::release::CodeSource;
use crate::state::{InstanceKey, Record, SpawnIntent, State, StateStore};

/// The spawn tag whose unique value ties a process to the [`SpawnIntent`]
/// saved before spawning it.
pub const SPAWN_NONCE_TAG: &str = "AoEnv-Spawn-Nonce";

/// Finds processes by a spawn tag: how a re-apply recovers the id of a process
/// spawned under a recorded [`SpawnIntent`] when a crash kept the id out of the
/// state file. Over real AO a GraphQL query by tag does it; [`InfoLookup`]
/// does it by asking candidate processes for their `Info`.
pub trait SpawnLookup: Send + Sync {
    /// Every process spawned with tag `name` = `value`.
    fn find(&self, name: &str, value: &str) -> Result<Vec<ProcessId>, Error>;
}

/// A [`SpawnLookup`] that dry-runs `Info` on a list of candidate processes
/// (say, every process the transport knows, such as `ao_local::LocalAo::processes`)
/// and matches the spawn tags each reports.
pub struct InfoLookup<'a> {
    transport: &'a dyn AoTransport,
    candidates: Vec<ProcessId>,
}

impl<'a> InfoLookup<'a> {
    /// Looks among `candidates` through `transport`.
    pub fn new(transport: &'a dyn AoTransport, candidates: Vec<ProcessId>) -> Self {
        Self { transport, candidates }
    }
}

impl std::fmt::Debug for InfoLookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfoLookup").field("candidates", &self.candidates.len()).finish_non_exhaustive()
    }
}

impl SpawnLookup for InfoLookup<'_> {
    fn find(&self, name: &str, value: &str) -> Result<Vec<ProcessId>, Error> {
        let key = InstanceKey::new("lookup", 0);
        let mut found = Vec::new();
        for pid in &self.candidates {
            match observe_process(self.transport, &key, pid) {
                Ok(Observation::Running(seen)) if seen.tags.get(name).is_some_and(|v| v == value) => {
                    found.push(pid.clone());
                }
                // A transport failure must not read as "not found": that would spawn a duplicate.
                Err(e) if matches!(e.kind(), ErrorKind::Transport { .. }) => return Err(e),
                // Gone, without ao-env's Info, or failing it: not one of ours.
                _ => {}
            }
        }
        Ok(found)
    }
}

/// A fresh nonce: unique per spawn (time, process id, a counter, the instance).
fn nonce(environment: &str, instance: &InstanceKey) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(environment.as_bytes());
    h.update(b"\0");
    h.update(instance.to_string().as_bytes());
    h.update(&now.as_nanos().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.finalize().to_hex()[..32].to_owned()
}

/// Checks that a plan for `env` may run: a protected environment needs
/// `approvals.required` distinct approvers from its list. An empty plan needs none.
///
/// Approvals are names here; proving who approved (signatures, a review
/// system) is the host's job.
pub fn gate(env: &Environment, plan: &Plan, approvals: &[String]) -> Result<(), Error> {
    if !env.protected || plan.is_empty() {
        return Ok(());
    }
    let mut valid: Vec<String> =
        approvals.iter().filter(|a| env.approvals.approvers.contains(a)).cloned().collect();
    valid.sort();
    valid.dedup();
    if valid.len() >= env.approvals.required as usize && env.approvals.required > 0 {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::Approval {
            environment: env.name.clone(),
            required: env.approvals.required.max(1),
            approvers: env.approvals.approvers.clone(),
            valid,
        }))
    }
}

/// What [`Provisioner::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Actions run, in order.
    pub done: usize,
    /// Processes spawned.
    pub spawned: Vec<ProcessId>,
    /// Processes retired.
    pub retired: Vec<ProcessId>,
    /// Processes an earlier, interrupted apply spawned and did not record,
    /// found again by their nonce tag and recorded: as the instance's process
    /// instead of spawning anew, or, when the instance is no longer wanted, as
    /// waiting to be retired (the next plan retires it).
    pub adopted: Vec<ProcessId>,
    /// Interrupted spawns no lookup could resolve (no [`SpawnLookup`] was
    /// given): each may have left a process running that ao-env does not
    /// know. Kept in the state file's `unconfirmed` list.
    pub unconfirmed: Vec<SpawnIntent>,
}

/// Runs plans for one environment: transport, code and state store together.
pub struct Provisioner<'a> {
    transport: &'a dyn AoTransport,
    code: &'a dyn CodeSource,
    store: &'a dyn StateStore,
    lookup: Option<&'a dyn SpawnLookup>,
}

impl std::fmt::Debug for Provisioner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner").finish_non_exhaustive()
    }
}

impl<'a> Provisioner<'a> {
    /// A provisioner over `transport`, taking bundles from `code` and keeping state in `store`.
    pub fn new(transport: &'a dyn AoTransport, code: &'a dyn CodeSource, store: &'a dyn StateStore) -> Self {
        Self { transport, code, store, lookup: None }
    }

    /// Resolves spawns an interrupted apply left unrecorded with `lookup`.
    /// Without one, such a spawn is made again and the old one reported as a
    /// possible orphan ([`ApplyReport::unconfirmed`], [`State::unconfirmed`]).
    #[must_use]
    pub fn with_lookup(mut self, lookup: &'a dyn SpawnLookup) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// Reads the state file and asks every live process for its `Info`, then
    /// compares with `desired`.
    pub fn drift(&self, desired: &Desired) -> Result<(State, DriftReport), Error> {
        let state = self.store.load(&desired.environment)?;
        let observed = observe(self.transport, &state)?;
        let report = drift(desired, &state, &observed);
        Ok((state, report))
    }

    /// Brings `env` to `desired`: drift check, approval gate, then the plan.
    /// Running it again when nothing changed does nothing.
    pub fn reconcile(
        &self,
        env: &Environment,
        desired: &Desired,
        approvals: &[String],
    ) -> Result<(DriftReport, ApplyReport), Error> {
        let (mut state, report) = self.drift(desired)?;
        gate(env, &report.plan, approvals)?;
        let applied = self.apply(desired, &report.plan, &mut state)?;
        Ok((report, applied))
    }

    /// Retires every process of `env`; the state file keeps their records.
    pub fn teardown(&self, env: &Environment, approvals: &[String]) -> Result<ApplyReport, Error> {
        let mut state = self.store.load(&env.name)?;
        // A process an interrupted apply spawned is torn down with the rest.
        let mut settled = ApplyReport::default();
        if !state.intents.is_empty() && self.lookup.is_some() {
            self.settle_intents(&mut state, &mut settled)?;
        }
        let plan = Plan::teardown(&state);
        gate(env, &plan, approvals)?;
        let desired = Desired { environment: env.name.clone(), ..Desired::default_for(&env.name) };
        let mut report = self.apply(&desired, &plan, &mut state)?;
        report.adopted.splice(0..0, settled.adopted);
        Ok(report)
    }

    /// Runs `plan` in order, saving `state` after each action so that no
    /// spawned id is ever lost. Stops at the first failure.
    pub fn apply(&self, desired: &Desired, plan: &Plan, state: &mut State) -> Result<ApplyReport, Error> {
        let mut report = ApplyReport::default();
        for action in &plan.actions {
            self.run(desired, action, state, &mut report)?;
            report.done += 1;
            self.store.save(state)?;
        }
        if !state.intents.is_empty() {
            self.settle_intents(state, &mut report)?;
            self.store.save(state)?;
        }
        Ok(report)
    }

    /// Intents no `Spawn` of the plan took up (their instance is no longer
    /// wanted): a process found under one waits in the retired list to be
    /// retired by the next plan; one not found never existed; without a
    /// lookup each becomes a possible orphan.
    fn settle_intents(&self, state: &mut State, report: &mut ApplyReport) -> Result<(), Error> {
        for (instance, intent) in state.intents.clone() {
            state.intents.remove(&instance);
            if let Some(lookup) = self.lookup {
                let found = lookup.find(SPAWN_NONCE_TAG, &intent.nonce).inspect_err(|_| {
                    // Not settled: keep it for the next run.
                    state.intents.insert(instance.clone(), intent.clone());
                })?;
                for pid in found {
                    state.retired.push(new_record(&instance, pid.clone()));
                    report.adopted.push(pid);
                }
            } else {
                state.unconfirmed.push(intent.clone());
                report.unconfirmed.push(intent);
            }
        }
        Ok(())
    }

    fn resolve(
        state: &State,
        instance: &InstanceKey,
        process: Option<&ProcessId>,
    ) -> Result<ProcessId, Error> {
        match process {
            Some(p) => Ok(p.clone()),
            None => state.instances.get(instance).map(|r| r.process.clone()).ok_or_else(|| {
                Error::new(ErrorKind::Usage(format!("plan acts on {instance} before spawning it")))
            }),
        }
    }

    fn call(&self, instance: &InstanceKey, action: &'static str, msg: Message) -> Result<EvalResult, Error> {
        let (_, result) = pollster::block_on(self.transport.send_and_wait(msg))
            .map_err(|e| Error::transport(instance.to_string(), e))?;
        match result.error {
            Some(reason) => {
                Err(Error::new(ErrorKind::Action { instance: instance.to_string(), action, reason }))
            }
            None => Ok(result),
        }
    }

    /// Resolves the intent an interrupted apply left for `instance`: `None`
    /// when its process was found and recorded, else the nonce to spawn with.
    fn resume_spawn(
        &self,
        state: &mut State,
        instance: &InstanceKey,
        report: &mut ApplyReport,
    ) -> Result<Option<String>, Error> {
        // Left in place until it is resolved: a failed lookup keeps it.
        let Some(intent) = state.intents.get(instance).cloned() else {
            return Ok(Some(nonce(&state.environment, instance)));
        };
        let Some(lookup) = self.lookup else {
            // The spawn may have happened: say so, keep it on record, spawn afresh.
            state.intents.remove(instance);
            state.unconfirmed.push(intent.clone());
            report.unconfirmed.push(intent);
            return Ok(Some(nonce(&state.environment, instance)));
        };
        let mut found = lookup.find(SPAWN_NONCE_TAG, &intent.nonce)?.into_iter();
        state.intents.remove(instance);
        let Some(pid) = found.next() else {
            // It never reached AO: spawn under the same nonce.
            return Ok(Some(intent.nonce));
        };
        // More than one (should not happen): the rest wait to be retired.
        for extra in found {
            state.retired.push(new_record(instance, extra));
        }
        adopt(state, instance, pid.clone());
        report.adopted.push(pid);
        Ok(None)
    }

    fn run(
        &self,
        desired: &Desired,
        action: &Action,
        state: &mut State,
        report: &mut ApplyReport,
    ) -> Result<(), Error> {
        let key = action.instance();
        match action {
            Action::Spawn { instance, module, scheduler, tags } => {
                let bad = |e: ao_transport::ValidationError| {
                    Error::new(ErrorKind::Usage(format!("{instance}: {e}")))
                };
                let Some(nonce) = self.resume_spawn(state, instance, report)? else {
                    return Ok(());
                };
                let mut list = vec![Tag::new("On-Boot", "Data").map_err(bad)?];
                for (n, v) in tags {
                    list.push(Tag::new(n, v).map_err(bad)?);
                }
                list.push(Tag::new(SPAWN_NONCE_TAG, nonce.clone()).map_err(bad)?);
                let req =
                    SpawnRequest::new(module.clone(), scheduler.clone(), list, INFO_LUA).map_err(bad)?;
                // The intent is on disk before the spawn can happen.
                state.intents.insert(instance.clone(), SpawnIntent { instance: instance.clone(), nonce });
                self.store.save(state)?;
                // A failure here keeps the intent: the spawn may have reached AO.
                let pid = pollster::block_on(self.transport.spawn(req))
                    .map_err(|e| Error::transport(instance.to_string(), e))?;
                state.intents.remove(instance);
                adopt(state, instance, pid.clone());
                report.spawned.push(pid);
            }
            Action::InstallInfo { process, .. } => {
                let msg = eval_message(process, INFO_LUA.as_bytes())?;
                self.call(key, "install-info", msg)?;
            }
            Action::Eval { instance, process, bundle_target, expected_hash } => {
                let pid = Self::resolve(state, instance, process.as_ref())?;
                let release =
                    desired.releases.get(bundle_target).filter(|r| &r.hash == expected_hash).ok_or_else(
                        || {
                            Error::new(ErrorKind::Release {
                                target: bundle_target.clone(),
                                reason: format!("no release with hash {expected_hash} to load"),
                            })
                        },
                    )?;
                let code = self.code.code(release)?;
                self.call(key, "eval", eval_message(&pid, &code)?)?;
                // The baseline: what the release registered, so later additions show as drift.
                let Observation::Running(seen) = observe_process(self.transport, instance, &pid)? else {
                    return Err(Error::new(ErrorKind::Info {
                        instance: instance.to_string(),
                        reason: "no Info after loading the release".into(),
                    }));
                };
                if let Some(r) = state.instances.get_mut(instance).filter(|r| r.process == pid) {
                    r.code_hash = seen.code_hash;
                    r.baseline_handlers = seen.handlers;
                    // ao-env's own Evals, counted, so that only others' show as drift.
                    r.eval_count = Some(seen.eval_count);
                }
            }
            Action::SetConfig { instance, process, config } => {
                let pid = Self::resolve(state, instance, process.as_ref())?;
                let data = serde_json::Value::Object(config.clone()).to_string();
                let msg = message(&pid, "AoEnv-Configure", data.into_bytes())?;
                self.call(key, "configure", msg)?;
            }
            Action::RemoveHandlers { process, names, .. } => {
                let data = serde_json::to_vec(names).unwrap_or_default();
                self.call(key, "remove-handlers", message(process, "AoEnv-Remove-Handlers", data)?)?;
            }
            Action::Retire { instance, process } => {
                let msg = message(process, "AoEnv-Retire", Vec::new())?;
                match pollster::block_on(self.transport.send_and_wait(msg)) {
                    Ok((_, r)) if r.error.is_some() => {
                        return Err(Error::new(ErrorKind::Action {
                            instance: instance.to_string(),
                            action: "retire",
                            reason: r.error.unwrap_or_default(),
                        }));
                    }
                    Ok(_) => {}
                    // Nothing left to retire.
                    Err(e) if e.kind() == TransportErrorKind::NotFound => {}
                    Err(e) => return Err(Error::transport(instance.to_string(), e)),
                }
                if state.instances.get(instance).is_some_and(|r| &r.process == process)
                    && let Some(mut r) = state.instances.remove(instance)
                {
                    r.retired = true;
                    state.retired.push(r);
                }
                for r in state.retired.iter_mut().filter(|r| &r.process == process) {
                    r.retired = true;
                }
                report.retired.push(process.clone());
            }
        }
        Ok(())
    }
}

fn new_record(instance: &InstanceKey, process: ProcessId) -> Record {
    Record {
        instance: instance.clone(),
        process,
        code_hash: None,
        baseline_handlers: Vec::new(),
        eval_count: None,
        retired: false,
    }
}

/// Records `process` as the instance's; the one it had waits to be retired.
fn adopt(state: &mut State, instance: &InstanceKey, process: ProcessId) {
    if let Some(old) = state.instances.insert(instance.clone(), new_record(instance, process)) {
        state.retired.push(old);
    }
}

fn message(process: &ProcessId, action: &str, data: Vec<u8>) -> Result<Message, Error> {
    Message::builder(process.clone())
        .tag("Action", action)
        .data(data)
        .build()
        .map_err(|e| Error::new(ErrorKind::Usage(e.to_string())))
}

fn eval_message(process: &ProcessId, code: &[u8]) -> Result<Message, Error> {
    message(process, "Eval", code.to_vec())
}

impl Desired {
    fn default_for(environment: &str) -> Self {
        Desired {
            environment: environment.to_owned(),
            instances: std::collections::BTreeMap::new(),
            releases: std::collections::BTreeMap::new(),
        }
    }
}
