//! Every strategy on ao-local with the arena game: success, automatic rollback,
//! state that moves with the code, and player traffic between every action.

mod support;

use ao_deploy::{
    Action, CodeStore, Command, MemorySnapshots, Migration, Phase, QueuedCommands, ReleaseRef, Rollout,
    Runner, StateValue, Stop, Strategy, Target,
};
use ao_health::Timestamp;
use ao_local::LocalAo;
use ao_transport::ProcessId;
use support::{Players, World, driver, game_state, info, router_status, spawn_spec, spec};

/// Runs a rollout to its end, sending `per_action` player messages to `entry`
/// before every action.
#[allow(clippy::too_many_arguments)]
fn run(
    ao: &LocalAo,
    spec: ao_deploy::RolloutSpec,
    code: &dyn ao_deploy::CodeStore,
    migration: &dyn Migration,
    players: &mut Players,
    entry: &ProcessId,
    per_action: u32,
    commands: Vec<Command>,
) -> (Rollout, Stop) {
    let snaps = MemorySnapshots::default();
    let mut d = driver(ao, code, &snaps, migration);
    let mut rollout = Rollout::new(spec, Timestamp::from_millis(0)).unwrap();
    let pending = rollout.drain_actions();
    let mut control = QueuedCommands(commands);
    let ao2 = ao.clone();
    let entry = entry.clone();
    // Traffic while the rollout moves forward (and, with a router, while it rolls back too).
    let routed = rollout.units().iter().all(|u| u.router.is_some());
    let mut between = |r: &Rollout, _: &Action| {
        if routed || r.phase() != Phase::RollingBack {
            players.send(&ao2, &entry, per_action);
        }
    };
    let report =
        Runner::new(&mut d).control(&mut control).between(&mut between).run(&mut rollout, pending).unwrap();
    (rollout, report.stop)
}

/// The same player messages straight to a fresh v1 arena: what the state must be.
fn control_state(n_players: u32, seed: u64, count: u64) -> String {
    let w = World::new(LocalAo::new());
    let mut p = Players::new(n_players, seed);
    p.send(&w.ao, &w.router, count as u32);
    assert_eq!(p.sent, count);
    game_state(&w.ao, &w.blue)
}

fn blue_green(w: &World) -> Strategy {
    Strategy::BlueGreen { target: w.target(), spawn: spawn_spec(), scale_down_delay_ms: 2_000 }
}

fn serving(ao: &LocalAo, router: &ProcessId) -> ProcessId {
    router_status(ao, router)["active"].as_str().unwrap().parse().unwrap()
}

#[test]
fn blue_green_under_load_loses_nothing_and_keeps_the_state() {
    let w = World::new(LocalAo::new());
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    let s = spec("bg-1", v2.reference(), w.v1.reference(), blue_green(&w), w.ao.signer());
    let mut players = Players::new(16, 11);
    let (rollout, stop) =
        run(&w.ao, s, &w.code, &support::NO_MIGRATION, &mut players, &w.router, 120, vec![]);
    assert_eq!(stop, Stop::Finished(Phase::Succeeded), "{:?}", rollout.failure());
    players.send(&w.ao, &w.router, 100);

    let green = serving(&w.ao, &w.router);
    assert_ne!(green, w.blue);
    let g = info(&w.ao, &green);
    assert_eq!(g["release"], v2.reference().hash.as_str());
    // Every player message reached the game exactly once.
    assert!(players.sent > 1_000, "{}", players.sent);
    assert_eq!(g["ledger"]["count"].as_u64(), Some(players.sent), "messages lost");
    assert_eq!(g["ledger"]["dup"].as_u64(), Some(0), "messages doubled");
    let status = router_status(&w.ao, &w.router);
    assert!(status["stats"]["buffered"].as_u64().unwrap() > 0, "the switch buffered traffic");
    assert_eq!(status["stats"]["buffered"], status["stats"]["flushed"]);
    // Blue is retired and got nothing after that.
    let b = info(&w.ao, &w.blue);
    assert_eq!((b["retired"].as_bool(), b["stats"]["after_retire"].as_u64()), (Some(true), Some(0)));
    // The game state is what the same messages give without any deployment.
    assert_eq!(game_state(&w.ao, &green), control_state(16, 11, players.sent));
    assert_eq!(support::ask(&w.ao, &green, "Version"), "2");
    // Steps were recorded in order, each finished.
    let names: Vec<&str> = rollout.steps().iter().map(|s| s.step.as_str()).collect();
    assert_eq!(names.first(), Some(&"spawn green"));
    assert_eq!(names.last(), Some(&"retire blue"));
    assert!(rollout.steps().iter().all(|s| s.finished.is_some()));
}

#[test]
fn a_failing_smoke_test_rolls_blue_green_back_under_load() {
    let w = World::new(LocalAo::new());
    let bad = support::broken();
    w.code.put_release(&bad).unwrap();
    let s = spec("bg-bad", bad.reference(), w.v1.reference(), blue_green(&w), w.ao.signer());
    let mut players = Players::new(8, 3);
    let (rollout, stop) = run(&w.ao, s, &w.code, &support::NO_MIGRATION, &mut players, &w.router, 30, vec![]);
    assert_eq!(stop, Stop::Finished(Phase::RolledBack));
    let failure = rollout.failure().unwrap();
    assert_eq!(failure.step, "smoke green");
    assert!(
        failure.reason.contains("ping: error:") && failure.reason.contains("ping is broken"),
        "{}",
        failure.reason
    );
    assert_eq!(serving(&w.ao, &w.router), w.blue, "blue serves again");
    let b = info(&w.ao, &w.blue);
    assert_eq!(b["release"], w.v1.reference().hash.as_str());
    assert_eq!((b["ledger"]["count"].as_u64(), b["ledger"]["dup"].as_u64()), (Some(players.sent), Some(0)));
    assert_eq!(game_state(&w.ao, &w.blue), control_state(8, 3, players.sent));
    // Green was retired; the router never forwarded to it.
    let green = rollout.units()[0].green.as_ref().unwrap().process.clone().unwrap();
    let g = info(&w.ao, &green);
    assert_eq!(
        (g["retired"].as_bool(), g["stats"]["messages"].as_u64(), g["stats"]["after_retire"].as_u64()),
        (Some(true), Some(0), Some(0))
    );
}

/// Up adds `Arena.season = 2`; down removes it.
struct Season;

impl Migration for Season {
    fn up(&self, _: &ReleaseRef, _: &ReleaseRef, mut globals: StateValue) -> Result<StateValue, String> {
        let arena = globals.get_mut("Arena").and_then(StateValue::as_table_mut).ok_or("no Arena")?;
        arena.insert(ao_deploy::Key::str("season"), StateValue::Int(2));
        Ok(globals)
    }

    fn down(&self, _: &ReleaseRef, _: &ReleaseRef, mut globals: StateValue) -> Result<StateValue, String> {
        let arena = globals.get_mut("Arena").and_then(StateValue::as_table_mut).ok_or("no Arena")?;
        arena.remove(&ao_deploy::Key::str("season")).ok_or("no season to remove")?;
        Ok(globals)
    }
}

/// Aborts once two probes of the health window ran.
struct AbortAfterProbes<'c>(&'c std::cell::Cell<u32>, bool);
impl ao_deploy::Control for AbortAfterProbes<'_> {
    fn poll(&mut self) -> Vec<Command> {
        if self.0.get() >= 2 && !self.1 {
            self.1 = true;
            vec![Command::Abort]
        } else {
            vec![]
        }
    }
}

#[test]
fn an_abort_after_the_switch_moves_green_state_back_through_the_down_migration() {
    let w = World::new(LocalAo::new());
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    let mut s = spec("bg-abort", v2.reference(), w.v1.reference(), blue_green(&w), w.ao.signer());
    s.validation.health.duration_ms = 60_000;
    let mut players = Players::new(6, 8);
    // The abort lands in the health window, after green has served.
    let snaps = MemorySnapshots::default();
    let mut d = driver(&w.ao, &w.code, &snaps, &Season);
    let mut rollout = Rollout::new(s, Timestamp::from_millis(0)).unwrap();
    let pending = rollout.drain_actions();
    let ao = w.ao.clone();
    let router = w.router.clone();
    let probes = std::cell::Cell::new(0u32);
    let mut seen_migrated = false;
    let mut between = |r: &Rollout, a: &Action| {
        players.send(&ao, &router, 10);
        if matches!(a.kind, ao_deploy::ActionKind::Probe { .. }) && r.phase() == Phase::Progressing {
            probes.set(probes.get() + 1);
            let green = serving(&ao, &router);
            seen_migrated |= ao.eval(&green, "return Arena.season").unwrap().output == "2";
        }
    };
    let mut control = AbortAfterProbes(&probes, false);
    let report =
        Runner::new(&mut d).control(&mut control).between(&mut between).run(&mut rollout, pending).unwrap();
    assert_eq!(report.stop, Stop::Finished(Phase::RolledBack));
    assert!(seen_migrated, "green held the migrated state while it served");
    assert_eq!(rollout.phase(), Phase::RolledBack);
    assert_eq!(rollout.failure().unwrap().reason, "aborted by an operator");
    assert_eq!(serving(&w.ao, &w.router), w.blue);
    assert_eq!(
        w.ao.eval(&w.blue, "return Arena.season == nil").unwrap().output,
        "true",
        "down migration ran"
    );
    let b = info(&w.ao, &w.blue);
    assert_eq!(
        b["ledger"]["count"].as_u64(),
        Some(players.sent),
        "green's messages came back with the state"
    );
    assert_eq!(game_state(&w.ao, &w.blue), control_state(6, 8, players.sent));
}

#[test]
fn in_place_with_a_router_buffers_while_the_code_changes() {
    let w = World::new(LocalAo::new());
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    let s = spec(
        "ip-1",
        v2.reference(),
        w.v1.reference(),
        Strategy::InPlace { target: w.target() },
        w.ao.signer(),
    );
    let mut players = Players::new(10, 21);
    let (rollout, stop) = run(&w.ao, s, &w.code, &support::NO_MIGRATION, &mut players, &w.router, 25, vec![]);
    assert_eq!(stop, Stop::Finished(Phase::Succeeded), "{:?}", rollout.failure());
    assert_eq!(info(&w.ao, &w.blue)["release"], v2.reference().hash.as_str());
    assert_eq!(info(&w.ao, &w.blue)["ledger"]["count"].as_u64(), Some(players.sent));
    assert_eq!(support::ask(&w.ao, &w.blue, "Version"), "2");
    assert_eq!(game_state(&w.ao, &w.blue), control_state(10, 21, players.sent));
}

#[test]
fn in_place_failure_re_evals_the_previous_release_and_restores_the_snapshot() {
    let w = World::new(LocalAo::new());
    let bad = support::broken();
    w.code.put_release(&bad).unwrap();
    let s = spec(
        "ip-bad",
        bad.reference(),
        w.v1.reference(),
        Strategy::InPlace { target: w.target() },
        w.ao.signer(),
    );
    let mut players = Players::new(10, 4);
    // The broken release also scribbles on the state when it loads: the snapshot undoes it.
    let (rollout, stop) = run(&w.ao, s, &w.code, &support::NO_MIGRATION, &mut players, &w.router, 25, vec![]);
    assert_eq!(stop, Stop::Finished(Phase::RolledBack));
    assert_eq!(rollout.failure().unwrap().step, "smoke blue");
    assert_eq!(
        info(&w.ao, &w.blue)["release"],
        w.v1.reference().hash.as_str(),
        "previous release hash restored"
    );
    assert_eq!(support::ask(&w.ao, &w.blue, "Ping"), "pong");
    assert_eq!(info(&w.ao, &w.blue)["ledger"]["count"].as_u64(), Some(players.sent));
    assert_eq!(game_state(&w.ao, &w.blue), control_state(10, 4, players.sent));
    let steps: Vec<(&str, bool)> = rollout
        .steps()
        .iter()
        .filter(|s| s.rollback)
        .map(|s| (s.step.as_str(), s.result == ao_deploy::StepResult::Ok))
        .collect();
    assert_eq!(
        steps,
        [
            ("reload arena@1 (".to_owned() + &w.v1.reference().hash[..12] + ") into blue").as_str(),
            "restore blue's state",
            "switch to blue"
        ]
        .iter()
        .map(|s| (*s, true))
        .collect::<Vec<_>>()
    );
}

#[test]
fn in_place_without_a_router_carries_the_state_back_after_serving() {
    let ao = LocalAo::new();
    let v1 = support::v1();
    let (blue, _) = support::install(&ao, &v1, false);
    let code = ao_deploy::MemoryCodeStore::new();
    ao_deploy::CodeStore::put_release(&code, &v1).unwrap();
    // Passes the smoke tests, then fails its probes: Ping breaks after 3 more messages.
    let late = support::arena_release("4-late", |m| {
        m.replace("msg.reply({ Action = 'Pong', Data = 'pong' })", "LateCount = (LateCount or 0) + 1\n  if (Deploy.Stats.messages or 0) > (BrokenAfter or 0) then error('tired') end\n  msg.reply({ Action = 'Pong', Data = 'pong' })")
            .replace("Arena = Arena or {", "BrokenAfter = (Deploy and Deploy.Stats.messages or 0) + 3\nArena = Arena or {")
    });
    ao_deploy::CodeStore::put_release(&code, &late).unwrap();
    let target = Target { name: "world/0".into(), process: blue.clone(), router: None };
    let s = spec("ip-late", late.reference(), v1.reference(), Strategy::InPlace { target }, ao.signer());
    let mut players = Players::new(5, 9);
    let (rollout, stop) = run(&ao, s, &code, &support::NO_MIGRATION, &mut players, &blue, 1, vec![]);
    assert_eq!(stop, Stop::Finished(Phase::RolledBack), "{:?}", rollout.steps());
    assert_eq!(rollout.failure().unwrap().step, "health window blue");
    assert_eq!(info(&ao, &blue)["release"], v1.reference().hash.as_str());
    // Messages served by the new code are kept: its state was carried back, nothing undone.
    assert!(rollout.warnings().iter().all(|w| !w.contains("undid")), "{:?}", rollout.warnings());
    let state: serde_json::Value = serde_json::from_str(&game_state(&ao, &blue)).unwrap();
    assert_eq!(state["players"].as_array().unwrap().len(), 5);
}
