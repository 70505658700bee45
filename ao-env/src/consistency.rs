//! Consistency: "staging runs what prod will run". Two environments compared
//! field by field, allowing only the differences they declare.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::desired::Desired;
use crate::drift::ExitCode;
use crate::model::Environment;
use crate::observe::Observation;
use crate::path::FieldPath;
use crate::state::InstanceKey;
use crate::value::{Origin, Value};

/// Top-level tables that describe an environment itself, not the game: never compared.
const OWN: [&str; 3] = ["environment", "sync", "bundle_config"];

/// A field that differs between two environments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDifference {
    /// The field.
    pub path: FieldPath,
    /// Its value in the first environment, and where it was set.
    pub left: Option<(Value, Origin)>,
    /// Its value in the second, and where it was set.
    pub right: Option<(Value, Origin)>,
    /// The `allow.differences` pattern that permits it, if one does.
    pub allowed_by: Option<String>,
}

/// Code that differs: an instance of the first environment runs something else
/// than the second will load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeDifference {
    /// The instance of the first environment.
    pub instance: InstanceKey,
    /// What the second environment will load for that process.
    pub expected: String,
    /// What it runs (`None`: unknown or not running).
    pub found: Option<String>,
}

/// The result of comparing two environments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsistencyReport {
    /// The first environment (typically the one that runs now: staging).
    pub left: String,
    /// The second (the one to be promoted to: prod).
    pub right: String,
    /// Every differing field, allowed or not.
    pub fields: Vec<FieldDifference>,
    /// Code differences found on running processes.
    pub code: Vec<CodeDifference>,
}

impl ConsistencyReport {
    /// The differences nobody declared.
    pub fn disallowed(&self) -> impl Iterator<Item = &FieldDifference> {
        self.fields.iter().filter(|d| d.allowed_by.is_none())
    }

    /// Whether only declared differences exist.
    pub fn is_consistent(&self) -> bool {
        self.disallowed().next().is_none() && self.code.is_empty()
    }

    /// [`ExitCode::Clean`] when consistent, else [`ExitCode::Drift`].
    pub fn exit_code(&self) -> ExitCode {
        if self.is_consistent() { ExitCode::Clean } else { ExitCode::Drift }
    }

    /// Adds the check that every running instance of the left environment runs
    /// the code the right environment will load for the same process.
    #[must_use]
    pub fn with_running(mut self, left: &BTreeMap<InstanceKey, Observation>, right: &Desired) -> Self {
        let want: BTreeMap<&str, &str> =
            right.instances.values().map(|d| (d.instance.process.as_str(), d.code_hash.as_str())).collect();
        for (key, obs) in left {
            let Some(expected) = want.get(key.process.as_str()) else { continue };
            let found = match obs {
                Observation::Running(o) => o.code_hash.clone(),
                _ => None,
            };
            if found.as_deref() != Some(*expected) {
                self.code.push(CodeDifference {
                    instance: key.clone(),
                    expected: (*expected).to_owned(),
                    found,
                });
            }
        }
        self
    }
}

fn side(v: Option<&(Value, Origin)>) -> String {
    v.map_or_else(|| "(unset)".to_owned(), |(v, o)| format!("{v} ({o})"))
}

impl fmt::Display for ConsistencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bad = self.disallowed().count() + self.code.len();
        writeln!(
            f,
            "{} vs {}: {}",
            self.left,
            self.right,
            if bad == 0 { "consistent".to_owned() } else { format!("{bad} undeclared difference(s)") }
        )?;
        for d in &self.fields {
            let mark =
                d.allowed_by.as_ref().map_or_else(|| "differs".to_owned(), |p| format!("allowed by {p}"));
            writeln!(f, "  {} {mark}", d.path)?;
            writeln!(f, "    {}: {}", self.left, side(d.left.as_ref()))?;
            writeln!(f, "    {}: {}", self.right, side(d.right.as_ref()))?;
        }
        for c in &self.code {
            writeln!(
                f,
                "  {} runs {}, {} will load {}",
                c.instance,
                c.found.as_deref().unwrap_or("(unknown)"),
                self.right,
                c.expected
            )?;
        }
        Ok(())
    }
}

/// Compares every game field (not the environment's own `[environment]` and
/// `[sync]`) of `left` and `right`. A difference is allowed when a pattern in
/// either environment's `allow.differences` covers it.
pub fn consistency(left: &Environment, right: &Environment) -> ConsistencyReport {
    let leaves = |e: &Environment| -> BTreeMap<FieldPath, (Value, Origin)> {
        e.merged
            .leaves()
            .filter(|(p, _)| p.first_key().is_some_and(|k| !OWN.contains(&k)))
            .filter_map(|(p, h)| h.last().map(|s| (p.clone(), (s.value.clone(), s.origin.clone()))))
            .collect()
    };
    let (a, b) = (leaves(left), leaves(right));
    let paths: BTreeSet<&FieldPath> = a.keys().chain(b.keys()).collect();
    let mut fields = Vec::new();
    for p in paths {
        let (x, y) = (a.get(p), b.get(p));
        if x.map(|(v, _)| v) == y.map(|(v, _)| v) {
            continue;
        }
        let allowed_by = left
            .allow
            .differences
            .iter()
            .chain(&right.allow.differences)
            .find(|pat| pat.covers(p))
            .map(|pat| pat.as_str().to_owned());
        fields.push(FieldDifference { path: p.clone(), left: x.cloned(), right: y.cloned(), allowed_by });
    }
    ConsistencyReport { left: left.name.clone(), right: right.name.clone(), fields, code: Vec::new() }
}
