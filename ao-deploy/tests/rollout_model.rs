//! Model-based tests of the `Rollout` core against a simulated AO world:
//! random strategies, random failures (some ambiguous: the action may or may
//! not have taken effect), random operator commands and player traffic
//! between actions. After every action the world must have exactly one
//! serving version per position (or a buffering router); a finished rollout
//! serves exactly the new release (success) or exactly the previous one
//! (rollback) with no message lost or doubled; a quiet rollout is always
//! waiting for an operator, never stuck; replaying the events gives the same
//! actions.
//!
//! The in-flight model: a message the router forwards reaches its process
//! after a latency drawn from a script (in order per destination, as one
//! sender's messages do on AO), so at the hold some messages may be forwarded
//! and not yet handled; the rollout must wait for them (up to its drain
//! timeout) and roll back cleanly past it.

use std::collections::BTreeMap;

use ao_deploy::{
    Action, ActionKind, AnalysisSpec, CanaryStep, Cmp, Command, Event, Expectation, Finalize, HealthWindow,
    MetricCheck, Outcome, Phase, ReleaseRef, Rollout, RolloutSpec, SmokeTest, SpawnSpec, StateOptions,
    Strategy as Deploy, Target, Validation,
};
use ao_health::Timestamp;
use ao_transport::{Address, ModuleId, ProcessId};
use proptest::prelude::*;

fn pid(n: u64) -> ProcessId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_le_bytes());
    b[31] = 0xAA;
    ProcessId::from_bytes(b)
}

fn release(v: &str) -> ReleaseRef {
    ReleaseRef {
        target: "arena".into(),
        version: v.into(),
        hash: blake3::hash(v.as_bytes()).to_hex().to_string(),
        config: serde_json::Map::new(),
    }
}

#[derive(Debug, Clone, Default)]
struct SimProc {
    code: Option<String>,
    /// Messages applied, and a digest of their order.
    count: u64,
    digest: u64,
    last_seq: u64,
    dups: u64,
    retired: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum SimMode {
    Forward { primary: ProcessId, shadow: Option<(ProcessId, u8)> },
    Hold,
}

#[derive(Debug, Clone)]
struct SimRouter {
    mode: SimMode,
    seq: u64,
    buffer: Vec<u64>,
}

/// A deterministic AO world for the core: processes, routers, snapshots,
/// faults drawn from a script.
#[derive(Debug)]
struct World {
    procs: BTreeMap<ProcessId, SimProc>,
    routers: BTreeMap<ProcessId, SimRouter>,
    /// Positions without a router: the process players talk to.
    direct: Vec<ProcessId>,
    snapshots: BTreeMap<String, SimProc>,
    next_pid: u64,
    faults: Vec<u8>,
    fault_at: usize,
    faults_in_rollback: bool,
    lost: u64,
    /// Messages whose effects an in-place restore undid (no router).
    discarded: BTreeMap<ProcessId, u64>,
    sent: BTreeMap<String, u64>,
    now: u64,
    spawned: BTreeMap<String, ProcessId>,
    /// Latency (ms) of each forwarded message in turn; empty: delivered at once.
    latency: Vec<u16>,
    latency_at: usize,
    /// Forwarded and not yet delivered: (destination, seq, arrival time).
    inflight: Vec<(ProcessId, u64, u64)>,
}

fn mix(d: u64, seq: u64) -> u64 {
    (d ^ seq).wrapping_mul(0x100_0000_01B3).rotate_left(7)
}

impl World {
    fn draw(&mut self) -> u8 {
        let v = self.faults.get(self.fault_at).copied().unwrap_or(255);
        self.fault_at += 1;
        v
    }

    fn deliver(&mut self, to: &ProcessId, seq: u64) {
        match self.procs.get_mut(to) {
            Some(p) if !p.retired && p.code.is_some() => {
                if seq <= p.last_seq {
                    p.dups += 1;
                } else {
                    p.last_seq = seq;
                    p.count += 1;
                    p.digest = mix(p.digest, seq);
                }
            }
            _ => self.lost += 1,
        }
    }

    /// Sends a forwarded message down the router's channel to `to`: it
    /// arrives after `delay` ms, never before one sent earlier to `to`.
    fn forward(&mut self, to: &ProcessId, seq: u64, delay: u64) {
        let behind = self.inflight.iter().filter(|m| &m.0 == to).map(|m| m.2).max();
        let at = (self.now + delay).max(behind.unwrap_or(0));
        if at <= self.now && behind.is_none() {
            self.deliver(to, seq);
        } else {
            self.inflight.push((to.clone(), seq, at));
        }
    }

    fn next_latency(&mut self) -> u64 {
        let l = self.latency.get(self.latency_at % self.latency.len().max(1)).copied().unwrap_or(0);
        self.latency_at += 1;
        u64::from(l)
    }

    /// Delivers every forwarded message whose time has come, in order.
    fn tick(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.inflight).into_iter().partition(|m| m.2 <= now);
        self.inflight = later;
        for (to, seq, _) in due {
            self.deliver(&to, seq);
        }
    }

    /// A player message to a position (its router, or the process itself).
    fn player(&mut self, unit: &str, entry: &ProcessId) {
        self.tick();
        *self.sent.entry(unit.into()).or_default() += 1;
        if let Some(r) = self.routers.get_mut(entry) {
            r.seq += 1;
            let seq = r.seq;
            match r.mode.clone() {
                SimMode::Hold => r.buffer.push(seq),
                SimMode::Forward { primary, shadow } => {
                    let delay = self.next_latency();
                    self.forward(&primary, seq, delay);
                    if let Some((s, w)) = shadow
                        && seq % 100 < u64::from(w)
                        && let Some(p) = self.procs.get_mut(&s)
                    {
                        p.last_seq = p.last_seq.max(seq);
                    }
                }
            }
        } else {
            let seq = self.procs.get(entry).map_or(0, |p| p.last_seq) + 1;
            self.deliver(&entry.clone(), seq);
        }
    }

    /// Runs one action; `rollback` says whether the core is rolling back.
    fn run(&mut self, a: &Action, rollback: bool, spec: &RolloutSpec) -> Result<Outcome, String> {
        self.tick();
        let may_fail = !rollback || self.faults_in_rollback;
        let f = self.draw();
        // f < 12: the action fails for good; odd f among those: it took effect anyway.
        let fail = may_fail && f < 12;
        let effect_anyway = fail && f % 2 == 1;
        let out = match &a.kind {
            ActionKind::Spawn { reference, .. } => {
                if fail && !effect_anyway {
                    return Err("spawn refused".into());
                }
                let p = self.spawned.get(reference).cloned().unwrap_or_else(|| {
                    self.next_pid += 1;
                    pid(self.next_pid)
                });
                self.procs.entry(p.clone()).or_default();
                self.spawned.insert(reference.clone(), p.clone());
                if fail {
                    return Err("spawn reply lost".into());
                }
                Outcome::Spawned { process: p }
            }
            ActionKind::Prepare { .. } => {
                if fail {
                    return Err("prepare failed".into());
                }
                Outcome::Prepared
            }
            ActionKind::Load { process, release, .. } => {
                let p = self.procs.get_mut(process).ok_or("no process")?;
                if fail {
                    if effect_anyway {
                        p.code = Some("garbage".into());
                    }
                    return Err("eval error".into());
                }
                p.code = Some(release.hash.clone());
                Outcome::Loaded { hash: release.hash.clone() }
            }
            ActionKind::Hold { router } => {
                let r = self.routers.get_mut(router).ok_or("no router")?;
                if fail && !effect_anyway {
                    return Err("hold refused".into());
                }
                r.mode = SimMode::Hold;
                if fail {
                    return Err("hold reply lost".into());
                }
                // The last sequence number forwarded, not the last received (some may be buffered).
                Outcome::Held { last_seq: r.seq - r.buffer.len() as u64 }
            }
            ActionKind::Snapshot { process, key, .. } => {
                if fail {
                    return Err("export failed".into());
                }
                let p = self.procs.get(process).ok_or("no process")?.clone();
                let last_seq = p.last_seq;
                self.snapshots.insert(key.clone(), p);
                Outcome::Snapshotted { hash: "h".into(), bytes: 1, last_seq }
            }
            ActionKind::Restore { process, key } => {
                if fail {
                    return Err("import failed".into());
                }
                let snap = self.snapshots.get(key).ok_or("no snapshot")?.clone();
                let p = self.procs.get_mut(process).ok_or("no process")?;
                let discarded = p.count.saturating_sub(snap.count);
                if discarded > 0 {
                    *self.discarded.entry(process.clone()).or_default() += discarded;
                }
                (p.count, p.digest, p.last_seq) = (snap.count, snap.digest, snap.last_seq);
                Outcome::Restored { hash: "h".into(), discarded }
            }
            ActionKind::Transfer { from, to, .. } => {
                let src = self.procs.get(from).ok_or("no source")?.clone();
                let dst = self.procs.get_mut(to).ok_or("no destination")?;
                if fail {
                    if effect_anyway {
                        dst.digest = 0xDEAD;
                    }
                    return Err("transfer failed".into());
                }
                (dst.count, dst.digest, dst.last_seq) = (src.count, src.digest, src.last_seq);
                let h = format!("{:x}", src.digest);
                Outcome::Transferred {
                    exported: h.clone(),
                    migrated: h.clone(),
                    imported: h,
                    bytes: 8,
                    source_last_seq: src.last_seq,
                }
            }
            ActionKind::Smoke { .. } => Outcome::Smoke {
                failures: if may_fail && f < 30 { vec!["ping: no reply".into()] } else { vec![] },
            },
            ActionKind::Route { router, primary, shadow } => {
                if fail && !effect_anyway {
                    return Err("route refused".into());
                }
                let r = self.routers.get_mut(router).ok_or("no router")?;
                r.mode = SimMode::Forward { primary: primary.clone(), shadow: shadow.clone() };
                let buffered = std::mem::take(&mut r.buffer);
                let flushed = buffered.len() as u64;
                for seq in buffered {
                    self.forward(primary, seq, 0);
                }
                if fail {
                    return Err("route reply lost".into());
                }
                Outcome::Routed { flushed }
            }
            ActionKind::Probe { process } => {
                let ok = self.procs.get(process).is_some_and(|p| !p.retired && p.code.is_some());
                let healthy = ok && !(may_fail && f < 25);
                Outcome::Probed { healthy, reason: (!healthy).then(|| "no pong".into()) }
            }
            ActionKind::Measure { .. } => {
                let mut values = BTreeMap::new();
                if !(may_fail && f < 20) {
                    values.insert("canary_error_ratio".into(), if may_fail && f < 45 { 0.5 } else { 0.0 });
                }
                Outcome::Measured { values }
            }
            ActionKind::Wait { until } => {
                self.now = self.now.max(until.as_millis());
                Outcome::Waited
            }
            ActionKind::Retire { process } => {
                if fail {
                    return Err("retire failed".into());
                }
                self.procs.get_mut(process).ok_or("no process")?.retired = true;
                Outcome::Retired
            }
        };
        let _ = spec;
        Ok(out)
    }

    /// Exactly one serving version per position, or a buffering router.
    fn check_serving(&self, entries: &[(String, ProcessId)]) -> Result<(), String> {
        for (unit, entry) in entries {
            match self.routers.get(entry).map(|r| &r.mode) {
                Some(SimMode::Hold) => {}
                Some(SimMode::Forward { primary, .. }) => {
                    let p = self.procs.get(primary).ok_or(format!("{unit}: router forwards to nothing"))?;
                    if p.retired || p.code.is_none() {
                        return Err(format!("{unit}: router forwards to a retired or empty process"));
                    }
                }
                None => {
                    if self.procs[entry].retired {
                        return Err(format!("{unit}: the only process is retired"));
                    }
                }
            }
        }
        Ok(())
    }

    fn serving(&self, entry: &ProcessId) -> Option<&SimProc> {
        match self.routers.get(entry) {
            Some(SimRouter { mode: SimMode::Forward { primary, .. }, .. }) => self.procs.get(primary),
            Some(_) => None,
            None => self.procs.get(entry),
        }
    }
}

#[derive(Debug, Clone)]
struct Setup {
    kind: u8,
    shards: u8,
    routed: bool,
    max_unavailable: u8,
    max_failures: u8,
    canary: Vec<u8>,
    manual: bool,
    health_ms: u64,
}

fn build(setup: &Setup) -> (RolloutSpec, World, Vec<(String, ProcessId)>) {
    let mut world = World {
        procs: BTreeMap::new(),
        routers: BTreeMap::new(),
        direct: Vec::new(),
        snapshots: BTreeMap::new(),
        next_pid: 1000,
        faults: Vec::new(),
        fault_at: 0,
        faults_in_rollback: false,
        lost: 0,
        discarded: BTreeMap::new(),
        sent: BTreeMap::new(),
        now: 0,
        spawned: BTreeMap::new(),
        latency: Vec::new(),
        latency_at: 0,
        inflight: Vec::new(),
    };
    let previous = release("1");
    let n = if setup.kind == 2 { usize::from(setup.shards.max(1)) } else { 1 };
    let routed = setup.routed || matches!(setup.kind, 1 | 3);
    let mut targets = Vec::new();
    let mut entries = Vec::new();
    for i in 0..n {
        let p = pid(i as u64 + 1);
        world.procs.insert(p.clone(), SimProc { code: Some(previous.hash.clone()), ..SimProc::default() });
        let router = routed.then(|| {
            let r = pid(100 + i as u64);
            world.routers.insert(
                r.clone(),
                SimRouter {
                    mode: SimMode::Forward { primary: p.clone(), shadow: None },
                    seq: 0,
                    buffer: vec![],
                },
            );
            r
        });
        let name = format!("world/{i}");
        entries.push((name.clone(), router.clone().unwrap_or_else(|| p.clone())));
        if router.is_none() {
            world.direct.push(p.clone());
        }
        targets.push(Target { name, process: p, router });
    }
    let spawn = SpawnSpec {
        module: ModuleId::from_bytes([1; 32]),
        scheduler: Address::from_bytes([2; 32]),
        tags: vec![],
        boot: None,
    };
    let analysis = AnalysisSpec {
        name: "errors".into(),
        interval_ms: 1_000,
        count: 2,
        checks: vec![MetricCheck { metric: "canary_error_ratio".into(), cmp: Cmp::Le, threshold: 0.1 }],
        failure_limit: 0,
        inconclusive_limit: 1,
    };
    let strategy = match setup.kind {
        0 => Deploy::InPlace { target: targets.remove(0) },
        1 => Deploy::BlueGreen { target: targets.remove(0), spawn, scale_down_delay_ms: 5_000 },
        2 => Deploy::Rolling {
            targets,
            max_unavailable: u32::from(setup.max_unavailable.max(1)),
            max_failures: u32::from(setup.max_failures),
        },
        _ => Deploy::Canary {
            target: targets.remove(0),
            spawn,
            steps: setup
                .canary
                .iter()
                .map(|s| match s % 4 {
                    0 => CanaryStep::SetWeight(20 + s % 60),
                    1 => CanaryStep::Pause(Some(2_000)),
                    2 => CanaryStep::Pause(None),
                    _ => CanaryStep::Analysis(analysis.clone()),
                })
                .collect(),
            scale_down_delay_ms: 1_000,
        },
    };
    let spec = RolloutSpec {
        id: "r1".into(),
        environment: "dev".into(),
        release: release("2"),
        previous,
        strategy,
        validation: Validation {
            smoke: vec![SmokeTest {
                name: "ping".into(),
                tags: vec![("Action".into(), "Ping".into())],
                data: String::new(),
                expect: Expectation::default(),
            }],
            health: HealthWindow { duration_ms: setup.health_ms, interval_ms: 1_000, max_failures: 1 },
        },
        state: StateOptions { globals: vec!["Arena".into()], chunk_bytes: 1024, ..StateOptions::default() },
        finalize: if setup.manual { Finalize::Manual } else { Finalize::Auto },
        authority: Address::from_bytes([9; 32]),
        labels: BTreeMap::new(),
    };
    (spec, world, entries)
}

fn setups() -> impl Strategy<Value = Setup> {
    (
        0u8..4,
        1u8..5,
        any::<bool>(),
        1u8..3,
        0u8..2,
        proptest::collection::vec(any::<u8>(), 0..5),
        any::<bool>(),
        0u64..4_000,
    )
        .prop_map(|(kind, shards, routed, max_unavailable, max_failures, canary, manual, health_ms)| {
            Setup { kind, shards, routed, max_unavailable, max_failures, canary, manual, health_ms }
        })
}

struct Run {
    phase: Phase,
    failure: Option<String>,
    rollback_error: Option<String>,
    warnings: Vec<String>,
    events: Vec<Event>,
    actions: Vec<Action>,
}

/// Drives a rollout to its end against the world, checking invariants on the way.
fn drive(
    spec: &RolloutSpec,
    world: &mut World,
    entries: &[(String, ProcessId)],
    commands: &[(u8, u8)],
    traffic: &[u8],
) -> Result<Run, TestCaseError> {
    let mut r = Rollout::new(spec.clone(), Timestamp::from_millis(0)).unwrap();
    let mut events = Vec::new();
    let mut actions = Vec::new();
    let mut queue: std::collections::VecDeque<Action> = r.drain_actions().into();
    let mut step = 0usize;
    let mut quiet = 0;
    loop {
        if r.is_terminal() {
            prop_assert!(r.poll_action().is_none(), "a terminal rollout emitted an action");
            prop_assert!(queue.is_empty(), "actions left over at the end");
            break;
        }
        step += 1;
        prop_assert!(step < 5_000, "no end after 5000 steps: {:?}", r.phase());
        // Player traffic between actions.
        for (i, (unit, entry)) in entries.iter().enumerate() {
            let n = traffic.get((step + i) % traffic.len().max(1)).copied().unwrap_or(0) % 3;
            for _ in 0..n {
                world.player(unit, entry);
            }
        }
        // An operator command now and then; a rejected one is kept too, since
        // replay must reject it the same way.
        if let Some(&(_, c)) = commands.iter().find(|(at, _)| usize::from(*at) == step) {
            let command =
                [Command::Pause, Command::Resume, Command::Promote, Command::Abort, Command::Finalize]
                    [usize::from(c % 5)];
            let e = Event::Command { at: Timestamp::from_millis(world.now), command };
            let _ = r.handle(e.clone());
            events.push(e);
            queue.extend(r.drain_actions());
        }
        let Some(a) = queue.pop_front() else {
            if r.is_terminal() {
                continue;
            }
            // Quiet and not finished: it must be waiting for an operator.
            let phase = r.phase();
            prop_assert!(
                matches!(phase, Phase::Paused(_) | Phase::AwaitingFinalize),
                "stuck: no action in phase {phase:?}"
            );
            quiet += 1;
            prop_assert!(quiet < 50, "waiting forever in {phase:?}");
            let command = match phase {
                Phase::AwaitingFinalize => Command::Finalize,
                Phase::Paused(_) if quiet % 2 == 0 => Command::Promote,
                _ => Command::Resume,
            };
            world.now += 500;
            let e = Event::Command { at: Timestamp::from_millis(world.now), command };
            r.handle(e.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            events.push(e);
            queue.extend(r.drain_actions());
            continue;
        };
        quiet = 0;
        let rollback = r.phase() == Phase::RollingBack;
        world.now += 10;
        let result = world.run(&a, rollback, spec);
        world.check_serving(entries).map_err(TestCaseError::fail)?;
        let at = Timestamp::from_millis(world.now);
        let e = match result {
            Ok(outcome) => Event::Done { id: a.id, at, outcome },
            Err(error) => Event::Failed { id: a.id, at, error },
        };
        actions.push(a);
        r.handle(e.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        events.push(e);
        queue.extend(r.drain_actions());
    }
    // What is still in flight arrives in the end.
    world.now += 1_000_000;
    world.tick();
    Ok(Run {
        phase: r.phase(),
        failure: r.failure().map(ToString::to_string),
        rollback_error: r.rollback_error().map(ToString::to_string),
        warnings: r.warnings().to_vec(),
        events,
        actions,
    })
}

/// A finished run serves exactly one release everywhere, the new or the
/// previous, with every message applied once, and replays to the same actions.
fn check_clean(
    spec: &RolloutSpec,
    world: &World,
    entries: &[(String, ProcessId)],
    run: &Run,
) -> Result<(), TestCaseError> {
    prop_assert_ne!(&run.phase, &Phase::RollbackFailed);
    // Only an in-place update without a router can undo messages, and it says so.
    let discarded: u64 = world.discarded.values().sum();
    prop_assert!(world.discarded.keys().all(|p| world.direct.contains(p)));
    prop_assert_eq!(discarded > 0, run.warnings.iter().any(|w| w.contains("undid")));
    prop_assert_eq!(world.lost, 0, "messages lost");
    for (unit, entry) in entries {
        let serving = world.serving(entry).cloned();
        let serving =
            serving.ok_or_else(|| TestCaseError::fail(format!("{unit}: nothing serves at the end")))?;
        let code = serving.code.clone().unwrap_or_default();
        match run.phase {
            Phase::Succeeded => prop_assert_eq!(&code, &spec.release.hash, "{} after success", unit),
            Phase::RolledBack => prop_assert_eq!(&code, &spec.previous.hash, "{} after rollback", unit),
            Phase::Partial => prop_assert!(code == spec.release.hash || code == spec.previous.hash),
            ref other => prop_assert!(false, "unexpected end {other:?}"),
        }
        let discarded = world.discarded.get(entry).copied().unwrap_or(0);
        prop_assert_eq!(
            serving.count + discarded,
            world.sent.get(unit).copied().unwrap_or(0),
            "{}: messages applied",
            unit
        );
        prop_assert_eq!(serving.dups, 0);
        // Nothing else serves: every router forwards to one process and others are retired or idle.
        let live: Vec<_> = world.procs.iter().filter(|(_, p)| !p.retired && p.code.is_some()).collect();
        prop_assert!(!live.is_empty());
    }
    prop_assert_eq!(&replay(spec, &run.events), &run.actions, "replaying the events gives other actions");
    prop_assert!(world.inflight.is_empty());
    Ok(())
}

fn replay(spec: &RolloutSpec, events: &[Event]) -> Vec<Action> {
    let mut r = Rollout::new(spec.clone(), Timestamp::from_millis(0)).unwrap();
    let mut out = r.drain_actions();
    for e in events {
        let _ = r.handle(e.clone());
        out.extend(r.drain_actions());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Failures before the rollback only: every run ends serving exactly one
    /// release everywhere, the new or the previous, with no message lost or doubled.
    #[test]
    fn rollouts_end_clean(
        setup in setups(),
        faults in proptest::collection::vec(any::<u8>(), 0..80),
        commands in proptest::collection::vec((0u8..60, any::<u8>()), 0..4),
        traffic in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let (spec, mut world, entries) = build(&setup);
        world.faults = faults;
        let run = drive(&spec, &mut world, &entries, &commands, &traffic)?;
        check_clean(&spec, &world, &entries, &run)?;
    }

    /// Messages in flight at the hold that arrive within the drain timeout
    /// are waited for: no rollout fails for them, and everything ends clean.
    #[test]
    fn in_flight_messages_within_the_timeout_are_waited_for(
        setup in setups(),
        faults in proptest::collection::vec(any::<u8>(), 0..80),
        latency in proptest::collection::vec(0u16..1_500, 1..8),
        traffic in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let (mut spec, mut world, entries) = build(&setup);
        spec.state.drain_timeout_ms = 3_000;
        spec.state.drain_interval_ms = 400;
        world.faults = faults;
        world.latency = latency;
        let run = drive(&spec, &mut world, &entries, &[], &traffic)?;
        prop_assert!(
            !run.failure.as_deref().unwrap_or("").contains("in flight"),
            "failed for messages that arrive in time: {:?}", run.failure
        );
        check_clean(&spec, &world, &entries, &run)?;
    }

    /// Latencies past the drain timeout: the rollout rolls back, saying why,
    /// and still ends clean (nothing lost or doubled); only a rollback that
    /// must move state back from a process still behind fails, and says why.
    #[test]
    fn in_flight_messages_past_the_timeout_roll_back_cleanly(
        setup in setups(),
        latency in proptest::collection::vec(0u16..9_000, 1..8),
        traffic in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let (mut spec, mut world, entries) = build(&setup);
        spec.state.drain_timeout_ms = 2_000;
        spec.state.drain_interval_ms = 500;
        world.faults = Vec::new();
        world.latency = latency;
        let run = drive(&spec, &mut world, &entries, &[], &traffic)?;
        if run.phase == Phase::RollbackFailed {
            let why = run.rollback_error.clone().unwrap_or_default();
            prop_assert!(why.contains("in flight") && why.contains("drain_timeout_ms"), "{}", why);
        } else {
            if run.phase == Phase::RolledBack {
                let why = run.failure.clone().unwrap_or_default();
                prop_assert!(why.contains("in flight"), "{}", why);
            }
            check_clean(&spec, &world, &entries, &run)?;
        }
    }

    /// Failures anywhere, the rollback included: never stuck, never two
    /// serving versions (checked after every action), and every rollback that
    /// completes restores exactly the previous release.
    #[test]
    fn faults_everywhere_never_stick(
        setup in setups(),
        faults in proptest::collection::vec(any::<u8>(), 0..120),
        traffic in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let (spec, mut world, entries) = build(&setup);
        world.faults = faults;
        world.faults_in_rollback = true;
        let run = drive(&spec, &mut world, &entries, &[], &traffic)?;
        prop_assert!(run.phase.is_terminal());
        if run.phase == Phase::RolledBack {
            for (unit, entry) in &entries {
                let code = world.serving(entry).and_then(|p| p.code.clone());
                prop_assert_eq!(code.as_deref(), Some(spec.previous.hash.as_str()), "{}", unit);
            }
        }
    }
}

#[test]
fn a_failing_smoke_test_rolls_blue_green_back_before_the_switch() {
    let setup = Setup {
        kind: 1,
        shards: 1,
        routed: true,
        max_unavailable: 1,
        max_failures: 0,
        canary: vec![],
        manual: false,
        health_ms: 0,
    };
    let (spec, mut world, entries) = build(&setup);
    // Draws: spawn, load, hold, transfer ok; smoke fails (< 30 but >= 12); then all ok.
    world.faults = vec![200, 200, 200, 200, 20];
    let run = drive(&spec, &mut world, &entries, &[], &[1]).unwrap();
    assert_eq!(run.phase, Phase::RolledBack);
    let kinds: Vec<&str> = run
        .actions
        .iter()
        .map(|a| match a.kind {
            ActionKind::Spawn { .. } => "spawn",
            ActionKind::Load { .. } => "load",
            ActionKind::Hold { .. } => "hold",
            ActionKind::Transfer { .. } => "transfer",
            ActionKind::Smoke { .. } => "smoke",
            ActionKind::Route { .. } => "route",
            ActionKind::Retire { .. } => "retire",
            _ => "other",
        })
        .collect();
    // The hold is released back to blue; green is retired; no state moves back.
    assert_eq!(kinds, ["spawn", "load", "hold", "transfer", "smoke", "route", "retire"]);
    assert_eq!(world.lost, 0);
}

#[test]
fn terminal_rollouts_refuse_events() {
    let setup = Setup {
        kind: 0,
        shards: 1,
        routed: false,
        max_unavailable: 1,
        max_failures: 0,
        canary: vec![],
        manual: false,
        health_ms: 0,
    };
    let (spec, mut world, entries) = build(&setup);
    world.faults = vec![200; 20];
    drive(&spec, &mut world, &entries, &[], &[0]).unwrap();
    let mut r = Rollout::new(spec, Timestamp::from_millis(0)).unwrap();
    let mut n = 0;
    while !r.is_terminal() {
        let a = r.poll_action().unwrap();
        let outcome = world.run(&a, false, r.spec()).unwrap();
        n += 1;
        r.handle(Event::Done { id: a.id, at: Timestamp::from_millis(n), outcome }).unwrap();
    }
    assert_eq!(r.phase(), Phase::Succeeded);
    let err =
        r.handle(Event::Command { at: Timestamp::from_millis(99), command: Command::Abort }).unwrap_err();
    assert!(err.to_string().contains("has finished (succeeded)"), "{err}");
    let err = r
        .handle(Event::Done { id: 1, at: Timestamp::from_millis(99), outcome: Outcome::Waited })
        .unwrap_err();
    assert!(err.to_string().contains("has finished"), "{err}");
}

fn blue_green_with_latency(
    latency_ms: u16,
    timeout_ms: u64,
) -> (RolloutSpec, World, Vec<(String, ProcessId)>, Run) {
    let setup = Setup {
        kind: 1,
        shards: 1,
        routed: true,
        max_unavailable: 1,
        max_failures: 0,
        canary: vec![],
        manual: false,
        health_ms: 0,
    };
    let (mut spec, mut world, entries) = build(&setup);
    spec.state.drain_timeout_ms = timeout_ms;
    spec.state.drain_interval_ms = 1_000;
    world.faults = vec![200; 50];
    world.latency = vec![latency_ms];
    let run = drive(&spec, &mut world, &entries, &[], &[1]).unwrap();
    (spec, world, entries, run)
}

fn count(run: &Run, f: impl Fn(&ActionKind) -> bool) -> usize {
    run.actions.iter().filter(|a| f(&a.kind)).count()
}

#[test]
fn blue_green_waits_for_messages_in_flight_at_the_hold() {
    // Every forwarded message takes 2.5 s: at the hold, blue is behind.
    let (spec, world, entries, run) = blue_green_with_latency(2_500, 10_000);
    assert_eq!(run.phase, Phase::Succeeded, "{:?}", run.failure);
    // Exported, found behind, waited (1 s slices), exported again until drained.
    let transfers = count(&run, |k| matches!(k, ActionKind::Transfer { .. }));
    assert!(transfers >= 3, "{transfers} transfer(s)");
    let first = run.actions.iter().position(|a| matches!(a.kind, ActionKind::Transfer { .. })).unwrap();
    assert!(matches!(run.actions[first + 1].kind, ActionKind::Wait { .. }), "{:?}", run.actions[first + 1]);
    let green = world.serving(&entries[0].1).unwrap();
    assert_eq!(green.code.as_deref(), Some(spec.release.hash.as_str()));
    assert_eq!((world.lost, green.dups), (0, 0));
    assert_eq!(green.count, world.sent["world/0"], "every message applied once");
}

#[test]
fn blue_green_past_the_drain_timeout_rolls_back_and_loses_nothing() {
    let (spec, world, entries, run) = blue_green_with_latency(20_000, 3_000);
    // The plan says how long the transfer may wait.
    let plan = Rollout::preview(&spec).unwrap();
    let transfer = plan.iter().find(|p| p.step == "transfer state blue -> green").unwrap();
    assert!(
        transfer.detail.ends_with("forwarded before the hold (waits up to 3000 ms)"),
        "{}",
        transfer.detail
    );
    assert_eq!(run.phase, Phase::RolledBack);
    let why = run.failure.clone().unwrap();
    assert!(why.contains("still in flight after waiting 3000 ms (state.drain_timeout_ms)"), "{why}");
    // Waited up to the timeout in 1 s slices, not longer.
    assert_eq!(count(&run, |k| matches!(k, ActionKind::Wait { .. })), 3);
    let blue = world.serving(&entries[0].1).unwrap();
    assert_eq!(blue.code.as_deref(), Some(spec.previous.hash.as_str()));
    assert_eq!((world.lost, blue.dups), (0, 0));
    assert_eq!(blue.count, world.sent["world/0"], "every message applied once");
}
