//! Crash injection on ao-local: the deployer dies before, or right after, each
//! action in turn (before its outcome reaches the journal); a new deployer
//! resumes from the journal. Every run must end in the same state as the run
//! without a crash. Torn and corrupt journals, and the lease, too.

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use ao_deploy::{
    Action, ActionId, ActionKind, AnalysisSpec, CanaryStep, Cmp, CodeStore, CrashPoint, DeployDir, Driver,
    ErrorKind, MetricCheck, Phase, Rollout, RolloutSpec, Runner, Stop, Strategy,
};
use ao_health::Timestamp;
use ao_local::LocalAo;
use ao_transport::retry::Clock;
use ao_transport::{AoTransport, ProcessId};
use support::{LocalLookup, Players, World, game_state, info, router_status, spawn_spec, spec};

/// Everything a deployment leaves behind that matters.
#[derive(Debug, PartialEq)]
struct End {
    phase: Phase,
    router: String,
    processes: Vec<(ProcessId, String, bool)>,
    game: String,
    ledger: String,
}

fn end(ao: &LocalAo, router: &ProcessId, phase: Phase) -> End {
    let status = router_status(ao, router);
    let active: ProcessId = status["active"].as_str().unwrap().parse().unwrap();
    let processes = ao
        .processes()
        .into_iter()
        .filter(|p| p != router)
        .map(|p| {
            let i = info(ao, &p);
            (p, i["release"].as_str().unwrap().to_owned(), i["retired"].as_bool().unwrap())
        })
        .collect();
    End {
        phase,
        router: format!(
            "{} {} {} {} {}",
            status["active"], status["mode"], status["seq"], status["forwarded"], status["shadow"]
        ),
        processes,
        game: game_state(ao, &active),
        ledger: info(ao, &active)["ledger"].to_string(),
    }
}

struct Scenario {
    w: World,
    spec: RolloutSpec,
    dir: DeployDir,
    _tmp: tempfile::TempDir,
    players: RefCell<Players>,
    /// Actions that already had their traffic: a re-run after a crash sends none.
    seen: RefCell<BTreeSet<ActionId>>,
}

fn scenario(kind: &str, bad: bool) -> Scenario {
    scenario_with(kind, &if bad { support::broken() } else { support::v2() })
}

fn scenario_with(kind: &str, release: &ao_deploy::Release) -> Scenario {
    let w = World::new(LocalAo::builder().seed(42).build().unwrap());
    w.code.put_release(release).unwrap();
    let strategy = match kind {
        "blue-green" => {
            Strategy::BlueGreen { target: w.target(), spawn: spawn_spec(), scale_down_delay_ms: 1_000 }
        }
        "canary" => Strategy::Canary {
            target: w.target(),
            spawn: spawn_spec(),
            steps: vec![
                CanaryStep::SetWeight(50),
                CanaryStep::Analysis(AnalysisSpec {
                    name: "errors".into(),
                    interval_ms: 1_000,
                    count: 2,
                    checks: vec![
                        MetricCheck { metric: "canary_error_ratio".into(), cmp: Cmp::Le, threshold: 0.05 },
                        MetricCheck { metric: "canary_probe_up".into(), cmp: Cmp::Ge, threshold: 1.0 },
                    ],
                    failure_limit: 0,
                    inconclusive_limit: 0,
                }),
            ],
            scale_down_delay_ms: 1_000,
        },
        _ => Strategy::InPlace { target: w.target() },
    };
    let mut spec =
        spec(&format!("{kind}-crash"), release.reference(), w.v1.reference(), strategy, w.ao.signer());
    spec.validation.health.duration_ms = 1_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = DeployDir::new(tmp.path().join("dev/world"));
    Scenario {
        w,
        spec,
        dir,
        _tmp: tmp,
        players: RefCell::new(Players::new(6, 77)),
        seen: RefCell::new(BTreeSet::new()),
    }
}

fn now(s: &Scenario) -> Timestamp {
    Timestamp::from_millis(Clock::now(&s.w.ao).as_millis() as u64)
}

fn run(
    s: &Scenario,
    session: &mut ao_deploy::Session,
    crash: Option<CrashPoint>,
) -> Result<ao_deploy::RunReport, ao_deploy::Error> {
    let snaps = s.dir.snapshots();
    let lookup = LocalLookup(s.w.ao.clone());
    let t: Arc<dyn AoTransport> = Arc::new(s.w.ao.clone());
    let c: Arc<dyn Clock> = Arc::new(s.w.ao.clone());
    let mut d = Driver::new(t, c, &s.w.code, &snaps, &support::NO_MIGRATION)
        .lookup(&lookup)
        .retry_policy(support::fast_retry());
    let mut between = |_: &Rollout, a: &Action| {
        if s.seen.borrow_mut().insert(a.id) {
            s.players.borrow_mut().send(&s.w.ao, &s.w.router, 12);
        }
    };
    let mut runner =
        Runner::new(&mut d).journal(&mut session.journal).lease(&mut session.lease).between(&mut between);
    if let Some(c) = crash {
        runner = runner.crash_at(c);
    }
    runner.run(&mut session.rollout, std::mem::take(&mut session.pending))
}

/// One whole deployment, crashing at `crash` and resuming once; `torn` bytes
/// are appended to the journal after the crash, as a write cut short would leave them.
fn deploy(
    kind: &str,
    bad: bool,
    crash: Option<CrashPoint>,
    torn: &[u8],
) -> (End, u64, Option<ao_deploy::ResumeReport>) {
    let s = scenario(kind, bad);
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
    let (actions, report, session) = match run(&s, &mut session, crash) {
        Ok(r) => (r.actions, None, session),
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::Crashed { .. }), "{e}");
            drop(session);
            if !torn.is_empty() {
                use std::io::Write as _;
                let mut f = std::fs::OpenOptions::new().append(true).open(s.dir.journal_path()).unwrap();
                f.write_all(torn).unwrap();
            }
            let (mut session, report) = s.dir.resume("ann", now(&s), 600_000, false).unwrap();
            let r = run(&s, &mut session, None).unwrap();
            (r.actions, Some(report), session)
        }
    };
    assert!(session.rollout.is_terminal());
    let e = end(&s.w.ao, &s.w.router, session.rollout.phase());
    let archived = s.dir.finish(session).unwrap();
    assert!(archived.exists() && !s.dir.journal_path().exists() && s.dir.lease().unwrap().is_none());
    (e, actions, report)
}

fn crash_everywhere(kind: &str, bad: bool, expected: &Phase) {
    let (reference, n, _) = deploy(kind, bad, None, b"");
    assert_eq!(&reference.phase, expected);
    assert!(n >= 6, "{n} actions");
    for nth in 0..n {
        for after_running in [false, true] {
            let point = CrashPoint { nth, after_running };
            let (got, _, report) = deploy(kind, bad, Some(point), b"");
            let report = report.expect("it crashed");
            // One lane: exactly one action was in flight at the crash, and it runs again.
            assert_eq!(report.in_flight.len(), 1, "{point:?}");
            assert_eq!(got, reference, "{kind}: crash {point:?} ended elsewhere");
        }
    }
}

#[test]
fn blue_green_crashing_at_every_step_ends_where_it_would_have() {
    crash_everywhere("blue-green", false, &Phase::Succeeded);
}

#[test]
fn a_blue_green_rollback_crashing_at_every_step_ends_where_it_would_have() {
    crash_everywhere("blue-green", true, &Phase::RolledBack);
}

#[test]
fn in_place_crashing_at_every_step_ends_where_it_would_have() {
    crash_everywhere("in-place", true, &Phase::RolledBack);
}

#[test]
fn a_successful_in_place_crashing_at_every_step_ends_where_it_would_have() {
    crash_everywhere("in-place", false, &Phase::Succeeded);
}

#[test]
fn a_canary_crashing_at_every_step_ends_where_it_would_have() {
    crash_everywhere("canary", false, &Phase::Succeeded);
}

#[test]
fn a_canary_rollback_crashing_at_every_step_ends_where_it_would_have() {
    crash_everywhere("canary", true, &Phase::RolledBack);
}

#[test]
fn a_torn_journal_tail_is_reported_cut_and_the_run_still_ends_the_same() {
    let (reference, _, _) = deploy("blue-green", false, None, b"");
    let record = ao_deploy::encode_record(&ao_deploy::Record::Note {
        text: "half".into(),
        at: Timestamp::from_millis(1),
    });
    for cut in [3, 19, record.len() - 1] {
        let (got, _, report) =
            deploy("blue-green", false, Some(CrashPoint { nth: 4, after_running: true }), &record[..cut]);
        let torn = report.unwrap().torn.expect("torn tail reported");
        assert_eq!(torn.bytes, cut as u64);
        assert_eq!(got, reference);
    }
}

#[test]
fn a_corrupt_journal_is_refused_with_where() {
    let s = scenario("blue-green", false);
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
    let err = run(&s, &mut session, Some(CrashPoint { nth: 3, after_running: false })).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Crashed { after_actions: 3 }));
    drop(session);
    let path = s.dir.journal_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let err = s.dir.resume("ann", now(&s), 600_000, false).unwrap_err();
    match err.kind() {
        ErrorKind::JournalCorrupt { offset, record, .. } => {
            assert!(*offset as usize <= middle, "{err}");
            assert!(err.to_string().contains(&format!("at byte {offset} (record {record})")), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_rollout_per_process_and_stale_leases_are_taken_over_explicitly() {
    let s = scenario("blue-green", false);
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 10_000).unwrap();
    let err = run(&s, &mut session, Some(CrashPoint { nth: 2, after_running: true })).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Crashed { .. }));
    drop(session);
    // A second deployer is refused with who holds the lease.
    let mut other = s.spec.clone();
    other.id = "someone-else".into();
    let err = s.dir.start(other, "bob", now(&s), 10_000).unwrap_err();
    assert!(
        err.to_string().starts_with("the process is being deployed by ann (rollout blue-green-crash"),
        "{err}"
    );
    let err = s.dir.resume("bob", now(&s), 10_000, true).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::LeaseHeld { stale: false, .. }),
        "a fresh lease is not taken over"
    );
    // Ann is gone for longer than the lease lives: bob may take it over, explicitly.
    s.w.ao.advance(std::time::Duration::from_secs(11));
    let err = s.dir.resume("bob", now(&s), 10_000, false).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LeaseHeld { stale: true, .. }));
    let (mut session, report) = s.dir.resume("bob", now(&s), 10_000, true).unwrap();
    assert_eq!(report.taken_over_from.as_deref(), Some("ann"));
    let r = run(&s, &mut session, None).unwrap();
    assert_eq!(r.stop, Stop::Finished(Phase::Succeeded));
    let contents = s.dir.in_progress().unwrap().unwrap();
    assert_eq!(contents.holder(), Some("bob"), "the takeover is in the journal");
    assert!(
        contents
            .records
            .iter()
            .any(|r| matches!(r, ao_deploy::Record::Takeover { from, .. } if from == "ann"))
    );
    // Ann comes back with her old lease: it is lost.
    let mut ann = ao_deploy::acquire(&s.dir.path().join("ann-lease.json"), "ann", "x", now(&s), 1).unwrap();
    std::fs::copy(s.dir.lease_path(), s.dir.path().join("ann-lease.json")).unwrap();
    assert!(matches!(ann.renew(now(&s)).unwrap_err().kind(), ErrorKind::LeaseLost { .. }));
}

#[test]
fn a_refused_start_leaves_no_lease_behind() {
    let s = scenario("blue-green", false);
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
    let _ = run(&s, &mut session, Some(CrashPoint { nth: 1, after_running: false })).unwrap_err();
    // Ann's rollout waits (say, paused): nobody holds the lease.
    let ao_deploy::Session { lease, .. } = session;
    lease.release().unwrap();
    let mut other = s.spec.clone();
    other.id = "second".into();
    let err = s.dir.start(other, "ann", now(&s), 600_000).unwrap_err();
    assert!(err.to_string().contains("rollout blue-green-crash is in progress"), "{err}");
    assert!(s.dir.lease().unwrap().is_none(), "the refused start left a lease");
    // The rollout in progress can still be resumed by anyone.
    let (mut session, _) = s.dir.resume("bob", now(&s), 600_000, false).unwrap();
    assert_eq!(run(&s, &mut session, None).unwrap().stop, Stop::Finished(Phase::Succeeded));
}

/// A release whose code counts how many times it was evaluated.
fn counting() -> ao_deploy::Release {
    support::arena_release("2-counting", |m| format!("{m}\nDeployLoads = (DeployLoads or 0) + 1\n"))
}

fn loads(s: &Scenario) -> String {
    let active: ProcessId = router_status(&s.w.ao, &s.w.router)["active"].as_str().unwrap().parse().unwrap();
    // A dry run: a real Eval would be recorded as the last one.
    let m = ao_transport::Message::builder(active).tag("Action", "Eval").data("return DeployLoads").build();
    s.w.ao.simulate(m.unwrap()).unwrap().output
}

/// The code hash ao-env's `info.lua` records in the active process (the last Eval's).
fn recorded_code(s: &Scenario) -> String {
    let active: ProcessId = router_status(&s.w.ao, &s.w.router)["active"].as_str().unwrap().parse().unwrap();
    let m =
        ao_transport::Message::builder(active).tag("Action", "Info").tag("Info-Format", "ao-env/1").build();
    let r = s.w.ao.simulate(m.unwrap()).unwrap();
    let reply = r.messages.iter().find(|m| m.tag("Action") == Some("Info-Response")).expect("ao-env info");
    let info: serde_json::Value = serde_json::from_slice(&reply.data).unwrap();
    info["code"]["last"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_load_run_again_after_a_crash_evaluates_the_release_once() {
    for kind in ["in-place", "blue-green"] {
        // Which action loads the release, in a run without a crash.
        let s = scenario_with(kind, &counting());
        let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
        assert_eq!(run(&s, &mut session, None).unwrap().stop, Stop::Finished(Phase::Succeeded));
        assert_eq!(loads(&s), "1", "{kind}: without a crash");
        let events = s.dir.in_progress().unwrap().unwrap().events();
        // One lane: actions run one by one, in the order of their outcomes.
        let load = events
            .iter()
            .filter(|e| !matches!(e, ao_deploy::Event::Command { .. }))
            .position(|e| {
                matches!(e, ao_deploy::Event::Done { outcome: ao_deploy::Outcome::Loaded { .. }, .. })
            })
            .expect("a load") as u64;

        // The deployer dies right after the load ran, before its outcome was journaled.
        let mut s = scenario_with(kind, &counting());
        // ao-env's info.lua runs in the process loaded: it records every Eval's hash.
        assert!(s.w.ao.eval(&s.w.blue, ao_env::INFO_LUA).unwrap().error.is_none());
        if let Strategy::BlueGreen { spawn, .. } = &mut s.spec.strategy {
            spawn.boot = Some(ao_env::INFO_LUA.to_owned());
        }
        let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
        let err = run(&s, &mut session, Some(CrashPoint { nth: load, after_running: true })).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Crashed { .. }), "{err}");
        drop(session);
        let (mut session, report) = s.dir.resume("ann", now(&s), 600_000, false).unwrap();
        assert!(matches!(report.in_flight[0].kind, ActionKind::Load { .. }), "{:?}", report.in_flight);
        assert_eq!(run(&s, &mut session, None).unwrap().stop, Stop::Finished(Phase::Succeeded));
        assert_eq!(loads(&s), "1", "{kind}: the load run again evaluated the release a second time");
        assert_eq!(
            recorded_code(&s),
            s.spec.release.hash,
            "ao-env records the release's code as the last Eval"
        );
    }
}

/// The ao-local clock, noting at the end of each sleep how long the lease had
/// gone without a renewal.
struct Watching {
    ao: LocalAo,
    lease: std::path::PathBuf,
    worst: std::sync::Mutex<u64>,
}

impl Clock for Watching {
    fn now(&self) -> std::time::Duration {
        Clock::now(&self.ao)
    }

    fn sleep(
        &self,
        d: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            Clock::sleep(&self.ao, d).await;
            let now = Timestamp::from_millis(Clock::now(&self.ao).as_millis() as u64);
            if let Some(l) = ao_deploy::read_lease(&self.lease).unwrap() {
                let mut worst = self.worst.lock().unwrap();
                *worst = (*worst).max(l.idle_ms(now));
            }
        })
    }
}

#[test]
fn a_deployer_alive_in_a_wait_longer_than_its_lease_never_looks_stale() {
    let mut s = scenario("blue-green", false);
    if let Strategy::BlueGreen { scale_down_delay_ms, .. } = &mut s.spec.strategy {
        *scale_down_delay_ms = 60_000;
    }
    let ttl = 10_000;
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), ttl).unwrap();
    let snaps = s.dir.snapshots();
    let lookup = LocalLookup(s.w.ao.clone());
    let clock = Arc::new(Watching { ao: s.w.ao.clone(), lease: s.dir.lease_path(), worst: 0.into() });
    let transport: Arc<dyn AoTransport> = Arc::new(s.w.ao.clone());
    let watch: Arc<dyn Clock> = clock.clone();
    let mut d = Driver::new(transport, watch, &s.w.code, &snaps, &support::NO_MIGRATION)
        .lookup(&lookup)
        .retry_policy(support::fast_retry());
    let started = now(&s);
    let report = Runner::new(&mut d)
        .journal(&mut session.journal)
        .lease(&mut session.lease)
        .run(&mut session.rollout, std::mem::take(&mut session.pending))
        .unwrap();
    assert_eq!(report.stop, Stop::Finished(Phase::Succeeded));
    assert!(now(&s).saturating_since(started).as_millis() >= 60_000, "the scale-down delay was waited");
    let worst = *clock.worst.lock().unwrap();
    assert!(worst <= ttl / 2, "the lease went {worst} ms without a renewal (time to live {ttl} ms)");
}

#[test]
fn a_restore_run_again_after_a_crash_keeps_what_players_did_since() {
    // In place, no router: players reach the process directly, also while the deployer is down.
    let mut s = scenario("in-place", true);
    s.spec.strategy = Strategy::InPlace { target: ao_deploy::Target { router: None, ..s.w.target() } };
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
    assert_eq!(run(&s, &mut session, None).unwrap().stop, Stop::Finished(Phase::RolledBack));
    let events = s.dir.in_progress().unwrap().unwrap().events();
    let restore = events
        .iter()
        .filter(|e| !matches!(e, ao_deploy::Event::Command { .. }))
        .position(|e| {
            matches!(e, ao_deploy::Event::Done { outcome: ao_deploy::Outcome::Restored { .. }, .. })
        })
        .expect("a restore") as u64;

    let mut s = scenario("in-place", true);
    s.spec.strategy = Strategy::InPlace { target: ao_deploy::Target { router: None, ..s.w.target() } };
    let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
    let err = run(&s, &mut session, Some(CrashPoint { nth: restore, after_running: true })).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Crashed { .. }), "{err}");
    drop(session);
    // The previous release serves again with its state restored; players play on.
    s.players.borrow_mut().send(&s.w.ao, &s.w.blue, 20);
    let played = game_state(&s.w.ao, &s.w.blue);
    let (mut session, report) = s.dir.resume("ann", now(&s), 600_000, false).unwrap();
    assert!(matches!(report.in_flight[0].kind, ActionKind::Restore { .. }), "{:?}", report.in_flight);
    let r = run(&s, &mut session, None).unwrap();
    assert_eq!(r.stop, Stop::Finished(Phase::RolledBack), "{:?}", session.rollout.rollback_error());
    assert_eq!(game_state(&s.w.ao, &s.w.blue), played, "the restore run again undid the players' moves");
}

#[test]
fn a_journal_whose_creation_was_cut_short_does_not_block_the_next_rollout() {
    for left in [&ao_deploy::MAGIC[..], &ao_deploy::MAGIC[..5], &[][..]] {
        let s = scenario("blue-green", false);
        std::fs::create_dir_all(s.dir.path()).unwrap();
        std::fs::write(s.dir.journal_path(), left).unwrap();
        let mut session = s.dir.start(s.spec.clone(), "ann", now(&s), 600_000).unwrap();
        assert_eq!(run(&s, &mut session, None).unwrap().stop, Stop::Finished(Phase::Succeeded));
        assert_eq!(s.dir.in_progress().unwrap().unwrap().begin().unwrap().0.id, s.spec.id);
    }
}
