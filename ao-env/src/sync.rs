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
    /// Whether the overlay keeps the target file's own text (comments, layout,
    /// order) outside its `[processes]` sections, which are rewritten; `false`
    /// when the file's layout could not be kept safely and the whole file was
    /// written afresh from its values (no value is lost either way; comments are).
    pub layout_kept: bool,
    /// Changed fields of the target.
    pub changes: Vec<SyncChange>,
}

impl fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sync {} -> {}: {} change(s)", self.from, self.to, self.changes.len())?;
        if self.layout_kept {
            writeln!(
                f,
                "  (the overlay's [processes] sections are rewritten; the rest of the file is kept as written)"
            )?;
        } else {
            writeln!(
                f,
                "  (the overlay is rewritten whole from its values: its comments and layout are not kept)"
            )?;
        }
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
    let (mut synced, mut others) = (overlay.clone(), overlay.clone());
    synced.retain(|k, _| k == "processes");
    others.remove("processes");
    let kept = project.overlay_source(to).and_then(|src| keep_outside_processes(src, &others));
    let layout_kept = kept.is_some();
    let text = match kept {
        Some(kept) if synced.is_empty() => kept,
        Some(kept) => format!(
            "{kept}\n{} {from} by ao-env (rewrites and kept fields from [sync.{from}]);\n{}\n{}",
            MARK.0,
            MARK.1,
            to_toml_document(&synced)
        ),
        None => format!(
            "# Environment {to}: processes synced from {from} by ao-env (rewrites and kept fields from [sync.{from}]).\n{}",
            to_toml_document(&overlay)
        ),
    };
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
    Ok(SyncOutcome { from: from.to_owned(), to: to.to_owned(), overlay: text, changes, layout_kept })
}

/// The note a sync writes above the sections it owns (recognised and replaced by the next).
const MARK: (&str, &str) = ("# Processes synced from", "# every sync rewrites the [processes] sections.");

/// The first key of a table header line (`[processes.world]`, `[[ "a".b ]]`), if `line` is one.
fn header_key(line: &str) -> Option<&str> {
    let t = line.trim();
    let t = t.split_once(" #").map_or(t, |(h, _)| h).trim_end();
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(inner).trim();
    let first = match inner.strip_prefix('"') {
        Some(q) => q.split('"').next()?,
        None => inner.split(['.', ' ']).next()?,
    };
    Some(first)
}

/// The target file's text without its `processes` sections (and root-level
/// `processes...` lines), comments and layout kept; `None` unless the result
/// provably holds every other value of the file unchanged (`others`, the
/// overlay's values without `processes`) and nothing of `processes`.
fn keep_outside_processes(src: &SourceFile, others: &BTreeMap<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut skipping = false;
    let mut in_root = true;
    // Comment and blank lines at the end of a skipped section: kept if a kept
    // section follows (they introduce it), dropped otherwise.
    let mut pending = String::new();
    for line in src.text().split_inclusive('\n') {
        let t = line.trim_start();
        if let Some(key) = header_key(line) {
            in_root = false;
            let was = skipping;
            skipping = key == "processes";
            if was && !skipping {
                out.push_str(&pending);
            }
            pending.clear();
        } else if in_root && (t.starts_with("processes") || t.starts_with("\"processes\""))
            || t.starts_with(MARK.0)
            || t.starts_with(MARK.1)
        {
            // Root-level process lines, and the note an earlier sync left.
            continue;
        }
        if !skipping {
            out.push_str(line);
        } else if t.is_empty() || t.starts_with('#') {
            pending.push_str(line);
        } else {
            pending.clear();
        }
    }
    let (layer, diags) = crate::layer::Layer::parse(SourceFile::new(src.name(), out.clone(), 0));
    let trimmed = out.trim_end();
    (diags.is_empty() && layer.root == *others)
        .then(|| if trimmed.is_empty() { String::new() } else { format!("{trimmed}\n") })
}

/// [`sync`], then writes the new overlay over `to`'s file atomically.
///
/// The file is rewritten: its `[processes]` sections are replaced by the synced
/// ones (comments inside them are not kept), while the rest of the file
/// (`[environment]`, `[sync]`, comments, order) is kept as written. When the
/// file's layout cannot be kept safely (say, a multi-line string that looks
/// like a header), the whole file is written afresh from its values and
/// [`SyncOutcome::layout_kept`] is `false`: values are never lost, comments may be.
pub fn sync_to_file(project: &Project, from: &str, to: &str, file: &Path) -> Result<SyncOutcome, Error> {
    let outcome = sync(project, from, to)?;
    crate::state::write_atomic(file, outcome.overlay.as_bytes())?;
    Ok(outcome)
}
