//! Sync: copy the game config (`[processes]`) of one environment into another's
//! overlay, with the rewrites the target declares in `[sync.<from>]`.
//!
//! Only `processes` is copied, never `[environment]`: authority, wallet,
//! approvals and secrets stay the target's own. Process config cannot hold
//! secrets (the schema refuses references there), so none can travel.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::merge::Merged;
use crate::model::Rewrite;
use crate::path::{FieldPath, Segment};
use crate::project::Project;
use crate::value::{SourceFile, Value, to_toml_document};

/// One field the sync changes in the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncChange {
    /// The field.
    pub path: FieldPath,
    /// The target's value before.
    pub old: Option<Value>,
    /// After.
    pub new: Option<Value>,
}

/// A sync's result: the target's new overlay, and what changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncOutcome {
    /// Copied from.
    pub from: String,
    /// Copied to.
    pub to: String,
    /// The target's new overlay file, as TOML.
    pub overlay: String,
    /// Changed fields of the target.
    pub changes: Vec<SyncChange>,
}

impl fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sync {} -> {}: {} change(s)", self.from, self.to, self.changes.len())?;
        let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "(unset)".to_owned(), ToString::to_string);
        for c in &self.changes {
            writeln!(f, "  {}: {} -> {}", c.path, show(&c.old), show(&c.new))?;
        }
        Ok(())
    }
}

/// Applies the rewrites whose pattern matches `path`; for an array, those of
/// the array and of each element apply to the element's strings.
fn rewrite(path: &FieldPath, v: &Value, rules: &[Rewrite]) -> Value {
    let here: Vec<&Rewrite> = rules.iter().filter(|r| r.path.matches(path)).collect();
    rewrite_with(path, v, rules, &here)
}

fn rewrite_with(path: &FieldPath, v: &Value, rules: &[Rewrite], here: &[&Rewrite]) -> Value {
    match v {
        Value::String(s) => Value::String(here.iter().fold(s.clone(), |s, r| s.replace(&r.replace, &r.with))),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = path.index(i);
                    let mut applies = here.to_vec();
                    applies.extend(rules.iter().filter(|r| r.path.matches(&p)));
                    rewrite_with(&p, item, rules, &applies)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn set(root: &mut BTreeMap<String, Value>, path: &FieldPath, v: Value) {
    let segs: Vec<&str> = path
        .segments()
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    let Some((last, parents)) = segs.split_last() else { return };
    let mut cur = root;
    for k in parents {
        let entry = cur.entry((*k).to_owned()).or_insert_with(|| Value::Table(BTreeMap::new()));
        if !matches!(entry, Value::Table(_)) {
            *entry = Value::Table(BTreeMap::new());
        }
        let Value::Table(t) = entry else { return };
        cur = t;
    }
    cur.insert((*last).to_owned(), v);
}

fn processes(m: &Merged) -> BTreeMap<FieldPath, Value> {
    m.leaves()
        .filter(|(p, _)| p.first_key() == Some("processes"))
        .filter_map(|(p, h)| h.last().map(|s| (p.clone(), s.value.clone())))
        .collect()
}

/// Computes the sync of `from` into `to` without writing anything. `to` must
/// declare `[sync.<from>]`; both environments must be valid, and so must the
/// result (it is checked like any overlay before it is returned).
pub fn sync(project: &Project, from: &str, to: &str) -> Result<SyncOutcome, Error> {
    let source = project.environment(from)?;
    let target = project.environment(to)?;
    let rule = target.sync.get(from).ok_or_else(|| {
        Error::new(ErrorKind::Usage(format!("environment {to:?} declares no [sync.{from}] rule")))
    })?;
    let base = project.base_merged();
    let base_vals = processes(&base);
    let target_vals = processes(&target.merged);
    let mut overlay = project.overlay_root(to).cloned().unwrap_or_default();
    overlay.remove("processes");
    let mut wanted = BTreeMap::new();
    for (p, v) in processes(&source.merged) {
        if rule.keep.iter().any(|k| k.covers(&p)) {
            continue;
        }
        wanted.insert(p.clone(), rewrite(&p, &v, &rule.rewrites));
    }
    for (p, v) in &target_vals {
        if rule.keep.iter().any(|k| k.covers(p)) {
            wanted.insert(p.clone(), v.clone());
        }
    }
    for (p, v) in &wanted {
        if base_vals.get(p) != Some(v) {
            set(&mut overlay, p, v.clone());
        }
    }
    let text = format!(
        "# Environment {to}: processes synced from {from} by ao-env (rewrites and kept fields from [sync.{from}]).\n{}",
        to_toml_document(&overlay)
    );
    // Check the result as the overlay it will be.
    let name = project.overlay_source(to).map_or_else(|| format!("{to}.toml"), |s| s.name().to_owned());
    let next = project.with_overlay(to, SourceFile::new(name, text.clone(), 0));
    let after = next.environment(to)?;
    let after_vals = processes(&after.merged);
    let mut changes = Vec::new();
    let keys: std::collections::BTreeSet<&FieldPath> = target_vals.keys().chain(after_vals.keys()).collect();
    for p in keys {
        let (old, new) = (target_vals.get(p), after_vals.get(p));
        if old != new {
            changes.push(SyncChange { path: p.clone(), old: old.cloned(), new: new.cloned() });
        }
    }
    Ok(SyncOutcome { from: from.to_owned(), to: to.to_owned(), overlay: text, changes })
}

/// [`sync`], then writes the new overlay over `to`'s file atomically.
pub fn sync_to_file(project: &Project, from: &str, to: &str, file: &Path) -> Result<SyncOutcome, Error> {
    let outcome = sync(project, from, to)?;
    crate::state::write_atomic(file, outcome.overlay.as_bytes())?;
    Ok(outcome)
}
