//! One config file parsed into a [`Value`] tree with an [`Origin`] for every
//! field. The only module that sees `toml`'s types.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

use crate::error::Diagnostic;
use crate::path::FieldPath;
use crate::value::{Origin, SourceFile, Value};

/// A parsed config file.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) source: SourceFile,
    pub(crate) root: BTreeMap<String, Value>,
    /// Where each field (table, value, array element) was written.
    pub(crate) origins: BTreeMap<FieldPath, Origin>,
}

impl Layer {
    /// Parses `source`; syntax errors come back as diagnostics beside what
    /// could be recovered.
    pub(crate) fn parse(source: SourceFile) -> (Self, Vec<Diagnostic>) {
        let (doc, mut errors) = DeTable::parse_recoverable(source.text());
        errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
        let mut diags: Vec<Diagnostic> = errors
            .iter()
            .map(|e| {
                let origin = e.span().map(|s| source.origin(s.start));
                Diagnostic::new(origin, None, format!("invalid TOML: {}", e.message().trim_end()))
            })
            .collect();
        let mut origins = BTreeMap::new();
        origins.insert(FieldPath::root(), source.origin(0));
        let root = if errors.is_empty() {
            table(&source, doc.get_ref(), &FieldPath::root(), &mut origins, &mut diags)
        } else {
            // Recovery keeps going past errors, but what it builds may be partial;
            // report syntax only, so no field error comes from a half-read file.
            BTreeMap::new()
        };
        (Self { source, root, origins }, diags)
    }

    /// Where `path` was written, or the nearest enclosing table's origin.
    pub(crate) fn origin(&self, path: &FieldPath) -> Origin {
        if let Some(o) = self.origins.get(path) {
            return o.clone();
        }
        let mut segs = path.segments().to_vec();
        loop {
            let p = FieldPath::root();
            let p = segs.iter().fold(p, |p, s| match s {
                crate::path::Segment::Key(k) => p.key(k),
                crate::path::Segment::Index(i) => p.index(*i),
            });
            if let Some(o) = self.origins.get(&p) {
                return o.clone();
            }
            if segs.pop().is_none() {
                return self.source.origin(0);
            }
        }
    }
}

fn table(
    source: &SourceFile,
    t: &DeTable<'_>,
    path: &FieldPath,
    origins: &mut BTreeMap<FieldPath, Origin>,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in t {
        let key: &str = k.get_ref();
        let p = path.key(key);
        origins.insert(p.clone(), source.origin(k.span().start));
        if let Some(value) = value(source, v.get_ref(), v.span().start, &p, origins, diags) {
            out.insert(key.to_owned(), value);
        }
    }
    out
}

fn value(
    source: &SourceFile,
    v: &DeValue<'_>,
    at: usize,
    path: &FieldPath,
    origins: &mut BTreeMap<FieldPath, Origin>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    Some(match v {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let Ok(n) = i64::from_str_radix(i.as_str(), i.radix()) else {
                diags.push(Diagnostic::new(
                    Some(source.origin(at)),
                    Some(path.clone()),
                    format!("integer {i} does not fit in 64 bits"),
                ));
                return None;
            };
            Value::Integer(n)
        }
        DeValue::Float(x) => {
            let Ok(f) = x.as_str().parse::<f64>() else {
                diags.push(Diagnostic::new(
                    Some(source.origin(at)),
                    Some(path.clone()),
                    format!("float {x} cannot be read"),
                ));
                return None;
            };
            Value::Float(f)
        }
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(a) => {
            let mut items = Vec::new();
            for (i, item) in a.iter().enumerate() {
                let p = path.index(i);
                origins.insert(p.clone(), source.origin(item.span().start));
                items.push(value(source, item.get_ref(), item.span().start, &p, origins, diags)?);
            }
            Value::Array(items)
        }
        DeValue::Table(t) => Value::Table(table(source, t, path, origins, diags)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_gets_the_line_of_its_key() {
        let text =
            "game = \"arena\"\n\n[processes.world]\nshards = 2\nhandlers = [\n  \"Join\",\n  \"Move\",\n]\n";
        let (layer, diags) = Layer::parse(SourceFile::new("b.toml", text, 0));
        assert!(diags.is_empty(), "{diags:?}");
        let line = |p: &str| layer.origins[&FieldPath::parse(p).unwrap()].line;
        assert_eq!(line("game"), 1);
        assert_eq!(line("processes.world.shards"), 4);
        assert_eq!(line("processes.world.handlers"), 5);
        assert_eq!(line("processes.world.handlers[1]"), 7);
        assert_eq!(layer.origin(&FieldPath::parse("processes.world.nope.deeper").unwrap()).line, 3);
    }

    #[test]
    fn syntax_errors_are_all_reported_with_lines() {
        let (_, diags) = Layer::parse(SourceFile::new("b.toml", "a = \nb = 1\nc = ]\n", 0));
        assert!(diags.len() >= 2, "{diags:?}");
        assert_eq!(diags[0].origin.as_ref().unwrap().line, 1);
        assert!(diags.iter().any(|d| d.origin.as_ref().unwrap().line == 3), "{diags:?}");
    }

    #[test]
    fn integers_keep_their_range() {
        let (layer, diags) =
            Layer::parse(SourceFile::new("b.toml", "a = 0x7fffffffffffffff\nb = 1_000\n", 0));
        assert!(diags.is_empty());
        assert_eq!(layer.root["a"], Value::Integer(i64::MAX));
        assert_eq!(layer.root["b"], Value::Integer(1000));
        for text in ["a = 99999999999999999999\n", "a = 0xffffffffffffffff\n"] {
            let (_, diags) = Layer::parse(SourceFile::new("b.toml", text, 0));
            assert_eq!(diags.len(), 1, "{diags:?}");
        }
    }
}
