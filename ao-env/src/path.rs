//! Field paths (`processes.world.config.tick_rate`, `handlers[2]`) and the
//! patterns that match them (`processes.*.config.endpoint`).

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

/// One step of a [`FieldPath`]: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index (0-based).
    Index(usize),
}

/// Where a value sits in a config document, such as `processes.world.shards`.
///
/// Displayed in TOML's dotted form; keys that are not bare are quoted.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The empty path: the document itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses a dotted path: `processes.world.config.x`, `a."dotted.key"`, `handlers[1]`.
    pub fn parse(text: &str) -> Option<Self> {
        let segs = split(text)?;
        let mut out = Vec::new();
        for s in segs {
            match s {
                Piece::Any | Piece::Rest => return None,
                Piece::Key(k) => out.push(Segment::Key(k)),
                Piece::Index(i) => out.push(Segment::Index(i)),
            }
        }
        Some(Self(out))
    }

    /// This path with a key appended.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Key(key.to_owned()));
        Self(v)
    }

    /// This path with an index appended.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Index(index));
        Self(v)
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Whether `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The first key, if the path starts with one.
    pub fn first_key(&self) -> Option<&str> {
        match self.0.first() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The enclosing path (`None` for the root).
    pub fn parent(&self) -> Option<FieldPath> {
        let (_, rest) = self.0.split_last()?;
        Some(Self(rest.to_vec()))
    }

    /// Whether the path is empty.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

pub(crate) fn is_bare(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn quote(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    for c in key.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            match s {
                Segment::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    if is_bare(k) { f.write_str(k)? } else { f.write_str(&quote(k))? }
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FieldPath::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid field path {s:?}")))
    }
}

enum Piece {
    Key(String),
    Index(usize),
    /// A bare `*`.
    Any,
    /// A bare `**`.
    Rest,
}

/// Splits `a.b."c.d"[2].*` into pieces; `None` when malformed.
fn split(text: &str) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut expect_key = true;
    if text.is_empty() {
        return Some(out);
    }
    loop {
        if expect_key {
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut k = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            'n' => k.push('\n'),
                            't' => k.push('\t'),
                            'r' => k.push('\r'),
                            c @ ('"' | '\\') => k.push(c),
                            _ => return None,
                        },
                        c => k.push(c),
                    }
                }
                out.push(Piece::Key(k));
            } else {
                let mut k = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    k.push(c);
                    chars.next();
                }
                out.push(match k.as_str() {
                    "*" => Piece::Any,
                    "**" => Piece::Rest,
                    _ if is_bare(&k) => Piece::Key(k),
                    _ => return None,
                });
            }
        }
        match chars.next() {
            None => return Some(out),
            Some('.') => expect_key = true,
            Some('[') => {
                let mut n = String::new();
                loop {
                    match chars.next()? {
                        ']' => break,
                        c if c.is_ascii_digit() => n.push(c),
                        _ => return None,
                    }
                }
                out.push(Piece::Index(n.parse().ok()?));
                expect_key = false;
            }
            Some(_) => return None,
        }
    }
}

/// A field-path pattern: a dotted path where a `*` segment matches any one key
/// and a trailing `**` matches anything below. Used for allowed differences,
/// sync rewrites and kept fields.
///
/// ```
/// use ao_env::{FieldPath, PathPattern};
/// let p = PathPattern::parse("processes.*.config.**").unwrap();
/// assert!(p.matches(&FieldPath::parse("processes.world.config.tick_rate").unwrap()));
/// assert!(!p.matches(&FieldPath::parse("processes.world.shards").unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    text: String,
    parts: Vec<PatternPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PatternPart {
    Key(String),
    Index(usize),
    AnyKey,
    Rest,
}

impl PathPattern {
    /// Parses a pattern; `None` when malformed (`**` only at the end).
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() {
            return None;
        }
        let pieces = split(text)?;
        let n = pieces.len();
        let mut parts = Vec::with_capacity(n);
        for (i, p) in pieces.into_iter().enumerate() {
            parts.push(match p {
                Piece::Any => PatternPart::AnyKey,
                Piece::Rest if i + 1 == n => PatternPart::Rest,
                Piece::Rest => return None,
                Piece::Key(k) => PatternPart::Key(k),
                Piece::Index(i) => PatternPart::Index(i),
            });
        }
        Some(Self { text: text.to_owned(), parts })
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &FieldPath) -> bool {
        let segs = path.segments();
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                PatternPart::Rest => return segs.len() > i,
                _ if i >= segs.len() => return false,
                PatternPart::AnyKey => {
                    if !matches!(segs[i], Segment::Key(_)) {
                        return false;
                    }
                }
                PatternPart::Key(k) => {
                    if segs[i] != Segment::Key(k.clone()) {
                        return false;
                    }
                }
                PatternPart::Index(n) => {
                    if segs[i] != Segment::Index(*n) {
                        return false;
                    }
                }
            }
        }
        segs.len() == self.parts.len()
    }

    /// Whether `path` matches or lies inside a match (`processes.*` covers
    /// `processes.world.shards`).
    pub fn covers(&self, path: &FieldPath) -> bool {
        (0..=path.segments().len()).any(|n| self.matches(&FieldPath(path.segments()[..n].to_vec())))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_display() {
        for text in ["a", "a.b", "a.\"b.c\"", "handlers[2]", "a.b[0].c", "x-y.z_1"] {
            assert_eq!(FieldPath::parse(text).unwrap().to_string(), text);
        }
        for bad in ["a..b", "a.", ".a", "a[x]", "a.*", "a b", "a.\"unterminated"] {
            assert!(FieldPath::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn patterns_match_table_driven() {
        let p = |s: &str| FieldPath::parse(s).unwrap();
        let cases = [
            ("processes.*.shards", "processes.world.shards", true),
            ("processes.*.shards", "processes.world.config.shards", false),
            ("processes.*.config.**", "processes.world.config.a", true),
            ("processes.*.config.**", "processes.world.config", false),
            ("a.b", "a.b", true),
            ("a.b", "a.b.c", false),
            ("handlers[1]", "handlers[1]", true),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                PathPattern::parse(pattern).unwrap().matches(&p(path)),
                expected,
                "{pattern} ~ {path}"
            );
        }
        assert!(PathPattern::parse("processes.*").unwrap().covers(&p("processes.world.shards")));
        assert!(PathPattern::parse("a.**.b").is_none());
        assert!(PathPattern::parse("").is_none());
    }
}
