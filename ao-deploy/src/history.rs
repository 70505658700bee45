//! Deployment history: every finished rollout's steps, durations, result and
//! failing step, read back from its journal; success rate per environment and
//! the mean times to deploy and to roll back, exported as ao-health metrics.

use std::collections::BTreeMap;
use std::fmt;

use ao_health::Registry;
use serde::Serialize;

use crate::error::Error;
use crate::journal::{Contents, Record};
use crate::rollout::{Failure, Phase, Rollout, StepRecord};

/// Names of the metric families [`History::export`] registers.
pub const HISTORY_FAMILIES: &[&str] = &[
    "ao_deploy_deployments",
    "ao_deploy_success_ratio",
    "ao_deploy_mean_time_to_deploy_seconds",
    "ao_deploy_mean_time_to_rollback_seconds",
    "ao_deploy_last_duration_seconds",
];

/// One deployment as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRecord {
    /// The rollout id.
    pub id: String,
    /// The environment.
    pub environment: String,
    /// The serving positions, comma separated.
    pub targets: String,
    /// The strategy.
    pub strategy: String,
    /// `target@version` rolled out.
    pub release: String,
    /// Its hash.
    pub release_hash: String,
    /// `target@version` it replaced.
    pub previous: String,
    /// Who ran it (the last lease holder).
    pub deployer: String,
    /// When it started (ms, the deployer's clock).
    pub started_ms: u64,
    /// When it ended, if it has.
    pub finished_ms: Option<u64>,
    /// `succeeded`, `partial`, `rolled-back`, `rollback-failed`, or the phase it is in.
    pub result: String,
    /// The step that failed and why.
    pub failing_step: Option<Failure>,
    /// Time from the failure to the end of the rollback.
    pub rollback_ms: Option<u64>,
    /// Every step.
    pub steps: Vec<StepRecord>,
    /// Notes (warnings, driver notes, takeovers).
    pub notes: Vec<String>,
}

impl DeploymentRecord {
    /// Rebuilds the record of a journal by replaying it.
    pub fn from_journal(contents: &Contents) -> Result<Self, Error> {
        let (spec, started, _) =
            contents.begin().ok_or_else(|| Error::misuse("a journal without a Begin record"))?;
        let (rollout, _) = Rollout::replay(spec.clone(), started, &contents.events())?;
        let mut notes: Vec<String> = rollout.warnings().to_vec();
        for r in &contents.records {
            match r {
                Record::Note { text, .. } => notes.push(text.clone()),
                Record::Takeover { from, to, .. } => {
                    notes.push(format!("{to} took the rollout over from {from}"));
                }
                _ => {}
            }
        }
        let phase = rollout.phase();
        let rollback_ms = match (rollout.failed_at(), rollout.finished()) {
            (Some(f), Some(e)) if phase == Phase::RolledBack => {
                Some(e.as_millis().saturating_sub(f.as_millis()))
            }
            _ => None,
        };
        Ok(Self {
            id: spec.id.clone(),
            environment: spec.environment.clone(),
            targets: spec.strategy.targets().iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(","),
            strategy: spec.strategy.name().into(),
            release: format!("{}@{}", spec.release.target, spec.release.version),
            release_hash: spec.release.hash.clone(),
            previous: format!("{}@{}", spec.previous.target, spec.previous.version),
            deployer: contents.holder().unwrap_or_default().into(),
            started_ms: started.as_millis(),
            finished_ms: rollout.finished().map(ao_health::Timestamp::as_millis),
            result: phase.name().into(),
            failing_step: rollout.failure().cloned(),
            rollback_ms,
            steps: rollout.steps().to_vec(),
            notes,
        })
    }

    /// Duration, if it has ended.
    pub fn duration_ms(&self) -> Option<u64> {
        self.finished_ms.map(|f| f.saturating_sub(self.started_ms))
    }

    /// Whether it succeeded.
    pub fn succeeded(&self) -> bool {
        self.result == "succeeded"
    }
}

/// Summary figures of one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentStats {
    /// Deployments that ended.
    pub finished: u64,
    /// Of which succeeded.
    pub succeeded: u64,
    /// Of which rolled back (partial rolling updates included).
    pub rolled_back: u64,
    /// Of which failed to roll back.
    pub rollback_failed: u64,
    /// succeeded / finished.
    pub success_ratio: Option<f64>,
    /// Mean duration of the successful ones, seconds.
    pub mean_time_to_deploy_s: Option<f64>,
    /// Mean time from failure to the end of the rollback, seconds.
    pub mean_time_to_rollback_s: Option<f64>,
}

/// Every deployment, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// The records.
    pub deployments: Vec<DeploymentRecord>,
}

fn mean(v: &[u64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0)
}

impl History {
    /// The history of journals (finished or not).
    pub fn from_journals<'c>(journals: impl IntoIterator<Item = &'c Contents>) -> Result<Self, Error> {
        let mut deployments =
            journals.into_iter().map(DeploymentRecord::from_journal).collect::<Result<Vec<_>, _>>()?;
        deployments.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
        Ok(Self { deployments })
    }

    /// Figures per environment.
    pub fn stats(&self) -> BTreeMap<String, EnvironmentStats> {
        let mut by_env: BTreeMap<String, Vec<&DeploymentRecord>> = BTreeMap::new();
        for d in &self.deployments {
            by_env.entry(d.environment.clone()).or_default().push(d);
        }
        by_env
            .into_iter()
            .map(|(env, ds)| {
                let finished: Vec<&&DeploymentRecord> =
                    ds.iter().filter(|d| d.finished_ms.is_some()).collect();
                let count = |r: &str| finished.iter().filter(|d| d.result == r).count() as u64;
                let succeeded = count("succeeded");
                let durations: Vec<u64> =
                    finished.iter().filter(|d| d.succeeded()).filter_map(|d| d.duration_ms()).collect();
                let rollbacks: Vec<u64> = finished.iter().filter_map(|d| d.rollback_ms).collect();
                let n = finished.len() as u64;
                let stats = EnvironmentStats {
                    finished: n,
                    succeeded,
                    rolled_back: count("rolled-back") + count("partial"),
                    rollback_failed: count("rollback-failed"),
                    success_ratio: (n > 0).then(|| succeeded as f64 / n as f64),
                    mean_time_to_deploy_s: mean(&durations),
                    mean_time_to_rollback_s: mean(&rollbacks),
                };
                (env, stats)
            })
            .collect()
    }

    /// The last successful deployment of `release_hash` in `environment`.
    pub fn last_success(&self, environment: &str, release_hash: &str) -> Option<&DeploymentRecord> {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.environment == environment && d.release_hash == release_hash && d.succeeded())
    }

    /// Registers the history's figures in `registry` (families in [`HISTORY_FAMILIES`]).
    pub fn export(&self, registry: &Registry) -> Result<(), Error> {
        let metric = |e: ao_health::Error| Error::protocol("exporting history metrics", e.to_string());
        let total = registry
            .counter_family(
                "ao_deploy_deployments",
                "Deployments that ended, by environment and result.",
                &["environment", "result"],
            )
            .map_err(metric)?;
        let ratio = registry
            .gauge_family("ao_deploy_success_ratio", "Share of deployments that succeeded.", &["environment"])
            .map_err(metric)?;
        let mttd = registry
            .gauge_family(
                "ao_deploy_mean_time_to_deploy_seconds",
                "Mean duration of successful deployments.",
                &["environment"],
            )
            .map_err(metric)?;
        let mttr = registry
            .gauge_family(
                "ao_deploy_mean_time_to_rollback_seconds",
                "Mean time from a failure to the end of its rollback.",
                &["environment"],
            )
            .map_err(metric)?;
        let last = registry
            .gauge_family(
                "ao_deploy_last_duration_seconds",
                "Duration of the last deployment of each target.",
                &["environment", "targets"],
            )
            .map_err(metric)?;
        for (env, s) in self.stats() {
            for (result, n) in [
                ("succeeded", s.succeeded),
                ("rolled-back", s.rolled_back),
                ("rollback-failed", s.rollback_failed),
            ] {
                total.with(&[&env, result]).absorb_total(n);
            }
            if let Some(r) = s.success_ratio {
                ratio.with(&[&env]).set(r);
            }
            if let Some(m) = s.mean_time_to_deploy_s {
                mttd.with(&[&env]).set(m);
            }
            if let Some(m) = s.mean_time_to_rollback_s {
                mttr.with(&[&env]).set(m);
            }
        }
        for d in &self.deployments {
            if let Some(ms) = d.duration_ms() {
                last.with(&[&d.environment, &d.targets]).set(ms as f64 / 1000.0);
            }
        }
        Ok(())
    }
}

impl fmt::Display for History {
    /// One line per deployment, then the failing step, then figures per environment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.deployments {
            let duration =
                d.duration_ms().map_or_else(|| "-".to_owned(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
            writeln!(
                f,
                "{:<24} {:<8} {:<10} {:<18} {} -> {}  {} ({} steps, by {})",
                d.id,
                d.environment,
                d.strategy,
                d.result,
                d.previous,
                d.release,
                duration,
                d.steps.len(),
                d.deployer
            )?;
            if let Some(fail) = &d.failing_step {
                writeln!(f, "    failed at {fail}")?;
            }
        }
        for (env, s) in self.stats() {
            let pct = s.success_ratio.map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0));
            let secs = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"));
            writeln!(
                f,
                "{env}: {} finished, {pct} succeeded, mean time to deploy {}, to roll back {}",
                s.finished,
                secs(s.mean_time_to_deploy_s),
                secs(s.mean_time_to_rollback_s)
            )?;
        }
        Ok(())
    }
}
