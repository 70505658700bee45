//! Config values (a TOML-shaped tree of our own, so no `toml` type is public),
//! where they came from ([`Origin`]), and writing them back as TOML.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::Serialize;

use crate::path::{is_bare, quote};

/// A config value as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A string.
    String(String),
    /// A 64-bit integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// An offset or local date-time, date or time, as written.
    Datetime(String),
    /// An array.
    Array(Vec<Value>),
    /// A table.
    Table(BTreeMap<String, Value>),
}

impl Value {
    /// The TOML type name (`string`, `integer`, `table`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Boolean(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The table, if this is one.
    pub fn as_table(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The value as JSON, for a process's config. Datetimes become strings;
    /// `None` for a non-finite float, which JSON cannot carry.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::String(s) | Value::Datetime(s) => serde_json::Value::String(s.clone()),
            Value::Integer(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::Number(serde_json::Number::from_f64(*f)?),
            Value::Boolean(b) => serde_json::Value::Bool(*b),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect::<Option<_>>()?),
            Value::Table(t) => serde_json::Value::Object(
                t.iter().map(|(k, v)| Some((k.clone(), v.to_json()?))).collect::<Option<_>>()?,
            ),
        })
    }
}

/// Inline TOML form: `"text"`, `42`, `[1, 2]`, `{ a = 1 }`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(&quote(s)),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&float(*x)),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Datetime(d) => f.write_str(d),
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Table(t) => {
                if t.is_empty() {
                    return f.write_str("{}");
                }
                f.write_str("{ ")?;
                for (i, (k, v)) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} = {v}", key(k))?;
                }
                f.write_str(" }")
            }
        }
    }
}

fn float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        // `{:?}` always keeps a `.0` or an exponent, so the text reads back as a float.
        format!("{x:?}")
    }
}

fn key(k: &str) -> String {
    if is_bare(k) { k.to_owned() } else { quote(k) }
}

/// Writes a table as a TOML document: scalars and arrays first, then one
/// `[section]` per sub-table, depth first. What it writes parses back to the
/// same values.
pub fn to_toml_document(root: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    write_table(&mut out, &mut Vec::new(), root);
    out
}

fn write_table(out: &mut String, path: &mut Vec<String>, table: &BTreeMap<String, Value>) {
    let (tables, plain): (Vec<_>, Vec<_>) = table.iter().partition(|(_, v)| matches!(v, Value::Table(_)));
    let header_needed = !path.is_empty() && (!plain.is_empty() || tables.is_empty());
    if header_needed {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "[{}]", path.iter().map(|k| key(k)).collect::<Vec<_>>().join("."));
    }
    for (k, v) in plain {
        let _ = writeln!(out, "{} = {v}", key(k));
    }
    for (k, v) in tables {
        if let Value::Table(t) = v {
            path.push(k.clone());
            write_table(out, path, t);
            path.pop();
        }
    }
}

/// Where a value was set: file, line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The file, as named when it was loaded.
    #[serde(serialize_with = "as_str")]
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
    /// The source line, for error excerpts.
    #[serde(skip)]
    pub(crate) snippet: Arc<str>,
    /// Which layer (0 = base) set it.
    pub layer: usize,
}

fn as_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

impl Origin {
    /// Hides everything after the `=` of the excerpt (a value that may be a secret).
    pub(crate) fn redact_value(&mut self) {
        let kept = self.snippet.split_once('=').map_or("", |(k, _)| k);
        self.snippet = Arc::from(format!("{kept}= [redacted]"));
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A config file's text with a line index: turns byte offsets into [`Origin`]s.
///
/// `Debug` shows the name, layer and size, never the text: a file may hold a
/// secret pasted by mistake.
#[derive(Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: String,
    line_starts: Vec<usize>,
    layer: usize,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("name", &self.name)
            .field("layer", &self.layer)
            .field("bytes", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl SourceFile {
    /// A file called `name` (used in messages) with `text`, loaded as layer `layer` (0 = base).
    pub fn new(name: impl Into<String>, text: impl Into<String>, layer: usize) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { name: Arc::from(name.into()), text, line_starts, layer }
    }

    /// The same file as layer `layer`.
    #[must_use]
    pub fn with_layer(mut self, layer: usize) -> Self {
        self.layer = layer;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The layer index.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The origin of byte `offset` (clamped to the text).
    pub fn origin(&self, offset: usize) -> Origin {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let end = self.line_starts.get(line + 1).map_or(self.text.len(), |&e| e - 1);
        let line_text = self.text.get(start..end).unwrap_or("").trim_end_matches('\r');
        // A span can land inside a multi-byte character; count whole characters before it.
        let column = self.text.get(start..offset).map_or_else(
            || self.text[start..].char_indices().take_while(|(i, _)| start + i < offset).count(),
            |s| s.chars().count(),
        );
        Origin {
            file: self.name.clone(),
            line: (line + 1) as u32,
            column: (column + 1) as u32,
            snippet: Arc::from(line_text),
            layer: self.layer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_count_lines_and_characters() {
        let f = SourceFile::new("a.toml", "x = 1\n# é\nyé = \"z\"\n", 2);
        let o = f.origin(0);
        assert_eq!((o.line, o.column, &*o.snippet), (1, 1, "x = 1"));
        let at = f.text().find("= \"z\"").unwrap();
        let o = f.origin(at);
        assert_eq!((o.line, o.column, o.layer), (3, 4, 2));
        assert_eq!(f.origin(10_000).line, 4);
        assert_eq!(o.to_string(), "a.toml:3:4");
    }

    #[test]
    fn documents_are_written_with_sections() {
        let mut inner = BTreeMap::new();
        inner.insert("shards".into(), Value::Integer(2));
        inner.insert("odd key".into(), Value::Array(vec![Value::String("a\"b".into()), Value::Float(1.0)]));
        let mut procs = BTreeMap::new();
        procs.insert("world".into(), Value::Table(inner));
        let mut root = BTreeMap::new();
        root.insert("game".into(), Value::String("arena".into()));
        root.insert("processes".into(), Value::Table(procs));
        assert_eq!(
            to_toml_document(&root),
            "game = \"arena\"\n\n[processes.world]\n\"odd key\" = [\"a\\\"b\", 1.0]\nshards = 2\n"
        );
    }
}
