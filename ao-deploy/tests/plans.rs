//! A multi-process plan on ao-local: a registry before two shards; the shards
//! in parallel; a failing shard rolls the done parts back in reverse order.

mod support;

use std::collections::BTreeMap;

use ao_deploy::{
    CodeStore, Finalize, MemorySnapshots, NodeState, Phase, PlanNode, PlanPart, PlanPhase, PlanRun, Release,
    Rollout, Strategy, Target, run_plan,
};
use ao_health::Timestamp;
use ao_local::LocalAo;
use support::{driver, info, install, spec};

fn plan(
    bad_shard: Option<usize>,
) -> (PlanRun, BTreeMap<String, Rollout>, LocalAo, BTreeMap<String, ao_transport::ProcessId>, Release, Release)
{
    let ao = LocalAo::new();
    let v1 = support::v1();
    let v2 = support::v2();
    let bad = support::broken();
    let code = ao_deploy::MemoryCodeStore::new();
    for r in [&v1, &v2, &bad] {
        code.put_release(r).unwrap();
    }
    let names = ["registry", "world-0", "world-1"];
    let mut parts = BTreeMap::new();
    let mut blues = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let (blue, router) = install(&ao, &v1, true);
        blues.insert((*name).to_owned(), blue.clone());
        let release = if bad_shard == Some(i) { &bad } else { &v2 };
        let target = Target { name: format!("{name}/0"), process: blue, router };
        let mut s = spec(
            &format!("plan-{name}"),
            release.reference(),
            v1.reference(),
            Strategy::InPlace { target },
            ao.signer(),
        );
        s.finalize = Finalize::Manual;
        let mut rollout = Rollout::new(s, Timestamp::from_millis(0)).unwrap();
        let pending = rollout.drain_actions();
        parts.insert((*name).to_owned(), PlanPart { rollout, pending, journal: None });
    }
    let nodes = [
        PlanNode { name: "registry".into(), depends_on: vec![] },
        PlanNode { name: "world-0".into(), depends_on: vec!["registry".into()] },
        PlanNode { name: "world-1".into(), depends_on: vec!["registry".into()] },
    ];
    let snaps = MemorySnapshots::default();
    let (plan, rollouts) = run_plan(PlanRun::new(&nodes).unwrap(), parts, |_| {
        driver(&ao, &code, &snaps, &support::NO_MIGRATION)
    })
    .unwrap();
    (plan, rollouts, ao, blues, v1, v2)
}

#[test]
fn a_plan_deploys_the_registry_first_then_the_shards_together() {
    let (plan, rollouts, ao, blues, _, v2) = plan(None);
    assert_eq!(plan.phase(), PlanPhase::Succeeded, "{:?}", plan.log());
    assert_eq!(&plan.log()[..2], ["start registry", "verified registry"]);
    assert_eq!(&plan.log()[2..4], ["start world-0", "start world-1"], "independent parts start together");
    assert!(rollouts.values().all(|r| r.phase() == Phase::Succeeded));
    for blue in blues.values() {
        assert_eq!(info(&ao, blue)["release"], v2.reference().hash.as_str());
    }
    // No part finalized before every part was verified.
    let first_finalize = plan.log().iter().position(|l| l.starts_with("finalize")).unwrap();
    assert_eq!(plan.log()[..first_finalize].iter().filter(|l| l.starts_with("verified")).count(), 3);
}

#[test]
fn a_failing_shard_rolls_the_done_parts_back_in_reverse_order() {
    let (plan, rollouts, ao, blues, v1, _) = plan(Some(2));
    assert_eq!(plan.phase(), PlanPhase::RolledBack, "{:?}", plan.log());
    assert!(plan.failure().unwrap().starts_with("world-1: world-1/0 smoke blue"), "{:?}", plan.failure());
    assert!(plan.states().values().all(|s| **s == NodeState::RolledBack));
    for (name, blue) in &blues {
        assert_eq!(info(&ao, blue)["release"], v1.reference().hash.as_str(), "{name}");
        assert_eq!(rollouts[name].phase(), Phase::RolledBack, "{name}");
    }
    // world-0 (verified last, or aborted while running) goes back before the registry.
    let aborts: Vec<&String> = plan.log().iter().filter(|l| l.starts_with("abort")).collect();
    assert_eq!(aborts.last().map(|s| s.as_str()), Some("abort registry"), "{:?}", plan.log());
    assert!(aborts.iter().any(|a| *a == "abort world-0"));
}
