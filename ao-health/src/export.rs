//! Alert rules as Prometheus rule files (YAML), for `promtool check rules` and a Prometheus server.

use std::fmt::Write;
use std::time::Duration;

use crate::rule::Rule;
use crate::time::prometheus_duration;

/// A named group of rules, evaluated together at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// The group's name.
    pub name: String,
    /// Its evaluation interval (`None`: the server's global one).
    pub interval: Option<Duration>,
    /// Its rules.
    pub rules: Vec<Rule>,
}

impl RuleGroup {
    /// A group.
    pub fn new(name: impl Into<String>, interval: Option<Duration>, rules: Vec<Rule>) -> Self {
        Self { name: name.into(), interval, rules }
    }
}

/// Writes groups as a Prometheus rule file. Strings are written as
/// double-quoted scalars (JSON escaping, which YAML reads the same), so any
/// text in names, labels and annotations survives.
pub fn rules_yaml(groups: &[RuleGroup]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::from("groups:\n");
    for g in groups {
        let _ = writeln!(out, "  - name: {}", q(&g.name));
        if let Some(i) = g.interval {
            let _ = writeln!(out, "    interval: {}", prometheus_duration(i));
        }
        out.push_str(if g.rules.is_empty() { "    rules: []\n" } else { "    rules:\n" });
        for r in &g.rules {
            let _ = writeln!(out, "      - alert: {}", q(r.name()));
            let _ = writeln!(out, "        expr: {}", q(&r.expr()));
            if !r.for_duration().is_zero() {
                let _ = writeln!(out, "        for: {}", prometheus_duration(r.for_duration()));
            }
            if !r.keep_firing_for().is_zero() {
                let _ =
                    writeln!(out, "        keep_firing_for: {}", prometheus_duration(r.keep_firing_for()));
            }
            out.push_str("        labels:\n");
            for (k, v) in r.labels().iter() {
                let _ = writeln!(out, "          {k}: {}", q(v));
            }
            if !r.annotations().is_empty() {
                out.push_str("        annotations:\n");
                for (k, v) in r.annotations() {
                    let _ = writeln!(out, "          {k}: {}", q(v));
                }
            }
        }
    }
    out
}
