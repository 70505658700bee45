//! Canary analysis: judging one measurement against its checks. Pure.

use std::collections::BTreeMap;

use crate::spec::MetricCheck;

/// The values a driver measures for an analysis, by name. Checks may name any
/// of them; a value the driver could not measure is left out, which makes a
/// check on it inconclusive.
pub const MEASURED: &[&str] = &[
    // Share of the canary's messages that ended in a Lua error (since it started).
    "canary_error_ratio",
    // The same for the stable process over its lifetime.
    "stable_error_ratio",
    // canary_error_ratio - stable_error_ratio.
    "error_ratio_delta",
    // Messages the canary has handled (mirrored traffic).
    "canary_messages",
    // 1 when ao-health's probe of the canary passed, 0 when not.
    "canary_probe_up",
    // The probe's latency in milliseconds.
    "canary_probe_latency_ms",
    // 1 when ao-health's probe of the stable process passed.
    "stable_probe_up",
];

/// The result of one measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every check held.
    Successful,
    /// A check did not hold: which and by how much.
    Failed(String),
    /// A value was missing (no data yet), none failed.
    Inconclusive(String),
}

/// Judges one measurement: failed if any check fails, else inconclusive if
/// any value is missing (or not a number), else successful.
pub fn judge(checks: &[MetricCheck], values: &BTreeMap<String, f64>) -> Verdict {
    let mut missing = Vec::new();
    for c in checks {
        match values.get(&c.metric).copied().filter(|v| !v.is_nan()) {
            None => missing.push(c.metric.clone()),
            Some(v) if !c.cmp.holds(v, c.threshold) => {
                return Verdict::Failed(format!(
                    "{} = {v} (needs {} {})",
                    c.metric,
                    c.cmp.as_str(),
                    c.threshold
                ));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        Verdict::Successful
    } else {
        Verdict::Inconclusive(format!("no value for {}", missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Cmp;

    fn check(metric: &str, cmp: Cmp, threshold: f64) -> MetricCheck {
        MetricCheck { metric: metric.into(), cmp, threshold }
    }

    #[test]
    fn verdicts_table() {
        let checks = [check("canary_error_ratio", Cmp::Le, 0.05), check("canary_probe_up", Cmp::Ge, 1.0)];
        let cases: &[(&[(&str, f64)], &str)] = &[
            (&[("canary_error_ratio", 0.0), ("canary_probe_up", 1.0)], "ok"),
            (&[("canary_error_ratio", 0.05), ("canary_probe_up", 1.0)], "ok"),
            (
                &[("canary_error_ratio", 0.06), ("canary_probe_up", 1.0)],
                "failed: canary_error_ratio = 0.06 (needs <= 0.05)",
            ),
            (&[("canary_probe_up", 1.0)], "inconclusive: no value for canary_error_ratio"),
            (
                &[("canary_error_ratio", f64::NAN), ("canary_probe_up", 0.0)],
                "failed: canary_probe_up = 0 (needs >= 1)",
            ),
            (&[], "inconclusive: no value for canary_error_ratio, canary_probe_up"),
        ];
        for (values, expected) in cases {
            let values = values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
            let got = match judge(&checks, &values) {
                Verdict::Successful => "ok".to_owned(),
                Verdict::Failed(w) => format!("failed: {w}"),
                Verdict::Inconclusive(w) => format!("inconclusive: {w}"),
            };
            assert_eq!(&got, expected);
        }
    }
}
