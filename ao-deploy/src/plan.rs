//! Multi-process plans: rollouts in a dependency graph (a registry before the
//! shards that call it). A sans-IO core ([`PlanRun`]) decides what starts,
//! finalizes or aborts; [`run_plan`] drives the parts' rollouts, independent
//! parts in parallel threads.
//!
//! Every part runs with [`Finalize::Manual`](crate::Finalize::Manual): it stops
//! once verified (smoke tests and health window passed) with its previous
//! release still at hand. A part starts when everything it depends on is
//! verified. When all parts are verified, all are finalized. When a part fails
//! (it rolls itself back), nothing new starts, parts still running are
//! aborted, and the verified parts are aborted one at a time in the reverse
//! order they were verified.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::driver::Driver;
use crate::error::{Error, ErrorKind};
use crate::rollout::{Action, Command, Phase, Rollout};
use crate::runner::{QueuedCommands, Runner, Stop};

/// One part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanNode {
    /// Its name (`registry`, `world/0`).
    pub name: String,
    /// Parts that must be verified before it starts.
    pub depends_on: Vec<String>,
}

/// Where a part stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    /// Not started.
    Waiting,
    /// Its rollout runs.
    Running,
    /// Verified, waiting to be finalized (or aborted).
    Verified,
    /// Being finalized.
    Finalizing,
    /// Finalized: the new release serves for good.
    Done,
    /// Being aborted (rolled back) by the plan.
    Aborting,
    /// Rolled back (by itself on failure, or by the plan).
    RolledBack,
    /// Its rollback failed.
    RollbackFailed,
    /// Never started because the plan failed first.
    Skipped,
}

/// What the plan asks the driver to do with a part's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanAction {
    /// Start it.
    Start(String),
    /// Let it finish (send `Finalize`).
    Finalize(String),
    /// Roll it back (send `Abort`).
    Abort(String),
}

/// What happened to a part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanEvent {
    /// It passed everything and waits for finalize.
    Verified(String),
    /// It failed and rolled itself back (or its rollback failed: `rollback_failed`).
    Failed {
        /// The part.
        node: String,
        /// Why.
        reason: String,
        /// Whether its own rollback failed too.
        rollback_failed: bool,
    },
    /// It was finalized.
    Finalized(String),
    /// The plan's abort rolled it back (`ok = false`: the rollback failed).
    Aborted {
        /// The part.
        node: String,
        /// Whether the rollback succeeded.
        ok: bool,
    },
}

/// The plan's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanPhase {
    /// Parts are running.
    Running,
    /// Every part verified; finalizing.
    Finalizing,
    /// A part failed; undoing the others.
    RollingBack,
    /// Every part finalized.
    Succeeded,
    /// Every part is back on its previous release.
    RolledBack,
    /// A rollback failed: an operator must look.
    RollbackFailed,
}

/// The sans-IO plan core.
#[derive(Debug, Clone)]
pub struct PlanRun {
    nodes: BTreeMap<String, (Vec<String>, NodeState)>,
    order: Vec<String>,
    verified: Vec<String>,
    failure: Option<String>,
    log: Vec<String>,
}

impl PlanRun {
    /// A plan of `nodes`: names unique, dependencies known, no cycle.
    pub fn new(nodes: &[PlanNode]) -> Result<Self, Error> {
        let plan_err = |m: String| Error::new(ErrorKind::Plan(m));
        let mut map = BTreeMap::new();
        for n in nodes {
            if map.insert(n.name.clone(), (n.depends_on.clone(), NodeState::Waiting)).is_some() {
                return Err(plan_err(format!("part {} appears twice", n.name)));
            }
        }
        for n in nodes {
            for d in &n.depends_on {
                if !map.contains_key(d) {
                    return Err(plan_err(format!("part {} depends on unknown part {d}", n.name)));
                }
            }
        }
        // Kahn's algorithm: a topological order, or the parts on a cycle.
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        while order.len() < nodes.len() {
            let ready: Vec<&PlanNode> = nodes
                .iter()
                .filter(|n| !done.contains(&n.name) && n.depends_on.iter().all(|d| done.contains(d)))
                .collect();
            if ready.is_empty() {
                let stuck: Vec<&str> =
                    nodes.iter().filter(|n| !done.contains(&n.name)).map(|n| n.name.as_str()).collect();
                return Err(plan_err(format!("dependency cycle among {}", stuck.join(", "))));
            }
            for n in ready {
                done.insert(n.name.clone());
                order.push(n.name.clone());
            }
        }
        Ok(Self { nodes: map, order, verified: Vec::new(), failure: None, log: Vec::new() })
    }

    /// A topological order of the parts.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Each part's state.
    pub fn states(&self) -> BTreeMap<&str, &NodeState> {
        self.nodes.iter().map(|(k, (_, s))| (k.as_str(), s)).collect()
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// What the plan did, in order (`start registry`, `verified registry`, ...).
    pub fn log(&self) -> &[String] {
        &self.log
    }

    fn state(&self, n: &str) -> &NodeState {
        &self.nodes[n].1
    }

    fn set(&mut self, n: &str, s: NodeState) {
        if let Some(e) = self.nodes.get_mut(n) {
            e.1 = s;
        }
    }

    /// Where the plan stands.
    pub fn phase(&self) -> PlanPhase {
        let states: Vec<&NodeState> = self.nodes.values().map(|(_, s)| s).collect();
        let busy = states
            .iter()
            .any(|s| matches!(s, NodeState::Running | NodeState::Aborting | NodeState::Finalizing));
        if self.failure.is_some() {
            if busy || states.iter().any(|s| **s == NodeState::Verified) {
                return PlanPhase::RollingBack;
            }
            if states.iter().any(|s| **s == NodeState::RollbackFailed) {
                return PlanPhase::RollbackFailed;
            }
            return PlanPhase::RolledBack;
        }
        if states.iter().all(|s| **s == NodeState::Done) {
            return PlanPhase::Succeeded;
        }
        if states.iter().all(|s| matches!(s, NodeState::Verified | NodeState::Finalizing | NodeState::Done)) {
            return PlanPhase::Finalizing;
        }
        PlanPhase::Running
    }

    /// Whether the plan has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase(), PlanPhase::Succeeded | PlanPhase::RolledBack | PlanPhase::RollbackFailed)
    }

    /// What to do now. Call after [`new`](Self::new) and after every [`handle`](Self::handle).
    #[must_use]
    pub fn poll_actions(&mut self) -> Vec<PlanAction> {
        let mut out = Vec::new();
        if self.failure.is_some() {
            // Nothing new starts; running parts are stopped; verified parts
            // roll back one at a time, the last verified first.
            for name in self.order.clone() {
                if *self.state(&name) == NodeState::Waiting {
                    self.set(&name, NodeState::Skipped);
                }
                if *self.state(&name) == NodeState::Running {
                    self.set(&name, NodeState::Aborting);
                    out.push(PlanAction::Abort(name));
                }
            }
            let busy = self
                .nodes
                .values()
                .any(|(_, s)| matches!(s, NodeState::Running | NodeState::Aborting | NodeState::Finalizing));
            if !busy
                && let Some(last) =
                    self.verified.iter().rev().find(|n| *self.state(n) == NodeState::Verified).cloned()
            {
                self.set(&last, NodeState::Aborting);
                out.push(PlanAction::Abort(last));
            }
        } else if self.phase() == PlanPhase::Finalizing {
            for name in self.order.clone() {
                if *self.state(&name) == NodeState::Verified {
                    self.set(&name, NodeState::Finalizing);
                    out.push(PlanAction::Finalize(name));
                }
            }
        } else {
            for name in self.order.clone() {
                let (deps, state) = &self.nodes[&name];
                if *state == NodeState::Waiting && deps.iter().all(|d| *self.state(d) == NodeState::Verified)
                {
                    self.set(&name, NodeState::Running);
                    out.push(PlanAction::Start(name));
                }
            }
        }
        for a in &out {
            self.log.push(match a {
                PlanAction::Start(n) => format!("start {n}"),
                PlanAction::Finalize(n) => format!("finalize {n}"),
                PlanAction::Abort(n) => format!("abort {n}"),
            });
        }
        out
    }

    /// Feeds what happened to a part.
    pub fn handle(&mut self, event: PlanEvent) -> Result<(), Error> {
        let (name, expected): (&str, &[NodeState]) = match &event {
            PlanEvent::Verified(n) => (n, &[NodeState::Running]),
            PlanEvent::Failed { node, .. } => {
                (node, &[NodeState::Running, NodeState::Aborting, NodeState::Finalizing])
            }
            PlanEvent::Finalized(n) => (n, &[NodeState::Finalizing]),
            PlanEvent::Aborted { node, .. } => (node, &[NodeState::Aborting]),
        };
        let state = self
            .nodes
            .get(name)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| Error::misuse(format!("no part {name}")))?;
        if !expected.contains(&state) {
            return Err(Error::misuse(format!("{event:?} for part {name}, which is {state:?}")));
        }
        match event {
            PlanEvent::Verified(n) => {
                self.log.push(format!("verified {n}"));
                // A part verified after the plan failed is rolled back with the rest.
                self.set(&n, NodeState::Verified);
                self.verified.push(n);
            }
            PlanEvent::Failed { node, reason, rollback_failed } => {
                self.log.push(format!("failed {node}: {reason}"));
                self.set(
                    &node,
                    if rollback_failed { NodeState::RollbackFailed } else { NodeState::RolledBack },
                );
                if self.failure.is_none() {
                    self.failure = Some(format!("{node}: {reason}"));
                }
            }
            PlanEvent::Finalized(n) => {
                self.log.push(format!("finalized {n}"));
                self.set(&n, NodeState::Done);
            }
            PlanEvent::Aborted { node, ok } => {
                self.log.push(format!("rolled back {node}{}", if ok { "" } else { " (rollback failed)" }));
                self.set(&node, if ok { NodeState::RolledBack } else { NodeState::RollbackFailed });
            }
        }
        Ok(())
    }
}

/// One part's rollout, ready to run: built with `Finalize::Manual`.
#[derive(Debug)]
pub struct PlanPart {
    /// The rollout.
    pub rollout: Rollout,
    /// Its first actions (`drain_actions` after `new`, or the in-flight ones after a resume).
    pub pending: Vec<Action>,
    /// Its journal, if it keeps one.
    pub journal: Option<crate::journal::Journal>,
}

fn event_of(name: &str, rollout: &Rollout, stop: &Stop, aborting: bool) -> PlanEvent {
    let reason = || rollout.failure().map_or_else(|| "failed".to_owned(), ToString::to_string);
    match stop {
        Stop::AwaitingFinalize => PlanEvent::Verified(name.into()),
        Stop::Finished(Phase::Succeeded) => PlanEvent::Finalized(name.into()),
        Stop::Finished(Phase::RolledBack) if aborting => PlanEvent::Aborted { node: name.into(), ok: true },
        Stop::Finished(Phase::RollbackFailed) if aborting => {
            PlanEvent::Aborted { node: name.into(), ok: false }
        }
        Stop::Finished(Phase::RollbackFailed) => {
            PlanEvent::Failed { node: name.into(), reason: reason(), rollback_failed: true }
        }
        _ => PlanEvent::Failed { node: name.into(), reason: reason(), rollback_failed: false },
    }
}

/// Runs a plan: parts whose dependencies are verified start together, each in
/// its own thread with a driver from `driver`; finalize and abort as the core
/// says. Returns the plan and the parts' rollouts as they ended.
pub fn run_plan<'a, F>(
    mut plan: PlanRun,
    mut parts: BTreeMap<String, PlanPart>,
    driver: F,
) -> Result<(PlanRun, BTreeMap<String, Rollout>), Error>
where
    F: Fn(&str) -> Driver<'a> + Sync,
{
    for name in plan.order() {
        let part = parts
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::Plan(format!("no rollout for part {name}"))))?;
        if part.rollout.spec().finalize != crate::spec::Finalize::Manual {
            return Err(Error::new(ErrorKind::Plan(format!("part {name} must finalize manually"))));
        }
    }
    let mut done = BTreeMap::new();
    std::thread::scope(|scope| -> Result<(), Error> {
        let (tx, rx) = std::sync::mpsc::channel::<(String, PlanPart, Result<Stop, Error>, bool)>();
        let mut busy = 0usize;
        // Parts the plan aborted while their rollout was running: aborted when it stops.
        let mut abort_when_idle = BTreeSet::new();
        let driver = &driver;
        let spawn = |name: String, mut part: PlanPart, command: Option<Command>, aborting: bool| {
            let tx = tx.clone();
            scope.spawn(move || {
                let mut d = driver(&name);
                let mut control = QueuedCommands(command.into_iter().collect());
                let pending = std::mem::take(&mut part.pending);
                let PlanPart { rollout, journal, .. } = &mut part;
                let mut runner = Runner::new(&mut d).control(&mut control);
                if let Some(j) = journal.as_mut() {
                    runner = runner.journal(j);
                }
                let result = runner.run(rollout, pending).map(|r| r.stop);
                let _ = tx.send((name, part, result, aborting));
            });
        };
        loop {
            for action in plan.poll_actions() {
                let (name, command, aborting) = match action {
                    PlanAction::Start(n) => (n, None, false),
                    PlanAction::Finalize(n) => (n, Some(Command::Finalize), false),
                    PlanAction::Abort(n) => (n, Some(Command::Abort), true),
                };
                match parts.remove(&name) {
                    Some(part) => {
                        busy += 1;
                        spawn(name, part, command, aborting);
                    }
                    None if aborting => {
                        abort_when_idle.insert(name);
                    }
                    None => return Err(Error::misuse(format!("part {name} is not idle"))),
                }
            }
            if busy == 0 {
                return Ok(());
            }
            let (name, mut part, result, aborting) =
                rx.recv().map_err(|_| Error::misuse("a plan part's thread died"))?;
            busy -= 1;
            let aborting = aborting || abort_when_idle.contains(&name);
            let event = match result {
                Ok(_) if abort_when_idle.remove(&name) && !part.rollout.is_terminal() => {
                    part.pending = part.rollout.drain_actions();
                    busy += 1;
                    spawn(name, part, Some(Command::Abort), true);
                    continue;
                }
                Ok(stop) => event_of(&name, &part.rollout, &stop, aborting),
                Err(_) if aborting => PlanEvent::Aborted { node: name.clone(), ok: false },
                Err(e) => {
                    PlanEvent::Failed { node: name.clone(), reason: e.to_string(), rollback_failed: true }
                }
            };
            plan.handle(event)?;
            part.pending = part.rollout.drain_actions();
            if part.rollout.is_terminal() {
                done.insert(name, part.rollout);
            } else {
                parts.insert(name, part);
            }
        }
    })?;
    for (name, part) in parts {
        done.insert(name, part.rollout);
    }
    Ok((plan, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, deps: &[&str]) -> PlanNode {
        PlanNode { name: name.into(), depends_on: deps.iter().map(|d| (*d).to_owned()).collect() }
    }

    #[test]
    fn malformed_plans_are_refused() {
        let cases = [
            (vec![node("a", &[]), node("a", &[])], "part a appears twice"),
            (vec![node("a", &["b"])], "part a depends on unknown part b"),
            (vec![node("a", &["b"]), node("b", &["a"]), node("c", &[])], "dependency cycle among a, b"),
        ];
        for (nodes, expected) in cases {
            assert_eq!(PlanRun::new(&nodes).unwrap_err().to_string(), format!("plan: {expected}"));
        }
    }

    #[test]
    fn failure_rolls_verified_parts_back_in_reverse() {
        let mut p = PlanRun::new(&[
            node("reg", &[]),
            node("a", &["reg"]),
            node("b", &["reg"]),
            node("c", &["a", "b"]),
        ])
        .unwrap();
        assert_eq!(p.poll_actions(), [PlanAction::Start("reg".into())]);
        p.handle(PlanEvent::Verified("reg".into())).unwrap();
        assert_eq!(p.poll_actions(), [PlanAction::Start("a".into()), PlanAction::Start("b".into())]);
        p.handle(PlanEvent::Verified("b".into())).unwrap();
        assert_eq!(p.poll_actions(), []);
        p.handle(PlanEvent::Verified("a".into())).unwrap();
        assert_eq!(p.poll_actions(), [PlanAction::Start("c".into())]);
        p.handle(PlanEvent::Failed { node: "c".into(), reason: "smoke".into(), rollback_failed: false })
            .unwrap();
        // Reverse order of verification: a, then b, then reg.
        for expected in ["a", "b", "reg"] {
            assert_eq!(p.poll_actions(), [PlanAction::Abort(expected.into())]);
            assert_eq!(p.phase(), PlanPhase::RollingBack);
            p.handle(PlanEvent::Aborted { node: expected.into(), ok: true }).unwrap();
        }
        assert_eq!(p.poll_actions(), []);
        assert_eq!(p.phase(), PlanPhase::RolledBack);
        assert!(p.handle(PlanEvent::Verified("c".into())).is_err());
    }
}
