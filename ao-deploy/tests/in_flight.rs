//! Messages in flight at the hold, on ao-local: process-to-process deliveries
//! are left queued (`max_cascade(0)`), so what the router forwards reaches blue
//! only when the virtual clock moves (a few per wait), as on AO under load.
//! The rollout waits for blue to catch up, then moves the state; past its
//! drain timeout it rolls back. Either way no message is lost or doubled.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ao_deploy::{CodeStore, Driver, MemorySnapshots, Phase, Rollout, Runner, Stop, Strategy};
use ao_health::Timestamp;
use ao_local::LocalAo;
use ao_transport::AoTransport;
use ao_transport::retry::Clock;
use support::{Players, World, game_state, info, router_status, spawn_spec, spec};

/// The virtual clock; each sleep delivers up to `per_sleep` queued messages.
struct DeliveringClock {
    ao: LocalAo,
    per_sleep: usize,
}

impl Clock for DeliveringClock {
    fn now(&self) -> Duration {
        Clock::now(&self.ao)
    }

    fn sleep(&self, d: Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.ao.advance(d);
        self.ao.run_pending(self.per_sleep).unwrap();
        Box::pin(std::future::ready(()))
    }
}

/// A blue-green with `backlog` forwarded messages queued to blue at the start
/// and more sent before every action; returns the rollout's end and the world.
fn run(per_sleep: usize, drain_timeout_ms: u64) -> (Rollout, Stop, World, Players) {
    let ao = LocalAo::builder().max_cascade(0).build().unwrap();
    let w = World::new(ao);
    w.ao.run_pending(usize::MAX).unwrap();
    let v2 = support::v2();
    w.code.put_release(&v2).unwrap();
    let strategy =
        Strategy::BlueGreen { target: w.target(), spawn: spawn_spec(), scale_down_delay_ms: 2_000 };
    let mut s = spec("bg-inflight", v2.reference(), w.v1.reference(), strategy, w.ao.signer());
    s.state.drain_timeout_ms = drain_timeout_ms;
    s.state.drain_interval_ms = 500;
    let mut players = Players::new(8, 5);
    players.send(&w.ao, &w.router, 30);
    assert!(w.ao.pending() >= 30, "the forwarded messages are in flight");
    let snaps = MemorySnapshots::default();
    let transport: Arc<dyn AoTransport> = Arc::new(w.ao.clone());
    let clock: Arc<dyn Clock> = Arc::new(DeliveringClock { ao: w.ao.clone(), per_sleep });
    let mut d = Driver::new(transport, clock, &w.code, &snaps, &support::NO_MIGRATION)
        .retry_policy(support::fast_retry());
    let mut rollout = Rollout::new(s, Timestamp::from_millis(0)).unwrap();
    let pending = rollout.drain_actions();
    let ao2 = w.ao.clone();
    let router = w.router.clone();
    let mut between = |r: &Rollout, _: &ao_deploy::Action| {
        if r.phase() != Phase::RollingBack {
            players.send(&ao2, &router, 2);
        }
    };
    let report = Runner::new(&mut d).between(&mut between).run(&mut rollout, pending).unwrap();
    // What is still in flight arrives.
    w.ao.run_pending(usize::MAX).unwrap();
    (rollout, report.stop, w, players)
}

fn control_state(count: u64) -> String {
    let w = World::new(LocalAo::new());
    let mut p = Players::new(8, 5);
    p.send(&w.ao, &w.router, count as u32);
    game_state(&w.ao, &w.blue)
}

#[test]
fn blue_green_waits_for_blue_to_handle_what_was_in_flight_at_the_hold() {
    let (rollout, stop, w, players) = run(8, 60_000);
    assert_eq!(stop, Stop::Finished(Phase::Succeeded), "{:?}", rollout.failure());
    // One transfer step, passed (exported again after each wait until blue caught up).
    let transfer: Vec<_> =
        rollout.steps().iter().filter(|s| s.step.starts_with("transfer state blue")).collect();
    assert_eq!(transfer.len(), 1);
    assert_eq!(transfer[0].result, ao_deploy::StepResult::Ok);
    assert!(
        transfer[0].finished.unwrap().as_millis() >= transfer[0].started.as_millis() + 1_000,
        "it waited"
    );
    let green: ao_transport::ProcessId =
        router_status(&w.ao, &w.router)["active"].as_str().unwrap().parse().unwrap();
    assert_ne!(green, w.blue);
    let g = info(&w.ao, &green);
    assert_eq!(g["ledger"]["count"].as_u64(), Some(players.sent), "messages lost");
    assert_eq!(g["ledger"]["dup"].as_u64(), Some(0), "messages doubled");
    assert_eq!(game_state(&w.ao, &green), control_state(players.sent));
}

#[test]
fn blue_green_past_the_drain_timeout_rolls_back_and_blue_keeps_every_message() {
    // Nothing is delivered while the rollout waits: blue never catches up.
    let (rollout, stop, w, players) = run(0, 2_000);
    assert_eq!(stop, Stop::Finished(Phase::RolledBack));
    let why = rollout.failure().unwrap().to_string();
    assert!(why.contains("still in flight after waiting 2000 ms"), "{why}");
    let active: ao_transport::ProcessId =
        router_status(&w.ao, &w.router)["active"].as_str().unwrap().parse().unwrap();
    assert_eq!(active, w.blue);
    let b = info(&w.ao, &w.blue);
    assert_eq!(b["ledger"]["count"].as_u64(), Some(players.sent), "messages lost");
    assert_eq!(b["ledger"]["dup"].as_u64(), Some(0), "messages doubled");
    assert_eq!(game_state(&w.ao, &w.blue), control_state(players.sent));
}
