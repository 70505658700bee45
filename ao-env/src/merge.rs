//! Layer merging with provenance: later layers win field by field, and every
//! final value remembers each layer that set it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::{Diagnostics, Error, ErrorKind};
use crate::layer::Layer;
use crate::path::{FieldPath, Segment};
use crate::value::{Origin, SourceFile, Value};

/// One layer's setting of a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// The value that layer wrote.
    pub value: Value,
    /// Where.
    pub origin: Origin,
}

/// Layers merged into one tree. Tables merge key by key; anything else
/// (strings, numbers, arrays) is replaced whole by a later layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    root: BTreeMap<String, Value>,
    /// For each leaf: every setting, in layer order; the last one is in force.
    provenance: BTreeMap<FieldPath, Vec<Setting>>,
    /// For each table: where it was first written.
    tables: BTreeMap<FieldPath, Origin>,
    /// For each element inside an array leaf: where the layer in force wrote it.
    elements: BTreeMap<FieldPath, Origin>,
}

impl Merged {
    /// Merges `layers`, base first.
    pub(crate) fn new<'a>(layers: impl IntoIterator<Item = &'a Layer>) -> Self {
        let mut m = Self::default();
        for layer in layers {
            m.tables.entry(FieldPath::root()).or_insert_with(|| layer.source.origin(0));
            let mut root = std::mem::take(&mut m.root);
            m.merge_table(&mut root, &layer.root, &FieldPath::root(), layer);
            m.root = root;
        }
        m
    }

    /// Drops what is known at and below `path` (its value changes type).
    /// Paths sharing a prefix sort together, so this is a range, not a scan.
    fn forget_below(&mut self, path: &FieldPath) {
        remove_prefix(&mut self.provenance, path);
        remove_prefix(&mut self.tables, path);
        remove_prefix(&mut self.elements, path);
    }

    fn merge_table(
        &mut self,
        dst: &mut BTreeMap<String, Value>,
        src: &BTreeMap<String, Value>,
        path: &FieldPath,
        layer: &Layer,
    ) {
        for (k, v) in src {
            let p = path.key(k);
            let origin = layer.origin(&p);
            match v {
                Value::Table(s) => {
                    if !matches!(dst.get(k), Some(Value::Table(_))) {
                        if dst.contains_key(k) {
                            self.forget_below(&p);
                        }
                        dst.insert(k.clone(), Value::Table(BTreeMap::new()));
                        self.tables.insert(p.clone(), origin);
                    }
                    if let Some(Value::Table(d)) = dst.get_mut(k) {
                        self.merge_table(d, s, &p, layer);
                    }
                }
                leaf => {
                    match dst.get(k) {
                        Some(Value::Table(_)) => self.forget_below(&p),
                        Some(Value::Array(_)) => remove_prefix(&mut self.elements, &p),
                        _ => {}
                    }
                    if matches!(leaf, Value::Array(_)) {
                        let below = layer.origins.range(p.clone()..).take_while(|(e, _)| e.starts_with(&p));
                        self.elements
                            .extend(below.filter(|(e, _)| **e != p).map(|(e, o)| (e.clone(), o.clone())));
                    }
                    dst.insert(k.clone(), leaf.clone());
                    self.provenance.entry(p).or_default().push(Setting { value: leaf.clone(), origin });
                }
            }
        }
    }

    /// Parses and merges any number of layers, first = base. For hosts with more
    /// layers than base + overlay (a developer's local override, say); no schema
    /// is applied. Fails only on TOML syntax, reporting every error of every file.
    pub fn from_sources(sources: &[SourceFile]) -> Result<Self, Error> {
        let mut layers = Vec::new();
        let mut diags = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let (layer, d) = Layer::parse(SourceFile::new(s.name(), s.text(), i));
            diags.extend(d);
            layers.push(layer);
        }
        if diags.is_empty() {
            Ok(Self::new(&layers))
        } else {
            Err(Error::new(ErrorKind::Config(Diagnostics(diags))))
        }
    }

    /// The merged document.
    pub fn root(&self) -> &BTreeMap<String, Value> {
        &self.root
    }

    /// The value at `path`.
    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        let mut segs = path.segments().iter();
        let Some(Segment::Key(k)) = segs.next() else { return None };
        let mut cur = self.root.get(k)?;
        for s in segs {
            cur = match (s, cur) {
                (Segment::Key(k), Value::Table(t)) => t.get(k)?,
                (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Where the value in force at `path` was set: the leaf's last setting, the
    /// table's first definition, or the nearest enclosing one.
    pub fn origin(&self, path: &FieldPath) -> Option<&Origin> {
        let mut segs = path.segments().to_vec();
        loop {
            let p = rebuild(&segs);
            if let Some(o) = self.elements.get(&p) {
                return Some(o);
            }
            if let Some(h) = self.provenance.get(&p) {
                return h.last().map(|s| &s.origin);
            }
            if let Some(o) = self.tables.get(&p) {
                return Some(o);
            }
            segs.pop()?;
        }
    }

    /// Every layer's setting of the leaf at `path`, base first; empty for tables.
    pub fn history(&self, path: &FieldPath) -> &[Setting] {
        self.provenance.get(path).map_or(&[], Vec::as_slice)
    }

    /// Every leaf and its settings, in path order.
    pub fn leaves(&self) -> impl Iterator<Item = (&FieldPath, &[Setting])> {
        self.provenance.iter().map(|(p, h)| (p, h.as_slice()))
    }

    /// What sets `path` and what it overrides: `explain`-style output.
    pub fn explain(&self, path: &FieldPath) -> Option<Explanation> {
        let value = self.get(path)?.clone();
        let leaves = self
            .provenance
            .iter()
            .filter(|(p, _)| p.starts_with(path))
            .map(|(p, h)| (p.clone(), h.clone()))
            .collect();
        Some(Explanation { path: path.clone(), value, leaves })
    }
}

fn remove_prefix<V>(map: &mut BTreeMap<FieldPath, V>, prefix: &FieldPath) {
    let doomed: Vec<FieldPath> = map
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        map.remove(&k);
    }
}

fn rebuild(segs: &[Segment]) -> FieldPath {
    segs.iter().fold(FieldPath::root(), |p, s| match s {
        Segment::Key(k) => p.key(k),
        Segment::Index(i) => p.index(*i),
    })
}

/// The answer to "where does this value come from?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The path asked about.
    pub path: FieldPath,
    /// Its value in force.
    pub value: Value,
    /// Every leaf at or below the path with its settings, base first (last in force).
    pub leaves: Vec<(FieldPath, Vec<Setting>)>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (path, history) in &self.leaves {
            let Some((last, earlier)) = history.split_last() else { continue };
            writeln!(f, "{path} = {}", last.value)?;
            writeln!(f, "    set at {}", last.origin)?;
            for s in earlier.iter().rev() {
                writeln!(f, "    overrides {} from {}", s.value, s.origin)?;
            }
        }
        Ok(())
    }
}
