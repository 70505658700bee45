//! Provisioning, drift and remediation on ao-local with the real arena bundles:
//! apply is idempotent, an Eval made behind the tool's back is detected and
//! planned away, teardown retires processes and keeps their records.

mod common;

use ao_env::{
    Action, ApplyReport, Desired, Difference, ExitCode, FileStateStore, FsCode, InfoLookup, MemoryStateStore,
    Observation, Provisioner, SPAWN_NONCE_TAG, SpawnLookup, StateStore, drift, observe,
};
use ao_local::LocalAo;
use ao_transport::{
    AoTransport, EvalResult, Message, MessageId, ProcessId, SpawnRequest, TransportError, TransportErrorKind,
    TransportFuture,
};

struct Fixture {
    _dir: tempfile::TempDir,
    state_dir: std::path::PathBuf,
    project: ao_env::Project,
    releases: ao_env::Releases,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let project = common::project();
    let releases = common::build_releases(&project, &dir.path().join("dist"));
    Fixture { state_dir: dir.path().join("state"), _dir: dir, project, releases }
}

#[test]
fn apply_provisions_every_instance_and_reapplying_does_nothing() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = FileStateStore::new(&f.state_dir);
    let p = Provisioner::new(&ao, &FsCode, &store);
    let env = f.project.environment("staging").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    assert_eq!(desired.instances.len(), 3, "two world shards and the rules process");

    let (report, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(report.exit_code(), ExitCode::Drift);
    assert_eq!(report.differences.len(), 3);
    assert!(report.differences.iter().all(|d| matches!(d, Difference::NotProvisioned { .. })));
    assert_eq!(applied.spawned.len(), 3);
    assert_eq!(ao.processes().len(), 3);

    let state = store.load("staging").unwrap();
    let world0 = &state.instances[&ao_env::InstanceKey::new("world", 0)];
    assert_eq!(world0.code_hash.as_deref(), Some(f.releases.get("arena").unwrap().hash.as_str()));
    assert!(world0.baseline_handlers.iter().any(|h| h == "Join"));
    // The game answers, and its config arrived.
    let (_, r) =
        ao.call(Message::builder(world0.process.clone()).tag("Action", "Ping").build().unwrap()).unwrap();
    assert!(r.error.is_none(), "{r:?}");
    // Read through a dry-run Info: an Eval, even one that only reads, is a code change.
    let key = ao_env::InstanceKey::new("world", 0);
    let Observation::Running(seen) = ao_env::observe_process(&ao, &key, &world0.process).unwrap() else {
        panic!()
    };
    assert_eq!(seen.config["motd"], "welcome to staging.arena");
    // Spawn tags carry the environment's limits, cron and authority.
    assert_eq!(seen.tags["Cron-Interval"], "1-minute");
    assert_eq!(seen.tags["Memory-Limit"], "268435456");
    assert_eq!(seen.tags["Authority"], env.authority.as_ref().unwrap().as_str());
    assert_eq!(seen.tags["Name"], "arena-staging-world-0");

    let bytes = std::fs::read(store.path("staging")).unwrap();
    let (again, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(again.exit_code(), ExitCode::Clean, "{again}");
    assert!(again.plan.is_empty());
    assert_eq!(applied.done, 0);
    assert_eq!(ao.processes().len(), 3, "nothing spawned twice");
    assert_eq!(std::fs::read(store.path("staging")).unwrap(), bytes, "state file untouched");
}

#[test]
fn an_eval_behind_the_tools_back_is_detected_and_planned_away() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = FileStateStore::new(&f.state_dir);
    let p = Provisioner::new(&ao, &FsCode, &store);
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    p.reconcile(&env, &desired, &[]).unwrap();
    let state = store.load("dev").unwrap();
    let world = state.instances[&ao_env::InstanceKey::new("world", 0)].process.clone();

    // Someone with the owner's wallet hot-patches the world: a new handler, a
    // replaced one, and a config value changed in place.
    let rogue = r#"
        Handlers.add("Backdoor", "Backdoor", function(m) m.reply({ Data = "open" }) end)
        Handlers.add("Ping", "Ping", function(m) m.reply({ Data = "patched" }) end)
        AoEnv.Config.max_players = 999
    "#;
    let r = ao.eval(&world, rogue).unwrap();
    assert!(r.error.is_none(), "{r:?}");
    let ping = || {
        let (_, r) = ao.call(Message::builder(world.clone()).tag("Action", "Ping").build().unwrap()).unwrap();
        r.messages[0].data_str().unwrap().to_owned()
    };
    assert_eq!(ping(), "patched");

    let (_, report) = p.drift(&desired).unwrap();
    assert_eq!(ExitCode::of(&Ok(report.clone())), ExitCode::Drift);
    let rogue_hash = blake3::hash(rogue.as_bytes()).to_hex().to_string();
    let arena_hash = f.releases.get("arena").unwrap().hash.clone();
    assert!(
        report.differences.contains(&Difference::Code {
            instance: ao_env::InstanceKey::new("world", 0),
            process: world.clone(),
            expected: arena_hash.clone(),
            found: Some(rogue_hash),
            evals_since: 1,
        }),
        "{report}"
    );
    assert!(
        report
            .differences
            .iter()
            .any(|d| matches!(d, Difference::ExtraHandlers { names, .. } if names == &["Backdoor"])),
        "{report}"
    );
    assert!(report.differences.iter().any(|d| matches!(d, Difference::Config { key, found: Some(v), .. } if key == "max_players" && v == 999)), "{report}");
    assert!(
        report.differences.iter().any(
            |d| matches!(d, Difference::UnrecordedEvals { found, recorded, .. } if *found == recorded + 1)
        ),
        "{report}"
    );
    assert_eq!(report.differences.len(), 4, "{report}");
    let kinds: Vec<&str> = report
        .plan
        .actions
        .iter()
        .map(|a| match a {
            Action::Eval { .. } => "eval",
            Action::RemoveHandlers { .. } => "remove",
            Action::SetConfig { .. } => "config",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["eval", "remove", "config"]);
    // The rules process was not touched, so nothing is planned for it.
    assert!(report.plan.actions.iter().all(|a| a.instance().process == "world"));

    let (_, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(applied.done, 3);
    assert_ne!(ping(), "patched", "the release's Ping handler is back");
    let (_, after) = p.drift(&desired).unwrap();
    assert_eq!(after.exit_code(), ExitCode::Clean, "{after}");
    let r = ao.call(Message::builder(world.clone()).tag("Action", "Backdoor").build().unwrap()).unwrap().1;
    assert!(r.messages.iter().all(|m| m.data_str() != Some("open")), "the backdoor is gone");
}

#[test]
fn an_eval_hidden_under_a_reload_of_the_release_is_still_drift() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = FileStateStore::new(&f.state_dir);
    let p = Provisioner::new(&ao, &FsCode, &store);
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    p.reconcile(&env, &desired, &[]).unwrap();
    let key = ao_env::InstanceKey::new("world", 0);
    let world = store.load("dev").unwrap().instances[&key].process.clone();

    // Behind the tool's back: an Eval that adds no handler and touches no
    // config, then the release Eval'ed again over it, so the code hash matches.
    let rogue = "RogueWasHere = true";
    assert!(ao.eval(&world, rogue).unwrap().error.is_none());
    let release = std::fs::read_to_string(f.releases.get("arena").unwrap().bundle.as_path()).unwrap();
    assert!(ao.eval(&world, &release).unwrap().error.is_none());
    let Observation::Running(seen) = ao_env::observe_process(&ao, &key, &world).unwrap() else { panic!() };
    assert_eq!(seen.code_hash.as_deref(), Some(f.releases.get("arena").unwrap().hash.as_str()));

    let (state, report) = p.drift(&desired).unwrap();
    let recorded = state.instances[&key].eval_count.unwrap();
    assert_eq!(
        report.differences,
        [Difference::UnrecordedEvals {
            instance: key.clone(),
            process: world.clone(),
            recorded,
            found: recorded + 2,
            hashes: vec![
                blake3::hash(rogue.as_bytes()).to_hex().to_string(),
                f.releases.get("arena").unwrap().hash.clone()
            ],
        }],
        "{report}"
    );
    assert!(
        report.to_string().contains("world/0: 2 Eval(s) not made by ao-env since its last load"),
        "{report}"
    );
    assert_eq!(ExitCode::of(&Ok(report.clone())), ExitCode::Drift);
    assert_eq!(report.exit_code().code(), 2);
    assert!(
        matches!(&report.plan.actions[..], [Action::Eval { instance, process: Some(p), .. }] if *instance == key && *p == world)
    );

    // Applying records ao-env's own Eval: the next check is clean, and again after that.
    let (_, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(applied.done, 1);
    let state = store.load("dev").unwrap();
    assert_eq!(state.instances[&key].eval_count, Some(recorded + 3));
    let (_, after) = p.drift(&desired).unwrap();
    assert_eq!(after.exit_code(), ExitCode::Clean, "{after}");
    let (again, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert!(again.is_clean() && again.plan.is_empty() && applied.done == 0, "{again}");
}

#[test]
fn teardown_retires_and_keeps_records_and_apply_starts_over() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let p = Provisioner::new(&ao, &FsCode, &store);
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    p.reconcile(&env, &desired, &[]).unwrap();
    let before = store.load("dev").unwrap();
    let ids: Vec<_> = before.instances.values().map(|r| r.process.clone()).collect();

    let down = p.teardown(&env, &[]).unwrap();
    assert_eq!(down.retired.len(), 2);
    let state = store.load("dev").unwrap();
    assert!(state.instances.is_empty());
    assert_eq!(state.retired.iter().map(|r| r.process.clone()).collect::<Vec<_>>(), ids);
    assert!(state.retired.iter().all(|r| r.retired));
    // A retired process refuses game messages but still answers Info.
    let (_, r) = ao.call(Message::builder(ids[0].clone()).tag("Action", "Ping").build().unwrap()).unwrap();
    assert_eq!(r.messages[0].tag("Action"), Some("Retired"));
    let Observation::Running(seen) =
        ao_env::observe_process(&ao, &before.instances.keys().next().unwrap().clone(), &ids[0]).unwrap()
    else {
        panic!()
    };
    assert!(seen.retired);

    // Applying again spawns fresh processes; the old records stay.
    let (_, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(applied.spawned.len(), 2);
    let state = store.load("dev").unwrap();
    assert_eq!(state.retired.len(), 2);
    assert!(state.instances.values().all(|r| !ids.contains(&r.process)));
    let observed = observe(&ao, &state).unwrap();
    assert!(drift(&desired, &state, &observed).is_clean());
}

/// AO spawns the process, then the tool "crashes" before it learns the id: the
/// reply is lost, as if the tool died between spawn and record.
struct CrashAfterSpawn<'a>(&'a LocalAo);

impl AoTransport for CrashAfterSpawn<'_> {
    fn spawn(&self, request: SpawnRequest) -> TransportFuture<'_, ProcessId> {
        Box::pin(async move {
            self.0.spawn(request).await?;
            Err(TransportError::new(TransportErrorKind::Unavailable, "the tool crashed after the spawn"))
        })
    }
    fn send(&self, message: Message) -> TransportFuture<'_, MessageId> {
        self.0.send(message)
    }
    fn result(&self, process: ProcessId, message: MessageId) -> TransportFuture<'_, EvalResult> {
        self.0.result(process, message)
    }
    fn dry_run(&self, message: Message) -> TransportFuture<'_, EvalResult> {
        self.0.dry_run(message)
    }
}

#[test]
fn a_crash_between_spawn_and_record_does_not_spawn_twice() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = FileStateStore::new(&f.state_dir);
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    let crashing = CrashAfterSpawn(&ao);
    let err = Provisioner::new(&crashing, &FsCode, &store).reconcile(&env, &desired, &[]).unwrap_err();
    assert!(err.to_string().contains("crashed after the spawn"), "{err}");
    let [orphan] = &ao.processes()[..] else { panic!("one spawn reached AO") };
    let state = store.load("dev").unwrap();
    assert!(state.instances.is_empty(), "the id was never recorded");
    let [(key, intent)] = &state.intents.iter().collect::<Vec<_>>()[..] else { panic!("{state:?}") };
    assert_eq!(&intent.instance, *key);

    // The drift check says so.
    let p = Provisioner::new(&ao, &FsCode, &store);
    let (_, report) = p.drift(&desired).unwrap();
    assert!(
        report.differences.contains(&Difference::InterruptedSpawn {
            instance: (*key).clone(),
            nonce: intent.nonce.clone()
        })
    );

    // Re-applying finds the process by its nonce tag and records it instead of spawning again.
    let lookup = InfoLookup::new(&ao, ao.processes());
    let p = p.with_lookup(&lookup);
    let (_, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(applied.adopted, std::slice::from_ref(orphan));
    assert_eq!(applied.spawned.len(), 1, "only the instance never spawned");
    assert_eq!(ao.processes().len(), 2, "no duplicate process");
    let state = store.load("dev").unwrap();
    assert_eq!(&state.instances[*key].process, orphan);
    assert!(state.intents.is_empty() && state.unconfirmed.is_empty() && state.retired.is_empty());
    let (_, after) = p.drift(&desired).unwrap();
    assert_eq!(after.exit_code(), ExitCode::Clean, "{after}");
    let (again, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert!(again.plan.is_empty() && applied == ApplyReport::default(), "idempotent: {again}");
    assert_eq!(ao.processes().len(), 2);
}

#[test]
fn without_a_lookup_an_interrupted_spawn_is_reported_as_a_possible_orphan() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    Provisioner::new(&CrashAfterSpawn(&ao), &FsCode, &store).reconcile(&env, &desired, &[]).unwrap_err();
    let intent = store.load("dev").unwrap().intents.into_values().next().unwrap();

    let p = Provisioner::new(&ao, &FsCode, &store);
    let (_, applied) = p.reconcile(&env, &desired, &[]).unwrap();
    assert_eq!(applied.unconfirmed, std::slice::from_ref(&intent));
    assert_eq!(applied.spawned.len(), 2);
    let state = store.load("dev").unwrap();
    assert_eq!(state.unconfirmed, std::slice::from_ref(&intent));
    assert!(state.intents.is_empty());
    let (_, report) = p.drift(&desired).unwrap();
    assert_eq!(
        report.differences,
        [Difference::PossibleOrphan { instance: intent.instance.clone(), nonce: intent.nonce.clone() }]
    );
    assert_eq!(report.exit_code(), ExitCode::Drift);
    assert!(
        report
            .to_string()
            .contains(&format!("spawned with AoEnv-Spawn-Nonce {} may be running unrecorded", intent.nonce)),
        "{report}"
    );
    // The possible orphan really is there, under that tag.
    let found = InfoLookup::new(&ao, ao.processes()).find(SPAWN_NONCE_TAG, &intent.nonce).unwrap();
    assert_eq!(found.len(), 1);
    assert!(!state.instances.values().any(|r| r.process == found[0]));
}

#[test]
fn a_process_spawned_before_a_crash_for_an_instance_no_longer_wanted_is_retired() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    Provisioner::new(&CrashAfterSpawn(&ao), &FsCode, &store).reconcile(&env, &desired, &[]).unwrap_err();
    let [orphan] = &ao.processes()[..] else { panic!() };
    let intent = store.load("dev").unwrap().intents.into_values().next().unwrap();
    // The config changes meanwhile: that instance is gone.
    let mut smaller = desired.clone();
    smaller.instances.remove(&intent.instance);
    assert!(!smaller.instances.is_empty());

    let lookup = InfoLookup::new(&ao, ao.processes());
    let p = Provisioner::new(&ao, &FsCode, &store).with_lookup(&lookup);
    let (_, applied) = p.reconcile(&env, &smaller, &[]).unwrap();
    assert_eq!(applied.adopted, std::slice::from_ref(orphan));
    let state = store.load("dev").unwrap();
    assert!(state.intents.is_empty());
    assert!(state.retired.iter().any(|r| &r.process == orphan && !r.retired), "waiting to be retired");
    let (report, applied) = p.reconcile(&env, &smaller, &[]).unwrap();
    assert!(
        report
            .differences
            .contains(&Difference::Orphan { instance: intent.instance.clone(), process: orphan.clone() })
    );
    assert_eq!(applied.retired, std::slice::from_ref(orphan));
    let (_, after) = p.drift(&smaller).unwrap();
    assert!(after.is_clean(), "{after}");
    assert_eq!(ao.processes().len(), 2, "the orphan plus the one wanted instance, nothing spawned twice");
}

#[test]
fn teardown_after_a_crash_retires_the_unrecorded_process_too() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    Provisioner::new(&CrashAfterSpawn(&ao), &FsCode, &store).reconcile(&env, &desired, &[]).unwrap_err();
    let [orphan] = &ao.processes()[..] else { panic!() };
    let lookup = InfoLookup::new(&ao, ao.processes());
    let down = Provisioner::new(&ao, &FsCode, &store).with_lookup(&lookup).teardown(&env, &[]).unwrap();
    assert_eq!(down.adopted, std::slice::from_ref(orphan));
    assert_eq!(down.retired, std::slice::from_ref(orphan));
    let state = store.load("dev").unwrap();
    assert!(state.intents.is_empty() && state.instances.is_empty());
    assert!(state.retired.iter().all(|r| r.retired) && state.retired.len() == 1);
    let key = state.retired[0].instance.clone();
    let Observation::Running(seen) = ao_env::observe_process(&ao, &key, orphan).unwrap() else { panic!() };
    assert!(seen.retired);
}

/// A transport that is down for dry runs: a lookup must fail, not report "not found".
struct NoDryRuns<'a>(&'a LocalAo);

impl AoTransport for NoDryRuns<'_> {
    fn spawn(&self, request: SpawnRequest) -> TransportFuture<'_, ProcessId> {
        self.0.spawn(request)
    }
    fn send(&self, message: Message) -> TransportFuture<'_, MessageId> {
        self.0.send(message)
    }
    fn result(&self, process: ProcessId, message: MessageId) -> TransportFuture<'_, EvalResult> {
        self.0.result(process, message)
    }
    fn dry_run(&self, _: Message) -> TransportFuture<'_, EvalResult> {
        Box::pin(async { Err(TransportError::new(TransportErrorKind::Unavailable, "cu down")) })
    }
}

#[test]
fn a_lookup_that_cannot_ask_fails_instead_of_spawning_a_duplicate() {
    let f = fixture();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let env = f.project.environment("dev").unwrap();
    let desired = Desired::new(&env, &f.releases).unwrap();
    Provisioner::new(&CrashAfterSpawn(&ao), &FsCode, &store).reconcile(&env, &desired, &[]).unwrap_err();
    let down = NoDryRuns(&ao);
    let lookup = InfoLookup::new(&down, ao.processes());
    let err = lookup.find(SPAWN_NONCE_TAG, "x").unwrap_err();
    assert!(err.to_string().contains("cu down"), "{err}");
    let state = store.load("dev").unwrap();
    let p = Provisioner::new(&ao, &FsCode, &store).with_lookup(&lookup);
    let mut s = state.clone();
    let (_, report) = p.drift(&desired).unwrap();
    assert!(p.apply(&desired, &report.plan, &mut s).is_err());
    assert_eq!(s.intents, state.intents, "the failed lookup leaves the intent in the state too");
    assert_eq!(ao.processes().len(), 1, "nothing spawned while the lookup could not tell");
    assert_eq!(store.load("dev").unwrap().intents, state.intents, "the intent is kept");
}
