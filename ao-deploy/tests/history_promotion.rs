//! History read back from real journals, its figures as ao-health metrics, and
//! promotion gates built on ao-env's approval model.

mod support;

use std::io::Write as _;
use std::sync::Arc;

use ao_deploy::{
    Approval, ApprovalLog, CodeStore, DeployDir, DeploymentRecord, Driver, ErrorKind, History,
    PromotionPolicy, Runner, Strategy, check_promotion,
};
use ao_env::{Project, SourceFile};
use ao_health::{Format, Registry, Timestamp};
use ao_local::LocalAo;
use ao_transport::AoTransport;
use ao_transport::retry::Clock;
use support::{World, spawn_spec, spec};

/// Two deployments on ao-local into one directory: a success and a smoke-test rollback.
fn real_history() -> (History, tempfile::TempDir) {
    let w = World::new(LocalAo::new());
    let tmp = tempfile::tempdir().unwrap();
    let dir = DeployDir::new(tmp.path().join("dev/world"));
    let v2 = support::v2();
    let bad = support::broken();
    w.code.put_release(&v2).unwrap();
    w.code.put_release(&bad).unwrap();
    let mut blue = w.blue.clone();
    for (id, release, previous) in [("dev-1", &bad, &w.v1), ("dev-2", &v2, &w.v1)] {
        let mut target = w.target();
        target.process = blue.clone();
        let s = spec(
            id,
            release.reference(),
            previous.reference(),
            Strategy::BlueGreen { target, spawn: spawn_spec(), scale_down_delay_ms: 500 },
            w.ao.signer(),
        );
        let now = Timestamp::from_millis(Clock::now(&w.ao).as_millis() as u64);
        let mut session = dir.start(s, "ann", now, 60_000).unwrap();
        let snaps = dir.snapshots();
        let transport: Arc<dyn AoTransport> = Arc::new(w.ao.clone());
        let clock: Arc<dyn Clock> = Arc::new(w.ao.clone());
        let mut d = Driver::new(transport, clock, &w.code, &snaps, &support::NO_MIGRATION)
            .retry_policy(support::fast_retry());
        Runner::new(&mut d)
            .journal(&mut session.journal)
            .run(&mut session.rollout, std::mem::take(&mut session.pending))
            .unwrap();
        if let Some(g) = session.rollout.units()[0].green.as_ref().and_then(|g| g.process.clone())
            && session.rollout.phase() == ao_deploy::Phase::Succeeded
        {
            blue = g;
        }
        dir.finish(session).unwrap();
    }
    let journals: Vec<_> = dir.history().unwrap().into_iter().map(|(_, c)| c).collect();
    (History::from_journals(&journals).unwrap(), tmp)
}

#[test]
fn history_records_steps_durations_results_and_the_failing_step() {
    let (h, _tmp) = real_history();
    let ids: Vec<&str> = h.deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["dev-1", "dev-2"]);
    let failed = &h.deployments[0];
    assert_eq!(failed.result, "rolled-back");
    let f = failed.failing_step.as_ref().unwrap();
    assert_eq!((f.target.as_str(), f.step.as_str()), ("world/0", "smoke green"));
    assert!(failed.steps.iter().any(|s| s.rollback), "rollback steps are recorded");
    assert!(failed.rollback_ms.is_some());
    let ok = &h.deployments[1];
    assert_eq!(
        (ok.result.as_str(), ok.release.as_str(), ok.deployer.as_str()),
        ("succeeded", "arena@2", "ann")
    );
    // The health window (3 s on the virtual clock) and the scale-down delay are in its duration.
    assert!(ok.duration_ms().unwrap() >= 3_500, "{:?}", ok.duration_ms());
    assert!(ok.steps.iter().all(|s| s.finished.unwrap() >= s.started));
    let stats = &h.stats()["dev"];
    assert_eq!((stats.finished, stats.succeeded, stats.rolled_back), (2, 1, 1));
    assert_eq!(stats.success_ratio, Some(0.5));
    assert!(stats.mean_time_to_deploy_s.unwrap() >= 3.5);
    // Every record round-trips through the JSON `ao-ops history --json` prints.
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["deployments"][0]["failing_step"]["step"], "smoke green");
}

fn record(
    id: &str,
    env: &str,
    result: &str,
    started: u64,
    finished: u64,
    failed_at: Option<u64>,
) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        environment: env.into(),
        targets: "world/0".into(),
        strategy: "blue-green".into(),
        release: "arena@2".into(),
        release_hash: "ab".repeat(32),
        previous: "arena@1".into(),
        deployer: "ann".into(),
        started_ms: started,
        finished_ms: Some(finished),
        result: result.into(),
        failing_step: None,
        rollback_ms: failed_at.map(|f| finished - f),
        steps: vec![],
        notes: vec![],
    }
}

fn synthetic() -> History {
    History {
        deployments: vec![
            record("d1", "dev", "succeeded", 0, 4_000, None),
            record("d2", "dev", "rolled-back", 10_000, 13_000, Some(12_000)),
            record("d3", "dev", "succeeded", 20_000, 26_000, None),
            record("s1", "staging", "succeeded", 30_000, 38_000, None),
        ],
    }
}

fn golden(name: &str, text: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&path).unwrap(), "{name} (UPDATE_GOLDEN=1 rewrites it)");
}

#[test]
fn history_figures_are_exported_as_ao_health_metrics() {
    let h = synthetic();
    let stats = h.stats();
    assert_eq!(stats["dev"].success_ratio, Some(2.0 / 3.0));
    assert_eq!(stats["dev"].mean_time_to_deploy_s, Some(5.0));
    assert_eq!(stats["dev"].mean_time_to_rollback_s, Some(1.0));
    let registry = Registry::new();
    h.export(&registry).unwrap();
    let text = registry.encode(Format::Prometheus);
    for family in ao_deploy::HISTORY_FAMILIES {
        assert!(text.contains(&format!("# TYPE {family}")), "{family}");
    }
    golden("history-metrics.prom", &text);
    golden("history.txt", &h.to_string());
}

const BASE: &str = "game = \"arena\"\n[defaults]\nmodule = \"TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk\"\nscheduler = \"dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE\"\n[processes.world]\ntarget = \"arena\"\n";
const PROD: &str = "[environment]\nauthority = \"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM\"\n[environment.approvals]\nrequired = 2\napprovers = [\"alice\", \"bob\", \"carol\"]\n";

fn env(name: &str) -> ao_env::Environment {
    let overlay = if name == "prod" { PROD } else { "" };
    let p = Project::from_sources(
        SourceFile::new("ao-env.toml", BASE, 0),
        vec![(name.into(), SourceFile::new(format!("ao-env.{name}.toml"), overlay, 1))],
        None,
        ".".as_ref(),
    );
    p.environment(name).unwrap()
}

fn refused(e: &ao_deploy::Error) -> Vec<String> {
    match e.kind() {
        ErrorKind::Promotion { reasons, .. } => reasons.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn promotion_gates() {
    let policy = PromotionPolicy {
        order: vec!["dev".into(), "staging".into(), "prod".into()],
        soak_ms: [("staging".to_owned(), 600_000), ("prod".to_owned(), 3_600_000)].into(),
    };
    let hash = "ab".repeat(32);
    let h = synthetic();
    // dev succeeded at 26 s; staging needs 10 min of soak.
    let err = check_promotion(&policy, &h, &[], None, &env("staging"), &hash, 60_000).unwrap_err();
    assert_eq!(refused(&err), ["release abababababab has soaked 34s in dev; staging needs 10m"]);
    let ok = check_promotion(&policy, &h, &[], None, &env("staging"), &hash, 626_000).unwrap();
    assert_eq!((ok.from.as_str(), ok.to.as_str()), ("dev", "staging"));
    // Skipping staging is an error, whatever else holds.
    let err = check_promotion(&policy, &h, &[], Some("dev"), &env("prod"), &hash, 10_000_000).unwrap_err();
    assert_eq!(refused(&err), ["promoting dev -> prod skips staging"]);
    let err = check_promotion(&policy, &h, &[], None, &env("dev"), &hash, 0).unwrap_err();
    assert!(refused(&err)[0].contains("first environment"));
    // Prod: staging succeeded at 38 s; one hour of soak and two approvals from the list.
    let approve = |who: &str, at: u64| Approval {
        environment: "prod".into(),
        release_hash: hash.clone(),
        approver: who.into(),
        at_ms: at,
    };
    let err = check_promotion(
        &policy,
        &h,
        &[approve("alice", 1), approve("mallory", 2)],
        None,
        &env("prod"),
        &hash,
        100_000,
    )
    .unwrap_err();
    let reasons = refused(&err);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0], "release abababababab has soaked 1m 2s in staging; prod needs 1h");
    assert!(
        reasons[1].contains("needs 2 approval(s)") && reasons[1].contains("got [\"alice\"]"),
        "{}",
        reasons[1]
    );
    let other = "cd".repeat(32);
    let err = check_promotion(&policy, &h, &[], None, &env("staging"), &other, 10_000_000).unwrap_err();
    assert_eq!(refused(&err), ["release cdcdcdcdcdcd has not succeeded in dev"]);
    let ok = check_promotion(
        &policy,
        &h,
        &[approve("bob", 3), approve("alice", 1), approve("alice", 4)],
        None,
        &env("prod"),
        &hash,
        3_700_000,
    )
    .unwrap();
    assert_eq!(ok.approvers, ["alice", "bob"]);
}

#[test]
fn approvals_are_recorded_with_who_and_when() {
    let tmp = tempfile::tempdir().unwrap();
    let log = ApprovalLog::new(tmp.path().join("approvals.jsonl"));
    let a = Approval {
        environment: "prod".into(),
        release_hash: "ab".repeat(32),
        approver: "alice".into(),
        at_ms: 5,
    };
    log.record(&a).unwrap();
    log.record(&Approval { approver: "bob".into(), at_ms: 9, ..a.clone() }).unwrap();
    // A torn last line (a crash while appending) is left out, not misread.
    std::fs::OpenOptions::new()
        .append(true)
        .open(tmp.path().join("approvals.jsonl"))
        .unwrap()
        .write_all(b"{\"environ")
        .unwrap();
    let read = log.read().unwrap();
    assert_eq!(
        read.iter().map(|a| (a.approver.as_str(), a.at_ms)).collect::<Vec<_>>(),
        [("alice", 5), ("bob", 9)]
    );
    std::fs::write(tmp.path().join("approvals.jsonl"), "{}\n{}\n").unwrap();
    let err = log.read().unwrap_err().to_string();
    assert!(err.contains("approvals.jsonl:1:") && err.contains("not an approval"), "{err}");
}
