//! Model-based tests of the plan core: random dependency graphs, random part
//! outcomes, parts finishing in random order.

use std::collections::{BTreeMap, BTreeSet};

use ao_deploy::{NodeState, PlanAction, PlanEvent, PlanNode, PlanPhase, PlanRun};
use proptest::prelude::*;

fn graphs() -> impl Strategy<Value = (Vec<PlanNode>, Vec<u8>, Vec<u8>)> {
    (1usize..8).prop_flat_map(|n| {
        let deps = proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n);
        (deps, proptest::collection::vec(any::<u8>(), n), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(move |(m, outcomes, order)| {
                let nodes = (0..n)
                    .map(|i| PlanNode {
                        name: format!("p{i}"),
                        depends_on: (0..i).filter(|&j| m[i][j]).map(|j| format!("p{j}")).collect(),
                    })
                    .collect();
                (nodes, outcomes, order)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_respect_dependencies_and_roll_back_in_reverse((nodes, outcomes, order) in graphs()) {
        let mut plan = PlanRun::new(&nodes).unwrap();
        let deps: BTreeMap<String, Vec<String>> = nodes.iter().map(|n| (n.name.clone(), n.depends_on.clone())).collect();
        let fails = |name: &str| outcomes[name[1..].parse::<usize>().unwrap()] % 4 == 0;
        let mut verified_order = Vec::new();
        let mut verified = BTreeSet::new();
        let mut aborted = Vec::new();
        let mut failed = false;
        let mut busy: Vec<PlanAction> = Vec::new();
        let mut pick = order.into_iter().cycle();
        for _ in 0..200 {
            let actions = plan.poll_actions();
            // Parts whose dependencies are verified start in the same poll: in parallel.
            let waiting_ready: Vec<_> = plan.states().iter().filter(|(n, s)| **s == &NodeState::Waiting && deps[**n].iter().all(|d| verified.contains(d))).map(|(n, _)| n.to_string()).collect();
            prop_assert!(failed || waiting_ready.is_empty(), "ready parts left waiting: {waiting_ready:?}");
            for a in actions {
                match &a {
                    PlanAction::Start(n) => {
                        prop_assert!(!failed, "start after a failure");
                        prop_assert!(deps[n].iter().all(|d| verified.contains(d)), "{n} started before its dependencies");
                    }
                    PlanAction::Finalize(_) => prop_assert_eq!(verified.len(), nodes.len(), "finalize before every part verified"),
                    PlanAction::Abort(n) => {
                        prop_assert!(failed, "abort without a failure");
                        aborted.push(n.clone());
                        // Still running: the driver aborts it when it stops (below).
                        if busy.contains(&PlanAction::Start(n.clone())) {
                            continue;
                        }
                    }
                }
                busy.push(a);
            }
            if busy.is_empty() {
                break;
            }
            // Some busy part finishes.
            let i = usize::from(pick.next().unwrap_or(0)) % busy.len();
            let event = match busy.remove(i) {
                // The plan aborted it while it ran: when it stops, the driver aborts it.
                PlanAction::Start(n) if plan.states()[n.as_str()] == &NodeState::Aborting && !fails(&n) => {
                    busy.push(PlanAction::Abort(n));
                    continue;
                }
                PlanAction::Start(n) if fails(&n) => { failed = true; PlanEvent::Failed { node: n, reason: "x".into(), rollback_failed: false } }
                PlanAction::Start(n) => { verified.insert(n.clone()); verified_order.push(n.clone()); PlanEvent::Verified(n) }
                PlanAction::Finalize(n) => PlanEvent::Finalized(n),
                PlanAction::Abort(n) => PlanEvent::Aborted { node: n, ok: true },
            };
            plan.handle(event).unwrap();
        }
        prop_assert!(plan.is_terminal(), "{:?} {:?}", plan.phase(), plan.states());
        if failed {
            prop_assert_eq!(plan.phase(), PlanPhase::RolledBack);
            // Every verified part was aborted, the last verified first.
            let verified_aborts: Vec<&String> = aborted.iter().filter(|n| verified_order.contains(n)).collect();
            let expected: Vec<&String> = verified_order.iter().rev().collect();
            prop_assert_eq!(verified_aborts, expected);
            prop_assert!(plan.states().values().all(|s| matches!(s, NodeState::RolledBack | NodeState::Skipped)));
        } else {
            prop_assert_eq!(plan.phase(), PlanPhase::Succeeded);
            prop_assert!(aborted.is_empty());
        }
    }
}
