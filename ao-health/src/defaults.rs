//! A starting set of alert rules over the built-in families.

use std::time::Duration;

use crate::export::RuleGroup;
use crate::labels::Matcher;
use crate::route::InhibitRule;
use crate::rule::{Cmp, Condition, Rule, Selector, Severity};

const MIB: f64 = 1024.0 * 1024.0;

fn min(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Rules over the built-in families: probes down, aggregate unhealthy, low
/// availability, message errors (warning and critical), rejected messages,
/// Lua memory, and metrics gone missing. Thresholds are starting points.
pub fn builtin_rules() -> RuleGroup {
    let build =
        |b: crate::rule::RuleBuilder| b.build().unwrap_or_else(|e| unreachable!("built-in rule: {e}"));
    let errors = || Selector::new("ao_message_errors_total");
    let rules = vec![
        build(
            Rule::builder("AoProbeDown", Condition::threshold(Selector::new("ao_probe_up"), Cmp::Eq, 0.0))
                .for_duration(min(1))
                .severity(Severity::Critical)
                .annotation("summary", "Health check {{ $labels.check }} is failing"),
        ),
        build(
            Rule::builder(
                "AoUnhealthy",
                Condition::threshold(Selector::new("ao_health_status"), Cmp::Ge, 2.0),
            )
            .for_duration(min(2))
            .severity(Severity::Critical)
            .annotation("summary", "The aggregate health status is unhealthy"),
        ),
        build(
            Rule::builder(
                "AoAvailabilityLow",
                Condition::threshold(Selector::new("ao_probe_availability_ratio"), Cmp::Lt, 0.99),
            )
            .for_duration(min(15))
            .annotation("summary", "{{ $labels.check }} availability is {{ $value }}"),
        ),
        build(
            Rule::builder("AoMessageErrors", Condition::rate(errors(), min(5), Cmp::Gt, 0.1))
                .for_duration(min(5))
                .keep_firing_for(min(5))
                .annotation("summary", "{{ $labels.process }} {{ $labels.action }}: {{ $value }} errors/s"),
        ),
        build(
            Rule::builder("AoMessageErrors", Condition::rate(errors(), min(5), Cmp::Gt, 1.0))
                .for_duration(min(2))
                .keep_firing_for(min(5))
                .severity(Severity::Critical)
                .annotation("summary", "{{ $labels.process }} {{ $labels.action }}: {{ $value }} errors/s"),
        ),
        build(
            Rule::builder(
                "AoMessagesRejected",
                Condition::rate(Selector::new("ao_messages_rejected_total"), min(5), Cmp::Gt, 0.05),
            )
            .for_duration(min(5))
            .annotation(
                "summary",
                "{{ $labels.process }} refuses {{ $value }} messages/s ({{ $labels.reason }})",
            ),
        ),
        build(
            Rule::builder(
                "AoLuaMemoryHigh",
                Condition::threshold(Selector::new("ao_lua_memory_bytes"), Cmp::Gt, 400.0 * MIB),
            )
            .for_duration(min(10))
            .annotation("summary", "{{ $labels.process }} uses {{ $value }} bytes of Lua memory"),
        ),
        build(
            Rule::builder(
                "AoMetricsAbsent",
                Condition::absent(
                    Selector::new("ao_messages_total").matcher(Matcher::ne("process", "")),
                    min(15),
                ),
            )
            .annotation("summary", "No ao_messages_total samples for 15 minutes"),
        ),
    ];
    RuleGroup::new("ao-health", Some(Duration::from_secs(30)), rules)
}

/// The inhibition that goes with [`builtin_rules`]: a critical alert mutes the
/// warning of the same name for the same process.
pub fn builtin_inhibitions() -> Vec<InhibitRule> {
    vec![InhibitRule::severity(Severity::Critical, Severity::Warning, &["alertname", "process"])]
}
