//! Blue-green of the arena under player load with ao-local's fault injection
//! (dropped replies, latency, retryable errors, process crashes): every run
//! completes or rolls back cleanly, never stuck, never two serving versions
//! (checked before every action), and no player message accepted by the router
//! is lost or doubled.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ao_deploy::{Action, CodeStore, Driver, MemorySnapshots, Phase, Rollout, Runner, Stop, Strategy};
use ao_health::Timestamp;
use ao_local::{FaultPlan, LocalAo};
use ao_transport::retry::Clock;
use ao_transport::{AoTransport, ProcessId};
use support::{LocalLookup, Players, World, info, router_status, spawn_spec, spec};

fn plan(seed: u64) -> FaultPlan {
    FaultPlan {
        seed,
        latency: Some((Duration::from_millis(1), Duration::from_millis(300))),
        drop_reply: 0.04,
        transient_error: 0.06,
        crash: 0.02,
    }
}

/// At most one process serves: the router forwards to a live process with
/// the module, or holds.
fn one_serving(ao: &LocalAo, router: &ProcessId, candidates: &[ProcessId]) -> Result<(), String> {
    let status = router_status(ao, router);
    if status["mode"] == "hold" {
        return Ok(());
    }
    let active: ProcessId = status["active"].as_str().ok_or("no active")?.parse().map_err(|_| "bad id")?;
    if !candidates.contains(&active) {
        return Err(format!("the router forwards to {active}, not a known process"));
    }
    if info(ao, &active)["retired"] == true {
        return Err(format!("the router forwards to retired {active}"));
    }
    Ok(())
}

fn faulty_run(seed: u64, bad: bool) -> (Phase, u64) {
    let w = World::new(LocalAo::builder().seed(seed).build().unwrap());
    let release = if bad { support::broken() } else { support::v2() };
    w.code.put_release(&release).unwrap();
    let strategy =
        Strategy::BlueGreen { target: w.target(), spawn: spawn_spec(), scale_down_delay_ms: 1_000 };
    let rollout_spec =
        spec(&format!("faulty-{seed}"), release.reference(), w.v1.reference(), strategy, w.ao.signer());
    let snaps = MemorySnapshots::default();
    let lookup = LocalLookup(w.ao.clone());
    let transport: Arc<dyn AoTransport> = Arc::new(w.ao.clone());
    let clock: Arc<dyn Clock> = Arc::new(w.ao.clone());
    let mut d = Driver::new(transport, clock, &w.code, &snaps, &support::NO_MIGRATION)
        .lookup(&lookup)
        .retry_policy(support::fast_retry());
    let mut rollout = Rollout::new(rollout_spec, Timestamp::from_millis(0)).unwrap();
    let pending = rollout.drain_actions();
    let mut players = Players::new(8, seed);
    let mut step = 0u64;
    let mut violations = Vec::new();
    let (ao, router, blue) = (w.ao.clone(), w.router.clone(), w.blue.clone());
    let mut between = |r: &Rollout, _: &Action| {
        step += 1;
        // Checks see the world without faults; traffic and the deployer get them.
        ao.set_faults(None);
        let mut known = vec![blue.clone()];
        known.extend(r.units()[0].green.as_ref().and_then(|g| g.process.clone()));
        if let Err(v) = one_serving(&ao, &router, &known) {
            violations.push(format!("step {step}: {v}"));
        }
        // A process crash now and then, besides the injected ones.
        if step.is_multiple_of(5) {
            let victim = known[(step / 5) as usize % known.len()].clone();
            ao.crash(&victim).unwrap();
        }
        ao.set_faults(Some(plan(seed * 1_000 + step)));
        players.send(&ao, &router, 25);
    };
    let report = Runner::new(&mut d).between(&mut between).run(&mut rollout, pending).unwrap();
    w.ao.set_faults(None);
    assert!(violations.is_empty(), "seed {seed}: {violations:?}");
    let Stop::Finished(phase) = report.stop else { panic!("seed {seed}: stuck in {:?}", report.stop) };
    let status = router_status(&w.ao, &w.router);
    assert_eq!(status["mode"], "forward", "seed {seed}: left holding");
    let active: ProcessId = status["active"].as_str().unwrap().parse().unwrap();
    let a = info(&w.ao, &active);
    let expected = match phase {
        Phase::Succeeded => release.reference().hash.clone(),
        Phase::RolledBack => w.v1.reference().hash.clone(),
        other => {
            panic!("seed {seed}: ended {other:?}: {:?} {:?}", rollout.failure(), rollout.rollback_error())
        }
    };
    assert_eq!(a["release"], expected.as_str(), "seed {seed}");
    assert_eq!(a["ledger"]["count"].as_u64(), Some(players.sent), "seed {seed}: messages lost");
    assert_eq!(a["ledger"]["dup"].as_u64(), Some(0), "seed {seed}: messages doubled");
    assert!(
        w.ao.fault_stats().dropped_replies + w.ao.fault_stats().transient_errors > 0,
        "faults were injected"
    );
    (phase, players.sent)
}

#[test]
fn faulty_blue_greens_complete_or_roll_back_cleanly() {
    let mut phases = Vec::new();
    for seed in 1..=6 {
        phases.push(faulty_run(seed, seed % 3 == 0).0);
    }
    assert!(phases.contains(&Phase::Succeeded), "{phases:?}");
    assert!(phases.contains(&Phase::RolledBack), "{phases:?}");
}
