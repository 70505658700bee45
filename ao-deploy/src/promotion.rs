//! Promotion dev → staging → prod, with gates: the release succeeded in the
//! previous environment, has soaked there long enough, and — for protected
//! environments — carries the approvals ao-env's approval model requires,
//! recorded with who and when. Skipping an environment is an error.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ao_env::{Action, Environment, InstanceKey, Plan};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::history::History;

/// The order environments are promoted in, and how long a release must have
/// run successfully in the previous one before it may enter each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionPolicy {
    /// Environments in order (`["dev", "staging", "prod"]`).
    pub order: Vec<String>,
    /// Soak time (ms) required in the previous environment, by environment promoted into.
    #[serde(default)]
    pub soak_ms: BTreeMap<String, u64>,
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The environment it lets the release into.
    pub environment: String,
    /// The release's hash.
    pub release_hash: String,
    /// Who approved.
    pub approver: String,
    /// When (Unix ms).
    pub at_ms: u64,
}

/// Approvals, one JSON object per line, appended and fsynced.
#[derive(Debug, Clone)]
pub struct ApprovalLog {
    path: PathBuf,
}

impl ApprovalLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Records an approval.
    pub fn record(&self, approval: &Approval) -> Result<(), Error> {
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        let mut line = serde_json::to_vec(approval).unwrap_or_default();
        line.push(b'\n');
        f.write_all(&line).and_then(|()| f.sync_data()).map_err(|e| Error::io(&self.path, e))
    }

    /// Every approval, in order. A torn last line (a crash while appending) is
    /// left out; any other bad line is an error naming its line number.
    pub fn read(&self) -> Result<Vec<Approval>, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(a) => out.push(a),
                Err(_) if i + 1 == lines.len() && !complete => {}
                Err(e) => {
                    return Err(Error::new(ErrorKind::Config {
                        file: self.path.display().to_string(),
                        line: i + 1,
                        column: e.column(),
                        path: String::new(),
                        message: format!("not an approval: {e}"),
                    }));
                }
            }
        }
        Ok(out)
    }
}

/// A promotion that passed its gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// From.
    pub from: String,
    /// Into.
    pub to: String,
    /// The release's hash.
    pub release_hash: String,
    /// The approvers that count.
    pub approvers: Vec<String>,
}

/// Checks every gate of promoting `release_hash` into `to` (an ao-env
/// environment) at `now_ms`, and reports every closed gate at once. `from` is
/// the environment it comes from (default: the one before `to` in the order).
pub fn check_promotion(
    policy: &PromotionPolicy,
    history: &History,
    approvals: &[Approval],
    from: Option<&str>,
    to: &Environment,
    release_hash: &str,
    now_ms: u64,
) -> Result<Promotion, Error> {
    let refuse =
        |reasons: Vec<String>| Error::new(ErrorKind::Promotion { environment: to.name.clone(), reasons });
    let Some(i) = policy.order.iter().position(|e| *e == to.name) else {
        return Err(refuse(vec![format!(
            "{} is not in the promotion order ({})",
            to.name,
            policy.order.join(" -> ")
        )]));
    };
    if i == 0 {
        return Err(refuse(vec![format!(
            "{} is the first environment: deploy to it, do not promote",
            to.name
        )]));
    }
    let previous = &policy.order[i - 1];
    if let Some(from) = from
        && from != previous
    {
        let skipped: Vec<&str> = match policy.order.iter().position(|e| e == from) {
            Some(j) if j < i => policy.order[j + 1..i].iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let why = if skipped.is_empty() {
            format!("{} comes after {previous}, not after {from}", to.name)
        } else {
            format!("promoting {from} -> {} skips {}", to.name, skipped.join(", "))
        };
        return Err(refuse(vec![why]));
    }
    let mut reasons = Vec::new();
    let short = &release_hash[..release_hash.len().min(12)];
    match history.last_success(previous, release_hash) {
        None => reasons.push(format!("release {short} has not succeeded in {previous}")),
        Some(d) => {
            let soak = policy.soak_ms.get(&to.name).copied().unwrap_or(0);
            let since = now_ms.saturating_sub(d.finished_ms.unwrap_or(now_ms));
            if since < soak {
                reasons.push(format!(
                    "release {short} has soaked {} in {previous}; {} needs {}",
                    human(since),
                    to.name,
                    human(soak)
                ));
            }
        }
    }
    // ao-env's approval model decides what counts: approvers listed for the
    // environment, distinct, at least `required` of them.
    let names: Vec<String> = approvals
        .iter()
        .filter(|a| a.environment == to.name && a.release_hash == release_hash)
        .map(|a| a.approver.clone())
        .collect();
    let plan = Plan {
        environment: to.name.clone(),
        actions: vec![Action::Eval {
            instance: InstanceKey::new("*", 0),
            process: None,
            bundle_target: "*".into(),
            expected_hash: release_hash.into(),
        }],
    };
    if let Err(e) = ao_env::gate(to, &plan, &names) {
        reasons.push(e.to_string());
    }
    if !reasons.is_empty() {
        return Err(refuse(reasons));
    }
    let mut approvers: Vec<String> =
        names.into_iter().filter(|n| to.approvals.approvers.contains(n)).collect();
    approvers.sort();
    approvers.dedup();
    Ok(Promotion {
        from: previous.clone(),
        to: to.name.clone(),
        release_hash: release_hash.into(),
        approvers,
    })
}

/// `1h 5m`, `30s`, `250ms`.
pub fn human(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = Vec::new();
    if h > 0 {
        out.push(format!("{h}h"));
    }
    if m > 0 {
        out.push(format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push(format!("{s}s"));
    }
    out.join(" ")
}
