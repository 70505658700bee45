//! Drift: desired state against the state file and what the processes report,
//! as a list of differences and a remediation [`Plan`]. Pure: no IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ao_transport::{Address, ModuleId, ProcessId};
use serde::Serialize;

use crate::desired::{Desired, DesiredInstance, SPAWN_TAGS};
use crate::observe::{Observation, Observed};
use crate::state::{InstanceKey, Record, State};

/// Handlers the aos prelude and `info.lua` bring: never drift.
pub(crate) fn is_system_handler(name: &str) -> bool {
    name == "_eval" || name == "_default" || name.starts_with("ao-env.")
}

/// One thing a plan does. Plain data: ao-env's [`Provisioner`](crate::Provisioner)
/// runs them, and so can ao-deploy. A `process` of `None` means "the process
/// the plan's `Spawn` for this instance created".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Spawn a process for `instance`, booting `info.lua` (`On-Boot = Data`).
    /// A process the instance had before is kept in the state's retired list.
    Spawn {
        /// The instance.
        instance: InstanceKey,
        /// The module.
        module: ModuleId,
        /// The scheduler.
        scheduler: Address,
        /// Spawn tags.
        tags: Vec<(String, String)>,
    },
    /// Eval `info.lua` into a process spawned without it.
    InstallInfo {
        /// The instance.
        instance: InstanceKey,
        /// Its process.
        process: ProcessId,
    },
    /// Eval the release of `bundle_target`, whose code must hash to `expected_hash`.
    Eval {
        /// The instance.
        instance: InstanceKey,
        /// Its process (`None`: the one spawned by this plan).
        process: Option<ProcessId>,
        /// The bundle target.
        bundle_target: String,
        /// BLAKE3 of the code, hex.
        expected_hash: String,
    },
    /// Send the config (`AoEnv-Configure`).
    SetConfig {
        /// The instance.
        instance: InstanceKey,
        /// Its process (`None`: the one spawned by this plan).
        process: Option<ProcessId>,
        /// The whole config.
        config: serde_json::Map<String, serde_json::Value>,
    },
    /// Remove handlers the release does not register (`AoEnv-Remove-Handlers`).
    RemoveHandlers {
        /// The instance.
        instance: InstanceKey,
        /// Its process.
        process: ProcessId,
        /// Handler names.
        names: Vec<String>,
    },
    /// Retire a process (`AoEnv-Retire`): it answers nothing but `Info` after.
    /// The state file keeps its record.
    Retire {
        /// The instance it serves or served.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
    },
}

impl Action {
    /// The instance the action is for.
    pub fn instance(&self) -> &InstanceKey {
        match self {
            Action::Spawn { instance, .. }
            | Action::InstallInfo { instance, .. }
            | Action::Eval { instance, .. }
            | Action::SetConfig { instance, .. }
            | Action::RemoveHandlers { instance, .. }
            | Action::Retire { instance, .. } => instance,
        }
    }
}

fn short(id: &ProcessId) -> String {
    id.as_str()[..8].to_owned()
}

fn target(p: Option<&ProcessId>) -> String {
    p.map_or_else(|| "(new)".to_owned(), short)
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Spawn { instance, tags, .. } => {
                let name = tags.iter().find(|(n, _)| n == "Name").map_or("", |(_, v)| v.as_str());
                write!(f, "spawn         {instance} as {name:?}")
            }
            Action::InstallInfo { instance, process } => {
                write!(f, "install-info  {instance} {}", short(process))
            }
            Action::Eval { instance, process, bundle_target, expected_hash } => write!(
                f,
                "eval          {instance} {} target {bundle_target} ({})",
                target(process.as_ref()),
                &expected_hash[..12.min(expected_hash.len())]
            ),
            Action::SetConfig { instance, process, config } => {
                write!(
                    f,
                    "set-config    {instance} {} {}",
                    target(process.as_ref()),
                    serde_json::Value::Object(config.clone())
                )
            }
            Action::RemoveHandlers { instance, process, names } => {
                write!(f, "remove        {instance} {} handlers {}", short(process), names.join(", "))
            }
            Action::Retire { instance, process } => write!(f, "retire        {instance} {}", short(process)),
        }
    }
}

/// What to do to bring an environment to its desired state, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The environment.
    pub environment: String,
    /// The actions.
    pub actions: Vec<Action>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The plan that retires every live process of `state` (a teardown). The
    /// records stay in the state file.
    pub fn teardown(state: &State) -> Self {
        let mut actions: Vec<Action> = state
            .instances
            .values()
            .map(|r| Action::Retire { instance: r.instance.clone(), process: r.process.clone() })
            .collect();
        actions.extend(pending_retirements(state));
        Self { environment: state.environment.clone(), actions }
    }
}

fn pending_retirements(state: &State) -> impl Iterator<Item = Action> + '_ {
    state
        .retired
        .iter()
        .filter(|r| !r.retired)
        .map(|r| Action::Retire { instance: r.instance.clone(), process: r.process.clone() })
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.actions.is_empty() {
            return writeln!(f, "plan for {}: nothing to do", self.environment);
        }
        writeln!(f, "plan for {}: {} action(s)", self.environment, self.actions.len())?;
        for (i, a) in self.actions.iter().enumerate() {
            writeln!(f, "  {:>2}. {a}", i + 1)?;
        }
        Ok(())
    }
}

/// One difference between desired and observed state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Difference {
    /// The state file has no process for the instance.
    NotProvisioned {
        /// The instance.
        instance: InstanceKey,
    },
    /// The state file's process is unknown to the transport.
    ProcessMissing {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
    },
    /// The process has no ao-env `Info` handler.
    NoInfo {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
    },
    /// The process was retired but the instance is wanted.
    Retired {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
    },
    /// A spawn tag differs (limits, cron, authority): only a new process can fix it.
    SpawnTag {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
        /// The tag.
        tag: String,
        /// Wanted value.
        expected: Option<String>,
        /// Value found.
        found: Option<String>,
    },
    /// The last Eval'ed code is not the release.
    Code {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
        /// The release's hash.
        expected: String,
        /// The last Eval's hash.
        found: Option<String>,
        /// Evals since the release was last loaded (or all recorded, if it never was).
        evals_since: u64,
    },
    /// The process ran Evals ao-env did not make (or its Eval count went back):
    /// its `Info` counts a different number than the state file recorded after
    /// ao-env's last Eval. Caught even when the code hash matches again (an Eval
    /// behind the tool's back, then the release re-Eval'ed over it). The plan
    /// loads the release again; data an unrecorded Eval changed is not undone.
    UnrecordedEvals {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
        /// The count the state file recorded.
        recorded: u64,
        /// The count the process reports.
        found: u64,
        /// Hashes of the unrecorded Evals still in the process's history
        /// (it keeps the last 16), oldest first.
        hashes: Vec<String>,
    },
    /// Handlers the config expects are not registered.
    MissingHandlers {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
        /// Handler names.
        names: Vec<String>,
    },
    /// Handlers registered after the release was loaded.
    ExtraHandlers {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
        /// Handler names.
        names: Vec<String>,
    },
    /// A config key differs.
    Config {
        /// The instance.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
        /// The config key.
        key: String,
        /// Wanted value.
        expected: Option<serde_json::Value>,
        /// Value found.
        found: Option<serde_json::Value>,
    },
    /// An apply was interrupted between a spawn and its record: the next apply
    /// finds the process by its nonce tag (with a [`SpawnLookup`](crate::SpawnLookup))
    /// or spawns again if the spawn never happened.
    InterruptedSpawn {
        /// The instance.
        instance: InstanceKey,
        /// The value of its `AoEnv-Spawn-Nonce` spawn tag.
        nonce: String,
    },
    /// A spawn that may have created a process ao-env never recorded (an
    /// interrupted spawn made again without a lookup). No plan fixes it: find
    /// the process by its nonce tag, retire it, and remove the entry from the
    /// state file's `unconfirmed` list.
    PossibleOrphan {
        /// The instance.
        instance: InstanceKey,
        /// The value of its `AoEnv-Spawn-Nonce` spawn tag.
        nonce: String,
    },
    /// A live process the config no longer wants (or a replaced one not yet retired).
    Orphan {
        /// The instance it served.
        instance: InstanceKey,
        /// The process.
        process: ProcessId,
    },
}

fn opt<T: fmt::Display>(v: Option<&T>) -> String {
    v.map_or_else(|| "(none)".to_owned(), ToString::to_string)
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::NotProvisioned { instance } => write!(f, "{instance}: not provisioned"),
            Difference::ProcessMissing { instance, process } => {
                write!(f, "{instance}: process {process} does not exist")
            }
            Difference::NoInfo { instance, process } => {
                write!(f, "{instance}: process {process} has no ao-env Info handler")
            }
            Difference::Retired { instance, process } => {
                write!(f, "{instance}: process {process} is retired")
            }
            Difference::SpawnTag { instance, tag, expected, found, .. } => write!(
                f,
                "{instance}: spawn tag {tag} is {}, wanted {} (needs a new process)",
                opt(found.as_ref()),
                opt(expected.as_ref())
            ),
            Difference::Code { instance, expected, found, evals_since, .. } => write!(
                f,
                "{instance}: loaded code {} is not release {expected} ({evals_since} eval(s) since the release)",
                opt(found.as_ref())
            ),
            Difference::UnrecordedEvals { instance, recorded, found, hashes, .. } if found > recorded => {
                write!(f, "{instance}: {} Eval(s) not made by ao-env since its last load", found - recorded)?;
                if !hashes.is_empty() {
                    let short: Vec<&str> = hashes.iter().map(|h| &h[..12.min(h.len())]).collect();
                    write!(f, " ({})", short.join(", "))?;
                }
                Ok(())
            }
            Difference::UnrecordedEvals { instance, recorded, found, .. } => write!(
                f,
                "{instance}: Eval count went back from {recorded} to {found} (the process's ao-env record was reset)"
            ),
            Difference::MissingHandlers { instance, names, .. } => {
                write!(f, "{instance}: handlers missing: {}", names.join(", "))
            }
            Difference::ExtraHandlers { instance, names, .. } => {
                write!(f, "{instance}: handlers not in the release: {}", names.join(", "))
            }
            Difference::Config { instance, key, expected, found, .. } => write!(
                f,
                "{instance}: config.{key} is {}, wanted {}",
                opt(found.as_ref()),
                opt(expected.as_ref())
            ),
            Difference::InterruptedSpawn { instance, nonce } => write!(
                f,
                "{instance}: a spawn (AoEnv-Spawn-Nonce {nonce}) was interrupted before its id was recorded"
            ),
            Difference::PossibleOrphan { instance, nonce } => write!(
                f,
                "{instance}: a process spawned with AoEnv-Spawn-Nonce {nonce} may be running unrecorded: find it, retire it, then remove it from the state file's `unconfirmed` list"
            ),
            Difference::Orphan { instance, process } => {
                write!(f, "{instance}: process {process} is not wanted and not retired")
            }
        }
    }
}

/// The result of a drift check: every difference, and the plan that removes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// The environment.
    pub environment: String,
    /// Differences, by instance.
    pub differences: Vec<Difference>,
    /// What removes them.
    pub plan: Plan,
}

impl DriftReport {
    /// Whether desired and observed state agree.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// [`ExitCode::Clean`] or [`ExitCode::Drift`].
    pub fn exit_code(&self) -> ExitCode {
        if self.is_clean() { ExitCode::Clean } else { ExitCode::Drift }
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.differences.is_empty() {
            writeln!(f, "{}: no drift", self.environment)?;
        } else {
            writeln!(f, "{}: {} difference(s)", self.environment, self.differences.len())?;
            for d in &self.differences {
                writeln!(f, "  - {d}")?;
            }
        }
        write!(f, "{}", self.plan)
    }
}

/// The exit-code contract for tools (the shape of `terraform plan -detailed-exitcode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ExitCode {
    /// 0: desired and observed agree.
    Clean = 0,
    /// 1: the check could not be made (bad config, transport failure, ...).
    Error = 1,
    /// 2: there is drift (or a disallowed difference).
    Drift = 2,
}

impl ExitCode {
    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit code of a drift check's outcome.
    pub fn of(result: &Result<DriftReport, crate::Error>) -> Self {
        result.as_ref().map_or(ExitCode::Error, DriftReport::exit_code)
    }
}

/// Compares desired state with the state file and the observations, and plans
/// the remedy. `observed` holds an entry for each live record of `state`
/// (see [`observe`](crate::observe)); a record without one counts as missing.
pub fn drift(desired: &Desired, state: &State, observed: &BTreeMap<InstanceKey, Observation>) -> DriftReport {
    let mut diffs = Vec::new();
    let mut actions = Vec::new();
    for (key, want) in &desired.instances {
        let Some(record) = state.instances.get(key) else {
            diffs.push(Difference::NotProvisioned { instance: key.clone() });
            provision(&mut actions, want, None);
            continue;
        };
        let pid = record.process.clone();
        match observed.get(key).unwrap_or(&Observation::Missing) {
            Observation::Missing => {
                diffs.push(Difference::ProcessMissing { instance: key.clone(), process: pid.clone() });
                provision(&mut actions, want, Some(pid));
            }
            Observation::NoInfo => {
                diffs.push(Difference::NoInfo { instance: key.clone(), process: pid.clone() });
                actions.push(Action::InstallInfo { instance: key.clone(), process: pid.clone() });
                actions.push(eval(want, Some(pid.clone())));
                actions.push(Action::SetConfig {
                    instance: key.clone(),
                    process: Some(pid),
                    config: want.config.clone(),
                });
            }
            Observation::Running(seen) => {
                running(&mut diffs, &mut actions, want, record, seen);
            }
        }
    }
    for (key, record) in &state.instances {
        if !desired.instances.contains_key(key) {
            diffs.push(Difference::Orphan { instance: key.clone(), process: record.process.clone() });
            actions.push(Action::Retire { instance: key.clone(), process: record.process.clone() });
        }
    }
    for r in state.retired.iter().filter(|r| !r.retired) {
        diffs.push(Difference::Orphan { instance: r.instance.clone(), process: r.process.clone() });
    }
    for i in state.intents.values() {
        diffs.push(Difference::InterruptedSpawn { instance: i.instance.clone(), nonce: i.nonce.clone() });
    }
    for i in &state.unconfirmed {
        diffs.push(Difference::PossibleOrphan { instance: i.instance.clone(), nonce: i.nonce.clone() });
    }
    actions.extend(pending_retirements(state));
    DriftReport {
        environment: desired.environment.clone(),
        differences: diffs,
        plan: Plan { environment: desired.environment.clone(), actions },
    }
}

fn eval(want: &DesiredInstance, process: Option<ProcessId>) -> Action {
    Action::Eval {
        instance: want.instance.clone(),
        process,
        bundle_target: want.target.clone(),
        expected_hash: want.code_hash.clone(),
    }
}

/// Spawn, load, configure; then retire what the instance had, if anything.
fn provision(actions: &mut Vec<Action>, want: &DesiredInstance, replaces: Option<ProcessId>) {
    actions.push(Action::Spawn {
        instance: want.instance.clone(),
        module: want.module.clone(),
        scheduler: want.scheduler.clone(),
        tags: want.tags.clone(),
    });
    actions.push(eval(want, None));
    actions.push(Action::SetConfig {
        instance: want.instance.clone(),
        process: None,
        config: want.config.clone(),
    });
    if let Some(old) = replaces {
        actions.push(Action::Retire { instance: want.instance.clone(), process: old });
    }
}

fn running(
    diffs: &mut Vec<Difference>,
    actions: &mut Vec<Action>,
    want: &DesiredInstance,
    record: &Record,
    seen: &Observed,
) {
    let key = &want.instance;
    let (pid, baseline) = (&record.process, record.baseline_handlers.as_slice());
    if seen.retired {
        diffs.push(Difference::Retired { instance: key.clone(), process: pid.clone() });
        provision(actions, want, Some(pid.clone()));
        return;
    }
    let mut replace = false;
    for tag in SPAWN_TAGS {
        let (expected, found) = (want.tag(tag), seen.tags.get(tag).map(String::as_str));
        if expected != found {
            diffs.push(Difference::SpawnTag {
                instance: key.clone(),
                process: pid.clone(),
                tag: tag.to_owned(),
                expected: expected.map(str::to_owned),
                found: found.map(str::to_owned),
            });
            replace = true;
        }
    }
    if replace {
        provision(actions, want, Some(pid.clone()));
        return;
    }
    let mut reload = false;
    if seen.code_hash.as_deref() != Some(want.code_hash.as_str()) {
        let since = seen
            .evals
            .iter()
            .rposition(|e| e.hash == want.code_hash)
            .map_or(seen.eval_count, |i| (seen.evals.len() - i - 1) as u64);
        diffs.push(Difference::Code {
            instance: key.clone(),
            process: pid.clone(),
            expected: want.code_hash.clone(),
            found: seen.code_hash.clone(),
            evals_since: since,
        });
        reload = true;
    }
    if let Some(recorded) = record.eval_count
        && recorded != seen.eval_count
    {
        let extra = seen.eval_count.saturating_sub(recorded);
        let kept = usize::try_from(extra).unwrap_or(usize::MAX).min(seen.evals.len());
        diffs.push(Difference::UnrecordedEvals {
            instance: key.clone(),
            process: pid.clone(),
            recorded,
            found: seen.eval_count,
            hashes: seen.evals[seen.evals.len() - kept..].iter().map(|e| e.hash.clone()).collect(),
        });
        reload = true;
    }
    let have: BTreeSet<&str> = seen.handlers.iter().map(String::as_str).collect();
    let missing: Vec<String> = want.handlers.iter().filter(|h| !have.contains(h.as_str())).cloned().collect();
    if !missing.is_empty() {
        diffs.push(Difference::MissingHandlers {
            instance: key.clone(),
            process: pid.clone(),
            names: missing,
        });
        reload = true;
    }
    if reload {
        actions.push(eval(want, Some(pid.clone())));
    }
    // Without a baseline (a process ao-env did not load) extra handlers cannot be told apart.
    if !baseline.is_empty() {
        let extra: Vec<String> = seen
            .handlers
            .iter()
            .filter(|h| !is_system_handler(h) && !baseline.contains(h) && !want.handlers.contains(h))
            .cloned()
            .collect();
        if !extra.is_empty() {
            diffs.push(Difference::ExtraHandlers {
                instance: key.clone(),
                process: pid.clone(),
                names: extra.clone(),
            });
            actions.push(Action::RemoveHandlers {
                instance: key.clone(),
                process: pid.clone(),
                names: extra,
            });
        }
    }
    let keys: BTreeSet<&String> = want.config.keys().chain(seen.config.keys()).collect();
    let mut config_drift = false;
    for k in keys {
        let (e, f) = (want.config.get(k), seen.config.get(k));
        if !json_eq(e, f) {
            diffs.push(Difference::Config {
                instance: key.clone(),
                process: pid.clone(),
                key: k.clone(),
                expected: e.cloned(),
                found: f.cloned(),
            });
            config_drift = true;
        }
    }
    if config_drift {
        actions.push(Action::SetConfig {
            instance: key.clone(),
            process: Some(pid.clone()),
            config: want.config.clone(),
        });
    }
}

/// JSON equality where `1` equals `1.0` (Lua's json writes whole floats as integers).
fn json_eq(a: Option<&serde_json::Value>, b: Option<&serde_json::Value>) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (None, None) => true,
        (Some(J::Number(x)), Some(J::Number(y))) => x == y || x.as_f64() == y.as_f64(),
        (Some(J::Array(x)), Some(J::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(Some(p), Some(q)))
        }
        (Some(J::Object(x)), Some(J::Object(y))) => {
            x.len() == y.len() && x.iter().all(|(k, v)| json_eq(Some(v), y.get(k)))
        }
        // Lua cannot tell an empty object from an empty array.
        (Some(J::Object(x)), Some(J::Array(y))) | (Some(J::Array(y)), Some(J::Object(x))) => {
            x.is_empty() && y.is_empty()
        }
        (x, y) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::EvalRecord;
    use crate::state::Record;

    fn setup(recorded: Option<u64>, found: u64) -> DriftReport {
        let hash = "ab".repeat(32);
        let key = InstanceKey::new("world", 0);
        let want = DesiredInstance {
            instance: key.clone(),
            module: ModuleId::from_bytes([1; 32]),
            scheduler: Address::from_bytes([2; 32]),
            tags: Vec::new(),
            target: "t".into(),
            code_hash: hash.clone(),
            handlers: Vec::new(),
            config: serde_json::Map::new(),
        };
        let desired = Desired {
            environment: "dev".into(),
            instances: [(key.clone(), want)].into_iter().collect(),
            releases: BTreeMap::new(),
        };
        let mut state = State::new("dev");
        state.instances.insert(
            key.clone(),
            Record {
                instance: key.clone(),
                process: ProcessId::from_bytes([3; 32]),
                code_hash: Some(hash.clone()),
                baseline_handlers: Vec::new(),
                eval_count: recorded,
                retired: false,
            },
        );
        let evals =
            (0..found.min(16)).map(|_| EvalRecord { hash: hash.clone(), ok: true, bytes: 1 }).collect();
        let seen = Observed {
            code_hash: Some(hash),
            eval_count: found,
            evals,
            config: serde_json::Map::new(),
            handlers: Vec::new(),
            tags: BTreeMap::new(),
            retired: false,
        };
        drift(&desired, &state, &[(key, Observation::Running(seen))].into_iter().collect())
    }

    #[test]
    fn eval_counts_other_than_the_recorded_one_are_drift() {
        assert!(setup(Some(3), 3).is_clean());
        assert!(setup(None, 7).is_clean(), "records from before counts were kept are not judged");
        let more = setup(Some(3), 5);
        assert_eq!(more.exit_code(), ExitCode::Drift);
        assert!(
            matches!(&more.differences[..], [Difference::UnrecordedEvals { recorded: 3, found: 5, hashes, .. }] if hashes.len() == 2)
        );
        assert!(matches!(&more.plan.actions[..], [Action::Eval { .. }]));
        // Far more than the history keeps: the hashes are the ones it still has.
        let many = setup(Some(1), 40);
        assert!(
            matches!(&many.differences[..], [Difference::UnrecordedEvals { hashes, .. }] if hashes.len() == 16)
        );
        let back = setup(Some(9), 2);
        assert!(back.to_string().contains("Eval count went back from 9 to 2"), "{back}");
        assert!(matches!(&back.plan.actions[..], [Action::Eval { .. }]));
    }
}
