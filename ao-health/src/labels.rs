//! Label sets, matchers, and the name rules of the Prometheus data model.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, ErrorKind};

/// A set of labels, sorted by name: the identity of a series or an alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// These labels plus `name = value` (replacing an existing value).
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Sets `name = value`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(name.into(), value.into())
    }

    /// Removes a label, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every label of `other`, its values winning.
    pub fn extend(&mut self, other: &Labels) {
        for (k, v) in other.iter() {
            self.0.insert(k.to_owned(), v.to_owned());
        }
    }

    /// Only the labels named in `names` (missing ones stay missing).
    #[must_use]
    pub fn project(&self, names: &[String]) -> Labels {
        Labels(
            names
                .iter()
                .filter_map(|n| self.0.get_key_value(n))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// A stable 64-bit fingerprint (FNV-1a over names and values): the same
    /// labels give the same number in every run and on every machine.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (k, v) in self.iter() {
            for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl fmt::Display for Labels {
    /// `{a="1", b="x\"y"}`, values escaped as in the exposition format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=\"{}\"", EscapeLabel(v))?;
        }
        f.write_str("}")
    }
}

/// Writes a label value with `\\`, `\"` and `\n` escaped.
pub(crate) struct EscapeLabel<'a>(pub(crate) &'a str);

impl fmt::Display for EscapeLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, b) in self.0.bytes().enumerate() {
            let esc = match b {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                b'\n' => "\\n",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(esc)?;
            last = i + 1;
        }
        f.write_str(&self.0[last..])
    }
}

/// How a [`Matcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// The value equals (`=`).
    Equal,
    /// The value differs (`!=`).
    NotEqual,
}

/// A label matcher as in Alertmanager and `PromQL`: a missing label matches as `""`.
///
/// Regular-expression matchers are deliberately left out: they would need a
/// regex engine in a crate that otherwise has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value compared with.
    pub value: String,
}

impl Matcher {
    /// `name = value`.
    pub fn eq(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), op: MatchOp::Equal, value: value.into() }
    }

    /// `name != value`.
    pub fn ne(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), op: MatchOp::NotEqual, value: value.into() }
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).unwrap_or("");
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
        }
    }
}

/// Whether `labels` satisfy every matcher (an empty list matches everything).
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl fmt::Display for Matcher {
    /// `PromQL` syntax: `name="value"` or `name!="value"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
        };
        write!(f, "{}{op}\"{}\"", self.name, EscapeLabel(&self.value))
    }
}

/// Checks a metric name against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn check_metric_name(name: &str) -> Result<(), Error> {
    let bad = |reason: &str| {
        Err(Error::new(ErrorKind::InvalidMetricName { name: name.to_owned(), reason: reason.to_owned() }))
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return bad("empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_' || c == ':') => {
            return bad("must start with a letter, '_' or ':'");
        }
        Some(_) => {}
    }
    if let Some((i, c)) =
        name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
    {
        return bad(&format!("character {c:?} at byte {i} is not a letter, digit, '_' or ':'"));
    }
    Ok(())
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub(crate) fn check_label_name(owner: &str, label: &str) -> Result<(), Error> {
    let bad = |reason: String| {
        Err(Error::new(ErrorKind::InvalidLabelName {
            owner: owner.to_owned(),
            label: label.to_owned(),
            reason,
        }))
    };
    match label.chars().next() {
        None => return bad("empty".into()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return bad("must start with a letter or '_'".into());
        }
        Some(_) => {}
    }
    if let Some((i, c)) = label.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_')) {
        return bad(format!("character {c:?} at byte {i} is not a letter, digit or '_'"));
    }
    if label.starts_with("__") {
        return bad("names starting with '__' are reserved".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["a", "ao_messages", "_x", "ns:rule:rate5m", "A9"] {
            check_metric_name(ok).unwrap();
        }
        for (bad, why) in
            [("", "empty"), ("9a", "start"), ("a-b", "byte 1"), ("é", "start"), ("aé", "byte 1")]
        {
            let err = check_metric_name(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn label_names() {
        check_label_name("m", "process").unwrap();
        for (bad, why) in [("", "empty"), ("__name__", "reserved"), ("a:b", "byte 1"), ("1a", "start")] {
            let err = check_label_name("m", bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn matchers_treat_missing_as_empty() {
        let l = Labels::new().with("severity", "warning");
        assert!(Matcher::eq("severity", "warning").matches(&l));
        assert!(!Matcher::ne("severity", "warning").matches(&l));
        assert!(Matcher::eq("team", "").matches(&l));
        assert!(Matcher::ne("team", "x").matches(&l));
        assert_eq!(Matcher::ne("a", "x\"y\n").to_string(), r#"a!="x\"y\n""#);
    }

    #[test]
    fn display_and_fingerprint() {
        let a = Labels::new().with("b", "2").with("a", "1");
        let b: Labels = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), r#"{a="1", b="2"}"#);
        assert_eq!(a.fingerprint(), b.fingerprint());
        // Shifting a boundary between name and value changes the fingerprint.
        let c = Labels::new().with("a", "12");
        let d = Labels::new().with("a1", "2");
        assert_ne!(c.fingerprint(), d.fingerprint());
        assert_eq!(a.project(&["b".into(), "z".into()]), Labels::new().with("b", "2"));
    }
}
