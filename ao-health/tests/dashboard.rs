//! The generated Grafana dashboard holds to the classic dashboard model:
//! required fields, unique panel ids, a 24-column grid without overlaps,
//! targets with queries, and a panel for every built-in family.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here

use std::collections::BTreeSet;

use ao_health::{
    AlertMetrics, DashboardOptions, EcsMetrics, MetricType, ProbeMetrics, Registry, SCHEMA_VERSION,
    builtin_families, dashboard,
};
use serde_json::Value;

fn full_registry() -> Registry {
    let r = Registry::new();
    EcsMetrics::register(&r).unwrap();
    ProbeMetrics::register(&r).unwrap();
    AlertMetrics::register(&r).unwrap();
    r.counter_family("arena_knockouts", "Players knocked out.", &["process"]).unwrap();
    r
}

#[test]
fn the_dashboard_follows_the_model() {
    let registry = full_registry();
    let options = DashboardOptions { title: "Arena".into(), ..DashboardOptions::default() };
    let d = dashboard(&registry, &options);
    // Round-trips through text, as an import does.
    let d: Value = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();

    assert_eq!(d["schemaVersion"].as_u64(), Some(SCHEMA_VERSION));
    assert!(d["id"].is_null(), "a new dashboard has a null id");
    assert_eq!(d["uid"], "ao-health");
    assert_eq!(d["title"], "Arena");
    for key in ["time", "templating", "annotations", "panels", "tags", "refresh", "timezone", "version"] {
        assert!(!d[key].is_null(), "missing {key}");
    }
    assert_eq!(d["time"]["to"], "now");
    let vars: Vec<&str> =
        d["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vars, ["datasource", "process"]);
    assert_eq!(d["templating"]["list"][0]["type"], "datasource");
    assert_eq!(d["templating"]["list"][0]["query"], "prometheus");

    let panels = d["panels"].as_array().unwrap();
    assert_eq!(panels.len(), registry.descriptors().len(), "one panel per family");
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in panels {
        let id = p["id"].as_u64().unwrap();
        assert!(ids.insert(id), "panel id {id} repeats");
        assert_eq!(p["type"], "timeseries");
        assert!(!p["title"].as_str().unwrap().is_empty());
        assert_eq!(p["datasource"]["uid"], "${datasource}");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(w >= 1 && h >= 1 && x + w <= 24, "panel {id} leaves the grid: {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "panel {id} overlaps another at ({cx}, {cy})");
            }
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {id} has no query");
        let refs: BTreeSet<&str> = targets.iter().map(|t| t["refId"].as_str().unwrap()).collect();
        assert_eq!(refs.len(), targets.len(), "refIds repeat in panel {id}");
        for t in targets {
            assert!(!t["expr"].as_str().unwrap().is_empty());
            assert_eq!(t["datasource"]["type"], "prometheus");
        }
        assert!(p["fieldConfig"]["defaults"]["unit"].is_string());
    }
}

#[test]
fn every_builtin_family_has_a_panel_querying_it() {
    let registry = full_registry();
    let d = dashboard(&registry, &DashboardOptions::default());
    let exprs: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned()))
        .collect();
    let kinds: std::collections::BTreeMap<String, MetricType> =
        registry.descriptors().iter().map(|d| (d.name().to_owned(), d.kind())).collect();
    for family in builtin_families().into_iter().chain(["arena_knockouts"]) {
        let sample = match kinds[family] {
            MetricType::Counter => format!("rate({family}_total"),
            MetricType::Histogram => format!("rate({family}_bucket"),
            MetricType::Gauge => format!("({family}"),
        };
        assert!(exprs.iter().any(|e| e.contains(&sample)), "no panel queries {sample}");
    }
    // Histogram panels show three quantiles; families with a process label filter on it.
    let tick = exprs
        .iter()
        .filter(|e| e.contains("ao_ecs_tick_duration_seconds_bucket{process=~\"$process\"}"))
        .count();
    assert_eq!(tick, 3);
}
