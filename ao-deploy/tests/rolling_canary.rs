//! Rolling updates of shards and canaries judged by analyses, on ao-local.

mod support;

use ao_deploy::{
    Action, AnalysisSpec, CanaryStep, Cmp, CodeStore, Command, MemorySnapshots, MetricCheck, PauseReason,
    Phase, QueuedCommands, Release, Rollout, RolloutSpec, Runner, Stop, Strategy, Target,
};
use ao_health::Timestamp;
use ao_local::LocalAo;
use ao_transport::ProcessId;
use support::{Players, World, driver, game_state, info, install, router_status, spawn_spec, spec};

struct Shard {
    blue: ProcessId,
    router: ProcessId,
    players: Players,
}

fn shards(ao: &LocalAo, v1: &Release, sizes: &[u32]) -> Vec<Shard> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let (blue, router) = install(ao, v1, true);
            Shard { blue, router: router.unwrap(), players: Players::new(n, 100 + i as u64) }
        })
        .collect()
}

fn targets(shards: &[Shard]) -> Vec<Target> {
    shards
        .iter()
        .enumerate()
        .map(|(i, s)| Target {
            name: format!("world/{i}"),
            process: s.blue.clone(),
            router: Some(s.router.clone()),
        })
        .collect()
}

/// Runs with `per_action` messages to every shard before each action; stops when
/// the rollout needs an operator and feeds it `then`.
fn run(
    ao: &LocalAo,
    code: &dyn CodeStore,
    spec: RolloutSpec,
    shards: &mut [Shard],
    per_action: u32,
    then: Vec<Command>,
) -> (Rollout, Vec<Stop>) {
    run_with_metrics(ao, code, spec, shards, per_action, then, &ao_health::Registry::new())
}

/// [`run`], publishing the driver's metrics in `registry`.
fn run_with_metrics(
    ao: &LocalAo,
    code: &dyn CodeStore,
    spec: RolloutSpec,
    shards: &mut [Shard],
    per_action: u32,
    mut then: Vec<Command>,
    registry: &ao_health::Registry,
) -> (Rollout, Vec<Stop>) {
    let snaps = MemorySnapshots::default();
    let mut d = driver(ao, code, &snaps, &support::NO_MIGRATION).metrics(registry).unwrap();
    let mut rollout = Rollout::new(spec, Timestamp::from_millis(0)).unwrap();
    let mut pending = rollout.drain_actions();
    let mut stops = Vec::new();
    loop {
        let ao2 = ao.clone();
        let mut between = |_: &Rollout, _: &Action| {
            for s in shards.iter_mut() {
                let router = s.router.clone();
                s.players.send(&ao2, &router, per_action);
            }
        };
        let mut control = QueuedCommands(if stops.is_empty() { vec![] } else { vec![then.remove(0)] });
        let report = Runner::new(&mut d)
            .control(&mut control)
            .between(&mut between)
            .run(&mut rollout, std::mem::take(&mut pending))
            .unwrap();
        stops.push(report.stop.clone());
        if matches!(report.stop, Stop::Finished(_)) || then.is_empty() {
            return (rollout, stops);
        }
    }
}

fn control_state(n: u32, seed: u64, count: u64) -> String {
    let w = World::new(LocalAo::new());
    let mut p = Players::new(n, seed);
    p.send(&w.ao, &w.router, count as u32);
    game_state(&w.ao, &w.blue)
}

/// Ping fails once an arena has 5 players or more.
fn crowd_shy() -> Release {
    support::arena_release("5-crowd-shy", |m| {
        m.replace("msg.reply({ Action = 'Pong', Data = 'pong' })", "if Arena.joined >= 5 then error('too crowded') end\n  msg.reply({ Action = 'Pong', Data = 'pong' })")
    })
}

fn check_shards(ao: &LocalAo, shards: &[Shard], sizes: &[u32], expect: &[&Release]) {
    for (i, s) in shards.iter().enumerate() {
        let active: ProcessId = router_status(ao, &s.router)["active"].as_str().unwrap().parse().unwrap();
        assert_eq!(active, s.blue, "shard {i} is updated in place");
        let inf = info(ao, &s.blue);
        assert_eq!(inf["release"], expect[i].reference().hash.as_str(), "shard {i}");
        assert_eq!(inf["ledger"]["count"].as_u64(), Some(s.players.sent), "shard {i}: messages lost");
        assert_eq!(inf["ledger"]["dup"].as_u64(), Some(0));
        assert_eq!(
            game_state(ao, &s.blue),
            control_state(sizes[i], 100 + i as u64, s.players.sent),
            "shard {i}"
        );
    }
}

#[test]
fn rolling_updates_every_shard_in_batches() {
    let ao = LocalAo::new();
    let w1 = support::v1();
    let v2 = support::v2();
    let code = ao_deploy::MemoryCodeStore::new();
    code.put_release(&w1).unwrap();
    code.put_release(&v2).unwrap();
    let sizes = [3, 4, 2, 3];
    let mut shards = shards(&ao, &w1, &sizes);
    let strategy = Strategy::Rolling { targets: targets(&shards), max_unavailable: 2, max_failures: 0 };
    let s = spec("roll-1", v2.reference(), w1.reference(), strategy, ao.signer());
    let (rollout, stops) = run(&ao, &code, s, &mut shards, 8, vec![]);
    assert_eq!(stops, [Stop::Finished(Phase::Succeeded)], "{:?}", rollout.failure());
    check_shards(&ao, &shards, &sizes, &[&v2, &v2, &v2, &v2]);
    // Two batches: shards 2 and 3 start only after 0 and 1 passed their health windows.
    let start = |t: &str| rollout.steps().iter().find(|s| s.target == t).unwrap().started;
    let end = |t: &str| {
        rollout.steps().iter().filter(|s| s.target == t).map(|s| s.finished.unwrap()).max().unwrap()
    };
    assert!(start("world/2") >= end("world/0").max(end("world/1")));
    assert!(start("world/1") < end("world/0"), "a batch runs together");
}

#[test]
fn rolling_past_the_failure_threshold_rolls_every_updated_shard_back() {
    let ao = LocalAo::new();
    let w1 = support::v1();
    let bad = crowd_shy();
    let code = ao_deploy::MemoryCodeStore::new();
    code.put_release(&w1).unwrap();
    code.put_release(&bad).unwrap();
    let sizes = [2, 2, 6, 6];
    let mut shards = shards(&ao, &w1, &sizes);
    // Joins first, so the crowded shards are crowded before the rollout.
    for s in &mut shards {
        let r = s.router.clone();
        let n = s.players.n;
        s.players.send(&ao, &r, n);
    }
    let strategy = Strategy::Rolling { targets: targets(&shards), max_unavailable: 2, max_failures: 0 };
    let s = spec("roll-bad", bad.reference(), w1.reference(), strategy, ao.signer());
    let (rollout, stops) = run(&ao, &code, s, &mut shards, 5, vec![]);
    assert_eq!(stops, [Stop::Finished(Phase::RolledBack)]);
    assert!(rollout.failure().unwrap().reason.contains("too crowded"), "{:?}", rollout.failure());
    check_shards(&ao, &shards, &sizes, &[&w1, &w1, &w1, &w1]);
    // The updated shards roll back in reverse order.
    let rollback: Vec<&str> = rollout
        .steps()
        .iter()
        .filter(|s| s.rollback && s.step.starts_with("reload"))
        .map(|s| s.target.as_str())
        .collect();
    assert_eq!(rollback.first(), Some(&"world/3"));
    assert_eq!(rollback.last(), Some(&"world/0"));
}

#[test]
fn rolling_within_the_threshold_ends_partial() {
    let ao = LocalAo::new();
    let w1 = support::v1();
    let bad = crowd_shy();
    let code = ao_deploy::MemoryCodeStore::new();
    code.put_release(&w1).unwrap();
    code.put_release(&bad).unwrap();
    let sizes = [2, 6, 2];
    let mut shards = shards(&ao, &w1, &sizes);
    for s in &mut shards {
        let r = s.router.clone();
        let n = s.players.n;
        s.players.send(&ao, &r, n);
    }
    let strategy = Strategy::Rolling { targets: targets(&shards), max_unavailable: 1, max_failures: 1 };
    let s = spec("roll-partial", bad.reference(), w1.reference(), strategy, ao.signer());
    let (rollout, stops) = run(&ao, &code, s, &mut shards, 5, vec![]);
    assert_eq!(stops, [Stop::Finished(Phase::Partial)]);
    assert_eq!(rollout.failed_targets(), ["world/1"]);
    check_shards(&ao, &shards, &sizes, &[&bad, &w1, &bad]);
}

fn errors_analysis(count: u32) -> AnalysisSpec {
    AnalysisSpec {
        name: "errors".into(),
        interval_ms: 1_000,
        count,
        checks: vec![
            MetricCheck { metric: "canary_error_ratio".into(), cmp: Cmp::Le, threshold: 0.05 },
            MetricCheck { metric: "canary_probe_up".into(), cmp: Cmp::Ge, threshold: 1.0 },
        ],
        failure_limit: 0,
        inconclusive_limit: 0,
    }
}

fn canary(w: &World, steps: Vec<CanaryStep>) -> Strategy {
    Strategy::Canary { target: w.target(), spawn: spawn_spec(), steps, scale_down_delay_ms: 1_000 }
}

#[test]
fn a_canary_is_mirrored_judged_paused_and_promoted() {
    let w = World::new(LocalAo::new());
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    let steps = vec![
        CanaryStep::SetWeight(30),
        CanaryStep::Analysis(errors_analysis(2)),
        CanaryStep::SetWeight(60),
        CanaryStep::Pause(None),
        CanaryStep::Analysis(errors_analysis(5)),
    ];
    let s = spec("can-1", v2.reference(), w.v1.reference(), canary(&w, steps), w.ao.signer());
    let mut shards =
        vec![Shard { blue: w.blue.clone(), router: w.router.clone(), players: Players::new(20, 100) }];
    let (rollout, stops) = run(&w.ao, &w.code, s, &mut shards, 30, vec![Command::Promote]);
    assert_eq!(
        stops,
        [Stop::Paused(PauseReason::Step), Stop::Finished(Phase::Succeeded)],
        "{:?}",
        rollout.failure()
    );
    let skipped: Vec<&str> = rollout
        .steps()
        .iter()
        .filter(|s| s.result == ao_deploy::StepResult::Skipped)
        .map(|s| s.step.as_str())
        .collect();
    assert_eq!(skipped, ["pause until promoted", "analysis errors"], "promote skips the remaining steps");
    let green: ProcessId = router_status(&w.ao, &w.router)["active"].as_str().unwrap().parse().unwrap();
    let g = info(&w.ao, &green);
    assert_eq!(g["release"], v2.reference().hash.as_str());
    // While it was a canary it handled mirrored traffic and sent nothing.
    assert!(g["stats"]["shadow"].as_u64().unwrap() > 20, "{g}");
    assert_eq!(g["stats"]["suppressed"], g["stats"]["shadow"], "{g}");
    // The authoritative state moved at promotion: nothing lost, nothing doubled.
    let sent = shards[0].players.sent;
    assert_eq!((g["ledger"]["count"].as_u64(), g["ledger"]["dup"].as_u64()), (Some(sent), Some(0)));
    assert_eq!(game_state(&w.ao, &green), control_state(20, 100, sent));
}

#[test]
fn a_failing_canary_analysis_aborts_and_the_stable_state_never_forked() {
    let w = World::new(LocalAo::new());
    // Moves north error out: a real bug the analysis must catch.
    let bad = support::arena_release("6-north", |m| {
        m.replace("local outcome, target = systems.move(Arena.world, id, dir)", "if dir == 'N' then error('north is broken') end\n  local outcome, target = systems.move(Arena.world, id, dir)")
    });
    w.code.put_release(&bad).unwrap();
    let steps =
        vec![CanaryStep::SetWeight(50), CanaryStep::Analysis(errors_analysis(3)), CanaryStep::SetWeight(100)];
    let s = spec("can-bad", bad.reference(), w.v1.reference(), canary(&w, steps), w.ao.signer());
    let mut shards =
        vec![Shard { blue: w.blue.clone(), router: w.router.clone(), players: Players::new(20, 100) }];
    let registry = ao_health::Registry::new();
    let (rollout, stops) = run_with_metrics(&w.ao, &w.code, s, &mut shards, 30, vec![], &registry);
    assert_eq!(stops, [Stop::Finished(Phase::RolledBack)]);
    // What the analysis judged is published as ao-health metrics.
    let text = registry.encode(ao_health::Format::Prometheus);
    let ratio = text
        .lines()
        .find(|l| {
            l.starts_with("ao_deploy_analysis_value{rollout=\"can-bad\",metric=\"canary_error_ratio\"}")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("canary error ratio not exported:\n{text}"));
    assert!(ratio > 0.05, "{text}");
    assert!(text.contains("ao_deploy_actions_total{kind=\"measure\",outcome=\"ok\"}"), "{text}");
    let f = rollout.failure().unwrap();
    assert_eq!(f.step, "analysis errors");
    assert!(f.reason.contains("canary_error_ratio = "), "{}", f.reason);
    let status = router_status(&w.ao, &w.router);
    assert_eq!((status["active"].as_str(), status["shadow"].as_str()), (Some(w.blue.as_str()), Some("")));
    let sent = shards[0].players.sent;
    let b = info(&w.ao, &w.blue);
    assert_eq!(b["ledger"]["count"].as_u64(), Some(sent));
    assert_eq!(game_state(&w.ao, &w.blue), control_state(20, 100, sent));
    let canary = rollout.units()[0].green.as_ref().unwrap().process.clone().unwrap();
    assert_eq!(info(&w.ao, &canary)["retired"], true);
}

#[test]
fn an_inconclusive_analysis_pauses_for_an_operator() {
    let w = World::new(LocalAo::new());
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    // Weight 0: the canary gets no traffic, so its error ratio has no value.
    let steps = vec![CanaryStep::SetWeight(0), CanaryStep::Analysis(errors_analysis(2))];
    let s = spec("can-inc", v2.reference(), w.v1.reference(), canary(&w, steps), w.ao.signer());
    let mut shards =
        vec![Shard { blue: w.blue.clone(), router: w.router.clone(), players: Players::new(5, 100) }];
    let (rollout, stops) = run(&w.ao, &w.code, s, &mut shards, 5, vec![Command::Abort]);
    assert_eq!(
        stops,
        [
            Stop::Paused(PauseReason::Inconclusive { analysis: "errors".into() }),
            Stop::Finished(Phase::RolledBack)
        ]
    );
    assert_eq!(rollout.failure().unwrap().reason, "aborted by an operator");
    assert_eq!(router_status(&w.ao, &w.router)["active"], w.blue.as_str());
}
