//! The built-in rules as a Prometheus rule file, against a golden file
//! (`UPDATE_GOLDEN=1 cargo test -p ao-health --test export` to regenerate);
//! CI also runs `promtool check rules` on it.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here

use std::path::Path;
use std::time::Duration;

use ao_health::{Cmp, Condition, Matcher, Rule, RuleGroup, Selector, Severity, builtin_rules, rules_yaml};

#[test]
fn builtin_rules_golden() {
    let yaml = rules_yaml(&[builtin_rules()]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/rules.yml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &yaml).unwrap();
        return;
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), yaml, "see UPDATE_GOLDEN in this file");
}

#[test]
fn strings_are_quoted_and_optional_fields_left_out() {
    let rule = Rule::builder(
        "Odd",
        Condition::threshold(Selector::new("m").matcher(Matcher::eq("k", "a\"b: #c")), Cmp::Gt, 1.5),
    )
    .severity(Severity::Info)
    .label("team", "yes")
    .annotation("summary", "line one\nline: two")
    .build()
    .unwrap();
    let yaml = rules_yaml(&[RuleGroup::new("g", None, vec![rule]), RuleGroup::new("empty", None, vec![])]);
    let want = r#"groups:
  - name: "g"
    rules:
      - alert: "Odd"
        expr: "m{k=\"a\\\"b: #c\"} > 1.5"
        labels:
          severity: "info"
          team: "yes"
        annotations:
          summary: "line one\nline: two"
  - name: "empty"
    rules: []
"#;
    assert_eq!(yaml, want);
    let with_for = Rule::builder("F", Condition::absent(Selector::new("m"), Duration::from_secs(90)))
        .for_duration(Duration::from_secs(3600))
        .keep_firing_for(Duration::from_millis(1500))
        .build()
        .unwrap();
    let yaml = rules_yaml(&[RuleGroup::new("g", Some(Duration::from_secs(15)), vec![with_for])]);
    assert!(yaml.contains("    interval: 15s\n"));
    assert!(yaml.contains("        expr: \"absent_over_time(m[1m30s])\"\n        for: 1h\n        keep_firing_for: 1s500ms\n"), "{yaml}");
}
